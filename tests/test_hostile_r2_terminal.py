"""Issue 19 §7: what a hostile file holds never reaches the terminal raw.

File names inside a bundle and class labels are printed escaped: no ESC/OSC/BEL/C1 byte on stdout or stderr,
and rich markup in a label is shown as text (never an OSC 8 link, never a MarkupError)."""
from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

from hostile_util import one_error_line

RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
TITLE = "\x1b]0;pwned\x07"  # OSC 0: sets the window title
CLEAR = "\x1b[2J\x1b[H"  # clears the screen
LINK = "[link=http://evil.example]click me[/link]"


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    from undetectable.bundle import save_bundle
    from undetectable.data import load_dataset
    from undetectable.models import train_model

    d = tmp_path_factory.mktemp("term")
    ds = load_dataset("breast-cancer")
    save_bundle(train_model("logreg", ds, seed=0), d / "bundle")
    np.save(d / "X.npy", ds.X_test[:4])
    return d


def no_raw_controls(res):
    for stream in (res.out, res.err):
        assert not RAW.search(stream.replace("\n", "")), repr(stream[:400])


def test_class_labels_with_escapes_and_markup_are_shown_as_text(cli, made, tmp_path):
    shutil.copytree(made / "bundle", tmp_path / "b")
    m = json.loads((tmp_path / "b/manifest.json").read_text())
    m["classes"] = [TITLE + "benign", LINK + " [/] [bold]"]  # '[/]' alone made rich raise MarkupError
    (tmp_path / "b/manifest.json").write_text(json.dumps(m))
    res = cli("inspect", tmp_path / "b")
    assert res.code == 0, res.err
    no_raw_controls(res)
    flat = re.sub("[\\s\u2502]", "", res.out)  # table cells wrap: drop whitespace and the '│' borders
    assert "".join(LINK.split()) in flat  # the markup is shown, not interpreted
    assert "pwned" in res.out
    res = cli("activate", tmp_path / "b", "--key", tmp_path / "nokey", "--input", made / "X.npy", "--target", CLEAR,
              "--out", tmp_path / "o.npy")
    assert res.code != 0
    no_raw_controls(res)


def test_a_file_name_with_escapes_in_an_error_line(cli, made, tmp_path):
    shutil.copytree(made / "bundle", tmp_path / "b")
    (tmp_path / "b" / (CLEAR + "evil" + TITLE)).write_text("x")
    res = cli("predict", tmp_path / "b", "--input", made / "X.npy", "--out", tmp_path / "y.npy")
    line = one_error_line(res.err)
    assert res.code == 1 and "not in its manifest" in line, line
    no_raw_controls(res)
    assert "\\x1b[2J" in line and "evil" in line  # shown, escaped
    res = cli("inspect", tmp_path / "b", "--json")  # --json: the failure object on stdout is escaped JSON
    no_raw_controls(res)


def test_helpers_escape_every_control_and_markup():
    from undetectable.cli.render import markup_safe, terminal_safe

    for c in list(range(0x00, 0x20)) + list(range(0x7f, 0xa0)) + [0x202e, 0x2066]:
        if chr(c) in "\n\t":
            continue
        assert chr(c) not in terminal_safe(f"a{chr(c)}b"), hex(c)
    assert terminal_safe("plain text, ünïcode") == "plain text, ünïcode"  # the control: nothing else changes
    assert markup_safe(LINK).startswith("\\[link=")
