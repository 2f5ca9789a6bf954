"""CLI start-up: seconds spent importing modules for ``--help``, ``inspect``, ``keygen`` and a logreg ``predict``.

Measured with ``python -X importtime`` in a fresh interpreter per command (best of 3): the sum of
the top-level imports' cumulative times. Baseline, in the same run: the floor every command pays,
``import numpy, typer`` in a fresh interpreter. Target: < 1 s of imports per command, and none of
torch, skops, matplotlib or sklearn imported where the command does not need it (the note lists
the heavy packages each command imported).

``startup_imports(args)`` is shared with tests/test_startup.py, which checks the heavy-module part
(never the timing).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .common import ratio_row

HEAVY = ("torch", "skops", "matplotlib", "sklearn", "scipy", "pandas", "onnx", "onnxruntime", "dask", "joblib")
RUN_CLI = "import sys; from undetectable.cli import main; sys.exit(main(sys.argv[1:]))"


def _import_times(code: str, args: list[str], cwd: Path) -> tuple[float, set[str]]:
    env = {**os.environ, "UNDETECTABLE_QUIET": "1"}
    res = subprocess.run([sys.executable, "-X", "importtime", "-c", code, *args], cwd=cwd, env=env,
                         capture_output=True, text=True, timeout=300)
    total, top = 0.0, set()
    for line in res.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cum, name = line.split("|", 2)
        if not cum.strip().isdigit():
            continue  # the header line
        if not name.startswith("  "):  # a top-level import: its cumulative time includes its children
            total += int(cum) / 1e6
        top.add(name.strip().split(".")[0])
    return total, {m for m in HEAVY if m in top}


def startup_imports(args: list[str], cwd: Path, repeat: int = 1) -> tuple[float, set[str]]:
    """(best seconds in imports over ``repeat`` runs, heavy packages imported) for ``undetectable ARGS``."""
    runs = [_import_times(RUN_CLI, args, cwd) for _ in range(repeat)]
    return min(t for t, _ in runs), runs[0][1]


def make_fixtures(cwd: Path) -> None:
    """A logreg bundle (digits), its test inputs and a key pair in ``cwd``."""
    from undetectable.cli import main

    os.environ.setdefault("UNDETECTABLE_QUIET", "1")
    for argv in (["train", "--data", "digits", "--model", "logreg", "--out", str(cwd / "lr")],
                 ["data", "export", "digits", "--split", "test", "--out", str(cwd / "dx")]):
        if main(argv) != 0:
            raise RuntimeError(f"could not run undetectable {' '.join(argv)}")


COMMANDS = {
    "--help": ["--help"],
    "inspect (logreg)": ["inspect", "lr"],
    "keygen": ["keygen", "--out", "k", "--force"],
    "predict (logreg)": ["predict", "lr", "--input", "dx/X.npy", "--out", "y.npy", "--force"],
}


def run() -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        cwd = Path(tmp)
        make_fixtures(cwd)
        floor = min(_import_times("import numpy, typer", [], cwd)[0] for _ in range(3))
        for name, args in COMMANDS.items():
            secs, heavy = startup_imports(args, cwd, repeat=3)
            rows.append(ratio_row(f"start-up imports: undetectable {name}", secs, floor, "< 1 s of imports, no heavy package",
                                  secs < 1.0 and not heavy, f"heavy imported: {', '.join(sorted(heavy)) or 'none'}"))
    return rows
