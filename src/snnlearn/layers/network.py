"""``Network``: a stack of layers with explicit state, and a builder for the usual architecture."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from snnlearn.layers.delay import DelayedDense, DelayParams
from snnlearn.layers.dense import NeuronParams, SpikingDense
from snnlearn.layers.readout import Readout
from snnlearn.neurons import LIFParams, LIParams
from snnlearn.neurons._checks import check_dt

__all__ = ["Network", "Record", "build_network"]

Layer = SpikingDense | Readout


class Record(NamedTuple):
    """What one step of a :class:`Network` exposes besides its output.

    Attributes:
        spikes: spikes ``[B, N_l]`` of each spiking layer, in order.
        membranes: membrane ``v`` ``[B, N_l]`` of every layer (readout included), in order.
    """

    spikes: tuple[Tensor, ...]
    membranes: tuple[Tensor, ...]


class Network(nn.Module):
    """A stack of :class:`SpikingDense` layers, optionally ending in a :class:`Readout`.

    The network holds weights and the step length ``dt`` only; its state is a tuple with one
    neuron state per layer, created by :meth:`initial_state` and returned by :meth:`step`.

    Args:
        layers: the layers, input to output; each ``n_in`` must equal the previous ``n_out``.
            Only the last layer may be a :class:`Readout`.
        dt: simulation time step (s, > 0).

    Shapes:
        ``step``: ``x_t [B, n_in] -> out_t [B, n_out]``.

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> net = Network([SpikingDense(3, 8, generator=g), Readout(8, 2, generator=g)], dt=1e-3)
        >>> out, state, rec = net.step(torch.ones(4, 3), net.initial_state(4))
        >>> tuple(out.shape), len(rec.spikes)
        ((4, 2), 1)
    """

    def __init__(self, layers: Sequence[Layer], *, dt: float) -> None:
        super().__init__()
        if len(layers) == 0:
            raise ValueError("Network needs at least one layer, got an empty list")
        for k, layer in enumerate(layers):
            if not isinstance(layer, (SpikingDense, Readout)):
                raise ValueError(
                    f"Network layer {k} must be SpikingDense or Readout, got {type(layer).__name__}"
                )
            if isinstance(layer, Readout) and k != len(layers) - 1:
                raise ValueError(f"Network: a Readout may only be the last layer, found at {k}")
            if k > 0 and layer.n_in != layers[k - 1].n_out:
                raise ValueError(
                    f"Network layer {k} expects {layer.n_in} inputs but layer {k - 1} has "
                    f"{layers[k - 1].n_out} outputs"
                )
            if isinstance(layer, DelayedDense) and layer.dt != dt:
                raise ValueError(f"Network layer {k} (DelayedDense) has dt={layer.dt!r} but the "
                                 f"network has dt={dt!r}; build the layer with dt={dt!r}")
        self.layers = nn.ModuleList(layers)
        self.dt = check_dt(dt)

    @property
    def n_in(self) -> int:
        """Number of input channels."""
        return self.layers[0].n_in

    @property
    def n_out(self) -> int:
        """Number of outputs of the last layer."""
        return self.layers[-1].n_out

    @property
    def spiking_layers(self) -> list[SpikingDense]:
        """The spiking layers, in order (all but a final readout)."""
        return [m for m in self.layers if isinstance(m, SpikingDense)]

    def initial_state(
        self, batch_size: int, *, device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> tuple[Any, ...]:
        """Resting state for a batch: one neuron state per layer."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 0:
            raise ValueError(f"batch_size must be an int >= 0, got {batch_size!r}")
        return tuple(m.initial_state(batch_size, device=device, dtype=dtype) for m in self.layers)

    def step(self, x_t: Tensor, state: tuple[Any, ...]) -> tuple[Tensor, tuple[Any, ...], Record]:
        """Advance every layer by one step ``dt``.

        Args:
            x_t: input ``[B, n_in]`` at this step.
            state: the state returned by :meth:`initial_state` or the previous ``step``.

        Returns:
            ``(out_t, new_state, record)``.
        """
        if len(state) != len(self.layers):
            raise ValueError(
                f"state has {len(state)} entries but the network has {len(self.layers)} layers; "
                "pass the state returned by net.initial_state(batch_size) or the previous step"
            )
        new_state, spikes, membranes = [], [], []
        out = x_t
        for layer, s in zip(self.layers, state, strict=True):
            out, s = layer.step(layer.project(out), s, self.dt)
            new_state.append(s)
            membranes.append(s.v)
            if isinstance(layer, SpikingDense):
                spikes.append(out)
        return out, tuple(new_state), Record(tuple(spikes), tuple(membranes))


def build_network(
    n_in: int, hidden: Sequence[int], n_out: int, *, dt: float,
    neuron: NeuronParams | None = None, readout: LIParams | None = None,
    recurrent: bool = False, spiking_output: bool = False, gain: float = 1.0,
    delays: DelayParams | None = None, generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> Network:
    """Build ``n_in -> hidden[0] -> ... -> n_out`` with spiking hidden layers.

    Initial weights have standard deviation ``gain * s / ((1 - a_m) R) / sqrt(n_in)`` with
    ``a_m = exp(-dt/tau_mem)`` and ``s = 1 - exp(-dt/tau_syn)`` (``s = 1`` without a synapse):
    the factor undoes the per-step membrane gain ``(1 - a_m) R`` and the synaptic integration
    ``1 / s``, so that ``gain`` sets the depolarisation an input spike delivers whatever ``dt``,
    ``tau_mem`` and ``tau_syn`` are.

    Args:
        n_in: input channels.
        hidden: sizes of the hidden spiking layers.
        n_out: outputs (classes).
        dt: time step (s).
        neuron: hidden neuron parameters (default ``LIFParams()``).
        readout: readout parameters (default ``LIParams()``); ignored if ``spiking_output``.
        recurrent: recurrent hidden layers.
        spiking_output: end in a spiking layer with the hidden neuron model instead of a readout.
        gain: initial weight scale (dimensionless).
        delays: give every spiking layer's feed-forward synapses learnable delays
            (:class:`~snnlearn.layers.DelayedDense`); ``None`` for undelayed synapses.
        generator: random generator for the initial weights (and delays).
        device: device of the parameters.
        dtype: dtype of the parameters.

    Example:
        >>> net = build_network(4, [16], 3, dt=1e-3)
        >>> net.n_in, net.n_out, len(net.layers)
        (4, 3, 2)
    """
    dt = check_dt(dt)
    neuron = neuron if neuron is not None else LIFParams()
    readout = readout if readout is not None else LIParams()
    lif = getattr(neuron, "lif", neuron)
    factory = {"generator": generator, "device": device, "dtype": dtype}

    def scale(tau_mem: float, tau_syn: float | None, r: float) -> float:
        synapse = 1.0 if tau_syn is None else 1.0 - math.exp(-dt / tau_syn)
        return gain * synapse / ((1.0 - math.exp(-dt / tau_mem)) * (abs(r) or 1.0))

    def spiking(a: int, b: int, rec: bool) -> SpikingDense:
        w = scale(lif.tau_mem, lif.tau_syn, lif.r)
        if delays is None:
            return SpikingDense(a, b, neuron, recurrent=rec, weight_scale=w, **factory)
        return DelayedDense(a, b, neuron, delay=delays, dt=dt, recurrent=rec, weight_scale=w,
                            **factory)

    layers: list[Layer] = []
    sizes = [n_in, *hidden]
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers.append(spiking(a, b, recurrent))
    if spiking_output:
        layers.append(spiking(sizes[-1], n_out, False))
    else:
        readout_scale = scale(readout.tau_mem, readout.tau_syn, readout.r)
        layers.append(Readout(sizes[-1], n_out, readout, weight_scale=readout_scale, **factory))
    return Network(layers, dt=dt)
