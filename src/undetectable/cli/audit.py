"""``audit BUNDLE`` (= ``audit run``), ``audit replication`` and ``arena``."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np
import typer
from typer.core import TyperGroup

from .polish import DETECTORS_HELP
from .common import FORCE, SEED_MAX, app, echo, names, seed_option


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
                      seed: int = typer.Option(0, "--seed", help="Seed of the adversary's choices (inputs, targets, attacks).", min=0, max=SEED_MAX),
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
          models: Optional[int] = typer.Option(None, "--models", help="Models per population (N honest + N backdoored)"),
          target_ci_width: Optional[float] = typer.Option(None, "--target-ci-width", help="Print the models per side that a simultaneous AUC CI of this total width needs (Hanley–McNeil, Bonferroni over the key-free detectors) and the AUC that --models rules out; runs the arena only with --models"),
          quick: bool = typer.Option(False, "--quick", help="Smaller models (tests, quick looks)"),
          detectors: Optional[str] = typer.Option(None, "--detectors", help=DETECTORS_HELP),
          jobs: int = typer.Option(1, "--jobs", help="Local joblib workers (one BLAS thread each); -1 = all cores"),
          scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Dask: tcp://HOST:PORT of a running `dask scheduler`, or local[:N] (a LocalCluster of N one-thread workers); needs the 'dist' extra"),
          shadows: Optional[int] = typer.Option(None, "--shadows", help="Shadow models per side for the meta-classifiers (default: N, or N/2 with --quick)"),
          resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from OUT/units.jsonl (same options; --models may grow)"),
          partial: bool = typer.Option(False, "--partial", help="With --resume: run nothing, summarize the finished units into OUT/arena.partial.json"),
          seed: int = seed_option("arena"),
          out: Path = typer.Option(..., "--out", help="Directory for arena.json, the ROC figure and units.jsonl (streamed as models finish)"),
          force: bool = FORCE) -> None:
    """Undetectability over populations: N honest vs N backdoored models, every detector, ROC-AUC with 95% CI."""
    from ..audit.arena import arena_detectors, run_arena
    from ..errors import UsageError
    from .render import arena_lines

    dets = names(detectors)
    if target_ci_width is not None:
        from ..audit.power import excludable_auc, n_for_ci_width, n_to_exclude

        k = max(1, sum(1 for _, key in arena_detectors(scheme, dets) if not key))
        n = n_for_ci_width(target_ci_width, 0.5, 0.05 / k)
        echo(f"{k} key-free detectors, simultaneous 95% CIs (each at 1 − 0.05/{k}): {n} models per side give an AUC CI "
             f"of width ≤ {target_ci_width:g} around 1/2; {n_to_exclude(0.6, 0.05 / k)} per side rule out AUC > 0.6 "
             f"with 80% power (Hanley–McNeil)" + (f"; --models {models} rules out AUC > {excludable_auc(models, 0.05 / k):.3f}" if models else ""))
        if not models:
            return
    if not models:
        raise UsageError("--models is required (models per population), unless --target-ci-width alone asks for it")
    rec = run_arena(scheme, data, models, dets, quick=quick, seed=seed, n_jobs=jobs, scheduler=scheduler, out=out, force=force,
                    n_shadows=shadows, resume=resume, partial=partial)
    for line in arena_lines(rec):
        echo(line)
    echo(f"wrote {out / ('arena.partial.json' if partial else 'arena.json')} ({rec['timing']['seconds']:.1f}s)")
