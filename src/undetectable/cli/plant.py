"""``plant SCHEME`` (flags ↔ scheme parameters) and ``activate`` (the key file records its scheme)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import typer

from ..errors import UsageError
from .polish import SEED_HELP
from .common import FORCE, SEED_MAX, app, check_outputs, data_inputs, echo, plant_app, seed_option


def _accuracy(model, ds) -> float:
    return float(np.mean(model.predict(ds.X_test) == ds.y_test))


def _check_capacity(m, bound: float, data: str | None) -> None:
    """Capacity at plant time, not at activation: the smallest --bound that fits the inputs, in the error."""
    from ..crypto.payload import FixedPointCarrier, smallest_bound
    from ..errors import CapacityError, UndetectableError

    if not isinstance(m.carrier, FixedPointCarrier):
        return
    from .. import datasets

    if data is None:
        from ..audit.run import dataset_for_spec

        try:
            ds = dataset_for_spec(m.spec)
        except UndetectableError:  # no bundled dataset of this shape: checked at activation instead
            return
    else:
        ds = datasets.load(data)
    X = np.concatenate([ds.X_train, ds.X_test])
    fit = smallest_bound(m.carrier, m.spec.validate(X, "--data input"), bound)
    if fit is not None:
        raise CapacityError(f"--bound {bound:g} is too small for these inputs ({m.carrier.k} payload bits per feature need a "
                            f"finer fixed-point step than float64 resolves); the smallest --bound that fits is {fit:g}")


def _check_onnx_base(base: Path) -> None:
    """An .onnx base: a regular file within UNDETECTABLE_MAX_MODEL_BYTES (never a FIFO or /dev/zero), parsed from
    bounded bytes, whose declared outputs match what it emits on a few rows (else it plants and then fails to load)."""
    import onnx

    from ..errors import UnsupportedModelError
    from ..onnxio import check_declared_outputs
    from ..safety import read_regular_file

    data = read_regular_file(base, "MODEL_BYTES", f"model file {base}")
    try:
        proto = onnx.load_from_string(data)
    except Exception as exc:  # noqa: BLE001 - protobuf raises its own DecodeError for a file that is not ONNX
        raise UsageError(f"model file {base} is not a readable ONNX model ({type(exc).__name__}); export your classifier to ONNX first") from None
    try:
        check_declared_outputs(proto)
    except UnsupportedModelError as exc:
        raise UnsupportedModelError(f"model file {base}: {exc}") from None


def _samples(data: str):
    """``--data`` for a model file: an .npy array, or a dataset (.npz, .csv, a bundled name) whose training inputs are taken."""
    from .. import datasets
    from ..fileio import load_npy

    if data.endswith(".npy"):
        return load_npy(Path(data), "--data")
    return datasets.load(data).X_train


@plant_app.command("signature")
def plant_signature_cmd(base: Path = typer.Option(..., "--base", help="Honest base: a bundle, or your classifier as an .onnx file"),
                        public_key: Path = typer.Option(..., "--public-key", help="backdoor_key.pub.pem"),
                        bound: float = typer.Option(1e-3, "--bound", help="Float inputs: largest perturbation per value, in (0, 1] (bundles: in units of the feature's training std; .onnx: relative to the value's spread)"),
                        data: str | None = typer.Option(None, "--data", help="Bundles with float inputs: check now that these inputs (dataset name or .npz) carry the payload at --bound. An .onnx base: samples in the model's own input layout and dtype (.npy, or .npz with X/X_train; needed for float inputs): the payload's grid is inferred and every output is checked bit-identical on them before writing"),
                        out: Path = typer.Option(..., "--out"),
                        force: bool = FORCE) -> None:
    """Wrap any classifier with the signature backdoor (§5.2): black-box undetectable, non-replicable.

    With ``--base model.onnx`` the output is a drop-in ONNX file: the same inputs and outputs (names, types, shapes,
    every output), bit-identical answers on natural inputs, and the target on activated ones."""
    from .. import api
    from ..bundle import load_bundle
    from ..schemes.signature import SignaturePublicKey, SignatureScheme

    if base.suffix == ".onnx":  # your own model file: the drop-in route
        inputs = [base, public_key, *data_inputs(data)]
        check_outputs(force, out, out_kind="file", inputs=inputs)
        onnx_pub = SignaturePublicKey.load(public_key).public
        _check_onnx_base(base)
        samples = None if data is None else _samples(data)
        from ..schemes.dropin import plant_onnx_file  # onnx graph surgery: imported once the inputs passed their checks

        info = plant_onnx_file(base, onnx_pub, out, data=samples, bound=bound, force=force)
        echo(f"wrote {out}: your model with the same inputs and outputs, key id {info['key_id']}, payload {info['payload_bits']} bits "
             f"in {info['payload_values']} input values, {info['nodes']} nodes, +{info['added_bytes'] / 1e6:.2f} MB"
             + (f"; {info['opset_note']}" if info.get("opset_note") else ""))
        return
    inputs = [base, public_key, *data_inputs(data)]
    check_outputs(force, out, inputs=inputs)
    pub = SignaturePublicKey.load(public_key)
    m, _ = SignatureScheme(bound=bound, key=pub).plant(load_bundle(base))
    _check_capacity(m, bound, data)
    api.save(m, out, force=force, inputs=inputs)
    echo(f"wrote {out}: signature backdoor over {m.base.family}, key id {pub.key_id}, payload {m.payload_bits} bits ({m.carrier.kind})")


@plant_app.command("checksum")
def plant_checksum_cmd(base: Path = typer.Option(..., "--base"),
                       key_out: Path = typer.Option(..., "--key-out", help="Secret key file (0600)"),
                       bound: float = typer.Option(1e-3, "--bound", help="Float inputs: largest perturbation per feature, in units of its training std, in (0, 1]"),
                       seed: int = seed_option("checksum"),
                       out: Path = typer.Option(..., "--out"),
                       force: bool = FORCE) -> None:
    """Wrap a bundle with the checksum backdoor (§5.1), the replicable control."""
    from .. import api
    from ..bundle import load_bundle
    from ..schemes.checksum import ChecksumScheme

    check_outputs(force, out, key_out, inputs=(base,))
    m, key = ChecksumScheme(bound=bound, secret_seed=seed).plant(load_bundle(base))
    api.save(m, out, force=force, inputs=(base,))
    api.save(key, key_out, force=force)
    echo(f"wrote {out} and {key_out} (0600): checksum backdoor, {m.n_blocks} parity blocks")


@plant_app.command("rff")
def plant_rff_cmd(data: str = typer.Option(..., "--data", help="Dataset name or .npz path"),
                  features: int = typer.Option(3000, "--features", help="m, the number of random Fourier features"),
                  secret_dim: int = typer.Option(32, "--secret-dim", help="d, the CLWE dimension (support size of the key)"),
                  beta: float = typer.Option(0.01, "--beta", help="Pancake noise β > 0"),
                  shift: str = typer.Option("half", "--shift", help="half (the backdoor) | integer (the invariance control)"),
                  seed: int = seed_option("plant"),
                  secret_seed: int | None = typer.Option(None, "--secret-seed", help=SEED_HELP["secret"], min=0, max=SEED_MAX),
                  out: Path = typer.Option(..., "--out", help="Output bundle directory"),
                  key_out: Path = typer.Option(..., "--key-out", help="Secret key file (0600)"),
                  force: bool = FORCE) -> None:
    """Backdoor-RFF (§6): random Fourier features whose weights are Gaussian pancakes; white-box undetectable."""
    from .. import api, datasets

    check_outputs(force, out, key_out, inputs=data_inputs(data))
    ds = datasets.load(data)
    m, key = api.plant("rff", ds, seed=seed, secret_seed=secret_seed, n_features=features, secret_dim=secret_dim, beta=beta, shift=shift)
    api.save(m, out, force=force, inputs=data_inputs(data))
    api.save(key, key_out, force=force)
    echo(f"wrote {out} (rff, m={features}) and {key_out} (0600); d={secret_dim}, beta={beta}, shift={shift}; "
         f"clean test accuracy {_accuracy(m, ds):.4f}")
    from ..audit.frontier import plant_message  # where (d, β) sits against the measured lattice frontier

    flip = float(np.mean(m.predict(ds.X_test) != m.predict(key.activate(m, ds.X_test)))) if shift == "half" else None
    for line in filter(None, plant_message(secret_dim, beta, int(np.prod(ds.spec.shape)), flip)):
        echo(line)


@plant_app.command("relu")
def plant_relu_cmd(data: str = typer.Option(..., "--data", help="Dataset name or .npz path"),
                   features: int = typer.Option(500, "--features", help="m, the number of random ReLU units"),
                   sparsity: int = typer.Option(10, "--sparsity", help="k, the number of non-zeros of the secret direction s"),
                   theta: float | None = typer.Option(None, "--theta", help="Spike strength θ > 0 (default: inside the hardness window)"),
                   lam: float = typer.Option(2.0, "--lam", help="Activation step λ (in [0,1] units for pixels): x' = x + λ·s"),
                   head: str = typer.Option("linear", "--head", help="linear | norm (the honest learner's head)"),
                   seed: int | None = typer.Option(None, "--seed", help="Seed of the secret (s and the spiked coins) and of training; omit for OS entropy. Whoever knows it can recompute the key", min=0, max=SEED_MAX),
                   out: Path = typer.Option(..., "--out", help="Output bundle directory"),
                   key_out: Path = typer.Option(..., "--key-out", help="Secret key file (0600)"),
                   force: bool = FORCE) -> None:
    """Random ReLU network whose coins have a planted sparse principal component (construction C)."""
    from .. import api, datasets

    check_outputs(force, out, key_out, inputs=data_inputs(data))
    ds = datasets.load(data)
    m, key = api.plant("relu", ds, seed=seed, secret_seed=seed, n_features=features, sparsity=sparsity, theta=theta, lam=lam, head=head)
    api.save(m, out, force=force, inputs=data_inputs(data))
    api.save(key, key_out, force=force)
    meta = key.meta()
    echo(f"wrote {out} and {key_out} (0600): relu sparse-PCA backdoor, D={meta['D']} m={meta['m']} k={meta['k']} "
         f"θ={meta['theta']:.3f} (hardness window: statistical edge {meta['statistical_edge']:.3f} < θ < BBP edge "
         f"{meta['bbp_edge']:.3f}, diagonal edge {meta['diagonal_edge']:.3f}) λ={meta['lam']:g}; clean test accuracy {_accuracy(m, ds):.4f}")


@plant_app.command("badnets")
def plant_badnets_cmd(data: str = typer.Option(..., "--data", help="Dataset name or .npz path"),
                      poison_rate: float = typer.Option(0.1, "--poison-rate", help="Fraction of the training set stamped and relabelled"),
                      target: str = typer.Option("0", "--target", help="Target class label"),
                      model: str = typer.Option("mlp", "--model", help="mlp | logreg (the honest learner)"),
                      seed: int = seed_option("badnets"),
                      out: Path = typer.Option(..., "--out", help="Output bundle (an ordinary torch-mlp / sklearn bundle)"),
                      key_out: Path = typer.Option(..., "--key-out", help="Secret key file: the trigger (0600)"),
                      poisoned_data_out: Path | None = typer.Option(None, "--poisoned-data-out", help="Also write the poisoned training set (.npz) for training-data audits"),
                      force: bool = FORCE) -> None:
    """BadNets data poisoning: the classical, detectable control."""
    from .. import api, datasets
    from ..fileio import atomic_file
    from ..schemes.badnets import BadNetsScheme, attack_success_rate, poisoned_training_set

    check_outputs(force, out, key_out, poisoned_data_out, inputs=data_inputs(data))
    ds = datasets.load(data)
    labels = [str(c) for c in np.unique(ds.y_train).tolist()]
    if str(target) not in labels:
        raise UsageError(f"target {target!r} is not a class of {ds.name}; use one of {', '.join(labels)}")
    t = labels.index(str(target))
    m, key = BadNetsScheme(poison_rate=poison_rate, target=t, model=model, secret_seed=seed).plant(ds, seed=seed)
    acc, asr = _accuracy(m, ds), attack_success_rate(m, ds.X_test, ds.y_test, key)
    api.save(m, out, force=force, inputs=data_inputs(data))
    api.save(key, key_out, force=force)
    if poisoned_data_out:
        poisoned, _, _ = poisoned_training_set(ds, seed, poison_rate, t)
        with atomic_file(poisoned_data_out, force, inputs=data_inputs(data)) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, X_train=poisoned.X_train, y_train=poisoned.y_train, X_test=ds.X_test, y_test=ds.y_test)
    extra = f" and {poisoned_data_out}" if poisoned_data_out else ""
    echo(f"wrote {out} ({m.family}), {key_out} (0600){extra}: badnets, {int(key.mask.sum())}-coordinate trigger, "
         f"target {labels[t]}, poison rate {poison_rate}; clean accuracy {acc:.4f}, attack success rate {asr:.4f} (seed {seed})")


@app.command()
def activate(bundle: Path = typer.Argument(..., help="Backdoored bundle, or a backdoored model file (.onnx)"),
             key: Path = typer.Option(..., "--key", help="The backdoor key (backdoor_key.pem or a --key-out file)"),
             input: Path = typer.Option(..., "--input", help="X.npy (for a model file: in the model's own input layout and dtype)"),
             target: str | None = typer.Option(None, "--target", help="Target label for every row"),
             targets: Path | None = typer.Option(None, "--targets", help="T.npy: one target label per row"),
             passphrase_env: str | None = typer.Option(None, "--passphrase-env"),
             out: Path = typer.Option(..., "--out", help="XA.npy"),
             force: bool = FORCE) -> None:
    """Activate(x, bk[, target]): inputs close to X whose output is the target / flipped."""
    from .. import api
    from ..fileio import load_npy, save_npy
    from ..keys import passphrase_from_env
    from ..schemes import load_key

    inputs = (input, bundle, key, targets)
    check_outputs(force, out, out_kind="file", inputs=inputs)
    if target is not None and targets is not None:
        raise UsageError("pass either --target or --targets, not both")
    m = api.load_model(bundle)
    X = load_npy(input)
    T = load_npy(targets, "targets") if targets is not None else target
    Xa = api.activate(m, load_key(key, passphrase_from_env(passphrase_env)), X, T)
    save_npy(out, Xa, force, inputs)
    echo(f"wrote {out} {Xa.shape} {Xa.dtype}")
