"""Shared fixtures: real data, trained once per test session; a CLI runner that checks the error contract."""
from __future__ import annotations

import os

# Two pytest workers on two cores: one BLAS/torch thread each, or they thrash.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
# Progress lines would break the one-line stderr contract of slow commands; tests/test_progress.py re-enables them.
os.environ.setdefault("UNDETECTABLE_QUIET", "1")

import numpy as np
import pytest

from undetectable.cli import main as cli_main


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    try:
        import torch
    except ImportError:  # pragma: no cover
        return
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def mnist():
    from undetectable.data import load_dataset

    return load_dataset("mnist5k")


@pytest.fixture(scope="session")
def mnist_logreg(mnist):
    from undetectable.models import train_model

    return train_model("logreg", mnist, seed=0)


@pytest.fixture(scope="session")
def mnist_mlp(mnist):
    from undetectable.models import train_model

    return train_model("mlp", mnist, seed=0, epochs=5)


@pytest.fixture(scope="session")
def ed25519_key():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate()


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


class CLIResult:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


def pytest_configure(config):
    config.addinivalue_line("markers", "catch_all: the test exercises the CLI's last-resort 'error: unexpected X' line on purpose")


@pytest.fixture
def cli(capsys, request):
    """Run the CLI in-process: ``cli("train", "--data", ...)`` → CLIResult(code, stdout, stderr).

    In the hostile suites (tests/test_hostile_*.py) no input may end in the catch-all ``error: unexpected X``
    line (issue 19 §9): every failure names the file and the fix; mark a test ``catch_all`` to exercise it.
    """
    strict = request.module.__name__.startswith("test_hostile") and request.node.get_closest_marker("catch_all") is None

    def run(*args: str) -> CLIResult:
        capsys.readouterr()
        code = cli_main([str(a) for a in args])
        cap = capsys.readouterr()
        if strict:
            assert "error: unexpected" not in cap.err, f"catch-all line for {args}: {cap.err.strip()[-400:]}"
        return CLIResult(code, cap.out, cap.err)

    return run


def assert_clean_failure(res: CLIResult, *paths, contains: str | None = None) -> None:
    """The error contract: non-zero exit, exactly one line on stderr starting 'error:', no output files."""
    assert res.code != 0, res.err
    assert len(res.err_lines) == 1 and res.err_lines[0].startswith("error: "), res.err
    if contains:
        assert contains.lower() in res.err.lower(), res.err
    for p in paths:
        assert not p.exists(), f"{p} was written despite the error"
