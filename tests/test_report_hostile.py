"""report DIR on a hostile folder: every value escaped, numbers refused unless numbers, figures confined, JSON bounded.

The folder may come from anyone. A ``<script>`` in any text field prints as text; a string where a number
belongs is refused with one line naming the file and the field; a figure is a plain file name of a regular
PNG/JPEG inside the folder (no ``..``, no absolute path, no link, bounded); every JSON file is a bounded
regular file (a FIFO or /dev/zero is refused at once, never read). Chromium's DOM check is in
test_report_browser.py (``test_hostile_report_runs_nothing``).
"""
from __future__ import annotations

import copy
import json
import os
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from conftest import assert_clean_failure

HOSTILE = "<script>document.title='PWNED'</script><img src=x onerror=\"document.title='PWNED'\">"


def png(width: int = 4, height: int = 3) -> bytes:
    """A valid grey PNG of the given size (no matplotlib: fast)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


RESULTS = {"quick": True, "seed": 0, "sections": [{
    "title": "Section", "claim": "claim", "caveat": "caveat", "seconds": 1.5,
    "rows": [{"metric": "m", "value": "0.5", "control": "c", "ci": [0.1, 0.9], "ci_note": "note"}],
    "figures": ["fig.png"], "captions": {"fig.png": "caption"},
    "headline": {"construction": "c", "claim": "c", "measured": "m", "control": "c", "verdict": "holds"},
    "defenses": [{"defense": "d", "attack": "a", "before": "b", "after": "a", "cost": "c"}],
    "results": {"name": "sec", "seed": 0, "params": {"p": 1}, "versions": {"numpy": "2"}}}]}
ARENA = {"scheme": "rff", "data": "digits", "n_models": 4, "seed": 0, "figures": ["roc.png"],
         "construction": {"note": "note", "d": 16}, "multiple_testing": {"method": "Holm"},
         "detectors": [{"name": "kurtosis", "needs_key": False, "auc": 0.6, "auc_ci": [0.3, 0.9], "tpr_at_5fpr": 0.1,
                        "cross_entropy": 0.7, "p_holm": 1.0, "errors": []},
                       {"name": "spectral", "needs_key": False, "auc": None, "auc_ci": None, "tpr_at_5fpr": None,
                        "cross_entropy": None, "errors": ["needs hidden activations"]}]}
SCAN = {"title": "scan", "rows": [{"model": "a", "tpr": 0.5, "fpr": 0.01}]}

# every text field the report prints (file, path into the JSON)
TEXT_FIELDS = [
    ("results", ["sections", 0, "title"]), ("results", ["sections", 0, "claim"]), ("results", ["sections", 0, "caveat"]),
    ("results", ["sections", 0, "rows", 0, "metric"]), ("results", ["sections", 0, "rows", 0, "value"]),
    ("results", ["sections", 0, "rows", 0, "control"]), ("results", ["sections", 0, "rows", 0, "ci_note"]),
    ("results", ["sections", 0, "captions", "fig.png"]),
    *[("results", ["sections", 0, "headline", k]) for k in ("construction", "claim", "measured", "control", "verdict")],
    *[("results", ["sections", 0, "defenses", 0, k]) for k in ("defense", "attack", "before", "after", "cost")],
    ("results", ["sections", 0, "results", "params", "p"]), ("results", ["sections", 0, "results", "versions", "numpy"]),
    ("results", ["sections", 0, "results", "name"]),
    ("arena", ["scheme"]), ("arena", ["data"]), ("arena", ["construction", "note"]), ("arena", ["construction", "d"]),
    ("arena", ["multiple_testing", "method"]), ("arena", ["detectors", 0, "name"]), ("arena", ["detectors", 1, "errors", 0]),
    ("arena", ["detectors", 0, "verdict"]), ("arena", ["verdict"]),
    ("scan", ["title"]), ("scan", ["rows", 0, "model"]), ("scan", ["rows", 0, "tpr"]),
]
# every field that must be a number (or true/false): a string there is refused, never printed
NUMBER_FIELDS = [
    ("results", ["seed"]), ("results", ["quick"]), ("results", ["sections", 0, "seconds"]),
    ("results", ["sections", 0, "results", "seed"]), ("results", ["sections", 0, "rows", 0, "ci", 0]),
    ("results", ["sections", 0, "rows", 0, "ci", 1]),
    ("arena", ["n_models"]), ("arena", ["seed"]), ("arena", ["detectors", 0, "auc"]), ("arena", ["detectors", 0, "auc_ci", 0]),
    ("arena", ["detectors", 0, "auc_ci", 1]), ("arena", ["detectors", 0, "tpr_at_5fpr"]),
    ("arena", ["detectors", 0, "cross_entropy"]), ("arena", ["detectors", 0, "p_holm"]), ("arena", ["detectors", 0, "needs_key"]),
]


def _set(obj, path, value):
    for k in path[:-1]:
        obj = obj[k]
    obj[path[-1]] = value


def make_dir(d: Path, edits: list[tuple[str, list, object]] = ()) -> Path:
    """A report folder: results.json, fig.png, arena-rff/{arena.json, roc.png}, scan.json, with ``edits`` applied."""
    docs = {"results": copy.deepcopy(RESULTS), "arena": copy.deepcopy(ARENA), "scan": copy.deepcopy(SCAN)}
    for which, path, value in edits:
        _set(docs[which], path, value)
    d.mkdir(parents=True, exist_ok=True)
    (d / "arena-rff").mkdir(exist_ok=True)
    (d / "results.json").write_text(json.dumps(docs["results"]))
    (d / "arena-rff" / "arena.json").write_text(json.dumps(docs["arena"]))
    (d / "scan.json").write_text(json.dumps(docs["scan"]))
    (d / "fig.png").write_bytes(png())
    (d / "arena-rff" / "roc.png").write_bytes(png())
    return d


def assert_inert(html: str) -> None:
    """No tag the inputs could have brought: our own <img> carry data: URIs only, and no script, no handler, no link out."""
    assert "<script" not in html.lower() and "onerror" not in html.replace("onerror=&quot;", "")
    for tag in re.findall(r"<img\b[^>]*>", html):
        assert re.fullmatch(r'<img alt="[^"<>]*" src="data:image/(png|jpeg);base64,[A-Za-z0-9+/=]+">', tag), tag
    assert not re.search(r'(src|href)\s*=\s*["\']?(https?:)?//', html)


def test_every_text_field_is_escaped(cli, tmp_path):
    """All text fields hostile at once: the report is written, and it holds the strings as text only."""
    d = make_dir(tmp_path / "r", [(w, p, HOSTILE) for w, p in TEXT_FIELDS])
    res = cli("report", d)
    assert res.code == 0, res.err
    html = (d / "report.html").read_text()
    assert_inert(html)
    assert html.count("&lt;script&gt;document.title=") >= 10  # printed, escaped
    assert oct((d / "report.html").stat().st_mode & 0o777) == "0o644"
    md = tmp_path / "r.md"
    assert cli("report", d, "--markdown", md).code == 0
    assert "<script" not in md.read_text() and "<img" not in md.read_text()


def test_arena_verdict_record_is_escaped_and_used(cli, tmp_path):
    """arena.json's verdict as the corrected arenas write it ({"text", "separating"}): its text escaped, its list used."""
    d = make_dir(tmp_path / "r", [("arena", ["verdict"], {"text": HOSTILE, "separating": ["kurtosis"], "method": "Holm"})])
    assert cli("report", d).code == 0
    html = (d / "report.html").read_text()
    assert_inert(html)
    assert "1 of 1 key-free detectors separate after Holm correction" in re.sub(r"<[^>]+>", "", html)
    bad = make_dir(tmp_path / "b", [("arena", ["verdict"], {"text": "t", "separating": [HOSTILE, {"x": 1}]})])
    assert_clean_failure(cli("report", bad), bad / "report.html", contains="verdict.separating[1]")


def test_the_inertness_check_can_fail(tmp_path):
    """The control: a page carrying the hostile string raw fails the check."""
    with pytest.raises(AssertionError):
        assert_inert(f"<p>{HOSTILE}</p>")


@pytest.mark.parametrize("which,path", NUMBER_FIELDS, ids=lambda x: x if isinstance(x, str) else ".".join(map(str, x)))
def test_a_string_where_a_number_belongs_is_refused(cli, tmp_path, which, path):
    d = make_dir(tmp_path / "r", [(which, path, HOSTILE)])
    field = "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in path).lstrip(".")
    assert_clean_failure(cli("report", d), d / "report.html", contains=field)


@pytest.mark.parametrize("name", ["../secret.png", "/etc/passwd", "../../keys/backdoor_key.pem", "sub/fig.png", "..", ""])
def test_figure_paths_outside_the_folder_are_refused(cli, tmp_path, name):
    (tmp_path / "secret.png").write_bytes(png())
    d = make_dir(tmp_path / "r", [("results", ["sections", 0, "figures", 0], name)])
    assert_clean_failure(cli("report", d), d / "report.html", contains="plain file name")


def test_arena_figure_paths_are_confined_too(cli, tmp_path):
    d = make_dir(tmp_path / "r", [("arena", ["figures", 0], "../fig.png")])
    assert_clean_failure(cli("report", d), d / "report.html", contains="figures[0]")


def test_symlinked_figure_is_refused_and_never_inlined(cli, tmp_path):
    secret = tmp_path / "backdoor_key.pem"
    secret.write_bytes(png() + b"PRIVATE KEY MATERIAL")
    d = make_dir(tmp_path / "r")
    (d / "fig.png").unlink()
    (d / "fig.png").symlink_to(secret)
    assert_clean_failure(cli("report", d), d / "report.html", contains="symlink")


def test_non_image_and_oversized_figures_are_refused(cli, tmp_path, monkeypatch):
    d = make_dir(tmp_path / "r")
    (d / "fig.png").write_text("-----BEGIN PRIVATE KEY-----\n")
    assert_clean_failure(cli("report", d), d / "report.html", contains="not a PNG or JPEG")
    (d / "fig.png").write_bytes(png(64, 64))
    monkeypatch.setenv("UNDETECTABLE_MAX_FIGURE_BYTES", "50")
    assert_clean_failure(cli("report", d), d / "report.html", contains="UNDETECTABLE_MAX_FIGURE_BYTES")


def test_missing_figure_is_said_not_fatal(cli, tmp_path):
    d = make_dir(tmp_path / "r")
    (d / "fig.png").unlink()
    assert cli("report", d).code == 0
    assert "figure fig.png is missing" in (d / "report.html").read_text()


def test_oversized_json_is_refused_before_parsing(cli, tmp_path, monkeypatch):
    d = make_dir(tmp_path / "r")
    monkeypatch.setenv("UNDETECTABLE_MAX_REPORT_JSON_BYTES", "100")
    assert_clean_failure(cli("report", d), d / "report.html", contains="UNDETECTABLE_MAX_REPORT_JSON_BYTES")


def _subprocess_report(d: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "undetectable", "report", str(d)], check=False, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("target", ["results.json", "arena-rff/arena.json", "fig.png"])
@pytest.mark.parametrize("kind", ["fifo", "devzero"])
def test_fifo_and_dev_zero_never_hang(tmp_path, target, kind):
    """A FIFO (nobody writes) or a link to /dev/zero in place of an input: one line at once, no hang, no report."""
    d = make_dir(tmp_path / "r")
    (d / target).unlink()
    if kind == "fifo":
        os.mkfifo(d / target)
    else:
        (d / target).symlink_to("/dev/zero")
    res = _subprocess_report(d)
    assert res.returncode != 0
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "unexpected" not in lines[0], res.stderr
    assert not (d / "report.html").exists()


def test_corrupt_scan_json_is_said_and_the_rest_rendered(cli, tmp_path):
    d = make_dir(tmp_path / "r")
    (d / "scan.json").write_text('{"rows": [{"a": [1, 2]}]}')
    assert cli("report", d).code == 0
    html = (d / "report.html").read_text()
    assert "is a list, not text" in html and "kurtosis" in html


def test_scan_json_by_name_is_a_table(cli, tmp_path):
    d = make_dir(tmp_path / "r")
    (d / "scan.json").write_text(json.dumps({"modelA": {"tpr": 1.0, "fpr": 0.0}, "modelB": {"tpr": 0.5, "fpr": 0.25}}))
    assert cli("report", d).code == 0
    text = re.sub(r"<[^>]+>", "", (d / "report.html").read_text())
    assert "nametprfpr" in text.replace(" ", "") and "modelB0.50.25" in text


def test_scan_table_shown_once_and_absent_when_missing(cli, tmp_path):
    d = make_dir(tmp_path / "r")
    assert cli("report", d).code == 0
    html = (d / "report.html").read_text()
    assert html.count("<h2 id='scan'>") == 1 and ">0.01<" in html
    (d / "scan.json").unlink()
    assert cli("report", d, "--force").code == 0
    assert "id='scan'" not in (d / "report.html").read_text()
