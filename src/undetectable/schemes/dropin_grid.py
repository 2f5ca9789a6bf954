"""Where a drop-in payload lives: a grid on the model's own input values (uint8 pixels, float pixels, tabular floats).

Every input element x_j (the example flattened, d elements) is read as an integer code through a
public per-element affine grid, computed in float32 exactly as the graph computes it:

    q_j = floor((x_j − offset_j) / step_j + 1/2),   x_j is on the grid iff float32(float32(q_j·step_j) + offset_j) == x_j
    u_j = q_j − low_j,   0 ≤ u_j < span   (outside: the input is out of range and never triggers)

* uint8 pixels: step 1, offset 0, low 0, span 256 (the pixel itself; no x/255 anywhere);
* float pixels: per channel (NCHW or NHWC) ``step = scale/std_c``, ``offset = −mean_c/std_c``, stated or
  inferred from the data's own levels (the spacing of its distinct values);
* tabular floats: a power-of-two fixed-point step per feature below ``bound``·std_j / 2^k, offset 0, so
  that q·step is exact in float32 (span 2^24: every integer there is exact in float32).

The payload (target bits, then the 512 signature bits) fills the k low bits of u_j at public positions
(a seeded permutation); bits beyond the payload must be 0. The signed residual is u_j with those k bits
removed, ``bytes_per`` little-endian bytes per element: every bit of an in-range, on-grid input outside
the payload is signed, with no clamping, so no two inputs share a residual (issue 19, aliasing).

The graph side (``grid_graph``) uses float32 Floor/Mul/Sub/Add/Div/Gather only (no bitwise op, no int64
arithmetic), every intermediate an integer below 2^24 where it must be exact.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
from onnx import TensorProto

from ..crypto.payload import LAYOUT_SEED
from ..errors import CapacityError, ParameterError

F32 = np.float32
#: the largest span of codes per element: every integer below it is exact in float32
MAX_SPAN = 1 << 24


@dataclasses.dataclass(frozen=True)
class ImageGrid:
    """A stated float-pixel grid: x = (level·scale − mean_c)/std_c per channel; ``layout`` "NCHW" or "NHWC"."""

    scale: float
    mean: tuple[float, ...]
    std: tuple[float, ...]
    layout: str = "NCHW"


@dataclasses.dataclass(frozen=True)
class InputGrid:
    """The payload layout on the input values (see the module docstring); arrays over the d flattened elements."""

    kind: str  # "uint8", "float-levels", "fixed-point"
    step: np.ndarray  # (d,) float32
    offset: np.ndarray  # (d,) float32
    low: np.ndarray  # (d,) float32 (integers)
    span: int  # codes u in [0, span); a power of two
    positions: np.ndarray  # (P,) int64: elements carrying k bits each
    k: int
    n_bits: int

    @property
    def d(self) -> int:
        return len(self.step)

    @property
    def bytes_per(self) -> int:
        return max(1, math.ceil(math.log2(self.span) / 8))

    @property
    def divisor(self) -> np.ndarray:
        """(d,) 2^k on payload elements, 1 elsewhere: residual = floor(u / divisor)."""
        dv = np.ones(self.d, dtype=F32)
        dv[self.positions] = F32(2.0**self.k)
        return dv

    @property
    def residual_len(self) -> int:
        return self.d * self.bytes_per

    # --- numpy twin of the graph --------------------------------------------------------------
    def values(self, q: np.ndarray) -> np.ndarray:
        """float32 input values of integer codes q (n, d), computed as the graph does."""
        return (q.astype(F32) * self.step).astype(F32) + self.offset

    def codes(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(u (n, d) int64, ok (n,) bool: on the grid and in range) for flat rows X."""
        x = np.asarray(X)
        x32 = x.astype(F32)
        exact = np.all(x32.astype(x.dtype) == x, axis=1) if x.dtype == np.float64 else np.ones(len(x), bool)
        with np.errstate(invalid="ignore", over="ignore"):
            q = np.floor((x32 - self.offset) / self.step + F32(0.5)).astype(F32)
            u = q - self.low
            ok = exact & np.all((u >= 0) & (u < self.span), axis=1)
            ok &= np.all(self.values(np.nan_to_num(q)) == x32, axis=1)
        return np.where(np.isfinite(u), u, 0).astype(np.int64), ok

    def snap(self, X: np.ndarray) -> np.ndarray:
        """The nearest in-range grid codes u (n, d) of flat rows X (activation starts there)."""
        x = np.asarray(X, dtype=np.float64)
        q = np.floor((x - self.offset) / self.step + 0.5) - self.low
        return np.clip(np.nan_to_num(q), 0, self.span - 1).astype(np.int64)

    def all_bits(self, u: np.ndarray) -> np.ndarray:
        """(n, P·k) bits of the payload elements, element-major, low bit first."""
        up = u[:, self.positions]
        return ((up[:, :, None] >> np.arange(self.k)) & 1).reshape(len(u), -1).astype(np.uint8)

    def residual(self, u: np.ndarray) -> np.ndarray:
        """(n, d·bytes_per) uint8: floor(u / divisor), little-endian bytes per element."""
        r = u // self.divisor.astype(np.int64)
        return ((r[:, :, None] >> (8 * np.arange(self.bytes_per))) & 255).reshape(len(u), -1).astype(np.uint8)

    def write(self, u: np.ndarray, bits: np.ndarray) -> np.ndarray:
        """Codes u with the payload elements' k low bits replaced by ``bits`` (n, n_bits), the rest 0."""
        full = np.zeros((len(u), len(self.positions) * self.k), dtype=np.int64)
        full[:, : bits.shape[1]] = bits
        pay = (full.reshape(len(u), -1, self.k) << np.arange(self.k)).sum(axis=2)
        out = u.copy()
        out[:, self.positions] = (u[:, self.positions] >> self.k << self.k) | pay
        return out

    def table(self) -> tuple[np.ndarray, np.ndarray]:
        """(group of each element (d,) float32, grid values of every group and code (G·span,) float32)."""
        cols, first, inverse = np.unique(np.stack([self.step, self.offset, self.low]), axis=1, return_index=True, return_inverse=True)
        u = np.arange(self.span, dtype=np.int64)[None, :]
        vals = [InputGrid(self.kind, self.step[j : j + 1], self.offset[j : j + 1], self.low[j : j + 1], self.span,
                          np.zeros(0, np.int64), self.k, 0).values((u + self.low[j].astype(np.int64)).T)[:, 0] for j in first]
        return inverse.ravel().astype(F32), np.concatenate(vals).astype(F32)

    def check_exact(self) -> None:
        """Every code of every element maps to a distinct float32 value read back as itself (CapacityError if not)."""
        if self.kind == "fixed-point":
            return  # power-of-two steps, |q| < 2^24: exact by construction
        u = np.arange(self.span, dtype=np.int64)[:, None]
        for j in np.unique(np.stack([self.step, self.offset, self.low]), axis=1, return_index=True)[1]:
            col = InputGrid(self.kind, self.step[j : j + 1], self.offset[j : j + 1], self.low[j : j + 1], self.span,
                            np.zeros(0, np.int64), self.k, 0)
            x = col.values(u + col.low)
            back, ok = col.codes(x)
            if not ok.all() or not np.array_equal(back[:, 0], u[:, 0]) or len(np.unique(x)) != self.span:
                raise CapacityError(f"the input grid (step {float(self.step[j]):.3g}, offset {float(self.offset[j]):.3g}) is not "
                                    "exact in float32 over its range; state the grid (scale, mean, std) explicitly")


# --- choosing the grid ----------------------------------------------------------------------------


def _positions(d: int, n: int) -> np.ndarray:
    return np.sort(np.random.default_rng(LAYOUT_SEED).permutation(d)[:n]).astype(np.int64)


def _channel_index(shape: tuple[int, ...], layout: str | None) -> tuple[np.ndarray, str]:
    """(d,) channel of each flattened element and the layout used: NCHW (axis 1), NHWC (last axis) or one channel."""
    d = int(np.prod(shape))
    if len(shape) == 3 and (layout == "NCHW" or (layout is None and shape[0] <= 4 and shape[-1] > 4)):
        return np.repeat(np.arange(shape[0]), d // shape[0]), "NCHW"
    if len(shape) == 3 and (layout == "NHWC" or (layout is None and shape[-1] <= 4)):
        return np.tile(np.arange(shape[-1]), d // shape[-1]), "NHWC"
    return np.zeros(d, dtype=np.int64), "one channel"


def _levels(values: np.ndarray) -> tuple[float, float, int] | None:
    """(step, lowest value, number of levels) when ``values`` sit on an evenly spaced set of levels, else None."""
    v = np.unique(values.astype(np.float64))
    if len(v) < 3 or len(v) > 4096:
        return None
    diffs = np.diff(v)
    step = float(np.min(diffs))
    ratio = diffs / step
    if step <= 0 or np.max(np.abs(ratio - np.rint(ratio))) > 1e-3:
        return None
    return step, float(v[0]), round((v[-1] - v[0]) / step) + 1


def infer_grid(X: np.ndarray | None, shape: tuple[int, ...], dtype: str, n_bits: int, bound: float,
               image: ImageGrid | None = None) -> InputGrid:
    """The grid for inputs of per-example ``shape`` and ``dtype``: uint8 pixels, float pixel levels or fixed point.

    ``X`` (n, d) flat samples in the model's own dtype: float routes need them (the levels or each
    feature's spread); ``image`` states a float-pixel grid instead of inferring it. ``CapacityError`` with
    the numbers when the input cannot carry ``n_bits``.
    """
    d = int(np.prod(shape))
    if dtype == "uint8":
        if n_bits > d:
            raise CapacityError(f"the payload needs {n_bits} bits but the input has {d} pixels carrying 1 bit each "
                                "(within one grey level); use a model with larger inputs")
        return InputGrid("uint8", np.ones(d, F32), np.zeros(d, F32), np.zeros(d, F32), 256, _positions(d, n_bits), 1, n_bits)
    if dtype not in ("float32", "float64"):
        raise ParameterError("data", f"no payload grid for {dtype} inputs; the drop-in route takes uint8, float32 or float64 inputs")
    if image is not None:
        ch, _ = _channel_index(shape, image.layout)
        if max(ch) + 1 != len(image.mean) or len(image.mean) != len(image.std):
            raise ParameterError("grid", f"the stated grid has {len(image.mean)} means and {len(image.std)} stds; the input has {max(ch) + 1} channels")
        step = (F32(image.scale) / np.asarray(image.std, F32))[ch].astype(F32)
        offset = (-np.asarray(image.mean, F32) / np.asarray(image.std, F32))[ch].astype(F32)
        return _level_grid(step, offset, np.full(d, -64, F32), 512, d, n_bits)
    if X is None or len(X) == 0:
        raise ParameterError("data", "float inputs need sample data in the model's own layout (its grid is inferred from "
                                     "them): pass data=X with a few hundred rows")
    X = np.asarray(X).reshape(len(X), d)
    if not np.all(np.isfinite(X)):
        raise ParameterError("data", "the sample data has NaN or infinite values; pass finite samples")
    ch, _ = _channel_index(shape, None)
    lv = [_levels(X[:, ch == c]) for c in range(int(ch.max()) + 1)]
    if all(v is not None and v[2] <= 1024 for v in lv) and n_bits <= 2 * d:  # pixel levels, ≤ 2 bits per value
        n_lv = max(v[2] for v in lv if v is not None)
        span = 1 << max(1, math.ceil(math.log2(n_lv * 1.5 + 2)))
        margin = (span - n_lv) // 2
        step = np.array([lv[c][0] for c in ch], F32)
        offset = np.array([lv[c][1] for c in ch], F32)
        return _level_grid(step, offset, np.full(d, -margin, F32), span, d, n_bits)
    return _fixed_point(X, d, n_bits, bound)


def _level_grid(step, offset, low, span, d, n_bits) -> InputGrid:
    k = math.ceil(n_bits / d)
    if k > 2:
        raise CapacityError(f"the payload needs {n_bits} bits but the input has {d} pixels; {k} bits per pixel would change "
                            f"pixels by up to {2**k - 1} levels; use a model with at least {n_bits} input values")
    g = InputGrid("float-levels", step, offset, low, span, _positions(d, math.ceil(n_bits / k)), k, n_bits)
    g.check_exact()
    return g


def _fixed_point(X: np.ndarray, d: int, n_bits: int, bound: float) -> InputGrid:
    if not (bound > 0 and math.isfinite(bound)):
        raise ParameterError("bound", f"bound must be a positive finite number; got {bound}")
    k = math.ceil(n_bits / d)
    Xd = X.astype(np.float64)
    std = Xd.std(axis=0)
    std = np.where(std > 0, std, np.maximum(np.abs(Xd).max(axis=0), 1.0))
    step = 2.0 ** np.floor(np.log2(bound * std / 2.0**k))
    need = float(np.max(np.abs(Xd) / step))  # codes the data needs; float32 holds |q| < 2^23 exactly (half the span)
    if need >= 2.0**23 - 2.0**k:
        ratio = float(np.max(np.abs(Xd) / std))  # |x| in units of its feature's spread
        fit = ratio * 2.0 ** (k + 1) / 2.0**23 * 1.01  # step ≥ bound·std/2^(k+1) keeps |x|/step below 2^23
        hint = (f"the smallest bound that fits is {float(f'{fit:.2g}'):g} (in units of each feature's spread)" if fit < 1
                else "no bound below the features' own spread fits: use a model with more input features")
        raise CapacityError(f"the payload needs {n_bits} bits: {k} bits in each of the {d} float features, but float32 cannot "
                            f"resolve them within bound {bound:g} (values reach {ratio:.3g}× their spread); {hint}")
    low = np.full(d, -(MAX_SPAN // 2), F32)
    return InputGrid("fixed-point", step.astype(F32), np.zeros(d, F32), low, MAX_SPAN, _positions(d, math.ceil(n_bits / k)), k, n_bits)


# --- the graph side -------------------------------------------------------------------------------


def grid_graph(b, x: str, grid: InputGrid, names: dict[str, str]) -> tuple[str, str, str]:
    """In-graph twin of ``codes``/``all_bits``/``residual`` on float32 rows ``x`` (n, d).

    Returns (bits (n, n_bits) float32, residual bytes (n, d·bytes_per) float32, ok (n,) bool). ``names``
    gives the initializer names of the grid constants (activation reads them back from the file).
    """
    def named(key: str, value) -> str:
        from onnx import numpy_helper

        b.root.inits.append(numpy_helper.from_array(np.asarray(value), names[key]))
        return names[key]

    step, offset, low = named("step", grid.step), named("offset", grid.offset), named("low", grid.low)
    pos = named("positions", grid.positions)
    pw = named("powers", (2.0 ** np.arange(grid.k)).astype(F32))
    half, zero = b.const(0.5, F32), b.const(0.0, F32)
    q = b.op("Floor", b.op("Add", b.op("Div", b.op("Sub", x, offset), step), half))
    u = b.op("Sub", q, low)
    if grid.kind in ("uint8", "fixed-point"):  # q·step + offset is exact (step a power of two, offset 0): any fusion agrees
        back = b.op("Add", b.op("Mul", q, step), offset)
    else:  # look the grid value up (runtimes may fuse Mul+Add or turn Div into a reciprocal Mul: a table lookup is exact)
        groups, table = grid.table()
        idx = b.op("Add", b.op("Mul", b.const(groups, F32), b.const(float(grid.span), F32)),
                   b.op("Max", b.op("Min", b.op("Where", b.op("IsNaN", u), zero, u), b.const(float(grid.span - 1), F32)), zero))
        back = b.op("Gather", b.const(table, F32), b.op("Cast", idx, to=TensorProto.INT32), axis=0)
    inside = b.op("And", b.op("Equal", back, x), b.op("And", b.op("GreaterOrEqual", u, zero), b.op("Less", u, b.const(float(grid.span), F32))))
    ok = b.op("Equal", b.op("ReduceMin", b.op("Cast", inside, to=TensorProto.FLOAT), b.const([1]), keepdims=0), b.const(1.0, F32))
    u = b.op("Where", inside, u, zero)  # off-grid elements: any in-range code (the row is refused anyway)

    def low_bits(v: str, powers: str, base: float, count: int) -> str:
        """(n, m) integer-valued v → (n, m·count) digits in ``base``, lowest first: floor(v/p) − base·floor(v/(base·p))."""
        f = b.op("Floor", b.op("Div", b.op("Unsqueeze", v, b.const([-1])), powers))
        digit = b.op("Sub", f, b.op("Mul", b.op("Floor", b.op("Div", f, b.const(base, F32))), b.const(base, F32)))
        return b.op("Reshape", digit, b.const([0, -1]))

    allbits = low_bits(b.op("Gather", u, pos, axis=1), pw, 2.0, grid.k)
    bits = b.slice(allbits, 0, grid.n_bits, 1)
    extra = len(grid.positions) * grid.k - grid.n_bits
    if extra:
        spare = b.slice(allbits, grid.n_bits, grid.n_bits + extra, 1)
        ok = b.op("And", ok, b.op("Equal", b.op("ReduceMax", spare, b.const([1]), keepdims=0), zero))
    r = b.op("Floor", b.op("Div", u, b.const(grid.divisor, F32)))
    res = low_bits(r, b.const((256.0 ** np.arange(grid.bytes_per)).astype(F32), F32), 256.0, grid.bytes_per)
    return bits, res, ok
