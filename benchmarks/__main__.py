"""Run every ``benchmarks/bench_*.py`` module's ``run() -> list[dict]`` and print one table.

Each row: name, our time, the baseline's time (the raw primitive, measured in the same run), the
ratio, the target, and whether it is met. Exit code 0 even when a target is missed: the table says so.
"""
from __future__ import annotations

import importlib
import json
import pkgutil
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table


def main() -> int:
    here = Path(__file__).parent
    only = sys.argv[1:]
    rows = []
    for info in sorted(pkgutil.iter_modules([str(here)]), key=lambda i: i.name):
        if not info.name.startswith("bench_") or (only and info.name not in only):
            continue
        mod = importlib.import_module(f"benchmarks.{info.name}")
        Console(stderr=True).print(f"[bold]{info.name}[/bold] …")
        rows.extend(mod.run())
    table = Table(title="undetectable benchmarks (ratios measured side by side in one run)")
    for col in ("benchmark", "ours (s)", "baseline (s)", "ratio", "target", "met"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["name"], f"{r['ours_s']:.4f}", f"{r['baseline_s']:.4f}", f"{r['ratio']:.3f}", r["target"], "yes" if r["ok"] else "NO")
    Console(width=max(Console().width, 150)).print(table)
    Path("benchmarks/last_run.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
