"""The time loop: ``unroll`` runs a :class:`~snnlearn.layers.Network` over a whole input sequence.

Layers are simulated one after the other: the feed-forward current of a layer is computed for all
``T`` steps in one matrix product, then the neuron dynamics are scanned over time (feed-forward LIF
layers by the fused :func:`snnlearn.kernels.lif_sequence`, others step by step). Because a layer's
output at step ``t`` depends only on its input up to ``t``, this gives the result of calling
:meth:`Network.step` ``T`` times, only faster (the same equations; the batched matrix product may
round differently from the per-step one, by about one unit in the last place).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import torch
from torch import Tensor

from snnlearn.kernels.li_scan import li_sequence
from snnlearn.kernels.lif_scan import lif_sequence
from snnlearn.layers.dense import SpikingDense
from snnlearn.layers.network import Network
from snnlearn.layers.readout import Readout
from snnlearn.neurons.lif import LIFParams

__all__ = ["Rollout", "Projection", "unroll", "check_input_sequence"]


class Rollout(NamedTuple):
    """Everything a simulation produced.

    Attributes:
        outputs: the last layer's output ``[T, B, n_out]`` (readout membrane, or spikes).
        spikes: spikes ``[T, B, N_l]`` of each spiking layer, in order.
        membranes: membrane ``v`` ``[T, B, N_l]`` of every layer if recorded, else ``()``.
        final_state: the network state after the last step (one entry per layer).
        extras: rule-specific results (e.g. eligibility traces); read-only, empty by default.
    """

    outputs: Tensor
    spikes: tuple[Tensor, ...]
    membranes: tuple[Tensor, ...]
    final_state: tuple[Any, ...]
    extras: Mapping[str, Any] = MappingProxyType({})


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
            f"convert the input with x.to({dtype}) or the network with net.to({x.dtype})"
        )
    if not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise ValueError(f"{name} contains {bad} NaN or Inf values; inputs must be finite")
    return x


Projection = Callable[[int, Any, Tensor], Tensor]
"""``projection(k, layer, x_seq) -> current_seq``: how layer ``k`` turns its input into current."""


def unroll(
    net: Network, x: Tensor, state: tuple[Any, ...] | None = None, *,
    record_membrane: bool = False, check: bool = True, projection: Projection | None = None,
) -> Rollout:
    """Simulate ``net`` on the input sequence ``x``.

    Args:
        net: the network.
        x: input ``[T, B, n_in]`` (time first), dtype of the network's weights.
        state: initial state (default: ``net.initial_state(B)``).
        record_membrane: also return every layer's membrane trace.
        check: validate ``x`` (shape, dtype, finiteness) before simulating.
        projection: computes each layer's feed-forward input current from its input sequence
            (default ``layer.project``, i.e. ``W x + b``); learning rules that change how errors
            flow backwards through the synapses (feedback alignment) substitute their own.

    Shapes:
        ``x [T, B, n_in] -> outputs [T, B, n_out]``.

    Returns:
        A :class:`Rollout`.

    Raises:
        ValueError: an invalid input (see :func:`check_input_sequence`), or a ``state`` whose
            length or tensor shapes do not match the network and the batch size.

    Example:
        >>> import torch
        >>> from snnlearn.layers import build_network
        >>> net = build_network(3, [8], 2, dt=1e-3, generator=torch.Generator().manual_seed(0))
        >>> r = unroll(net, torch.zeros(10, 4, 3))
        >>> tuple(r.outputs.shape), tuple(r.spikes[0].shape)
        ((10, 4, 2), (10, 4, 8))
    """
    if check:
        check_input_sequence(x, net.n_in, net.layers[0].weight.dtype)
    if state is None:
        state = net.initial_state(x.shape[1], device=x.device, dtype=x.dtype)
    else:
        _check_state(net, state, x.shape[1])
    seq, spikes, membranes, final = x, [], [], []
    for k, (layer, s) in enumerate(zip(net.layers, state, strict=True)):
        current = layer.project(seq) if projection is None else projection(k, layer, seq)
        if isinstance(layer, Readout):
            seq, s = li_sequence(current, s, layer.neuron, net.dt)
            final.append(s)
            if record_membrane:
                membranes.append(seq)
            continue
        if not record_membrane and _fusable(layer):
            seq, s = lif_sequence(current, s, layer.neuron, net.dt)
            final.append(s)
            spikes.append(seq)
            continue
        outs, vs = [], []
        for t in range(current.shape[0]):
            out, s = layer.step(current[t], s, net.dt)
            outs.append(out)
            if record_membrane:
                vs.append(s.v)
        seq = _stack(outs, current)
        final.append(s)
        if isinstance(layer, SpikingDense):
            spikes.append(seq)
        if record_membrane:
            membranes.append(_stack(vs, current))
    return Rollout(outputs=seq, spikes=tuple(spikes), membranes=tuple(membranes),
                   final_state=tuple(final))


def _check_state(net: Network, state: tuple[Any, ...], batch_size: int) -> None:
    """Raise ``ValueError`` unless ``state`` has one entry per layer of shape ``[B, n_out]``."""
    if len(state) != len(net.layers):
        raise ValueError(
            f"state has {len(state)} entries but the network has {len(net.layers)} layers; "
            f"pass net.initial_state({batch_size}) or a previous Rollout.final_state"
        )
    for k, (layer, s) in enumerate(zip(net.layers, state, strict=True)):
        expected = (batch_size, layer.n_out)
        for field, value in zip(getattr(s, "_fields", ()), s, strict=False):
            if isinstance(value, Tensor) and tuple(value.shape) != expected:
                raise ValueError(
                    f"state of layer {k} has {field} of shape {tuple(value.shape)}, expected "
                    f"{expected} (batch size of x, layer size); pass net.initial_state("
                    f"{batch_size}) or the final_state of a run with the same batch size"
                )


def _fusable(layer: object) -> bool:
    """Whether a layer's time loop can run as one fused LIF sequence operation."""
    return (
        isinstance(layer, SpikingDense) and not layer.recurrent
        and isinstance(layer.neuron, LIFParams)
    )


def _stack(steps: list[Tensor], like: Tensor) -> Tensor:
    """Stack per-step tensors along time; an empty sequence gives ``like``'s empty shape."""
    return torch.stack(steps) if steps else like.new_zeros(like.shape)
