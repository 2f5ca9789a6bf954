"""Commands on data, keys, honest models and bundles: data export, keygen, train, predict, inspect, export, demo."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import typer

from ..errors import UsageError
from .common import DATA_HELP, FORCE, LABEL_COLUMN, app, check_outputs, data_inputs, data_app, echo, export_app, seed_option


@data_app.command("export")
def data_export(name: str = typer.Argument(..., help="mnist5k | digits | breast-cancer | synthetic | path.npz"),
                split: str = typer.Option("train", "--split", help="train | test"),
                out: Path = typer.Option(..., "--out", help="Directory for X.npy and y.npy"),
                force: bool = FORCE) -> None:
    """Write DIR/X.npy and DIR/y.npy for one split of a dataset."""
    from .. import datasets
    from ..fileio import save_npy

    X, y = datasets.load(name).split(split)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} exists and is not a directory; pass a directory")
    out.mkdir(parents=True, exist_ok=True)
    inputs = data_inputs(name)
    check_outputs(force, out / "X.npy", other=out / "y.npy", out_kind="file", inputs=inputs)
    save_npy(out / "X.npy", X, force, inputs), save_npy(out / "y.npy", y, force, inputs)
    echo(f"wrote {out}/X.npy {X.shape} {X.dtype} and {out}/y.npy {y.shape}")


@app.command()
def keygen(out: Path = typer.Option(..., "--out", help="Directory for backdoor_key.pem and backdoor_key.pub.pem"),
           passphrase_env: str | None = typer.Option(None, "--passphrase-env", help="Encrypt the private key with the passphrase in this environment variable"),
           force: bool = FORCE) -> None:
    """Generate an Ed25519 backdoor key pair (private key file mode 0600)."""
    from ..keys import generate_keys, key_id, load_public_key, passphrase_from_env

    priv, pub = generate_keys(out, passphrase_from_env(passphrase_env), force)
    echo(f"wrote {priv} (0600) and {pub}; key id {key_id(load_public_key(pub))}")


@app.command()
def train(data: str = typer.Option(..., "--data", help=DATA_HELP),
          label_column: str | None = LABEL_COLUMN,
          model: str = typer.Option("logreg", "--model", help="logreg | mlp | rff | relu"),
          features: int | None = typer.Option(None, "--features", help="rff / relu: m, the number of random features"),
          seed: int = seed_option("train"),
          out: Path = typer.Option(..., "--out", help="Output bundle directory"),
          force: bool = FORCE) -> None:
    """Train an honest model and save it as a bundle (rff / relu coins derive from --seed: see verify-coins)."""
    from .. import api, datasets

    check_outputs(force, out, inputs=data_inputs(data))
    options = {}
    if features is not None:
        if model not in ("rff", "relu"):
            raise UsageError(f"--features applies to rff and relu models, not {model}; drop it")
        options["n_features"] = features
    ds = datasets.load(data, label_column=label_column)
    m = api.train(model, ds, seed=seed, **options)
    api.save(m, out, force=force, inputs=data_inputs(data))
    echo(f"wrote {out} ({m.family}); clean test accuracy {np.mean(m.predict(ds.X_test) == ds.y_test):.4f} (seed {seed})")


@app.command()
def predict(bundle: Path = typer.Argument(..., help="A bundle directory or a model file (.onnx)"),
            input: Path = typer.Option(..., "--input", help="X.npy"),
            out: Path = typer.Option(..., "--out", help="Y.npy (labels in the dataset's label values)"),
            force: bool = FORCE) -> None:
    """Predict labels with any bundle or model file (X in the model's own input layout and dtype, or flat rows)."""
    from .. import api
    from ..fileio import load_npy, save_npy

    check_outputs(force, out, out_kind="file", inputs=(input, bundle))
    y = api.predict(api.load_model(bundle), load_npy(input))
    save_npy(out, y, force, inputs=(input, bundle))
    echo(f"wrote {out} ({len(y)} labels)")


@app.command()
def inspect(bundle: Path = typer.Argument(..., help="A bundle directory or a model file (.onnx)"),
            json_out: bool = typer.Option(False, "--json", help="Print JSON")) -> None:
    """What a white-box auditor sees: a bundle's manifest, files, hashes and weights' shapes; a model file's I/O
    signature (symbolic dims), opsets, op histogram, node/initializer/parameter counts and size."""
    import json

    from .. import api
    from .render import inspect_table

    info = api.inspect_model(bundle)
    if json_out:
        typer.echo(json.dumps(info, indent=1, default=str))
    else:
        inspect_table(bundle, info)


@export_app.command("onnx")
def export_onnx_cmd(bundle: Path = typer.Argument(..., help="Bundle to export (rff, relu, logreg/mlp signature), or a model file (copied)"),
                    out: Path = typer.Option(..., "--out", help="model.onnx"),
                    force: bool = FORCE) -> None:
    """Write a plain ONNX graph computing the bundle's scores and class index (a model file: a copy of it)."""
    from .. import api
    from ..export import export_onnx

    check_outputs(force, out, out_kind="file", inputs=(bundle,))
    echo(f"wrote {export_onnx(api.load_model(bundle), out, force)}")


@app.command()
def demo(out: Path = typer.Option(Path("demo-out"), "--out", help="Output folder for results.json, figures, report"),
         quick: bool = typer.Option(False, "--quick", help="Smaller sizes (tests, quick looks)"),
         seed: int = seed_option("demo"),
         force: bool = FORCE) -> None:
    """The whole story on bundled data: plant, activate, controls; a table, results.json and figures."""
    from ..demo import run_demo

    run_demo(out, quick=quick, seed=seed, force=force)
