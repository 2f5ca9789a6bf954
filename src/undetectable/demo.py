"""``undetectable demo``: the whole story on bundled data.

Each construction contributes one *section*: a function ``section(out, quick, seed) -> dict`` with
``{"title", "claim", "rows": [{"metric", "value", "control"...}], "figures": [png names],
"results": <results record>}``. The demo runs every section, prints its table, and writes
``results.json`` (all records) and the figures under the output folder.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from .errors import UsageError
from .report.results import write_json
from .runtime import limited_threads, thread_budget
from .sections import arena, defenses, oblivious, relu, rff, signature

# In the paper's order: the constructions (§5, §6, appendix), the auditor's view, then the defenses.
# Add a section here (one entry per module in undetectable/sections/).
SECTIONS: list[Callable[[Path, bool, int], dict]] = [
    signature.section, rff.section, relu.section, arena.section, defenses.section, oblivious.section,
]


def run_demo(out: Path, quick: bool = False, seed: int = 0, force: bool = False) -> dict:
    from rich.console import Console
    from rich.table import Table

    out = Path(out)
    if out.exists() and not force and any(out.iterdir()):
        raise UsageError(f"{out} exists and is not empty; pass --force to overwrite it or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    console = Console(stderr=True)
    sections = []
    for section in SECTIONS:
        t0 = time.perf_counter()
        with limited_threads(thread_budget(1)):  # sized once per section: usable CPUs not busy elsewhere
            s = section(out, quick, seed)
        s["seconds"] = time.perf_counter() - t0
        sections.append(s)
        table = Table(title=f"{s['title']}  ({s['seconds']:.1f}s)")
        for col in ("metric", "value", "control"):
            table.add_column(col)
        for r in s["rows"]:
            table.add_row(r["metric"], r["value"], r.get("control", ""))
        console.print(table)
    data = {"quick": quick, "seed": seed, "sections": sections}
    write_json(out / "results.json", data)
    from .report.html import write_report

    report = write_report(out, force=True)
    console.print(f"wrote {out / 'results.json'}, {report} and {len([f for s in sections for f in s['figures']])} figures")
    return data
