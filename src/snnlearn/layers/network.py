"""``Network``: a stack of layers with explicit state, and a builder for the usual architecture."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from snnlearn.diagnostics import check_time_constants
from snnlearn.layers.delay import Delayed, DelayParams
from snnlearn.layers.readout import Readout
from snnlearn.layers.spiking import NeuronParams, SpikingLayer
from snnlearn.layers.synapses import Dense
from snnlearn.layers.transforms import Dropout, Flatten, Norm, Pool, TorchModule
from snnlearn.neurons import LIFParams, LIParams
from snnlearn.neurons._checks import check_dt

__all__ = ["Network", "Record", "build_network", "Layer", "LayerSpec"]

Layer = SpikingLayer | Readout | Pool | Flatten | Dropout | Norm | TorchModule
_OURS = (SpikingLayer, Readout, Pool, Flatten, Dropout, Norm, TorchModule)


class Record(NamedTuple):
    """What one step of a :class:`Network` exposes besides its output.

    Attributes:
        spikes: spikes ``[B, N_l]`` of each spiking layer, in order.
        membranes: membrane ``v`` ``[B, N_l]`` of every layer (readout included), in order.
    """

    spikes: tuple[Tensor, ...]
    membranes: tuple[Tensor, ...]


class Network(nn.Module):
    """A stack of layers with explicit state: spiking layers, stateless transforms, a readout.

    The network holds weights, buffers and the step length ``dt`` only; its state is a tuple
    with one entry per layer (a neuron state, or ``None`` for a stateless transform), created
    by :meth:`initial_state` and returned by :meth:`step`.

    Args:
        layers: the layers, input to output: :class:`SpikingLayer`, :class:`Readout` (last
            only), :class:`Pool`, :class:`Flatten`, :class:`Dropout`, :class:`Norm`, or any
            ``nn.Module`` (wrapped in :class:`TorchModule`; only autograd rules train through
            it). Each layer's input shape must equal the previous layer's output shape.
        dt: simulation time step (s, > 0).
        in_shape: the input's feature shape; default: the first layer's input shape.

    Shapes:
        ``step``: ``x_t [B, *in_shape] -> out_t [B, *out_shape]``.

    Example:
        >>> import torch
        >>> g = torch.Generator().manual_seed(0)
        >>> net = Network([SpikingLayer.dense(3, 8, generator=g), Readout(8, 2, generator=g)],
        ...               dt=1e-3)
        >>> out, state, rec = net.step(torch.ones(4, 3), net.initial_state(4))
        >>> tuple(out.shape), len(rec.spikes)
        ((4, 2), 1)
    """

    def __init__(self, layers: Sequence[nn.Module], *, dt: float,
                 in_shape: Sequence[int] | None = None) -> None:
        super().__init__()
        if len(layers) == 0:
            raise ValueError("Network needs at least one layer, got an empty list")
        first = layers[0]
        shape = tuple(in_shape) if in_shape is not None else tuple(
            getattr(first, "in_shape", ()))
        if not shape:
            raise ValueError(f"Network: cannot tell the input shape of a first layer of type "
                             f"{type(first).__name__}; pass in_shape=")
        self.in_shape = shape
        built: list[nn.Module] = []
        for k, layer in enumerate(layers):
            if not isinstance(layer, _OURS):
                if not isinstance(layer, nn.Module):
                    raise ValueError(f"Network layer {k} must be a layer or an nn.Module, got "
                                     f"{type(layer).__name__}")
                layer = TorchModule(layer, shape)
            if isinstance(layer, Readout) and k != len(layers) - 1:
                raise ValueError(f"Network: a Readout may only be the last layer, found at {k}")
            if tuple(layer.in_shape) != shape:
                raise ValueError(
                    f"Network layer {k} ({type(layer).__name__}) expects input shape "
                    f"{tuple(layer.in_shape)} but receives {shape} (layer {k - 1}'s output, "
                    "or the network input)")
            syn = getattr(layer, "synapse", None)
            if isinstance(syn, Delayed) and syn.dt != dt:
                raise ValueError(f"Network layer {k} (delayed synapses) has dt={syn.dt!r} but "
                                 f"the network has dt={dt!r}; build the layer with dt={dt!r}")
            built.append(layer)
            shape = tuple(layer.out_shape)
        self.layers = nn.ModuleList(built)
        self.out_shape = shape
        self.dt = check_dt(dt)
        check_time_constants(built, self.dt)  # warns: a time constant below dt

    @property
    def n_in(self) -> int:
        """Number of input channels (the product of ``in_shape``)."""
        return math.prod(self.in_shape)

    @property
    def n_out(self) -> int:
        """Number of outputs of the last layer."""
        return math.prod(self.out_shape)

    @property
    def spiking_layers(self) -> list[SpikingLayer]:
        """The spiking layers, in order."""
        return [m for m in self.layers if isinstance(m, SpikingLayer)]

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the weights."""
        return next(iter(self.parameters())).dtype

    def constrain_(self) -> None:
        """Project every layer's weights back onto its constraints (Dale's law), in place."""
        for layer in self.layers:
            if isinstance(layer, (SpikingLayer, Readout)):
                layer.constrain_()

    def initial_state(
        self, batch_size: int, *, device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> tuple[Any, ...]:
        """Resting state for a batch: one neuron state per layer (``None`` for transforms)."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 0:
            raise ValueError(f"batch_size must be an int >= 0, got {batch_size!r}")
        return tuple(
            m.initial_state(batch_size, device=device, dtype=dtype)
            if isinstance(m, (SpikingLayer, Readout)) else None for m in self.layers)

    def step(self, x_t: Tensor, state: tuple[Any, ...]) -> tuple[Tensor, tuple[Any, ...], Record]:
        """Advance every layer by one step ``dt``.

        Args:
            x_t: input ``[B, *in_shape]`` (or ``[B, n_in]``) at this step.
            state: the state returned by :meth:`initial_state` or the previous ``step``.

        Returns:
            ``(out_t, new_state, record)``.

        Raises:
            ValueError: an input of the wrong shape, dtype or with NaN/Inf values, or a state
                that does not belong to this network.
        """
        x_t = self.check_input(x_t, time_axis=False)
        if not isinstance(state, tuple) or len(state) != len(self.layers):
            n = len(state) if isinstance(state, tuple) else type(state).__name__
            raise ValueError(
                f"state has {n} entries but the network has {len(self.layers)} layers; "
                "pass the state returned by net.initial_state(batch_size) or the previous step"
            )
        held = next((s.v for s in state if hasattr(s, "v")), None)
        if isinstance(held, Tensor) and held.ndim and held.shape[0] != x_t.shape[0]:
            raise ValueError(
                f"x_t holds a batch of {x_t.shape[0]} but the state was made for "
                f"{held.shape[0]}; pass net.initial_state({x_t.shape[0]})"
            )
        new_state, spikes, membranes = [], [], []
        out = x_t
        for layer, s in zip(self.layers, state, strict=True):
            if isinstance(layer, (SpikingLayer, Readout)):
                out, s = layer.step(layer.project(out), s, self.dt)
                membranes.append(s.v)
                if isinstance(layer, SpikingLayer):
                    spikes.append(out)
            else:
                out = layer(out)
            new_state.append(s)
        return out, tuple(new_state), Record(tuple(spikes), tuple(membranes))

    def check_input(self, x: object, *, time_axis: bool = True, name: str = "x") -> Tensor:
        """Validate an input ``[T, B, *in_shape]`` (``[B, *in_shape]`` without ``time_axis``).

        A flat ``[..., n_in]`` input is accepted for a multi-axis ``in_shape`` and reshaped.

        Raises:
            ValueError: not a tensor, wrong shape or dtype, or NaN/Inf values (one line).
        """
        lead = "[T, B, " if time_axis else "[B, "
        want = lead + ", ".join(map(str, self.in_shape)) + "]"
        if not isinstance(x, Tensor):
            raise ValueError(f"{name} must be a torch.Tensor {want}, got {type(x).__name__}")
        n_lead = 2 if time_axis else 1
        if x.ndim == n_lead + 1 and x.shape[-1] == self.n_in and len(self.in_shape) > 1:
            x = x.reshape(*x.shape[:n_lead], *self.in_shape)
        n_dims = n_lead + len(self.in_shape)
        if x.ndim != n_dims:
            kind = "time-first " if time_axis else ""
            hint = ("; step takes one time step: pass x[t], or simulate a whole sequence with "
                    "snnlearn.simulate.unroll" if not time_axis and x.ndim == n_dims + 1 else "")
            raise ValueError(f"{name} must be {kind}{want}, got {x.ndim} dimensions with shape "
                             f"{tuple(x.shape)}{hint}")
        if tuple(x.shape[n_lead:]) != self.in_shape:
            if len(self.in_shape) == 1:
                raise ValueError(
                    f"{name} has {x.shape[-1]} channels in its last dimension but the network "
                    f"expects {self.n_in}; shape is {tuple(x.shape)}, expected {want}"
                    + (" (time first)" if time_axis else ""))
            raise ValueError(f"{name} has shape {tuple(x.shape)}, expected {want}")
        dtype = self.dtype
        if x.dtype != dtype:
            raise ValueError(
                f"{name} dtype ({x.dtype}) does not match the network's weight dtype ({dtype}); "
                f"convert the input with x.to({dtype})")
        if not bool(torch.isfinite(x).all()):
            bad = int((~torch.isfinite(x)).sum())
            raise ValueError(f"{name} contains {bad} NaN or Inf values; inputs must be finite")
        return x


LayerSpec = Mapping[str, Any]
"""One entry of an architecture: ``{"kind": "dense", "size": 64, "recurrent": False,
"dale": 0.8}``, ``{"kind": "conv2d", "channels": 8, "kernel": 3}``, ``{"kind": "pool",
"size": 2}``, ``{"kind": "flatten"}``, ``{"kind": "dropout", "p": 0.1}``, ``{"kind": "norm"}``."""

LAYER_KINDS: tuple[str, ...] = ("dense", "conv1d", "conv2d", "pool", "flatten", "dropout", "norm")


def build_network(
    n_in: int, hidden: Sequence[int], n_out: int, *, dt: float,
    neuron: NeuronParams | None = None, readout: LIParams | None = None,
    recurrent: bool = False, spiking_output: bool = False, gain: float = 1.0,
    delays: DelayParams | None = None, layers: Sequence[LayerSpec] | None = None,
    in_shape: Sequence[int] | None = None, dale: float | None = None, graded: bool = False,
    generator: torch.Generator | None = None, device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> Network:
    """Build ``input -> hidden layers -> n_out``: spiking hidden layers and an LI readout.

    The hidden part is either ``hidden`` (dense layers of these sizes, all ``recurrent`` or
    not) or an architecture ``layers`` (a list of :data:`LayerSpec` mappings; a dense layer
    after a multi-axis shape is preceded by an automatic flatten, as is the readout).

    Initial weights have standard deviation ``gain * s / ((1 - a_m) R) / sqrt(fan_in)`` with
    ``a_m = exp(-dt/tau_mem)`` and ``s = 1 - exp(-dt/tau_syn)`` (``s = 1`` without a synapse):
    the factor undoes the per-step membrane gain ``(1 - a_m) R`` and the synaptic integration
    ``1 / s``, so that ``gain`` sets the depolarisation an input spike delivers whatever ``dt``,
    ``tau_mem`` and ``tau_syn`` are.

    Args:
        n_in: input channels (the product of ``in_shape`` when that is given).
        hidden: sizes of the hidden dense spiking layers (ignored when ``layers`` is given).
        n_out: outputs (classes).
        dt: time step (s).
        neuron: hidden neuron parameters (default ``LIFParams()``).
        readout: readout parameters (default ``LIParams()``); ignored if ``spiking_output``.
        recurrent: recurrent hidden layers (for ``hidden``; a spec sets its own).
        spiking_output: end in a spiking layer with the hidden neuron model instead of a readout.
        gain: initial weight scale (dimensionless).
        delays: give every dense spiking layer learnable delays
            (:class:`~snnlearn.layers.Delayed` synapses); ``None`` for undelayed synapses.
        layers: the hidden architecture as layer specs (see :data:`LayerSpec`).
        in_shape: the input's feature shape (e.g. ``(1, 8, 8)`` for images); default ``(n_in,)``.
        dale: fraction of excitatory units for every hidden synapse (Dale's law; a spec's own
            ``dale`` wins); ``None`` for unsigned weights.
        graded: graded spikes (a learnable amplitude per neuron) in every hidden layer.
        generator: random generator for the initial weights (and delays).
        device: device of the parameters.
        dtype: dtype of the parameters.

    Raises:
        ValueError: an unknown layer kind or an invalid spec (the message names the entry).

    Example:
        >>> net = build_network(4, [16], 3, dt=1e-3)
        >>> net.n_in, net.n_out, len(net.layers)
        (4, 3, 2)
        >>> conv = build_network(64, [], 10, dt=1e-3, in_shape=(1, 8, 8), layers=[
        ...     {"kind": "conv2d", "channels": 4, "kernel": 3}, {"kind": "pool", "size": 2}])
        >>> [type(m).__name__ for m in conv.layers]
        ['SpikingLayer', 'Pool', 'Flatten', 'Readout']
    """
    dt = check_dt(dt)
    neuron = neuron if neuron is not None else LIFParams()
    readout = readout if readout is not None else LIParams()
    lif = getattr(neuron, "lif", neuron)
    factory = {"generator": generator, "device": device, "dtype": dtype}
    shape = tuple(in_shape) if in_shape is not None else (n_in,)
    if math.prod(shape) != n_in:
        raise ValueError(f"build_network: in_shape {shape} has {math.prod(shape)} elements but "
                         f"n_in is {n_in}")

    def scale(tau_mem: float, tau_syn: float | None, r: float) -> float:
        synapse = 1.0 if tau_syn is None else 1.0 - math.exp(-dt / tau_syn)
        return gain * synapse / ((1.0 - math.exp(-dt / tau_mem)) * (abs(r) or 1.0))

    w = scale(lif.tau_mem, lif.tau_syn, lif.r)
    specs: list[dict[str, Any]] = (
        [{"kind": "dense", "size": h, "recurrent": recurrent} for h in hidden]
        if layers is None else [dict(spec) for spec in layers])
    built: list[nn.Module] = []

    def flatten() -> None:
        nonlocal shape
        if len(shape) > 1:
            built.append(Flatten(shape))
            shape = built[-1].out_shape

    def dense(size: int, rec: bool, dale_k: float | None) -> SpikingLayer:
        if delays is None:
            syn: nn.Module = Dense(shape[0], size, weight_scale=w, dale=dale_k, **factory)
        else:
            syn = Delayed(shape[0], size, delay=delays, dt=dt, weight_scale=w, dale=dale_k,
                          **factory)
        return SpikingLayer(syn, neuron, recurrent=rec, graded=graded, generator=generator)

    for k, spec in enumerate(specs):
        kind = spec.pop("kind", None)
        where = f"build_network: layer {k} ({kind!r})"
        try:
            if kind == "dense":
                flatten()
                size = spec.pop("size")
                built.append(dense(size, bool(spec.pop("recurrent", False)),
                                   spec.pop("dale", dale)))
            elif kind in ("conv1d", "conv2d"):
                if len(shape) != (2 if kind == "conv1d" else 3):
                    axes = "[C, L]" if kind == "conv1d" else "[C, H, W]"
                    raise ValueError(f"needs an input of shape {axes}, got {shape}; use a task "
                                     "with a spatial input shape")
                built.append(SpikingLayer.conv(
                    shape, spec.pop("channels"), spec.pop("kernel", 3), neuron,
                    stride=spec.pop("stride", 1), padding=spec.pop("padding", "same"),
                    weight_scale=w, dale=spec.pop("dale", dale), graded=graded, **factory))
            elif kind == "pool":
                built.append(Pool(shape, spec.pop("size", 2), spec.pop("pool", "sum")))
            elif kind == "flatten":
                built.append(Flatten(shape))
            elif kind == "dropout":
                built.append(Dropout(shape, spec.pop("p", 0.1)))
            elif kind == "norm":
                built.append(Norm(shape))
            else:
                raise ValueError(f"unknown kind; valid kinds: {', '.join(LAYER_KINDS)}")
        except KeyError as err:
            raise ValueError(f"{where} needs the key {err.args[0]!r}") from None
        except (ValueError, TypeError) as err:
            raise ValueError(f"{where}: {err}") from None
        if spec:
            raise ValueError(f"{where} has unknown key(s) {sorted(spec)}")
        shape = tuple(built[-1].out_shape)
    flatten()
    if spiking_output:
        built.append(dense(n_out, False, None))
    else:
        readout_scale = scale(readout.tau_mem, readout.tau_syn, readout.r)
        built.append(Readout(shape[0], n_out, readout, weight_scale=readout_scale, **factory))
    return Network(built, dt=dt, in_shape=tuple(in_shape) if in_shape is not None else (n_in,))
