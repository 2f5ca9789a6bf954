"""The package version (layer 0: anything may import it)."""
__version__ = "0.1.0"
