"""The command line: a thin typer app. Every verb parses arguments and calls one library function.

Exit codes: 0 success, 2 usage errors, 1 other failures. Errors print one line on stderr that
names the problem and the fix (set UNDETECTABLE_DEBUG=1 for a traceback).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import numpy as np
import typer

from .errors import UndetectableError, UsageError

try:  # typer >= 0.24 vendors click; older typer uses the click package
    from typer._click import exceptions as _click_exc
except ImportError:  # pragma: no cover
    from click import exceptions as _click_exc

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Plant, activate, audit and immunize undetectable backdoors (Goldwasser-Kim-Vaikuntanathan-Zamir 2022).")
data_app = typer.Typer(no_args_is_help=True, help="Bundled datasets.")
plant_app = typer.Typer(no_args_is_help=True, help="Plant a backdoor: Backdoor → (model, key).")
app.add_typer(data_app, name="data")
app.add_typer(plant_app, name="plant")

FORCE = typer.Option(False, "--force", help="Overwrite existing outputs.")
SEED = typer.Option(0, "--seed", help="Seed of every random choice (printed in results).")


def _echo(msg: str) -> None:
    typer.echo(msg, err=True)


# --- data, keys, honest training ------------------------------------------------------------

@data_app.command("export")
def data_export(name: str = typer.Argument(..., help="mnist5k | digits | breast-cancer | synthetic | path.npz"),
                split: str = typer.Option("train", "--split", help="train | test"),
                out: Path = typer.Option(..., "--out", help="Directory for X.npy and y.npy"),
                force: bool = FORCE) -> None:
    """Write DIR/X.npy and DIR/y.npy for one split of a dataset."""
    from .data import load_dataset
    from .fileio import check_writable, save_npy

    X, y = load_dataset(name).split(split)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} exists and is not a directory; pass a directory")
    out.mkdir(parents=True, exist_ok=True)
    check_writable(out / "X.npy", force), check_writable(out / "y.npy", force)
    save_npy(out / "X.npy", X, force), save_npy(out / "y.npy", y, force)
    _echo(f"wrote {out}/X.npy {X.shape} {X.dtype} and {out}/y.npy {y.shape}")


@app.command()
def keygen(out: Path = typer.Option(..., "--out", help="Directory for backdoor_key.pem and backdoor_key.pub.pem"),
           passphrase_env: Optional[str] = typer.Option(None, "--passphrase-env", help="Encrypt the private key with the passphrase in this environment variable"),
           force: bool = FORCE) -> None:
    """Generate an Ed25519 backdoor key pair (private key file mode 0600)."""
    from .keys import generate_keys, key_id, load_public_key, passphrase_from_env

    priv, pub = generate_keys(out, passphrase_from_env(passphrase_env), force)
    _echo(f"wrote {priv} (0600) and {pub}; key id {key_id(load_public_key(pub))}")


@app.command()
def train(data: str = typer.Option(..., "--data", help="Dataset name or .npz path"),
          model: str = typer.Option("logreg", "--model", help="logreg | mlp | rff | relu"),
          features: Optional[int] = typer.Option(None, "--features", help="rff / relu: m, the number of random features"),
          seed: int = SEED,
          out: Path = typer.Option(..., "--out", help="Output bundle directory"),
          force: bool = FORCE) -> None:
    """Train an honest model and save it as a bundle (rff / relu coins derive from --seed: see verify-coins)."""
    from .bundle import save_bundle
    from .data import load_dataset
    from .fileio import check_writable
    from .models import train_model

    check_writable(out, force)
    options = {}
    if features is not None:
        if model not in ("rff", "relu"):
            raise UsageError(f"--features applies to rff and relu models, not {model}; drop it")
        options["n_features"] = features
    ds = load_dataset(data)
    m = train_model(model, ds, seed=seed, **options)
    save_bundle(m, out, force)
    acc = float(np.mean(m.predict(ds.X_test) == ds.y_test))
    _echo(f"wrote {out} ({m.family}); clean test accuracy {acc:.4f} (seed {seed})")


# --- backdoors ------------------------------------------------------------------------------

@plant_app.command("signature")
def plant_signature_cmd(base: Path = typer.Option(..., "--base", help="Honest base bundle"),
                        public_key: Path = typer.Option(..., "--public-key", help="backdoor_key.pub.pem"),
                        bound: float = typer.Option(1e-3, "--bound", help="Float inputs: largest perturbation per feature, in units of its training std"),
                        out: Path = typer.Option(..., "--out"),
                        force: bool = FORCE) -> None:
    """Wrap any bundle with the signature backdoor (§5.2): black-box undetectable, non-replicable."""
    from .schemes.signature import plant_signature
    from .bundle import load_bundle, save_bundle
    from .fileio import check_writable
    from .keys import load_public_key

    check_writable(out, force)
    m = plant_signature(load_bundle(base), load_public_key(public_key), bound)
    save_bundle(m, out, force)
    _echo(f"wrote {out}: signature backdoor over {m.base.family}, key id {m.key_id}, payload {m.payload_bits} bits ({m.carrier.kind})")


@plant_app.command("checksum")
def plant_checksum_cmd(base: Path = typer.Option(..., "--base"),
                       key_out: Path = typer.Option(..., "--key-out", help="Secret key file (0600)"),
                       bound: float = typer.Option(1e-3, "--bound"),
                       seed: int = SEED,
                       out: Path = typer.Option(..., "--out"),
                       force: bool = FORCE) -> None:
    """Wrap a bundle with the checksum backdoor (§5.1), the replicable control."""
    from .schemes.checksum import plant_checksum, secret_id
    from .bundle import load_bundle, save_bundle
    from .fileio import check_writable
    from .keys import save_secret

    check_writable(out, force), check_writable(key_out, force)
    m, v = plant_checksum(load_bundle(base), np.random.default_rng(seed), bound)
    save_bundle(m, out, force)
    save_secret(key_out, "checksum", {"v": v}, {"secret_id": secret_id(v)}, force)
    _echo(f"wrote {out} and {key_out} (0600): checksum backdoor, {m.n_blocks} parity blocks")


# --- using bundles --------------------------------------------------------------------------

@app.command()
def activate(bundle: Path = typer.Argument(..., help="Backdoored bundle"),
             key: Path = typer.Option(..., "--key", help="The backdoor key (backdoor_key.pem or a --key-out file)"),
             input: Path = typer.Option(..., "--input", help="X.npy"),
             target: Optional[str] = typer.Option(None, "--target", help="Target label for every row"),
             targets: Optional[Path] = typer.Option(None, "--targets", help="T.npy: one target label per row"),
             passphrase_env: Optional[str] = typer.Option(None, "--passphrase-env"),
             out: Path = typer.Option(..., "--out", help="XA.npy"),
             force: bool = FORCE) -> None:
    """Activate(x, bk[, target]): inputs close to X whose output is the target / flipped."""
    from .bundle import load_bundle
    from .fileio import check_writable, load_npy, save_npy
    from .keys import passphrase_from_env

    check_writable(out, force)
    if target is not None and targets is not None:
        raise UsageError("pass either --target or --targets, not both")
    m = load_bundle(bundle)
    X = load_npy(input)
    T = load_npy(targets, "targets") if targets is not None else target
    from .schemes import load_key

    Xa = load_key(key, passphrase_from_env(passphrase_env)).activate(m, X, T)  # the key file records its scheme
    save_npy(out, Xa, force)
    _echo(f"wrote {out} {Xa.shape} {Xa.dtype}")


@app.command()
def predict(bundle: Path = typer.Argument(...),
            input: Path = typer.Option(..., "--input", help="X.npy"),
            out: Path = typer.Option(..., "--out", help="Y.npy (labels in the dataset's label values)"),
            force: bool = FORCE) -> None:
    """Predict labels with any bundle."""
    from .bundle import load_bundle
    from .fileio import check_writable, load_npy, save_npy

    check_writable(out, force)
    m = load_bundle(bundle)
    y = m.predict(load_npy(input))
    save_npy(out, y, force)
    _echo(f"wrote {out} ({len(y)} labels)")


@app.command()
def inspect(bundle: Path = typer.Argument(...), json_out: bool = typer.Option(False, "--json", help="Print JSON")) -> None:
    """What a white-box auditor sees: the manifest, every file and its hash, the weights' shapes."""
    import json

    from rich.console import Console
    from rich.table import Table

    from .bundle import load_bundle, read_manifest

    manifest = read_manifest(bundle)
    m = load_bundle(bundle)
    info = {"family": manifest["family"], "input": manifest["input"] | {"feature_std": "…" if manifest["input"].get("feature_std") else None},
            "classes": manifest["classes"], "params": manifest["params"], "files": manifest["files"], "model": m.describe()}
    if json_out:
        typer.echo(json.dumps(info, indent=1, default=str))
        return
    t = Table(title=f"bundle {bundle}", show_header=False)
    for k, v in info.items():
        t.add_row(k, json.dumps(v, default=str)[:400])
    Console().print(t)


@app.command()
def demo(out: Path = typer.Option(Path("demo-out"), "--out", help="Output folder for results.json, figures, report"),
         quick: bool = typer.Option(False, "--quick", help="Smaller sizes (tests, quick looks)"),
         seed: int = SEED,
         force: bool = FORCE) -> None:
    """The whole story on bundled data: plant, activate, controls; a table, results.json and figures."""
    from .demo import run_demo

    run_demo(out, quick=quick, seed=seed, force=force)


# --- white-box constructions: rff, relu, export onnx (issue 3) ---------------------------------

@plant_app.command("rff")
def plant_rff_cmd(data: str = typer.Option(..., "--data", help="Dataset name or .npz path"),
                  features: int = typer.Option(3000, "--features", help="m, the number of random Fourier features"),
                  secret_dim: int = typer.Option(32, "--secret-dim", help="d, the CLWE dimension (support size of the key)"),
                  beta: float = typer.Option(0.01, "--beta", help="Pancake noise β > 0"),
                  shift: str = typer.Option("half", "--shift", help="half (the backdoor) | integer (the invariance control)"),
                  seed: int = SEED,
                  out: Path = typer.Option(..., "--out", help="Output bundle directory"),
                  key_out: Path = typer.Option(..., "--key-out", help="Secret key file (0600)"),
                  force: bool = FORCE) -> None:
    """Backdoor-RFF (§6): random Fourier features whose weights are Gaussian pancakes; white-box undetectable."""
    from .bundle import save_bundle
    from .data import load_dataset
    from .fileio import check_writable
    from .schemes.rff import RFFScheme

    check_writable(out, force), check_writable(key_out, force)
    scheme = RFFScheme(n_features=features, secret_dim=secret_dim, beta=beta, shift=shift)
    ds = load_dataset(data)
    m, key = scheme.plant(ds, seed=seed)
    save_bundle(m, out, force)
    key.save(key_out, force)
    acc = float(np.mean(m.predict(ds.X_test) == ds.y_test))
    _echo(f"wrote {out} (rff, m={features}) and {key_out} (0600); d={secret_dim}, beta={beta}, shift={shift}; clean test accuracy {acc:.4f}")


export_app = typer.Typer(no_args_is_help=True, help="Export bundles to other formats.")
app.add_typer(export_app, name="export")


@export_app.command("onnx")
def export_onnx_cmd(bundle: Path = typer.Argument(..., help="Bundle to export (rff, relu)"),
                    out: Path = typer.Option(..., "--out", help="model.onnx"),
                    force: bool = FORCE) -> None:
    """Write a plain ONNX graph computing the bundle's scores and class index."""
    from .bundle import load_bundle
    from .export import export_onnx

    path = export_onnx(load_bundle(bundle), out, force)
    _echo(f"wrote {path}")


@plant_app.command("relu")
def plant_relu_cmd(data: str = typer.Option(..., "--data", help="Dataset name or .npz path"),
                   features: int = typer.Option(500, "--features", help="m, the number of random ReLU units"),
                   sparsity: int = typer.Option(10, "--sparsity", help="k, the number of non-zeros of the secret direction s"),
                   theta: Optional[float] = typer.Option(None, "--theta", help="Spike strength θ > 0 (default: inside the hardness window)"),
                   lam: float = typer.Option(2.0, "--lam", help="Activation step λ (in [0,1] units for pixels): x' = x + λ·s"),
                   head: str = typer.Option("linear", "--head", help="linear | norm (the honest learner's head)"),
                   seed: Optional[int] = typer.Option(None, "--seed", help="Seed of the secret (s and the spiked coins); omit for OS entropy. Whoever knows it can recompute the key"),
                   out: Path = typer.Option(..., "--out", help="Output bundle directory"),
                   key_out: Path = typer.Option(..., "--key-out", help="Secret key file (0600)"),
                   force: bool = FORCE) -> None:
    """Random ReLU network whose coins have a planted sparse principal component (construction C)."""
    from .schemes.relu import plant_relu_files

    msg = plant_relu_files(data, out, key_out, seed=seed, n_features=features, sparsity=sparsity, theta=theta, lam=lam, head=head, force=force)
    _echo(msg)



# --- audit: badnets, audit, arena, replication (issue 4) -------------------------------------

@plant_app.command("badnets")
def plant_badnets_cmd(data: str = typer.Option(..., "--data", help="Dataset name or .npz path"),
                      poison_rate: float = typer.Option(0.1, "--poison-rate", help="Fraction of the training set stamped and relabelled"),
                      target: str = typer.Option("0", "--target", help="Target class label"),
                      model: str = typer.Option("mlp", "--model", help="mlp | logreg (the honest learner)"),
                      seed: int = SEED,
                      out: Path = typer.Option(..., "--out", help="Output bundle (an ordinary torch-mlp / sklearn bundle)"),
                      key_out: Path = typer.Option(..., "--key-out", help="Secret key file: the trigger (0600)"),
                      poisoned_data_out: Optional[Path] = typer.Option(None, "--poisoned-data-out", help="Also write the poisoned training set (.npz) for training-data audits"),
                      force: bool = FORCE) -> None:
    """BadNets data poisoning: the classical, detectable control."""
    from .schemes.badnets import plant_badnets_files

    _echo(plant_badnets_files(data, out, key_out, seed=seed, poison_rate=poison_rate, target=target, model=model,
                              poisoned_out=poisoned_data_out, force=force))


from typer.core import TyperGroup as _TyperGroup  # noqa: E402


class _AuditGroup(_TyperGroup):
    """``audit BUNDLE ...`` means ``audit run BUNDLE ...``; ``audit replication ...`` is the replication game."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


audit_app = typer.Typer(cls=_AuditGroup, no_args_is_help=True,
                        help="Audit one bundle: 'audit BUNDLE --data NAME' (= 'audit run') or 'audit replication BUNDLE --key FILE'.")
app.add_typer(audit_app, name="audit")


def _load_any_key(m, key: Optional[Path], passphrase_env: Optional[str]):
    from .keys import passphrase_from_env
    from .schemes import load_key

    return None if key is None else load_key(key, passphrase_from_env(passphrase_env))


@audit_app.command("run")
def audit_run(bundle: Path = typer.Argument(..., help="Bundle to audit"),
              data: str = typer.Option(..., "--data", help="Dataset name or .npz (training-data detectors need the set the model was trained on)"),
              detectors: Optional[str] = typer.Option(None, "--detectors", help="Comma-separated detector names (default: all)"),
              key: Optional[Path] = typer.Option(None, "--key", help="Backdoor key: also run the key oracles (positive controls)"),
              passphrase_env: Optional[str] = typer.Option(None, "--passphrase-env"),
              seed: int = SEED,
              json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table")) -> None:
    """Run the detectors on one model; higher score = more suspicious."""
    import json

    from .audit.run import run_audit
    from .bundle import load_bundle
    from .data import load_dataset

    names = [d.strip() for d in detectors.split(",") if d.strip()] if detectors else None
    m = load_bundle(bundle)
    rows = run_audit(m, load_dataset(data), names, seed=seed, key=_load_any_key(m, key, passphrase_env))
    if json_out:
        typer.echo(json.dumps({"bundle": str(bundle), "family": m.family, "seed": seed, "detectors": rows}, indent=1))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"audit {bundle} ({m.family}), seed {seed}: higher score = more suspicious")
    for col in ("detector", "score", "status", "note", "s"):
        t.add_column(col)
    for r in rows:
        t.add_row(r["detector"], "—" if r["score"] is None else f"{r['score']:.4g}", r["status"], r["note"], f"{r['seconds']:.1f}")
    Console().print(t)


@audit_app.command("replication")
def audit_replication(bundle: Path = typer.Argument(..., help="A signature or checksum bundle"),
                      key: Path = typer.Option(..., "--key", help="Its key (the adversary gets activations, never the key)"),
                      k: int = typer.Option(32, "--k", help="Activated examples the adversary sees (inputs of its choice)"),
                      data: Optional[str] = typer.Option(None, "--data", help="Pool of inputs (default: the bundled dataset matching the bundle's input)"),
                      steps: int = typer.Option(50, "--steps", help="Hill-climbing steps per example"),
                      passphrase_env: Optional[str] = typer.Option(None, "--passphrase-env"),
                      seed: int = SEED,
                      json_out: bool = typer.Option(False, "--json", help="Print JSON")) -> None:
    """The replication game: k activated examples → attempts at new activated inputs (signature: 0 successes)."""
    import json

    from .audit.replication import replication_game
    from .bundle import load_bundle
    from .audit.run import dataset_for_spec
    from .data import load_dataset

    m = load_bundle(bundle)
    ds = load_dataset(data) if data else dataset_for_spec(m.spec)
    res = replication_game(m, _load_any_key(m, key, passphrase_env), ds.X_test, k, np.random.default_rng(seed), steps=steps)
    res["seed"] = seed
    if json_out:
        typer.echo(json.dumps(res, indent=1))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"replication game on {bundle} ({m.family}), k = {k}, seed {seed}")
    for col in ("attack", "attempts", "successes", "rate"):
        t.add_column(col)
    for name, a in res["attacks"].items():
        t.add_row(name, str(a["attempts"]), str(a["successes"]), f"{a['rate']:.3f}")
    t.add_row("total", str(res["total_attempts"]), str(res["total_successes"]), f"{res['total_successes'] / max(1, res['total_attempts']):.3f}")
    Console().print(t)


@app.command()
def arena(scheme: str = typer.Option(..., "--scheme", help="rff | relu | signature | checksum | badnets"),
          data: str = typer.Option(..., "--data", help="Dataset name or .npz path"),
          models: Optional[int] = typer.Option(None, "--models", help="Models per population (N honest + N backdoored)"),
          target_ci_width: Optional[float] = typer.Option(None, "--target-ci-width", help="Print the models per side that a simultaneous AUC CI of this total width needs (Hanley–McNeil, Holm/Bonferroni over the detectors), and the AUC that --models rules out; runs the arena only with --models"),
          quick: bool = typer.Option(False, "--quick", help="Smaller models (tests, quick looks)"),
          detectors: Optional[str] = typer.Option(None, "--detectors", help="Comma-separated detector names (default: all that apply)"),
          jobs: int = typer.Option(1, "--jobs", help="Local joblib workers (one BLAS thread each); -1 = all cores"),
          scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask: tcp://HOST:PORT of a running `dask scheduler`, or local[:N] (a LocalCluster of N one-thread workers); needs the 'dist' extra"),
          shadows: Optional[int] = typer.Option(None, "--shadows", help="Shadow models per side for the meta-classifiers (default: N, or N/2 with --quick)"),
          resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from OUT/units.jsonl (same options; --models may grow)"),
          partial: bool = typer.Option(False, "--partial", help="With --resume: run nothing, summarize the finished units into OUT/arena.partial.json"),
          seed: int = SEED,
          out: Path = typer.Option(..., "--out", help="Directory for arena.json, the ROC figure and units.jsonl (streamed as models finish)"),
          force: bool = FORCE) -> None:
    """Undetectability over populations: N honest vs N backdoored models, every detector, ROC-AUC with 95% CI."""
    from .audit.arena import run_arena

    names = [d.strip() for d in detectors.split(",") if d.strip()] if detectors else None
    if target_ci_width is not None:
        from .audit.arena import arena_detectors
        from .audit.power import excludable_auc, n_for_ci_width, n_to_exclude

        k = max(1, sum(1 for _, key in arena_detectors(scheme, names) if not key))
        n = n_for_ci_width(target_ci_width, 0.5, 0.05 / k)
        _echo(f"{k} key-free detectors, simultaneous 95% CIs (each at 1 − 0.05/{k}): {n} models per side give an AUC CI "
              f"of width ≤ {target_ci_width:g} around 1/2; {n_to_exclude(0.6, 0.05 / k)} per side rule out AUC > 0.6 "
              f"with 80% power (Hanley–McNeil)" + (f"; --models {models} rules out AUC > {excludable_auc(models, 0.05 / k):.3f}" if models else ""))
        if not models:
            return
    if not models:
        raise UsageError("--models is required (models per population), unless --target-ci-width alone asks for it")
    rec = run_arena(scheme, data, models, names, quick=quick, seed=seed, n_jobs=jobs, scheduler=scheduler, out=out, force=force,
                    n_shadows=shadows, resume=resume, partial=partial)
    for d in rec["detectors"]:
        auc = "n/a" if d["auc"] is None else f"{d['auc']:.3f} [{d['auc_ci'][0]:.3f}, {d['auc_ci'][1]:.3f}]"
        _echo(f"{d['name']:<16}{' (key)' if d['needs_key'] else '      '} AUC {auc}")
    _echo(f"wrote {out / ('arena.partial.json' if partial else 'arena.json')} ({rec['timing']['seconds']:.1f}s)")



# --- defenses and report: immunize, verify-coins, report (issue 5) ---------------------------

@app.command("verify-coins")
def verify_coins_cmd(bundle: Path = typer.Argument(..., help="An rff or relu bundle"),
                     seed: int = typer.Option(..., "--seed", help="The seed S the client chose for 'train --seed S'"),
                     json_out: bool = typer.Option(False, "--json", help="Print the full result as JSON")) -> None:
    """Client-controlled coins: exit 0 iff the random features are exactly the coins of seed S."""
    import json

    from .defend.coins import verify_coins_bundle

    res = verify_coins_bundle(bundle, seed)
    typer.echo(json.dumps(res.to_json()) if json_out else res.message())


@app.command()
def report(directory: Path = typer.Argument(..., help="Folder with results.json (written by 'undetectable demo')"),
           force: bool = FORCE) -> None:
    """Write DIR/report.html: self-contained (inline figures and CSS) from DIR/results.json and DIR/**/arena.json."""
    from .report.html import write_report

    _echo(f"wrote {write_report(directory, force=force)}")


@app.command()
def immunize(bundle: Path = typer.Argument(..., help="Bundle to immunize (any family)"),
             sigma: float = typer.Option(..., "--sigma", help="Noise σ > 0; for images in [0,1] pixel units (1/255 = one grey level)"),
             n: int = typer.Option(100, "--n", help="Noise samples per prediction"),
             alpha: float = typer.Option(0.001, "--alpha", help="Abstain unless the binomial test rejects at this level"),
             seed: int = SEED,
             out: Path = typer.Option(..., "--out", help="Output bundle (family 'smoothed'; predict gives -1 for abstain)"),
             force: bool = FORCE) -> None:
    """Randomized smoothing (Thm 2.4, Cohen et al. 2019): wrap a bundle so predict votes over noisy copies."""
    from .bundle import load_bundle, save_bundle
    from .defend.smoothing import immunize as immunize_model
    from .fileio import check_writable

    check_writable(out, force)
    m = immunize_model(load_bundle(bundle), sigma, n=n, alpha=alpha, seed=seed)
    save_bundle(m, out, force)
    _echo(f"wrote {out}: smoothed {m.base.family} at σ = {m.sigma:g}, n = {m.n}, α = {m.alpha:g}; abstentions predict as {m.abstain_label!r}")



# scheme parameters whose flag is not simply "--" + the name with dashes
PARAM_FLAGS = {"n_features": "--features"}


def flag_of(param: str) -> str:
    """The command-line flag of a scheme parameter."""
    return PARAM_FLAGS.get(param, "--" + param.replace("_", "-"))


def main(argv: list[str] | None = None) -> int:
    """Console entry point: one line on stderr for every error, exit 2 for usage, 1 otherwise."""
    try:
        app(args=argv, standalone_mode=False)
    except UndetectableError as exc:
        from .schemes.base import ParameterError

        _echo(f"error: {exc.with_name(flag_of(exc.param)) if isinstance(exc, ParameterError) else exc}")
        if os.environ.get("UNDETECTABLE_DEBUG"):
            raise
        return exc.exit_code
    except _click_exc.NoArgsIsHelpError:
        return 0
    except _click_exc.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        _echo(f"error: {exc.format_message()}{hint}")
        return 2
    except typer.Abort:  # typer >= 0.24 vendors click without Abort/Exit; typer re-exports both
        _echo("error: aborted")
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        _echo("error: interrupted")
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
