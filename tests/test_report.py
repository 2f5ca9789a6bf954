"""report.html: self-contained, complete, and clean one-line errors on missing/corrupt results."""
from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_clean_failure
from undetectable.report.results import write_json


def tiny_section(out: Path, quick: bool, seed: int) -> dict:
    """A small but real section: oblivious mitigation of a perfect model on a linear vs a Fourier task."""
    from undetectable.defend.oblivious import GroundTruthModel, make_task, mitigate
    from undetectable.report.figures import plt, save
    from undetectable.report.results import clopper_pearson_ci, record

    errs = {}
    for kind in ("linear", "fourier"):
        ds = make_task(kind, D=10, n=400, n_test=100, seed=seed)
        m = mitigate(GroundTruthModel(kind, 10, seed=seed), ds.X_test, ds.X_train, seed, n_rep=8, groups=4)
        errs[kind] = int(np.sum(m.indices != ds.y_test))
    p = plt()
    fig, ax = p.subplots(figsize=(3, 2))
    ax.bar([0, 1], [errs["linear"] / 100, errs["fourier"] / 100])
    save(fig, out / "tiny.png")
    res = record("tiny", seed, {"D": 10}, {"err": errs}, {"err_linear": clopper_pearson_ci(errs["linear"], 100),
                                                           "err_fourier": clopper_pearson_ci(errs["fourier"], 100)})
    return {"title": "Tiny <oblivious> section", "claim": "Mitigation is exact for affine ground truth & fails for Fourier.",
            "rows": [{"metric": "mitigated error, linear", "value": f"{errs['linear']}/100", "control": f"fourier: {errs['fourier']}/100"}],
            "figures": ["tiny.png"], "results": res, "caveat": "A perfect model, D = 10.",
            "defenses": [{"defense": "oblivious", "attack": "none", "before": "0.00", "after": f"{errs['linear'] / 100:.2f}", "cost": "24 queries"}]}


LONG_CELL = "β=" + ",".join(f"{0.01 * i:.2f}/{0.5 + 0.01 * i:.3f}/{0.4 + 0.01 * i:.3f}" for i in range(12))


def demo_dir_content(d: Path) -> dict:
    """A results.json (the tiny section + rows that used to overflow) and a CLI-run arena.json in ``d``."""
    s = tiny_section(d, True, 0)
    s["rows"] += [
        {"metric": "flip rate vs β: measured / first-order / non-linearized prediction", "value": LONG_CELL,
         "control": "first order: mean Φ(|f(x)|/(√2·π·β·‖w‖)); it overshoots once 2πβ is not small (β ≳ 0.1)"},
        {"metric": "key flip rate", "value": "0.988 [0.984, 0.990]", "control": "random direction 0.449"},
        {"metric": "attack success", "value": "100.00% of 2000", "ci": [0.99816, 1.0], "control": "checksum control: 100.00% of 200"},
        {"metric": "a path", "value": "/very/long/path/" + "segment" * 30, "control": "x" * 200},
    ]
    s["results"]["params"] = {"gamma": 11.313708498984761, "beta": 0.01, "seconds": 8.412281868999997}
    write_json(d / "results.json", {"quick": True, "seed": 0, "sections": [s]})
    (d / "arena-rff").mkdir()
    write_json(d / "arena-rff" / "arena.json", ARENA)
    return s


ARENA = {"scheme": "rff", "data": "synthetic", "n_models": 4, "seed": 0, "detectors": [
    {"name": "weight_ks", "needs_key": False, "auc": 0.53, "auc_ci": [0.2, 0.85], "tpr_at_5fpr": 0.0, "cross_entropy": 0.69},
    {"name": "kurtosis", "needs_key": False, "auc": 0.73, "auc_ci": [0.55, 0.9], "tpr_at_5fpr": 0.25, "cross_entropy": 0.6},
    {"name": "spectral", "needs_key": False, "auc": None, "auc_ci": None, "tpr_at_5fpr": None, "cross_entropy": None,
     "errors": ["needs hidden activations; this model has none"]},
    {"name": "pancake_key", "needs_key": True, "auc": 1.0, "auc_ci": [1.0, 1.0], "tpr_at_5fpr": 1.0, "cross_entropy": 0.01}],
    "figures": ["roc_missing.png"]}


def text_of(html: str) -> str:
    """The page's text: tags dropped, entities kept (what a reader sees, escaped)."""
    return re.sub(r"<[^>]+>", "", html)


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("rep")
    return d, demo_dir_content(d)


def test_report_is_complete_and_self_contained(cli, demo_dir):
    d, s = demo_dir
    res = cli("report", d)
    assert res.code == 0, res.err
    html = (d / "report.html").read_text()
    text = text_of(html)
    assert "Tiny &lt;oblivious&gt; section" in html  # escaped
    assert s["claim"].replace("&", "&amp;") in text and "A perfect model, D = 10." in text
    assert s["rows"][0]["value"] in text and s["rows"][0]["control"] in text
    # the CI sits beside its row, rounded; no separate table of internal keys; parameters rounded
    assert "[0.998, 1]" in text and "[0.984, 0.990]" in text
    assert "err_fourier" not in html and "gamma = 11.31;" in text and "11.3137" not in html
    # one number style: no 100.00%, every number in a no-wrap span
    assert "100% of 2000" in text and "100.00%" not in text and '<span class="n">2000</span>' in html
    # figures inline as base64 PNG, decodable
    imgs = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(imgs) == 1 and base64.b64decode(imgs[0])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "roc_missing.png is missing" in html
    # arena and defenses tables, versions and seed
    assert "weight_ks" in text and "0.53 [0.20, 0.85]" in text and "positive control (holds the key)" in text
    assert "needs hidden activations; this model has none" in text and "perfect separation" not in text
    # kurtosis's CI excludes 0.5 but this arena records no correction: said so, marked, and counted once
    assert "1 of 2 key-free detectors separate by uncorrected 95% CI" in text
    # a summary table on top, a caveat box per section and per arena, a real figure caption
    assert html.index("id='summary'") < html.index("id='sec-0'") and html.count("class='caveat'") == 2
    assert "Figure 1." in html and "<figcaption>tiny.png" not in html
    assert "24 queries" in text and "numpy" in text and "seed 0" in text
    # each topic once: the arena's detectors once in the matrix (and once in the folded detail table)
    assert text.count("weight_ks") == 2 and html.count("<h2 id='arena'>") == 1
    # no script, no network reference
    assert "<script" not in html.lower()
    assert not re.search(r'(src|href)\s*=\s*["\']?(https?:)?//', html)


def test_no_overwrite_without_force(cli, demo_dir):
    d, _ = demo_dir
    (d / "report.html").write_text("old")
    assert_clean_failure(cli("report", d), contains="--force")
    assert (d / "report.html").read_text() == "old"
    assert cli("report", d, "--force").code == 0
    assert (d / "report.html").read_text().startswith("<!DOCTYPE html>")


def test_missing_and_corrupt_results(cli, tmp_path):
    assert_clean_failure(cli("report", tmp_path), tmp_path / "report.html", contains="run the demo")
    (tmp_path / "results.json").write_text('{"sections": [ {"title": 1')
    assert_clean_failure(cli("report", tmp_path), tmp_path / "report.html", contains="corrupt")
    (tmp_path / "results.json").write_text('{"seed": 0}')
    assert_clean_failure(cli("report", tmp_path), tmp_path / "report.html", contains="sections")
    assert_clean_failure(cli("report", tmp_path / "nope"), contains="not a directory")


def test_report_of_arenas_only(cli, tmp_path):
    """`report DIR` accepts a folder holding arena.json files only (CLI-run arenas)."""
    (tmp_path / "arena-rff").mkdir()
    write_json(tmp_path / "arena-rff" / "arena.json", ARENA)
    res = cli("report", tmp_path)
    assert res.code == 0, res.err
    html = text_of((tmp_path / "report.html").read_text())
    assert "kurtosis" in html and "rff on synthetic, 4 honest + 4 backdoored models" in html
    assert "1 of 2 key-free detectors separate (uncorrected CIs)" in html  # its summary row


def test_markdown_cites_the_same_numbers(cli, demo_dir, tmp_path):
    d, s = demo_dir
    res = cli("report", d, "--markdown", tmp_path / "results.md")
    assert res.code == 0, res.err
    md = (tmp_path / "results.md").read_text()
    assert '<a id="tiny"></a>' in md and '<a id="arena-rff"></a>' in md and "do not edit by hand" in md
    assert "| attack success | 100% of 2000 | [0.998, 1] | checksum control: 100% of 200 |" in md
    assert "| kurtosis | 0.73 | [0.55, 0.90] | 0.25 |" in md and "| spectral | n/a | — |" in md
    assert "<oblivious>" not in md and "## Tiny &lt;oblivious&gt; section" in md  # no raw tags
    assert_clean_failure(cli("report", d, "--markdown", tmp_path / "results.md"), contains="--force")


def test_demo_writes_report(monkeypatch, tmp_path):
    """run_demo ends with report.html, rendered from the results.json it just wrote."""
    from undetectable import demo

    from undetectable.experiments import ExperimentResult

    monkeypatch.setattr(demo, "EXPERIMENTS", {"tiny": "tests:tiny"})
    monkeypatch.setattr(demo, "get_experiment", lambda name: lambda o, q, s: ExperimentResult.from_json(tiny_section(o, q, s)))
    data = demo.run_demo(tmp_path / "out", quick=True, seed=3)
    html = text_of((tmp_path / "out" / "report.html").read_text())
    assert json.loads((tmp_path / "out" / "results.json").read_text())["seed"] == 3
    assert data["sections"][0]["rows"][0]["value"] in html and "Seed 3" in html
    # the scanner's error-rate table, from the shipped benchmark result, with every planted kind and the held-out FPR
    shipped = json.loads(demo.SCAN_RESULTS.read_text())
    assert "Scanners" in html and "not re-run by this demo" in html
    for row in shipped["rows"]:
        assert row["rate"] in html and row["scan --data"] in html, row
    kinds = set(shipped["error_rates"]["tools"]["scan"]["tpr"])
    assert {"gate", "dropin-unrolled"} <= kinds and any(r["rate"] == "FPR all honest (report half)" for r in shipped["rows"])


def test_scan_table_copy_is_bounded_and_escaped(tmp_path):
    """copy_scan_table: None without a source; a hostile title or cell is text in the report, never markup."""
    from undetectable.demo import copy_scan_table
    from undetectable.report.html import render_report
    from undetectable.report.inputs import load_results

    src = tmp_path / "bench"
    src.mkdir()
    assert copy_scan_table(tmp_path, src / "scan.json") is None
    (src / "scan.json").write_text(json.dumps({"title": "<script>alert(1)</script>", "error_rates": {},
                                               "rows": [{"rate": "TPR x", "scan": "<b>1/1</b>"}]}))
    out = tmp_path / "out"
    demo_dir_content(out.mkdir() or out)
    copy_scan_table(out, src / "scan.json")
    page = render_report(load_results(out), out)
    assert "<script>alert" not in page and "<b>1/1" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text_of(page) and "&lt;b&gt;1/1&lt;/b&gt;" in text_of(page)
