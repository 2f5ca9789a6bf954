"""``undetectable demo``: the whole story on bundled data.

Each construction contributes one *experiment* (``undetectable.experiments``): a function
``section(out, quick, seed) -> ExperimentResult`` (title, claim, rows, figures, results record). The demo
runs every experiment in the paper's order, prints its table, and writes ``results.json`` (every
``ExperimentResult.to_json()``) and the figures under the output folder. The scanner's error-rate table is
not re-run (its corpus takes most of an hour to build and scan): ``copy_scan_table`` copies the one measured by
``benchmarks/bench_scan.py`` (``benchmarks/results/scan.json`` of a source checkout) into the folder, where
the report shows it, saying where it comes from.
"""
from __future__ import annotations

import time
from pathlib import Path

from .errors import ParameterError
from .experiments import EXPERIMENTS, get_experiment
from .report.results import write_json
from .runtime import limited_threads, thread_budget


#: the scanner benchmark's published table (present in a source checkout, not in an installed wheel)
SCAN_RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "scan.json"


def copy_scan_table(out: Path, source: Path = SCAN_RESULTS) -> Path | None:
    """Write ``out/scan.json``: the scanner error-rate table read (bounded, validated) from ``source``; None when absent.

    The table is the benchmark's, measured on its corpus, not by this demo: its title says so.
    """
    from .report.inputs import load_scan

    source = Path(source)
    if source.name != "scan.json":
        raise ParameterError("source", f"{source} is not a scan.json; give the benchmark's results/scan.json")
    got = load_scan(source.parent)
    if got is None:
        return None
    cols, rows, title = got
    title = (title or "scanner error rates") + " — from benchmarks/results/scan.json, measured by benchmarks/bench_scan.py; not re-run by this demo"
    return write_json(Path(out) / "scan.json", {"title": title, "rows": [dict(zip(cols, r)) for r in rows]})


def run_demo(out: Path, quick: bool = False, seed: int = 0, force: bool = False) -> dict:
    from rich.console import Console
    from rich.table import Table

    out = Path(out)
    if out.exists() and not force and any(out.iterdir()):
        raise ParameterError("force", f"{out} exists and is not empty; pass force=True to overwrite it or choose another output folder")
    out.mkdir(parents=True, exist_ok=True)
    console = Console(stderr=True)
    from .progress import progress
    from .report.html import split_row

    sections = []
    for i, name in enumerate(EXPERIMENTS, 1):
        t0 = time.perf_counter()
        with progress(f"demo {i}/{len(EXPERIMENTS)}: {name}"):
            with limited_threads(thread_budget(1)):  # sized once per section: usable CPUs not busy elsewhere
                res = get_experiment(name)(out, quick, seed)
        res.seconds = time.perf_counter() - t0
        s = res.to_json()
        sections.append(s)
        table = Table(title=f"{res.title}  ({res.seconds:.1f}s)")
        for col in ("metric", "value", "95% CI", "control"):
            table.add_column(col)
        for r in s["rows"]:
            table.add_row(*split_row(r))
        console.print(table)
    data = {"quick": quick, "seed": seed, "sections": sections}
    write_json(out / "results.json", data)
    if copy_scan_table(out) is None:
        console.print(f"no scanner table: {SCAN_RESULTS} is not in this install (run benchmarks/bench_scan.py from a source checkout)")
    from .report.html import write_report

    report = write_report(out, force=True)
    console.print(f"wrote {out / 'results.json'}, {report} and {len([f for s in sections for f in s['figures']])} figures")
    return data
