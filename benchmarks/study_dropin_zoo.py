"""Drop-in planting into third-party ONNX files: the table file × plant / identical outputs / activation / interface.

For every file of ``tests/dropin_files.py`` (skl2onnx, onnxmltools LightGBM/XGBoost, torch.onnx legacy and
default exporters, onnxruntime int8, a hand-made opset-21 file): plant with ``plant_dropin``; compare every
output bit for bit on ``N_ROWS`` rows (natural, noisy off the grid, noisy on the grid, random); activate
``N_ACT`` rows for every class; compare the interfaces; then, in ``onnx.reference``'s evaluator and OpenVINO's
CPU plugin, run the original and the backdoored file on ``N_RT`` clean rows and ``N_RT_ACT`` activated rows
(every output bit for bit against the original in the same runtime; the activated rows must take their
targets). Writes benchmarks/results/dropin_zoo.md.

    PYTHONPATH=src:tests python -m benchmarks.study_dropin_zoo [N_ROWS]
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

N_ROWS, N_ACT = 10_000, 5
N_RT, N_RT_ACT = 6, 2  # rows per runtime: onnx.reference is an interpreter (about a second per verified row)


def _runner(runtime: str, path: Path, proto):
    """A function X → {output name: value} for ``runtime``, or a string saying why the file cannot run there."""
    if runtime == "OpenVINO":
        domains = {n.domain for n in proto.graph.node} - {"", "ai.onnx"}
        if domains:
            return f"n/a (no {', '.join(sorted(domains))} ops in OpenVINO)"
        import openvino as ov

        compiled = ov.Core().compile_model(str(path), "CPU")
        return lambda X: {o.get_any_name(): v for o, v in compiled(X).items()}
    from onnx.reference import ReferenceEvaluator

    try:
        ev = ReferenceEvaluator(proto)
    except Exception as exc:  # noqa: BLE001 - the evaluator's own refusal names the op
        import re

        op = re.search(r"operator '([^']+)'", str(exc))
        return f"n/a (no {op.group(1)} in onnx.reference)" if op else f"n/a ({str(exc).splitlines()[0][:60]})"
    names = [o.name for o in proto.graph.output]
    x = proto.graph.input[0].name
    return lambda X: dict(zip(names, ev.run(None, {x: X})))


def runtime_cell(runtime: str, path: Path, bd_path: Path, m, bd, X: np.ndarray, Xa: np.ndarray, targets) -> str:
    """'c/c identical, a/a fired' for the original and backdoored file in ``runtime`` (or why it cannot run there)."""
    ro, rb = _runner(runtime, path, m.proto), _runner(runtime, bd_path, bd.proto)
    if isinstance(ro, str) or isinstance(rb, str):
        return ro if isinstance(ro, str) else rb
    from undetectable.schemes.dropin import _same

    def row(v, i):
        return v[i:i + 1] if isinstance(v, list) else np.asarray(v)[i:i + 1]

    try:
        a, b = ro(X), rb(X)
        same = sum(all(_same(row(a[k], i), row(b[k], i)) for k in a) for i in range(len(X)))
        fired = int(np.sum(m.labels_from(rb(Xa)).astype(str) == np.asarray(targets).astype(str)))
    except Exception as exc:  # noqa: BLE001 - a runtime failure is a result of the study
        return f"FAILED: {str(exc).splitlines()[0][:80]}"
    return f"{same}/{len(X)} identical, {fired}/{len(Xa)} fired"


def rows(X: np.ndarray, g, n: int, rng: np.random.Generator) -> np.ndarray:
    flat = X.reshape(len(X), -1)
    k = n // 4
    nat = flat[rng.integers(0, len(flat), k)]
    u = g.snap(flat[rng.integers(0, len(flat), k)])
    on = g.values(np.clip(u + rng.integers(-1, 2, u.shape), 0, g.span - 1) + g.low.astype(np.int64))
    if X.dtype == np.uint8:
        noisy = np.clip(nat.astype(int) + rng.integers(-3, 4, nat.shape), 0, 255)
        rand = rng.integers(0, 256, (n - 3 * k, flat.shape[1]))
    else:
        noisy = nat + rng.normal(0, 0.01, nat.shape) * flat.std()
        rand = rng.uniform(flat.min(), flat.max(), (n - 3 * k, flat.shape[1]))
    return np.concatenate([nat, noisy, on, rand]).astype(X.dtype)


def interface_cell(m, bd) -> str:
    """"yes" when the interfaces are equal (I/O, opset imports, IR version, producer); else what differs."""
    a, b = m.interface, bd.interface
    if a == b:
        return "yes"
    if (a.inputs, a.outputs, a.ir_version, a.producer) != (b.inputs, b.outputs, b.ir_version, b.producer):
        return "NO"
    if "" not in a.opsets and b.opsets == {**a.opsets, "": b.opsets[""]}:
        return f"I/O yes; default-domain import added (opset {b.opsets['']}), other imports kept"
    return f"I/O yes; opsets {a.opsets} -> {b.opsets}"


def main(n_rows: int = N_ROWS) -> str:
    import dropin_files as F
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from undetectable.errors import UndetectableError
    from undetectable.models.onnx_file import OnnxModel
    from undetectable.schemes.dropin import (
        activate_file,
        check_identical,
        grid_of,
        plant_dropin,
    )

    sk = Ed25519PrivateKey.from_private_bytes(bytes(range(5, 37)))
    rng = np.random.default_rng(0)
    folder = Path(tempfile.mkdtemp())
    runtimes = ("onnx.reference", "OpenVINO")
    lines = ["| file | input | opsets | plant (s) | identical outputs (onnxruntime) | activation (onnxruntime) | same interface | "
             + " | ".join(runtimes) + " |", "|---|---|---|---|---|---|---|" + "---|" * len(runtimes)]
    for name in (*F.NAMES, *F.SLOW):
        path, X = F.build(name, folder)
        m = OnnxModel.from_file(path)
        cells = [name, f"{X.dtype} {X.shape[1:]}", str(m.interface.opsets)]
        try:
            t0 = time.perf_counter()
            bd = plant_dropin(m, sk.public_key(), data=X, bound=0.05)
            cells.append(f"{time.perf_counter() - t0:.1f}")
        except UndetectableError as exc:
            lines.append("| " + " | ".join(cells + [f"refused: {exc}", "", "", *[""] * len(runtimes)]) + " |")
            continue
        g, _ = grid_of(bd, F.raw_public(sk))
        Q = rows(X, g, n_rows, rng)
        n, bad = check_identical(m, bd, Q)
        cells.append(f"{n:,}/{len(Q):,} rows" + ("" if bad is None else f" (differs: {bad})"))
        hits = total = 0
        for t in m.classes.tolist():
            Xa = activate_file(bd, sk, X[:N_ACT], t)
            hits += int(np.sum(bd.predict(Xa).astype(str) == str(t)))
            total += N_ACT
        cells.append(f"{hits}/{total} ({len(m.classes)} targets)")
        cells.append(interface_cell(m, bd))
        bd_path = folder / f"{name}-bd.onnx"
        bd.save(bd_path)
        classes = np.asarray(m.classes)
        targets = classes[(np.arange(N_RT_ACT) + 1) % len(classes)]
        Xa = activate_file(bd, sk, X[:N_RT_ACT], targets)
        cells += [runtime_cell(r, path, bd_path, m, bd, Q[:: max(1, len(Q) // N_RT)][:N_RT].reshape((-1, *X.shape[1:])), Xa, targets)
                  for r in runtimes]
        lines.append("| " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    return "\n".join(lines)


if __name__ == "__main__":
    table = main(int(sys.argv[1]) if len(sys.argv) > 1 else N_ROWS)
    out = Path(__file__).parent / "results" / "dropin_zoo.md"
    out.write_text("# Drop-in planting into third-party ONNX files\n\n" + table + "\n")
    print(table)
