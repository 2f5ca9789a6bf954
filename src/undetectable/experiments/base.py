"""Typed results of an experiment (one per section of the demo), JSON-compatible with report/.

``ExperimentResult.to_json()`` is exactly the section record results.json has always held:
``{"title", "claim", "rows": [{"metric", "value", "control", ["ci", "ci_note"]}], "figures", "results",
["caveat"], ["defenses"], ["headline"], ["captions"], "seconds"}`` (see report/html.py for what the report does
with each field).
"""
from __future__ import annotations

import dataclasses
from typing import Any
from collections.abc import Iterable


@dataclasses.dataclass
class Row:
    """One line of an experiment's table: a measured value next to its control."""

    metric: str
    value: str
    control: str = ""
    ci: list[float] | None = None  # the 95% CI of the row's headline number, shown beside it
    ci_note: str | None = None  # which number the CI belongs to, when the value holds several ("after", "λ = 3")

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclasses.dataclass
class ExperimentResult:
    """What an experiment returns: its claim, its table, its figures and the full results record.

    Examples
    --------
    >>> r = ExperimentResult("t", "c", rows_of([("acc", "0.9", "≥ 0.8")]), ["f.png"], {"seed": 0})
    >>> r.to_json()["rows"]
    [{'metric': 'acc', 'value': '0.9', 'control': '≥ 0.8'}]
    """

    title: str
    claim: str
    rows: list[Row]
    figures: list[str]
    results: dict[str, Any]
    caveat: str | None = None
    defenses: list[dict[str, Any]] | None = None
    seconds: float | None = None
    headline: dict[str, str] | None = None  # {"construction", "claim", "measured", "control", "verdict"}: the report's summary
    captions: dict[str, str] | None = None  # figure file name → caption

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ExperimentResult:
        """From a section record (rows as dicts or ``Row``s)."""
        rows = [r if isinstance(r, Row) else Row(**r) for r in d["rows"]]
        return cls(**{**d, "rows": rows})

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["rows"] = [r.to_json() for r in self.rows]
        return {k: v for k, v in out.items() if v is not None or k in ("seconds",)}


def rows_of(triples: Iterable[tuple[str, str, str]]) -> list[Row]:
    """``Row``s from (metric, value, control) triples."""
    return [Row(a, b, c) for a, b, c in triples]
