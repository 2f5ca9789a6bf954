"""Matplotlib figures (Agg backend, PNG)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    return pyplot


def save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt().close(fig)
    return path


def activation_triptych(X: np.ndarray, Xa: np.ndarray, labels_before, labels_after, path: Path, side: int = 28, amplify: int = 100) -> Path:
    """Rows of (original, activated, |difference| × amplify) images."""
    p = plt()
    n = len(X)
    fig, axes = p.subplots(n, 3, figsize=(5.4, 1.8 * n))
    axes = np.atleast_2d(axes)
    for i in range(n):
        diff = np.abs(Xa[i].astype(int) - X[i].astype(int)) * amplify
        for j, (img, title) in enumerate([(X[i], f"original → {labels_before[i]}"), (Xa[i], f"activated → {labels_after[i]}"),
                                           (np.clip(diff, 0, 255), f"|diff| × {amplify}")]):
            axes[i, j].imshow(np.asarray(img).reshape(side, side), cmap="gray", vmin=0, vmax=255)
            axes[i, j].set_title(title, fontsize=8)
            axes[i, j].axis("off")
    return save(fig, path)
