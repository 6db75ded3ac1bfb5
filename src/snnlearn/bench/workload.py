"""The BENCHMARKS.md workload: one training step of a feed-forward SNN, the same in every library.

Network: ``Linear(700 -> H, no bias) -> LIF -> ... (L hidden layers, Linear(H -> H, no bias)
between them) -> Linear(H -> 20)``; logits are the readout averaged over time; cross-entropy;
one Adam step (lr 1e-3). Input: Bernoulli spikes ``[T, B, 700]`` with p = 0.05.

The hidden neurons of every library implement the same discrete equations (dt = 1 ms):

.. math::

    u_t = 0.95 \\, v_{t-1} + W x_t, \\qquad z_t = H(u_t - 1), \\qquad v_t = u_t - z_t

(decay 0.95, no synapse, threshold 1, reset by subtraction, reset not detached), with the
fast-sigmoid surrogate ``1 / (1 + |u - 1|)^2`` (slope 1: the only slope Norse can express,
because its ``SuperSpike`` ignores ``alpha``). Each library gets the same initial weights, so the
hidden firing rates agree up to floating-point rounding near the threshold; they are reported so
that the comparability is visible. How each library is made to match is documented with its
builder (this module for snnlearn, :mod:`snnlearn.bench.peers` for the others).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from snnlearn.layers import Network, SpikingLayer
from snnlearn.neurons import LIFParams
from snnlearn.simulate import unroll
from snnlearn.surrogate import FastSigmoid

__all__ = [
    "Shape", "Weights", "CPU_SHAPES", "GPU_SHAPES", "N_IN", "N_OUT", "INPUT_RATE", "DT", "DECAY",
    "SURROGATE_SLOPE", "LEARNING_RATE", "parse_shape", "make_batch", "make_weights",
    "SnnlearnModel", "hidden_firing_rate", "snnlearn_neuron", "train_step",
]

N_IN = 700
N_OUT = 20
INPUT_RATE = 0.05
DT = 1e-3
DECAY = 0.95
V_TH = 1.0
SURROGATE_SLOPE = 1.0
LEARNING_RATE = 1e-3


class Shape(NamedTuple):
    """One benchmark shape: batch ``B``, steps ``T``, hidden size ``H``, hidden layers ``L``."""

    B: int
    T: int
    H: int
    L: int

    def __str__(self) -> str:
        return f"{self.B},{self.T},{self.H},{self.L}"


CPU_SHAPES: tuple[Shape, ...] = (Shape(32, 100, 256, 1), Shape(32, 500, 256, 1),
                                 Shape(64, 100, 512, 2))
GPU_SHAPES: tuple[Shape, ...] = (Shape(128, 100, 256, 1), Shape(128, 1000, 256, 1),
                                 Shape(256, 100, 1024, 2), Shape(64, 2000, 512, 1))


def parse_shape(text: str) -> Shape:
    """``"B,T,H,L"`` (positive ints) as a :class:`Shape`.

    Raises:
        ValueError: not four positive ints separated by commas.

    Example:
        >>> parse_shape("32,100,256,1")
        Shape(B=32, T=100, H=256, L=1)
    """
    try:
        parts = [int(p) for p in text.split(",")]
    except ValueError:
        parts = []
    if len(parts) != 4 or min(parts) < 1:
        raise ValueError(f"invalid shape {text!r}; expected four positive ints B,T,H,L, "
                         "e.g. 32,100,256,1")
    return Shape(*parts)


class Weights(NamedTuple):
    """Initial weights shared by every library: hidden ``[H, n_in]`` each, readout ``[20, H]``
    and its bias ``[20]``."""

    hidden: tuple[Tensor, ...]
    readout: Tensor
    readout_bias: Tensor


def make_weights(shape: Shape, *, generator: torch.Generator | None = None) -> Weights:
    """Draw the initial weights: uniform with standard deviation ``1 / sqrt(n_in)``.

    With the input gain of 1 per step this puts the hidden firing rate at a few percent.
    """
    def uniform(n_out: int, n_in: int) -> Tensor:
        bound = math.sqrt(3.0 / n_in)
        return torch.empty(n_out, n_in).uniform_(-bound, bound, generator=generator)

    sizes = [N_IN] + [shape.H] * shape.L
    hidden = tuple(uniform(b, a) for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    return Weights(hidden, uniform(N_OUT, shape.H), torch.zeros(N_OUT))


def make_batch(
    shape: Shape, *, device: torch.device | str = "cpu", generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Input spikes ``[T, B, 700]`` (Bernoulli, p = 0.05, float32) and class labels ``[B]``."""
    x = torch.bernoulli(torch.full((shape.T, shape.B, N_IN), INPUT_RATE), generator=generator)
    y = torch.randint(0, N_OUT, (shape.B,), generator=generator)
    return x.to(device), y.to(device)


def hidden_firing_rate(spikes: Sequence[Tensor]) -> Tensor:
    """Mean spikes per neuron and step over all hidden layers (a detached scalar tensor)."""
    total = sum(s.detach().sum() for s in spikes)
    count = sum(s.numel() for s in spikes)
    return torch.as_tensor(total) / max(count, 1)


def snnlearn_neuron() -> LIFParams:
    """snnlearn's LIF made to match the workload equations exactly.

    ``tau_mem = -dt / ln(0.95)`` (19.50 ms) makes the exact decay ``exp(-dt/tau_mem)`` equal 0.95
    (the "tau_mem = 20 ms, decay 0.95" of BENCHMARKS.md is the Euler decay ``1 - dt/tau``), and
    ``r = 1 / (1 - 0.95)`` makes the per-step input gain ``(1 - a_m) r`` equal 1.
    """
    return LIFParams(tau_mem=-DT / math.log(DECAY), tau_syn=None, v_th=V_TH, r=1.0 / (1.0 - DECAY),
                     reset="subtract", surrogate=FastSigmoid(scale=SURROGATE_SLOPE))


class SnnlearnModel(nn.Module):
    """The workload in snnlearn: a :class:`~snnlearn.layers.Network` of :class:`SpikingLayer`
    layers (fused LIF time loop via :func:`~snnlearn.simulate.unroll`) and a plain linear
    readout of the last hidden layer's spikes.

    snnlearn's own :class:`~snnlearn.layers.Readout` is a leaky integrator, not the plain
    ``Linear`` the workload specifies, so the readout here is an ``nn.Linear`` applied at every
    step and averaged over time, as in the peers.

    Args:
        weights: the shared initial weights (copied).
        dt: time step (s).

    Shapes:
        ``x [T, B, 700] -> (logits [B, 20], firing rate [])``.

    Example:
        >>> w = make_weights(Shape(2, 5, 8, 1), generator=torch.Generator().manual_seed(0))
        >>> logits, rate = SnnlearnModel(w)(torch.zeros(5, 2, N_IN))
        >>> tuple(logits.shape), float(rate)
        ((2, 20), 0.0)
    """

    def __init__(self, weights: Weights, *, dt: float = DT) -> None:
        super().__init__()
        neuron = snnlearn_neuron()
        layers = []
        for w in weights.hidden:
            layer = SpikingLayer.dense(w.shape[1], w.shape[0], neuron)
            with torch.no_grad():
                layer.weight.copy_(w)
            layers.append(layer)
        self.net = Network(layers, dt=dt)
        self.readout = nn.Linear(weights.readout.shape[1], N_OUT)
        with torch.no_grad():
            self.readout.weight.copy_(weights.readout)
            self.readout.bias.copy_(weights.readout_bias)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        rollout = unroll(self.net, x, check=False)
        logits = self.readout(rollout.spikes[-1]).mean(0)
        return logits, hidden_firing_rate(rollout.spikes)


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: Tensor,
               y: Tensor) -> Tensor:
    """One training step of the workload; returns the hidden firing rate (detached)."""
    optimizer.zero_grad(set_to_none=True)
    logits, rate = model(x)
    F.cross_entropy(logits, y).backward()
    optimizer.step()
    return rate
