"""The typer apps, the options every command shares, and the one check of a command's outputs."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import UsageError
from .polish import SEED_HELP, polish_help, quiet_callback, version_callback

polish_help()

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Plant, activate, audit and immunize undetectable backdoors (Goldwasser-Kim-Vaikuntanathan-Zamir 2022).\n\n"
                       "Global flags (anywhere on the line): --debug shows the traceback of an unexpected error; "
                       "--insecure-key-permissions accepts private key files that group/others can read. "
                       "Size limits on untrusted bundles and inputs: UNDETECTABLE_MAX_* (see docs/security.md).")
data_app = typer.Typer(no_args_is_help=True, help="Bundled datasets.")
plant_app = typer.Typer(no_args_is_help=True, help="Plant a backdoor: Backdoor → (model, key).")
export_app = typer.Typer(no_args_is_help=True, help="Export bundles to other formats.")
app.add_typer(data_app, name="data")
app.add_typer(plant_app, name="plant")
app.add_typer(export_app, name="export")

FORCE = typer.Option(False, "--force", help="Replace an existing output: a file where a file is expected, a bundle only if this tool wrote it (never other folders, keys, symlinks or the current directory).")
#: seeds are numpy/scikit-learn seeds: integers in [0, 2^32 - 1] (click refuses others in one line, exit 2)
SEED_MAX = 2**32 - 1
SEED = typer.Option(0, "--seed", help="Seed of this command's random choices (printed in results).", min=0, max=SEED_MAX)


def seed_option(kind: str, default: int | None = 0):
    """``--seed`` with help that says exactly what it fixes for this command (polish.SEED_HELP)."""
    return typer.Option(default, "--seed", help=SEED_HELP[kind], min=0, max=SEED_MAX)


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=version_callback, is_eager=True,
                                       help="Print the version and exit."),
          quiet: bool = typer.Option(False, "--quiet", "-q", callback=quiet_callback,
                                     help="No progress bars or progress lines (errors still print).")) -> None:
    """Plant, activate, audit and immunize undetectable backdoors (Goldwasser-Kim-Vaikuntanathan-Zamir 2022).

    Slow steps show progress on stderr: a bar in a terminal, a line every 15 s elsewhere.
    """

# scheme parameters whose flag is not simply "--" + the name with dashes
PARAM_FLAGS = {"n_features": "--features", "n_shadows": "--shadows", "n_jobs": "--jobs", "n_models": "--models"}


def flag_of(param: str) -> str:
    """The command-line flag of a scheme parameter."""
    return PARAM_FLAGS.get(param, "--" + param.replace("_", "-"))


def echo(msg: str) -> None:
    """Progress and results go to stderr (stdout is for --json); control characters from files shown as escapes."""
    from .render import terminal_safe

    typer.echo(terminal_safe(msg), err=True)


def names(csv: str | None) -> list[str] | None:
    """"a, b" → ["a", "b"]; None or empty → None."""
    return [d.strip() for d in csv.split(",") if d.strip()] if csv else None


def check_outputs(force: bool, out: Path, key_out: Optional[Path] = None, other: Optional[Path] = None,
                  out_kind: str = "bundle", inputs: tuple | list = ()) -> None:
    """Check every output before any work: distinct paths, each replaceable only if it is ours (see fileio)."""
    from ..fileio import check_writable

    given = [(Path(p), kind) for p, kind in ((out, out_kind), (key_out, "key"), (other, "file")) if p is not None]
    if len({p.resolve() for p, _ in given}) != len(given):
        raise UsageError("the output paths (--out, --key-out, ...) must be different")
    for p, kind in given:
        check_writable(p, force, kind, inputs)
