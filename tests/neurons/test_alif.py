"""Tests for snnlearn.neurons.alif: the adaptive threshold against its closed form."""

from __future__ import annotations

import math

import pytest
import torch

from snnlearn.neurons import (
    ALIFParams,
    ALIFState,
    LIFParams,
    alif_initial_state,
    alif_step,
    lif_initial_state,
    lif_step,
)
from snnlearn.surrogate import FastSigmoid

F64 = torch.float64


def run(p: ALIFParams, x: torch.Tensor, dt: float, state: ALIFState | None = None):
    state = alif_initial_state(tuple(x.shape[1:]), p, dtype=x.dtype) if state is None else state
    zs, states = [], []
    for t in range(x.shape[0]):
        z, state = alif_step(x[t], state, p, dt)
        zs.append(z)
        states.append(state)
    return torch.stack(zs), states


def test_adaptation_jumps_by_one_minus_rho_and_decays_with_tau_adapt():
    dt, tau_adapt, steps = 1e-3, 50e-3, 60
    p = ALIFParams(lif=LIFParams(tau_mem=10e-3, reset="hard"), tau_adapt=tau_adapt,
                   adaptation=1.5)
    x = torch.zeros(steps, 1, 1, dtype=F64)
    x[0] = 100.0  # one spike at step 0, then silence
    z, states = run(p, x, dt)
    assert z[:, 0, 0].tolist() == [1.0] + [0.0] * (steps - 1)
    rho = math.exp(-dt / tau_adapt)
    a = torch.stack([s.a[0, 0] for s in states])
    k = torch.arange(steps, dtype=F64)
    torch.testing.assert_close(a, (1 - rho) * torch.exp(-k * dt / tau_adapt), rtol=1e-12,
                               atol=0.0)
    # The threshold at step k + 1 is v_th + adaptation * a_k.
    threshold = p.lif.v_th + p.adaptation * a
    assert threshold[0].item() == pytest.approx(1.0 + 1.5 * (1 - rho), rel=1e-14)


def test_the_raised_threshold_blocks_a_spike_the_lif_would_fire():
    dt, tau_mem = 1e-3, 10e-3
    lif = LIFParams(tau_mem=tau_mem, reset="hard")
    p = ALIFParams(lif=lif, tau_adapt=100e-3, adaptation=2.0)
    rho = math.exp(-dt / p.tau_adapt)
    raised = 1.0 + p.adaptation * (1 - rho)
    # Step 0 spikes; step 1 starts from v = 0 and lands halfway between v_th and the raised
    # threshold.
    target = 0.5 * (1.0 + raised)
    x = torch.tensor([[[100.0]], [[target / (1 - math.exp(-dt / tau_mem))]]], dtype=F64)
    z_alif, states = run(p, x, dt)
    assert z_alif[:, 0, 0].tolist() == [1.0, 0.0]
    assert states[1].v.item() == pytest.approx(target, rel=1e-12)
    s = lif_initial_state((1, 1), lif, dtype=F64)
    z0, s = lif_step(x[0], s, lif, dt)
    z1, s = lif_step(x[1], s, lif, dt)
    assert (z0.item(), z1.item()) == (1.0, 1.0)


@pytest.mark.parametrize("a_prev", [0.0, 0.05, 0.3])
def test_spike_condition_uses_the_previous_adaptation(a_prev):
    dt = 1e-3
    p = ALIFParams(lif=LIFParams(tau_mem=1e6), adaptation=1.8)  # a_m ~ 1: v' = v
    threshold = p.lif.v_th + p.adaptation * a_prev
    for offset, fires in ((-1e-6, 0.0), (1e-6, 1.0)):
        state = alif_initial_state((1, 1), p, dtype=F64)
        state = state._replace(v=torch.full((1, 1), threshold + offset, dtype=F64),
                               a=torch.full((1, 1), a_prev, dtype=F64))
        z, _ = alif_step(torch.zeros(1, 1, dtype=F64), state, p, dt)
        assert z.item() == fires


@pytest.mark.parametrize("reset", ["subtract", "hard"])
@pytest.mark.parametrize("t_ref", [0.0, 2e-3])
def test_zero_adaptation_equals_the_lif_exactly(reset, t_ref):
    dt = 1e-3
    lif = LIFParams(tau_mem=8e-3, tau_syn=4e-3, reset=reset, t_ref=t_ref, v_reset=-0.1)
    p = ALIFParams(lif=lif, adaptation=0.0)
    g = torch.Generator().manual_seed(2)
    x = 2.0 * torch.rand(80, 3, 5, generator=g, dtype=F64)
    z_alif, states = run(p, x, dt)
    s = lif_initial_state((3, 5), lif, dtype=F64)
    for t in range(x.shape[0]):
        z, s = lif_step(x[t], s, lif, dt)
        assert torch.equal(z, z_alif[t])
        for a, b in zip(s, states[t][:4], strict=True):
            assert torch.equal(a, b)
    assert z_alif.sum() > 0


def test_adaptation_gradient_goes_through_the_surrogate():
    dt, tau_mem = 1e-3, 10e-3
    surrogate = FastSigmoid(scale=3.0)
    p = ALIFParams(lif=LIFParams(tau_mem=tau_mem, surrogate=surrogate), tau_adapt=30e-3)
    gain = 1 - math.exp(-dt / tau_mem)
    v_pre = 1.2
    x = torch.full((1, 1), v_pre / gain, dtype=F64, requires_grad=True)
    _, s = alif_step(x, alif_initial_state((1, 1), p, dtype=F64), p, dt)
    s.a.sum().backward()
    rho = math.exp(-dt / p.tau_adapt)
    sigma = surrogate.derivative(torch.tensor(v_pre - 1.0, dtype=F64)).item()
    assert x.grad.item() == pytest.approx((1 - rho) * sigma * gain, rel=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_follows_and_state_is_complete(dtype):
    p = ALIFParams()
    s = p.initial_state((2, 3), dtype=dtype)
    assert s._fields == ("v", "i", "refractory", "z", "a")
    assert all(t.dtype == dtype and t.shape == (2, 3) for t in s)
    z, s2 = p.step(torch.full((2, 3), 100.0, dtype=dtype), s, 1e-3)
    assert z.dtype == dtype and all(t.dtype == dtype for t in s2)
    assert torch.all(s.a == 0)  # the input state is not modified


def test_empty_batch():
    p = ALIFParams()
    z, s = alif_step(torch.zeros(0, 3), p.initial_state((0, 3)), p, 1e-3)
    assert z.shape == (0, 3) and s.a.shape == (0, 3)


BAD_PARAMS = [
    ({"tau_adapt": 0.0}, "tau_adapt"), ({"tau_adapt": -0.1}, "tau_adapt"),
    ({"tau_adapt": float("nan")}, "tau_adapt"), ({"tau_adapt": float("inf")}, "tau_adapt"),
    ({"adaptation": -0.1}, "adaptation"), ({"adaptation": float("nan")}, "adaptation"),
    ({"adaptation": float("inf")}, "adaptation"),
    ({"lif": None}, "lif"), ({"lif": {"tau_mem": 0.01}}, "lif"),
]


@pytest.mark.parametrize(("kwargs", "name"), BAD_PARAMS)
def test_invalid_params_raise_naming_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        ALIFParams(**kwargs)


@pytest.mark.parametrize("dt", [0.0, -1e-3, float("nan")])
def test_invalid_dt_raises(dt):
    p = ALIFParams()
    with pytest.raises(ValueError, match="dt"):
        alif_step(torch.zeros(1, 1), p.initial_state((1, 1)), p, dt)
