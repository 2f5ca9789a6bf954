"""Randomized smoothing throughput: ``Smooth.predict`` vs the bare batched base model on the same noisy inputs.

Ours: 200 mnist5k test images × n = 100 noise samples → counts → binomial test (noise generation,
re-quantization and the vote included). Baseline: the same base model's ``predict_index`` on the
same number (20,000) of pre-made noisy uint8 inputs, in the same batch size. Target: smoothing keeps
≥ 0.8× the bare model's throughput (time ratio ≤ 1.25).
"""
from __future__ import annotations

import numpy as np

from .common import best_of, ratio_row


def run() -> list[dict]:
    from undetectable.data import load_dataset
    from undetectable.defend.smoothing import Smooth
    from undetectable.models import train_model

    ds = load_dataset("mnist5k")
    rows = []
    base = train_model("mlp", ds, seed=0, epochs=1)  # timing does not depend on training quality
    X = ds.X_test[:200]
    n, batch = 100, 2000
    g = Smooth(base, 2 / 255)
    noisy = g.noisy(np.repeat(X, n, axis=0), np.random.default_rng(1))

    def bare():
        for s in range(0, len(noisy), batch):
            base.predict_index(noisy[s : s + batch])

    def ours():
        g.predict(X, n=n, alpha=0.001, batch=batch, rng=np.random.default_rng(2))

    ours(), bare()  # warm up
    t_ours, t_bare = best_of(ours, 3), best_of(bare, 3)
    rows.append(ratio_row("smoothing predict (MLP, 200×100 noisy inputs)", t_ours, t_bare, "ratio ≤ 1.25 (≥ 0.8× throughput)",
                          t_ours / t_bare <= 1.25, f"{len(noisy) / t_ours:,.0f} vs {len(noisy) / t_bare:,.0f} inputs/s"))
    return rows
