"""The README runs as written: every ```sh block, in order, then the ```python tour, in one fresh folder.

A fresh folder stands in for the checkout: it gets a ``.venv`` link to the interpreter running the tests,
and the README's own ``mkdir try && cd try`` block moves the later blocks into ``try/`` (the commands call
``../.venv/bin/undetectable``); ``PYTHONPATH`` points at this checkout's ``src``. ```console blocks
(``make demo`` / ``make test``) are the set-up itself and are not re-run here.

Sizes: with ``README_SHRINK=1`` (the default here) the few size flags in ``SHRINK`` are made smaller so
the test stays fast on 2 cores; the commands are otherwise the README's own. ``README_SHRINK=0`` (``make
readme-check``) runs them verbatim. The Dask block's port is replaced by a free one, so parallel test runs
do not collide.

Also checked: every headline number of the README's constructions table appears in docs/results.md
(the generated file the docs cite), and every relative link of the README and docs/ resolves.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

SHRINK = {
    "--features 3000": "--features 400",
    "--n 100": "--n 8",
    "--models 4": "--models 2",
    "--k 16": "--k 4",
    "--detectors disagreement,strip": "--detectors strip",
    "n_features=1000": "n_features=300",
    "data.X_test[:100]": "data.X_test[:20]",
}


def blocks(text: str) -> list[tuple[str, str]]:
    """(language, code) of every fenced block, in order."""
    return [(m.group(1), m.group(2)) for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, flags=re.S | re.M)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _shrink(code: str) -> str:
    if os.environ.get("README_SHRINK", "1") == "0":
        return code
    for old, new in SHRINK.items():
        code = code.replace(old, new)
    return code


@pytest.mark.slow
def test_readme_runs_as_written(tmp_path):
    runnable = [(lang, code) for lang, code in blocks(README.read_text()) if lang in ("sh", "python")]
    assert [lang for lang, _ in runnable].count("sh") >= 3 and any(lang == "python" for lang, _ in runnable)
    assert runnable[0][1].strip() == "mkdir try && cd try", "the tour starts by making its folder"
    (tmp_path / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "UNDETECTABLE_QUIET": "1"}
    port = str(_free_port())
    cwd = tmp_path
    for i, (lang, code) in enumerate(runnable):
        code = _shrink(code).replace("8786", port)
        if lang == "sh":
            cmd = ["bash", "-euo", "pipefail", "-c", code]
        else:
            cmd = [str(tmp_path / ".venv" / "bin" / "python"), "-c", code]
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)  # its own process group: background jobs (Dask) are cleaned up below
        try:
            out, err = proc.communicate(timeout=900)
        finally:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        res = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
        assert res.returncode == 0, f"README block {i} ({lang}) failed with exit {res.returncode}:\n{code}\n--- stderr ---\n{res.stderr[-3000:]}"
        if lang == "python":
            out = res.stdout.splitlines()
            assert out[0].startswith("[7 7 7"), res.stdout
            assert out[1] == "1.0" and out[2] == "1", res.stdout
            assert float(out[3]) >= 0.9, res.stdout
        if lang == "sh" and (cd := re.fullmatch(r"mkdir (\w+) && cd \1", code.strip())):
            cwd = cwd / cd.group(1)  # a `cd` lasts for the rest of the tour, as in the reader's shell
    # what the tour promises
    assert cwd == tmp_path / "try"
    assert (cwd / "arenas" / "report.html").is_file() and (cwd / "bd-from-python" / "manifest.json").is_file()


def test_readme_headlines_come_from_results_md():
    """Every number in the README's constructions table appears in docs/results.md (no hand-typed numbers)."""
    results = (ROOT / "docs" / "results.md").read_text()
    table = README.read_text().split("## The constructions", 1)[1].split("\n\n## ", 1)[0]
    rows = [line.split("|") for line in table.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) >= 6
    for row in rows:
        for number in re.findall(r"\d+(?:[./]\d+)*%?", row[3]):
            assert number in results, f"README headline number {number!r} ({row[3].strip()!r}) is not in docs/results.md"


def test_links_resolve():
    for page in [README, *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", page.read_text()):
            if target.startswith(("http://", "https://")):
                continue
            assert (page.parent / target).exists(), f"{page.relative_to(ROOT)} links to {target}, which does not exist"


def test_results_anchors_exist():
    results = (ROOT / "docs" / "results.md").read_text()
    anchors = set(re.findall(r'<a id="([^"]+)"></a>', results))
    for page in sorted((ROOT / "docs").glob("*.md")):
        for anchor in re.findall(r"\(results\.md#([^)]+)\)", page.read_text()):
            assert anchor in anchors, f"{page.name} cites results.md#{anchor}, which docs/results.md does not define"
