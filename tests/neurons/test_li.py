"""Tests for snnlearn.neurons.li: the leaky integrator against its closed forms."""

from __future__ import annotations

import math

import pytest
import torch

from snnlearn.neurons import LIParams, LIState, leaky_integrate, li_initial_state, li_step

F64 = torch.float64


def run(p: LIParams, x: torch.Tensor, dt: float, state: LIState | None = None):
    """Run ``li_step`` over a time-first input; return the stacked v and i."""
    state = li_initial_state(tuple(x.shape[1:]), p, dtype=x.dtype) if state is None else state
    vs, cs = [], []
    for t in range(x.shape[0]):
        v, state = li_step(x[t], state, p, dt)
        vs.append(v)
        cs.append(state.i)
    return torch.stack(vs), torch.stack(cs), state


@pytest.mark.parametrize(("tau_mem", "r", "current", "v_leak"),
                         [(10e-3, 1.0, 0.8, 0.0), (20e-3, 2.5, -0.3, 0.0), (5e-3, 0.5, 1.7, -0.4)])
def test_charging_curve_matches_closed_form(tau_mem, r, current, v_leak):
    dt, steps = 1e-4, 500
    p = LIParams(tau_mem=tau_mem, r=r, v_leak=v_leak)
    v, _, _ = run(p, torch.full((steps, 1, 1), current, dtype=F64), dt)
    t = dt * torch.arange(1, steps + 1, dtype=F64)
    expected = v_leak + r * current * (1.0 - torch.exp(-t / tau_mem))
    torch.testing.assert_close(v[:, 0, 0], expected, rtol=1e-12, atol=1e-13)


def test_free_decay_matches_closed_form():
    dt, steps, tau = 1e-3, 200, 15e-3
    p = LIParams(tau_mem=tau, v_leak=0.3)
    v0 = torch.tensor([[1.3, -0.7]], dtype=F64)
    state = LIState(v=v0, i=torch.zeros_like(v0))
    v, _, _ = run(p, torch.zeros(steps, 1, 2, dtype=F64), dt, state)
    t = dt * torch.arange(1, steps + 1, dtype=F64)[:, None]
    expected = 0.3 + (v0 - 0.3) * torch.exp(-t / tau)
    torch.testing.assert_close(v[:, 0, :], expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(("tau_mem", "tau_syn"), [(10e-3, 5e-3), (5e-3, 20e-3)])
def test_unit_pulse_response_is_a_difference_of_exponentials(tau_mem, tau_syn):
    dt, steps, r = 1e-3, 120, 1.5
    p = LIParams(tau_mem=tau_mem, tau_syn=tau_syn, r=r)
    x = torch.zeros(steps, 1, 1, dtype=F64)
    x[0] = 1.0
    v, i, _ = run(p, x, dt)
    k = torch.arange(steps, dtype=F64)
    # I_k = a_s^k; v_k = R (1 - a_m) sum_j a_m^(k-j) a_s^j
    #     = R (1 - a_m) (a_m^(k+1) - a_s^(k+1)) / (a_m - a_s)
    a_m, a_s = math.exp(-dt / tau_mem), math.exp(-dt / tau_syn)
    torch.testing.assert_close(i[:, 0, 0], torch.exp(-k * dt / tau_syn), rtol=1e-12, atol=1e-15)
    t_next = (k + 1) * dt
    expected = r * (1 - a_m) * (torch.exp(-t_next / tau_mem) - torch.exp(-t_next / tau_syn))
    expected = expected / (a_m - a_s)
    torch.testing.assert_close(v[:, 0, 0], expected, rtol=1e-10, atol=1e-14)


def test_without_synapse_the_input_is_the_current():
    p = LIParams(tau_mem=10e-3)
    x = torch.tensor([[0.5, -2.0]], dtype=F64)
    _, s = li_step(x, li_initial_state((1, 2), p, dtype=F64), p, 1e-3)
    assert torch.equal(s.i, x)


def test_leaky_integrate_is_the_same_equation_for_zero_and_nonzero_leak():
    g = torch.Generator().manual_seed(0)
    x, v, i = (torch.randn(3, 4, generator=g, dtype=F64) for _ in range(3))
    kw = {"tau_mem": 7e-3, "tau_syn": 3e-3, "r": 1.3, "dt": 1e-3}
    v0, i0 = leaky_integrate(x, v, i, v_leak=0.0, **kw)
    # Shifting the leak and the membrane together must shift the result by the same amount.
    v1, i1 = leaky_integrate(x, v + 0.25, i, v_leak=0.25, **kw)
    torch.testing.assert_close(v1 - 0.25, v0, rtol=1e-13, atol=1e-14)
    assert torch.equal(i0, i1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_and_shape_follow_the_input(dtype):
    p = LIParams(tau_syn=5e-3, v_leak=0.1)
    s = p.initial_state((3, 2), dtype=dtype)
    assert s.v.dtype == dtype and s.v.shape == (3, 2)
    assert torch.all(s.v == 0.1) and torch.all(s.i == 0)
    v, s = p.step(torch.ones(3, 2, dtype=dtype), s, 1e-3)
    assert v.dtype == dtype and s.v.dtype == dtype and s.i.dtype == dtype


def test_step_is_pure():
    p = LIParams(tau_syn=5e-3)
    state = LIState(v=torch.ones(2, 3), i=torch.ones(2, 3))
    before = [t.clone() for t in state]
    x = torch.full((2, 3), 2.0)
    out1, s1 = li_step(x, state, p, 1e-3)
    out2, s2 = li_step(x, state, p, 1e-3)
    for b, t in zip(before, state, strict=True):
        assert torch.equal(b, t)
    assert torch.equal(out1, out2) and torch.equal(s1.i, s2.i)


def test_empty_batch():
    p = LIParams()
    v, s = li_step(torch.zeros(0, 4), p.initial_state((0, 4)), p, 1e-3)
    assert v.shape == (0, 4) and s.i.shape == (0, 4)


def test_gradcheck_over_an_unrolled_sequence():
    p = LIParams(tau_mem=8e-3, tau_syn=4e-3, r=1.2, v_leak=0.1)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(6, 2, 3, generator=g, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: run(p, t, 1e-3)[0], (x,))


BAD_PARAMS = [
    ("tau_mem", 0.0), ("tau_mem", -1e-3), ("tau_mem", float("nan")), ("tau_mem", float("inf")),
    ("tau_mem", True), ("tau_mem", "0.01"), ("tau_mem", None),
    ("tau_syn", 0.0), ("tau_syn", -5e-3), ("tau_syn", float("nan")), ("tau_syn", float("inf")),
    ("r", float("nan")), ("r", float("inf")), ("r", "1"),
    ("v_leak", float("nan")), ("v_leak", float("-inf")),
]


@pytest.mark.parametrize(("name", "value"), BAD_PARAMS)
def test_invalid_params_raise_naming_the_parameter(name, value):
    with pytest.raises(ValueError, match=name):
        LIParams(**{name: value})


@pytest.mark.parametrize("dt", [0.0, -1e-3, float("nan"), float("inf"), "1e-3", None])
def test_invalid_dt_raises(dt):
    p = LIParams()
    with pytest.raises(ValueError, match="dt"):
        li_step(torch.zeros(1, 1), p.initial_state((1, 1)), p, dt)
