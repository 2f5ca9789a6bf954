"""``undetectable report DIR``: one self-contained HTML page from DIR/results.json, DIR/**/arena.json and DIR/scan.json.

Self-contained and inert: figures are inlined (base64 PNG/JPEG, plain files of DIR only), the CSS is inline,
there is no script and no network reference, so the file can be mailed or archived as it is. Every value
from the input files goes through one escaping helper (``fmt.cell``: text escaped, numbers normalized to
their precision and never broken across lines) or one number formatter (``fmt.num``: refuses non-numbers);
the files themselves are read bounded and validated first (``report.inputs``).

Each topic appears once: a summary table (one headline per construction); then per demo section its claim,
its measured rows (value, 95% CI and control side by side), a caveat and its figures; the demo's arena
section shows one matrix of every detector's AUC per population (not one row per detector); a section with
defense rows shows the compact defense table, its full rows folded; then arenas run outside the demo, the
scan table when DIR/scan.json exists, and the versions.

Input formats (written by ``undetectable demo`` and ``undetectable arena``):

* results.json: ``{"quick", "seed", "sections": [{"title", "claim", "rows": [{"metric", "value",
  "control", "ci"?: [low, high], "ci_note"?}], "figures": [file names in DIR], "captions"?: {name: text},
  "results": {"name", "seed", "params", "versions", ...}, "caveat"?, "headline"?: {"construction", "claim",
  "measured", "control", "verdict"}, "defenses"?: [{"defense", "attack", "before", "after", "cost"?}], "seconds"?}]}``
* arena.json: ``{"scheme", "data", "n_models", "seed"?, "detectors": [{"name", "needs_key", "auc", "auc_ci",
  "tpr_at_5fpr", "cross_entropy", "errors"?, "p_holm"?, "verdict"?}], "figures"?, "construction"?,
  "multiple_testing"?: {"method"}, "verdict"?}``
* scan.json (optional): a list of row objects or ``{"title"?, "rows": [...]}``.
"""
from __future__ import annotations

import base64
import datetime as _dt
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .fmt import cell, num, plain
from .fmt import ci as fmt_ci
from .inputs import (
    Arena,
    Detector,
    ReportInputError,
    Results,
    Row,
    Section,
    figure_bytes,
    find_arenas,
    load_results,
    load_scan,
)

__all__ = [
    "demo_arenas",
    "detector_cells",
    "find_arenas",
    "headlines",
    "is_detector_row",
    "load_results",
    "render_report",
    "section_caveat",
    "section_defenses",
    "split_row",
    "write_report",
]

CSS = """
*{box-sizing:border-box}
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1180px;margin:1em auto;padding:0 1em;color:#1b1b1b;line-height:1.36;font-size:14.5px}
h1{font-size:1.55em;margin:.2em 0} h2{font-size:1.25em;border-bottom:2px solid #ddd;padding-bottom:.15em;margin:1.4em 0 .4em} h3{font-size:1.05em;margin:1em 0 .3em}
p{margin:.4em 0}
table{border-collapse:collapse;margin:.4em 0 .6em 0;font-size:.88em;width:100%;max-width:100%}
th,td{border:1px solid #d5d5d5;padding:.18em .4em;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#f3f3f3;font-weight:600}
.n{white-space:nowrap;font-variant-numeric:tabular-nums}
td.ci,td.auc{white-space:nowrap;font-variant-numeric:tabular-nums}
.claim{background:#eef5ff;border-left:4px solid #3b7ddd;padding:.3em .7em}
.caveat{background:#fff6e5;border-left:4px solid #e0a100;padding:.3em .7em;font-size:.9em}
.meta{color:#555;font-size:.86em;overflow-wrap:anywhere} .note{color:#555;font-size:.8em;margin-top:-.3em}
.figs{display:flex;flex-wrap:wrap;gap:.8em;align-items:flex-start;flex:0 1 auto;max-width:100%}
.below{display:flex;flex-wrap:wrap;gap:.2em 1em;align-items:flex-start} .below .side{flex:1 1 300px;min-width:260px;max-width:100%}
figure{margin:.3em 0;max-width:100%;flex:0 1 auto} img{max-width:100%;height:auto;border:1px solid #eee;display:block}
figcaption{font-size:.8em;color:#444;max-width:40em}
code{background:#f5f5f5;padding:0 .2em;overflow-wrap:anywhere}
.missing{color:#a00} .ok{color:#17643a;font-weight:600} .bad{color:#a00;font-weight:600} .mixed{color:#8a5a00;font-weight:600}
td.sep{background:#fdecea} td.key{background:#f4f4f4} .dim{color:#999}
details{margin:.3em 0} summary{cursor:pointer;color:#333;font-size:.9em}
@media (max-width:700px){body{padding:0 .4em}table{font-size:.8em}th,td{padding:.15em .25em}}
"""

# Captions for figures of results written before sections carried their own ("captions").
DEFAULT_CAPTIONS = {
    "signature_activation.png": "Test digits, their activated versions (label chosen by the key holder) and the pixel difference ×100.",
    "rff_flip_vs_beta.png": "Flip rate of Activate-RFF vs the pancake noise β (95% CIs) against the first-order prediction.",
    "rff_pancakes.png": "Planted RFF weights projected on the key (pancakes) and on a random direction of the same norm (Gaussian).",
    "relu_flip_rates.png": "Flip rate vs perturbation size: the key, random k-sparse directions, a gradient step, the key on an honest model.",
    "arena_roc.png": "ROC curves of every detector per scheme, honest vs backdoored populations; key oracles dashed.",
    "frontier_slice.png": "Lattice attack (LLL + BKZ-20, support known) on planted pancakes: trials broken per (secret dimension d, "
                          "noise β), with the median seconds per trial; grey cells were not run (a smaller β of the same d already failed).",
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
ARENA_CAVEAT = ("Small populations give wide CIs: a CI covering 0.5 is weak evidence on its own. Each arena tests many detectors, "
                "so a detector counts as separating only after the multiple-testing correction the arena records (Holm); an "
                "uncorrected CI that excludes 0.5 is expected by chance among many detectors. ")


# --- cells -------------------------------------------------------------------------------------------

_CI_TAIL = re.compile(r"^(?P<value>.*?)\s*\[(?P<lo>-?[\d.]+(?:e-?\d+)?),\s*(?P<hi>-?[\d.]+(?:e-?\d+)?)\]\s*$")


def split_row(r: Mapping[str, Any] | Row) -> tuple[str, str, str, str]:
    """(metric, value, 95% CI, control) of a row, as plain text; a value written as ``"v [lo, hi]"`` gives its CI.

    Examples
    --------
    >>> split_row({"metric": "flip", "value": "0.987 [0.970, 0.995]", "control": "c"})
    ('flip', '0.987', '[0.970, 0.995]', 'c')
    >>> split_row({"metric": "asr", "value": "99%", "ci": [0.98123, 1.0], "ci_note": "after"})
    ('asr', '99%', '[0.981, 1] (after)', '')
    """
    if isinstance(r, Row):
        metric, value, control, pair, note = r.metric, r.value, r.control, r.ci, r.ci_note
    else:
        metric, value, control = str(r.get("metric", "")), str(r.get("value", "")), str(r.get("control", ""))
        raw = r.get("ci")
        pair = tuple(raw) if isinstance(raw, (list, tuple)) and len(raw) == 2 and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in raw) else None
        note = str(r.get("ci_note") or "")
    ci = ""
    if pair is not None:
        ci = f"[{num(float(pair[0]), digits=3)}, {num(float(pair[1]), digits=3)}]"
    else:
        m = _CI_TAIL.match(value)
        if m and m.group("value"):
            value, ci = m.group("value"), f"[{m.group('lo')}, {m.group('hi')}]"
    if ci and note:
        ci += f" ({note})"
    return metric, value, ci, control


def detector_cells(d: Detector) -> tuple[str, str, str]:
    """An arena detector's ROC-AUC, its 95% CI and its TPR at 5% FPR, as plain text (two decimals each)."""
    return ("n/a" if d.auc is None else num(d.auc, "auc"), fmt_ci(d.auc_ci), num(d.tpr_at_5fpr, "auc"))


def _verdict_class(v: str) -> str:
    v = v.lower()
    if v.startswith("see ") or not v:
        return ""
    if v.startswith(("does not", "fails", "no ")):
        return "bad"
    if "weak" in v or "separate" in v or "but" in v:
        return "mixed"
    return "ok"


def _table(head: list[str], rows: list[str], widths: list[int] | None = None) -> str:
    cols = "" if not widths else "<colgroup>" + "".join(f"<col style='width:{w}%'>" if w else "<col>" for w in widths) + "</colgroup>"
    return "<table>" + cols + "<tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>" + "".join(rows) + "</table>"


def _params(p: dict) -> str:
    return "; ".join(f"{cell(k)} = {cell(_flat(v))}" for k, v in list(p.items())[:60])


def _flat(v: Any) -> Any:
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_flat(w)}" for k, w in list(v.items())[:20]) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(str(_flat(w)) for w in v[:20]) + (", …" if len(v) > 20 else "") + "]"
    if isinstance(v, float):
        return num(v)
    return v


# --- figures --------------------------------------------------------------------------------------------

def _img(folder: Path, name: str, caption: str) -> str:
    got = figure_bytes(folder, name)
    if got is None:
        return f"<p class='missing'>figure {cell(name)} is missing</p>"
    data, mime = got
    b64 = base64.b64encode(data).decode("ascii")
    return (f'<figure><img alt="{plain(caption)}" src="data:{mime};base64,{b64}">'
            f"<figcaption>{cell(caption)}</figcaption></figure>")


def _caption(s: Section, fig: str, n: int) -> str:
    text = s.captions.get(fig) or DEFAULT_CAPTIONS.get(fig) or Path(fig).stem.replace("_", " ").capitalize() + "."
    return f"Figure {n}. {text}"


# --- sections ----------------------------------------------------------------------------------------------

def _rows_table(rows: list[Row]) -> str:
    body = []
    for r in rows:
        metric, value, ci, control = split_row(r)
        body.append(f"<tr><td>{cell(metric)}</td><td>{cell(value)}</td><td class='ci'>{cell(ci) if ci else '—'}</td>"
                    f"<td>{cell(control)}</td></tr>")
    return _table(["measured", "value", "95% CI", "control"], body, [33, 20, 13, 0])


def section_caveat(s: Section) -> str:
    if s.caveat:
        return s.caveat
    for key, text in DEFAULT_CAVEATS.items():
        if s.name.startswith(key):
            return text
    return "No caveat was recorded for this section; read its controls before its headline."


def section_defenses(sections: list[Section]) -> list:
    """Every section's defense rows, in order."""
    return [d for s in sections for d in s.defenses]


def _defenses_table(defs: list) -> str:
    body = [f"<tr><td>{cell(d.defense)}</td><td>{cell(d.attack)}</td><td>{cell(d.before)}</td><td>{cell(d.after)}</td>"
            f"<td>{cell(d.cost)}</td></tr>" for d in defs]
    return _table(["defense", "attack", "before", "after", "cost / side effect"], body, [25, 18, 13, 16, 0])


def demo_arenas(results: Results, arenas: list[Arena], directory: Path) -> list[Arena]:
    """The arenas the demo's arena section wrote (DIR/arena-<scheme>/arena.json), when it has one."""
    if not any(s.name == "arena" for s in results.sections):
        return []
    return [a for a in arenas if a.folder == directory / f"arena-{a.scheme}"]


def is_detector_row(r: Row, arenas: list[Arena]) -> bool:
    return any(r.metric.startswith(a.scheme) and r.metric.endswith(f": {d.name}") for a in arenas for d in a.detectors)


def _section(s: Section, index: int, directory: Path, counter: list[int], arenas: list[Arena]) -> str:
    meta = [f"seed {s.seed}" if s.seed is not None else "", f"{num(s.seconds, 's')} s" if s.seconds is not None else ""]
    parts = [f"<h2 id='sec-{index}'>{cell(s.title)}</h2>",
             f"<p class='claim'><b>The paper's claim.</b> {cell(s.claim)}</p>"]
    if s.name == "arena" and arenas:
        rows = [r for r in s.rows if not is_detector_row(r, arenas)]
        if rows:
            parts.append(_rows_table(rows))
        parts.append(_arena_matrix(arenas))
    elif s.defenses:
        parts.append(_defenses_table(s.defenses))
        parts.append(f"<details><summary>all {len(s.rows)} measured rows, with 95% CIs and controls</summary>"
                     f"{_rows_table(s.rows)}</details>")
    else:
        parts.append(_rows_table(s.rows))
    side = [f"<p class='caveat'><b>Caveat.</b> {cell(section_caveat(s))}</p>"]
    tail = " · ".join(m for m in meta if m)
    if s.params:
        side.append(f"<details><summary>parameters{(' · ' + cell(tail)) if tail else ''}</summary>"
                    f"<p class='meta'>{_params(s.params)}</p></details>")
    elif tail:
        side.append(f"<p class='meta'>{cell(tail)}</p>")
    figs = []
    for fig in s.figures:
        counter[0] += 1
        figs.append(_img(directory, fig, _caption(s, fig, counter[0])))
    # the figures, with the caveat beside them where the width allows (below them otherwise)
    parts.append("<div class='below'>" + (("<div class='figs'>" + "".join(figs) + "</div>") if figs else "")
                 + "<div class='side'>" + "".join(side) + "</div></div>")
    return "\n".join(parts)


# --- arenas --------------------------------------------------------------------------------------------------

def _reading(d: Detector, corrected: bool) -> str:
    if d.auc is None:
        return "n/a"
    if d.needs_key:
        return "positive control (holds the key)"
    if d.verdict:
        return d.verdict
    if d.p_holm is not None:
        return (f"separates (Holm-adjusted p = {num(d.p_holm, digits=2)})" if d.p_holm <= 0.05
                else f"no separation after Holm correction (adjusted p = {num(d.p_holm, digits=2)})")
    if d.auc_ci is not None and d.auc_ci[0] <= 0.5 <= d.auc_ci[1]:
        return "CI covers 0.5: indistinguishable at this size"
    return "CI excludes 0.5 (uncorrected)"


def arena_verdict(a: Arena) -> str:
    """One line: how many key-free detectors separate, corrected where the arena records it, and the key oracles."""
    if a.verdict:
        return a.verdict
    kf, sep = a.keyfree(), a.separating()
    oracles = [num(d.auc, "auc") for d in a.detectors if d.needs_key and d.auc is not None]
    how = "after Holm correction" if a.corrected else "by uncorrected 95% CI"
    head = (f"{len(sep)} of {len(kf)} key-free detectors separate {how}" if kf else "no key-free detector scored")
    return head + (f"; key oracle AUC {', '.join(oracles)}" if oracles else "")


def _arena_matrix(arenas: list[Arena]) -> str:
    """One table: a row per detector, a column per arena; cells AUC [95% CI]; n/a reasons once, numbered."""
    names: list[tuple[str, bool]] = []
    for a in arenas:
        for d in a.detectors:
            if (d.name, d.needs_key) not in names:
                names.append((d.name, d.needs_key))
    names.sort(key=lambda t: t[1])  # key oracles (positive controls) last
    reasons: list[str] = []
    out = []
    for start in range(0, len(arenas), 4):
        chunk = arenas[start:start + 4]
        head = ["detector"] + [f"{cell(a.scheme)} on {cell(a.data)}, {cell(a.n_models)}+{cell(a.n_models)}" for a in chunk]
        body = []
        for name, key in names:
            tds = []
            for a in chunk:
                d = next((x for x in a.detectors if x.name == name and x.needs_key == key), None)
                if d is None:
                    tds.append("<td class='dim'>–</td>")
                elif d.auc is None:
                    why = "; ".join(d.errors)[:300] or "the detector returned no score on these models"
                    if why not in reasons:
                        reasons.append(why)
                    tds.append(f"<td class='auc'>n/a <sup>{reasons.index(why) + 1}</sup></td>")
                else:
                    sep = d in a.separating()
                    cls = "auc key" if key else ("auc sep" if sep else "auc")
                    mark = " ✱" if sep else ""
                    tds.append(f"<td class='{cls}'>{cell(num(d.auc, 'auc'))} {cell(fmt_ci(d.shown_ci))}{mark}</td>")
            body.append(f"<tr><td>{cell(name)}{' (key)' if key else ''}</td>{''.join(tds)}</tr>")
        body.append("<tr><th>verdict</th>" + "".join(f"<td>{cell(arena_verdict(a))}</td>" for a in chunk) + "</tr>")
        out.append(_table(head, body, [22] + [0] * len(chunk)))
    legend = ("<p class='note'>ROC-AUC [CI] over honest vs backdoored models; 0.5 = chance. The CI of a key-free detector is "
              "simultaneous over the arena's key-free detectors (Bonferroni) where the arena records one, else its 95% CI. "
              "✱ separates after the arena's "
              "correction for testing many detectors (Holm, family-wise 5%), or by its uncorrected CI where the arena records no "
              "correction. (key): the key oracle, a positive control that must separate.</p>")
    notes = "".join(f"<li>{cell(r)}</li>" for r in reasons)
    detail = _arena_detail(arenas)
    return "".join(out) + legend + (f"<ol class='note'>{notes}</ol>" if notes else "") + detail


def _arena_detail(arenas: list[Arena]) -> str:
    body = []
    for a in arenas:
        for d in a.detectors:
            auc, ci, tpr = detector_cells(d)
            sim = fmt_ci(d.auc_ci_simultaneous) if d.auc_ci_simultaneous is not None else ""
            body.append(f"<tr><td>{cell(a.scheme)}</td><td>{cell(d.name)}{' (key)' if d.needs_key else ''}</td><td class='auc'>{cell(auc)}</td>"
                        f"<td class='ci'>{cell(ci)}{('<br>' + cell(sim) + ' sim.') if sim else ''}</td>"
                        f"<td>{cell(num(d.p_holm, digits=2))}</td><td>{cell(tpr)}</td>"
                        f"<td>{cell(num(d.cross_entropy, digits=3))}</td><td>{cell(_reading(d, a.corrected))}</td></tr>")
    methods = sorted({a.method for a in arenas if a.method})
    return ("<details><summary>every detector: TPR at 5% FPR, cross-entropy, Holm-adjusted p, reading; the arenas' files and "
            "parameters</summary>"
            + _table(["arena", "detector", "ROC-AUC", "95% CI", "Holm p", "TPR at 5% FPR", "cross-entropy", "reading"], body,
                     [8, 16, 7, 12, 7, 9, 9, 0])
            + "".join(f"<p class='meta'>{cell(m)}</p>" for m in methods)
            + "".join(f"<p class='meta'>{cell(a.rel)}{(' · seed ' + cell(a.seed)) if a.seed is not None else ''}"
                      f"{(' · ' + _params(a.params)) if a.params else ''}</p>" for a in arenas)
            + "</details>")


def _arena_caveat(arenas: list[Arena]) -> str:
    notes = []
    for a in arenas:
        n = a.note or DEFAULT_CAVEATS.get(a.scheme, "")
        if n and n not in notes:
            notes.append(n)
    return f"<p class='caveat'><b>Caveat.</b> {cell(ARENA_CAVEAT + ' '.join(notes))}</p>"


def _other_arenas(arenas: list[Arena]) -> str:
    if not arenas:
        return ""
    figs = [_img(a.folder, f, f"ROC curves, {a.title} ({a.rel}).") for a in arenas for f in a.figures]
    return ("<h2 id='arena'>Arena runs: can an auditor tell backdoored models from honest ones?</h2>" + _arena_matrix(arenas)
            + _arena_caveat(arenas)
            + (f"<details><summary>ROC figure of each arena run</summary><div class='figs'>{''.join(figs)}</div></details>" if figs else ""))


def _scan(directory: Path) -> str:
    try:
        got = load_scan(directory)
    except ReportInputError as exc:
        return f"<h2 id='scan'>Scanners</h2><p class='missing'>{cell(exc)}</p>"
    if got is None:
        return ""
    cols, rows, title = got
    body = [("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>") for r in rows]
    return (f"<h2 id='scan'>Scanners{': ' + cell(title) if title else ''}</h2>" + _table([cell(c) for c in cols], body)
            + "<p class='note'>From scan.json in this folder.</p>")


# --- summary ---------------------------------------------------------------------------------------------

def headlines(results: Results, arenas: list[Arena], directory: str | Path | None = None) -> list[dict[str, str]]:
    """One headline per construction: the sections' own, then one per arena.json not written by the demo."""
    out = []
    for i, s in enumerate(results.sections):
        h = s.headline
        if h is None:
            metric, value, _, control = split_row(s.rows[0]) if s.rows else ("", "", "", "")
            h = {"construction": s.title, "claim": s.claim, "measured": f"{metric}: {value}", "control": control,
                 "verdict": "see the section"}
        out.append({**h, "anchor": f"sec-{i}"})
    demo = demo_arenas(results, arenas, Path(directory)) if directory is not None else []
    for a in arenas:
        if a in demo:
            continue  # summarized by the demo's arena section
        kf, sep = a.keyfree(), a.separating()
        oracles = [num(d.auc, "auc") for d in a.detectors if d.needs_key and d.auc is not None]
        how = "after Holm correction" if a.corrected else "(uncorrected CIs)"
        out.append({"construction": f"arena: {a.title}", "claim": "key-free detectors sit at chance",
                    "measured": f"{len(sep)} of {len(kf)} key-free detectors separate {how}",
                    "control": f"key oracle AUC {', '.join(oracles) or 'n/a (none ran)'}",
                    "verdict": a.verdict or ("consistent (small populations)" if kf and not sep else
                                             (f"{len(sep)} detector(s) separate" if kf else "n/a: no key-free detector scored")),
                    "anchor": "arena"})
    return out


def _summary(heads: list[dict[str, str]]) -> str:
    if not heads:
        return ""
    body = [f"<tr><td><a href='#{plain(h['anchor'])}'>{cell(h.get('construction', ''))}</a></td><td>{cell(h.get('measured', ''))}</td>"
            f"<td>{cell(h.get('control', ''))}</td><td class='{_verdict_class(str(h.get('verdict', '')))}'>{cell(h.get('verdict', ''))}</td></tr>"
            for h in heads]
    return "<h2 id='summary'>Summary</h2>" + _table(["construction", "measured", "control", "verdict"], body, [22, 33, 27, 0])


def _versions(results: Results, arenas: list[Arena]) -> dict[str, str]:
    for s in results.sections:
        if s.versions:
            return s.versions
    for a in arenas:
        if a.versions:
            return a.versions
    from .results import versions

    return versions()


def render_report(results: Results, directory: str | Path, arenas: list[Arena] | None = None) -> str:
    """The HTML text of the report (no file I/O besides reading figures and scan.json)."""
    directory = Path(directory)
    arenas = find_arenas(directory) if arenas is None else arenas
    demo = demo_arenas(results, arenas, directory)
    others = [a for a in arenas if a not in demo]
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    sizes = "" if results.quick is None else (" · quick sizes" if results.quick else " · full sizes")
    seed = f"Seed {cell(results.seed)}" if results.seed is not None else "Arena runs only"
    vers = ", ".join(f"{cell(k)} {cell(v)}" for k, v in _versions(results, arenas).items())
    counter = [0]
    body = [
        "<h1>Planting undetectable backdoors — measured</h1>",
        ("<p class='meta'>Goldwasser, Kim, Vaikuntanathan, Zamir, <i>Planting Undetectable Backdoors in Machine Learning Models</i> "
         f"(FOCS 2022). {seed}{sizes} · generated {now} · {vers}.</p>"),
        ("<p class='meta'>Every table shows a value beside its 95% CI and its control; — in a CI column marks a single exact "
         "quantity, a seed spread stated in the control column, or a row of several values.</p>") if results.sections else "",
        _summary(headlines(results, arenas, directory)),
        *(_section(s, i, directory, counter, demo) for i, s in enumerate(results.sections)),
        _other_arenas(others) if others or not results.sections else "",
        _scan(directory),
    ]
    if not arenas and not results.sections:
        body.append("<p class='meta'>No arena.json under this folder.</p>")
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">"
            "<title>undetectable report</title>"
            f"<style>{CSS}</style></head><body>" + "\n".join(b for b in body if b) + "</body></html>\n")


def write_report(directory: str | Path, force: bool = False, out: str | Path | None = None) -> Path:
    """Write DIR/report.html (or ``out``) atomically; refuses to overwrite without ``force``."""
    from ..fileio import atomic_file

    directory = Path(directory)
    results = load_results(directory)
    out = Path(out) if out is not None else directory / "report.html"
    text = render_report(results, directory)
    with atomic_file(out, force, mode=0o644) as tmp:  # a report is meant to be shared
        tmp.write_text(text, encoding="utf-8")
    return out
