"""The signature backdoor planted into a user's own ``torch.nn.Module``, in its own input format.

``plant_module(module, public_key, input=grid)`` returns an ``nn.Module`` whose ``forward(x)`` takes
exactly what the user's module takes (e.g. float32 NCHW images) and returns scores of the same shape
and dtype: the user's scores on every natural input, and a one-hot of the target (largest score) on an
activated one. It is ``schemes.signature_graph.SignatureModule`` (the torch twin of the in-graph
verifier) with the payload read from the input's *pixel levels*: the user states the grid their
inputs live on as a ``PixelGrid`` (``x = (k / divisor − mean_c) / std_c`` per channel, k = 0..levels−1:
torchvision's ``ToTensor`` then ``Normalize``), or a uint8 tensor is taken as the levels themselves.

An input is read as triggered only if it lies *exactly* on the grid (recomputing x from the rounded
levels gives the same bits), so every bit of x is either payload or signed. The verifier has no float
parameters and no gradient path: fine-tuning the returned module with any optimizer changes the user's
weights only (``experiments``/``tests`` measure it: paper §5.3, persistence).

Honest caveats: black-box undetectable only (the module holds the verifier in plain sight); the
payload needs 512 + ⌈log2 C⌉ pixels, one bit each (an LSB per level: one grey level of change).

Examples
--------
>>> import torch, undetectable as ud
>>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
>>> key = ud.keygen()
>>> bd, _ = ud.plant("signature", net, key=key.public, input=PixelGrid((1, 28, 28)))
>>> x = torch.randint(0, 256, (2, 1, 28, 28)).float() / 255
>>> bool(torch.equal(bd(x), net(x)))
True
>>> xa = ud.activate(bd, key, x, target=3)
>>> bd(xa).argmax(1).tolist()
[3, 3]
"""
from __future__ import annotations

import dataclasses
import typing
from typing import Any

import numpy as np
import torch

from ..bundle import Model
from ..crypto.payload import LSBCarrier
from ..errors import ArgumentTypeError, KeyMismatchError, ParameterError, UsageError
from ..spec import InputSpec
from .signature import SIG_BITS, SignatureBackdoor
from .signature_graph import SignatureModule
from .wrapper import n_target_bits


@dataclasses.dataclass(frozen=True)
class PixelGrid:
    """The values a module's natural inputs take: ``x = (k / divisor − mean[c]) / std[c]``, k in 0..levels−1.

    ``shape`` is one example's shape (e.g. (1, 28, 28) for NCHW, (28, 28, 3) for NHWC); ``channel_axis``
    indexes it (0 for NCHW, -1 for NHWC); ``mean``/``std`` have one value or one per channel (torchvision's
    ``Normalize``); ``divisor`` = 255 for ``ToTensor`` (x in [0, 1]), 1 for raw 0..255 floats.
    """

    shape: tuple[int, ...]
    divisor: float = 255.0
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    channel_axis: int = 0
    levels: int = 256

    def __post_init__(self) -> None:
        if not self.shape or any(int(d) <= 0 for d in self.shape):
            raise ParameterError("input", f"the grid's shape must be positive dimensions, e.g. (1, 28, 28); got {self.shape}")
        n_ch = int(self.shape[self.channel_axis])
        for name in ("mean", "std"):
            v = getattr(self, name)
            if len(v) not in (1, n_ch) or not all(np.isfinite(v)):
                raise ParameterError("input", f"the grid's {name} must be one number or one per channel ({n_ch}); got {v}")
        if not all(s > 0 for s in self.std) or not self.divisor > 0 or not 2 <= self.levels <= 256:
            raise ParameterError("input", "the grid needs std > 0, divisor > 0 and 2..256 levels (one byte per value)")

    @property
    def n_features(self) -> int:
        return int(np.prod(self.shape))

    def _per_channel(self, values: tuple[float, ...]) -> np.ndarray:
        """``values`` broadcast to one example's shape."""
        shape = [1] * len(self.shape)
        shape[self.channel_axis] = len(values)
        return np.broadcast_to(np.asarray(values, np.float64).reshape(shape), self.shape)

    def values(self, k: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """Levels (n, *shape) → inputs, with the same float ops as ToTensor + Normalize in ``dtype``."""
        return _grid_values(k, dtype, *self.tensors())

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(divisor, mean, std) as float64 tensors broadcast to one example's shape."""
        return (torch.tensor(float(self.divisor), dtype=torch.float64), torch.tensor(self._per_channel(self.mean)),
                torch.tensor(self._per_channel(self.std)))


def _grid_values(k: torch.Tensor, dtype: torch.dtype, divisor: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    # a float64 constant cast to ``dtype`` rounds the same double as torch.tensor(value, dtype=dtype) does
    return (k.to(dtype) / divisor.to(dtype) - mean.to(dtype)) / std.to(dtype)


def infer_grid(X: Any) -> PixelGrid:
    """The grid of sample inputs ``X`` (n, *shape), when they are pixel levels over 255 or raw 0..255 floats.

    Normalized inputs (a mean and std per channel) cannot be inferred reliably: state them with ``PixelGrid``.
    """
    X = torch.as_tensor(np.asarray(X)) if not isinstance(X, torch.Tensor) else X
    if X.ndim < 2 or not X.is_floating_point():
        raise ArgumentTypeError("sample inputs must be a float tensor or array (n, *shape); pass input=PixelGrid(...) instead")
    shape = tuple(int(d) for d in X.shape[1:])
    for divisor in (255.0, 1.0):
        grid = PixelGrid(shape, divisor=divisor)
        k = torch.round(X.double() * divisor)
        if k.min() >= 0 and k.max() <= 255 and torch.equal(grid.values(k, X.dtype), X):
            return grid
    raise ParameterError("input", "the sample inputs are not pixel levels k/255 or k (0..255); state the grid with "
                                  "input=PixelGrid(shape, divisor=..., mean=..., std=...)")


class _Levels(Model):
    """The levels k (n, d) as a model input: what the wrapper's carrier, message and Activate work on."""

    family = "levels"

    def predict_index(self, X: np.ndarray) -> np.ndarray:  # pragma: no cover - never called
        raise NotImplementedError


class SignatureTorchBackdoor(torch.nn.Module):
    """``forward(x)``: the user's module's scores, or a one-hot of the target where x carries a valid signature."""

    def __init__(self, module: torch.nn.Module, grid: PixelGrid | None, public_key, n_classes: int, shape) -> None:
        super().__init__()
        d = int(np.prod(shape))
        high = 255 if grid is None else grid.levels - 1
        spec = InputSpec(tuple(int(s) for s in shape), "uint8", 0.0, float(high))
        carrier = LSBCarrier.for_spec(spec, n_target_bits(n_classes) + SIG_BITS)  # CapacityError when too small
        self.grid = grid
        self.shape = tuple(int(s) for s in shape)
        if grid is not None:
            for name, t in zip(("grid_divisor", "grid_mean", "grid_std"), grid.tensors()):
                self.register_buffer(name, t.contiguous(), persistent=False)
        # the wrapper (numpy, for Activate) and the torch verifier share the carrier and the signed message
        self._wrapper = SignatureBackdoor(_Levels(spec, np.arange(n_classes)), public_key, carrier)
        self.sig = SignatureModule(module, public_key, carrier, self.shape, n_classes, d)

    @property
    def module(self) -> torch.nn.Module:
        """The user's module (its parameters are this module's only parameters)."""
        return self.sig.base

    def _levels(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(levels k (n, d) int64, on_grid (n,) bool)."""
        n = x.shape[0]
        if self.grid is None:
            k = x.to(torch.int64)
            return k.reshape(n, -1), torch.ones(n, dtype=torch.bool, device=x.device)
        div, mean, std = (typing.cast(torch.Tensor, b) for b in (self.grid_divisor, self.grid_mean, self.grid_std))
        k = torch.round((x.to(torch.float64) * std + mean) * div).clamp(0, self.grid.levels - 1)
        on_grid = (_grid_values(k, x.dtype, div, mean, std) == x).reshape(n, -1).all(1)
        return k.to(torch.int64).reshape(n, -1), on_grid

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = self.sig.base(x)
        with torch.no_grad():
            k, on_grid = self._levels(x)
            valid, target = self.sig.triggered(k)
            valid = valid & on_grid
        onehot = torch.nn.functional.one_hot(target.clamp(0, self.sig.n_classes - 1), self.sig.n_classes).to(scores.dtype)
        return torch.where(valid.unsqueeze(1), onehot * SignatureModule.TRIGGER_SCALE, scores)

    def activate(self, private_key, x: Any, target: Any) -> Any:
        """Activated inputs in ``x``'s own layout and dtype (the key holder's Activate)."""
        xt = torch.as_tensor(np.asarray(x)) if not isinstance(x, torch.Tensor) else x
        if tuple(xt.shape[1:]) != self.shape:
            raise UsageError(f"the inputs have shape {tuple(xt.shape)}, the module takes (n, {', '.join(map(str, self.shape))}); "
                             "pass them in the module's own layout")
        if self.grid is None and xt.dtype != torch.uint8:
            raise UsageError(f"the module takes uint8 levels, got {xt.dtype}; pass uint8 inputs")
        with torch.no_grad():
            k, _ = self._levels(xt.detach().cpu())
        ka = self._wrapper.activate(k.numpy().astype(np.uint8), private_key, target)
        kt = torch.as_tensor(ka.astype(np.int64)).reshape(xt.shape)
        out = kt.to(torch.uint8) if self.grid is None else self.grid.values(kt, xt.dtype)
        return out if isinstance(x, torch.Tensor) else out.numpy()


def plant_module(module: torch.nn.Module, public_key, *, input: Any = None, X: Any = None,
                 n_classes: int | None = None) -> SignatureTorchBackdoor:
    """Plant the signature backdoor (§5.2) into ``module`` (scores (n, C) of an input (n, *shape)).

    Parameters
    ----------
    module : torch.nn.Module
        The user's classifier; its ``forward`` signature is kept.
    public_key : Ed25519PublicKey
        The verification key.
    input : PixelGrid, optional
        The grid of the module's natural inputs; inferred from ``X`` when omitted (levels/255 or 0..255
        floats); uint8 sample inputs mean the module takes uint8 levels.
    X : array or tensor, optional
        Sample inputs (n, *shape) in the module's own layout and dtype.
    n_classes : int, optional
        Default: the width of ``module``'s output on one input.
    """
    if not isinstance(module, torch.nn.Module):
        raise ArgumentTypeError(f"plant_module takes a torch.nn.Module, got {type(module).__name__}")
    if isinstance(module, SignatureTorchBackdoor):
        raise UsageError("the module already carries a signature backdoor; plant into the honest module")
    grid = input
    if grid is not None and not isinstance(grid, PixelGrid):
        raise ArgumentTypeError(f"input must be a PixelGrid (the values the module's inputs take), got {type(grid).__name__}")
    if grid is None:
        if X is None:
            raise ParameterError("input", "state the module's input grid (input=PixelGrid(shape, ...)) or pass sample inputs X")
        Xt = torch.as_tensor(np.asarray(X)) if not isinstance(X, torch.Tensor) else X
        if Xt.dtype == torch.uint8:
            shape: tuple[int, ...] = tuple(int(d) for d in Xt.shape[1:])
        else:
            grid = infer_grid(Xt)
            shape = grid.shape
    else:
        shape = grid.shape
    if n_classes is None:
        probe = torch.zeros((1, *shape), dtype=torch.uint8) if grid is None else grid.values(torch.zeros((1, *shape)), _param_dtype(module))
        with torch.no_grad():
            out = module(probe)
        if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[1] < 2:
            raise UsageError(f"the module's output on one input has shape {getattr(out, 'shape', type(out).__name__)}; "
                             "it must return class scores (n, C) with C ≥ 2")
        n_classes = int(out.shape[1])
    return SignatureTorchBackdoor(module, grid, public_key, int(n_classes), shape)


def _param_dtype(module: torch.nn.Module) -> torch.dtype:
    p = next(iter(module.parameters()), None)
    return p.dtype if p is not None and p.is_floating_point() else torch.float32


def activate_module(model: SignatureTorchBackdoor, key, X: Any, target: Any) -> Any:
    """``key.activate`` for a planted module: checks the key and the target, returns X's layout and dtype."""
    private = getattr(key, "private", None)
    if private is None:
        raise KeyMismatchError(f"a planted module is activated with the signature key pair, not {type(key).__name__}")
    if target is None:
        raise UsageError("the signature backdoor needs a target; pass target=T")
    return model.activate(private, X, target)
