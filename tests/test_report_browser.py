"""report.html in a real browser: headless Chromium at 800 and 1280 px: nothing overflows, no number breaks
across lines, the demo's report is at most 8,000 px tall at 1280 px, and a hostile folder's report runs nothing.

Dependency-light: Chromium's own ``--dump-dom`` and ``--screenshot``, no Playwright, no websocket.
A copy of the report gets a small script that, on load, lists every visible element wider than its
parent (or than the viewport) and every element whose content is wider than its box, and writes the
list into ``<body data-overflow=...>``; ``--dump-dom`` returns the DOM after that script ran.
Screenshots land in ``$UNDETECTABLE_SCREENSHOTS`` (default: the test's tmp folder). The report's own
Content-Security-Policy (no script) is removed from the probe copy, so the checks see what escaping alone does.

The length check renders tests/data/report-demo (the results.json and arena.json files of a ``demo --quick``
run, the same rows and figures as the full demo's; the figures replaced by blank PNGs of the sizes the
figure module draws, listed in figure_sizes.json: regenerate both when the demo or the figures change).

Run by hand on any report: ``python tests/test_report_browser.py demo-out/report.html OUTDIR [WIDTH ...]``.
"""
from __future__ import annotations

import html as _html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--force-device-scale-factor=1"]

CHECK_JS = """
<script>
window.addEventListener('load', function () {
  var bad = [], vw = document.documentElement.clientWidth;
  function name(el) {
    var t = (el.textContent || '').trim().slice(0, 60);
    return el.tagName.toLowerCase() + (el.className ? '.' + el.className : '') + ' "' + t + '"';
  }
  document.querySelectorAll('body *').forEach(function (el) {
    if (el.tagName === 'SCRIPT' || el.tagName === 'COL' || el.tagName === 'COLGROUP') return;
    var r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) return;            // not rendered (closed <details>, display:none)
    var p = el.parentElement, pr = p.getBoundingClientRect();
    if (r.right > vw + 1) bad.push('beyond the viewport (' + Math.round(r.right) + ' > ' + vw + ' px): ' + name(el));
    else if (r.right > pr.right + 1 || r.left < pr.left - 1) bad.push('wider than its container: ' + name(el));
    if (el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0) bad.push('content wider than its box: ' + name(el));
  });
  if (document.documentElement.scrollWidth > vw + 1) bad.push('page scrolls sideways: ' + document.documentElement.scrollWidth + ' px');
  var wrapped = [];
  document.querySelectorAll('span.n').forEach(function (el) { if (el.getClientRects().length > 1) wrapped.push(el.textContent); });
  document.body.setAttribute('data-overflow', JSON.stringify(bad));
  document.body.setAttribute('data-measure', JSON.stringify({height: document.documentElement.scrollHeight, wrapped: wrapped,
                                                             numbers: document.querySelectorAll('span.n').length}));
});
</script>
"""


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _run(browser: str, args: list[str], timeout: float = 90) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        return subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=timeout)


CSP = re.compile(r"<meta http-equiv=.Content-Security-Policy[^>]*>")


def probe(browser: str, report: Path, width: int, height: int = 1000) -> tuple[list[str], dict]:
    """(elements of ``report`` that overflow their container, {height, wrapped numbers, numbers}) at ``width`` px."""
    text = CSP.sub("", report.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="report-check-") as tmp:
        page = Path(tmp) / "probe.html"
        page.write_text(text.replace("</body>", CHECK_JS + "</body>"), encoding="utf-8")
        res = _run(browser, [f"--window-size={width},{height}", "--virtual-time-budget=5000", "--dump-dom", page.as_uri()])
    m = re.search(r'<body[^>]*data-overflow="([^"]*)"', res.stdout)
    k = re.search(r'<body[^>]*data-measure="([^"]*)"', res.stdout)
    assert m and k, f"chromium did not run the overflow check (rc {res.returncode}): {res.stderr[-500:]}"
    return json.loads(_html.unescape(m.group(1))), json.loads(_html.unescape(k.group(1)))


def overflows(browser: str, report: Path, width: int, height: int = 1000) -> list[str]:
    """Elements of ``report`` that overflow their container at ``width`` px (empty list: none)."""
    return probe(browser, report, width, height)[0]


def shot_path(tmp_path: Path, name: str) -> Path:
    """Where screenshot ``name`` goes: ``$UNDETECTABLE_SCREENSHOTS`` (created) or the test's tmp folder."""
    shots = Path(os.environ.get("UNDETECTABLE_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    return shots / name


def screenshot(browser: str, report: Path, width: int, out: Path, height: int = 2400) -> Path:
    """A PNG of the top ``height`` px of ``report`` rendered at ``width`` px."""
    res = _run(browser, [f"--window-size={width},{height}", f"--screenshot={out}", report.resolve().as_uri()])
    assert out.is_file(), f"chromium wrote no screenshot (rc {res.returncode}): {res.stderr[-500:]}"
    return out


@pytest.fixture(scope="module")
def browser():
    path = find_chromium()
    if path is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install -y chromium); .ci/run installs it")
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A report with long cells, many rows, a CI column, figures, an arena and a defenses table."""
    from test_report import demo_dir_content

    d = tmp_path_factory.mktemp("browser")
    demo_dir_content(d)
    from undetectable.report.html import write_report

    return write_report(d)


@pytest.mark.parametrize("width", [800, 1280])
def test_report_fits_the_window(browser, report, width, tmp_path):
    screenshot(browser, report, width, shot_path(tmp_path, f"report-{width}.png"))
    assert overflows(browser, report, width) == []


DEMO = Path(__file__).parent / "data" / "report-demo"


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory):
    """The report of a demo run's results (tests/data/report-demo), figures as blank PNGs of their real sizes."""
    from test_report_hostile import png

    d = tmp_path_factory.mktemp("demo-report") / "demo"
    shutil.copytree(DEMO, d)
    for name, (w, h) in json.loads((d / "figure_sizes.json").read_text()).items():
        (d / name).write_bytes(png(w, h))
    from undetectable.report.html import write_report

    return write_report(d)


@pytest.mark.parametrize("width", [800, 1280])
def test_demo_report_is_short_and_no_number_breaks(browser, demo_report, width, tmp_path):
    screenshot(browser, demo_report, width, shot_path(tmp_path, f"demo-report-{width}.png"))
    bad, m = probe(browser, demo_report, width)
    assert bad == []
    assert m["numbers"] > 500 and m["wrapped"] == [], m["wrapped"]
    if width == 1280:
        assert m["height"] <= 8000, f"the demo's report is {m['height']} px tall at 1280 px (at most 8,000)"


def test_the_wrap_check_sees_a_broken_number(browser, tmp_path):
    """The control: a number span allowed to wrap in a narrow box is reported."""
    page = tmp_path / "narrow.html"
    page.write_text("<!DOCTYPE html><html><body><div style='width:40px'><span class='n' style='white-space:normal'>"
                    "0.9 92 0.9 92 0.9 92</span></div></body></html>")
    assert probe(browser, page, 800)[1]["wrapped"]


def live_tags(dom: str) -> list[str]:
    """Elements of a DOM that can run or load something: script/iframe/object/embed, any on* handler, a non-data src."""
    from html.parser import HTMLParser

    found: list[str] = []

    class P(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag in ("script", "iframe", "object", "embed", "link", "base", "meta") and not (
                    tag == "meta" and {k for k, _ in attrs} <= {"charset", "name", "content", "http-equiv"}):
                found.append(tag)
            for k, v in attrs:
                if k.startswith("on") or (k in ("src", "href") and v and not v.startswith(("data:image/", "#"))):
                    found.append(f"{tag} {k}={v[:40]}")

    P().feed(dom)
    return found


def test_hostile_report_runs_nothing(browser, tmp_path):
    """Every text field of results.json, arena.json and scan.json a script: Chromium's DOM after load shows none ran."""
    from test_report_hostile import HOSTILE, TEXT_FIELDS, make_dir

    from undetectable.report.html import write_report

    d = make_dir(tmp_path / "r", [(w, p, HOSTILE) for w, p in TEXT_FIELDS])
    report = write_report(d)
    page = tmp_path / "nocsp.html"
    page.write_text(CSP.sub("", report.read_text(encoding="utf-8")), encoding="utf-8")  # escaping alone must hold
    res = _run(browser, ["--window-size=1280,1000", "--virtual-time-budget=3000", "--dump-dom", page.as_uri()])
    dom = res.stdout
    assert "<title>undetectable report</title>" in dom and "PWNED</title>" not in dom, dom[:300]
    assert live_tags(dom) == [], live_tags(dom)
    assert "&lt;script&gt;" in dom  # the strings are there, as text
    # the control: the same string unescaped does run
    bad = tmp_path / "bad.html"
    bad.write_text(f"<!DOCTYPE html><html><head><title>t</title></head><body>{HOSTILE}</body></html>")
    bad_dom = _run(browser, ["--virtual-time-budget=3000", "--dump-dom", bad.as_uri()]).stdout
    assert "PWNED</title>" in bad_dom and live_tags(bad_dom)


def test_the_check_sees_an_overflow(browser, tmp_path):
    """The control: a cell that cannot wrap is reported."""
    page = tmp_path / "wide.html"
    page.write_text("<!DOCTYPE html><html><body><table><tr><td style='white-space:nowrap'>" + "x" * 400
                    + "</td></tr></table></body></html>")
    found = overflows(browser, page, 800)
    assert any("viewport" in f or "sideways" in f for f in found), found


if __name__ == "__main__":  # python tests/test_report_browser.py REPORT OUTDIR [WIDTH ...]
    chromium = find_chromium()
    if chromium is None:
        sys.exit("chromium is not installed")
    src, outdir = Path(sys.argv[1]), Path(sys.argv[2])
    outdir.mkdir(parents=True, exist_ok=True)
    for w in [int(a) for a in sys.argv[3:]] or [800, 1280, 2600]:
        print(w, screenshot(chromium, src, w, outdir / f"{src.stem}-{w}.png", height=int(os.environ.get("SHOT_HEIGHT", 2400))),
              overflows(chromium, src, w))
