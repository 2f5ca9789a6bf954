"""report.html in a real browser: headless Chromium at 800 and 1280 px, no element overflows its container.

Dependency-light: Chromium's own ``--dump-dom`` and ``--screenshot``, no Playwright, no websocket.
A copy of the report gets a small script that, on load, lists every visible element wider than its
parent (or than the viewport) and every element whose content is wider than its box, and writes the
list into ``<body data-overflow=...>``; ``--dump-dom`` returns the DOM after that script ran.
Screenshots land in ``$UNDETECTABLE_SCREENSHOTS`` (default: the test's tmp folder).

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
  document.body.setAttribute('data-overflow', JSON.stringify(bad));
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


def overflows(browser: str, report: Path, width: int, height: int = 1000) -> list[str]:
    """Elements of ``report`` that overflow their container at ``width`` px (empty list: none)."""
    text = report.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="report-check-") as tmp:
        probe = Path(tmp) / "probe.html"
        probe.write_text(text.replace("</body>", CHECK_JS + "</body>"), encoding="utf-8")
        res = _run(browser, [f"--window-size={width},{height}", "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()])
    m = re.search(r'<body[^>]*data-overflow="([^"]*)"', res.stdout)
    assert m, f"chromium did not run the overflow check (rc {res.returncode}): {res.stderr[-500:]}"
    return json.loads(_html.unescape(m.group(1)))


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
    shots = Path(os.environ.get("UNDETECTABLE_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    screenshot(browser, report, width, shots / f"report-{width}.png")
    assert overflows(browser, report, width) == []


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
