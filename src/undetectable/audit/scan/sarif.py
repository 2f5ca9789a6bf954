"""SARIF 2.1.0 for CI: one run, one rule per check, one result per finding (and one per inconclusive file)."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..._version import __version__
from . import CHECKS, ScanResult, names

LEVEL = {"high": "error", "medium": "warning", "low": "note", "info": "note"}


def to_sarif(results: Iterable[ScanResult]) -> dict[str, Any]:
    """The scan results as a SARIF log (``json.dumps`` it)."""
    rules = [{"id": n, "shortDescription": {"text": CHECKS[n].doc}} for n in names()] + \
            [{"id": "inconclusive", "shortDescription": {"text": "parts of the file could not be analysed"}}]
    out = []
    for r in results:
        loc = [{"physicalLocation": {"artifactLocation": {"uri": r.path}}}]
        for f in r.findings:
            out.append({"ruleId": f.check, "level": LEVEL[f.severity], "message": {"text": f"{f.reason} (nodes: {', '.join(f.nodes)})"},
                        "locations": loc, "properties": {"severity": f.severity, "nodes": list(f.nodes)}})
        for part in r.inconclusive_parts:
            out.append({"ruleId": "inconclusive", "level": "warning", "message": {"text": part}, "locations": loc})
    return {"$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0",
            "runs": [{"tool": {"driver": {"name": "undetectable scan", "version": __version__, "rules": rules}}, "results": out}]}
