"""``SpikingLayer``: a synapse and a population of spiking neurons; weights only, state returned.

Per step: ``I_t = syn(x_t) + W_rec z_{t-1}`` (the recurrent term only when ``recurrent=True``;
``W_rec`` has no self-connections), then the neuron model's step turns ``I_t`` into spikes
``z_t``. The layer's output is ``z_t`` (binary spikes) or, with ``graded=True``, the graded spikes
``g \\odot z_t`` with a learnable amplitude ``g`` per neuron (initially 1), as Loihi 2's graded
spikes carry a payload.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from snnlearn.layers.synapses import Conv1d, Conv2d, Dense, init_uniform_
from snnlearn.neurons import (
    ALIFParams,
    ALIFState,
    HHParams,
    HHState,
    IzhikevichParams,
    IzhikevichState,
    LIFParams,
    LIFState,
    LIParams,
)

__all__ = ["SpikingLayer", "NeuronParams", "NeuronState", "Synapse", "neuron_id"]

NeuronParams = LIFParams | ALIFParams | IzhikevichParams | HHParams
NeuronState = LIFState | ALIFState | IzhikevichState | HHState
Synapse = nn.Module
"""A synapse module (:class:`~snnlearn.layers.Dense`, ``Conv1d``, ``Conv2d``, ``Delayed``): it has
``kind``, ``in_shape``, ``out_shape``, ``weight``, ``bias``, ``fan_out`` and ``constrain_()``."""

_NEURON_IDS = {LIFParams: "lif", ALIFParams: "alif", IzhikevichParams: "izhikevich",
               HHParams: "hh"}


def neuron_id(neuron: object) -> str:
    """The registry id of a neuron parameter object (``"lif"``, ``"alif"``, ``"li"``, ...)."""
    from snnlearn.neurons import LIParams

    if isinstance(neuron, LIParams):
        return "li"
    return _NEURON_IDS.get(type(neuron), type(neuron).__name__)


class SpikingLayer(nn.Module):
    """A synapse feeding a population of spiking neurons (optionally recurrent, graded).

    Args:
        synapse: the feed-forward synapse (:class:`~snnlearn.layers.Dense`,
            :class:`~snnlearn.layers.Conv1d`, :class:`~snnlearn.layers.Conv2d` or
            :class:`~snnlearn.layers.Delayed`).
        neuron: neuron parameters (:class:`LIFParams` (default), :class:`ALIFParams`,
            :class:`IzhikevichParams` or :class:`HHParams`; the last two take inputs in mV or
            uA/cm^2, so their weights must be scaled accordingly).
        recurrent: add all-to-all recurrent synapses ``W_rec`` (no self-connections); only for
            layers with one feature axis (dense or delayed synapses).
        graded: multiply the spikes by a learnable amplitude per neuron (graded spikes).
        generator: random generator for the recurrent weights.

    Attributes:
        weight: the synapse's (effective, signed) weight.
        bias: the synapse's bias or ``None``.
        recurrent_weight: ``[N, N]`` or ``None``.
        amplitude: the graded-spike amplitude ``[*out_shape]`` or ``None``.

    Shapes:
        ``project``: ``[..., *in_shape] -> [..., *out_shape]``; ``step``:
        ``[B, *out_shape] -> [B, *out_shape]``.

    Example:
        >>> import torch
        >>> layer = SpikingLayer.dense(3, 2, generator=torch.Generator().manual_seed(0))
        >>> s = layer.initial_state(4)
        >>> z, s = layer.step(layer.project(torch.ones(4, 3)), s, dt=1e-3)
        >>> tuple(z.shape), layer.synapse.kind
        ((4, 2), 'dense')
    """

    def __init__(self, synapse: Synapse, neuron: NeuronParams | None = None, *,
                 recurrent: bool = False, graded: bool = False,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        if not all(hasattr(synapse, a) for a in ("kind", "in_shape", "out_shape", "weight")):
            raise ValueError(f"SpikingLayer.synapse must be a synapse (Dense, Conv1d, Conv2d, "
                             f"Delayed), got {type(synapse).__name__}")
        neuron = LIFParams() if neuron is None else neuron
        if isinstance(neuron, LIParams) or not isinstance(
                neuron, (LIFParams, ALIFParams, IzhikevichParams, HHParams)) and not (
                callable(getattr(neuron, "step", None))
                and callable(getattr(neuron, "initial_state", None))):
            raise ValueError(
                "SpikingLayer.neuron must be LIFParams, ALIFParams, IzhikevichParams, HHParams "
                "or a spiking neuron model with step(x, state, dt) and initial_state(shape, "
                f"device=, dtype=), got {type(neuron).__name__}")
        for name, flag in (("recurrent", recurrent), ("graded", graded)):
            if not isinstance(flag, bool):
                raise ValueError(f"SpikingLayer.{name} must be True or False, got {flag!r}")
        if recurrent and len(synapse.out_shape) != 1:
            raise ValueError(f"SpikingLayer: recurrent synapses need a layer with one feature "
                             f"axis (dense or delayed), got a {synapse.kind} layer of shape "
                             f"{synapse.out_shape}; add flatten and a dense recurrent layer")
        if recurrent and graded:
            raise ValueError("SpikingLayer: graded spikes in a recurrent layer are not "
                             "supported; use graded=False or recurrent=False")
        self.synapse, self.neuron = synapse, neuron
        self.in_shape, self.out_shape = tuple(synapse.in_shape), tuple(synapse.out_shape)
        self.n_in, self.n_out = math.prod(self.in_shape), math.prod(self.out_shape)
        self.recurrent, self.graded = recurrent, graded
        factory = {"device": synapse.weight.device, "dtype": synapse.weight.dtype}
        self.recurrent_weight = (nn.Parameter(torch.empty(self.n_out, self.n_out, **factory))
                                 if recurrent else None)
        self.amplitude = (nn.Parameter(torch.ones(self.out_shape, **factory))
                          if graded else None)
        self._reset_own(generator)

    @classmethod
    def dense(cls, n_in: int, n_out: int, neuron: NeuronParams | None = None, *,
              recurrent: bool = False, bias: bool = False, weight_scale: float = 1.0,
              dale: float | None = None, graded: bool = False,
              generator: torch.Generator | None = None,
              device: torch.device | str | None = None,
              dtype: torch.dtype | None = None) -> SpikingLayer:
        """A layer with :class:`~snnlearn.layers.Dense` synapses (the usual fully connected one)."""
        syn = Dense(n_in, n_out, bias=bias, weight_scale=weight_scale, dale=dale,
                    generator=generator, device=device, dtype=dtype)
        return cls(syn, neuron, recurrent=recurrent, graded=graded, generator=generator)

    @classmethod
    def conv(cls, in_shape: tuple[int, ...], channels: int, kernel: int,
             neuron: NeuronParams | None = None, *, stride: int = 1,
             padding: int | str = "same", bias: bool = False, weight_scale: float = 1.0,
             dale: float | None = None, graded: bool = False,
             generator: torch.Generator | None = None,
             device: torch.device | str | None = None,
             dtype: torch.dtype | None = None) -> SpikingLayer:
        """A layer with :class:`~snnlearn.layers.Conv1d` (``[C, L]`` input) or
        :class:`~snnlearn.layers.Conv2d` (``[C, H, W]`` input) synapses."""
        kind = Conv1d if len(in_shape) == 2 else Conv2d
        syn = kind(in_shape, channels, kernel, stride=stride, padding=padding, bias=bias,
                   weight_scale=weight_scale, dale=dale, generator=generator, device=device,
                   dtype=dtype)
        return cls(syn, neuron, graded=graded, generator=generator)

    @property
    def weight(self) -> Tensor:
        """The synapse's effective (signed) weight."""
        return self.synapse.weight

    @property
    def bias(self) -> Tensor | None:
        """The synapse's bias (``None`` without one)."""
        return self.synapse.bias

    @property
    def weight_scale(self) -> float:
        """The synapse's initial weight scale."""
        return self.synapse.weight_scale

    def _reset_own(self, generator: torch.Generator | None) -> None:
        if self.recurrent_weight is not None:
            init_uniform_(self.recurrent_weight, self.synapse.weight_scale, generator)
            with torch.no_grad():
                self.recurrent_weight.fill_diagonal_(0.0)
        if self.amplitude is not None:
            with torch.no_grad():
                self.amplitude.fill_(1.0)

    def reset_parameters(self, *, generator: torch.Generator | None = None) -> None:
        """Draw fresh initial weights (zero bias, zero recurrent diagonal, unit amplitudes)."""
        self.synapse.reset_parameters(generator=generator)
        self._reset_own(generator)

    def constrain_(self) -> None:
        """Project the weights back onto their constraints (Dale's law), in place."""
        self.synapse.constrain_()

    def project(self, x: Tensor) -> Tensor:
        """Feed-forward input current for one step or a whole sequence."""
        return self.synapse(x)

    def initial_state(
        self, batch_size: int, *, device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> NeuronState:
        """Resting neuron state ``[batch_size, *out_shape]``.

        A layer with a ``theta`` buffer (per-neuron threshold offsets, e.g. the adaptive
        thresholds of Diehl & Cook's excitatory layer) puts it into a state with a ``theta``
        field.
        """
        state = self.neuron.initial_state(
            (batch_size, *self.out_shape), device=device or self.weight.device,
            dtype=dtype or self.weight.dtype)
        theta = self._buffers.get("theta")
        if theta is not None and "theta" in getattr(state, "_fields", ()):
            state = state._replace(theta=theta.to(state.theta).expand_as(state.theta))
        return state

    def masked_recurrent_weight(self) -> Tensor | None:
        """``W_rec`` with its diagonal set to zero (what the dynamics use), or ``None``."""
        w = self.recurrent_weight
        if w is None:
            return None
        return w - torch.diag_embed(torch.diagonal(w))

    def step(self, current: Tensor, state: Any, dt: float) -> tuple[Tensor, Any]:
        """One step: add the recurrent current (if any), advance the neurons, grade the spikes.

        The diagonal of ``recurrent_weight`` is excluded (no self-connections): its
        contribution is subtracted again, so it gets an exactly zero gradient.
        """
        if self.recurrent_weight is not None:
            w = self.recurrent_weight
            current = current + (F.linear(state.z, w) - state.z * torch.diagonal(w))
        z, state = self.neuron.step(current, state, dt)  # type: ignore[arg-type]
        return self.grade(z), state

    def grade(self, z: Tensor) -> Tensor:
        """The layer's output for spikes ``z``: ``z`` itself, or ``amplitude * z`` if graded."""
        return z if self.amplitude is None else z * self.amplitude

    def extra_repr(self) -> str:
        return (f"{self.synapse.kind}, recurrent={self.recurrent}, graded={self.graded}, "
                f"neuron={self.neuron}")
