"""The entry point: ``main(argv)`` runs the typer app and turns every error into one line on stderr.

Exit codes: 0 success, 2 usage errors, 1 other failures (130 interrupted). Set UNDETECTABLE_DEBUG=1
for a traceback.
"""
from __future__ import annotations

import os
import sys

import typer

from ..errors import UndetectableError
from . import audit, core, defend, plant, scan  # noqa: F401  (each module registers its commands)
from .polish import json_failure
from .common import app, echo, flag_message, switch_words

try:  # typer >= 0.24 vendors click; older typer uses the click package
    from typer._click import exceptions as _click_exc
except ImportError:  # pragma: no cover
    from click import exceptions as _click_exc  # type: ignore[no-redef]


def _message(exc: UndetectableError) -> str:
    from ..errors import ParameterError

    return flag_message(exc.param, str(exc)) if isinstance(exc, ParameterError) else switch_words(str(exc))


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def main(argv: list[str] | None = None) -> int:
    """Console entry point: one line on stderr for every error, exit 2 for usage, 1 otherwise.

    Global flags (anywhere on the line): ``--quiet`` silences progress output; ``--debug`` (or UNDETECTABLE_DEBUG=1) shows the traceback of
    an unexpected error; ``--insecure-key-permissions`` accepts private key files that group/others
    can read (refused by default, as ssh does).
    """
    from ..safety import INSECURE_KEY_PERMISSIONS

    argv = list(sys.argv[1:] if argv is None else argv)
    debug = bool(os.environ.get("UNDETECTABLE_DEBUG"))
    if "--debug" in argv:
        argv.remove("--debug")
        debug = True
    if "--quiet" in argv[1:]:  # like --debug, accepted anywhere on the line (the root option only sees it first)
        from ..progress import set_quiet

        argv.remove("--quiet")
        set_quiet(True)
    insecure = "--insecure-key-permissions" in argv
    if insecure:
        argv.remove("--insecure-key-permissions")
    token = INSECURE_KEY_PERMISSIONS.set(insecure)
    hint = "re-run with --debug (or UNDETECTABLE_DEBUG=1) for the traceback"
    def fail(message: str, code: int, json_done: bool = False) -> int:
        """One line on stderr; with --json also a JSON object on stdout (scripts never read nothing)."""
        echo(f"error: {message}")
        if not json_done:
            json_failure(argv, message, code)
        return code

    old_term = _term_as_interrupt()
    try:
        rv = app(args=argv, standalone_mode=False)
        if rv == 130:  # typer turns KeyboardInterrupt (Ctrl-C, and SIGTERM here) into a returned 130
            return fail("interrupted; nothing was half-written (temporary files were removed)", 130)
        if isinstance(rv, int) and not isinstance(rv, bool) and rv:
            return rv
    except UndetectableError as exc:
        if debug:
            echo(f"error: {_one_line(_message(exc))}")
            raise
        return fail(_one_line(_message(exc)), exc.exit_code, getattr(exc, "json_printed", False))
    except _click_exc.NoArgsIsHelpError:
        return 0
    except _click_exc.UsageError as exc:
        where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        return fail(f"{_one_line(exc.format_message())}{where}", 2)
    except typer.Abort:  # typer >= 0.24 vendors click without Abort/Exit; typer re-exports both
        return fail("aborted", 130)
    except typer.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        return fail("interrupted; nothing was half-written (temporary files were removed)", 130)
    except MemoryError:
        if debug:
            raise
        return fail("out of memory; the input or bundle is too large for this machine, use smaller inputs "
                    f"(array size limit: UNDETECTABLE_MAX_ARRAY_BYTES); {hint}", 1)
    except RecursionError:
        if debug:
            raise
        return fail(f"input nested too deeply (RecursionError); it is malformed or hostile; {hint}", 1)
    except OSError as exc:
        if debug:
            raise
        where = f": {exc.filename}" if exc.filename else ""
        return fail(f"{_one_line(exc.strerror or exc)}{where}; check the path, free space and permissions", 1)
    except Exception as exc:  # the guard: never a traceback without --debug
        if debug:
            raise
        return fail(f"unexpected {type(exc).__name__}: {_one_line(exc)[:300]}; {hint}", 1)
    finally:
        INSECURE_KEY_PERMISSIONS.reset(token)
        if old_term is not None:
            import signal

            signal.signal(signal.SIGTERM, old_term)
    return 0


def _term_as_interrupt():
    """SIGTERM behaves like Ctrl-C for the run (one line, exit 130, temporaries removed); returns the old handler."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return None

    def handler(signum, frame):
        raise KeyboardInterrupt("SIGTERM")

    return signal.signal(signal.SIGTERM, handler)
