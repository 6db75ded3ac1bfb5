r"""e-prop with factorised eligibility traces: the canonical e-prop of Bellec et al. (2020).

For LIF neurons e-prop's eligibility trace, with the reset left out of it as in the paper's
Methods, factorises into a postsynaptic and a presynaptic part,
``e_{ji}^t = \psi_j^t \bar s_i^t``: ``\psi_j^t = \sigma'(u_j^t - v_{th})`` (zero while
refractory) and ``\bar s_i^t`` the presynaptic signal (an input or lower-layer spike, a recurrent
spike ``z_i^{t-1}``, or the constant 1 of a bias) filtered by the neuron's synapse and membrane,
``\bar s^t = \mathrm{LI}(s)^t`` (its current synapse ``a_s`` and membrane ``a_m``, gain
``c = (1 - a_m) R``). The gradient ``\sum_t L_j^t e_{ji}^t`` is then one matrix product over
time and batch, ``(L \odot \psi)^\top \bar s``, with the presynaptic filter a fused
leaky-integrator sequence, so the rule costs about one extra backward pass: no per-synapse state,
no loop over time in Python.

The learning signal is ``L^t = B \lambda^t`` with ``\lambda^t = \partial E / \partial I^t_{out}``
the error at the readout's input current (the readout's own kernel, from autograd through the LI
readout) and ``B = W_{out}^T`` (symmetric) or the fixed random matrix; a deeper layer ``l``
receives ``L^{l} = W_{l+1}^T (c_{l+1} \psi^{l+1} \odot L^{l+1})`` (symmetric) or
``B_l \lambda`` (random). A direct dependence of ``E`` on spikes (an activity regulariser) adds
``\partial E / \partial z^t``.

ALIF (threshold ``v_{th} + \beta a^{t-1}``, ``a^t = \rho a^{t-1} + (1 - \rho) z^t``): the
eligibility gains the adaptation trace,
``e^t = \psi^t (\bar s^t - \beta \epsilon_a^{t-1})`` with
``\epsilon_a^t = \alpha^t \epsilon_a^{t-1} + (1 - \rho) \psi^t \bar s^t`` and
``\alpha^t = \rho - (1 - \rho) \beta \psi^t``, which depends on the postsynaptic neuron and so
does not factorise per step. Summed over the sequence it does: with ``\delta^t = L^t \psi^t``,
``\sum_t \delta^t \epsilon_a^{t-1} = \sum_s (1 - \rho) \psi^s h^s \bar s^s`` where
``h^s = \delta^{s+1} + \alpha^{s+1} h^{s+1}`` (``h^{T-1} = 0``) is one reverse scan over the
postsynaptic neurons, so the gradient is ``(\delta - \beta (1 - \rho) \psi h)^\top \bar s``,
again one matrix product (the same gradient as the per-synapse traces, offline).

Exact: with one feed-forward hidden LIF or ALIF layer, ``detach_reset=True``, no refractoriness and
symmetric feedback this is the BPTT gradient of the surrogate network (the reset's gradient path
is what the factorised trace leaves out; the tests check it).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from snnlearn.kernels.dispatch import numba_available
from snnlearn.kernels.li_scan import li_sequence
from snnlearn.layers import Network, Readout, SpikingLayer
from snnlearn.neurons import ALIFParams, LIFParams, LIParams
from snnlearn.neurons._checks import decay
from snnlearn.simulate import Rollout, unroll

__all__ = ["factorized_grads", "factorized_simulate", "presynaptic_traces", "supports_factorized"]


def supports_factorized(net: Network) -> bool:
    """Whether every hidden layer is a dense LIF or ALIF layer (the factorised traces' domain)."""
    return all(isinstance(m.neuron, (LIFParams, ALIFParams)) and m.synapse.kind == "dense"
               and not m.graded for m in net.layers if isinstance(m, SpikingLayer))


def factorized_simulate(net: Network, x: Tensor) -> Rollout:
    """The fused simulation with records, autograd only through the readout.

    The hidden spikes are returned as leaves that require grad (for a direct ``dE/dz``); the
    readout reads a detached copy, so ``dE/dz`` holds the direct terms only.
    """
    with torch.no_grad():
        run = unroll(net, x, record=True)
    spikes = tuple(z.requires_grad_() for z in run.spikes)
    readout: Readout = net.layers[-1]
    top = run.records[-1].input.detach()  # a leaf of its own: dE/dz keeps the direct terms
    current = readout.project(top)
    start = readout.initial_state(x.shape[1], device=x.device, dtype=x.dtype)
    outputs, final = li_sequence(current, start, readout.neuron, net.dt)
    records = (*run.records[:-1], run.records[-1]._replace(current=current))
    return run._replace(outputs=outputs, spikes=spikes, records=records,
                        final_state=(*run.final_state[:-1], final))


def presynaptic_traces(signal: Tensor, neuron: LIFParams, dt: float) -> Tensor:
    """``\\bar s``: the presynaptic signals ``[T, B, P]`` through the neuron's synapse and
    membrane (a leaky integrator from rest; no reset)."""
    p = LIParams(tau_mem=neuron.tau_mem, tau_syn=neuron.tau_syn, r=neuron.r)
    state = p.initial_state(signal.shape[1:], device=signal.device, dtype=signal.dtype)
    return li_sequence(signal, state, p, dt)[0]


def factorized_grads(net: Network, rollout: Rollout, loss: Tensor,
                     feedback: Sequence[Tensor] | None) -> None:
    """Write the factorised e-prop direction for ``loss`` into ``.grad`` of every parameter.

    ``rollout`` must come from ``unroll(net, x, record=True)`` run under autograd for the
    readout only (the hidden layers' outputs detached), as :class:`~snnlearn.learning.EProp`'s
    simulate does.
    """
    hidden: list[SpikingLayer] = [m for m in net.layers if isinstance(m, SpikingLayer)]
    readout: Readout = net.layers[-1]
    rec_out = rollout.records[-1]
    for p in net.parameters():
        p.grad = None
    wanted = [rec_out.current, *rollout.spikes]
    found = torch.autograd.grad(loss, wanted, allow_unused=True)
    lam = found[0] if found[0] is not None else torch.zeros_like(rec_out.current)
    direct = found[1:]
    # the readout: its exact gradient from the detached top spikes
    top = rec_out.input
    readout.synapse.weight.grad = torch.einsum("tbo,tbi->oi", lam, top)
    if readout.bias is not None:
        readout.bias.grad = lam.sum((0, 1))
    signal_above = None  # L^{l+1} * c_{l+1} * psi^{l+1}, for symmetric deeper layers
    records = [r for r, m in zip(rollout.records, net.layers, strict=True)
               if isinstance(m, SpikingLayer)]
    for k in range(len(hidden) - 1, -1, -1):
        layer, rec = hidden[k], records[k]
        neuron = layer.neuron.lif if isinstance(layer.neuron, ALIFParams) else layer.neuron
        if feedback is not None:
            learning = lam @ feedback[k]
        elif k == len(hidden) - 1:
            learning = lam @ readout.weight
        else:
            learning = signal_above @ hidden[k + 1].weight
        if direct[k] is not None:
            learning = learning + direct[k]
        psi = rec.surrogate
        if neuron.t_ref > 0:
            psi = psi * _active(rollout.spikes[k], neuron, net.dt)
        delta = learning * psi  # [T, B, N]
        if isinstance(layer.neuron, ALIFParams):
            delta = _with_adaptation(delta, psi, layer.neuron, net.dt)
        c = 1.0 - torch.exp(torch.tensor(-net.dt / neuron.tau_mem)).item()
        signal_above = delta * (c * neuron.r)
        flat = delta.flatten(0, 1)
        pre = presynaptic_traces(rec.input, neuron, net.dt).flatten(0, 1)
        layer.synapse.weight.grad = flat.T @ pre
        if layer.bias is not None:
            ones = rec.input.new_ones(rec.input.shape[0], rec.input.shape[1], 1)
            layer.bias.grad = (flat * presynaptic_traces(ones, neuron, net.dt)
                               .flatten(0, 1)).sum(0)
        if layer.recurrent_weight is not None:
            z = rollout.spikes[k].detach()
            previous = torch.cat([torch.zeros_like(z[:1]), z[:-1]])
            g = flat.T @ presynaptic_traces(previous, neuron, net.dt).flatten(0, 1)
            layer.recurrent_weight.grad = g - torch.diag_embed(torch.diagonal(g))
    for p in net.parameters():
        if p.grad is None:
            p.grad = torch.zeros_like(p)


def _with_adaptation(delta: Tensor, psi: Tensor, neuron: ALIFParams, dt: float) -> Tensor:
    """``delta`` with the adaptation's part of the eligibility folded in (module docstring)."""
    beta, rho = neuron.adaptation, decay(dt, neuron.tau_adapt)
    if beta == 0:
        return delta
    if delta.device.type == "cpu" and numba_available() and delta.shape[0] > 0:
        from snnlearn.kernels import _numba_cpu as nb

        T = delta.shape[0]
        d = delta.detach().reshape(T, -1).contiguous()
        p = psi.detach().to(d.dtype).reshape(T, -1).contiguous()
        out = torch.empty_like(d)
        nb.adaptation_fold(d.numpy(), p.numpy(), *nb.as_dtype(
            d.numpy().dtype, beta * (1.0 - rho), rho, (1.0 - rho) * beta), out.numpy())
        return out.reshape(delta.shape)
    out = torch.empty_like(delta)
    h = torch.zeros_like(delta[0])
    for t in range(delta.shape[0] - 1, -1, -1):
        out[t] = delta[t] - (beta * (1.0 - rho)) * psi[t] * h
        h = delta[t] + (rho - (1.0 - rho) * beta * psi[t]) * h
    return out


def _active(z: Tensor, neuron: LIFParams, dt: float) -> Tensor:
    """1 where the neuron can fire (not refractory after a recorded spike), else 0."""
    steps = round(neuron.t_ref / dt)
    active = torch.ones_like(z)
    for lag in range(1, steps + 1):
        active[lag:] = active[lag:] * (1.0 - z[:-lag].detach())
    return active
