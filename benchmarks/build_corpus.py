"""The scanner's labelled corpus: honest third-party ONNX files and planted ones, built offline and reproducibly.

``python -m benchmarks.build_corpus [--out benchmarks/corpus] [--quick] [--force]``

* honest: every fast ``undetectable.zoo`` model × seeds (0, 1) × sizes (1, 2) × its exporter's default
  opset and up to three explicit ones, plus the dynamo-exported models (seeds 0, 1); files with
  identical bytes are kept once (``--add-seed 2`` appends a third seed at size 1: the published corpus);
* planted (``undetectable.zoo.plants``): ShadowLogic-style checksum and patch triggers,
  DeepPayload-style conv trigger detectors, magic-value equality triggers (25 bases each, drawn
  from the honest files with tensor outputs), the arithmetic-gate patch trigger (``gate``: no comparison,
  no Where; 25 bases with float score outputs only), this package's signature verifier
  (``byo_onnx.backdoor_onnx``) over the uint8-image bases (CNN, ResNet-like, QDQ CNN, dynamo CNN), and the
  drop-in signature backdoor over every family, with its verifier in a Loop (``dropin``, 20) and unrolled
  into plain arithmetic (``dropin-unrolled``, 8: the obfuscated verifier).

Each file gets ``<stem>.X.npy``: 64 natural inputs in its own layout (for the dormant-branch and dormant-gate checks).
``index.json`` lists every file with its label, family, kind, base, seed, opset and size. The same
command gives the same files (seeded training, seeded plants; the dynamo exporter may vary by torch
version). ``--quick``: a slice (seed 0, size 1, default opsets, a few plants) for ``make bench``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

N_DATA = 64
PLANT_KINDS = ("checksum", "pattern", "detector", "magic")
N_UNROLLED = 8  # drop-in plants with the unrolled verifier (each ~4 MB, ~25k nodes)
SIGNATURE_BASES = ("torch-cnn", "torch-resnet", "ort-qdq-static-cnn", "torch-cnn-dynamo")


@dataclass(frozen=True)
class Item:
    """One corpus file: ``label`` honest | planted; ``family``: the exporter (honest) or the base's exporter (planted)."""

    path: str
    label: str
    family: str
    kind: str          # "honest" or the plant kind
    base: str          # zoo model name
    seed: int
    opset: int
    size: int
    data: str


def _save(out: Path, rel: str, model_bytes: bytes, X: np.ndarray) -> str:
    p = out / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(model_bytes)
    np.save(out / (rel[: -len(".onnx")] + ".X.npy"), np.ascontiguousarray(X[:N_DATA]))
    return rel[: -len(".onnx")] + ".X.npy"


def _same_outputs(path: Path, planted, X: np.ndarray) -> bool:
    """The planted model runs and is identical to the honest file on the sample data."""
    from undetectable import zoo
    from undetectable.zoo.plants import _run

    try:
        a, b = zoo.run(path, X), _run(planted, X)
    except Exception:  # noqa: BLE001
        return False
    return all(np.array_equal(np.asarray(x), np.asarray(y)) if not isinstance(x, list) else x == y for x, y in zip(a, b))


def _float_scores(path: Path, X: np.ndarray) -> bool:
    """Every output of the file is a float32 (n, C) tensor (no label, no ZipMap)."""
    from undetectable import zoo

    try:
        outs = zoo.run(path, X[:2])
    except Exception:  # noqa: BLE001
        return False
    return all(not isinstance(v, list) and np.asarray(v).ndim == 2 and np.asarray(v).dtype == np.float32 for v in outs)


def build(out: Path, quick: bool = False, log=print, dropin: bool = True) -> list[Item]:
    import onnx

    from undetectable import zoo
    from undetectable.zoo import plants

    out.mkdir(parents=True, exist_ok=True)
    seeds, sizes = ((0,), (1,)) if quick else ((0, 1), (1, 2))
    items: list[Item] = []
    failures: list[str] = []
    seen: set[str] = set()
    honest: list[tuple[Item, zoo.ZooEntry]] = []
    fast = zoo.names(fast=True)
    slow = [] if quick else zoo.names(fast=False)
    t0 = time.time()
    tmp = out / "_build"
    for seed in seeds:
        for size in sizes:
            for name in fast + (slow if size == 1 else []):
                zm = zoo.model(name)
                ops: list = [None] + ([] if quick else list(zm.opsets[:3]))
                for opset in ops:
                    try:
                        e, = zoo.build([name], tmp, seed=seed, opset=opset, size=size, force=True)
                    except Exception as exc:  # noqa: BLE001 - an exporter refusing an opset is recorded, not fatal
                        failures.append(f"honest {name} seed {seed} size {size} opset {opset}: {type(exc).__name__}: {str(exc)[:120]}")
                        continue
                    raw = e.path.read_bytes()
                    digest = hashlib.sha256(raw).hexdigest()
                    if digest in seen:
                        continue
                    seen.add(digest)
                    rel = f"honest/{e.path.name}"
                    data = _save(out, rel, raw, e.X)
                    it = Item(rel, "honest", e.family, "honest", name, seed, e.opset, size, data)
                    items.append(it)
                    honest.append((it, e))
        log(f"honest: {len(honest)} files after seed {seed} ({time.time() - t0:.0f}s)")
    # planted: each kind over bases drawn round-robin across model names
    rng = np.random.default_rng(20260417)
    n_per = 4 if quick else 25
    tensor_bases = [(it, e) for it, e in honest if it.base != "skl-logreg"]  # ZipMap outputs are sequences
    by_name: dict[str, list] = {}
    for it, e in tensor_bases:
        by_name.setdefault(it.base, []).append((it, e))
    order = sorted(by_name)
    def plant_into(kind: str, name: str) -> None:
        """Plant ``kind`` into one honest file of base ``name``; kept only if its outputs are the base's on the data."""
        it, e = by_name[name][int(rng.integers(len(by_name[name])))]
        pseed = int(rng.integers(1 << 30))
        try:
            p = plants.plant(kind, onnx.load(str(out / it.path)), e.X, target=int(rng.integers(2)), seed=pseed)
        except Exception as exc:  # noqa: BLE001
            failures.append(f"{kind} on {it.path}: {type(exc).__name__}: {str(exc)[:120]}")
            return
        if not _same_outputs(out / it.path, p.model, e.X):
            failures.append(f"{kind} on {it.path}: the planted file's outputs differ on the sample data (not planted)")
            return
        rel = f"planted/{kind}/{Path(it.path).stem}_p{pseed}.onnx"
        data = _save(out, rel, p.model.SerializeToString(), e.X)
        items.append(Item(rel, "planted", it.family, kind, name, it.seed, it.opset, it.size, data))

    for k, kind in enumerate(PLANT_KINDS):
        for j in range(n_per):
            plant_into(kind, order[(j + 5 * k) % len(order)])
    # the arithmetic gate mixes into float scores only: its bases are the names whose every output is float (n, C)
    gate_names = [n for n in order if _float_scores(out / by_name[n][0][0].path, by_name[n][0][1].X)]
    for j in range(n_per):
        plant_into("gate", gate_names[j % len(gate_names)])
    log(f"planted (pattern kinds): {sum(i.label == 'planted' for i in items)} ({time.time() - t0:.0f}s)")
    sig = [(it, e) for it, e in honest if it.base in SIGNATURE_BASES and it.size == 1]
    for it, e in (sig[:2] if quick else sig[:12]):
        pseed = int(rng.integers(1 << 30))
        try:
            p = plants.plant("signature", onnx.load(str(out / it.path)), e.X, target=1, seed=pseed)
        except Exception as exc:  # noqa: BLE001
            failures.append(f"signature on {it.path}: {type(exc).__name__}: {str(exc)[:160]}")
            continue
        rel = f"planted/signature/{Path(it.path).stem}_p{pseed}.onnx"
        data = _save(out, rel, p.model.SerializeToString(), plants.uint8_view(e.X))
        items.append(Item(rel, "planted", it.family, "signature", it.base, it.seed, it.opset, it.size, data))
    log(f"planted total: {sum(i.label == 'planted' for i in items)} ({time.time() - t0:.0f}s); failures: {len(failures)}")
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    (out / "index.json").write_text(json.dumps({"items": [asdict(i) for i in items], "failures": failures, "quick": quick,
                                                "seconds": time.time() - t0}, indent=1))
    if not quick:  # the same steps as `--add-seed 2` then `--add-dropin` on an existing corpus
        add_honest(out, 2, log=log)
        if dropin:
            add_dropin_to(out, log=log)
    return load_index(out)


def add_honest(out: Path, seed: int, sizes=(1,), log=print) -> int:
    """Append the honest files of one more training seed to an existing corpus (all opsets, the given sizes)."""
    from undetectable import zoo

    doc = json.loads((out / "index.json").read_text())
    seen = {hashlib.sha256((out / d["path"]).read_bytes()).hexdigest() for d in doc["items"] if d["label"] == "honest"}
    tmp = out / "_build"
    added = []
    for size in sizes:
        for name in zoo.names(fast=True):
            for opset in [None, *zoo.model(name).opsets[:3]]:
                try:
                    e, = zoo.build([name], tmp, seed=seed, opset=opset, size=size, force=True)
                except Exception as exc:  # noqa: BLE001
                    doc["failures"].append(f"honest {name} seed {seed} size {size} opset {opset}: {type(exc).__name__}")
                    continue
                raw = e.path.read_bytes()
                digest = hashlib.sha256(raw).hexdigest()
                if digest in seen:
                    continue
                seen.add(digest)
                rel = f"honest/{e.path.name}"
                added.append(asdict(Item(rel, "honest", e.family, "honest", name, seed, e.opset, size, _save(out, rel, raw, e.X))))
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    doc["items"] += added
    (out / "index.json").write_text(json.dumps(doc, indent=1))
    log(f"seed {seed}: {len(added)} honest files added")
    return len(added)


def add_dropin(out: Path, honest: list, rng: np.random.Generator, failures: list[str], log=print, n: int = 20,
               kind: str = "dropin") -> list[Item]:
    """Drop-in signature plants (``schemes.dropin``, when present) over bases of every family; ``kind`` dropin | dropin-unrolled."""
    import onnx

    from undetectable.zoo import plants

    by_name: dict[str, list] = {}
    for it, e in honest:
        if it.size == 1:
            by_name.setdefault(it.base, []).append((it, e))
    order = sorted(by_name)
    added: list[Item] = []
    stride = max(1, len(order) // n) if kind != "dropin" else 1  # fewer plants: spread them over the names
    for j in range(n):
        name = order[(j * stride) % len(order)]
        it, e = by_name[name][int(rng.integers(len(by_name[name])))]
        pseed = int(rng.integers(1 << 30))
        try:
            p = plants.plant(kind, onnx.load(str(out / it.path)), e.X, target=1, seed=pseed)
        except Exception as exc:  # noqa: BLE001
            failures.append(f"{kind} on {it.path}: {type(exc).__name__}: {str(exc)[:160]}")
            if "not in this build" in str(exc):
                break
            continue
        rel = f"planted/{kind}/{Path(it.path).stem}_p{pseed}.onnx"
        data = _save(out, rel, p.model.SerializeToString(), e.X)
        added.append(Item(rel, "planted", it.family, kind, it.base, it.seed, it.opset, it.size, data))
    log(f"{kind} plants: {len(added)}")
    return added


def add_dropin_to(out: Path, log=print) -> int:
    """Add drop-in plants (Loop and unrolled verifiers) to an existing corpus (rebuilding only what they need: the
    size-1 honest entries' data)."""
    from undetectable import zoo

    doc = json.loads((out / "index.json").read_text())
    items = [Item(**d) for d in doc["items"] if not d["kind"].startswith("dropin")]
    honest = []
    for it in items:
        if it.label == "honest" and it.size == 1:
            X = np.load(out / it.data)
            honest.append((it, zoo.ZooEntry(it.base, out / it.path, it.family, X, np.zeros(len(X)), None, it.opset)))
    failures = [f for f in doc["failures"] if not f.startswith("dropin")]
    added = add_dropin(out, honest, np.random.default_rng(20260418), failures, log)
    added += add_dropin(out, honest, np.random.default_rng(20260419), failures, log, n=N_UNROLLED, kind="dropin-unrolled")
    doc["items"] = [asdict(i) for i in items + added]
    doc["failures"] = failures
    (out / "index.json").write_text(json.dumps(doc, indent=1))
    return len(added)


def load_index(out: Path) -> list[Item]:
    return [Item(**d) for d in json.loads((out / "index.json").read_text())["items"]]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("benchmarks/corpus"))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--force", action="store_true", help="rebuild over an existing corpus folder")
    ap.add_argument("--add-dropin", action="store_true", help="only add drop-in signature plants to an existing corpus")
    ap.add_argument("--no-dropin", action="store_true", help="build without drop-in plants")
    ap.add_argument("--add-seed", type=int, default=None, help="only add the honest files of one more seed (size 1)")
    a = ap.parse_args(argv)
    if a.add_seed is not None:
        add_honest(a.out, a.add_seed, log=lambda m: print(m, file=sys.stderr))
        return 0
    if a.add_dropin:
        print(f"added {add_dropin_to(a.out, log=lambda m: print(m, file=sys.stderr))} drop-in plants", file=sys.stderr)
        return 0
    if (a.out / "index.json").exists() and not a.force:
        print(f"{a.out} already holds a corpus; pass --force to rebuild it", file=sys.stderr)
        return 2
    try:
        items = build(a.out, a.quick, log=lambda m: print(m, file=sys.stderr), dropin=not a.no_dropin)
    except Exception:  # noqa: BLE001  # pragma: no cover
        traceback.print_exc()
        return 1
    print(f"{len(items)} files in {a.out} ({sum(i.label == 'honest' for i in items)} honest)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
