"""Tests for snnlearn.neurons.hh: rest, excitability, action potential, Brian2, gradients."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from snnlearn.neurons import (
    HHParams,
    HHState,
    hh_fire,
    hh_initial_state,
    hh_integrate,
    hh_rates,
    hh_step,
)
from snnlearn.surrogate import FastSigmoid

F64 = torch.float64
DT, STEPS = 25e-6, 2400  # 0.025 ms steps, 60 ms
CURRENTS = [0.0, 2.0, 3.0, 5.0, 6.5, 10.0, 20.0, 40.0]  # uA/cm^2, switched on at t = 0
AP = CURRENTS.index(10.0)  # the neuron whose action potential is compared in detail


def run(p: HHParams, x: torch.Tensor, dt: float, state: HHState | None = None):
    """Run ``hh_step`` over a time-first input; return spikes and the stacked states."""
    state = hh_initial_state(tuple(x.shape[1:]), p, dtype=x.dtype) if state is None else state
    zs, states = [], []
    for t in range(x.shape[0]):
        z, state = hh_step(x[t], state, p, dt)
        zs.append(z)
        states.append(state)
    return torch.stack(zs), HHState(*(torch.stack(f) for f in zip(*states, strict=True)))


@pytest.fixture(scope="module")
def current_steps():
    """Every current of CURRENTS as one batch, simulated once per module."""
    x = torch.tensor(CURRENTS, dtype=F64).expand(STEPS, 1, len(CURRENTS))
    with torch.no_grad():
        z, states = run(HHParams(), x, DT)
    spikes = [torch.nonzero(z[:, 0, k]).flatten().tolist() for k in range(len(CURRENTS))]
    return spikes, states


def rate_hz(steps: list[int]) -> float:
    """Firing rate from the mean inter-spike interval (0 with fewer than two spikes)."""
    return 0.0 if len(steps) < 2 else 1.0 / (np.diff(steps).mean() * DT)


# --------------------------------------------------------------------------- rest


def ionic_current(v: torch.Tensor, p: HHParams) -> torch.Tensor:
    """Membrane current (uA/cm^2) with every gate at its steady state at ``v``."""
    a_m, b_m, a_h, b_h, a_n, b_n = hh_rates(v)
    m, h, n = a_m / (a_m + b_m), a_h / (a_h + b_h), a_n / (a_n + b_n)
    return (p.g_na * m**3 * h * (v - p.e_na) + p.g_k * n**4 * (v - p.e_k)
            + p.g_leak * (v - p.e_leak))


def test_rest_is_the_zero_of_the_steady_state_current_and_is_stationary():
    p = HHParams()
    lo, hi = torch.tensor(-70.0, dtype=F64), torch.tensor(-60.0, dtype=F64)
    for _ in range(60):  # bisection: the steady-state current rises through 0 at rest
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if ionic_current(mid, p) < 0 else (lo, mid)
    v_rest = lo.item()
    assert v_rest == pytest.approx(-65.0, abs=0.01)
    state = hh_initial_state((1, 1), HHParams(v_init=v_rest), dtype=F64)
    z, states = run(p, torch.zeros(200, 1, 1, dtype=F64), DT, state)
    assert z.sum() == 0
    assert (states.v - v_rest).abs().max() < 1e-9


def test_gates_start_at_their_steady_state():
    s = hh_initial_state((2, 3), HHParams(v_init=-60.0), dtype=F64)
    a_m, b_m, a_h, b_h, a_n, b_n = hh_rates(torch.tensor(-60.0, dtype=F64))
    assert torch.all(s.m == a_m / (a_m + b_m)) and torch.all(s.h == a_h / (a_h + b_h))
    assert torch.all(s.n == a_n / (a_n + b_n)) and s.v.shape == (2, 3) and s.z.sum() == 0


def test_rates_are_continuous_at_the_removable_singularities():
    v = torch.tensor([-40.0 - 1e-4, -40.0, -40.0 + 1e-4, -55.0 - 1e-4, -55.0, -55.0 + 1e-4],
                     dtype=F64, requires_grad=True)
    a_m, _, _, _, a_n, _ = hh_rates(v)
    assert torch.isfinite(a_m).all() and torch.isfinite(a_n).all()
    assert a_m[1].item() == 1.0 and a_n[4].item() == pytest.approx(0.1)
    assert abs(a_m[0] - a_m[2]).item() < 1e-4 and abs(a_n[3] - a_n[5]).item() < 1e-5
    (a_m[1] + a_n[4]).backward()
    assert v.grad[1].item() == pytest.approx(0.05) and v.grad[4].item() == pytest.approx(0.005)


# --------------------------------------------------------------------------- excitability


def test_excitability_single_spikes_then_a_discontinuous_f_i_curve(current_steps):
    spikes, _ = current_steps
    counts = dict(zip(CURRENTS, (len(s) for s in spikes), strict=True))
    assert counts[0.0] == 0 and counts[2.0] == 0  # below threshold: no spike
    assert counts[3.0] == 1 and counts[5.0] == 1  # one onset spike, no repetitive firing
    rates = [rate_hz(spikes[CURRENTS.index(c)]) for c in (6.5, 10.0, 20.0, 40.0)]
    # Repetitive firing starts near 6.2 uA/cm^2 at a finite rate (Hodgkin class 2), and the rate
    # grows with the current.
    assert rates[0] > 40.0 and all(np.diff(rates) > 0) and rates[-1] < 200.0


def test_action_potential_shape(current_steps):
    spikes, states = current_steps
    p = HHParams()
    v = states.v[:, 0, AP]
    first = spikes[AP][0]
    window = v[first: first + 200]  # 5 ms after the upward crossing of 0 mV
    peak = window.max().item()
    assert 35.0 < peak < p.e_na  # overshoot, below the sodium reversal potential
    width_steps = int((window > p.v_th).sum())
    assert 0.5e-3 < width_steps * DT < 1.5e-3  # about 1 ms above 0 mV
    assert v[first: first + 600].min().item() < -70.0  # after-hyperpolarisation towards E_K
    gates = torch.stack([states.m, states.h, states.n])
    assert gates.min() >= 0.0 and gates.max() <= 1.0


def test_exponential_euler_is_stable_and_first_order():
    p = HHParams()
    x = torch.full((1, 1), 10.0, dtype=F64)
    # Stable at any step: 1 ms steps stay bounded (and the gates in [0, 1]).
    _, coarse = run(p, x.expand(100, 1, 1), 1e-3)
    assert torch.isfinite(coarse.v).all() and coarse.v.abs().max() < 100.0
    assert coarse.m.min() >= 0 and coarse.n.max() <= 1
    # First order: at 25 us the first spike is within 0.1 ms (4 steps) of a 5x finer grid.
    times = []
    for dt, steps in ((DT, 120), (DT / 5, 600)):
        z, _ = run(p, x.expand(steps, 1, 1), dt)
        times.append((torch.nonzero(z[:, 0, 0]).flatten()[0].item() + 1) * dt)
    assert abs(times[0] - times[1]) <= 4 * DT


def test_spike_is_an_upward_crossing_of_the_threshold():
    p = HHParams()
    v_prev = torch.tensor([[-1.0, 0.5, 0.0, -1.0, 5.0]], dtype=F64)
    v_now = torch.tensor([[1.0, 1.0, 0.1, 0.0, -5.0]], dtype=F64)
    state = hh_initial_state((1, 5), p, dtype=F64)._replace(v=v_now)
    z, out = hh_fire(state, v_prev, p)
    assert z.tolist() == [[1.0, 0.0, 1.0, 0.0, 0.0]]
    assert torch.equal(out.v, v_now) and torch.equal(out.z, z)  # no reset


def test_no_reset_and_step_is_integrate_then_fire():
    p = HHParams()
    s = hh_initial_state((1, 2), p, dtype=F64)
    x = torch.tensor([[3.0, 50.0]], dtype=F64)
    z, new = hh_step(x, s, p, DT)
    expected = hh_integrate(x, s, p, DT)
    assert all(torch.equal(a, b) for a, b in zip(new[:4], expected[:4], strict=True))
    assert z.sum() == 0 and torch.equal(s.v, torch.full((1, 2), -65.0, dtype=F64))  # pure


# --------------------------------------------------------------------------- gradients


def test_surrogate_gradient_flows_only_on_an_upward_crossing():
    p = HHParams(v_scale=5.0, surrogate=FastSigmoid(scale=1.0))
    v = torch.tensor([[-2.0, -2.0]], dtype=F64, requires_grad=True)
    v_prev = torch.tensor([[-3.0, 4.0]], dtype=F64)  # first: below before; second: above
    state = hh_initial_state((1, 2), p, dtype=F64)._replace(v=v)
    z, _ = hh_fire(state, v_prev, p)
    z.sum().backward()
    assert v.grad[0].tolist() == pytest.approx([1.0 / (0.4 + 1.0) ** 2 / 5.0, 0.0])


def test_subthreshold_gradient_matches_central_finite_differences():
    p = HHParams()
    gen = torch.Generator().manual_seed(0)
    inputs = torch.rand(40, 1, 3, generator=gen, dtype=F64)

    def membrane(w: torch.Tensor) -> torch.Tensor:
        z, s = run(p, (inputs * w).sum(-1, keepdim=True), DT)
        assert z.sum() == 0
        return torch.stack([s.v.mean(), s.v.square().mean(), s.m[-1, 0, 0], s.h[-1, 0, 0],
                            s.n[-1, 0, 0]])

    w = torch.tensor([1.0, -0.5, 2.0], dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(membrane, (w,), eps=1e-6, atol=1e-8, rtol=1e-6)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"c_mem": 0.0}, "c_mem"), ({"g_leak": -0.3}, "g_leak"), ({"g_na": -1.0}, "g_na"),
    ({"g_k": float("nan")}, "g_k"), ({"e_na": float("inf")}, "e_na"), ({"v_scale": 0.0}, "v_scale"),
    ({"v_init": None}, "v_init"), ({"surrogate": None}, "surrogate"),
])
def test_invalid_params_raise_naming_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        HHParams(**kwargs)


@pytest.mark.parametrize("dt", [0.0, -1e-5, float("inf")])
def test_invalid_dt_raises(dt):
    p = HHParams()
    with pytest.raises(ValueError, match="dt"):
        hh_step(torch.zeros(1, 1), p.initial_state((1, 1)), p, dt)


# --------------------------------------------------------------------------- Brian2


def import_brian2():
    """Brian2 with the numpy (runtime) target, or skip; its import warnings are silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            b2 = pytest.importorskip("brian2")
        except Exception as err:  # e.g. brian2 2.9 with numpy >= 2.4 (ndarray.ptp removed)
            pytest.skip(f"brian2 is installed but cannot be imported: {err!r}")
    b2.prefs.codegen.target = "numpy"
    return b2


def brian2_hh(b2, p: HHParams) -> tuple[list[list[int]], np.ndarray]:
    """The same equations, exponential Euler and dt in Brian2: spike steps per current and the
    membrane (mV) of neuron AP after each step."""
    mv, second = b2.mV, b2.second
    ms, ua, cm2, msiemens, uf = b2.ms, b2.uA, b2.cm ** 2, b2.msiemens, b2.uF
    eqs = """
    dv/dt = (I - g_na*m**3*h*(v - e_na) - g_k*n**4*(v - e_k) - g_l*(v - e_l)) / c_m : volt
    dm/dt = alpha_m*(1 - m) - beta_m*m : 1
    dh/dt = alpha_h*(1 - h) - beta_h*h : 1
    dn/dt = alpha_n*(1 - n) - beta_n*n : 1
    alpha_m = 1/exprel(-(v + 40*mV)/(10*mV))/ms : Hz
    beta_m = 4*exp(-(v + 65*mV)/(18*mV))/ms : Hz
    alpha_h = 0.07*exp(-(v + 65*mV)/(20*mV))/ms : Hz
    beta_h = 1/(1 + exp(-(v + 35*mV)/(10*mV)))/ms : Hz
    alpha_n = 0.1/exprel(-(v + 55*mV)/(10*mV))/ms : Hz
    beta_n = 0.125*exp(-(v + 65*mV)/(80*mV))/ms : Hz
    I : amp/meter**2 (constant)
    """
    namespace = {
        "c_m": p.c_mem * uf / cm2, "g_na": p.g_na * msiemens / cm2,
        "g_k": p.g_k * msiemens / cm2, "g_l": p.g_leak * msiemens / cm2, "e_na": p.e_na * mv,
        "e_k": p.e_k * mv, "e_l": p.e_leak * mv, "v_th": p.v_th * mv, "mV": mv, "ms": ms,
    }
    # A condition as refractoriness makes Brian2's threshold an upward-crossing detector.
    group = b2.NeuronGroup(len(CURRENTS), eqs, threshold="v > v_th", refractory="v > v_th",
                           method="exponential_euler", dt=DT * second, namespace=namespace)
    s0 = hh_initial_state((len(CURRENTS),), p, dtype=F64)
    group.v, group.m, group.h, group.n = s0.v.numpy() * mv, s0.m.numpy(), s0.h.numpy(), s0.n.numpy()
    group.I = np.asarray(CURRENTS) * ua / cm2
    spikes = b2.SpikeMonitor(group)
    trace = b2.StateMonitor(group, "v", record=[AP], when="end")
    b2.Network(group, spikes, trace).run(STEPS * DT * second, namespace={})
    trains = spikes.spike_trains()
    steps = [np.round(np.asarray(trains[k] / second) / DT).astype(int).tolist()
             for k in range(len(CURRENTS))]
    return steps, np.asarray(trace.v[0] / mv)


def test_action_potential_and_f_i_curve_match_brian2(current_steps):
    b2 = import_brian2()
    with warnings.catch_warnings():  # pyparsing deprecations inside Brian2's parser
        warnings.simplefilter("ignore")
        reference, v_ref = brian2_hh(b2, HHParams())
    spikes, states = current_steps
    for current, ours, ref in zip(CURRENTS, spikes, reference, strict=True):
        assert len(ours) == len(ref), f"I = {current}: {len(ours)} spikes, Brian2 {len(ref)}"
        assert max((abs(a - b) for a, b in zip(ours, ref, strict=True)), default=0) <= 1, current
        if len(ref) >= 2:
            assert rate_hz(ours) == pytest.approx(rate_hz(ref), rel=0.02)
    v = states.v[:, 0, AP].numpy()
    assert v.max() == pytest.approx(v_ref.max(), abs=0.1)  # peak of the action potential
    assert abs(int(v.argmax()) - int(v_ref.argmax())) <= 1  # time of the peak, in steps
    assert np.abs(v - v_ref).max() < 1.0  # the whole waveform, mV
