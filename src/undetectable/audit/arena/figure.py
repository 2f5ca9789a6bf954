"""The ROC figure of one arena record (plotting kept apart from the arena's logic)."""
from __future__ import annotations

from pathlib import Path

from .metrics import roc_curve_points


def roc_figure(record: dict, path: Path) -> Path:
    """ROC curves of every detector of one arena record (key oracles dashed)."""
    from ...report.figures import plt, save

    p = plt()
    fig, ax = p.subplots(figsize=(5.2, 4.4))
    ax.plot([0, 1], [0, 1], color="0.7", lw=0.8, label="chance")
    for d in record["detectors"]:
        sc = record["scores"][d["name"]]
        if d["auc"] is None:
            continue
        fpr, tpr = roc_curve_points(sc["honest"], sc["backdoored"])
        ax.step(fpr, tpr, where="post", ls="--" if d["needs_key"] else "-", lw=1.2,
                label=f"{d['name']}{' (key)' if d['needs_key'] else ''}: {d['auc']:.2f} [{d['auc_ci'][0]:.2f}, {d['auc_ci'][1]:.2f}]")
    ax.set_xlabel("false positive rate (honest flagged)")
    ax.set_ylabel("true positive rate (backdoored flagged)")
    ax.set_title(f"{record['scheme']} on {record['data']}: {record['n_models']} + {record['n_models']} models", fontsize=9)
    ax.legend(fontsize=6, loc="lower right")
    return save(fig, path)
