"""Demo sections: one module per construction/area, each exporting ``section(out, quick, seed) -> dict``."""
