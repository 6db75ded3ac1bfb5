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
unchanged.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor

from snnlearn.layers import Network, Readout
from snnlearn.simulate import Rollout, unroll

__all__ = ["GridFunction", "grid_constants"]


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


def _readout_adjoint(g_out: Tensor, c: _Grid) -> tuple[Tensor, Tensor]:
    """``(Lambda_I, lambda_v)`` of the readout; ``lambda_v[n]`` includes the loss at ``n``."""
    lam_v, lam_i = torch.empty_like(g_out), torch.empty_like(g_out)
    lv, li = g_out.new_zeros(g_out.shape[1:]), g_out.new_zeros(g_out.shape[1:])
    for n in range(g_out.shape[0] - 1, -1, -1):
        lv = g_out[n] + c.a_m * lv
        li = c.g * lv + c.a_s * li
        lam_v[n], lam_i[n] = lv, li
    return lam_i, lam_v


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


def _lif_adjoint(u: Tensor, z: Tensor, d: Tensor, w_rec: Tensor | None, c: _Grid
                 ) -> tuple[Tensor, Tensor]:
    """``(Lambda_I, Lambda_u')`` ``[T, B, N]`` of one LIF layer given the downstream ``D``."""
    f, h = _jump_factors(u, z, c)
    lam_i, lam_up = torch.empty_like(u), torch.empty_like(u)
    lu, li = u.new_zeros(u.shape[1:]), u.new_zeros(u.shape[1:])
    spiking = z.flatten(1).any(1).tolist() if w_rec is not None else ()
    for n in range(u.shape[0] - 1, -1, -1):
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
    """Forward: ``unroll`` (no autograd graph). Backward: the grid adjoint (module docstring).

    ``apply(net, box, x, *params)`` with ``params`` every layer's ``weight``, ``bias`` (if any)
    and ``recurrent_weight`` (if any), in layer order; the rollout is appended to ``box``.
    """

    @staticmethod
    def forward(ctx: Any, net: Network, box: list[Rollout], x: Tensor, *params: Tensor
                ) -> Tensor:
        ro = unroll(net, x, record=True, check=False)
        box.append(ro)
        ctx.net = net
        hidden = [t for rec, z in zip(ro.records[:-1], ro.spikes, strict=True)
                  for t in (rec.input, rec.u, z)]
        ctx.save_for_backward(ro.records[-1].input, *hidden)
        return ro.outputs.clone()

    @staticmethod
    def backward(ctx: Any, g_out: Tensor) -> tuple[Tensor | None, ...]:
        net: Network = ctx.net
        readout_in, *flat = ctx.saved_tensors
        layers = list(net.layers)
        dt = float(net.dt)
        grads: list[list[Tensor | None]] = []
        ro_layer = layers[-1]
        assert isinstance(ro_layer, Readout)
        c = grid_constants(ro_layer.neuron, dt)
        lam_i, lam_v = _readout_adjoint(g_out, c)
        grads.append(_param_grads(ro_layer, lam_i, readout_in, None))
        arrival, w_down = _arrival(lam_i, lam_v, c), ro_layer.weight.detach()
        for k in range(len(layers) - 2, -1, -1):
            layer = layers[k]
            inp, u, z = flat[3 * k:3 * k + 3]
            c = grid_constants(layer.neuron, dt)
            d = arrival @ w_down.to(arrival.dtype)
            w_rec = layer.masked_recurrent_weight()
            w_rec = None if w_rec is None else w_rec.detach().to(u.dtype)
            lam_i, lam_up = _lif_adjoint(u, z, d, w_rec, c)
            grads.append(_param_grads(layer, lam_i, inp, z))
            arrival, w_down = _arrival(lam_i, lam_up, c), layer.weight.detach()
        out: list[Tensor | None] = [g for layer_grads in reversed(grads) for g in layer_grads]
        return (None, None, None, *out)


def _param_grads(layer: Any, lam_i: Tensor, inp: Tensor, z: Tensor | None
                 ) -> list[Tensor | None]:
    """``dL/dW``, ``dL/db`` (if a bias) and ``dL/dW_rec`` (if recurrent) from ``Lambda_I``."""
    w = layer.weight
    flat_i = lam_i.reshape(-1, lam_i.shape[-1])
    out: list[Tensor | None] = [(flat_i.T @ inp.reshape(-1, inp.shape[-1]).to(flat_i.dtype))
                                .to(w.dtype)]
    if layer.bias is not None:
        out.append(flat_i.sum(0).to(w.dtype))
    if getattr(layer, "recurrent_weight", None) is not None:
        assert z is not None
        g_rec = lam_i[1:].reshape(-1, lam_i.shape[-1]).T @ z[:-1].reshape(-1, z.shape[-1])
        out.append(g_rec.fill_diagonal_(0.0).to(w.dtype))
    return out


def grid_params(net: Network) -> list[Tensor]:
    """The parameters :class:`GridFunction` takes, in its order."""
    out: list[Tensor] = []
    for layer in net.layers:
        out.append(layer.weight)
        if layer.bias is not None:
            out.append(layer.bias)
        if getattr(layer, "recurrent_weight", None) is not None:
            out.append(layer.recurrent_weight)
    return out
