"""The ROC figure of one arena record: drawn by ``report.figures.roc_figure`` (all figures live there)."""
from __future__ import annotations

from pathlib import Path


def roc_figure(record: dict, path: Path) -> Path:
    """ROC curves of every detector of one arena record (legend: AUC [95% CI]; key oracles black dashed)."""
    from ...report.figures import roc_figure as draw

    return draw(record, path)
