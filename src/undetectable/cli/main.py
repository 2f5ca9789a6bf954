"""The entry point: ``main(argv)`` runs the typer app and turns every error into one line on stderr.

Exit codes: 0 success, 2 usage errors, 1 other failures (130 interrupted). Set UNDETECTABLE_DEBUG=1
for a traceback.
"""
from __future__ import annotations

import os

import typer

from ..errors import UndetectableError
from . import audit, core, defend, plant  # noqa: F401  (each module registers its commands)
from .common import app, echo, flag_of

try:  # typer >= 0.24 vendors click; older typer uses the click package
    from typer._click import exceptions as _click_exc
except ImportError:  # pragma: no cover
    from click import exceptions as _click_exc  # type: ignore[no-redef]


def _message(exc: UndetectableError) -> str:
    from ..schemes.base import ParameterError

    return exc.with_name(flag_of(exc.param)) if isinstance(exc, ParameterError) else str(exc)


def main(argv: list[str] | None = None) -> int:
    """Console entry point: one line on stderr for every error, exit 2 for usage, 1 otherwise."""
    try:
        app(args=argv, standalone_mode=False)
    except UndetectableError as exc:
        echo(f"error: {_message(exc)}")
        if os.environ.get("UNDETECTABLE_DEBUG"):
            raise
        return exc.exit_code
    except _click_exc.NoArgsIsHelpError:
        return 0
    except _click_exc.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        echo(f"error: {exc.format_message()}{hint}")
        return 2
    except typer.Abort:  # typer >= 0.24 vendors click without Abort/Exit; typer re-exports both
        echo("error: aborted")
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        echo("error: interrupted")
        return 130
    return 0
