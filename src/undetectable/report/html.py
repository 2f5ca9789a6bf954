"""``undetectable report DIR``: one self-contained HTML page from DIR/results.json and DIR/**/arena.json.

Self-contained: figures are inlined as base64 PNG, the CSS is inline, there is no script and no
network reference, so the file can be mailed or archived as it is. For every demo section it shows
the paper's claim, our measured rows (metric, value, control), the confidence intervals of the
section's results record, the honest caveat and the figures; then the arena table (ROC-AUC with 95%
CI per detector and scheme), the defenses table, and the versions and seed.

Input formats (written by ``undetectable demo`` and ``undetectable arena``):

* results.json: ``{"quick", "seed", "sections": [{"title", "claim", "rows": [{"metric", "value",
  "control"}], "figures": [png names in DIR], "results": <report.results.record>, "caveat"?,
  "defenses"?: [{"defense", "attack", "before", "after", "cost"?}], "seconds"?}]}``
* arena.json: ``{"scheme", "data", "n_models", "detectors": [{"name", "needs_key", "auc", "auc_ci",
  "tpr_at_5fpr", "cross_entropy"}], "figures"?}``
"""
from __future__ import annotations

import base64
import datetime as _dt
import json
from html import escape
from pathlib import Path
from typing import Any

from ..errors import UndetectableError, UsageError

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1080px;margin:2em auto;padding:0 1em;color:#1b1b1b;line-height:1.45}
h1{font-size:1.7em;margin-bottom:.2em} h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0 1em 0;font-size:.92em;width:100%}
th,td{border:1px solid #d5d5d5;padding:.3em .55em;text-align:left;vertical-align:top}
th{background:#f3f3f3} td.num{font-variant-numeric:tabular-nums;white-space:nowrap}
.claim{background:#eef5ff;border-left:4px solid #3b7ddd;padding:.5em .8em}
.caveat{background:#fff6e5;border-left:4px solid #e0a100;padding:.5em .8em}
.meta{color:#555;font-size:.9em} figure{display:inline-block;margin:.4em 1em .4em 0} img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.8em;color:#555} code{background:#f5f5f5;padding:0 .2em}
.missing{color:#a00}
"""


def load_results(directory: str | Path) -> dict:
    """Read and check DIR/results.json; one-line errors for a missing or corrupt file."""
    directory = Path(directory)
    if not directory.is_dir():
        raise UsageError(f"{directory} is not a directory; pass the folder written by 'undetectable demo --out DIR'")
    path = directory / "results.json"
    if not path.is_file():
        raise UsageError(f"{path} does not exist; run 'undetectable demo --out {directory}' first")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UndetectableError(f"{path} is corrupt ({str(exc).splitlines()[0]}); re-run 'undetectable demo --out {directory} --force'") from None
    if not isinstance(data, dict) or not isinstance(data.get("sections"), list):
        raise UndetectableError(f"{path} has no 'sections' list; it was not written by 'undetectable demo' (re-run it)")
    for i, s in enumerate(data["sections"]):
        if not isinstance(s, dict) or not isinstance(s.get("title"), str) or not isinstance(s.get("rows", []), list):
            raise UndetectableError(f"{path}: section {i} lacks a title or rows; re-run 'undetectable demo --out {directory} --force'")
    return data


def find_arenas(directory: str | Path) -> list[tuple[Path, dict]]:
    """Every readable DIR/**/arena.json (unreadable ones are listed with an error entry)."""
    out = []
    for p in sorted(Path(directory).rglob("arena.json")):
        try:
            rec = json.loads(p.read_text())
            if not isinstance(rec, dict):
                raise ValueError("not an object")
        except (ValueError, UnicodeDecodeError) as exc:
            rec = {"_error": f"unreadable ({str(exc).splitlines()[0]})"}
        out.append((p, rec))
    return out


def _img(path: Path, caption: str) -> str:
    if not path.is_file():
        return f'<p class="missing">figure {escape(path.name)} is missing</p>'
    b64 = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<figure><img alt="{escape(caption)}" src="data:image/png;base64,{b64}"><figcaption>{escape(caption)}</figcaption></figure>'


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _ci_rows(ci: dict) -> str:
    items = []
    for name, v in (ci or {}).items():
        if isinstance(v, (list, tuple)) and len(v) == 2:
            items.append(f"<tr><td>{escape(str(name))}</td><td class='num'>[{_fmt(v[0], 4)}, {_fmt(v[1], 4)}]</td></tr>")
        elif isinstance(v, dict):
            for k, w in v.items():
                if isinstance(w, (list, tuple)) and len(w) == 2:
                    items.append(f"<tr><td>{escape(f'{name} / {k}')}</td><td class='num'>[{_fmt(w[0], 4)}, {_fmt(w[1], 4)}]</td></tr>")
    if not items:
        return ""
    return "<table><tr><th>95% confidence interval</th><th>[low, high]</th></tr>" + "".join(items) + "</table>"


def _params(p: dict) -> str:
    return "; ".join(f"{k} = {v if isinstance(v, (str, int, float)) else json.dumps(v, default=str)}" for k, v in p.items())


def _section(s: dict, directory: Path, index: int = 0) -> str:
    rec = s.get("results") if isinstance(s.get("results"), dict) else {}
    parts = [f"<h2 id='sec-{index}'>{escape(s['title'])}</h2>"]
    meta = [f"seed {rec.get('seed')}" if rec.get("seed") is not None else "", f"{s['seconds']:.1f} s" if isinstance(s.get("seconds"), (int, float)) else ""]
    if rec.get("params"):
        meta.append("parameters: " + escape(_params(rec["params"]) if isinstance(rec["params"], dict) else str(rec["params"]))[:800])
    parts.append(f"<p class='meta'>{' · '.join(m for m in meta if m)}</p>")
    parts.append(f"<p class='claim'><b>The paper's claim.</b> {escape(str(s.get('claim', '')))}</p>")
    rows = "".join(f"<tr><td>{escape(str(r.get('metric', '')))}</td><td class='num'>{escape(str(r.get('value', '')))}</td>"
                   f"<td>{escape(str(r.get('control', '')))}</td></tr>" for r in s.get("rows", []) if isinstance(r, dict))
    parts.append(f"<table><tr><th>measured</th><th>value</th><th>control</th></tr>{rows}</table>")
    parts.append(_ci_rows(rec.get("ci", {})))
    if s.get("caveat"):
        parts.append(f"<p class='caveat'><b>Honest caveat.</b> {escape(str(s['caveat']))}</p>")
    for fig in s.get("figures", []) or []:
        parts.append(_img(directory / str(fig), str(fig)))
    return "\n".join(parts)


def _arena_table(arenas: list[tuple[Path, dict]], directory: Path) -> str:
    if not arenas:
        return "<p class='meta'>No arena.json found under this folder (run <code>undetectable arena --out DIR/arena-…</code>).</p>"
    head = ("<table><tr><th>scheme</th><th>data</th><th>models per population</th><th>detector</th><th>uses key</th>"
            "<th>ROC-AUC [95% CI]</th><th>TPR at 5% FPR</th><th>cross-entropy</th></tr>")
    body, figs = [], []
    for path, rec in arenas:
        rel = path.relative_to(directory).as_posix()
        if "_error" in rec:
            body.append(f"<tr><td colspan='8' class='missing'>{escape(rel)}: {escape(rec['_error'])}</td></tr>")
            continue
        for d in rec.get("detectors", []) or []:
            ci = d.get("auc_ci") or [None, None]
            body.append(f"<tr><td>{escape(str(rec.get('scheme')))}</td><td>{escape(str(rec.get('data')))}</td>"
                        f"<td class='num'>{escape(str(rec.get('n_models')))}</td><td>{escape(str(d.get('name')))}</td>"
                        f"<td>{'yes (positive control)' if d.get('needs_key') else 'no'}</td>"
                        f"<td class='num'>{_fmt(d.get('auc'), 2)} [{_fmt(ci[0], 2)}, {_fmt(ci[1], 2)}]</td>"
                        f"<td class='num'>{_fmt(d.get('tpr_at_5fpr'), 2)}</td><td class='num'>{_fmt(d.get('cross_entropy'), 3)}</td></tr>")
        for fig in rec.get("figures", []) or []:
            figs.append(_img(path.parent / str(fig), f"{rel}: {fig}"))
    return head + "".join(body) + "</table>" + "".join(figs)


def _defenses_table(sections: list[dict]) -> str:
    rows = [(s["title"], d) for s in sections for d in (s.get("defenses") or []) if isinstance(d, dict)]
    if not rows:
        return "<p class='meta'>No section reported defense rows.</p>"
    body = "".join(f"<tr><td>{escape(str(d.get('defense', '')))}</td><td>{escape(str(d.get('attack', '')))}</td>"
                   f"<td class='num'>{escape(str(d.get('before', '')))}</td><td class='num'>{escape(str(d.get('after', '')))}</td>"
                   f"<td>{escape(str(d.get('cost', '')))}</td><td class='meta'>{escape(t)}</td></tr>" for t, d in rows)
    return ("<table><tr><th>defense</th><th>attack</th><th>before</th><th>after</th><th>cost / side effect</th><th>section</th></tr>"
            + body + "</table>")


def _versions(data: dict) -> dict:
    for s in data.get("sections", []):
        v = (s.get("results") or {}).get("versions") if isinstance(s.get("results"), dict) else None
        if isinstance(v, dict):
            return v
    from .results import versions

    return versions()


def render_report(data: dict, directory: str | Path, arenas: list[tuple[Path, dict]] | None = None) -> str:
    """The HTML text of the report (no file I/O besides reading figures)."""
    directory = Path(directory)
    arenas = find_arenas(directory) if arenas is None else arenas
    sections = data["sections"]
    toc = "".join(f"<li><a href='#sec-{i}'>{escape(s['title'])}</a></li>" for i, s in enumerate(sections))
    vers = ", ".join(f"{escape(k)} {escape(str(v))}" for k, v in _versions(data).items())
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = [
        "<h1>Planting undetectable backdoors — measured</h1>",
        "<p class='meta'>Goldwasser, Kim, Vaikuntanathan, Zamir, <i>Planting Undetectable Backdoors in Machine Learning Models</i> "
        f"(FOCS 2022). Seed {escape(str(data.get('seed')))} · {'quick sizes' if data.get('quick') else 'full sizes'} · generated {now}.</p>",
        f"<ol>{toc}</ol>",
        *(_section(s, directory, i) for i, s in enumerate(sections)),
        "<h2>Arena: can an auditor tell backdoored models from honest ones?</h2>",
        "<p>ROC-AUC ≈ 0.5 (CI covering 0.5) means the detector cannot tell the populations apart; detectors that use the key are positive controls.</p>",
        _arena_table(arenas, directory),
        "<h2>Defenses</h2>",
        _defenses_table(sections),
        "<h2>Versions and seed</h2>",
        f"<p class='meta'>seed {escape(str(data.get('seed')))}; {vers}</p>",
    ]
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>undetectable report</title>"
            f"<style>{CSS}</style></head><body>" + "\n".join(body) + "</body></html>\n")


def write_report(directory: str | Path, force: bool = False, out: str | Path | None = None) -> Path:
    """Write DIR/report.html (or ``out``) atomically; refuses to overwrite without ``force``."""
    from ..fileio import atomic_file

    directory = Path(directory)
    data = load_results(directory)
    out = Path(out) if out is not None else directory / "report.html"
    text = render_report(data, directory)
    with atomic_file(out, force, mode=0o644) as tmp:  # a report is meant to be shared
        tmp.write_text(text, encoding="utf-8")
    return out
