"""``undetectable demo``: the whole story on bundled data.

Each construction contributes one *experiment* (``undetectable.experiments``): a function
``section(out, quick, seed) -> ExperimentResult`` (title, claim, rows, figures, results record). The demo
runs every experiment in the paper's order, prints its table, and writes ``results.json`` (every
``ExperimentResult.to_json()``) and the figures under the output folder.
"""
from __future__ import annotations

import time
from pathlib import Path

from .errors import ParameterError
from .experiments import EXPERIMENTS, get_experiment
from .report.results import write_json
from .runtime import limited_threads, thread_budget


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
    from .report.html import write_report

    report = write_report(out, force=True)
    console.print(f"wrote {out / 'results.json'}, {report} and {len([f for s in sections for f in s['figures']])} figures")
    return data
