"""``audit BUNDLE`` (= ``audit run``), ``audit replication`` and ``arena``."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np
import typer
from typer.core import TyperGroup

from .polish import DETECTORS_HELP
from .common import FORCE, app, echo, names, seed_option


class _AuditGroup(TyperGroup):
    """``audit BUNDLE ...`` means ``audit run BUNDLE ...``; ``audit replication ...`` is the replication game."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


audit_app = typer.Typer(cls=_AuditGroup, no_args_is_help=True,
                        help="Audit one bundle: 'audit BUNDLE --data NAME' (= 'audit run') or 'audit replication BUNDLE --key FILE'.")
app.add_typer(audit_app, name="audit")


def _key(key: Optional[Path], passphrase_env: Optional[str]):
    from ..keys import passphrase_from_env
    from ..schemes import load_key

    return None if key is None else load_key(key, passphrase_from_env(passphrase_env))


@audit_app.command("run")
def audit_run(bundle: Path = typer.Argument(..., help="Bundle to audit"),
              data: str = typer.Option(..., "--data", help="Dataset name or .npz (training-data detectors need the set the model was trained on)"),
              detectors: Optional[str] = typer.Option(None, "--detectors", help=DETECTORS_HELP),
              key: Optional[Path] = typer.Option(None, "--key", help="Backdoor key: also run the key oracles (positive controls)"),
              passphrase_env: Optional[str] = typer.Option(None, "--passphrase-env"),
              seed: int = seed_option("audit"),
              json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table")) -> None:
    """Run the detectors on one model; higher score = more suspicious."""
    from .. import api, datasets
    from ..bundle import load_bundle
    from .render import audit_table

    m = load_bundle(bundle)
    rows = api.audit_model(m, datasets.load(data), detectors=names(detectors), seed=seed, key=_key(key, passphrase_env))
    if json_out:
        typer.echo(json.dumps({"bundle": str(bundle), "family": m.family, "seed": seed, "detectors": rows}, indent=1))
    else:
        audit_table(bundle, m.family, seed, rows)


@audit_app.command("replication")
def audit_replication(bundle: Path = typer.Argument(..., help="A signature or checksum bundle"),
                      key: Path = typer.Option(..., "--key", help="Its key (the adversary gets activations, never the key)"),
                      k: int = typer.Option(32, "--k", help="Activated examples the adversary sees (inputs of its choice)"),
                      data: Optional[str] = typer.Option(None, "--data", help="Pool of inputs (default: the bundled dataset matching the bundle's input)"),
                      steps: int = typer.Option(50, "--steps", help="Hill-climbing steps per example"),
                      passphrase_env: Optional[str] = typer.Option(None, "--passphrase-env"),
                      seed: int = typer.Option(0, "--seed", help="Seed of the adversary's choices (inputs, targets, attacks)."),
                      json_out: bool = typer.Option(False, "--json", help="Print JSON")) -> None:
    """The replication game: k activated examples → attempts at new activated inputs (signature: 0 successes)."""
    from .. import datasets
    from ..audit.replication import replication_game
    from ..audit.run import dataset_for_spec
    from ..bundle import load_bundle
    from .render import replication_table

    m = load_bundle(bundle)
    ds = datasets.load(data) if data else dataset_for_spec(m.spec)
    res = replication_game(m, _key(key, passphrase_env), ds.X_test, k, np.random.default_rng(seed), steps=steps)
    res["seed"] = seed
    if json_out:
        typer.echo(json.dumps(res, indent=1))
    else:
        replication_table(bundle, m.family, k, seed, res)


@app.command()
def arena(scheme: str = typer.Option(..., "--scheme", help="rff | relu | signature | checksum | badnets"),
          data: str = typer.Option(..., "--data", help="Dataset name or .npz path"),
          models: int = typer.Option(..., "--models", help="Models per population (N honest + N backdoored)"),
          quick: bool = typer.Option(False, "--quick", help="Smaller models (tests, quick looks)"),
          detectors: Optional[str] = typer.Option(None, "--detectors", help=DETECTORS_HELP),
          jobs: int = typer.Option(1, "--jobs", help="Local joblib workers (one BLAS thread each); -1 = all cores"),
          scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask scheduler address (tcp://HOST:PORT); needs the 'dist' extra"),
          seed: int = seed_option("arena"),
          out: Path = typer.Option(..., "--out", help="Directory for arena.json and the ROC figure"),
          force: bool = FORCE) -> None:
    """Undetectability over populations: N honest vs N backdoored models, every detector, ROC-AUC with 95% CI."""
    from .. import api
    from .render import arena_lines

    rec = api.arena(scheme, data, models, detectors=names(detectors), quick=quick, seed=seed, n_jobs=jobs, scheduler=scheduler,
                    out=out, force=force)
    for line in arena_lines(rec):
        echo(line)
    echo(f"wrote {out / 'arena.json'} ({rec['timing']['seconds']:.1f}s)")
