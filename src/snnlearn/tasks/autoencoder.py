r"""A spiking auto-encoder of the digits: rate-coded 8 x 8 images reconstructed by the readout.

Inputs are the scikit-learn digits (the splits of :mod:`snnlearn.tasks.digits`), Poisson-coded
at ``p * max_rate`` Hz over ``n_steps`` steps. The network (task defaults) is one recurrent layer
of adaptive-threshold (ALIF) neurons, whose lateral synapses carry the feedback inhibition, and a
64-unit leaky-integrator readout; the reconstruction is the readout's time-averaged membrane

.. math::  \hat x_b = \frac{1}{T} \sum_t y_{t,b}

and the coding loss is the mean squared error ``mean_i (x_i - \hat x_i)^2`` (pixels in
``[0, 1]``). The activity loss is the runner's ``activity_reg``
(:func:`snnlearn.losses.activity_regularizer`), so a run minimises coding + activity loss.

Labels are sample ids (an index into all 1797 images), by which :meth:`loss` finds the image to
reconstruct. The score (the run's ``test_accuracy``) is the variance explained relative to
decoding every sample as the mean training image, ``max(0, 1 - |x - \hat x|^2 / |x - m|^2)``
per sample; :meth:`metrics` reports ``coding_loss`` (the MSE). :meth:`predict` names the stored
image nearest to the reconstruction.

:func:`autoencoder_operating_point` changes one number of a trained network at run time, the
scale of every hidden threshold (``knob="threshold"``), or that scale with each spike's
downstream weight scaled alike (``knob="spike_size"``): the trade-off curve of one network
(``benchmarks/energy_tradeoff.py``).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import numbers
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor

from snnlearn.encoders import poisson_encode
from snnlearn.layers import Network, SpikingLayer
from snnlearn.neurons import ALIFParams, LIFParams, LIParams
from snnlearn.neurons._checks import check_dt
from snnlearn.tasks.base import SPLITS, Split, Task, TaskData, TaskDefaults
from snnlearn.tasks.digits import _load_splits

__all__ = ["AutoEncoder", "Knob", "autoencoder_operating_point"]

Knob = Literal["spike_size", "threshold"]


def autoencoder_operating_point(net: Network, scale: float, *,
                                knob: Knob = "spike_size") -> Network:
    """A copy of ``net`` at another operating point, set by one number ``scale`` (``s``).

    ``knob="threshold"``: every hidden threshold is ``s`` times the trained one (LIF
    ``v_th -> s v_th``; ALIF also the adaptation jump ``beta_a -> s beta_a``, so the whole
    adaptive threshold ``v_th + beta_a a`` scales). ``knob="spike_size"``: the same, and every
    hidden spike also counts ``s`` times as much downstream (recurrent and readout weights
    ``x s``), so a neuron that fires ``s`` times less often still delivers the same signal;
    with ``v_reset = v_leak = 0`` this is the trained network with its input weights divided
    by ``s`` and its readout multiplied by ``s``. The original network is not changed.

    Raises:
        ValueError: ``scale`` not a finite number > 0, or an unknown ``knob``.

    Example:
        >>> from snnlearn.layers import build_network
        >>> net = build_network(4, [3], 2, dt=1e-3)
        >>> autoencoder_operating_point(net, 2.0, knob="threshold").layers[0].neuron.v_th
        2.0
    """
    if (isinstance(scale, bool) or not isinstance(scale, numbers.Real)
            or not (math.isfinite(scale) and scale > 0)):
        raise ValueError(f"scale must be a finite number > 0, got {scale!r}")
    if knob not in get_args(Knob):
        raise ValueError(f"knob must be one of {list(get_args(Knob))}, got {knob!r}")
    out = copy.deepcopy(net)
    for layer in out.spiking_layers:
        neuron = layer.neuron
        if isinstance(neuron, ALIFParams):
            lif = dataclasses.replace(neuron.lif, v_th=neuron.lif.v_th * scale)
            layer.neuron = dataclasses.replace(neuron, lif=lif,
                                               adaptation=neuron.adaptation * scale)
        elif isinstance(neuron, LIFParams):
            layer.neuron = dataclasses.replace(neuron, v_th=neuron.v_th * scale)
    if knob == "spike_size":
        with torch.no_grad():
            for k, layer in enumerate(out.layers):
                if isinstance(layer, SpikingLayer) and layer.recurrent_weight is not None:
                    layer.recurrent_weight.mul_(scale)
                if k > 0 and isinstance(out.layers[k - 1], SpikingLayer):
                    layer.weight.mul_(scale)  # the synapses of the layer the spikes reach
    return out


def _positive(name: str, value: object) -> float:
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not (math.isfinite(float(value)) and float(value) > 0)):
        raise ValueError(f"AutoEncoder.{name} must be a finite number > 0, got {value!r}")
    return float(value)


class AutoEncoder(Task):
    """Reconstruct rate-coded digits through a spiking bottleneck (see the module docstring).

    Args:
        n_steps: time steps of one sample (int >= 1).
        dt: time step (s, > 0).
        max_rate: input rate of a white pixel (Hz, > 0).
        seed: seed of the split (as :class:`~snnlearn.tasks.digits.Digits`).

    Shapes:
        raw inputs ``[N, 64]`` (intensities); encoded ``[n_steps, B, 64]``; outputs
        ``[n_steps, B, 64]`` (readout membrane).

    Raises:
        ValueError: a size, time or rate out of range.

    Example:
        >>> task = AutoEncoder(n_steps=10)
        >>> test = task.split("test")
        >>> perfect = test.inputs[None].expand(10, -1, -1)
        >>> float(task.loss(perfect, test.labels)), float(task.score(perfect, test.labels).min())
        (0.0, 1.0)
    """

    name = "autoencoder"

    def __init__(self, *, n_steps: int = 25, dt: float = 1e-3, max_rate: float = 200.0,
                 seed: int = 0) -> None:
        if isinstance(n_steps, bool) or not isinstance(n_steps, numbers.Integral) or n_steps < 1:
            raise ValueError(f"AutoEncoder.n_steps must be an int >= 1, got {n_steps!r}")
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise ValueError(f"AutoEncoder.seed must be an int >= 0, got {seed!r}")
        self.n_steps, self.dt = int(n_steps), check_dt(dt)
        self.max_rate, self.seed = _positive("max_rate", max_rate), int(seed)
        self.n_in = self.n_out = 64
        self.defaults = TaskDefaults(
            hidden=(100,), neuron=ALIFParams(lif=LIFParams(tau_mem=20e-3, tau_syn=5e-3),
                                             tau_adapt=50e-3, adaptation=0.5),
            readout=LIParams(tau_mem=10e-3, tau_syn=5e-3), recurrent=True, gain=1.0, epochs=5,
            batch_size=32, lr=1e-2,
        )
        splits = _load_splits(self.seed)  # digits splits; the labels become sample ids
        self.images = torch.cat([splits[s].inputs for s in SPLITS])
        start, self._data = 0, {}
        for s in SPLITS:
            n = len(splits[s])
            self._data[s] = TaskData(splits[s].inputs, torch.arange(start, start + n))
            start += n
        self.mean_image = splits["train"].inputs.mean(dim=0)

    def split(self, split: Split) -> TaskData:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
        return self._data[split]

    def encode(self, inputs: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """Poisson spikes ``[n_steps, B, 64]`` at ``p * max_rate`` from intensities ``[B, 64]``."""
        if inputs.ndim != 2 or inputs.shape[1] != self.n_in:
            raise ValueError(f"AutoEncoder inputs must be intensities [B, 64], got "
                             f"{tuple(inputs.shape)}")
        return poisson_encode(inputs.float() * self.max_rate, self.n_steps, self.dt,
                              generator=generator)

    def reconstruct(self, outputs: Tensor) -> Tensor:
        """The reconstruction ``[B, 64]``: the readout membrane averaged over time."""
        if outputs.ndim != 3 or outputs.shape[-1] != self.n_out:
            raise ValueError(f"AutoEncoder outputs must be [T, B, 64], got "
                             f"{tuple(outputs.shape)}")
        return outputs.mean(dim=0)

    def _images(self, labels: Tensor, like: Tensor) -> Tensor:
        return self.images[labels.cpu()].to(like)

    def loss(self, outputs: Tensor, labels: Tensor) -> Tensor:
        """The coding loss: mean squared reconstruction error over pixels and batch."""
        x_hat = self.reconstruct(outputs)
        return F.mse_loss(x_hat, self._images(labels, x_hat))

    def predict(self, outputs: Tensor) -> Tensor:
        """The id of the stored image nearest to each reconstruction ``[B]``."""
        x_hat = self.reconstruct(outputs)
        return torch.cdist(x_hat, self.images.to(x_hat)).argmin(dim=1)

    def score(self, outputs: Tensor, labels: Tensor) -> Tensor:
        """Variance explained relative to the mean training image, clipped to ``[0, 1]``."""
        x_hat = self.reconstruct(outputs)
        x = self._images(labels, x_hat)
        base = (x - self.mean_image.to(x)).square().sum(dim=1).clamp(min=1e-12)
        return (1 - (x - x_hat).square().sum(dim=1) / base).clamp(0.0, 1.0).float()

    def metrics(self, outputs: Tensor, labels: Tensor) -> dict[str, Tensor]:
        """``coding_loss``: the per-sample mean squared reconstruction error."""
        x_hat = self.reconstruct(outputs)
        return {"coding_loss": (x_hat - self._images(labels, x_hat)).square().mean(dim=1)}
