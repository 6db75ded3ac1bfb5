r"""EventProp's time-grid mode (private; the model and the exact mode are in
:mod:`snnlearn.learning.eventprop`).

Forward: the network's own recording time loop, ``unroll(net, x, record=True)``, i.e. the
discrete model of :mod:`snnlearn.neurons.lif` (``I_n = a_s I_{n-1} + c_n``, ``u'_n = a_m u_{n-1}
+ g I_n`` with ``g = (1 - a_m) R``, spike where ``u'_n > theta``, reset), where ``c_n = W x_n + b
+ W_rec z_{n-1}``. Backward: the EventProp adjoint integrated backwards on the same grid, with
the jumps of the continuous-time adjoint at the spike steps (as mlGeNN does). Per layer,
``lambda_u`` (``dL/du``, the state between steps) and ``Lambda_I[n] = dL/dc_n``:

.. math::

    \Lambda_{u'}[n] = \begin{cases}
        \big((R I_n - u_r)\, \lambda_u[n] - \tau_m D[n]\big) / (R I_n - \theta)
            & z_n = 1 \\ \lambda_u[n] & \text{otherwise} \end{cases}, \qquad
    \Lambda_I[n] = g\, \Lambda_{u'}[n] + a_s \Lambda_I[n + 1], \qquad
    \lambda_u[n - 1] = a_m \Lambda_{u'}[n],

the jump being the exact one of Wunderlich & Pehle with the spike placed at its step
(``tau_m u'^- = R I - theta``, ``tau_m u'^+ = R I - u_r``). ``D[n] = dL/dt_s`` of a spike at step
``n``: each spike arrives at its targets as a jump of their current at their step (step ``n``
downstream, step ``n + 1`` recurrently), and moving an event there changes the loss by
``w (lambda_I / tau_s - R lambda_u / tau_m)`` with the target's ``lambda_I = Lambda_I`` and
``lambda_u`` at the arrival step. The readout (no threshold) has only the linear part, plus the
loss source: ``lambda_v[n] = dL/doutputs[n] + a_m lambda_v[n + 1]``, which is the exact adjoint
of the discrete readout. Gradients: ``dL/dW = sum_n Lambda_I[n]^T x_n``, ``dL/db = sum_n
Lambda_I[n]``, ``dL/dW_rec = sum_n Lambda_I[n]^T z_{n-1}`` (diagonal zero).

``I_n`` at a spike is read off the recorded pre-reset membrane: ``I_n = (u'_n - a_m
u_{n-1}) / g`` with ``u_{n-1}`` the post-reset membrane of the step before. Within a step the
discrete membrane moves monotonically towards ``R I_n``, so a spike reached from below has
``R I_n > u'_n > theta``: the denominator is positive. A spike of a membrane that was already
above threshold (the subtractive reset can leave it there) has no crossing; it passes the adjoint
unchanged. The simulation starts from rest (``u_{-1} = 0``, ``I_{-1} = 0``).

Accuracy: the grid places each spike at the end of its step and holds the current over a step,
so this is the continuous-time EventProp gradient up to O(dt) (the tests measure the convergence
against the exact mode and a recurrent event-exact reference); for the readout parameters it is
the exact gradient of the simulated (discrete) loss.

Implementation: ``unroll`` runs without an autograd graph except for each layer's projection
(``layer.project``, the synapse's own forward, e.g. the sparse path for spike inputs); the
backward pass returns ``Lambda_I`` as the gradient of those currents, so autograd computes the
weight and bias gradients through the synapse. The scan over time is one numba kernel per layer
on the CPU (:func:`snnlearn.learning._eventprop_cpu.grid_adjoint_compiled`, parallel over the
batch, the recurrent term summed only for the neurons that spiked), torch ops per step elsewhere.

References:
    Wunderlich, T. C. & Pehle, C. (2021). Scientific Reports 11, 12829.
    Nowotny, T., Turner, J. P. & Knight, J. C. Loss shaping enhances exact gradient learning
    with Eventprop in spiking neural networks. arXiv:2212.01232.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor

from snnlearn.kernels.dispatch import numba_available
from snnlearn.layers import Network
from snnlearn.simulate import Rollout, unroll

__all__ = ["GridFunction", "grid_constants", "grid_simulate"]


class _Grid(NamedTuple):
    """Constants of one layer on the grid (voltages relative to ``v_leak``)."""

    a_m: float
    a_s: float
    g: float
    tau_mem: float
    tau_syn: float
    r: float
    theta: float
    u_reset: float
    v_leak: float
    subtract: bool


def grid_constants(p: Any, dt: float) -> _Grid:
    """The grid constants of a LIF (or LI: ``theta = inf``) parameter set with ``tau_syn`` set."""
    a_m, a_s = math.exp(-dt / p.tau_mem), math.exp(-dt / p.tau_syn)
    theta = getattr(p, "v_th", math.inf) - p.v_leak
    u_reset = getattr(p, "v_reset", p.v_leak) - p.v_leak
    return _Grid(a_m, a_s, (1.0 - a_m) * p.r, p.tau_mem, p.tau_syn, p.r, theta, u_reset,
                 p.v_leak, getattr(p, "reset", "hard") == "subtract")


def _jump_factors(u: Tensor, z: Tensor, c: _Grid) -> tuple[Tensor, Tensor]:
    """Per step and neuron ``(f, h)`` with ``Lambda_u' = f lambda_u - h D`` (``f = 1, h = 0``
    where no spike with a crossing happened); evaluated at the spikes only."""
    f, h = torch.ones_like(u), torch.zeros_like(u)
    t, b, k = z.nonzero(as_tuple=True)
    if t.numel() == 0:
        return f, h
    up = u[t, b, k] - c.v_leak  # pre-reset membrane relative to v_leak
    before = (t - 1).clamp(min=0)
    prev_up = torch.where(t > 0, u[before, b, k] - c.v_leak, torch.zeros_like(up))
    prev_z = torch.where(t > 0, z[before, b, k], torch.zeros_like(up)) > 0
    if c.subtract:
        prev = prev_up - prev_z.to(up.dtype) * (c.theta - c.u_reset)
    else:
        prev = torch.where(prev_z, torch.full_like(up, c.u_reset), prev_up)
    current = (up - c.a_m * prev) / c.g
    den = c.r * current - c.theta
    ok = (prev <= c.theta) & (den > 0)
    t, b, k, den, current = t[ok], b[ok], k[ok], den[ok], current[ok]
    f[t, b, k] = (c.r * current - c.u_reset) / den
    h[t, b, k] = c.tau_mem / den
    return f, h


def _scan(u: Tensor | None, z: Tensor | None, d: Tensor, w_rec: Tensor | None, c: _Grid
          ) -> tuple[Tensor, Tensor]:
    """``(Lambda_I, Lambda_u')`` ``[T, B, N]`` of one layer (``u``, ``z`` ``None``: the readout,
    with the source ``d = dL/dv``): compiled on the CPU (numba), torch ops per step elsewhere."""
    if d.device.type == "cpu" and numba_available():
        from snnlearn.learning._eventprop_cpu import grid_adjoint_compiled

        return grid_adjoint_compiled(u, z, d, w_rec, c)
    if u is None or z is None:
        f, h = torch.ones_like(d), -torch.ones_like(d)
    else:
        f, h = _jump_factors(u, z, c)
    lam_i, lam_up = torch.empty_like(f), torch.empty_like(f)
    lu, li = f.new_zeros(f.shape[1:]), f.new_zeros(f.shape[1:])
    spiking = z.flatten(1).any(1).tolist() if w_rec is not None and z is not None else ()
    for n in range(f.shape[0] - 1, -1, -1):
        dn = d[n]
        if w_rec is not None and spiking[n]:  # recurrent events arrive at step n + 1
            dn = dn + (li / c.tau_syn - c.r * lu / c.tau_mem) @ w_rec
        lup = f[n] * lu - h[n] * dn
        li = c.g * lup + c.a_s * li
        lam_i[n], lam_up[n] = li, lup
        lu = c.a_m * lup
    return lam_i, lam_up


def _arrival(lam_i: Tensor, lam_up: Tensor, c: _Grid) -> Tensor:
    """``lambda_I / tau_s - R lambda_u / tau_m`` at the arrival of an event at each step."""
    return lam_i / c.tau_syn - (c.r * c.a_m / c.tau_mem) * lam_up


class GridFunction(torch.autograd.Function):
    """Links the readout output of a recorded rollout to each layer's feed-forward current and
    recurrent weight; backward is the grid adjoint (module docstring).

    ``apply(net, rollout, *currents, *recurrent_weights)``: ``currents`` one per layer (the
    projections, with their autograd history, whose gradient ``Lambda_I`` autograd carries on to
    the synapse's weight and bias), ``recurrent_weights`` one per recurrent layer.
    """

    @staticmethod
    def forward(ctx: Any, net: Network, ro: Rollout, *inputs: Tensor) -> Tensor:
        ctx.net = net
        ctx.save_for_backward(*(t for rec, z in zip(ro.records[:-1], ro.spikes, strict=True)
                                for t in (rec.u, z)))
        return ro.outputs.clone()

    @staticmethod
    def backward(ctx: Any, g_out: Tensor) -> tuple[Tensor | None, ...]:
        net: Network = ctx.net
        flat = ctx.saved_tensors
        layers = list(net.layers)
        dt = float(net.dt)
        c = grid_constants(layers[-1].neuron, dt)
        lam_i, lam_v = _scan(None, None, g_out.contiguous(), None, c)  # the readout
        currents, recurrent = [lam_i], []
        arrival, w_down = _arrival(lam_i, lam_v, c), layers[-1].weight.detach()
        for k in range(len(layers) - 2, -1, -1):
            layer = layers[k]
            u, z = flat[2 * k:2 * k + 2]
            c = grid_constants(layer.neuron, dt)
            d = arrival @ w_down.to(arrival.dtype)
            w_rec = layer.masked_recurrent_weight()
            w_rec = None if w_rec is None else w_rec.detach().to(u.dtype)
            lam_i, lam_up = _scan(u, z, d, w_rec, c)
            currents.append(lam_i)
            if w_rec is not None:
                g_rec = lam_i[1:].reshape(-1, lam_i.shape[-1]).T @ z[:-1].reshape(-1, z.shape[-1])
                recurrent.append(g_rec.fill_diagonal_(0.0).to(layer.recurrent_weight.dtype))
            arrival, w_down = _arrival(lam_i, lam_up, c), layer.weight.detach()
        return (None, None, *reversed(currents), *reversed(recurrent))


def grid_simulate(net: Network, x: Tensor) -> Rollout:
    """``unroll`` forward (its projections under autograd, the neuron loops without), outputs
    linked to the parameters through :class:`GridFunction`."""
    currents: list[Tensor] = []

    def projection(k: int, layer: Any, seq: Tensor) -> Tensor:
        with torch.enable_grad():
            current = layer.project(seq)
        currents.append(current)
        return current.detach()

    with torch.no_grad():
        ro = unroll(net, x, record=True, check=False, projection=projection)
    recurrent = [layer.recurrent_weight for layer in net.layers
                 if getattr(layer, "recurrent_weight", None) is not None]
    out = GridFunction.apply(net, ro, *currents, *recurrent)
    return ro._replace(outputs=out)
