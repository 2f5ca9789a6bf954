"""Rendering only: tables and one-line summaries from the records the API returns.

Everything printed may come from a hostile file (a bundle's file names, class labels, notes, manifest
fields): ``terminal_safe`` shows control characters (ESC, OSC, BEL, C1, bidi overrides) as escapes, and
``markup_safe`` also escapes rich markup, so a label like ``[link=...]`` is shown, never interpreted. Every
print path of the CLI goes through one of them (``common.echo`` and every table cell).
"""
from __future__ import annotations

import json
import re
from typing import Any

# C0 and C1 controls, DEL, and the Unicode format characters that reorder or hide text in a terminal
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def _escape_char(m: re.Match) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def terminal_safe(text: object, newlines: bool = True) -> str:
    """``text`` with every control character shown as an escape (``\\x1b``), so a file name or a label cannot move
    the cursor, clear the screen, set the window title or open a link; ``newlines=False`` escapes ``\\n`` and tab too.

    Examples
    --------
    >>> terminal_safe("a\x1b]0;pwned\x07b")
    'a\\\\x1b]0;pwned\\\\x07b'
    """
    s = _UNSAFE.sub(_escape_char, str(text))
    return s if newlines else s.replace("\n", "\\n").replace("\t", "\\t")


def markup_safe(text: object) -> str:
    """``terminal_safe`` (newlines escaped too) and rich markup escaped: what a table cell may show.

    Examples
    --------
    >>> markup_safe("[link=http://x]y[/link]")
    '\\\\[link=http://x]y\\\\[/link]'
    """
    from rich.markup import escape

    return escape(terminal_safe(text, newlines=False))


def _table(title: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]], show_header: bool = True) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=markup_safe(title), show_header=show_header)
    for col in columns:
        t.add_column(markup_safe(col))
    for r in rows:
        t.add_row(*(markup_safe(c) for c in r))
    Console(emoji=False, highlight=False).print(t)


def inspect_table(bundle: Any, info: dict[str, Any]) -> None:
    what = "model file" if info.get("family") == "onnx" else "bundle"  # every cell goes through markup_safe in _table:
    _table(f"{what} {bundle}", ("field", "value"), [(k, json.dumps(v, default=str)[:400]) for k, v in info.items()],
           show_header=False)  # "[null, 64]" is data, not a style tag


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
