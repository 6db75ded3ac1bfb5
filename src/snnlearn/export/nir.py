"""NIR export and import: ``to_nir(network, target=...)`` and ``from_nir(graph, dt=...)``.

NIR (the Neuromorphic Intermediate Representation) describes a network as continuous-time ODEs
with parameters per neuron; it has no ``dt``. The ODEs are those of :mod:`snnlearn.neurons`
(times in seconds, voltages dimensionless):

.. math::

    \\tau_{syn} \\dot I = -I + w_{in} S, \\qquad
    \\tau_{mem} \\dot v = (v_{leak} - v) + R I, \\qquad
    z = H(v - v_{th}) \\; (\\text{strict}), \\quad v \\leftarrow v_{reset} \\text{ on a spike}

where ``S`` is the input of the node and, without a synapse (``LIF``, ``LI``), ``I = S``.

**Targets.** Every reader integrates the graph with its own ``dt`` and scheme, and each peer's
importer accepts only some parameter conventions; ``to_nir(..., target=...)`` writes the graph
the chosen reader reproduces step for step (:mod:`snnlearn.export.targets`): ``"exact"`` (the
default; snnlearn's own exact integration at the network's ``dt``, read back by
:func:`from_nir`), ``"snntorch"``, ``"norse"`` or ``"spikingjelly"`` (forward Euler at the
peer's ``dt``, time constants retimed). The assumed ``dt``, the integrator and the target are
stored in ``graph.metadata``.

**The input convention.** A snnlearn input value ``x_t`` is a current held for one step
(zero-order hold), which is how every NIR reader feeds a time-stepped signal. Our current
synapse makes ``I`` jump by ``x_t`` per step; in NIR's ODE a held input moves ``I`` by
``(dt / tau_syn) w_in x_t`` per step, so the exporter writes ``w_in = tau_syn / dt``.

Mapping (exact target; every neuron field a per-neuron ``np.ndarray`` of shape ``(n,)``):

========================================  ====================================================
snnlearn                                  NIR
========================================  ====================================================
dense ``W``, ``b``                        ``Affine(W, b)`` (``Linear(W)`` without bias)
``Conv1d`` / ``Conv2d`` synapses          ``Conv1d`` / ``Conv2d`` (zero bias if none)
``Delayed`` synapses (``K`` taps)         per tap ``k`` with a non-zero weight: ``Delay(k dt)``
                                          on the input, then ``Linear(W_k)``; all sum into
                                          the neuron node (``W_k = w kappa(k; d/dt)``, exact)
``recurrent=True``                        ``Linear(W_rec)`` node ``rec<k>`` on the cycle
                                          ``lif<k> -> rec<k> -> lif<k>`` (one step late)
``Pool(kind="sum")`` / ``"avg"``          ``SumPool2d`` / ``AvgPool2d``
``Flatten``                               ``Flatten(start_dim=0, end_dim=-1)``
``Dropout``                               nothing (the identity in evaluation)
``LIFParams``                             ``LIF`` / ``CubaLIF`` (``v_reset``, ``w_in``)
readout ``LIParams``                      ``LI`` / ``CubaLI``
========================================  ====================================================

**What is refused** (``ValueError`` naming the layer and what to change): a subtractive reset
unless ``subtract_reset="as_hard"`` (NIR neurons reset *to* ``v_reset``; the graph is then the
network with ``reset="hard"``, which ``snnlearn train --reset hard`` trains directly);
refractoriness; ALIF (NIR has no adaptive-threshold node); Izhikevich and HH neurons; graded
spikes; max pooling, 1-d pooling, normalisation layers and arbitrary torch modules; and, per
target, what its importer cannot read (see :mod:`snnlearn.export.targets`).

**Import.** :func:`from_nir` accepts a chain ``Input -> (Affine|Linear -> LIF|CubaLIF)* ->
[Affine|Linear -> LI|CubaLI] -> Output`` (the last neuron may also be ``LIF``/``CubaLIF``).
A loop ``lif<k> -> Affine|Linear -> lif<k>`` (zero diagonal and bias) is a recurrent layer; a
graph that ``to_nir`` wrote for a forward-Euler peer (metadata) is retimed back, and its LIF
readout with an infinite threshold read as an LI readout.
Our ``Params`` hold one value per layer, so ``tau``, ``v_leak``, ``v_threshold`` and ``v_reset``
must be uniform across a node's neurons; a non-uniform ``r`` (and ``w_in``) is folded into the
incoming weights exactly. ``IF``, ``Delay``, ``Threshold``, convolutions, nested graphs and any
other branching or cyclic topology are refused (simulate such graphs with
:func:`snnlearn.export.simulate_nir`). Nothing is ever dropped.
"""

from __future__ import annotations

import copy
import importlib
import math
from types import ModuleType
from typing import Any, Literal, get_args

import numpy as np
import torch

from snnlearn.export.targets import Convention, Target, convention
from snnlearn.layers import Delayed, Network, Readout, SpikingLayer
from snnlearn.layers.synapses import Conv1d, Conv2d, Dense
from snnlearn.layers.transforms import Dropout, Flatten, Pool
from snnlearn.neurons import ALIFParams, LIFParams, LIParams
from snnlearn.neurons._checks import check_dt

__all__ = ["to_nir", "from_nir", "SubtractReset", "MIN_NIR_VERSION"]

SubtractReset = Literal["refuse", "as_hard"]

MIN_NIR_VERSION = (1, 0, 6)
"""The oldest nir whose neurons have ``v_reset`` (the reset this exporter writes)."""

_INSTALL = "pip install 'snnlearn[interop]'"


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(c for c in piece if c.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def _import_nir() -> ModuleType:
    """The ``nir`` package (>= 1.0.6), or an ``ImportError`` that says how to install it."""
    minimum = ".".join(map(str, MIN_NIR_VERSION))
    try:
        nir = importlib.import_module("nir")
    except ImportError as err:
        raise ImportError(
            f"snnlearn.export needs the `nir` package (nir >= {minimum}), which is not "
            f"installed; install it with `{_INSTALL}`"
        ) from err
    version = str(getattr(nir, "__version__", "0"))
    if _version_tuple(version) < MIN_NIR_VERSION:
        raise ImportError(
            f"snnlearn.export needs nir >= {minimum} (neurons with v_reset), but nir {version} "
            f"is installed; upgrade it with `pip install 'nir>={minimum}'`"
        )
    return nir


class _Graph:
    """Nodes and edges under construction, with the factor to fold into the next synapse."""

    def __init__(self, nir: ModuleType, conv: Convention) -> None:
        self.nir, self.conv = nir, conv
        self.nodes: dict[str, Any] = {}
        self.edges: list[tuple[str, str]] = []
        self.fold_next = 1.0  # e.g. the window of a sum pool written as an average pool

    def add(self, name: str, node: Any, *sources: str) -> str:
        self.nodes[name] = node
        self.edges += [(s, name) for s in sources]
        return name


def to_nir(network: Network, *, dt: float | None = None, target: Target = "exact",
           peer_dt: float | None = None, subtract_reset: SubtractReset = "refuse") -> Any:
    """Export ``network`` as a ``nir.NIRGraph`` that ``target`` reads and simulates unchanged.

    Args:
        network: a :class:`~snnlearn.layers.Network` (dense, recurrent, delayed or conv
            synapses; LIF hidden neurons; an LI readout or a spiking output; sum/avg pooling,
            flatten, dropout).
        dt: the time step (s) the network runs at; must equal ``network.dt`` (default).
        target: ``"exact"`` (snnlearn's integration at ``network.dt``), ``"snntorch"``,
            ``"norse"`` or ``"spikingjelly"`` (see :mod:`snnlearn.export.targets`).
        peer_dt: the ``dt`` (s) the peer will simulate with (default: its importer's default;
            pass the same value to the importer). Stored as ``metadata["dt"]``.
        subtract_reset: ``"refuse"`` (default) raises on a layer with ``reset="subtract"``;
            ``"as_hard"`` exports it as a reset to ``v_reset`` (exactly the network with
            ``reset="hard"``).

    Returns:
        A type-checked ``nir.NIRGraph`` with per-neuron ``np.ndarray`` parameters.

    Raises:
        ImportError: ``nir`` is missing or older than 1.0.6.
        ValueError: non-finite weights, ``dt`` differs from ``network.dt``, an unknown target,
            or a layer that has no NIR form or that the target's importer cannot read (one
            line naming it).

    Example:
        >>> import torch
        >>> from snnlearn.layers import build_network
        >>> from snnlearn.neurons import LIFParams
        >>> net = build_network(3, [4], 2, dt=1e-3, neuron=LIFParams(reset="hard"),
        ...                     generator=torch.Generator().manual_seed(0))
        >>> graph = to_nir(net)
        >>> [type(graph.nodes[k]).__name__ for k in ("fc0", "lif0", "fc1", "li1")]
        ['Linear', 'LIF', 'Linear', 'LI']
        >>> peer = to_nir(net, target="snntorch")
        >>> type(peer.nodes["li1"]).__name__, peer.metadata["dt"]
        ('LIF', 0.0001)
    """
    nir = _import_nir()
    if not isinstance(network, Network):
        raise ValueError(f"to_nir expects a snnlearn Network, got {type(network).__name__}")
    for key, value in network.state_dict().items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise ValueError(f"to_nir: {key!r} holds {int((~torch.isfinite(value)).sum())} NaN "
                             "or Inf values; a network with non-finite weights cannot be "
                             "exported")
    dt = network.dt if dt is None else check_dt(dt)
    if not math.isclose(dt, network.dt, rel_tol=1e-9, abs_tol=0.0):
        raise ValueError(
            f"to_nir: dt={dt!r} s differs from the network's dt={network.dt!r} s; the graph "
            "describes the network at the step it was built for: pass dt=network.dt (use "
            "peer_dt for the step of the reader)"
        )
    if subtract_reset not in get_args(SubtractReset):
        raise ValueError(f"subtract_reset must be one of {list(get_args(SubtractReset))}, "
                         f"got {subtract_reset!r}")
    conv = convention(target, network.dt, peer_dt)
    g = _Graph(nir, conv)
    previous = g.add("input", nir.Input(input_type=np.array(network.in_shape)))
    last_neuron = ""
    for k, layer in enumerate(network.layers):
        where = f"layer {k} ({type(layer).__name__})"
        if isinstance(layer, (SpikingLayer, Readout)):
            previous = _synaptic_layer(g, k, layer, previous, subtract_reset)
            last_neuron = previous
        elif isinstance(layer, Pool):
            previous = _pool(g, k, layer, previous, where)
        elif isinstance(layer, Flatten):
            if not conv.flatten:
                raise ValueError(f"to_nir: {where}: the {conv.target} importer turns NIR's "
                                 "Flatten into a torch Flatten over the batch axis too, so "
                                 "conv networks do not run there; export with "
                                 "target='spikingjelly' or 'exact'")
            previous = g.add(f"flatten{k}", nir.Flatten(
                input_type={"input": np.array(layer.in_shape)}, start_dim=0, end_dim=-1),
                previous)
        elif isinstance(layer, Dropout):
            continue  # the identity in evaluation
        else:
            raise ValueError(f"to_nir: {where} has no NIR form; export a network of spiking "
                             "layers, pooling, flatten and dropout")
    if g.fold_next != 1.0:
        raise ValueError("to_nir: the network ends in a sum pool, which this target writes as an "
                         "average pool whose window needs a following synapse")
    g.add("output", nir.Output(output_type=np.array(network.out_shape)), previous)
    readout = isinstance(network.layers[-1], Readout)
    metadata = {
        "exporter": "snnlearn", "target": conv.target, "dt": conv.dt,
        "network_dt": network.dt, "time_unit": "s",
        "input": "each step's value is held for dt (zero-order hold)",
        "integration": ("forward Euler at dt; time constants retimed so that one step decays "
                        "by exp(-network_dt/tau)") if conv.euler else
                       "exponential: a = exp(-dt/tau), input held over the step",
        "readout": (f"membrane of {last_neuron}" + (" (a LIF that never fires)"
                                                    if conv.euler else "")) if readout
                   else f"spikes of {last_neuron}",
    }
    return nir.NIRGraph(nodes=g.nodes, edges=g.edges, metadata=metadata)


def _pool(g: _Graph, k: int, layer: Pool, previous: str, where: str) -> str:
    nir = g.nir
    if layer.kind == "max" or len(layer.in_shape) != 3:
        raise ValueError(f"to_nir: {where}: NIR has SumPool2d and AvgPool2d only, got a "
                         f"{len(layer.in_shape) - 1}-d {layer.kind} pool; use kind='sum' or "
                         "'avg' after a conv2d layer")
    size = np.array([layer.size, layer.size])
    fields = {"kernel_size": size, "stride": size, "padding": np.zeros(2, dtype=int)}
    if layer.kind == "sum" and g.conv.sum_pool:
        return g.add(f"pool{k}", nir.SumPool2d(**fields), previous)
    if layer.kind == "sum":  # an average pool times the window, folded into the next synapse
        g.fold_next *= float(layer.size ** 2)
    return g.add(f"pool{k}", nir.AvgPool2d(**fields), previous)


def _synaptic_layer(g: _Graph, k: int, layer: SpikingLayer | Readout, previous: str,
                    subtract_reset: SubtractReset) -> str:
    """Synapse node(s), neuron node and recurrent edge of layer ``k``; the neuron's name."""
    nir, conv = g.nir, g.conv
    where = f"layer {k} ({type(layer).__name__} {layer.in_shape} -> {layer.out_shape})"
    neuron, gain, name = _neuron(nir, conv, layer, where, subtract_reset, k)
    fold = gain * g.fold_next
    g.fold_next = 1.0
    syn = layer.synapse
    if getattr(layer, "graded", False):
        raise ValueError(f"to_nir: {where} has graded spikes, which NIR's LIF nodes cannot "
                         "emit; train with graded=False")
    sources: list[str]
    if isinstance(syn, Delayed):
        sources = _delayed(g, k, syn, previous, fold, where)
    else:
        sources = [g.add(f"fc{k}", _synapse_node(nir, conv, syn, fold, where), previous)]
    g.add(name, neuron, *sources)
    if getattr(layer, "recurrent", False):
        if not conv.recurrent:
            raise ValueError(f"to_nir: {where} is recurrent, and the {conv.target} importer "
                             "cannot read a recurrent edge (see docs/nir.md); export with "
                             "target='exact' or 'spikingjelly'")
        w_rec = layer.masked_recurrent_weight()
        assert w_rec is not None
        g.add(f"rec{k}", nir.Linear(weight=_folded(w_rec, fold)), name)
        g.edges.append((f"rec{k}", name))
    return name


def _folded(tensor: torch.Tensor, factor: float) -> np.ndarray:
    """``tensor * factor`` as a numpy array of the tensor's dtype (product in float64)."""
    value = tensor.detach().cpu()
    if factor == 1.0:
        return value.numpy().copy()
    return (value.double() * factor).to(value.dtype).numpy()


def _synapse_node(nir: ModuleType, conv: Convention, syn: Any, fold: float, where: str) -> Any:
    weight = _folded(syn.weight, fold)
    bias = None if syn.bias is None else _folded(syn.bias, fold)
    if isinstance(syn, Dense):
        return nir.Linear(weight=weight) if bias is None else nir.Affine(weight=weight, bias=bias)
    if isinstance(syn, (Conv1d, Conv2d)):
        if bias is None:
            bias = np.zeros(syn.channels, dtype=weight.dtype)
        if isinstance(syn, Conv1d):
            if not conv.conv1d:
                raise ValueError(f"to_nir: {where}: the {conv.target} importer reads no Conv1d; "
                                 "export with target='exact' or 'spikingjelly'")
            return nir.Conv1d(input_shape=syn.in_shape[1], weight=weight, stride=syn.stride,
                              padding=syn.padding[0], dilation=1, groups=1, bias=bias)
        return nir.Conv2d(input_shape=tuple(syn.in_shape[1:]), weight=weight,
                          stride=(syn.stride, syn.stride), padding=tuple(syn.padding),
                          dilation=(1, 1), groups=1, bias=bias)
    raise ValueError(f"to_nir: {where} has a {type(syn).__name__} synapse, which has no NIR "
                     "form")


def _delayed(g: _Graph, k: int, syn: Delayed, previous: str, fold: float,
             where: str) -> list[str]:
    """One ``Delay -> Linear`` branch per tap with a non-zero weight (module docstring)."""
    nir, conv = g.nir, g.conv
    if not conv.delays:
        raise ValueError(f"to_nir: {where} has synaptic delays, and the {conv.target} importer "
                         "reads no NIR Delay node; export with target='exact'")
    with torch.no_grad():
        kernel = syn.synaptic_kernel()  # [n_out, n_in, K]
    sources = []
    for tap in range(kernel.shape[-1]):
        w = kernel[..., tap]
        if tap > 0 and not bool(w.any()):
            continue
        weight = _folded(w, fold)
        if tap == 0:
            bias = None if syn.bias is None else _folded(syn.bias, fold)
            node = nir.Linear(weight=weight) if bias is None else nir.Affine(weight, bias)
            sources.append(g.add(f"fc{k}", node, previous))
            continue
        delay = g.add(f"delay{k}_{tap}", nir.Delay(
            delay=np.full(syn.n_in, tap * conv.dt, dtype=np.float64)), previous)
        sources.append(g.add(f"fc{k}_{tap}", nir.Linear(weight=weight), delay))
    return sources


def _neuron(nir: ModuleType, conv: Convention, layer: SpikingLayer | Readout, where: str,
            subtract_reset: SubtractReset, k: int) -> tuple[Any, float, str]:
    """The neuron node of a layer, the factor to fold into its incoming weights, its name.

    Neuron parameters are float64 arrays: they are Python floats, and float32 would round them.
    """
    p = layer.neuron

    def full(value: float) -> np.ndarray:  # one value per neuron, in the layer's shape
        return np.full(layer.out_shape, value, dtype=np.float64)

    if isinstance(p, ALIFParams):
        raise ValueError(f"to_nir: {where}: ALIF neurons (adaptive threshold) have no NIR node "
                         "(nir has no adaptive LIF); export a network of LIF neurons "
                         "(--neuron lif)")
    if not isinstance(p, (LIFParams, LIParams)):
        raise ValueError(f"to_nir: {where}: {type(p).__name__} neurons have no NIR node; "
                         "export a network of LIF neurons")
    readout = isinstance(p, LIParams)
    if isinstance(p, LIFParams):
        if p.t_ref > 0:
            raise ValueError(f"to_nir: {where}: NIR neurons have no refractory period, got "
                             f"t_ref={p.t_ref!r} s; use t_ref=0")
        if p.reset == "subtract" and subtract_reset == "refuse":
            raise ValueError(
                f"to_nir: {where}: reset='subtract' has no exact NIR form (NIR neurons reset to "
                "v_reset); train with --reset hard (LIFParams(reset='hard')), or pass "
                "subtract_reset='as_hard' to export it as a reset to v_reset (see docs/nir.md)")
    if not conv.euler:  # the exact target: snnlearn's parameters as they are
        if readout:
            if p.tau_syn is None:
                return nir.LI(tau=full(p.tau_mem), r=full(p.r), v_leak=full(p.v_leak)), 1.0, \
                    f"li{k}"
            return nir.CubaLI(tau_syn=full(p.tau_syn), tau_mem=full(p.tau_mem), r=full(p.r),
                              v_leak=full(p.v_leak), w_in=full(p.tau_syn / conv.dt)), 1.0, \
                f"li{k}"
        common = {"r": full(p.r), "v_leak": full(p.v_leak), "v_threshold": full(p.v_th),
                  "v_reset": full(p.v_reset)}
        if p.tau_syn is None:
            return nir.LIF(tau=full(p.tau_mem), **common), 1.0, f"lif{k}"
        return nir.CubaLIF(tau_syn=full(p.tau_syn), tau_mem=full(p.tau_mem),
                           w_in=full(p.tau_syn / conv.dt), **common), 1.0, f"lif{k}"
    # a forward-Euler peer: retimed taus, voltages shifted to v_reset = v_leak = 0, and the
    # input gain arranged as its importer requires
    if readout:
        if p.v_leak != 0:
            raise ValueError(f"to_nir: {where}: the {conv.target} importer needs v_leak = 0, "
                             f"got a readout with v_leak={p.v_leak!r}; export with "
                             "target='exact'")
        v_th = math.inf
    else:
        if p.v_leak != p.v_reset:
            raise ValueError(f"to_nir: {where}: the {conv.target} importer resets to v_leak "
                             f"(0), got v_leak={p.v_leak!r} and v_reset={p.v_reset!r}; export "
                             "with target='exact'")
        v_th = p.v_th - p.v_reset
    name = f"li{k}" if readout else f"lif{k}"
    tau_mem = conv.tau(p.tau_mem)
    one_minus_a = -math.expm1(-conv.net_dt / p.tau_mem)
    zeros = full(0.0)
    if p.tau_syn is None:
        r, gain = (tau_mem / conv.dt, one_minus_a * p.r) if conv.unit_gain_lif else (1.0, p.r)
        return nir.LIF(tau=full(tau_mem), r=full(r), v_leak=zeros, v_threshold=full(v_th),
                       v_reset=zeros), gain, name
    tau_syn = conv.tau(p.tau_syn)
    r, gain = ((tau_mem / conv.dt, one_minus_a * p.r) if conv.unit_gain_cuba else (p.r, 1.0))
    return nir.CubaLIF(tau_syn=full(tau_syn), tau_mem=full(tau_mem), r=full(r), v_leak=zeros,
                       v_threshold=full(v_th), v_reset=zeros,
                       w_in=full(tau_syn / conv.dt)), gain, name


def from_nir(graph: Any, *, dt: float) -> Network:
    """Build a :class:`~snnlearn.layers.Network` from a chain-shaped ``nir.NIRGraph``.

    Args:
        graph: the graph (``Input -> (Affine|Linear -> LIF|CubaLIF|LI|CubaLI)+ -> Output``;
            an ``LI``/``CubaLI`` only last).
        dt: the time step (s) of the returned network; current-synapse neurons read
            ``w_in dt / tau_syn`` as their per-step input gain (module docstring).

    Returns:
        A float32 network whose LIF layers reset to ``v_reset`` (``reset="hard"``).

    Raises:
        ImportError: the ``nir`` package is missing.
        ValueError: a topology other than a chain, an unsupported node type (``IF``, ``Delay``,
            ...), mismatched shapes, NaN or Inf parameters, a layer of 0 neurons, ``r = 0``, or
            a parameter that is not uniform across neurons where snnlearn needs one value per
            layer. The message names the node (or the node type and field).

    Example:
        >>> import numpy as np, nir
        >>> g = nir.NIRGraph.from_list(
        ...     nir.Input(np.array([2])), nir.Affine(np.ones((3, 2)), np.zeros(3)),
        ...     nir.LIF(tau=np.full(3, 0.01), r=np.ones(3), v_leak=np.zeros(3),
        ...             v_threshold=np.ones(3)), nir.Output(np.array([3])))
        >>> net = from_nir(g, dt=1e-3)
        >>> net.n_in, net.n_out, net.layers[0].neuron.reset
        (2, 3, 'hard')
    """
    nir = _import_nir()
    dt = check_dt(dt)
    if not isinstance(graph, nir.NIRGraph):
        raise ValueError(f"from_nir expects a nir.NIRGraph, got {type(graph).__name__}")
    graph, recurrent = _split_recurrent(nir, _undo_euler_retiming(nir, graph, dt))
    chain = _chain(nir, graph)
    n_in = _input_size(graph.nodes[chain[0]], chain[0])
    layers: list[SpikingLayer | Readout] = []
    body = chain[1:-1]
    if len(body) == 0 or len(body) % 2:
        raise ValueError(
            f"from_nir expects pairs of (Affine|Linear, neuron) between input and output, got "
            f"the chain {' -> '.join(chain)}"
        )
    for j in range(0, len(body), 2):
        syn_name, neuron_name = body[j], body[j + 1]
        last = j + 2 == len(body)
        layers.append(_layer(nir, graph, syn_name, neuron_name, n_in, dt, last,
                             recurrent.get(neuron_name)))
        n_in = layers[-1].n_out
    return Network(layers, dt=dt)


def _undo_euler_retiming(nir: ModuleType, graph: Any, dt: float) -> Any:
    """For a graph that ``to_nir`` wrote for a forward-Euler reader (its metadata says so), the
    same graph with the time constants snnlearn needs to take the same steps at ``dt``:
    ``tau = -dt / ln(1 - dt_p/tau')``, keeping each step's synaptic input ``w_in dt/tau_syn``.
    Any other graph is returned as it is."""
    meta = dict(getattr(graph, "metadata", {}) or {})
    if not str(meta.get("integration", "")).startswith("forward Euler") or "dt" not in meta:
        return graph
    dt_p = float(meta["dt"])

    def retimed(tau: np.ndarray) -> np.ndarray:
        return -dt / np.log1p(-dt_p / tau)

    nodes = {}
    for name, node in graph.nodes.items():
        if isinstance(node, (nir.LIF, nir.CubaLIF)):
            node = copy.copy(node)
            if isinstance(node, nir.LIF):
                node.tau = retimed(_array(node, "tau"))
            else:
                tau_syn = _array(node, "tau_syn")
                new_syn = retimed(tau_syn)
                node.w_in = _array(node, "w_in") * (dt_p / tau_syn) / (dt / new_syn)
                node.tau_syn, node.tau_mem = new_syn, retimed(_array(node, "tau_mem"))
        nodes[name] = node
    return nir.NIRGraph(nodes=nodes, edges=list(graph.edges), type_check=False,
                        metadata={**meta, "integration": "retimed for snnlearn"})


def _split_recurrent(nir: ModuleType, graph: Any) -> tuple[Any, dict[str, tuple[str, Any]]]:
    """The graph without its recurrent loops ``lif -> rec (Affine|Linear) -> lif``, and
    ``{neuron name: (rec name, rec node)}``. Only such two-node loops are recurrent layers."""
    preds: dict[str, list[str]] = {}
    succs: dict[str, list[str]] = {}
    for src, dst in graph.edges:
        succs.setdefault(src, []).append(dst)
        preds.setdefault(dst, []).append(src)
    loops: dict[str, tuple[str, Any]] = {}
    for name, node in graph.nodes.items():
        if not isinstance(node, (nir.Affine, nir.Linear)):
            continue
        p, s = preds.get(name, []), succs.get(name, [])
        if len(p) == 1 and p == s and isinstance(graph.nodes[p[0]], (nir.LIF, nir.CubaLIF)):
            loops[p[0]] = (name, node)
    if not loops:
        return graph, {}
    dropped = {rec for rec, _ in loops.values()}
    nodes = {k: v for k, v in graph.nodes.items() if k not in dropped}
    edges = [e for e in graph.edges if e[0] not in dropped and e[1] not in dropped]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), loops


def _chain(nir: ModuleType, graph: Any) -> list[str]:
    """Node names from the single ``Input`` to the single ``Output``, or ``ValueError``."""
    nodes = graph.nodes
    inputs = [k for k, v in nodes.items() if isinstance(v, nir.Input)]
    outputs = [k for k, v in nodes.items() if isinstance(v, nir.Output)]
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(f"from_nir expects exactly one Input and one Output node, got inputs "
                         f"{inputs} and outputs {outputs}")
    successors: dict[str, list[str]] = {}
    predecessors: dict[str, list[str]] = {}
    for src, dst in graph.edges:
        for end in (src, dst):
            if end not in nodes:
                raise ValueError(f"edge ({src!r}, {dst!r}) names an unknown node {end!r}")
        successors.setdefault(src, []).append(dst)
        predecessors.setdefault(dst, []).append(src)
    for name, preds in predecessors.items():
        if len(preds) > 1:
            raise ValueError(f"from_nir supports chain graphs only: node {name!r} has "
                             f"{len(preds)} inputs {preds}")
    chain = [inputs[0]]
    while chain[-1] != outputs[0]:
        nexts = successors.get(chain[-1], [])
        if len(nexts) != 1:
            raise ValueError(f"from_nir supports chain graphs only: node {chain[-1]!r} has "
                             f"{len(nexts)} outputs {nexts}")
        if nexts[0] in chain:
            raise ValueError(f"from_nir supports chain graphs only: a cycle returns to "
                             f"{nexts[0]!r} (recurrent layers are not supported)")
        chain.append(nexts[0])
    if outputs[0] in successors or len(chain) != len(nodes):
        extra = sorted(set(nodes) - set(chain))
        raise ValueError(f"from_nir supports chain graphs only: nodes {extra} are off the "
                         f"input -> output chain {' -> '.join(chain)}")
    return chain


def _input_size(node: Any, name: str) -> int:
    shape = np.asarray(node.input_type["input"]).reshape(-1)
    if shape.size != 1:
        raise ValueError(f"input node {name!r} must have a 1-d shape (n_in,) without batch or "
                         f"time dimensions, got {shape.tolist()}")
    return int(shape[0])


def _array(node: Any, field: str) -> np.ndarray:
    value = getattr(node, field)
    if isinstance(value, torch.Tensor):  # Norse's exporter leaves torch tensors in its nodes
        value = value.detach().cpu().numpy()
    array = np.asarray(value, dtype=np.float64)
    bad = ~np.isfinite(array)
    if field == "v_threshold":  # +inf: a neuron that never fires (a peer target's readout)
        bad &= ~np.isposinf(array)
    if bad.any():
        raise ValueError(f"a NIR {type(node).__name__} node's {field} holds "
                         f"{int(bad.sum())} NaN or Inf values; a graph to import must have "
                         "finite parameters (an infinite threshold excepted)")
    return array


def _uniform(node: Any, name: str, field: str) -> float:
    """The single value of ``node.field`` across neurons, or ``ValueError``."""
    values = _array(node, field).reshape(-1)
    if values.size == 0 or not np.all(values == values[0]):
        raise ValueError(
            f"node {name!r} ({type(node).__name__}): {field} must have one value for all neurons "
            f"(snnlearn parameters are per layer), got values from {values.min()!r} to "
            f"{values.max()!r}"
        )
    return float(values[0])


def _layer(
    nir: ModuleType, graph: Any, syn_name: str, neuron_name: str, n_in: int, dt: float,
    last: bool, recurrent: tuple[str, Any] | None = None,
) -> SpikingLayer | Readout:
    """One snnlearn layer from a (synapse, neuron) pair of nodes (and a recurrent loop)."""
    syn, neuron = graph.nodes[syn_name], graph.nodes[neuron_name]
    if not isinstance(syn, (nir.Affine, nir.Linear)):
        raise ValueError(f"node {syn_name!r} is {type(syn).__name__}; from_nir expects Affine or "
                         "Linear before each neuron node")
    weight = _array(syn, "weight")
    if weight.ndim != 2 or weight.shape[1] != n_in:
        raise ValueError(f"node {syn_name!r}: weight must have shape (n_out, {n_in}), got "
                         f"{weight.shape}")
    n_out = weight.shape[0]
    if n_out == 0:
        raise ValueError(f"node {syn_name!r} has 0 outputs; every layer needs at least one "
                         "neuron")
    bias = _array(syn, "bias").reshape(-1) if isinstance(syn, nir.Affine) else None
    if bias is not None and bias.size != n_out:
        raise ValueError(f"node {syn_name!r}: bias must have {n_out} entries, got {bias.size}")
    spiking = (nir.LIF, nir.CubaLIF)
    leaky = (nir.LI, nir.CubaLI)
    if not isinstance(neuron, spiking + leaky):
        reason = {"IF": "a non-leaky integrator (tau = inf); snnlearn neurons need a finite "
                        "tau_mem, so it has no exact snnlearn form"}.get(type(neuron).__name__,
                                                                       "not supported")
        raise ValueError(f"node {neuron_name!r} is {type(neuron).__name__}: {reason}; from_nir "
                         "supports LIF, CubaLIF, LI and CubaLI neurons")
    # a LIF that can never fire (v_threshold = inf: how to_nir writes a readout for peers) is
    # a leaky integrator
    never_fires = isinstance(neuron, spiking) and bool(
        np.all(np.isinf(_array(neuron, "v_threshold"))))
    if (isinstance(neuron, leaky) or never_fires) and not last:
        raise ValueError(f"node {neuron_name!r} ({type(neuron).__name__}) must be the last "
                         "neuron node: a non-spiking readout can only end the chain")
    size = _array(neuron, "r").size
    if size != n_out:
        raise ValueError(f"node {neuron_name!r} has {size} neurons but {syn_name!r} has "
                         f"{n_out} outputs")
    # Per-neuron input gains folded into the incoming weights: R (when not uniform) and the
    # synapse's w_in dt / tau_syn (module docstring).
    gain = np.ones(n_out)
    r_values = _array(neuron, "r").reshape(-1)
    r = float(r_values[0]) if np.all(r_values == r_values[0]) else 1.0
    if r == 1.0 and not np.all(r_values == 1.0):
        gain = gain * r_values
    cuba = isinstance(neuron, (nir.CubaLIF, nir.CubaLI))
    tau_mem = _uniform(neuron, neuron_name, "tau_mem" if cuba else "tau")
    tau_syn = _uniform(neuron, neuron_name, "tau_syn") if cuba else None
    if cuba:
        gain = gain * _array(neuron, "w_in").reshape(-1) * dt / _array(neuron, "tau_syn")
    v_leak = _uniform(neuron, neuron_name, "v_leak")
    if isinstance(neuron, leaky) or never_fires:
        if recurrent is not None:
            raise ValueError(f"node {neuron_name!r}: a readout cannot be recurrent")
        layer: SpikingLayer | Readout = Readout(
            n_in, n_out, LIParams(tau_mem=tau_mem, tau_syn=tau_syn, r=r, v_leak=v_leak),
            bias=bias is not None)
    else:
        params = LIFParams(tau_mem=tau_mem, tau_syn=tau_syn, r=r, v_leak=v_leak,
                           v_th=_uniform(neuron, neuron_name, "v_threshold"),
                           v_reset=_uniform(neuron, neuron_name, "v_reset"), reset="hard")
        layer = SpikingLayer.dense(n_in, n_out, params, bias=bias is not None,
                                   recurrent=recurrent is not None)
    exact = np.all(gain == 1.0)
    if recurrent is not None:
        rec_name, rec = recurrent
        w_rec = _array(rec, "weight")
        if w_rec.shape != (n_out, n_out):
            raise ValueError(f"node {rec_name!r}: a recurrent weight must be ({n_out}, {n_out}), "
                             f"got {w_rec.shape}")
        if np.any(np.diagonal(w_rec) != 0) or (isinstance(rec, nir.Affine)
                                               and np.any(_array(rec, "bias") != 0)):
            raise ValueError(f"node {rec_name!r}: snnlearn's recurrent synapses have no "
                             "self-connections and no bias; the diagonal and bias must be 0")
        with torch.no_grad():
            layer.recurrent_weight.copy_(torch.as_tensor(
                w_rec if exact else w_rec * gain[:, None], dtype=layer.weight.dtype))
    with torch.no_grad():
        w = weight if exact else weight * gain[:, None]
        layer.weight.copy_(torch.as_tensor(w, dtype=layer.weight.dtype))
        if layer.bias is not None and bias is not None:
            layer.bias.copy_(torch.as_tensor(bias if exact else bias * gain,
                                             dtype=layer.bias.dtype))
    return layer
