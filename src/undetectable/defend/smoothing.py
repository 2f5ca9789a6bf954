"""Evaluation-time immunization (paper Thm 2.4): randomized smoothing.

Follows Cohen, Rosenfeld and Kolter, *Certified Adversarial Robustness via Randomized Smoothing*
(ICML 2019, arXiv 1902.02918), whose ``core.py`` mirrors the paper's pseudo-code. Given a base
classifier f, the smoothed classifier is

    g(x) = argmax_c  P[ f(x + ε) = c ],   ε ~ N(0, σ² I).

* ``Smooth.predict`` (PREDICT): draw n noisy copies, count the top two classes (n_A, n_B) and
  abstain unless the two-sided binomial test of n_A out of n_A + n_B at p = 1/2 rejects at level α.
  Then P[g(x) returned wrongly] ≤ α.
* ``Smooth.certify`` (CERTIFY): a *selection* sample of n0 noisy copies guesses ĉ_A; a separate
  *estimation* sample of n copies counts n_A = #{f = ĉ_A}; p̲_A is the one-sided (1 − α)
  Clopper–Pearson lower bound on P[f(x + ε) = ĉ_A]; if p̲_A < 1/2 abstain, else return ĉ_A with the
  L2 radius R = σ · Φ⁻¹(p̲_A): with probability ≥ 1 − α, g(x') = ĉ_A for every ‖x' − x‖₂ < R.

**Units.** For uint8 images σ (and the radius) are in [0, 1] pixel units: 1/255 is one grey level.
Each noisy copy is x/255 + ε, clipped to [0, 1] and re-quantized to uint8 before the base model sees
it, so the base classifier that is smoothed is f∘quantize∘clip, a function on all of ℝ^D, and Cohen's
guarantee applies to it unchanged. For float features σ is in the features' own units (clipped to the
input range when the spec has one), or in the units the model itself rescales them to when it
has an ``input_scale`` (rff bundles of pixel data: [0, 1] again).

**Why it kills the signature backdoor.** Activate changes pixels by one grey level (L2 ≈ 0.063); the
backdoor fires only if all 512 signature bits survive. Noise of σ ≈ 1 grey level re-randomizes the
payload's low bits, so no noisy copy verifies and g follows the honest h; and wherever the certified
radius exceeds ‖Activate(x) − x‖₂, no key can flip g(x) at all. A backdoor whose perturbation η ≫ σ
(the RFF/CLWE one) gets no such guarantee: "η ≫ σ ⇒ no guarantee".

**Abstentions.** ``predict`` / ``certify`` return class *indices* with ``ABSTAIN = -1``. The bundle
family ``smoothed`` returns *labels* from ``predict``: ``-1`` for numeric labels (refused if -1 is
itself a class), the string ``"abstain"`` for string labels (``abstain_label``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import beta, binom, norm

from ..bundle import Model, load_bundle, write_bundle_dir
from ..errors import BundleError, ParameterError, UsageError
from ..runtime import with_thread_budget

ABSTAIN = -1
ABSTAIN_STRING = "abstain"


def _check_int(name: str, value, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise UsageError(f"{name} must be an integer ≥ {low}; got {value!r}")
    return int(value)


def _check_alpha(alpha) -> float:
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        a = float("nan")
    if not (0.0 < a < 1.0):
        raise UsageError(f"alpha must be a probability in (0, 1), e.g. 0.001; got {alpha!r}")
    return a


#: Noise samples per prediction beyond this are refused: the smoothed model would take minutes per input.
MAX_N = 100_000


#: The largest σ ``immunize`` takes (beyond it the noise drowns every input: a smoothed model of noise, not a defense):
#: images, in [0,1] pixel units: 10 (ten times the whole pixel range); float features, in their own units: 1000 of the
#: widest feature's training standard deviations where the model records them, else 10^6.
SIGMA_MAX_IMAGE = 10.0
SIGMA_MAX_STDS = 1000.0
SIGMA_MAX_FEATURES = 1e6


def sigma_limit(spec, unit: float = 1.0) -> tuple[float, str]:
    """(the largest σ ``immunize`` takes for inputs of ``spec``, the reason in words); ``unit``: float features'
    σ unit in raw feature units (a model's ``input_scale``: σ is in the units the model rescales its inputs to).

    Examples
    --------
    >>> from undetectable.spec import InputSpec
    >>> sigma_limit(InputSpec((784,), "uint8", 0, 255))[0], sigma_limit(InputSpec((2,), "float64", feature_std=(0.5, 3.0)))[0]
    (10.0, 3000.0)
    """
    if spec.is_image:
        return SIGMA_MAX_IMAGE, "ten times the whole pixel range, in [0,1] pixel units"
    std = getattr(spec, "feature_std", None)
    if std is not None and len(std) and np.all(np.isfinite(std)) and float(np.max(std)) > 0:
        return SIGMA_MAX_STDS * float(np.max(std)) * unit, f"{SIGMA_MAX_STDS:g} training standard deviations of the widest feature"
    return SIGMA_MAX_FEATURES, "in feature units (the model records no feature scale)"


def _check_sigma(sigma, allow_zero: bool = True) -> float:
    try:
        s = float(sigma)
    except (TypeError, ValueError):
        s = float("nan")
    if not np.isfinite(s) or s < 0 or (s == 0 and not allow_zero):
        need = "≥ 0" if allow_zero else "> 0"
        raise UsageError(f"sigma must be a finite number {need} (in [0,1] pixel units for images: 1/255 = one grey level); got {sigma!r}")
    return s


def _as_rng(rng) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def binomial_pvalue(n_a: np.ndarray, n_b: np.ndarray) -> np.ndarray:
    """Two-sided binomial test p-value of n_A successes in n_A + n_B trials at p = 1/2 (vectorized).

    Equals ``scipy.stats.binomtest(n_a, n_a + n_b, 0.5).pvalue``: by symmetry it is
    min(1, 2·P[Bin(N, 1/2) ≤ min(n_A, n_B)]).
    """
    n_a, n_b = np.asarray(n_a), np.asarray(n_b)
    return np.minimum(1.0, 2.0 * binom.cdf(np.minimum(n_a, n_b), n_a + n_b, 0.5))


def lower_confidence_bound(n_a: np.ndarray, n: int, alpha: float) -> np.ndarray:
    """One-sided (1 − α) Clopper–Pearson lower bound p̲_A on a binomial proportion (vectorized).

    p̲_A = Beta⁻¹(α; n_A, n − n_A + 1), and 0 when n_A = 0 (the ``proportion_confint(..., alpha=2α,
    method="beta")[0]`` of Cohen et al.).
    """
    n_a = np.asarray(n_a, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        lb = beta.ppf(alpha, np.maximum(n_a, 1.0), n - n_a + 1.0)
    return np.where(n_a > 0, lb, 0.0)


class Smooth:
    """The smoothed classifier g of a base classifier f (a bundle ``Model``) at noise level σ."""

    ABSTAIN = ABSTAIN

    def __init__(self, base: Model, sigma: float) -> None:
        self.base = base
        self.sigma = _check_sigma(sigma)
        self.spec = base.spec
        self.num_classes = base.n_classes
        # images: noise is added in [0, 1] units (x / high), then re-quantized; float inputs that a
        # model rescales itself (``input_scale``, e.g. rff bundles of pixel data) get σ in those units
        # the pixel range of images (uint8 without a declared range: 0..255)
        self._lo = 0.0 if self.spec.low is None else float(self.spec.low)
        self._hi = 255.0 if self.spec.high is None else float(self.spec.high)
        self.unit = 1.0 / self._hi if self.spec.is_image else float(getattr(base, "input_scale", 1.0))

    # --- noise -------------------------------------------------------------------------------
    def noisy(self, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One noisy copy per row of ``X``: x + N(0, σ²) in [0,1] units, clipped, re-quantized for uint8."""
        if self.sigma == 0:
            return X.copy()
        if self.spec.is_image:
            # torch's vectorized normal sampler is ~3× numpy's on this path; its generator is seeded
            # from ``rng``, so results stay a function of the caller's numpy Generator.
            import torch

            gen = torch.Generator().manual_seed(int(rng.integers(0, 2**63 - 1)))
            T = torch.randn(X.shape, generator=gen, dtype=torch.float32).mul_(self.sigma / self.unit)
            T.add_(torch.from_numpy(np.ascontiguousarray(X))).round_().clamp_(self._lo, self._hi)
            return T.to(torch.uint8).numpy()
        Z = X + rng.standard_normal(X.shape) * (self.sigma / self.unit)
        if self.spec.low is not None and self.spec.high is not None:
            np.clip(Z, self.spec.low, self.spec.high, out=Z)
        return Z

    def noise_bank(self, num: int, rng: np.random.Generator) -> np.ndarray:
        """``num`` noise vectors ε_j ~ N(0, σ²I) in the input's units; for uint8 images already rounded
        to whole grey levels, since rint(x + v) = x + rint(v) for integer x (ties have probability 0)."""
        D = self.spec.n_features
        if self.spec.is_image:
            import torch

            gen = torch.Generator().manual_seed(int(rng.integers(0, 2**63 - 1)))
            Z = torch.randn((num, D), generator=gen, dtype=torch.float32).mul_(self.sigma / self.unit).round_()
            return Z.clamp_(-self._hi, self._hi).to(torch.int16).numpy()
        return rng.standard_normal((num, D)) * (self.sigma / self.unit)

    def _apply(self, Xc: np.ndarray, E: np.ndarray) -> np.ndarray:
        """(rows × noise vectors) noisy inputs, row-major: clip(x_i + ε_j), re-quantized for uint8."""
        if self.spec.is_image:
            Z = Xc.astype(np.int16)[:, None, :] + E[None, :, :]
            np.clip(Z, np.int16(self._lo), np.int16(self._hi), out=Z)
            return Z.reshape(-1, Xc.shape[1]).astype(np.uint8)
        Z = (Xc[:, None, :] + E[None, :, :]).reshape(-1, Xc.shape[1])
        if self.spec.low is not None and self.spec.high is not None:
            np.clip(Z, self.spec.low, self.spec.high, out=Z)
        return Z

    @with_thread_budget
    def sample_counts(self, X, num: int, batch: int = 1000, rng=None) -> np.ndarray:
        """counts[i, c] = #{j ≤ num : f(x_i + ε_ij) = c}, evaluated in batches of ≤ ``batch`` noisy inputs.

        Vectorized over noise samples and rows: noise vectors are drawn in blocks of up to ``batch``
        and each block is applied to several rows at once. Within one call the rows *share* the
        noise vectors ε_1..ε_num (each row still sees num i.i.d. N(0, σ²I) draws, which is all the
        per-input guarantee of Cohen et al. uses; answers for different rows are correlated).
        """
        X = self.spec.validate(X)
        num, batch = _check_int("n", num), _check_int("batch", batch)
        rng = _as_rng(rng)
        n, C = len(X), self.num_classes
        if self.sigma == 0:  # the identity control: f is deterministic, every copy agrees
            counts = np.zeros((n, C), dtype=np.int64)
            counts[np.arange(n), self.base.predict_index(X)] = num
            return counts
        from ..progress import progress

        counts = np.zeros((n, C), dtype=np.int64)
        nb = min(num, batch)  # noise vectors per block
        rc = max(1, batch // nb)  # rows per base-model call
        blocks = [(a, min(a + nb, num)) for a in range(0, num, nb)]
        with progress(f"smoothing σ={self.sigma:g}: {n} inputs × {num} noise draws", total=len(blocks) * -(-n // rc),
                      unit="batches") as bar:
            for a, b in blocks:
                E = self.noise_bank(b - a, rng)
                for r0 in range(0, n, rc):
                    Xc = X[r0 : r0 + rc]
                    pred = self.base.predict_index(self._apply(Xc, E)).reshape(len(Xc), b - a)
                    rows = np.repeat(np.arange(len(Xc)), b - a)
                    counts[r0 : r0 + len(Xc)] += np.bincount(rows * C + pred.ravel(), minlength=len(Xc) * C).reshape(len(Xc), C)
                    bar.advance()
        return counts

    # --- PREDICT -----------------------------------------------------------------------------
    def predict(self, X, n: int = 100, alpha: float = 0.001, batch: int = 1000, rng=None) -> np.ndarray:
        """PREDICT: class index per row, or ``ABSTAIN`` (-1) when the binomial test does not reject at α."""
        alpha = _check_alpha(alpha)
        counts = self.sample_counts(X, n, batch, rng)
        top2 = np.argsort(-counts, axis=1, kind="stable")[:, :2]
        idx = np.arange(len(counts))
        n_a = counts[idx, top2[:, 0]]
        n_b = counts[idx, top2[:, 1]] if counts.shape[1] > 1 else np.zeros_like(n_a)
        return np.where(binomial_pvalue(n_a, n_b) > alpha, ABSTAIN, top2[:, 0]).astype(np.int64)

    # --- CERTIFY -----------------------------------------------------------------------------
    def certify(self, X, n0: int = 100, n: int = 1000, alpha: float = 0.001, batch: int = 1000, rng=None) -> tuple[np.ndarray, np.ndarray]:
        """CERTIFY: (class index or ``ABSTAIN``, L2 radius σ·Φ⁻¹(p̲_A); 0 where abstaining).

        Selection (n0 copies) and estimation (n copies) use separate noise, as the guarantee needs.
        """
        alpha = _check_alpha(alpha)
        n0, n = _check_int("n0", n0), _check_int("n", n)
        rng = _as_rng(rng)
        c_hat = self.sample_counts(X, n0, batch, rng).argmax(axis=1)
        counts = self.sample_counts(X, n, batch, rng)
        p_lower = lower_confidence_bound(counts[np.arange(len(counts)), c_hat], n, alpha)
        ok = p_lower >= 0.5
        with np.errstate(divide="ignore"):
            radius = np.where(ok, self.sigma * norm.ppf(np.clip(p_lower, 0.5, 1.0)), 0.0)
        return np.where(ok, c_hat, ABSTAIN).astype(np.int64), radius


# --- the "smoothed" bundle family ---------------------------------------------------------------

def abstain_label(classes: np.ndarray):
    """The label ``predict`` returns for an abstention: -1 for numeric labels, "abstain" for strings."""
    classes = np.asarray(classes)
    if classes.dtype.kind in "iuf":
        return -1
    return ABSTAIN_STRING


class SmoothedModel(Model):
    """A wrapper bundle: the base bundle in ``base/``, and σ, n, α, seed, batch in the manifest.

    ``predict`` applies ``Smooth.predict`` with a generator seeded from the stored seed on every
    call (so a given input batch gets reproducible answers) and returns labels, abstentions as
    ``abstain_label(classes)``. ``scores`` are the noisy-vote frequencies. ``load_key`` /
    ``activate`` pass through to the base: the key holder's Activate is unchanged; smoothing is what
    makes it fail.
    """

    family = "smoothed"

    def __init__(self, base: Model, sigma: float, n: int = 100, alpha: float = 0.001, seed: int = 0, batch: int = 1000) -> None:
        super().__init__(base.spec, base.classes)
        self.base = base
        self.smooth = Smooth(base, sigma)
        self.sigma = self.smooth.sigma
        self.n = _check_int("n", n)
        from ..safety import check_knob

        check_knob("n", self.n, 1, MAX_N, "each prediction costs n base-model predictions")
        self.alpha = _check_alpha(alpha)
        self.seed = _check_int("seed", seed, 0)
        self.batch = _check_int("batch", batch)
        self.abstain_label = abstain_label(self.classes)
        if self.abstain_label == ABSTAIN and np.any(self.classes.astype(np.float64) == ABSTAIN):
            raise UsageError("the model has a class labelled -1, which smoothing uses for abstentions; relabel the classes")

    def predict_index(self, X: np.ndarray) -> np.ndarray:
        return self.smooth.predict(X, self.n, self.alpha, self.batch, np.random.default_rng(self.seed))

    def predict(self, X) -> np.ndarray:
        idx = self.predict_index(self.spec.validate(X))
        if self.abstain_label == ABSTAIN:
            dtype = np.float64 if self.classes.dtype.kind == "f" else np.int64
            out = self.classes.astype(dtype)[np.maximum(idx, 0)]
        else:
            out = self.classes.astype(object)[np.maximum(idx, 0)]
        out[idx == ABSTAIN] = self.abstain_label
        return out

    def scores(self, X: np.ndarray) -> np.ndarray:
        counts = self.smooth.sample_counts(X, self.n, self.batch, np.random.default_rng(self.seed))
        return counts / float(self.n)

    def certify(self, X, n0: int = 100, n: int = 1000, alpha: float | None = None, rng=None):
        """``Smooth.certify`` with this bundle's σ and batch (α defaults to the stored one)."""
        return self.smooth.certify(X, n0, n, self.alpha if alpha is None else alpha, self.batch,
                                   np.random.default_rng(self.seed) if rng is None else rng)

    def describe(self) -> dict[str, Any]:
        return {"sigma": self.sigma, "n": self.n, "alpha": self.alpha, "seed": self.seed, "base": self.base.family,
                "abstain_label": self.abstain_label}

    def _save(self, directory: Path) -> dict[str, Any]:
        (directory / "base").mkdir()
        write_bundle_dir(self.base, directory / "base")
        return {"sigma": self.sigma, "n": self.n, "alpha": self.alpha, "seed": self.seed, "batch": self.batch,
                "sigma_units": "[0,1] pixel units" if self.spec.is_image else "feature units"}

    @classmethod
    def _load(cls, directory, params, spec, classes):
        base = load_bundle(Path(directory) / "base")
        if isinstance(base, SmoothedModel):  # immunize refuses to smooth a smoothed model: so does loading
            raise BundleError(f"bundle {directory} smooths an already smoothed bundle; re-create it from an unsmoothed base")
        return cls(base, float(params["sigma"]), int(params["n"]), float(params["alpha"]), int(params["seed"]), int(params["batch"]))


def immunize(model: Model, sigma: float, n: int = 100, alpha: float = 0.001, seed: int = 0, batch: int = 1000) -> SmoothedModel:
    """Immunize ``model`` by randomized smoothing at noise σ > 0 (Thm 2.4): returns a ``smoothed`` bundle model.

    σ must be finite and at most ``sigma_limit(model.spec)`` (``ParameterError`` naming ``sigma`` otherwise)."""
    if isinstance(model, SmoothedModel):
        raise UsageError(f"the bundle is already smoothed (σ = {model.sigma:g}); immunize its base bundle instead")
    try:
        s = _check_sigma(sigma, allow_zero=False)
    except UsageError as e:
        raise ParameterError("sigma", str(e)) from None
    unit = getattr(model, "input_scale", 1.0)
    limit, why = sigma_limit(model.spec, float(unit) if isinstance(unit, (int, float)) and unit > 0 else 1.0)
    if s > limit:
        raise ParameterError("sigma", f"sigma must be at most {limit:g} ({why}): noise that large drowns every input; got {sigma!r}. "
                                      "Pass a noise level of the inputs' own scale (e.g. 0.1)")
    return SmoothedModel(model, s, n, alpha, seed, batch)
