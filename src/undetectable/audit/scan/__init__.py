"""``scan``: a white-box scanner for graph backdoors in ONNX files, with measured error rates.

Static checks read the graph (subgraphs included) with dataflow *taint* from the inputs
(``graph.build_view``); each is one module registered in ``CHECKS``:

===================== =======================================================================
check                 what it flags
===================== =======================================================================
integer-ops           bitwise ops, and integer arithmetic on input-derived values (quantization ops excepted)
input-control-flow    If / Loop whose condition or trip count derives from the input; Where selecting on an
                      aggregated input-derived condition
input-equality        Equal of an input-derived value against a constant (a magic value / exact-match trigger)
hash-mixing           Mod, shifts, xor and Floor/Round/Ceil on input-derived values (checksums, hashes, limb
                      arithmetic)
constant-tables       integer-valued float tables, power-of-two and precomputed-multiple tables, input-indexed
                      integer lookup tables
dormant-branch        (with data) an input-derived boolean constant over natural data whose flip changes the
                      outputs: a branch natural inputs never take
dormant-gate          (with data) the same for arithmetic gates: a saturated nonlinearity (Relu, Min, Clip,
                      Sigmoid, ...) constant over natural data whose move off that constant changes the outputs
===================== =======================================================================

Nodes in domains or of op types the scanner does not know (custom ops, unknown domains) make a file
``inconclusive``, naming them; model-local functions are inlined first (a planter gains nothing by
hiding logic in one). Severity: ``info`` < ``low`` < ``medium`` < ``high``; a file's verdict is
``findings`` when a finding reaches ``ScanConfig.min_severity`` (``medium`` by default, the level
tuned on one half of the honest corpus in ``benchmarks/bench_scan.py``), else ``inconclusive`` when
parts could not be analysed, else ``clean``.

Honest caveat: these are heuristics with measured, not proven, error rates. The paper's point stands
for the *black-box* auditor; the white-box auditor wins against today's planters by reading the graph,
and ``docs/scan.md`` shows where an arithmetic-only verifier sits.

Examples
--------
>>> from onnx import TensorProto, helper
>>> x = helper.make_tensor_value_info("x", TensorProto.INT64, ["n", 4])
>>> y = helper.make_tensor_value_info("y", TensorProto.INT64, ["n", 4])
>>> g = helper.make_graph([helper.make_node("BitwiseXor", ["x", "x"], ["y"])], "g", [x], [y])
>>> r = scan_model(helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)]))
>>> r.verdict, [(f.check, f.severity) for f in r.findings]
('findings', [('integer-ops', 'high'), ('hash-mixing', 'low')])
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from ...errors import ParameterError, UsageError

SEVERITIES = ("info", "low", "medium", "high")
VERDICTS = ("clean", "findings", "inconclusive")
MAX_FILES = 100_000


def severity_rank(s: str) -> int:
    return SEVERITIES.index(s)


@dataclass(frozen=True)
class Finding:
    """One thing a check flags: the ``check`` name, ``severity``, the node ids involved and why."""

    check: str
    severity: str
    nodes: tuple[str, ...]
    reason: str

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["nodes"] = list(self.nodes)
        return d


@dataclass(frozen=True)
class ScanResult:
    """The scan of one file: ``verdict`` is clean | findings | inconclusive."""

    path: str
    verdict: str
    findings: tuple[Finding, ...] = ()
    inconclusive_parts: tuple[str, ...] = ()
    n_nodes: int = 0

    @property
    def max_severity(self) -> str | None:
        return max((f.severity for f in self.findings), key=severity_rank, default=None)

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "verdict": self.verdict, "findings": [f.to_json() for f in self.findings],
                "inconclusive_parts": list(self.inconclusive_parts), "n_nodes": self.n_nodes}


@dataclass(frozen=True)
class ScanConfig:
    """Knobs: ``min_severity`` a finding needs to make the verdict ``findings``; the dynamic checks' budget.

    ``dynamic_max_nodes``: graphs with more nodes are not run by the dynamic checks (each rerun builds an
    onnxruntime session of the whole graph: minutes at ~75,000 nodes); the file says so in its inconclusive parts.
    """

    min_severity: str = "medium"
    dormant_samples: int = 128
    dormant_max_flips: int = 32
    dynamic_max_nodes: int = 20_000

    def __post_init__(self) -> None:
        if self.min_severity not in SEVERITIES:
            raise ParameterError("min_severity", f"min_severity must be one of {', '.join(SEVERITIES)}, got {self.min_severity!r}")
        if not 1 <= self.dormant_samples <= 100_000:
            raise ParameterError("dormant_samples", "dormant_samples must be between 1 and 100000")


@dataclass
class Context:
    """What a check may read besides the graph: the data (file's own input layout) and the config."""

    model: onnx.ModelProto
    data: np.ndarray | None
    config: ScanConfig
    inconclusive: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Check:
    name: str
    fn: Callable[..., list[Finding]]
    needs_data: bool
    doc: str


CHECKS: dict[str, Check] = {}


def check(name: str, needs_data: bool = False):
    """Decorator: register ``fn(view, ctx) -> list[Finding]`` as the check ``name``."""

    def deco(fn):
        CHECKS[name] = Check(name, fn, needs_data, (fn.__doc__ or "").strip().splitlines()[0])
        return fn

    return deco


def _load_checks() -> None:
    from . import (  # noqa: F401
        const_tables,
        control_flow,
        dormant,
        dormant_gate,
        equality,
        hash_mixing,
        integer_ops,
        sarif,
    )


def names() -> list[str]:
    """The registered check names."""
    _load_checks()
    return list(CHECKS)


def read_model(path: str | os.PathLike) -> onnx.ModelProto:
    """A model file read bounded (regular file, no final symlink, ``UNDETECTABLE_MAX_FILE_BYTES``), external data not loaded."""
    from ...safety import open_nofollow

    p = Path(path)
    try:
        fd = open_nofollow(p, "FILE_BYTES", str(p))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    with os.fdopen(fd, "rb") as fh:
        raw = fh.read()
    try:
        return onnx.load_model_from_string(raw)
    except Exception as exc:  # noqa: BLE001 - any parse failure is the file's
        raise UsageError(f"{p} is not a readable ONNX model ({type(exc).__name__}); scan reads ONNX files") from None


def _inline(model: onnx.ModelProto, parts: list[str]) -> onnx.ModelProto:
    if not len(model.functions):
        return model
    try:
        from onnx import inliner

        return inliner.inline_local_functions(model)
    except Exception as exc:  # noqa: BLE001
        parts.append(f"model-local functions {sorted(f.name for f in model.functions)} could not be inlined ({type(exc).__name__})")
        return model


def scan_model(model: onnx.ModelProto, data: np.ndarray | None = None, *, path: str = "<model>",
               config: ScanConfig | None = None, checks: Iterable[str] | None = None) -> ScanResult:
    """Run the checks on an ``onnx.ModelProto`` (``data``: natural inputs in the file's own layout, for dormant-branch and dormant-gate)."""
    from .graph import build_view
    from .unknown_ops import unanalysable

    config = config or ScanConfig()
    _load_checks()
    chosen = list(CHECKS) if checks is None else list(checks)
    for c in chosen:
        if c not in CHECKS:
            raise ParameterError("checks", f"unknown check {c!r}; choose from {', '.join(CHECKS)}")
    parts: list[str] = []
    model = _inline(model, parts)
    view = build_view(model)
    parts += unanalysable(view)
    ctx = Context(model, data, config, parts)
    findings: list[Finding] = []
    too_big = data is not None and len(view.nodes) > config.dynamic_max_nodes
    if too_big and any(CHECKS[c].needs_data for c in chosen):
        parts.append(f"the dynamic checks were not run: the graph has {len(view.nodes)} nodes, more than the budget of "
                     f"{config.dynamic_max_nodes} (ScanConfig.dynamic_max_nodes)")
    for name in chosen:
        chk = CHECKS[name]
        if chk.needs_data and (data is None or too_big):
            continue
        findings += chk.fn(view, ctx)
    findings.sort(key=lambda f: (-severity_rank(f.severity), f.check, f.nodes))
    bar = severity_rank(config.min_severity)
    if any(severity_rank(f.severity) >= bar for f in findings):
        verdict = "findings"
    elif parts:
        verdict = "inconclusive"
    else:
        verdict = "clean"
    return ScanResult(path, verdict, tuple(findings), tuple(parts), len(view.nodes))


def model_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """The ``.onnx`` files named or found (recursively, symlinks not followed) under ``paths``, sorted per argument."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_symlink():
            raise UsageError(f"{p} is a symbolic link; scan the file it points to")
        if p.is_dir():
            found = []
            for root, dirs, files in os.walk(p, followlinks=False):
                dirs.sort()
                found += [Path(root) / f for f in sorted(files) if f.endswith(".onnx") and not (Path(root) / f).is_symlink()]
                if len(out) + len(found) > MAX_FILES:
                    raise UsageError(f"{p} holds more than {MAX_FILES} .onnx files; scan its subfolders one at a time")
            out += found
        elif p.is_file():
            out.append(p)
        else:
            raise UsageError(f"{p} does not exist (or is not a regular file or folder); give ONNX files or folders holding them")
    return out


def scan_path(path: str | os.PathLike, data: np.ndarray | None = None, config: ScanConfig | None = None) -> ScanResult:
    """Scan one file; a file that is not a readable ONNX model is ``inconclusive`` with the reason."""
    try:
        model = read_model(path)
    except UsageError as exc:
        return ScanResult(str(path), "inconclusive", (), (str(exc),))
    return scan_model(model, data, path=str(path), config=config)


def scan_paths(paths: Iterable[str | os.PathLike], data: np.ndarray | None = None, config: ScanConfig | None = None) -> list[ScanResult]:
    """Scan every ONNX file named or under the folders named."""
    files = model_files(paths)
    if not files:
        raise UsageError("no .onnx files found in the paths given")
    return [scan_path(f, data, config) for f in files]


def exit_code(results: Iterable[ScanResult]) -> int:
    """0 nothing found, 1 findings in some file, 3 some file inconclusive (and none with findings)."""
    verdicts = {r.verdict for r in results}
    return 1 if "findings" in verdicts else 3 if "inconclusive" in verdicts else 0


__all__ = [
    "CHECKS",
    "SEVERITIES",
    "Finding",
    "ScanConfig",
    "ScanResult",
    "check",
    "exit_code",
    "model_files",
    "names",
    "read_model",
    "scan_model",
    "scan_path",
    "scan_paths",
]
