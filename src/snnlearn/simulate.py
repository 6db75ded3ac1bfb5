"""The time loop: ``unroll`` runs a :class:`~snnlearn.layers.Network` over a whole input sequence.

Layers are simulated one after the other: a spiking layer's feed-forward current is computed for
all ``T`` steps at once (one matrix product or convolution), then its neuron dynamics run over
time in one fused sequence operation (:func:`snnlearn.kernels.sequence.neuron_sequence`: LIF, ALIF
and LI fused, with their recurrent synapses; other models step by step); stateless layers map the
whole sequence. Because a layer's output at step ``t`` depends only on its input up to ``t``, this
gives the result of calling :meth:`Network.step` ``T`` times, only faster (the same equations; a
batched matrix product may round differently from the per-step one, by about one unit in the last
place).

What rules need besides the outputs is recorded on request (``record=True``) in typed fields,
one :class:`LayerRecord` per layer: the layer's input sequence, its feed-forward current, the
pre-reset membrane ``u``, the surrogate derivative ``sigma'(u - threshold)`` and, for ALIF, the
adaptation. Rules read these instead of simulating the neurons themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import torch
from torch import Tensor

from snnlearn.kernels.sequence import neuron_sequence
from snnlearn.layers.network import Network
from snnlearn.layers.readout import Readout
from snnlearn.layers.spiking import SpikingLayer
from snnlearn.neurons import ALIFParams, LIFParams

__all__ = ["Rollout", "LayerRecord", "Projection", "unroll", "check_input_sequence",
           "surrogate_derivative"]


class LayerRecord(NamedTuple):
    """What ``unroll(..., record=True)`` records of one layer (``None`` where not applicable).

    Attributes:
        input: the layer's input sequence ``[T, B, *in_shape]``.
        current: the feed-forward current ``[T, B, *out_shape]`` (with autograd history).
        u: the pre-reset membrane ``[T, B, *out_shape]`` (detached; models without a fused kernel,
            e.g. Izhikevich, record their membrane after each step); the readout's membrane.
        surrogate: ``sigma'(u - A)`` with the threshold ``A`` (adaptive for ALIF), zero while
            refractory (detached); ``None`` for the readout and stateless layers.
        adaptation: ALIF's ``a_{t-1}`` used at step ``t`` (detached), else ``None``.
    """

    input: Tensor
    current: Tensor | None
    u: Tensor | None
    surrogate: Tensor | None
    adaptation: Tensor | None


class Rollout(NamedTuple):
    """Everything a simulation produced.

    Attributes:
        outputs: the last layer's output ``[T, B, n_out]`` (readout membrane, or spikes).
        spikes: spikes ``[T, B, N_l]`` of each spiking layer, in order.
        membranes: membrane ``v`` ``[T, B, N_l]`` of every layer if recorded, else ``()``.
        final_state: the network state after the last step (one entry per layer).
        extras: rule-specific results (e.g. eligibility traces); read-only, empty by default.
        records: one :class:`LayerRecord` per layer if ``record=True``, else ``()``.
    """

    outputs: Tensor
    spikes: tuple[Tensor, ...]
    membranes: tuple[Tensor, ...]
    final_state: tuple[Any, ...]
    extras: Mapping[str, Any] = MappingProxyType({})
    records: tuple[LayerRecord, ...] = ()


def check_input_sequence(x: object, n_in: int, dtype: torch.dtype, *, name: str = "x") -> Tensor:
    """Validate a time-first input ``[T, B, n_in]``; raise ``ValueError`` naming the problem.

    Args:
        x: the candidate input.
        n_in: expected number of input channels.
        dtype: expected floating dtype (that of the network's weights).
        name: the argument's name in error messages.

    Raises:
        ValueError: not a tensor, wrong number of dimensions, wrong channel count, wrong dtype,
            or a NaN/Inf value.
    """
    if not isinstance(x, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor [T, B, {n_in}], got {type(x).__name__}")
    if x.ndim != 3:
        raise ValueError(
            f"{name} must be time-first [T, B, n_in] = [T, B, {n_in}], got {x.ndim} dimensions "
            f"with shape {tuple(x.shape)}"
        )
    if x.shape[-1] != n_in:
        raise ValueError(
            f"{name} has {x.shape[-1]} channels in its last dimension but the network expects "
            f"{n_in}; shape is {tuple(x.shape)}, expected [T, B, {n_in}] (time first)"
        )
    if x.dtype != dtype:
        raise ValueError(
            f"{name} dtype ({x.dtype}) does not match the network's weight dtype ({dtype}); "
            f"convert the input with x.to({dtype})"
        )
    if not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise ValueError(f"{name} contains {bad} NaN or Inf values; inputs must be finite")
    return x


Projection = Callable[[int, Any, Tensor], Tensor]
"""``projection(k, layer, x_seq) -> current_seq``: how layer ``k`` turns its input into current."""


def unroll(
    net: Network, x: Tensor, state: tuple[Any, ...] | None = None, *,
    record_membrane: bool = False, record: bool = False, check: bool = True,
    projection: Projection | None = None, backend: str | None = None,
) -> Rollout:
    """Simulate ``net`` on the input sequence ``x``.

    Args:
        net: the network.
        x: input ``[T, B, *in_shape]`` (time first; ``[T, B, n_in]`` is reshaped), dtype of
            the network's weights.
        state: initial state (default: ``net.initial_state(B)``).
        record_membrane: also return every neuron layer's post-reset membrane trace.
        record: also return a :class:`LayerRecord` per layer (inputs, currents, pre-reset
            membrane, surrogate derivative, adaptation).
        check: validate ``x`` (shape, dtype, finiteness) before simulating.
        projection: computes each layer's feed-forward input current from its input sequence
            (default ``layer.project``); learning rules that change how errors flow backwards
            through the synapses (feedback alignment) substitute their own.
        backend: the kernel backend of every layer's time loop (default: the process default,
            see :mod:`snnlearn.kernels.dispatch`); ``"reference"`` records every step with
            autograd, so the backward pass can itself be differentiated.

    Shapes:
        ``x [T, B, *in_shape] -> outputs [T, B, *out_shape]``.

    Returns:
        A :class:`Rollout`.

    Raises:
        ValueError: an invalid input, or a ``state`` whose length or tensor shapes do not match
            the network and the batch size.

    Example:
        >>> import torch
        >>> from snnlearn.layers import build_network
        >>> net = build_network(3, [8], 2, dt=1e-3, generator=torch.Generator().manual_seed(0))
        >>> r = unroll(net, torch.zeros(10, 4, 3), record=True)
        >>> tuple(r.outputs.shape), tuple(r.spikes[0].shape), tuple(r.records[0].u.shape)
        ((10, 4, 2), (10, 4, 8), (10, 4, 8))
    """
    if check:
        x = net.check_input(x)
    elif x.ndim == 3 and len(net.in_shape) > 1:
        x = x.reshape(*x.shape[:2], *net.in_shape)
    if state is None:
        state = net.initial_state(x.shape[1], device=x.device, dtype=x.dtype)
    else:
        _check_state(net, state, x.shape[1])
    seq, spikes, membranes, final, records = x, [], [], [], []
    for k, (layer, s) in enumerate(zip(net.layers, state, strict=True)):
        if not isinstance(layer, (SpikingLayer, Readout)):
            inp, seq = seq, layer(seq)
            final.append(None)
            if record:
                records.append(LayerRecord(inp, None, None, None, None))
            continue
        inp = seq
        current = layer.project(seq) if projection is None else projection(k, layer, seq)
        rec_w = layer.masked_recurrent_weight() if isinstance(layer, SpikingLayer) else None
        want = record or record_membrane
        res = neuron_sequence(layer.neuron, current, s, net.dt, recurrent_weight=rec_w,
                              record=want, backend=backend)
        final.append(res.final_state)
        if isinstance(layer, Readout):
            seq = res.output
            if record_membrane:
                membranes.append(seq)
            if record:
                records.append(LayerRecord(inp, current, seq.detach(), None, None))
            continue
        spikes.append(res.output)
        seq = layer.grade(res.output)
        if record_membrane:
            membranes.append(_post_reset(layer.neuron, res.u, res.output.detach()))
        if record:
            records.append(LayerRecord(inp, current, res.u,
                                       surrogate_derivative(layer.neuron, res.u, res.adaptation),
                                       res.adaptation))
    return Rollout(outputs=seq, spikes=tuple(spikes), membranes=tuple(membranes),
                   final_state=tuple(final), records=tuple(records))


def surrogate_derivative(neuron: object, u: Tensor | None,
                         adaptation: Tensor | None = None) -> Tensor | None:
    """``sigma'(u - A)`` of a spiking neuron model for a recorded pre-reset membrane ``u``.

    ``A = v_th`` (LIF) or ``v_th + beta a_{t-1}`` (ALIF); ``None`` for models without a
    surrogate (Izhikevich, Hodgkin-Huxley record no ``u``). Refractory steps (membrane held)
    are not masked here; rules that need it read the neuron's ``t_ref``.
    """
    if u is None:
        return None
    if isinstance(neuron, ALIFParams):
        threshold = neuron.lif.v_th + neuron.adaptation * adaptation
        return neuron.lif.surrogate.derivative(u - threshold)
    if isinstance(neuron, LIFParams):
        return neuron.surrogate.derivative(u - neuron.v_th)
    return None


def _post_reset(neuron: object, u: Tensor | None, z: Tensor) -> Tensor:
    """The post-reset membrane from the pre-reset one and the spikes."""
    if u is None:
        raise ValueError(f"record_membrane: the {type(neuron).__name__} model records no membrane")
    if not isinstance(neuron, (LIFParams, ALIFParams)):
        return u  # models without a fused kernel record the membrane after each step
    lif = neuron.lif if isinstance(neuron, ALIFParams) else neuron
    if lif.reset == "subtract":
        return u - z * (lif.v_th - lif.v_reset)
    return u - z * (u - lif.v_reset)


def _check_state(net: Network, state: tuple[Any, ...], batch_size: int) -> None:
    """Raise ``ValueError`` unless ``state`` has one entry per layer of shape ``[B, ...]``."""
    if not isinstance(state, tuple) or len(state) != len(net.layers):
        raise ValueError(
            f"state has {len(state)} entries but the network has {len(net.layers)} layers; "
            f"pass net.initial_state({batch_size}) or a previous Rollout.final_state"
        )
    for k, (layer, s) in enumerate(zip(net.layers, state, strict=True)):
        if s is None:
            continue
        expected = (batch_size, *layer.out_shape)
        for field, value in zip(getattr(s, "_fields", ()), s, strict=False):
            if isinstance(value, Tensor) and tuple(value.shape) != expected:
                raise ValueError(
                    f"state of layer {k} has {field} of shape {tuple(value.shape)}, expected "
                    f"{expected} (batch size of x, layer size); pass net.initial_state("
                    f"{batch_size}) or the final_state of a run with the same batch size"
                )
