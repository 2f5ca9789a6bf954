"""``undetectable report DIR``: one self-contained HTML page from DIR/results.json and DIR/**/arena.json.

Self-contained: figures are inlined as base64 PNG, the CSS is inline, there is no script and no
network reference, so the file can be mailed or archived as it is. The page opens with a summary
table (one headline per construction: claim, measured, control, verdict); then, per demo section,
the paper's claim, the measured rows (value, 95% CI and control side by side), a caveat box and the
captioned figures; then every arena found under DIR (the demo's and CLI-run ones), the defenses
table and the versions and seed. DIR may hold arena.json files only (no results.json).

Tables wrap their cells (no fixed widths, long words break), so nothing overflows at 800 px.

Input formats (written by ``undetectable demo`` and ``undetectable arena``):

* results.json: ``{"quick", "seed", "sections": [{"title", "claim", "rows": [{"metric", "value",
  "control", "ci"?: [low, high], "ci_note"?}], "figures": [png names in DIR], "captions"?: {png: text},
  "results": <report.results.record>, "caveat"?, "headline"?: {"construction", "claim", "measured",
  "control", "verdict"}, "defenses"?: [{"defense", "attack", "before", "after", "cost"?}], "seconds"?}]}``
* arena.json: ``{"scheme", "data", "n_models", "detectors": [{"name", "needs_key", "auc", "auc_ci",
  "tpr_at_5fpr", "cross_entropy", "errors"?}], "figures"?, "construction"?}``
"""
from __future__ import annotations

import base64
import datetime as _dt
import json
import re
from html import escape
from pathlib import Path
from typing import Any

from ..errors import UndetectableError, UsageError

CSS = """
*{box-sizing:border-box}
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1180px;margin:1.5em auto;padding:0 1em;color:#1b1b1b;line-height:1.45}
h1{font-size:1.7em;margin-bottom:.2em} h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em} h3{margin:1.2em 0 .3em}
table{border-collapse:collapse;margin:.6em 0 1em 0;font-size:.9em;width:100%;max-width:100%}
th,td{border:1px solid #d5d5d5;padding:.3em .5em;text-align:left;vertical-align:top;overflow-wrap:anywhere;word-break:break-word}
th{background:#f3f3f3} td.num{font-variant-numeric:tabular-nums}
td.ci{font-variant-numeric:tabular-nums;color:#333;white-space:nowrap}
.claim{background:#eef5ff;border-left:4px solid #3b7ddd;padding:.5em .8em}
.caveat{background:#fff6e5;border-left:4px solid #e0a100;padding:.5em .8em}
.meta{color:#555;font-size:.9em;overflow-wrap:anywhere} .note{color:#555;font-size:.82em;margin-top:-.6em}
.figs{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}
figure{margin:.4em 0;max-width:100%;flex:0 1 auto} img{max-width:100%;height:auto;border:1px solid #eee;display:block}
figcaption{font-size:.82em;color:#444;max-width:36em}
code{background:#f5f5f5;padding:0 .2em;overflow-wrap:anywhere}
.missing{color:#a00} .ok{color:#17643a;font-weight:600} .bad{color:#a00;font-weight:600} .mixed{color:#8a5a00;font-weight:600}
details{margin:.5em 0} summary{cursor:pointer;color:#333}
@media (max-width:700px){body{padding:0 .4em}table{font-size:.82em}th,td{padding:.2em .3em}td.ci{white-space:normal}}
"""

# Captions for figures of results written before sections carried their own ("captions").
DEFAULT_CAPTIONS = {
    "signature_activation.png": "Test digits, their activated versions (label chosen by the key holder) and the pixel difference ×100.",
    "rff_flip_vs_beta.png": "Flip rate of Activate-RFF vs the pancake noise β (95% CIs) against the first-order prediction.",
    "rff_pancakes.png": "Planted RFF weights projected on the key (pancakes) and on a random direction of the same norm (Gaussian).",
    "relu_flip_rates.png": "Flip rate vs perturbation size: the key, random k-sparse directions, a gradient step, the key on an honest model.",
    "arena_roc.png": "ROC curves of every detector per scheme, honest vs backdoored populations; key oracles dashed.",
    "defenses_smoothing_sweep.png": "Attack success and clean accuracy of the smoothed model vs the noise σ, per construction.",
    "defenses_robustness_illusion.png": "Key-less attacks on the honest and the backdoored model vs Activate with the key, by L∞ budget.",
    "oblivious_mitigation.png": "Rates before and after oblivious mitigation; the last pair violates the mitigation's assumption.",
}

# A caveat for every construction, used where a section or an arena record carries none.
DEFAULT_CAVEATS = {
    "signature": "Black-box only: a white-box auditor who reads the bundle sees the signature check. Undetectability rests on "
                 "Ed25519's unforgeability; the counts measured here only bound what the queries tried could find.",
    "checksum": "The checksum backdoor is the replicable control: anyone who sees a few activated inputs can forge new ones.",
    "rff": "Toy parameters: a secret dimension d ≤ 100 is not cryptographically hard (lattice reduction recovers the key), and "
           "the activation moves x far (‖δ‖ ≫ ‖x‖).",
    "relu": "The sparse-PCA spike must stay below the BBP edge to be undetectable, which caps the backdoor's gain: it is weak.",
    "badnets": "BadNets is the classical, detectable control: its trigger is visible in the data and in the activations.",
    "persistent": "Persistence holds against gradient-based fine-tuning only; replacing the gates or retraining from scratch removes it.",
}
ARENA_CAVEAT = ("Small populations give wide CIs: a CI covering 0.5 is weak evidence on its own, and each AUC is one of many "
                "detectors (no multiple-comparison correction). ")


def load_results(directory: str | Path) -> dict:
    """Read and check DIR/results.json; a folder holding arena.json files only gives an empty section list.

    One-line errors for a missing folder, a folder with neither file, or a corrupt results.json.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise UsageError(f"{directory} is not a directory; pass the folder the demo (or an arena) wrote its results into")
    path = directory / "results.json"
    if not path.is_file():
        if next(directory.rglob("arena.json"), None) is not None:
            return {"sections": [], "seed": None, "quick": None, "arena_only": True}
        raise UsageError(f"{path} does not exist and no arena.json is under {directory}; run the demo or an arena "
                         "with this folder as its output first")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UndetectableError(f"{path} is corrupt ({str(exc).splitlines()[0]}); re-run the demo into {directory}, replacing it") from None
    if not isinstance(data, dict) or not isinstance(data.get("sections"), list):
        raise UndetectableError(f"{path} has no 'sections' list; it was not written by 'undetectable demo' (re-run it)")
    for i, s in enumerate(data["sections"]):
        if not isinstance(s, dict) or not isinstance(s.get("title"), str) or not isinstance(s.get("rows", []), list):
            raise UndetectableError(f"{path}: section {i} lacks a title or rows; re-run the demo into {directory}, replacing it")
    return data


def find_arenas(directory: str | Path) -> list[tuple[Path, dict]]:
    """Every readable DIR/**/arena.json (unreadable ones are listed with an error entry)."""
    out = []
    for p in sorted(Path(directory).rglob("arena.json")):
        try:
            rec = json.loads(p.read_text())
            if not isinstance(rec, dict) or not isinstance(rec.get("detectors", []), list):
                raise ValueError("not an arena record")
        except (ValueError, UnicodeDecodeError) as exc:
            rec = {"_error": f"unreadable ({str(exc).splitlines()[0]})"}
        out.append((p, rec))
    return out


# --- numbers ---------------------------------------------------------------------------------

def fmt_num(v: Any, digits: int = 4) -> str:
    """A number rounded to its precision: ints as they are, floats to ``digits`` significant digits.

    Examples
    --------
    >>> fmt_num(11.313708498984761), fmt_num(0.01), fmt_num(3000), fmt_num(None), fmt_num(1e-7)
    ('11.31', '0.01', '3000', '–', '1e-07')
    """
    if v is None:
        return "–"
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, int):
        return str(v)
    if v != v:
        return "n/a"
    return f"{v:.{digits}g}"


def _fmt_value(v: Any) -> Any:
    if isinstance(v, float):
        return fmt_num(v)
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_fmt_value(w)}" for k, w in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(str(_fmt_value(w)) for w in v) + "]"
    return v


def _params(p: dict) -> str:
    return "; ".join(f"{k} = {_fmt_value(v)}" for k, v in p.items())


_CI_TAIL = re.compile(r"^(?P<value>.*?)\s*\[(?P<lo>-?[\d.]+(?:e-?\d+)?),\s*(?P<hi>-?[\d.]+(?:e-?\d+)?)\]\s*$")


def split_row(r: dict) -> tuple[str, str, str, str]:
    """(metric, value, 95% CI, control) of a row; a value written as ``"v [lo, hi]"`` gives its CI.

    Examples
    --------
    >>> split_row({"metric": "flip", "value": "0.987 [0.970, 0.995]", "control": "c"})
    ('flip', '0.987', '[0.970, 0.995]', 'c')
    >>> split_row({"metric": "asr", "value": "99%", "ci": [0.98123, 1.0], "ci_note": "after"})
    ('asr', '99%', '[0.981, 1] (after)', '')
    """
    value, ci = str(r.get("value", "")), ""
    if isinstance(r.get("ci"), (list, tuple)) and len(r["ci"]) == 2 and all(isinstance(x, (int, float)) for x in r["ci"]):
        ci = f"[{fmt_num(float(r['ci'][0]), 3)}, {fmt_num(float(r['ci'][1]), 3)}]"
    else:
        m = _CI_TAIL.match(value)
        if m and m.group("value"):
            value, ci = m.group("value"), f"[{m.group('lo')}, {m.group('hi')}]"
    if ci and r.get("ci_note"):
        ci += f" ({r['ci_note']})"
    return str(r.get("metric", "")), value, ci, str(r.get("control", ""))


def _verdict_class(v: str) -> str:
    v = v.lower()
    if v.startswith("see "):
        return ""
    if v.startswith(("does not", "fails", "no ")):
        return "bad"
    if "weak" in v or "separate" in v or "but" in v:
        return "mixed"
    return "ok"


# --- pieces ----------------------------------------------------------------------------------

def _img(path: Path, caption: str) -> str:
    if not path.is_file():
        return f'<p class="missing">figure {escape(path.name)} is missing</p>'
    b64 = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<figure><img alt="{escape(caption)}" src="data:image/png;base64,{b64}">'
            f'<figcaption>{escape(caption)}</figcaption></figure>')


def _caption(s: dict, fig: str, n: int) -> str:
    caps = s.get("captions") if isinstance(s.get("captions"), dict) else {}
    text = caps.get(fig) or DEFAULT_CAPTIONS.get(fig) or Path(fig).stem.replace("_", " ").capitalize() + "."
    return f"Figure {n}. {text}"


def _rows_table(rows: list) -> str:
    body, any_missing = [], False
    for r in rows:
        if not isinstance(r, dict):
            continue
        metric, value, ci, control = split_row(r)
        any_missing |= not ci
        body.append(f"<tr><td>{escape(metric)}</td><td class='num'>{escape(value)}</td>"
                    f"<td class='ci'>{escape(ci) if ci else '—'}</td><td>{escape(control)}</td></tr>")
    note = ("<p class='note'>— in the CI column: a single exact quantity, a seed spread stated in the control column, or a row of "
            "several values.</p>") if any_missing else ""
    return ("<table><colgroup><col style='width:34%'><col style='width:18%'><col style='width:14%'><col></colgroup>"
            "<tr><th>measured</th><th>value</th><th>95% CI</th><th>control</th></tr>" + "".join(body) + "</table>" + note)


def _section_caveat(s: dict) -> str:
    if s.get("caveat"):
        return str(s["caveat"])
    name = str((s.get("results") or {}).get("name", "")) if isinstance(s.get("results"), dict) else ""
    for key, text in DEFAULT_CAVEATS.items():
        if name.startswith(key):
            return text
    return "No caveat was recorded for this section; read its controls before its headline."


def _section(s: dict, directory: Path, index: int, fig_counter: list[int]) -> str:
    rec = s.get("results") if isinstance(s.get("results"), dict) else {}
    parts = [f"<h2 id='sec-{index}'>{escape(s['title'])}</h2>"]
    meta = [f"seed {rec.get('seed')}" if rec.get("seed") is not None else "",
            f"{s['seconds']:.1f} s" if isinstance(s.get("seconds"), (int, float)) else ""]
    parts.append(f"<p class='meta'>{' · '.join(m for m in meta if m)}</p>")
    if isinstance(rec.get("params"), dict) and rec["params"]:
        parts.append(f"<details><summary>parameters</summary><p class='meta'>{escape(_params(rec['params']))}</p></details>")
    parts.append(f"<p class='claim'><b>The paper's claim.</b> {escape(str(s.get('claim', '')))}</p>")
    parts.append(_rows_table(s.get("rows", [])))
    parts.append(f"<p class='caveat'><b>Caveat.</b> {escape(_section_caveat(s))}</p>")
    figs = []
    for fig in s.get("figures", []) or []:
        fig_counter[0] += 1
        figs.append(_img(directory / str(fig), _caption(s, str(fig), fig_counter[0])))
    if figs:
        parts.append("<div class='figs'>" + "".join(figs) + "</div>")
    return "\n".join(parts)


def _arena_reading(d: dict) -> str:
    if d.get("auc") is None:
        errs = "; ".join(d.get("errors") or [])
        return f"n/a: {errs[:200]}" if errs else "n/a: the detector returned no score on these models"
    ci = d.get("auc_ci") or [None, None]
    if d.get("needs_key"):
        return "positive control (holds the key)"
    if d.get("verdict"):  # Holm-corrected over the arena's key-free detectors (audit.power.arena_verdicts)
        return str(d["verdict"])
    if ci[0] is not None and ci[0] <= 0.5 <= ci[1]:  # an arena.json from before corrected verdicts: say so
        return "CI covers 0.5: indistinguishable at this size"
    if d["auc"] in (0.0, 1.0):
        return "CI excludes 0.5 (uncorrected for the number of detectors): perfect separation"
    return "CI excludes 0.5 (uncorrected for the number of detectors; re-run the arena for a Holm verdict)"


def _arena_title(rec: dict) -> str:
    n = rec.get("n_models")
    return f"{rec.get('scheme')} on {rec.get('data')}, {n} honest + {n} backdoored models"


def detector_cells(d: dict) -> tuple[str, str, str]:
    """An arena detector's ROC-AUC, its 95% CI and its TPR at 5% FPR, as the report's tables print them."""
    ci = d.get("auc_ci") or [None, None]
    return ("n/a" if d.get("auc") is None else fmt_num(d["auc"], 2),
            "—" if ci[0] is None else f"[{fmt_num(ci[0], 2)}, {fmt_num(ci[1], 2)}]", fmt_num(d.get("tpr_at_5fpr"), 2))


def section_defenses(sections: list[dict]) -> list[dict]:
    """Every section's defense rows, in order."""
    return [d for s in sections for d in (s.get("defenses") or []) if isinstance(d, dict)]


def _arena_tables(arenas: list[tuple[Path, dict]], directory: Path) -> str:
    if not arenas:
        return ("<p class='meta'>No arena.json under this folder. Run <code>undetectable arena --scheme rff --data digits "
                "--models 8 --quick --out DIR/arena-rff</code> and re-run <code>undetectable report DIR --force</code>.</p>")
    out, figs = [], []
    for path, rec in arenas:
        rel = path.relative_to(directory).as_posix()
        if "_error" in rec:
            out.append(f"<p class='missing'>{escape(rel)}: {escape(rec['_error'])}</p>")
            continue
        out.append(f"<h3>{escape(_arena_title(rec))}</h3><p class='meta'>{escape(rel)}"
                   + (f" · seed {escape(str(rec['seed']))}" if rec.get("seed") is not None else "") + "</p>")
        body = []
        for d in rec.get("detectors", []) or []:
            auc, ci_txt, tpr = detector_cells(d)
            name = f"{d.get('name')}{' (key)' if d.get('needs_key') else ''}"
            body.append(f"<tr><td>{escape(name)}</td><td class='num'>{auc}</td>"
                        f"<td class='ci'>{ci_txt}</td><td class='num'>{tpr}</td>"
                        f"<td class='num'>{fmt_num(d.get('cross_entropy'), 3)}</td><td>{escape(_arena_reading(d))}</td></tr>")
        out.append("<table><colgroup><col style='width:22%'><col style='width:9%'><col style='width:14%'><col style='width:12%'>"
                   "<col style='width:12%'><col></colgroup><tr><th>detector</th><th>ROC-AUC</th><th>95% CI</th><th>TPR at 5% FPR</th>"
                   "<th>cross-entropy</th><th>reading</th></tr>" + "".join(body) + "</table>")
        cons = rec.get("construction") if isinstance(rec.get("construction"), dict) else {}
        note = cons.get("note") or DEFAULT_CAVEATS.get(str(rec.get("scheme")), "")
        out.append(f"<p class='caveat'><b>Caveat.</b> {escape(ARENA_CAVEAT + note)}</p>")
        params = {k: v for k, v in cons.items() if k != "note"}
        if params:
            out.append(f"<details><summary>construction parameters</summary><p class='meta'>{escape(_params(params))}</p></details>")
        for fig in rec.get("figures", []) or []:
            figs.append(_img(path.parent / str(fig), f"ROC curves, {_arena_title(rec)} ({rel})."))
    if figs:
        out.append("<details><summary>ROC figure of each arena run</summary><div class='figs'>" + "".join(figs) + "</div></details>")
    return "\n".join(out)


def _defenses_table(sections: list[dict]) -> str:
    rows = section_defenses(sections)
    if not rows:
        return "<p class='meta'>No section reported defense rows.</p>"
    body = "".join(f"<tr><td>{escape(str(d.get('defense', '')))}</td><td>{escape(str(d.get('attack', '')))}</td>"
                   f"<td class='num'>{escape(str(d.get('before', '')))}</td><td class='num'>{escape(str(d.get('after', '')))}</td>"
                   f"<td>{escape(str(d.get('cost', '')))}</td></tr>" for d in rows)
    return ("<table><colgroup><col style='width:24%'><col style='width:18%'><col style='width:13%'><col style='width:17%'><col></colgroup>"
            "<tr><th>defense</th><th>attack</th><th>before</th><th>after</th><th>cost / side effect</th></tr>" + body + "</table>")


def headlines(data: dict, arenas: list[tuple[Path, dict]], directory: str | Path | None = None) -> list[dict]:
    """One headline per construction: the sections' own, then one per arena.json not written by the demo."""
    out = []
    for i, s in enumerate(data.get("sections", [])):
        h = s.get("headline") if isinstance(s.get("headline"), dict) else None
        if h is None:
            rows = [r for r in s.get("rows", []) if isinstance(r, dict)]
            first = split_row(rows[0]) if rows else ("", "", "", "")
            h = {"construction": s["title"], "claim": s.get("claim", ""), "measured": f"{first[0]}: {first[1]}", "control": first[3],
                 "verdict": "see the section"}
        out.append(h | {"anchor": f"sec-{i}"})
    demo_arena = any((s.get("results") or {}).get("name") == "arena" for s in data.get("sections", []) if isinstance(s.get("results"), dict))
    for path, rec in arenas:
        if "_error" in rec or (demo_arena and directory is not None and path.parent == Path(directory) / f"arena-{rec.get('scheme')}"):
            continue  # the demo's own arenas are summarized by its arena section
        keyfree = [d for d in rec.get("detectors", []) if not d.get("needs_key") and d.get("auc") is not None]
        cover = sum((d.get("auc_ci") or [1, 0])[0] <= 0.5 <= (d.get("auc_ci") or [1, 0])[1] for d in keyfree)
        oracles = [fmt_num(d["auc"], 2) for d in rec.get("detectors", []) if d.get("needs_key") and d.get("auc") is not None]
        verdict = rec.get("verdict") or {}
        if verdict.get("text"):  # Holm-corrected (arena.json's "verdict"); the uncorrected count below is for old records
            sep = len(verdict.get("separating", []))
            out.append({"construction": f"arena: {_arena_title(rec)}", "claim": "key-free detectors sit at chance (Holm-corrected)",
                        "measured": verdict["text"], "control": f"key oracle AUC {', '.join(oracles) or 'n/a (none ran)'}",
                        "verdict": "consistent (small populations)" if keyfree and sep == 0 else
                                   (f"{sep} detector(s) separate after Holm correction" if keyfree else "n/a: no key-free detector scored"),
                        "anchor": "arena"})
            continue
        out.append({"construction": f"arena: {_arena_title(rec)}", "claim": "key-free detectors sit at chance",
                    "measured": f"{cover} of {len(keyfree)} key-free AUC CIs cover 0.5 (uncorrected)",
                    "control": f"key oracle AUC {', '.join(oracles) or 'n/a (none ran)'}",
                    "verdict": "consistent (small populations)" if keyfree and cover == len(keyfree) else
                               (f"{len(keyfree) - cover} uncorrected CI(s) exclude 0.5" if keyfree else "n/a: no key-free detector scored"),
                    "anchor": "arena"})
    return out


def _summary(heads: list[dict]) -> str:
    if not heads:
        return ""
    body = "".join(
        f"<tr><td><a href='#{escape(h['anchor'])}'>{escape(str(h.get('construction', '')))}</a></td><td>{escape(str(h.get('claim', '')))}</td>"
        f"<td>{escape(str(h.get('measured', '')))}</td><td>{escape(str(h.get('control', '')))}</td>"
        f"<td class='{_verdict_class(str(h.get('verdict', '')))}'>{escape(str(h.get('verdict', '')))}</td></tr>" for h in heads)
    return ("<h2 id='summary'>Summary</h2><table><colgroup><col style='width:17%'><col style='width:22%'><col style='width:24%'>"
            "<col style='width:22%'><col></colgroup><tr><th>construction</th><th>claim</th><th>measured</th><th>control</th>"
            "<th>verdict</th></tr>" + body + "</table>")


def _versions(data: dict, arenas: list[tuple[Path, dict]]) -> dict:
    for s in data.get("sections", []):
        v = (s.get("results") or {}).get("versions") if isinstance(s.get("results"), dict) else None
        if isinstance(v, dict):
            return v
    for _, rec in arenas:
        if isinstance(rec.get("versions"), dict):
            return rec["versions"]
    from .results import versions

    return versions()


def render_report(data: dict, directory: str | Path, arenas: list[tuple[Path, dict]] | None = None) -> str:
    """The HTML text of the report (no file I/O besides reading figures)."""
    directory = Path(directory)
    arenas = find_arenas(directory) if arenas is None else arenas
    sections = data["sections"]
    toc = "".join(f"<li><a href='#sec-{i}'>{escape(s['title'])}</a></li>" for i, s in enumerate(sections))
    toc += "<li><a href='#arena'>Arenas</a></li><li><a href='#defenses'>Defenses</a></li>"
    vers = ", ".join(f"{escape(k)} {escape(str(v))}" for k, v in _versions(data, arenas).items())
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    sizes = "" if data.get("quick") is None else (" · quick sizes" if data.get("quick") else " · full sizes")
    seed = f"Seed {escape(str(data.get('seed')))}" if data.get("seed") is not None else "Arena runs only"
    counter = [0]
    body = [
        "<h1>Planting undetectable backdoors — measured</h1>",
        "<p class='meta'>Goldwasser, Kim, Vaikuntanathan, Zamir, <i>Planting Undetectable Backdoors in Machine Learning Models</i> "
        f"(FOCS 2022). {seed}{sizes} · generated {now}.</p>",
        _summary(headlines(data, arenas, directory)),
        f"<ol>{toc}</ol>",
        *(_section(s, directory, i, counter) for i, s in enumerate(sections)),
        "<h2 id='arena'>Arenas: can an auditor tell backdoored models from honest ones?</h2>",
        "<p>ROC-AUC ≈ 0.5 (CI covering 0.5) means the detector cannot tell the populations apart; detectors that use the key are "
        "positive controls.</p>",
        _arena_tables(arenas, directory),
        "<h2 id='defenses'>Defenses</h2>",
        _defenses_table(sections),
        "<h2>Versions and seed</h2>",
        f"<p class='meta'>seed {escape(str(data.get('seed')))}; {vers}</p>",
    ]
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'><title>undetectable report</title>"
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
