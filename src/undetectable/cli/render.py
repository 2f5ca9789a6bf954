"""Rendering only: tables and one-line summaries from the records the API returns."""
from __future__ import annotations

import json
from typing import Any


def _table(title: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]], show_header: bool = True) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title, show_header=show_header)
    for col in columns:
        t.add_column(col)
    for r in rows:
        t.add_row(*r)
    Console().print(t)


def inspect_table(bundle: Any, info: dict[str, Any]) -> None:
    from rich.markup import escape  # "[null, 64]" is data, not a style tag

    what = "model file" if info.get("family") == "onnx" else "bundle"
    _table(f"{what} {escape(str(bundle))}", ("field", "value"), [(k, escape(json.dumps(v, default=str)[:400])) for k, v in info.items()],
           show_header=False)


def audit_table(bundle: Any, family: str, seed: int, rows: list[dict[str, Any]]) -> None:
    _table(f"audit {bundle} ({family}), seed {seed}: higher score = more suspicious", ("detector", "score", "status", "note", "s"),
           [(r["detector"], "—" if r["score"] is None else f"{r['score']:.4g}", r["status"], r["note"], f"{r['seconds']:.1f}") for r in rows])


def replication_table(bundle: Any, family: str, k: int, seed: int, res: dict[str, Any]) -> None:
    rows = [(name, str(a["attempts"]), str(a["successes"]), f"{a['rate']:.3f}") for name, a in res["attacks"].items()]
    rows.append(("total", str(res["total_attempts"]), str(res["total_successes"]),
                 f"{res['total_successes'] / max(1, res['total_attempts']):.3f}"))
    _table(f"replication game on {bundle} ({family}), k = {k}, seed {seed}", ("attack", "attempts", "successes", "rate"), rows)


def arena_lines(rec: dict[str, Any]) -> list[str]:
    out = []
    for d in rec["detectors"]:
        if d["auc"] is None:
            why = "; ".join(d.get("errors") or []) or "the detector returned no score on these models"
            auc = f"n/a ({why[:160]})"
        else:
            ci = d.get("auc_ci_simultaneous") or d["auc_ci"]
            auc = f"{d['auc']:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" + (f": {d['verdict']}" if d.get("verdict") else "")
        out.append(f"{d['name']:<16}{' (key)' if d['needs_key'] else '      '} AUC {auc}")
    if rec.get("verdict"):
        k = rec["verdict"]["k"]
        out.append(f"verdict: {rec['verdict']['text']}; key-free CIs above are simultaneous (each at level 1 − 0.05/{k}), "
                   "key oracles' are 95% (positive controls, not in the family)")
    return out
