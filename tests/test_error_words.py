"""Library errors speak library words: no raise outside ``cli/`` names a command-line flag; the CLI adds the flags."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import undetectable

SRC = Path(undetectable.__file__).parent
FLAG = re.compile(r"(^|[\s'\"(`\[])--[a-z]")


def _flag_raises() -> list[str]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if "cli" in path.relative_to(SRC).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            calls = [node.exc] if isinstance(node, ast.Raise) and node.exc is not None else []
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "check_knob":
                calls = [node]  # check_knob(name, ...) builds its message from the name
            for expr in calls:
                for sub in ast.walk(expr):
                    if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and FLAG.search(sub.value):
                        found.append(f"{path.relative_to(SRC)}:{node.lineno}: {sub.value[:80]!r}")
    return found


def test_no_library_error_names_a_flag():
    assert _flag_raises() == []


def test_the_grep_can_fail(tmp_path):
    """Control: the same walk flags a raise that mentions a flag."""
    tree = ast.parse('raise UsageError("pass --data NAME")')
    hits = [s for n in ast.walk(tree) if isinstance(n, ast.Raise) for s in ast.walk(n.exc)
            if isinstance(s, ast.Constant) and isinstance(s.value, str) and FLAG.search(s.value)]
    assert len(hits) == 1


def test_the_cli_adds_the_flag():
    from undetectable.cli.common import flag_message, switch_words

    assert flag_message("beta", "beta must be > 0") == "--beta: beta must be > 0"
    assert flag_message("n_features", "n features must be ≤ 10") == "--features: n features must be ≤ 10"
    assert flag_message("data", "pass data=NAME (a dataset)") == "pass --data NAME (a dataset)"
    assert switch_words("x exists; pass force=True to overwrite it") == "x exists; pass --force to overwrite it"


def test_cli_prints_the_flag_for_a_parameter_error(cli, tmp_path):
    res = cli("plant", "rff", "--data", "digits", "--features", "0", "--out", str(tmp_path / "m"), "--key-out", str(tmp_path / "k"))
    assert res.code == 2 and "--features" in res.err and "n features" in res.err
