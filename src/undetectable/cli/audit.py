"""``audit BUNDLE`` (= ``audit run``), ``audit replication`` and ``arena``."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import typer
from typer.core import TyperGroup

from .polish import DETECTORS_HELP
from .common import FORCE, LABEL_COLUMN, SEED_MAX, app, echo, names, seed_option


class _AuditGroup(TyperGroup):
    """``audit BUNDLE ...`` means ``audit run BUNDLE ...``; ``audit replication ...`` is the replication game."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


audit_app = typer.Typer(cls=_AuditGroup, no_args_is_help=True,
                        help="Audit one bundle: 'audit BUNDLE --data NAME' (= 'audit run') or 'audit replication BUNDLE --key FILE'.")
app.add_typer(audit_app, name="audit")


def _key(key: Path | None, passphrase_env: str | None):
    from ..keys import passphrase_from_env
    from ..schemes import load_key

    return None if key is None else load_key(key, passphrase_from_env(passphrase_env))


@audit_app.command("run")
def audit_run(bundle: Path = typer.Argument(..., help="Bundle or model file (.onnx) to audit"),
              data: str | None = typer.Option(None, "--data", help="Dataset: a bundled name, an .npz (X_train, y_train[, X_test, y_test] or X, y; samples in the model's own input layout) or a .csv. Black-box and training-data detectors need it (the set the model was trained on); graph detectors (integer-subgraph) run without"),
              label_column: str | None = LABEL_COLUMN,
              detectors: str | None = typer.Option(None, "--detectors", help=DETECTORS_HELP),
              key: Path | None = typer.Option(None, "--key", help="Backdoor key: also run the key oracles (positive controls)"),
              passphrase_env: str | None = typer.Option(None, "--passphrase-env"),
              seed: int = seed_option("audit"),
              reference: int = typer.Option(3, "--reference", help="Honest models of the same family trained on --data as the reference range of each score (0: none; at most 20)"),
              reference_all: bool = typer.Option(False, "--reference-all", help="Also give slow detectors (over 5 s per model) a reference"),
              json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table")) -> None:
    """Run the detectors on one model, each score beside an honest reference range and a verdict; higher = more suspicious."""
    from .. import api, datasets
    from ..audit.run import audit_with_reference

    m = api.load_model(bundle)
    ds = None if data is None else datasets.load(data, label_column=label_column)
    rep = audit_with_reference(m, ds, names(detectors), seed=seed, key=_key(key, passphrase_env),
                               reference=reference, max_seconds=float("inf") if reference_all else 5.0, data_name=data or "")
    if json_out:
        typer.echo(json.dumps({"bundle": str(bundle), "family": m.family, "seed": seed, "reference": rep.reference_note,
                               "detectors": [r.to_json() for r in rep.rows]}, indent=1))
    else:
        audit_report_table(bundle, m.family, seed, rep)


def _safe(text: object) -> str:
    """Text for the terminal: control characters (escape sequences) shown as code points, never sent raw."""
    return "".join(ch if ch.isprintable() or ch == " " else f"\\u{ord(ch):04x}" for ch in str(text))


def audit_report_table(bundle: Path, family: str, seed: int, rep) -> None:
    """The audit as one table (score, honest range, verdict) and its notes below, each note once, numbered."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    notes: list[str] = []
    t = Table(title=Text(_safe(f"audit {bundle} ({family}), seed {seed}: higher score = more suspicious")))
    for col in ("detector", "score", "honest range", "verdict", "note", "s"):
        t.add_column(col, no_wrap=col in ("score", "honest range", "s"))
    for r in rep.rows:
        note = r.note[len(r.detector) + 1:] if r.note.startswith(f"{r.detector} ") else r.note  # shared by several detectors
        if note not in notes:
            notes.append(note)
        rng = "—" if r.reference is None else f"{r.reference[0]:.3g} … {r.reference[1]:.3g}"
        t.add_row(Text(_safe(r.detector)), "—" if r.score is None else f"{r.score:.3g}", rng, Text(_safe(r.verdict)),
                  f"[{notes.index(note) + 1}]", f"{r.seconds:.1f}")
    console = Console()
    console.print(t)
    for i, n in enumerate(notes, 1):
        console.print(Text(_safe(f"[{i}] {n}")))
    if rep.reference_note:
        console.print(Text(_safe(rep.reference_note + " (--reference-all computes them; --reference N sets n)")))


@audit_app.command("replication")
def audit_replication(bundle: Path = typer.Argument(..., help="A signature or checksum bundle"),
                      key: Path = typer.Option(..., "--key", help="Its key (the adversary gets activations, never the key)"),
                      k: int = typer.Option(32, "--k", help="Activated examples the adversary sees (inputs of its choice)"),
                      data: str | None = typer.Option(None, "--data", help="Pool of inputs (default: the bundled dataset matching the bundle's input)"),
                      steps: int = typer.Option(50, "--steps", help="Hill-climbing steps per example"),
                      passphrase_env: str | None = typer.Option(None, "--passphrase-env"),
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
def arena(scheme: str | None = typer.Option(None, "--scheme", help="rff | relu | signature | checksum | badnets (or --honest/--suspect)"),
          data: str | None = typer.Option(None, "--data", help="Dataset name, .npz or .csv (with --honest/--suspect: samples in the models' own input layout, for the black-box detectors)"),
          honest: Path | None = typer.Option(None, "--honest", help="Your own populations: a folder of honest .onnx model files (with --suspect)"),
          suspect: Path | None = typer.Option(None, "--suspect", help="A folder of suspect .onnx model files: every detector that applies, AUC with 95% CI (label 1 = suspect)"),
          label_column: str | None = LABEL_COLUMN,
          models: int | None = typer.Option(None, "--models", help="Models per population (N honest + N backdoored)"),
          target_ci_width: float | None = typer.Option(None, "--target-ci-width", help="Print the models per side that a simultaneous AUC CI of this total width needs (Hanley–McNeil, Bonferroni over the key-free detectors) and the AUC that --models rules out; runs the arena only with --models"),
          quick: bool = typer.Option(False, "--quick", help="Smaller models (tests, quick looks)"),
          detectors: str | None = typer.Option(None, "--detectors", help=DETECTORS_HELP),
          jobs: int = typer.Option(1, "--jobs", help="Local joblib workers (one BLAS thread each); -1 = all cores"),
          scheduler: str | None = typer.Option(None, "--scheduler", help="Dask: tcp://HOST:PORT of a running `dask scheduler`, or local[:N] (a LocalCluster of N one-thread workers); needs the 'dist' extra"),
          shadows: int | None = typer.Option(None, "--shadows", help="Shadow models per side for the meta-classifiers (default: N, or N/2 with --quick)"),
          resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from OUT/units.jsonl (same options; --models may grow)"),
          partial: bool = typer.Option(False, "--partial", help="With --resume: run nothing, summarize the finished units into OUT/arena.partial.json"),
          seed: int = seed_option("arena"),
          out: Path = typer.Option(..., "--out", help="Directory for arena.json, the ROC figure and units.jsonl (streamed as models finish)"),
          force: bool = FORCE) -> None:
    """Undetectability over populations: N honest vs N backdoored models, every detector, ROC-AUC with 95% CI.

    With --honest DIR --suspect DIR: your own model files instead of a scheme's populations."""
    from ..audit.arena import arena_detectors, run_arena
    from ..errors import UsageError
    from .render import arena_lines

    dets = names(detectors)
    if honest is not None or suspect is not None:
        given = [f for f, v in (("--scheme", scheme), ("--models", models), ("--target-ci-width", target_ci_width), ("--quick", quick),
                                ("--scheduler", scheduler), ("--shadows", shadows), ("--resume", resume), ("--partial", partial)) if v]
        if given:
            raise UsageError(f"{', '.join(given)} apply to scheme arenas; with --honest/--suspect the folders are the populations, drop them")
        _arena_files(honest, suspect, data, label_column, dets, seed, out, force)
        return
    if scheme is None or data is None:
        raise UsageError("--scheme and --data are required (or --honest DIR --suspect DIR for your own model files)")
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


def _arena_files(honest, suspect, data, label_column, dets, seed, out, force) -> None:
    """``arena --honest DIR --suspect DIR``: the user's own populations of model files."""
    from .. import api, datasets
    from ..errors import UsageError
    from .render import arena_lines

    if honest is None or suspect is None:
        raise UsageError("pass both --honest DIR and --suspect DIR (folders of .onnx model files)")
    ds = None if data is None else datasets.load(data, label_column=label_column)
    rec = api.arena_files(honest, suspect, ds, detectors=dets, seed=seed, out=out, force=force)
    echo(f"{rec['n_honest']} honest vs {rec['n_suspect']} suspect model files; AUC [95% CI], label 1 = suspect")
    for line in arena_lines(rec):
        echo(line)
    echo(f"wrote {out / 'arena.json'} ({rec['timing']['seconds']:.1f}s)")
