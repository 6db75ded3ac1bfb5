"""Surrogate gradients for the Heaviside spike nonlinearity.

The forward pass is always the strict Heaviside step ``z = H(x) = [x > 0]`` (NIR's convention,
a membrane exactly at threshold does not fire). The backward pass replaces the Dirac delta
``dH/dx`` by a smooth pseudo-derivative ``sigma'(x)``. Every surrogate is a small frozen
dataclass with one ``scale`` parameter; its ``derivative`` is written in a numerically stable
form (finite for any finite input).

Surrogates (``x = v - v_th``, dimensionless):

- :class:`FastSigmoid` (SuperSpike, Zenke & Ganguli 2018): ``sigma'(x) = 1 / (scale*|x| + 1)^2``;
  peak 1, full width at half maximum ``2 (sqrt(2) - 1) / scale``.
- :class:`ATan` (Fang et al. 2021): ``sigma'(x) = 1 / (1 + (pi/2 * scale * x)^2)``; peak 1,
  FWHM ``4 / (pi * scale)``.
- :class:`Triangle` (Esser et al. 2016; Bellec et al. 2018): ``sigma'(x) = max(0, 1 - scale*|x|)``;
  peak 1, FWHM ``1 / scale``, zero outside ``|x| < 1 / scale``.

All have peak 1 at threshold, so ``scale`` changes only the width and results stay comparable
when the surrogate is swapped.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

__all__ = ["Surrogate", "FastSigmoid", "ATan", "Triangle", "spike", "SURROGATES"]


class Surrogate(ABC):
    """Abstract pseudo-derivative of the Heaviside step; concrete classes are final."""

    @abstractmethod
    def derivative(self, x: Tensor) -> Tensor:
        """Return ``sigma'(x)`` elementwise (same shape and dtype as ``x``)."""


def _check_scale(name: str, scale: float) -> None:
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"{name}.scale must be a finite number > 0, got {scale!r}")


@dataclass(frozen=True)
class FastSigmoid(Surrogate):
    """SuperSpike fast-sigmoid pseudo-derivative ``1 / (scale*|x| + 1)^2``.

    Args:
        scale: steepness (dimensionless, > 0). Peak 1 at ``x = 0``; FWHM ``2(sqrt 2 - 1)/scale``.

    Example:
        >>> import torch
        >>> FastSigmoid(scale=10.0).derivative(torch.tensor([0.0, 0.1]))
        tensor([1.0000, 0.2500])

    References:
        Zenke, F. & Ganguli, S. (2018). SuperSpike. Neural Computation 30(6).
        doi:10.1162/neco_a_01086
    """

    scale: float = 10.0

    def __post_init__(self) -> None:
        _check_scale("FastSigmoid", self.scale)

    def derivative(self, x: Tensor) -> Tensor:
        return (self.scale * x.abs() + 1.0).reciprocal().square()


@dataclass(frozen=True)
class ATan(Surrogate):
    """Arctangent pseudo-derivative ``1 / (1 + (pi/2 * scale * x)^2)``.

    Args:
        scale: steepness (dimensionless, > 0). Peak 1 at ``x = 0``; FWHM ``4 / (pi * scale)``.

    Example:
        >>> import torch
        >>> ATan(scale=2.0).derivative(torch.tensor([0.0]))
        tensor([1.])

    References:
        Fang, W. et al. (2021). Incorporating learnable membrane time constant to enhance
        learning of spiking neural networks. ICCV. doi:10.1109/ICCV48922.2021.00266
    """

    scale: float = 2.0

    def __post_init__(self) -> None:
        _check_scale("ATan", self.scale)

    def derivative(self, x: Tensor) -> Tensor:
        return (1.0 + (0.5 * math.pi * self.scale * x).square()).reciprocal()


@dataclass(frozen=True)
class Triangle(Surrogate):
    """Triangular (piecewise-linear) pseudo-derivative ``max(0, 1 - scale*|x|)``.

    Args:
        scale: inverse half-support (dimensionless, > 0). Peak 1; FWHM ``1 / scale``.

    Example:
        >>> import torch
        >>> Triangle(scale=1.0).derivative(torch.tensor([0.0, 0.5, 2.0]))
        tensor([1.0000, 0.5000, 0.0000])

    References:
        Bellec, G. et al. (2018). Long short-term memory and learning-to-learn in networks of
        spiking neurons. NeurIPS. arXiv:1803.09574
    """

    scale: float = 1.0

    def __post_init__(self) -> None:
        _check_scale("Triangle", self.scale)

    def derivative(self, x: Tensor) -> Tensor:
        return (1.0 - self.scale * x.abs()).clamp(min=0.0)


SURROGATES: dict[str, type[Surrogate]] = {
    "fast_sigmoid": FastSigmoid,
    "atan": ATan,
    "triangle": Triangle,
}


class _SpikeFunction(torch.autograd.Function):
    """Heaviside forward, surrogate backward (ctx-free forward for ``torch.func``)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, surrogate: Surrogate) -> Tensor:  # type: ignore[override]
        return (x > 0).to(x.dtype)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Tensor, Surrogate], output: Tensor) -> None:
        x, surrogate = inputs
        ctx.surrogate = surrogate
        ctx.save_for_backward(x)

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad_output * ctx.surrogate.derivative(x), None


def spike(x: Tensor, surrogate: Surrogate) -> Tensor:
    """Strict Heaviside ``[x > 0]`` with the pseudo-derivative of ``surrogate`` in backward.

    Args:
        x: distance to threshold ``v - v_th`` (dimensionless), any shape.
        surrogate: the pseudo-derivative used by the backward pass.

    Returns:
        Spikes (0/1) with the dtype and shape of ``x``.

    Example:
        >>> import torch
        >>> x = torch.tensor([-0.5, 0.0, 0.2], requires_grad=True)
        >>> z = spike(x, FastSigmoid(scale=1.0))
        >>> z.detach()
        tensor([0., 0., 1.])
        >>> z.sum().backward(); x.grad
        tensor([0.4444, 1.0000, 0.6944])
    """
    if not isinstance(surrogate, Surrogate):
        raise TypeError(
            f"surrogate must be a snnlearn.surrogate.Surrogate (e.g. FastSigmoid()), "
            f"got {type(surrogate).__name__}"
        )
    return _SpikeFunction.apply(x, surrogate)
