"""``undetectable scan PATH...``: the graph-backdoor scanner (exit 0 nothing found, 1 findings, 3 inconclusive, 2 usage)."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from .common import app


@app.command("scan")
def scan(paths: list[Path] = typer.Argument(..., help="ONNX files or folders holding them (searched recursively)"),
         data: str | None = typer.Option(None, "--data", help="Natural inputs for the dormant-branch and dormant-gate checks: a dataset name or .npz "
                                                                "(its X_test, reshaped and cast to each file's input)"),
         min_severity: str = typer.Option("medium", "--min-severity", help="info | low | medium | high: the least severity that counts as a finding"),
         json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table"),
         sarif: Path | None = typer.Option(None, "--sarif", help="Also write a SARIF 2.1.0 log to this file (for CI)"),
         force: bool = typer.Option(False, "--force", help="Replace an existing --sarif file")) -> int:
    """Scan ONNX files for graph backdoors: integer/bitwise subgraphs, input-steered control flow, equality
    triggers, hash-like mixing, arithmetic constant tables and (with --data) dormant branches."""
    from ..audit import scan as sc
    from ..errors import ParameterError
    from ..fileio import atomic_file, check_writable

    try:
        config = sc.ScanConfig(min_severity=min_severity)
    except ParameterError as exc:
        raise ParameterError("min_severity", str(exc)) from None
    if sarif is not None:
        check_writable(sarif, force, "file", inputs=paths)
    X = None
    if data is not None:
        from .. import datasets

        X = datasets.load(data).X_test
    results = sc.scan_paths(paths, X, config)
    if sarif is not None:
        with atomic_file(sarif, force) as tmp:
            tmp.write_text(json.dumps(sc.sarif.to_sarif(results), indent=1))
    if json_out:
        typer.echo(json.dumps({"results": [r.to_json() for r in results], "exit_code": sc.exit_code(results)}, indent=1))
    else:
        from .render import _table

        rows = []
        for r in results:
            if not r.findings and not r.inconclusive_parts:
                rows.append((r.path, r.verdict, "", "", ""))
            for f in r.findings:
                rows.append((r.path, r.verdict, f"{f.severity} {f.check}", ", ".join(f.nodes[:4]) + ("…" if len(f.nodes) > 4 else ""), f.reason))
            for part in r.inconclusive_parts:
                rows.append((r.path, r.verdict, "inconclusive", "", part))
        _table(f"scan: {len(results)} file(s), findings at severity ≥ {min_severity}", ("file", "verdict", "finding", "nodes", "reason"), rows)
    return sc.exit_code(results)
