"""Stateless layers between spiking layers: pooling, flatten, dropout, normalisation, any module.

Each maps ``[..., *in_shape]`` to ``[..., *out_shape]`` at every time step; the leading axes
(time, batch) pass through. They hold no neuron state (their entry in a network state is
``None``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["Pool", "Flatten", "Dropout", "Norm", "TorchModule", "Transform", "POOL_KINDS"]

PoolKind = Literal["sum", "avg", "max"]
POOL_KINDS: tuple[PoolKind, ...] = ("sum", "avg", "max")


def _shape(owner: str, in_shape: Sequence[int]) -> tuple[int, ...]:
    shape = tuple(in_shape)
    if not shape or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0
                            for n in shape):
        raise ValueError(f"{owner} needs an input shape of positive ints, got {in_shape!r}")
    return shape


def _flat(x: Tensor, in_shape: tuple[int, ...]) -> tuple[Tensor, tuple[int, ...]]:
    lead = tuple(x.shape[: x.ndim - len(in_shape)])
    return x.reshape(-1, *in_shape), lead


class Pool(nn.Module):
    """Spatial pooling over ``[C, L]`` or ``[C, H, W]`` (non-overlapping windows of ``size``).

    ``"sum"`` (NIR ``SumPool2d``: spikes add up), ``"avg"`` or ``"max"``.

    Args:
        in_shape: input shape ``(C, L)`` or ``(C, H, W)``.
        size: window (and stride) along each spatial axis.
        kind: ``"sum"``, ``"avg"`` or ``"max"``.

    Example:
        >>> import torch
        >>> Pool((1, 4, 4), 2)(torch.ones(3, 2, 1, 4, 4)).shape
        torch.Size([3, 2, 1, 2, 2])
    """

    def __init__(self, in_shape: Sequence[int], size: int, kind: PoolKind = "sum") -> None:
        super().__init__()
        self.in_shape = _shape("Pool", in_shape)
        if len(self.in_shape) not in (2, 3):
            raise ValueError(f"Pool needs an input shape [C, L] or [C, H, W], got "
                             f"{self.in_shape}; put pool after a conv layer")
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"Pool.size must be a positive int, got {size!r}")
        if kind not in POOL_KINDS:
            raise ValueError(f"Pool.kind must be one of {', '.join(POOL_KINDS)}, got {kind!r}")
        if min(self.in_shape[1:]) < size:
            raise ValueError(f"Pool: window {size} is larger than the input {self.in_shape}")
        self.size, self.kind = size, kind
        self.out_shape = (self.in_shape[0], *(n // size for n in self.in_shape[1:]))

    def forward(self, x: Tensor) -> Tensor:
        flat, lead = _flat(x, self.in_shape)
        two_d = len(self.in_shape) == 3
        if self.kind == "max":
            out = (F.max_pool2d if two_d else F.max_pool1d)(flat, self.size)
        else:
            out = (F.avg_pool2d if two_d else F.avg_pool1d)(flat, self.size)
            if self.kind == "sum":
                out = out * self.size ** (len(self.in_shape) - 1)
        return out.reshape(*lead, *self.out_shape)

    def extra_repr(self) -> str:
        return f"size={self.size}, kind={self.kind!r}"


class Flatten(nn.Module):
    """Flatten the feature axes: ``[..., *in_shape] -> [..., prod(in_shape)]``.

    Example:
        >>> import torch
        >>> Flatten((2, 3, 3))(torch.ones(4, 5, 2, 3, 3)).shape
        torch.Size([4, 5, 18])
    """

    def __init__(self, in_shape: Sequence[int]) -> None:
        super().__init__()
        self.in_shape = _shape("Flatten", in_shape)
        self.out_shape = (math.prod(self.in_shape),)

    def forward(self, x: Tensor) -> Tensor:
        flat, lead = _flat(x, self.in_shape)
        return flat.reshape(*lead, *self.out_shape)


class Dropout(nn.Module):
    """Dropout with one mask per sample held over the whole sequence (time-consistent).

    In training mode a whole sequence ``[T, B, ...]`` gets a mask ``[B, ...]`` (kept with
    probability ``1 - p``, survivors scaled by ``1 / (1 - p)``), drawn from torch's global
    generator, which the runner seeds per epoch; a single step draws its own mask. In
    evaluation mode it is the identity.

    Args:
        in_shape: feature shape.
        p: drop probability in ``[0, 1)``.
    """

    def __init__(self, in_shape: Sequence[int], p: float = 0.1) -> None:
        super().__init__()
        self.in_shape = self.out_shape = _shape("Dropout", in_shape)
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
            raise ValueError(f"Dropout.p must be in [0, 1), got {p!r}")
        self.p = float(p)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return x
        mask_shape = x.shape[1:] if x.ndim == len(self.in_shape) + 2 else x.shape
        keep = (torch.rand(mask_shape, device=x.device) >= self.p).to(x.dtype) / (1 - self.p)
        return x * keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Norm(nn.Module):
    """Batch normalisation of the feature channels with statistics over time, batch and space.

    Channel axis: the first feature axis. Learnable scale and shift per channel; running
    statistics (buffers) are used in evaluation mode.

    Args:
        in_shape: feature shape ``(C, ...)``.
        momentum: running-statistics momentum.
    """

    def __init__(self, in_shape: Sequence[int], momentum: float = 0.1) -> None:
        super().__init__()
        self.in_shape = self.out_shape = _shape("Norm", in_shape)
        self.norm = nn.BatchNorm1d(self.in_shape[0], momentum=momentum)

    def forward(self, x: Tensor) -> Tensor:
        flat, lead = _flat(x, self.in_shape)
        c = self.in_shape[0]
        out = self.norm(flat.reshape(flat.shape[0], c, -1))
        return out.reshape(*lead, *self.out_shape)


class TorchModule(nn.Module):
    """Any torch module applied at every time step to ``[N, *in_shape]`` (``N = T * B``).

    Only rules that differentiate with autograd can train through it (see each rule's support
    matrix).

    Args:
        module: the module; it must map ``[N, *in_shape]`` to ``[N, *out_shape]``.
        in_shape: its input feature shape (the output shape is found by one call on zeros).
    """

    def __init__(self, module: nn.Module, in_shape: Sequence[int]) -> None:
        super().__init__()
        self.module, self.in_shape = module, _shape("TorchModule", in_shape)
        p = next(module.parameters(), None)
        probe = torch.zeros(1, *self.in_shape,
                            dtype=p.dtype if p is not None else torch.get_default_dtype())
        with torch.no_grad():
            self.out_shape = tuple(module(probe).shape[1:])

    def forward(self, x: Tensor) -> Tensor:
        flat, lead = _flat(x, self.in_shape)
        out = self.module(flat)
        return out.reshape(*lead, *self.out_shape)


Transform = Pool | Flatten | Dropout | Norm | TorchModule
