"""The command line: a thin typer app over the public API (``undetectable.api``).

============ =========================================================================
common       the typer apps, shared options, the scheme-parameter → flag map
core         data export, keygen, train, predict, inspect, export onnx, demo
plant        plant signature | checksum | rff | relu | badnets, activate
audit        audit (run), audit replication, arena
defend       immunize, verify-coins, report
render       tables and one-line summaries (rendering only)
main         ``main(argv)``: exit codes 0 / 1 / 2 and one-line errors
============ =========================================================================
"""
from .common import app
from .main import main

__all__ = ["app", "main"]
