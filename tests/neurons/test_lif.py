"""Tests for snnlearn.neurons.lif against closed forms and hand-computed traces."""

from __future__ import annotations

import math

import pytest
import torch

from snnlearn.neurons import (
    LIFParams,
    LIFState,
    lif_fire,
    lif_initial_state,
    lif_integrate,
    lif_step,
)
from snnlearn.surrogate import ATan, FastSigmoid, Triangle

F64 = torch.float64


def run(p: LIFParams, x: torch.Tensor, dt: float, state: LIFState | None = None):
    """Run ``lif_step`` over a time-first input; return spikes, membranes, currents, states."""
    state = lif_initial_state(tuple(x.shape[1:]), p, dtype=x.dtype) if state is None else state
    zs, vs, cs, states = [], [], [], []
    for t in range(x.shape[0]):
        z, state = lif_step(x[t], state, p, dt)
        zs.append(z)
        vs.append(state.v)
        cs.append(state.i)
        states.append(state)
    return torch.stack(zs), torch.stack(vs), torch.stack(cs), states


# --------------------------------------------------------------------------- sub-threshold


@pytest.mark.parametrize(("tau_mem", "r", "current"), [(10e-3, 1.0, 0.95), (20e-3, 0.5, 1.9),
                                                       (5e-3, 2.0, -1.0)])
def test_subthreshold_charging_curve(tau_mem, r, current):
    dt, steps = 1e-4, 1000
    p = LIFParams(tau_mem=tau_mem, r=r)
    z, v, _, _ = run(p, torch.full((steps, 1, 1), current, dtype=F64), dt)
    assert z.sum() == 0  # R I < v_th: never fires
    t = dt * torch.arange(1, steps + 1, dtype=F64)
    expected = r * current * (1.0 - torch.exp(-t / tau_mem))
    torch.testing.assert_close(v[:, 0, 0], expected, rtol=1e-12, atol=1e-13)


def test_free_decay():
    dt, steps, tau = 1e-3, 100, 12e-3
    p = LIFParams(tau_mem=tau)
    v0 = torch.tensor([[0.9, -0.6]], dtype=F64)
    state = lif_initial_state((1, 2), p, dtype=F64)._replace(v=v0)
    _, v, _, _ = run(p, torch.zeros(steps, 1, 2, dtype=F64), dt, state)
    t = dt * torch.arange(1, steps + 1, dtype=F64)[:, None]
    torch.testing.assert_close(v[:, 0, :], v0 * torch.exp(-t / tau), rtol=1e-12, atol=1e-15)


def test_current_synapse_decays_exponentially_after_a_pulse():
    dt, steps, tau_syn = 1e-3, 80, 4e-3
    p = LIFParams(tau_mem=10e-3, tau_syn=tau_syn, v_th=100.0)
    x = torch.zeros(steps, 1, 1, dtype=F64)
    x[0] = 0.7
    z, _, i, _ = run(p, x, dt)
    assert z.sum() == 0
    k = torch.arange(steps, dtype=F64)
    torch.testing.assert_close(i[:, 0, 0], 0.7 * torch.exp(-k * dt / tau_syn), rtol=1e-12,
                               atol=1e-16)


# --------------------------------------------------------------------------- firing rate


@pytest.mark.parametrize("t_ref", [1e-3, 2e-3])
def test_constant_current_firing_rate_matches_closed_form(t_ref):
    dt, tau, steps = 1e-5, 10e-3, 3800
    currents = torch.tensor([1.5, 2.0, 4.0], dtype=F64)
    p = LIFParams(tau_mem=tau, reset="hard", v_reset=0.0, t_ref=t_ref)
    with torch.no_grad():
        z, _, _, _ = run(p, currents.expand(steps, 1, 3), dt)
    for n, current in enumerate(currents.tolist()):
        times = torch.nonzero(z[:, 0, n]).flatten()
        assert len(times) >= 3
        isi_steps = torch.diff(times)
        assert torch.all(isi_steps == isi_steps[0])  # periodic
        isi = isi_steps[0].item() * dt
        isi_theory = t_ref + tau * math.log(current / (current - 1.0))
        rate, rate_theory = 1.0 / isi, 1.0 / isi_theory
        # Spikes fall on the first grid point past the analytic crossing: ISI in (theory, +dt].
        assert isi_theory - 1e-12 < isi <= isi_theory + dt + 1e-12
        assert abs(rate - rate_theory) / rate_theory <= dt / isi_theory + 1e-9


# --------------------------------------------------------------------------- refractoriness


@pytest.mark.parametrize(("t_ref", "held"), [(3e-3, 3), (2.6e-3, 3), (2.4e-3, 2), (1e-3, 1),
                                             (0.4e-3, 0), (0.0, 0)])
def test_refractory_period_holds_the_membrane_and_blocks_spikes(t_ref, held):
    dt, steps = 1e-3, 20
    p = LIFParams(tau_mem=10e-3, reset="hard", v_reset=-0.25, t_ref=t_ref)
    z, v, _, _ = run(p, torch.full((steps, 1, 1), 100.0, dtype=F64), dt)
    period = held + 1  # the input is strong enough to fire on every non-refractory step
    expected = torch.tensor([1.0 if k % period == 0 else 0.0 for k in range(steps)], dtype=F64)
    assert torch.equal(z[:, 0, 0], expected)
    assert torch.all(v[:, 0, 0][expected == 0] == -0.25)  # held at the reset value


def test_refractory_hold_blocks_spikes_even_above_threshold():
    dt, t_ref = 1e-3, 2e-3
    p = LIFParams(tau_mem=10e-3, reset="subtract", t_ref=t_ref)
    z, v, _, states = run(p, torch.full((8, 1, 1), 100.0, dtype=F64), dt)
    v = v[:, 0, 0]
    assert z[:, 0, 0].tolist() == [1, 0, 0, 1, 0, 0, 1, 0]
    assert v[0] > p.v_th  # after the subtractive reset the membrane is still above threshold ...
    assert v[1] == v[0] and v[2] == v[0]  # ... but it is held and cannot fire
    assert [s.refractory.item() for s in states[:3]] == pytest.approx([t_ref, t_ref - dt, 0.0])


def test_refractoriness_is_per_neuron():
    dt = 1e-3
    p = LIFParams(tau_mem=10e-3, reset="hard", t_ref=2e-3)
    x = torch.tensor([100.0, 0.0], dtype=F64).expand(6, 1, 2).clone()
    x[3, 0, 1] = 100.0
    z, _, _, _ = run(p, x, dt)
    assert z[:, 0, 0].tolist() == [1, 0, 0, 1, 0, 0]
    assert z[:, 0, 1].tolist() == [0, 0, 0, 1, 0, 0]


# --------------------------------------------------------------------------- threshold, reset


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_threshold_is_strict(dtype):
    p = LIFParams(v_th=1.0)
    at = torch.tensor([[1.0]], dtype=dtype)
    above = torch.nextafter(at, torch.tensor(2.0, dtype=dtype))
    state = lif_initial_state((1, 1), p, dtype=dtype)
    z_at, _ = lif_fire(state._replace(v=at), p, 1e-3)
    z_above, _ = lif_fire(state._replace(v=above), p, 1e-3)
    assert z_at.item() == 0.0 and z_above.item() == 1.0
    # Through the full step: resting exactly at threshold (v_leak = v_th) never fires.
    q = LIFParams(v_th=1.0, v_leak=1.0, v_reset=0.0)
    z, v, _, _ = run(q, torch.zeros(50, 1, 1, dtype=dtype), 1e-3)
    assert z.sum() == 0 and torch.all(v == 1.0)


def test_reset_traces_hand_computed():
    dt, tau, current, v_reset = 1e-3, 10e-3, 5.0, 0.2
    a = math.exp(-dt / tau)
    # Charging from rest: v'_k = 5 (1 - a^(k+1)) = 0.4758, 0.9063, 1.2959 -> first spike at k = 2.
    pre = [current * (1 - a ** (k + 1)) for k in range(3)]
    assert pre[1] < 1.0 < pre[2]
    x = torch.full((4, 1, 1), current, dtype=F64)
    traces = {}
    for reset in ("subtract", "hard"):
        p = LIFParams(tau_mem=tau, v_reset=v_reset, reset=reset)
        z, v, _, _ = run(p, x, dt)
        assert z[:, 0, 0].tolist() == [0, 0, 1, 0]
        traces[reset] = v[:, 0, 0]
    after_sub = pre[2] - (1.0 - v_reset)  # removes v_th - v_reset, in the same step
    after_hard = v_reset
    expected_sub = [pre[0], pre[1], after_sub, a * after_sub + (1 - a) * current]
    expected_hard = [pre[0], pre[1], after_hard, a * after_hard + (1 - a) * current]
    torch.testing.assert_close(traces["subtract"], torch.tensor(expected_sub, dtype=F64),
                               rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(traces["hard"], torch.tensor(expected_hard, dtype=F64),
                               rtol=1e-14, atol=1e-14)


# --------------------------------------------------------------------------- gradients


def one_step_grad(p: LIFParams, x0: float, dt: float, which: str) -> float:
    x = torch.tensor([[x0]], dtype=F64, requires_grad=True)
    z, s = lif_step(x, lif_initial_state((1, 1), p, dtype=F64), p, dt)
    (z if which == "z" else s.v).sum().backward()
    return x.grad.item()


@pytest.mark.parametrize("surrogate", [FastSigmoid(scale=5.0), ATan(scale=2.0),
                                       Triangle(scale=0.5)], ids=lambda s: type(s).__name__)
@pytest.mark.parametrize("v_pre", [0.6, 1.0, 1.3])
def test_backward_uses_the_surrogate_pseudo_derivative(surrogate, v_pre):
    dt, tau, r = 1e-3, 10e-3, 1.5
    gain = (1 - math.exp(-dt / tau)) * r  # dv'/dx for one step from rest
    p = LIFParams(tau_mem=tau, r=r, surrogate=surrogate)
    grad = one_step_grad(p, v_pre / gain, dt, "z")
    sigma = surrogate.derivative(torch.tensor(v_pre - 1.0, dtype=F64)).item()
    assert grad == pytest.approx(sigma * gain, rel=1e-12)


@pytest.mark.parametrize("reset", ["subtract", "hard"])
def test_detach_reset_removes_the_reset_gradient_path(reset):
    dt, tau, r, v_reset, v_pre = 1e-3, 10e-3, 1.0, -0.5, 1.3
    gain = (1 - math.exp(-dt / tau)) * r
    surrogate = FastSigmoid(scale=4.0)
    sigma = surrogate.derivative(torch.tensor(v_pre - 1.0, dtype=F64)).item()
    grads = {}
    for detach in (False, True):
        p = LIFParams(tau_mem=tau, r=r, v_reset=v_reset, reset=reset, detach_reset=detach,
                      surrogate=surrogate)
        grads[detach] = one_step_grad(p, v_pre / gain, dt, "v")
    if reset == "subtract":  # v = v' - z (v_th - v_reset)
        expected = {False: gain * (1 - sigma * (1.0 - v_reset)), True: gain}
    else:  # v = v' - z (v' - v_reset), z = 1
        expected = {False: -gain * sigma * (v_pre - v_reset), True: 0.0}
    assert grads[False] == pytest.approx(expected[False], rel=1e-12)
    assert grads[True] == pytest.approx(expected[True], rel=1e-12, abs=1e-15)
    assert grads[False] != grads[True]


def test_detach_reset_does_not_change_the_forward_pass():
    g = torch.Generator().manual_seed(3)
    x = 3.0 * torch.rand(50, 2, 4, generator=g, dtype=F64)
    out = [run(LIFParams(tau_mem=5e-3, detach_reset=d), x, 1e-3)[:2] for d in (False, True)]
    assert torch.equal(out[0][0], out[1][0]) and torch.equal(out[0][1], out[1][1])


# --------------------------------------------------------------------------- structure


def test_step_is_integrate_then_fire_and_pure():
    p = LIFParams(tau_mem=5e-3, tau_syn=3e-3, t_ref=2e-3, reset="hard")
    g = torch.Generator().manual_seed(0)
    state = LIFState(v=torch.rand(3, 4, generator=g), i=torch.rand(3, 4, generator=g),
                     refractory=torch.tensor([0.0, 1e-3, 2e-3, 0.0]).expand(3, 4).clone(),
                     z=torch.zeros(3, 4))
    before = [t.clone() for t in state]
    x = 3.0 * torch.rand(3, 4, generator=g)
    z1, s1 = lif_step(x, state, p, 1e-3)
    z2, s2 = lif_fire(lif_integrate(x, state, p, 1e-3), p, 1e-3)
    assert torch.equal(z1, z2)
    for a, b in zip(s1, s2, strict=True):
        assert torch.equal(a, b)
    for b, t in zip(before, state, strict=True):
        assert torch.equal(b, t)
    assert torch.equal(s1.z, z1)
    assert set(z1.unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_follows_the_input(dtype):
    p = LIFParams(tau_syn=5e-3, t_ref=1e-3)
    s = p.initial_state((2, 3), dtype=dtype)
    assert all(t.dtype == dtype and t.shape == (2, 3) for t in s)
    z, s = p.step(torch.full((2, 3), 100.0, dtype=dtype), s, 1e-3)
    assert z.dtype == dtype and all(t.dtype == dtype for t in s)
    assert torch.all(z == 1)


def test_batch_rows_are_independent_and_empty_batch_works():
    g = torch.Generator().manual_seed(5)
    p = LIFParams(tau_mem=5e-3, t_ref=1e-3)
    x = 3.0 * torch.rand(30, 3, 2, generator=g, dtype=F64)
    z_all, v_all, _, _ = run(p, x, 1e-3)
    for b in range(3):
        z_b, v_b, _, _ = run(p, x[:, b:b + 1], 1e-3)
        assert torch.equal(z_b[:, 0], z_all[:, b]) and torch.equal(v_b[:, 0], v_all[:, b])
    z, s = lif_step(torch.zeros(0, 5), p.initial_state((0, 5)), p, 1e-3)
    assert z.shape == (0, 5) and s.v.shape == (0, 5)


# --------------------------------------------------------------------------- validation


BAD_PARAMS = [
    ({"tau_mem": 0.0}, "tau_mem"), ({"tau_mem": -1e-3}, "tau_mem"),
    ({"tau_mem": float("nan")}, "tau_mem"), ({"tau_mem": float("inf")}, "tau_mem"),
    ({"tau_mem": True}, "tau_mem"), ({"tau_mem": "0.02"}, "tau_mem"),
    ({"tau_syn": 0.0}, "tau_syn"), ({"tau_syn": -1e-3}, "tau_syn"),
    ({"tau_syn": float("nan")}, "tau_syn"), ({"tau_syn": float("inf")}, "tau_syn"),
    ({"v_th": float("nan")}, "v_th"), ({"v_th": float("inf")}, "v_th"),
    ({"v_th": 0.0}, "v_th"), ({"v_th": 0.5, "v_reset": 0.7}, "v_th"),
    ({"v_reset": float("nan")}, "v_reset"), ({"v_leak": float("inf")}, "v_leak"),
    ({"r": float("nan")}, "r"), ({"t_ref": -1e-3}, "t_ref"), ({"t_ref": float("nan")}, "t_ref"),
    ({"t_ref": float("inf")}, "t_ref"),
    ({"reset": "zero"}, "reset"), ({"reset": "Hard"}, "reset"), ({"reset": None}, "reset"),
    ({"surrogate": "fast_sigmoid"}, "surrogate"), ({"surrogate": None}, "surrogate"),
    ({"surrogate": FastSigmoid}, "surrogate"),
]


@pytest.mark.parametrize(("kwargs", "name"), BAD_PARAMS)
def test_invalid_params_raise_naming_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        LIFParams(**kwargs)


def test_unknown_reset_lists_the_choices():
    with pytest.raises(ValueError, match="subtract.*hard"):
        LIFParams(reset="zero")  # type: ignore[arg-type]


@pytest.mark.parametrize("dt", [0.0, -1e-3, float("nan"), float("inf"), None])
def test_invalid_dt_raises(dt):
    p = LIFParams()
    with pytest.raises(ValueError, match="dt"):
        lif_step(torch.zeros(1, 1), p.initial_state((1, 1)), p, dt)


def test_zero_resistance_is_refused() -> None:
    with pytest.raises(ValueError, match="LIFParams.r must be non-zero"):
        LIFParams(r=0)
