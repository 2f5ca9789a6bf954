"""Every figure of the project, in one module (matplotlib, Agg backend, PNG).

House style, applied by the helpers below so each figure gets it for free:

* a title and labelled axes on every panel;
* legends outside the data (to the right of, or under, the axes; ``save`` keeps them in the PNG);
* sized for the report: printed at their pixel size (110 dpi), about 560 px wide so two sit side by
  side at 1280 px, and no text below 7.5 pt (≈ 11 px);
* one distinguishable style per curve: ten colours, then the same colours with another dash
  pattern (``curve_styles``), so 15 ROC curves never share a look; key oracles (positive
  controls) are drawn in black, thick and dashed;
* value labels on bars.

Callers pass plain numbers (lists, dicts of rows); no figure function trains or measures anything.
matplotlib is imported on first use only (``plt()``), never at module import.
"""
from __future__ import annotations

from pathlib import Path
from collections.abc import Mapping, Sequence

import numpy as np

COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
DASHES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")


def plt():
    """matplotlib.pyplot on the Agg backend (imported lazily: a CLI start-up never pays for it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    return pyplot


def save(fig, path: Path) -> Path:
    """Write ``fig`` as PNG, keeping legends placed outside the axes inside the image."""
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt().close(fig)
    return Path(path)


def curve_styles(n: int) -> list[dict]:
    """``n`` distinguishable line styles: colour first, then dash pattern (10 colours × 4 dashes).

    Examples
    --------
    >>> s = curve_styles(15)
    >>> len({(d["color"], d["ls"]) for d in s})
    15
    """
    return [{"color": COLORS[i % len(COLORS)], "ls": DASHES[(i // len(COLORS)) % len(DASHES)],
             "marker": MARKERS[i % len(MARKERS)]} for i in range(n)]


def legend_outside(ax, where: str = "right", ncol: int = 1, fontsize: float = 7.5) -> None:
    """Put the legend of ``ax`` beside (``right``) or under (``below``) the axes, never over the data."""
    if where == "below":
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.24), ncol=ncol, fontsize=fontsize, frameon=False)
    else:
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), ncol=ncol, fontsize=fontsize, frameon=False)


def label_bars(ax, bars, fmt: str = "{:.2f}") -> None:
    """Write each bar's value above it."""
    ax.bar_label(bars, labels=[fmt.format(b.get_height()) for b in bars], fontsize=7, padding=2)


def roc_points(honest: Sequence[float], backdoored: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, TPR) of the ROC curve, label 1 = backdoored, higher score = more suspicious (ties as one step).

    Examples
    --------
    >>> fpr, tpr = roc_points([0.1, 0.2], [0.3, 0.4])
    >>> float(np.trapezoid(tpr, fpr))
    1.0
    """
    h, b = np.asarray(honest, float), np.asarray(backdoored, float)
    thresholds = np.unique(np.r_[h, b])[::-1]
    fpr = np.r_[0.0, [(h >= t).mean() for t in thresholds]]
    tpr = np.r_[0.0, [(b >= t).mean() for t in thresholds]]
    return fpr, tpr


def _roc_axes(ax, record: Mapping, title: str | None = None) -> None:
    ax.plot([0, 1], [0, 1], color="0.75", lw=0.8, label="chance")
    dets = [d for d in record["detectors"] if d.get("auc") is not None and d["name"] in record.get("scores", {})]
    styles = iter(curve_styles(sum(not d["needs_key"] for d in dets)))
    for d in dets:
        sc = record["scores"][d["name"]]
        fpr, tpr = roc_points(sc["honest"], sc["backdoored"])
        # a key-free detector's CI: simultaneous over the arena's key-free detectors where recorded (as the report's table)
        ci = (None if d["needs_key"] else d.get("auc_ci_simultaneous")) or d.get("auc_ci") or [None, None]
        ci_txt = f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci[0] is not None else ""
        if d["needs_key"]:
            ax.step(fpr, tpr, where="post", color="black", ls="--", lw=2.0, label=f"{d['name']} (key, control): {d['auc']:.2f}{ci_txt}")
        else:
            st = next(styles)
            ax.step(fpr, tpr, where="post", color=st["color"], ls=st["ls"], lw=1.3, label=f"{d['name']}: {d['auc']:.2f}{ci_txt}")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("false positive rate (honest flagged)", fontsize=8)
    ax.set_ylabel("true positive rate (backdoored flagged)", fontsize=8)
    n = record.get("n_models")
    ax.set_title(title or f"{record['scheme']} on {record.get('data')}: {n} + {n} models", fontsize=9)


def roc_figure(record: Mapping, path: Path) -> Path:
    """ROC curves of every detector of one arena record (legend: AUC [CI], simultaneous where recorded); key oracles black dashed."""
    p = plt()
    fig, ax = p.subplots(figsize=(5.0, 4.2))
    _roc_axes(ax, record)
    legend_outside(ax)
    return save(fig, path)


def roc_panels(records: Sequence[Mapping], path: Path) -> Path:
    """One ROC panel per arena record, side by side (three per row), each with its legend (AUC [95% CI]) under it."""
    p = plt()
    k = max(1, len(records))
    cols = min(3, k)
    rows = -(-k // cols)
    fig, axes = p.subplots(rows, cols, figsize=(3.4 * cols + 0.2, 4.5 * rows), squeeze=False, layout="constrained")
    for ax in axes.flat[k:]:
        ax.axis("off")
    for ax, rec in zip(axes.flat, records):
        _roc_axes(ax, rec)
        legend_outside(ax, "below", fontsize=7.5)
    fig.suptitle("Arena: ROC of every detector, honest vs backdoored populations", fontsize=10)
    return save(fig, path)


def activation_triptych(X: np.ndarray, Xa: np.ndarray, labels_before, labels_after, path: Path, side: int = 28, amplify: int = 100) -> Path:
    """Rows of (original, activated, |difference| × amplify) images."""
    p = plt()
    n = len(X)
    fig, axes = p.subplots(n, 3, figsize=(3.7, 1.15 * n + 0.45), layout="constrained")
    axes = np.atleast_2d(axes)
    for i in range(n):
        diff = np.abs(Xa[i].astype(int) - X[i].astype(int)) * amplify
        for j, (img, title) in enumerate([(X[i], f"original → {labels_before[i]}"), (Xa[i], f"activated → {labels_after[i]}"),
                                           (np.clip(diff, 0, 255), f"|diff| × {amplify}")]):
            axes[i, j].imshow(np.asarray(img).reshape(side, side), cmap="gray", vmin=0, vmax=255)
            axes[i, j].set_title(title, fontsize=8)
            axes[i, j].axis("off")
    fig.suptitle("Signature backdoor: original, activated input (predicted label) and the difference", fontsize=9)
    return save(fig, path)


def rff_flip_vs_beta(sweep: Sequence[Mapping], path: Path, data: str = "synthetic") -> Path:
    """Measured flip rate of Activate-RFF vs the pancake noise β, against the two predictions."""
    p = plt()
    fig, ax = p.subplots(figsize=(5.0, 3.0))
    b = np.array([s["beta"] for s in sweep])
    rate = np.array([s["rate"] for s in sweep])
    ax.errorbar(b, rate, yerr=np.abs(np.array([s["ci"] for s in sweep]).T - rate), fmt="o", color=COLORS[0], capsize=3, label="measured (95% CI)")
    ax.plot(b, [s["predicted"] for s in sweep], "-", color=COLORS[1], label="first order: mean Φ(|f|/(√2πβ‖w‖))")
    ax.plot(b, [s["predicted_gaussian"] for s in sweep], "--", color=COLORS[2], label="phase noise not linearized")
    ax.set_xscale("log")
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("pancake noise β (log scale)")
    ax.set_ylabel("flip rate of Activate-RFF")
    ax.set_title(f"RFF backdoor on {data}: flip rate vs β", fontsize=9)
    legend_outside(ax, "below")
    return save(fig, path)


def rff_pancakes(G: np.ndarray, bk: np.ndarray, r: np.ndarray, path: Path) -> Path:
    """Projections of the RFF weights on the key bk and on a random direction r of the same norm."""
    p = plt()
    fig, axes = p.subplots(2, 2, figsize=(5.4, 4.3), layout="constrained")
    for j, (v, name) in enumerate([(bk, "the key bk"), (r, "a random direction, same norm")]):
        proj = G @ v
        axes[0, j].hist(proj / np.linalg.norm(v), bins=400, color=COLORS[j])
        axes[0, j].set_title(f"v = {name}", fontsize=8)
        axes[0, j].set_xlabel("projection ⟨g_i, v⟩/‖v‖", fontsize=8)
        axes[1, j].hist(proj % 1.0, bins=50, range=(0, 1), color=COLORS[j])
        axes[1, j].set_xlabel("fractional part of ⟨g_i, v⟩", fontsize=8)
        for i in range(2):
            axes[i, j].tick_params(labelsize=7.5)
    for i in range(2):
        axes[i, 0].set_ylabel("count of weights g_i", fontsize=8)
    fig.suptitle("Gaussian pancakes: Gaussian along a random direction,\nperiodic along the key", fontsize=9)
    return save(fig, path)


def relu_flip_rates(fr: Mapping, fr_honest: Mapping, path: Path, n_random: int, title: str) -> Path:
    """Flip rate vs perturbation L2 for the key, random k-sparse directions, a gradient step, the key on an honest model."""
    p = plt()
    fig, ax = p.subplots(figsize=(5.0, 3.0))
    curves = [(fr["key"], "key s (planted model)"), (fr["random_sparse"], f"random k-sparse (mean of {n_random})"),
              (fr["gradient"], "white-box gradient step"), (fr_honest["key"], "key s on an honest model")]
    for (c, label), st in zip(curves, curve_styles(len(curves))):
        ax.plot(c["l2_mean"], c["flip"], color=st["color"], ls=st["ls"], marker=st["marker"], label=label)
    ax.set_xlabel(f"perturbation L2 ([0,1] units; median ‖x‖ = {fr['median_input_l2']:.1f})")
    ax.set_ylabel("flip rate")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title, fontsize=9)
    legend_outside(ax, "below", ncol=2)
    return save(fig, path)


def oblivious_bars(metrics: Mapping, path: Path) -> Path:
    """Rates before and after oblivious mitigation, one pair of labelled bars per attack."""
    p = plt()
    labels = ["signature ASR", "RFF key flip", "RFF random-dir flip", "Fourier task error\n(perfect model)"]
    before = [metrics["sig_asr_before"], metrics["rff_flip_key_before"], metrics["rff_flip_random_before"], metrics["fourier_err_before"]]
    after = [metrics["sig_asr_after"], metrics["rff_flip_key_after"], metrics["rff_flip_random_after"], metrics["fourier_err_after"]]
    x = np.arange(len(labels))
    fig, ax = p.subplots(figsize=(5.4, 3.0))
    label_bars(ax, ax.bar(x - 0.2, before, 0.4, color=COLORS[0], label="model as is"))
    label_bars(ax, ax.bar(x + 0.2, after, 0.4, color=COLORS[1], hatch="//", label="oblivious mitigation"))
    ax.set_xticks(x, labels, fontsize=7.5)
    ax.set_ylim(0, 1.12)
    ax.set_xlabel("attack (last: the mitigation's assumption violated)")
    ax.set_ylabel("rate")
    ax.set_title("Oblivious local mitigation on a linear task", fontsize=9)
    legend_outside(ax, "below", ncol=2)
    return save(fig, path)


def smoothing_sweep(curves: Mapping[str, Sequence[Mapping]], path: Path, title: str = "Randomized smoothing vs backdoors") -> Path:
    """ASR (solid) and clean accuracy (dashed) vs σ, one colour per construction; σ on a symlog axis."""
    p = plt()
    fig, ax = p.subplots(figsize=(5.0, 3.0))
    for i, (name, rows) in enumerate(curves.items()):
        s = [r["sigma"] for r in rows]
        color = COLORS[i % len(COLORS)]
        ax.plot(s, [r["asr"] for r in rows], "o-", color=color, label=f"{name}: attack success")
        ax.plot(s, [r["clean_accuracy"] for r in rows], "s--", color=color, alpha=0.75, label=f"{name}: clean accuracy")
    ax.set_xscale("symlog", linthresh=1 / 255)
    ax.axvline(1 / 255, color="grey", lw=0.8, ls=":", label="σ = 1 grey level")
    ax.set_xlabel("noise σ ([0,1] pixel units; symlog)")
    ax.set_ylabel("rate")
    ax.set_ylim(-0.03, 1.03)
    ax.set_title(title, fontsize=9)
    legend_outside(ax, "below", ncol=2)
    return save(fig, path)


def robustness_illusion(rows: Sequence[Mapping], path: Path) -> Path:
    """Success vs L∞ budget: honest / backdoored (PGD, random search) and Activate with the key."""
    p = plt()
    fig, ax = p.subplots(figsize=(5.0, 3.0))
    b = [r["budget_grey_levels"] for r in rows]
    curves = (("pgd_honest", "key-less PGD, honest h"), ("pgd_backdoored", "key-less PGD, backdoored h̃"),
              ("random_honest", "key-less random search, honest h"), ("random_backdoored", "key-less random search, backdoored h̃"))
    for (key, label), st in zip(curves, curve_styles(len(curves))):
        ax.plot(b, [r[key] for r in rows], color=st["color"], ls="--" if "backdoored" in key else "-", marker=st["marker"], label=label)
    ax.plot(b, [r["activate_key"] for r in rows], color="black", ls="--", lw=2, marker="D", label="Activate with the key, h̃ (targeted)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("L∞ budget (grey levels, of 255)")
    ax.set_ylabel("attack success rate")
    ax.set_ylim(-0.03, 1.03)
    ax.set_title("Robustness illusion: h̃ looks as robust as h to key-less attacks", fontsize=9)
    legend_outside(ax, "below", ncol=2)
    return save(fig, path)
