"""Simulate a NIR graph step by step, as the reader it was written for would.

:func:`simulate_nir` runs any graph that :func:`~snnlearn.export.to_nir` writes (dense, conv,
pooling, flatten, delays, recurrent edges, LIF/CubaLIF/LI/CubaLI neurons), with the integrator
its metadata names: ``"exact"`` (snnlearn's: ``a = exp(-dt/tau)``, input held over the step) or
``"euler"`` (snnTorch, Norse, SpikingJelly: ``a = 1 - dt/tau``), at ``metadata["dt"]``. It is how
``snnlearn export`` measures the accuracy of the graph it wrote, without any peer installed.

Per step, nodes are evaluated in the order of a depth-first walk from the input; an edge that
closes a cycle (a recurrent edge) carries the previous step's value, as in snnlearn
(``W_rec z_{t-1}``) and in the peers. A node's input is the sum over its incoming edges.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["simulate_nir", "GraphRun"]


class GraphRun(NamedTuple):
    """What :func:`simulate_nir` returns.

    Attributes:
        outputs: ``[T, B, n_out]``: the value reaching the ``Output`` node, or, when that is a
            LIF node that can never fire (``v_threshold = inf``, a peer's readout), its membrane.
        spikes: ``{node name: [T, B, *shape]}`` for every LIF / CubaLIF node.
    """

    outputs: Tensor
    spikes: dict[str, Tensor]


def _arr(node: Any, field: str, like: Tensor) -> Tensor:
    value = getattr(node, field)
    if isinstance(value, Tensor):
        value = value.detach().cpu().numpy()
    return torch.as_tensor(np.asarray(value, dtype=np.float64), dtype=like.dtype)


def _order(graph: Any, start: str) -> tuple[list[str], set[tuple[str, str]]]:
    """Nodes in depth-first order from ``start`` and the edges that close a cycle."""
    successors: dict[str, list[str]] = {}
    for src, dst in graph.edges:
        successors.setdefault(src, []).append(dst)
    indegree = {name: 0 for name in graph.nodes}
    back: set[tuple[str, str]] = set()
    # find back edges with a DFS, then order the remaining DAG topologically
    state: dict[str, int] = {}

    def visit(name: str) -> None:
        state[name] = 1
        for nxt in successors.get(name, []):
            if state.get(nxt) == 1:
                back.add((name, nxt))
            elif nxt not in state:
                visit(nxt)
        state[name] = 2

    visit(start)
    for name in graph.nodes:
        if name not in state:
            visit(name)
    for src, dst in graph.edges:
        if (src, dst) not in back:
            indegree[dst] += 1
    ready = [n for n, d in indegree.items() if d == 0]
    order = []
    while ready:
        name = ready.pop(0)
        order.append(name)
        for nxt in successors.get(name, []):
            if (name, nxt) in back:
                continue
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                ready.append(nxt)
    return order, back


def simulate_nir(graph: Any, x: Tensor, *, integration: str | None = None,
                 dt: float | None = None) -> GraphRun:
    """Run ``graph`` on the time-first input ``x`` ``[T, B, *input shape]``.

    Args:
        graph: a ``nir.NIRGraph``.
        x: the input sequence (a value per step, held over the step).
        integration: ``"exact"`` or ``"euler"``; default: from ``graph.metadata`` (``"exact"``
            for a graph without snnlearn metadata).
        dt: the step (s); default ``graph.metadata["dt"]``.

    Raises:
        ValueError: no ``dt`` known, an unknown integration, or a node type it cannot run.

    Example:
        >>> import torch
        >>> from snnlearn.export import to_nir
        >>> from snnlearn.layers import build_network
        >>> from snnlearn.neurons import LIFParams
        >>> net = build_network(3, [4], 2, dt=1e-3, neuron=LIFParams(reset="hard"))
        >>> simulate_nir(to_nir(net), torch.ones(5, 2, 3)).outputs.shape
        torch.Size([5, 2, 2])
    """
    import nir

    meta = dict(getattr(graph, "metadata", {}) or {})
    if integration is None:
        integration = "euler" if str(meta.get("integration", "")).startswith("forward Euler") \
            else "exact"
    if integration not in ("exact", "euler"):
        raise ValueError(f"integration must be 'exact' or 'euler', got {integration!r}")
    dt = float(meta["dt"]) if dt is None and "dt" in meta else dt
    if dt is None or not (math.isfinite(dt) and dt > 0):
        raise ValueError("simulate_nir needs dt: the graph's metadata has none; pass dt=")
    inputs = [k for k, v in graph.nodes.items() if isinstance(v, nir.Input)]
    outputs = [k for k, v in graph.nodes.items() if isinstance(v, nir.Output)]
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(f"simulate_nir needs one Input and one Output node, got {inputs} and "
                         f"{outputs}")
    order, back = _order(graph, inputs[0])
    preds: dict[str, list[str]] = {n: [] for n in graph.nodes}
    for src, dst in graph.edges:
        preds[dst].append(src)
    out_name = outputs[0]
    state: dict[str, dict[str, Tensor]] = {}
    value: dict[str, Tensor] = {}
    spikes: dict[str, list[Tensor]] = {}
    history: dict[str, list[Tensor]] = {}
    result = []
    for t in range(x.shape[0]):
        previous = dict(value)
        for name in order:
            node = graph.nodes[name]
            if isinstance(node, nir.Input):
                value[name] = x[t]
                continue
            terms = [previous.get(s) if (s, name) in back else value[s] for s in preds[name]]
            terms = [v for v in terms if v is not None]
            if not terms:  # only a recurrent input at t = 0
                continue
            s = terms[0] if len(terms) == 1 else torch.stack(torch.broadcast_tensors(*terms)).sum(0)
            value[name] = _node(nir, node, name, s, state, history, spikes, dt, integration)
        head = preds[out_name][0]
        node = graph.nodes[head]
        if isinstance(node, (nir.LIF, nir.CubaLIF)) and bool(
                torch.isinf(_arr(node, "v_threshold", x)).all()):
            result.append(state[head]["v"])
        else:
            result.append(value[out_name])
    return GraphRun(torch.stack(result), {k: torch.stack(v) for k, v in spikes.items()})


def _node(nir: Any, node: Any, name: str, s: Tensor, state: dict[str, dict[str, Tensor]],
          history: dict[str, list[Tensor]], spikes: dict[str, list[Tensor]], dt: float,
          integration: str) -> Tensor:
    if isinstance(node, nir.Output):
        return s
    if isinstance(node, (nir.Affine, nir.Linear)):
        w = _arr(node, "weight", s)
        b = _arr(node, "bias", s) if isinstance(node, nir.Affine) else None
        return F.linear(s, w, b)
    if isinstance(node, (nir.Conv1d, nir.Conv2d)):
        conv = F.conv1d if isinstance(node, nir.Conv1d) else F.conv2d
        pad = node.padding
        pad = tuple(int(p) for p in np.atleast_1d(pad)) if not isinstance(pad, str) else pad
        return conv(s, _arr(node, "weight", s), _arr(node, "bias", s),
                    stride=tuple(int(v) for v in np.atleast_1d(node.stride)), padding=pad,
                    dilation=tuple(int(v) for v in np.atleast_1d(node.dilation)),
                    groups=int(node.groups))
    if isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
        k = tuple(int(v) for v in node.kernel_size)
        out = F.avg_pool2d(s, k, tuple(int(v) for v in node.stride),
                           tuple(int(v) for v in node.padding))
        return out * math.prod(k) if isinstance(node, nir.SumPool2d) else out
    if isinstance(node, nir.Flatten):
        end = node.end_dim + 1 if node.end_dim >= 0 else node.end_dim
        return s.flatten(node.start_dim + 1, end)
    if isinstance(node, nir.Delay):
        steps = np.rint(np.asarray(node.delay, dtype=np.float64) / dt).astype(int)
        buf = history.setdefault(name, [])
        buf.append(s)
        k = int(steps.max())
        del buf[:-(k + 1)]
        flat = torch.zeros_like(s)
        for d in np.unique(steps):
            if len(buf) > d:
                mask = torch.as_tensor(steps == d).reshape(s.shape[1:])
                flat = torch.where(mask, buf[-1 - int(d)], flat)
        return flat
    if isinstance(node, (nir.LIF, nir.CubaLIF, nir.LI, nir.CubaLI)):
        return _neuron(nir, node, name, s, state, spikes, dt, integration)
    raise ValueError(f"simulate_nir: node {name!r} is a {type(node).__name__}, which it cannot "
                     "run")


def _neuron(nir: Any, node: Any, name: str, s: Tensor, state: dict[str, dict[str, Tensor]],
            spikes: dict[str, list[Tensor]], dt: float, integration: str) -> Tensor:
    cuba = isinstance(node, (nir.CubaLIF, nir.CubaLI))
    tau = _arr(node, "tau_mem" if cuba else "tau", s)
    r, v_leak = _arr(node, "r", s), _arr(node, "v_leak", s)
    st = state.setdefault(name, {"v": v_leak.expand_as(s).clone(), "i": torch.zeros_like(s)})

    def gains(tau_: Tensor) -> tuple[Tensor, Tensor]:
        """(per-step decay, fraction of the drive taken per step)."""
        if integration == "euler":
            return 1.0 - dt / tau_, dt / tau_
        a = torch.exp(-dt / tau_)
        return a, 1.0 - a

    if cuba:
        tau_syn, w_in = _arr(node, "tau_syn", s), _arr(node, "w_in", s)
        a_s, g_s = gains(tau_syn)
        # the held input moves I by (dt/tau_syn) w_in S per step in both schemes (module doc of
        # snnlearn.export.nir); Euler also decays I by 1 - dt/tau_syn
        st["i"] = a_s * st["i"] + (dt / tau_syn) * w_in * s
        current = st["i"]
    else:
        current = s
    a_m, g_m = gains(tau)
    v = v_leak + a_m * (st["v"] - v_leak) + g_m * r * current
    if isinstance(node, (nir.LI, nir.CubaLI)):
        st["v"] = v
        return v
    z = (v > _arr(node, "v_threshold", s)).to(s.dtype)
    v_reset = _arr(node, "v_reset", s) if node.v_reset is not None else torch.zeros_like(v_leak)
    st["v"] = torch.where(z > 0, v_reset.expand_as(v), v)
    spikes.setdefault(name, []).append(z)
    return z
