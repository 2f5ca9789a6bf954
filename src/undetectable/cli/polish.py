"""Command-line polish shared by every command (kept apart from the commands themselves).

* ``polish_help()``: boolean flags render as ``--force``, not ``--force <bool>``; usage lines name
  required arguments as ``BUNDLE``, not ``{bundle}`` (typer ≥ 0.24's defaults).
* ``version_callback`` / ``quiet_callback``: the global ``--version`` and ``--quiet`` options.
* ``json_failure(argv, message, code)``: with ``--json``, a failure also prints a JSON object on stdout
  (``{"ok": false, "error", "exit_code"}``) so a script reading stdout never gets nothing.
* ``DETECTORS``: the detector names ``--detectors`` accepts, listed in ``--help`` without importing the
  detectors at start-up (tests/test_cli_polish.py checks it against the registry).
* ``SEED_HELP``: what each command's ``--seed`` fixes, exactly.
"""
from __future__ import annotations

import json
import sys

DETECTORS = ("activation_clustering", "ad_coord", "ad_proj", "disagreement", "integer-subgraph", "ks_coord", "ks_proj",
             "kurtosis", "lattice", "lattice_support", "meta_blackbox", "meta_whitebox", "mp_edge", "neural_cleanse",
             "relu_quad", "rff_frac", "rff_negation", "spca_covthresh", "spca_diag", "spectral", "strip", "strip_key")

DETECTORS_HELP = "Comma-separated detector names (default: all that apply): " + ", ".join(DETECTORS)

SEED_HELP = {
    "train": "Seed of training: the data order and initialization, and for rff/relu the random features "
             "(the coins 'verify-coins --seed' checks). Same seed, same bundle.",
    "plant": "Seed of the honest training path (data order, initialization, the non-secret coins). The secret key "
             "is drawn from OS entropy unless --secret-seed is given.",
    "secret": "Seed of the secret key (and, for rff, of the pancake weights). Omit it for OS entropy: whoever knows "
              "this seed can recompute the key.",
    "checksum": "Seed of the secret parity vector v (the checksum backdoor's key).",
    "badnets": "Seed of the poisoned rows and of training on the poisoned set.",
    "arena": "Base seed: every model's seed and key derive from it (listed in arena.json), so a run is reproducible.",
    "audit": "Seed of the detectors' own randomness (probe inputs, projections, restarts).",
    "immunize": "Seed of the smoothing noise, stored in the bundle: the same input gets the same answer.",
    "demo": "Seed of every experiment's data splits, models and keys except Ed25519 keys (always OS entropy).",
}


def polish_help() -> None:
    """Patch typer's help rendering once: no ``<bool>`` after flags, ``BUNDLE`` instead of ``{bundle}``.

    A no-op where typer's internals differ (an older or newer typer renders its own defaults).
    """
    try:
        from typer import core as tc
    except ImportError:  # pragma: no cover
        return
    opt, arg = getattr(tc, "TyperOption", None), getattr(tc, "TyperArgument", None)
    if opt is not None and hasattr(opt, "display_type_rich") and not getattr(opt, "_undetectable_polished", False):
        original = opt.display_type_rich

        def display_type_rich(self, ctx):
            if getattr(self, "is_flag", False) and not getattr(self, "count", False):
                return None
            return original(self, ctx)

        opt.display_type_rich = display_type_rich
        opt._undetectable_polished = True
    if arg is not None and hasattr(arg, "_usage_display_name"):

        def usage_name(self) -> str:
            name = str(self.metavar or self.name or "").upper()
            name = name if self.required else f"[{name}]"
            return name + ("..." if self.nargs != 1 else "")

        arg._usage_display_name = usage_name


def version_callback(value: bool) -> None:
    """``--version``: print ``undetectable X.Y.Z`` and exit 0."""
    if value:
        import typer

        from .._version import __version__

        typer.echo(f"undetectable {__version__}")
        raise typer.Exit(0)


def quiet_callback(value: bool) -> bool:
    """``--quiet``: no progress output (errors still print)."""
    if value:
        from ..progress import set_quiet

        set_quiet(True)
    return value


def wants_json(argv: list[str] | None) -> bool:
    return "--json" in (sys.argv[1:] if argv is None else argv)


def json_failure(argv: list[str] | None, message: str, code: int) -> None:
    """With ``--json`` in ``argv``, print the failure as JSON on stdout (the one-line error still goes to stderr)."""
    if wants_json(argv):
        print(json.dumps({"ok": False, "error": message, "exit_code": code}), flush=True)
