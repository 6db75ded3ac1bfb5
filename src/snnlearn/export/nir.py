"""NIR export and import: ``to_nir(network, dt=...)`` and ``from_nir(graph, dt=...)``.

NIR (the Neuromorphic Intermediate Representation) describes a network as continuous-time ODEs
with parameters per neuron; it has no ``dt``. The ODEs are those of :mod:`snnlearn.neurons`
(times in seconds, voltages dimensionless):

.. math::

    \\tau_{syn} \\dot I = -I + w_{in} S, \\qquad
    \\tau_{mem} \\dot v = (v_{leak} - v) + R I, \\qquad
    z = H(v - v_{th}) \\; (\\text{strict}), \\quad v \\leftarrow v_{reset} \\text{ on a spike}

where ``S`` is the input of the node and, without a synapse (``LIF``, ``LI``), ``I = S``.

**The input convention, and the one place ``dt`` enters.** A snnlearn input value ``x_t`` is a
current held for one step (zero-order hold), which is how every NIR backend reads a time-stepped
signal. Our current synapse makes ``I`` jump by ``x_t`` per step; in NIR's ODE a held input moves
``I`` by ``(dt / tau_syn) w_in x_t`` per step, so the exporter writes ``w_in = tau_syn / dt`` and
the importer folds ``w_in dt / tau_syn`` (per neuron) into the incoming weights. ``dt`` is also
stored in the graph's ``metadata`` as a hint (backends must not rely on metadata).

Mapping (snnlearn parameter <-> NIR field, every field a per-neuron ``np.ndarray`` of shape
``(n,)``, never a scalar; weights ``(n_out, n_in)``):

========================================  ====================================================
snnlearn                                  NIR
========================================  ====================================================
``W``, ``b`` (``bias=True``)              ``Affine(weight=W, bias=b)``
``W`` (``bias=False``)                    ``Linear(weight=W)``
``LIFParams``, ``tau_syn=None``           ``LIF(tau=tau_mem, r, v_leak, v_threshold=v_th,
                                          v_reset)``
``LIFParams``, ``tau_syn`` set            ``CubaLIF(tau_syn, tau_mem, r, v_leak, v_threshold,
                                          v_reset, w_in=tau_syn/dt)``
``LIParams`` (readout), ``tau_syn=None``  ``LI(tau=tau_mem, r, v_leak)``
``LIParams`` (readout), ``tau_syn`` set   ``CubaLI(tau_syn, tau_mem, r, v_leak, w_in=tau_syn/dt)``
========================================  ====================================================

A network becomes the chain ``input -> fc0 -> lif0 -> fc1 -> ... -> li<k> -> output``.

**What is refused** (``ValueError`` naming the layer and what to change):

- ``reset="subtract"`` by default. NIR's neurons reset *to* ``v_reset`` (since nir 1.0.6); a reset
  by subtraction has no exact NIR form. With ``subtract_reset="as_hard"`` the layer is exported as
  a reset to ``v_reset``: the graph is then *exactly* the same network with ``reset="hard"``. The
  two resets coincide in continuous time (with a bounded input current the membrane reaches
  ``v_th`` exactly, and ``v_th - (v_th - v_reset) = v_reset``); in a time-stepped simulation
  they differ by the overshoot ``v - v_th`` at the spike step, which vanishes as ``dt -> 0``.
- refractoriness (``t_ref > 0``) and ALIF (adaptive threshold): no NIR primitive.
- recurrent layers: not supported by this exporter yet.

Training-only settings (surrogate, ``detach_reset``) do not change the dynamics and are not
exported; :func:`from_nir` uses the defaults.

**Import.** :func:`from_nir` accepts a chain ``Input -> (Affine|Linear -> LIF|CubaLIF)* ->
[Affine|Linear -> LI|CubaLI] -> Output`` (the last neuron may also be ``LIF``/``CubaLIF``).
Our ``Params`` hold one value per layer, so ``tau``, ``v_leak``, ``v_threshold`` and ``v_reset``
must be uniform across a node's neurons; a non-uniform ``r`` (and ``w_in``) is folded into the
incoming weights exactly. ``IF`` (no leak, ``tau = inf``), ``Delay``, ``Threshold``, convolutions,
nested graphs and any branching or cyclic topology are refused. Nothing is ever dropped.

**Discretisation.** snnlearn integrates the membrane exactly for an input held over the step
(``a = exp(-dt/tau)``); snnTorch, Norse and SpikingJelly use forward Euler (``a = 1 - dt/tau``).
Both are first-order-consistent discretisations of the same graph and agree as ``dt/tau -> 0``;
at a finite ``dt`` a backend reproduces snnlearn exactly if every ``tau`` is replaced by
``dt / (1 - exp(-dt/tau))`` (see docs/nir.md for the measured interop results).
"""

from __future__ import annotations

import importlib
import math
from types import ModuleType
from typing import Any, Literal, get_args

import numpy as np
import torch

from snnlearn.layers import Delayed, Network, Readout, SpikingLayer
from snnlearn.neurons import ALIFParams, LIFParams, LIParams
from snnlearn.neurons._checks import check_dt

__all__ = ["to_nir", "from_nir", "SubtractReset"]

SubtractReset = Literal["refuse", "as_hard"]

_INSTALL = "pip install 'snnlearn[interop]'"


def _import_nir() -> ModuleType:
    """The ``nir`` package, or an ``ImportError`` that says how to install it."""
    try:
        return importlib.import_module("nir")
    except ImportError as err:
        raise ImportError(
            f"snnlearn.export needs the `nir` package (nir >= 1.0.6), which is not installed; "
            f"install it with `{_INSTALL}`"
        ) from err


def to_nir(network: Network, *, dt: float, subtract_reset: SubtractReset = "refuse") -> Any:
    """Export ``network`` as a ``nir.NIRGraph`` (equations and mapping in the module docstring).

    Args:
        network: a feed-forward :class:`~snnlearn.layers.Network`.
        dt: the time step (s) the network runs at; must equal ``network.dt``. It sets
            ``w_in = tau_syn / dt`` of current-synapse neurons and is stored in ``metadata``.
        subtract_reset: ``"refuse"`` (default) raises on a layer with ``reset="subtract"``;
            ``"as_hard"`` exports it as a reset to ``v_reset`` (exactly the network with
            ``reset="hard"``; see the module docstring).

    Returns:
        A type-checked ``nir.NIRGraph`` with per-neuron ``np.ndarray`` parameters.

    Raises:
        ImportError: the ``nir`` package is missing.
        ValueError: non-finite weights, ``dt`` differs from ``network.dt``, or a layer has no
            NIR form (subtractive reset without ``subtract_reset="as_hard"``, refractoriness,
            ALIF, recurrence, learnable delays).

    Example:
        >>> import torch
        >>> from snnlearn.layers import build_network
        >>> from snnlearn.neurons import LIFParams
        >>> net = build_network(3, [4], 2, dt=1e-3, neuron=LIFParams(reset="hard"),
        ...                     generator=torch.Generator().manual_seed(0))
        >>> graph = to_nir(net, dt=1e-3)
        >>> [type(graph.nodes[k]).__name__ for k in ("fc0", "lif0", "fc1", "li1")]
        ['Linear', 'LIF', 'Linear', 'LI']
        >>> graph.nodes["lif0"].tau.shape
        (4,)
    """
    nir = _import_nir()
    if not isinstance(network, Network):
        raise ValueError(f"to_nir expects a snnlearn Network, got {type(network).__name__}")
    for key, value in network.state_dict().items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise ValueError(f"to_nir: {key!r} holds {int((~torch.isfinite(value)).sum())} NaN "
                             "or Inf values; a network with non-finite weights cannot be "
                             "exported")
    dt = check_dt(dt)
    if not math.isclose(dt, network.dt, rel_tol=1e-9, abs_tol=0.0):
        raise ValueError(
            f"to_nir: dt={dt!r} s differs from the network's dt={network.dt!r} s; the graph "
            "describes the network at the step it was built for: pass dt=network.dt"
        )
    if subtract_reset not in get_args(SubtractReset):
        raise ValueError(f"subtract_reset must be one of {list(get_args(SubtractReset))}, "
                         f"got {subtract_reset!r}")
    nodes: dict[str, Any] = {"input": nir.Input(input_type=np.array([network.n_in]))}
    edges: list[tuple[str, str]] = []
    previous = "input"
    for k, layer in enumerate(network.layers):
        if isinstance(getattr(layer, "synapse", None), Delayed):
            raise ValueError(f"to_nir: layer {k} has learnable synaptic delays; this exporter "
                             "writes no per-synapse Delay nodes yet: round and export them "
                             "yourself, or train without --max-delay")
        weight = layer.weight.detach().cpu().numpy().copy()
        if layer.bias is not None:
            synapse = nir.Affine(weight=weight, bias=layer.bias.detach().cpu().numpy().copy())
        else:
            synapse = nir.Linear(weight=weight)
        name, neuron = _neuron_node(nir, k, layer, dt, subtract_reset)
        nodes[f"fc{k}"], nodes[name] = synapse, neuron
        edges += [(previous, f"fc{k}"), (f"fc{k}", name)]
        previous = name
    nodes["output"] = nir.Output(output_type=np.array([network.n_out]))
    edges.append((previous, "output"))
    metadata = {"exporter": "snnlearn", "dt": dt, "time_unit": "s",
                "input": "each step's value is held for dt (zero-order hold)",
                "integration": "exponential: a = exp(-dt/tau), input held over the step"}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


def _neuron_node(
    nir: ModuleType, k: int, layer: SpikingLayer | Readout, dt: float,
    subtract_reset: SubtractReset,
) -> tuple[str, Any]:
    """The NIR node of layer ``k``'s neurons and its name, or ``ValueError`` if it has none.

    Neuron parameters are float64 arrays: they are Python floats, and float32 would round them.
    """
    n, p = layer.n_out, layer.neuron

    def full(value: float) -> np.ndarray:
        return np.full(n, value, dtype=np.float64)

    if isinstance(p, LIParams):
        if p.tau_syn is None:
            return f"li{k}", nir.LI(tau=full(p.tau_mem), r=full(p.r), v_leak=full(p.v_leak))
        return f"li{k}", nir.CubaLI(tau_syn=full(p.tau_syn), tau_mem=full(p.tau_mem),
                                    r=full(p.r), v_leak=full(p.v_leak),
                                    w_in=full(p.tau_syn / dt))
    where = f"layer {k} ({type(layer).__name__}({layer.n_in}, {n}))"
    if isinstance(p, ALIFParams):
        raise ValueError(f"{where}: ALIF neurons (adaptive threshold) have no NIR primitive; "
                         "export a network of LIF neurons")
    if getattr(layer, "recurrent", False):
        raise ValueError(f"{where}: recurrent layers are not supported by to_nir yet; export a "
                         "feed-forward network (recurrent=False)")
    if p.t_ref > 0:
        raise ValueError(f"{where}: NIR neurons have no refractory period, got t_ref="
                         f"{p.t_ref!r} s; use t_ref=0")
    if p.reset == "subtract" and subtract_reset == "refuse":
        raise ValueError(
            f"{where}: reset='subtract' has no exact NIR form (NIR neurons reset to v_reset); "
            "build the network with LIFParams(reset='hard'), or pass "
            "subtract_reset='as_hard' to export it as a reset to v_reset (see docs/nir.md)"
        )
    common = {"r": full(p.r), "v_leak": full(p.v_leak), "v_threshold": full(p.v_th),
              "v_reset": full(p.v_reset)}
    if p.tau_syn is None:
        return f"lif{k}", nir.LIF(tau=full(p.tau_mem), **common)
    return f"lif{k}", nir.CubaLIF(tau_syn=full(p.tau_syn), tau_mem=full(p.tau_mem),
                                  w_in=full(p.tau_syn / dt), **common)


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
        layers.append(_layer(nir, graph, syn_name, neuron_name, n_in, dt, last))
        n_in = layers[-1].n_out
    return Network(layers, dt=dt)


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
    if not np.all(np.isfinite(array)):
        raise ValueError(f"a NIR {type(node).__name__} node's {field} holds "
                         f"{int((~np.isfinite(array)).sum())} NaN or Inf values; a graph to "
                         "import must have finite parameters")
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
    last: bool,
) -> SpikingLayer | Readout:
    """One snnlearn layer from a (synapse, neuron) pair of nodes."""
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
    if isinstance(neuron, leaky) and not last:
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
    if isinstance(neuron, leaky):
        layer: SpikingLayer | Readout = Readout(
            n_in, n_out, LIParams(tau_mem=tau_mem, tau_syn=tau_syn, r=r, v_leak=v_leak),
            bias=bias is not None)
    else:
        params = LIFParams(tau_mem=tau_mem, tau_syn=tau_syn, r=r, v_leak=v_leak,
                           v_th=_uniform(neuron, neuron_name, "v_threshold"),
                           v_reset=_uniform(neuron, neuron_name, "v_reset"), reset="hard")
        layer = SpikingLayer.dense(n_in, n_out, params, bias=bias is not None)
    exact = np.all(gain == 1.0)
    with torch.no_grad():
        w = weight if exact else weight * gain[:, None]
        layer.weight.copy_(torch.as_tensor(w, dtype=layer.weight.dtype))
        if layer.bias is not None and bias is not None:
            layer.bias.copy_(torch.as_tensor(bias if exact else bias * gain,
                                             dtype=layer.bias.dtype))
    return layer
