"""The typer apps, the options every command shares, and the one check of a command's outputs."""
from __future__ import annotations

from pathlib import Path

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
DATA_HELP = ("Dataset: a bundled name (mnist5k, digits, breast-cancer, synthetic), an .npz (X_train, y_train[, X_test, y_test] "
             "or X, y; samples in the model's own input layout and dtype) or a .csv (header row; label column: --label-column)")
LABEL_COLUMN = typer.Option(None, "--label-column", help="--data x.csv: the label column's header (default: 'label', else 'target', else the last column)")


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

# library parameters whose flag is not simply "--" + the name with dashes (the CLI alone speaks flags)
PARAM_FLAGS = {"n_features": "--features", "kind": "--model", "n_models": "--models", "n_jobs": "--jobs",
               "n_shadows": "--shadows", "width": "--target-ci-width", "passphrase": "--passphrase-env",
               "insecure_permissions": "--insecure-key-permissions", "path": "--out"}


def flag_of(param: str) -> str:
    """The command-line flag of a library parameter."""
    return PARAM_FLAGS.get(param, "--" + param.replace("_", "-"))


def flag_message(param: str, message: str) -> str:
    """A ``ParameterError``'s message in CLI words: "pass force=True" → "pass --force", "data=NAME" → "--data NAME";
    a message that does not spell the parameter that way gets the flag in front ("--beta: beta must be ...")."""
    import re

    flag = flag_of(param)
    pattern = re.compile(rf"(?<![\w-]){re.escape(param)}=(True\b)?")
    if pattern.search(message):
        return switch_words(pattern.sub(lambda m: flag if m.group(1) else flag + " ", message))
    return f"{flag}: {switch_words(message)}"


def switch_words(message: str) -> str:
    """Any library error in CLI words: "pass force=True" → "pass --force" (the library's switches are flags here)."""
    import re

    return re.sub(r"(?<![\w-])([a-z][a-z_]*)=True\b", lambda m: flag_of(m.group(1)), message)


def echo(msg: str) -> None:
    """Progress and results go to stderr (stdout is for --json); control characters from files shown as escapes."""
    from .render import terminal_safe

    typer.echo(terminal_safe(msg), err=True)


def names(csv: str | None) -> list[str] | None:
    """"a, b" → ["a", "b"]; None or empty → None."""
    return [d.strip() for d in csv.split(",") if d.strip()] if csv else None


def data_inputs(data: str | None) -> tuple[Path, ...]:
    """The input paths behind a ``--data`` value: () for a bundled dataset's name, else the file it names."""
    from .. import datasets

    return () if data is None or data in datasets.names() else (Path(data),)


def check_outputs(force: bool, out: Path, key_out: Path | None = None, other: Path | None = None,
                  out_kind: str = "bundle", inputs: tuple | list = ()) -> None:
    """Check every input, then every output, before any work: each given input exists (a missing path is a
    usage error, exit 2, reported before any output problem); the outputs are distinct paths, each
    replaceable only if it is ours (see fileio)."""
    import os

    from ..fileio import check_writable

    for p in inputs:
        if p is not None and not os.path.lexists(p):
            raise UsageError(f"{p} does not exist; check the path")
    given = [(Path(p), kind) for p, kind in ((out, out_kind), (key_out, "key"), (other, "file")) if p is not None]
    if len({p.resolve() for p, _ in given}) != len(given):
        raise UsageError("the output paths (--out, --key-out, ...) must be different")
    for p, kind in given:
        check_writable(p, force, kind, inputs)
