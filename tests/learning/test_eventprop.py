"""Tests for snnlearn.learning.eventprop: event-exact spike times against closed forms and an ODE
solver, exact gradients against finite differences and BPTT where they coincide, memory that
scales with the number of spikes, and learning."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.integrate import solve_ivp
from torch import Tensor

from snnlearn.layers import Network, Readout, SpikingLayer, build_network
from snnlearn.learning import BPTT
from snnlearn.learning.eventprop import EventProp, SpikeTimes
from snnlearn.neurons import ALIFParams, LIFParams, LIParams
from snnlearn.simulate import unroll
from snnlearn.surrogate import Triangle

F64 = torch.float64
DT = 1e-3


def exact_mode() -> EventProp:
    return EventProp(mode="exact")


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def single_neuron(w: float, neuron: LIFParams, bias: bool = False) -> Network:
    net = Network([SpikingLayer.dense(1, 1, neuron, bias=bias, dtype=F64),
                   Readout(1, 1, LIParams(tau_syn=5e-3), dtype=F64)], dt=DT)
    with torch.no_grad():
        net.layers[0].weight.fill_(w)
    return net


def test_spike_times_equal_the_closed_form_of_the_alpha_like_kernel():
    # tau_m = 2 tau_s: u(s) = R I (y - y^2) with y = exp(-s/tau_m), a quadratic in y.
    tau_s, w = 4e-3, 9.0
    neuron = LIFParams(tau_mem=2 * tau_s, tau_syn=tau_s, reset="hard")
    x = torch.zeros(40, 1, 1, dtype=F64)
    x[0] = 1.0
    r = exact_mode().simulate(single_neuron(w, neuron), x)
    expected, t, current = [], 0.0, w
    while current > 4.0:  # a crossing exists while 1 - 4 theta / (R I) > 0
        s = -2 * tau_s * math.log((1 + math.sqrt(1 - 4.0 / current)) / 2)
        t, current = t + s, current * math.exp(-s / tau_s)
        expected.append(t)
    times = r.extras["spike_times"][0].time
    assert len(expected) >= 3 and times.numel() == len(expected)
    assert (times - torch.tensor(expected, dtype=F64)).abs().max() < 1e-9


def ode_spike_times(w_in: Tensor, bias: float, x: Tensor, p: LIFParams,
                    membrane: list[float] | None = None) -> list[float]:
    """Reference: integrate the ODE between input jumps with scipy, stopping at threshold
    (``membrane`` receives ``v`` at the end of every step)."""
    def rhs(_t: float, y: np.ndarray) -> np.ndarray:
        return np.array([(p.v_leak - y[0] + p.r * y[1]) / p.tau_mem, -y[1] / p.tau_syn])

    def hit(_t: float, y: np.ndarray) -> float:
        return y[0] - p.v_th

    hit.terminal, hit.direction = True, 1.0
    state, spikes = np.array([p.v_leak, 0.0]), []
    for n in range(x.shape[0]):
        state[1] += float(w_in @ x[n, 0]) + bias
        t0 = n * DT
        while True:
            sol = solve_ivp(rhs, (t0, (n + 1) * DT), state, method="DOP853", rtol=1e-13,
                            atol=1e-15, events=hit)
            state = sol.y[:, -1].copy()
            if sol.status != 1:
                if membrane is not None:
                    membrane.append(float(state[0]))
                break
            t0 = sol.t_events[0][0]
            spikes.append(t0)
            v, i = sol.y_events[0][0]
            state = np.array([v - (p.v_th - p.v_reset) if p.reset == "subtract" else p.v_reset, i])
    return spikes


def mp_spike_times(w_in: np.ndarray, bias: float, x: np.ndarray, p: LIFParams) -> list[float]:
    """Reference: the analytic solution between jumps in 40-digit arithmetic; each crossing is
    bracketed on a fine grid of the step and solved with mpmath's bisection-type solver."""
    mpmath.mp.dps = 40
    tm, ts, th = mpmath.mpf(p.tau_mem), mpmath.mpf(p.tau_syn), mpmath.mpf(p.v_th - p.v_leak)
    u, cur, spikes = mpmath.mpf(0), mpmath.mpf(0), []

    def at(u0, i0, s):
        return (u0 * mpmath.exp(-s / tm)
                + p.r * i0 * ts / (tm - ts) * (mpmath.exp(-s / tm) - mpmath.exp(-s / ts)))

    for n in range(x.shape[0]):
        cur += mpmath.mpf(float(w_in @ x[n, 0])) + bias
        t0, left = mpmath.mpf(0), mpmath.mpf(DT)
        while True:
            grid = [left * k / 400 for k in range(401)]
            above = [g for g in grid[1:] if at(u, cur, g) > th]
            if not above:
                u, cur = at(u, cur, left), cur * mpmath.exp(-left / ts)
                break
            hi = above[0]
            s = mpmath.findroot(lambda z, u=u, c=cur: at(u, c, z) - th, (hi - left / 400, hi),
                                solver="anderson")
            spikes.append(float(n * mpmath.mpf(DT) + t0 + s))
            u_r = mpmath.mpf(p.v_reset - p.v_leak)
            u = at(u, cur, s) - (th - u_r) if p.reset == "subtract" else u_r
            cur = cur * mpmath.exp(-s / ts)
            t0, left = t0 + s, left - s
    return spikes


@pytest.mark.parametrize("reset", ["hard", "subtract"])
def test_spike_times_equal_a_high_precision_ode_solution(reset):
    # The references apply each reset by its own rule (subtract theta - u_r from the membrane at
    # the crossing, or set it to u_r); the exact mode is one model for both.
    p = LIFParams(tau_mem=20e-3, tau_syn=5e-3, v_leak=-0.1, v_reset=-0.3, reset=reset)
    net = Network([SpikingLayer.dense(2, 1, p, bias=True, dtype=F64),
                   Readout(1, 1, LIParams(tau_syn=5e-3), dtype=F64)], dt=DT)
    with torch.no_grad():
        net.layers[0].weight.copy_(torch.tensor([[2.5, 1.0]]))
        net.layers[0].bias.fill_(0.02)
    x = torch.zeros(30, 1, 2, dtype=F64)
    x[[0, 3, 4, 12, 13, 14], 0, 0] = 1.0
    x[[1, 2, 20], 0, 1] = 2.0
    r = exact_mode().simulate(net, x)
    times = r.extras["spike_times"][0].time
    w_in = net.layers[0].weight.detach()[0].numpy()
    exact = mp_spike_times(w_in, 0.02, x.numpy(), p)
    membrane: list[float] = []
    ode = ode_spike_times(w_in, 0.02, x.numpy(), p, membrane)  # the closed form solves the ODE
    assert np.abs(r.membranes[0][:, 0, 0].numpy() - np.array(membrane)).max() < 1e-9
    assert len(exact) >= 3 and times.numel() == len(exact) == len(ode)
    assert np.abs(times.numpy() - np.array(exact)).max() < 1e-9
    assert np.abs(times.numpy() - np.array(ode)).max() < 1e-8


def small_net(hidden: list[int], seed: int = 1, v_th: float = 1.0, dtype=F64) -> Network:
    g = gen(seed)
    neuron = LIFParams(tau_mem=10e-3, tau_syn=4e-3, v_th=v_th, v_leak=0.05, v_reset=-0.1,
                       reset="hard", surrogate=Triangle(scale=1e3))
    sizes = [3, *hidden]
    layers: list = [SpikingLayer.dense(a, b, neuron, bias=True, weight_scale=4.0, generator=g,
                                 dtype=dtype) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    layers.append(Readout(sizes[-1], 2, LIParams(tau_mem=8e-3, tau_syn=3e-3, v_leak=0.1),
                          bias=True, generator=g, dtype=dtype))
    net = Network(layers, dt=DT)
    with torch.no_grad():
        for layer in net.layers[:-1]:
            layer.weight.abs_()
            layer.bias.fill_(0.02)
        net.layers[-1].bias.copy_(torch.tensor([0.3, -0.2]))  # no ties in the max over time
    return net


def loss_fn(outputs: Tensor) -> Tensor:
    return F.cross_entropy(outputs.amax(dim=0), torch.tensor([0, 1])) + (outputs**2).mean()


@pytest.mark.parametrize("hidden", [[4], [4, 3]], ids=["one_hidden", "two_hidden"])
def test_gradients_equal_finite_differences_of_the_event_exact_loss(hidden):
    net = small_net(hidden)
    x = (torch.rand(40, 2, 3, generator=gen(2)) < 0.2).to(F64)
    rule = exact_mode()
    r = rule.simulate(net, x)
    counts = [int(z.sum()) for z in r.spikes]
    assert all(c > 10 for c in counts)
    rule.assign_grads(net, r, loss_fn(r.outputs))
    h, g = 1e-6, gen(7)
    for name, param in net.named_parameters():
        for _ in range(2):  # directional derivatives along random directions, per tensor
            direction = torch.randn(param.shape, generator=g, dtype=F64)
            values = []
            with torch.no_grad():
                for sign in (1.0, -1.0):
                    param.add_(sign * h * direction)
                    rp = rule.simulate(net, x)
                    param.sub_(sign * h * direction)
                    assert [int(z.sum()) for z in rp.spikes] == counts  # no spike (dis)appears
                    values.append(loss_fn(rp.outputs).item())
            fd = (values[0] - values[1]) / (2 * h)
            exact = (param.grad * direction).sum().item()
            assert abs(fd) > 1e-3 and abs(exact - fd) < 1e-3 * abs(fd), (name, exact, fd)


def matching_unroll_readout(p: LIParams) -> LIParams:
    """The ``unroll`` readout whose grid values equal the exact LI membrane: ``(1 - a_m) R' =
    R k(dt)`` (both hold the same current recursion ``I_n = a_s I_{n-1} + x_n``)."""
    a_m, a_s = math.exp(-DT / p.tau_mem), math.exp(-DT / p.tau_syn)
    k = p.tau_syn * (a_m - a_s) / (p.tau_mem - p.tau_syn)
    return LIParams(tau_mem=p.tau_mem, tau_syn=p.tau_syn, r=p.r * k / (1 - a_m), v_leak=p.v_leak)


def test_readout_only_network_equals_bptt_and_the_closed_form():
    p = LIParams(tau_mem=8e-3, tau_syn=3e-3, v_leak=0.1)
    exact = Network([Readout(3, 2, p, bias=True, generator=gen(), dtype=F64)], dt=DT)
    discrete = Network([Readout(3, 2, matching_unroll_readout(p), bias=True, dtype=F64)], dt=DT)
    discrete.load_state_dict(exact.state_dict())
    x = (torch.rand(30, 2, 3, generator=gen(1)) < 0.3).to(F64)
    results = []
    for rule, net in ((exact_mode(), exact), (BPTT(), discrete)):
        r = rule.simulate(net, x)
        rule.assign_grads(net, r, loss_fn(r.outputs))
        results.append((r.outputs.detach(), [q.grad for q in net.parameters()]))
    torch.testing.assert_close(results[0][0], results[1][0], rtol=1e-12, atol=1e-12)
    for a, b in zip(results[0][1], results[1][1], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    # closed form: one input spike at t0 = n0 dt, loss = sum of outputs -> dL/dW = sum R k(t - t0)
    x1 = torch.zeros(30, 1, 3, dtype=F64)
    x1[5, 0, 0] = 1.0
    exact.zero_grad()
    r = exact_mode().simulate(exact, x1)
    exact_mode().assign_grads(exact, r, r.outputs[:, 0, 0].sum())
    s = (torch.arange(30, dtype=F64) + 1 - 5) * DT
    s = s[s > 0]
    kern = p.tau_syn * (torch.exp(-s / p.tau_mem) - torch.exp(-s / p.tau_syn)) / (8e-3 - 3e-3)
    assert abs(exact.layers[0].weight.grad[0, 0].item() - kern.sum().item()) < 1e-12


def test_silent_hidden_layer_equals_bptt():
    # Far below threshold the surrogate (triangle) is zero, so BPTT is exact and both rules see
    # a linear network: zero hidden gradients, identical readout gradients.
    exact = small_net([4], v_th=50.0)
    readout = exact.layers[-1]
    discrete = Network([SpikingLayer.dense(3, 4, exact.layers[0].neuron, bias=True, dtype=F64),
                        Readout(4, 2, matching_unroll_readout(readout.neuron), bias=True,
                                dtype=F64)], dt=DT)
    discrete.load_state_dict(exact.state_dict())
    x = (torch.rand(30, 2, 3, generator=gen(3)) < 0.3).to(F64)
    grads = []
    for rule, net in ((exact_mode(), exact), (BPTT(), discrete)):
        r = rule.simulate(net, x)
        assert r.spikes[0].sum() == 0
        rule.assign_grads(net, r, loss_fn(r.outputs))
        grads.append([q.grad for q in net.parameters()])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-13)
    assert grads[0][-1].abs().max() > 1e-2 and grads[0][0].abs().max() == 0


def saved_elements(net: Network, x: Tensor) -> int:
    """Elements the autograd graph saves for the backward pass, inputs and weights excluded."""
    shared = {t.data_ptr() for t in (x, *net.parameters())}
    count = 0

    def pack(t: Tensor) -> Tensor:
        nonlocal count
        if t.numel() and t.data_ptr() not in shared:
            count += t.numel()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        r = exact_mode().simulate(net, x)
    return count, int(sum(z.sum() for z in r.spikes))


def test_saved_memory_is_proportional_to_the_number_of_spikes():
    x = (torch.rand(40, 2, 3, generator=gen(2)) < 0.2).to(F64)
    busy, n_busy = saved_elements(small_net([4, 3]), x)
    silent, n_silent = saved_elements(small_net([4, 3], v_th=50.0), x)
    longer, n_longer = saved_elements(small_net([4, 3], v_th=50.0), torch.cat([x, 0 * x, 0 * x]))
    assert n_busy > 50 and busy == 5 * n_busy  # step, offset, batch, neuron, I(t_s)
    assert n_silent == silent == 0 and longer == 0


def test_rollout_spikes_bin_the_exact_spike_times_and_outputs_carry_gradients():
    net = small_net([4, 3])
    x = (torch.rand(25, 2, 3, generator=gen(5)) < 0.3).to(F64)
    r = exact_mode().simulate(net, x)
    assert r.outputs.shape == (25, 2, 2) and len(r.spikes) == 2
    assert [tuple(v.shape) for v in r.membranes] == [(25, 2, 4), (25, 2, 3), (25, 2, 2)]
    assert torch.equal(r.membranes[-1], r.outputs.detach())
    for z, st in zip(r.spikes, r.extras["spike_times"], strict=True):
        assert isinstance(st, SpikeTimes)
        binned = torch.zeros_like(z)
        step = torch.ceil(st.time / DT).long() - 1
        binned.index_put_((step, st.batch, st.neuron), torch.ones_like(st.time), accumulate=True)
        assert torch.equal(binned, z) and not z.requires_grad
    (g,) = torch.autograd.grad(loss_fn(r.outputs), r.outputs)
    assert g.shape == r.outputs.shape and g.abs().sum() > 0


def test_assign_grads_writes_instead_of_accumulating():
    net = small_net([4])
    x = (torch.rand(20, 2, 3, generator=gen(1)) < 0.3).to(F64)
    rule = exact_mode()
    rule.prepare(net, generator=gen())
    grads = []
    for _ in range(2):
        r = rule.simulate(net, x)
        rule.assign_grads(net, r, loss_fn(r.outputs))
        grads.append([q.grad.clone() for q in net.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*grads, strict=True))


@pytest.mark.parametrize(("layer", "match"), [
    (lambda: SpikingLayer.dense(3, 4, LIFParams(tau_syn=5e-3, t_ref=2e-3)), "t_ref"),
    (lambda: SpikingLayer.dense(3, 4, LIFParams()), "tau_syn"),
    (lambda: SpikingLayer.dense(3, 4, ALIFParams(lif=LIFParams(tau_syn=5e-3))), "ALIFParams"),
    (lambda: SpikingLayer.dense(3, 4, LIFParams(tau_syn=5e-3), recurrent=True), "recurrent"),
    (lambda: SpikingLayer.dense(3, 4, LIFParams(tau_syn=5e-3, v_leak=1.0, v_reset=0.5)), "v_leak"),
])
def test_unsupported_hidden_layers_raise(layer, match):
    net = Network([layer(), Readout(4, 2, LIParams(tau_syn=5e-3))], dt=DT)
    with pytest.raises(ValueError, match=match):
        exact_mode().simulate(net, torch.zeros(5, 1, 3))


def test_unsupported_readouts_raise():
    neuron = LIFParams(tau_syn=5e-3)
    with pytest.raises(ValueError, match="tau_syn"):
        exact_mode().prepare(Network([SpikingLayer.dense(3, 4, neuron), Readout(4, 2)], dt=DT))
    with pytest.raises(ValueError, match="Readout"):
        exact_mode().prepare(Network([SpikingLayer.dense(3, 4, neuron), SpikingLayer.dense(4, 2,
                                                                                          neuron)],
                                    dt=DT))


@pytest.mark.parametrize("mode", ["grid", "exact"])
def test_a_tiny_task_is_learned(mode):
    net = build_network(3, [8], 2, dt=DT, gain=3.0, neuron=LIFParams(tau_mem=10e-3, tau_syn=4e-3),
                        readout=LIParams(tau_mem=10e-3, tau_syn=4e-3), generator=gen(3))
    x = torch.zeros(30, 8, 3)
    labels = torch.arange(8) % 2
    for step in (2, 5, 9):  # class = which of channels 0 and 2 fires; channel 1 always fires
        x[step, torch.arange(8), 2 * labels] = 1.0
    x[step + 1, :, 1] = 1.0
    rule = EventProp(mode=mode)
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    losses = []
    for _ in range(40):
        r = rule.simulate(net, x)
        loss = F.cross_entropy(5.0 * r.outputs.mean(dim=0), labels)
        rule.assign_grads(net, r, loss)
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
    assert (rule.simulate(net, x).outputs.mean(dim=0).argmax(dim=1) == labels).all()


@pytest.mark.parametrize("hidden", [[4], [6, 5]], ids=["one_hidden", "two_hidden"])
def test_compiled_cpu_forward_equals_the_torch_loop(hidden, monkeypatch):
    """The numba forward (used on CPU) and the vectorised torch loop give the same spikes: same
    counts, steps, batches and neurons, times and currents within the root tolerance; and so the
    same outputs and gradients."""
    import snnlearn.learning.eventprop as ep

    if not ep.numba_available():
        pytest.skip("numba is not installed")
    net = small_net(hidden)
    x = (torch.rand(60, 2, 3, generator=gen(5)) < 0.25).to(F64)
    results = []
    for compiled in (True, False):
        monkeypatch.setattr(ep, "numba_available", lambda c=compiled: c)
        rule = exact_mode()
        r = rule.simulate(net, x)
        rule.assign_grads(net, r, loss_fn(r.outputs))
        times = r.extras["spike_times"]
        results.append((r, times, [p.grad.clone() for p in net.parameters()]))
    (ra, ta, ga), (rb, tb, gb) = results
    assert sum(int(z.sum()) for z in ra.spikes) > 20
    for za, zb in zip(ra.spikes, rb.spikes, strict=True):
        assert torch.equal(za, zb)
    for sa, sb in zip(ta, tb, strict=True):
        ka = torch.argsort(sa.time + 10.0 * (sa.batch * 1000 + sa.neuron))
        kb = torch.argsort(sb.time + 10.0 * (sb.batch * 1000 + sb.neuron))
        assert torch.equal(sa.batch[ka], sb.batch[kb]) and torch.equal(sa.neuron[ka], sb.neuron[kb])
        torch.testing.assert_close(sa.time[ka], sb.time[kb], rtol=0, atol=1e-12)
    torch.testing.assert_close(ra.outputs, rb.outputs, rtol=1e-9, atol=1e-12)
    for a, b in zip(ga, gb, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-10)


# ---- time-grid mode -------------------------------------------------------------------------


def test_modes_and_their_support_matrix():
    from snnlearn.experiments import registry
    from snnlearn.learning.base import check_support

    assert EventProp().mode == "grid" and registry.make_rule("eventprop").supports.recurrent
    rule = registry.make_rule("eventprop", {"mode": "exact"})
    net = build_network(3, [4], 2, dt=DT, recurrent=True, neuron=LIFParams(tau_syn=5e-3),
                        readout=LIParams(tau_syn=5e-3))
    with pytest.raises(ValueError, match="cannot train recurrent") as err:
        check_support("eventprop", rule.supports, net)
    assert "\n" not in str(err.value)
    check_support("eventprop", EventProp().supports, net)
    with pytest.raises(ValueError, match="mode=grid"):
        rule.prepare(net)
    with pytest.raises(ValueError, match="mode must be one of"):
        EventProp(mode="grids")


def test_grid_mode_forward_is_unroll_and_evaluates_without_a_graph():
    net = small_net([4])
    x = (torch.rand(30, 2, 3, generator=gen(3)) < 0.3).to(F64)
    r = EventProp().simulate(net, x)
    ref = unroll(net, x)
    assert torch.equal(r.outputs, ref.outputs) and r.outputs.requires_grad
    assert all(torch.equal(a, b) for a, b in zip(r.spikes, ref.spikes, strict=True))
    with torch.no_grad():
        assert torch.equal(EventProp().simulate(net, x).outputs, ref.outputs)


def test_grid_readout_gradients_equal_bptt_and_finite_differences_of_the_discrete_loss():
    # The readout's adjoint is the exact adjoint of the discrete LI recursion: its gradients are
    # BPTT's (the surrogate plays no role there) and the finite differences of the loss of the
    # simulated network. The discrete loss is piecewise constant in the hidden weights (spikes on
    # the grid), so their finite differences are zero: there the grid gradient is EventProp's
    # spike-time gradient instead (see the convergence tests below).
    net = small_net([4])
    x = (torch.rand(40, 2, 3, generator=gen(2)) < 0.2).to(F64)
    rule = EventProp()
    r = rule.simulate(net, x)
    assert int(r.spikes[0].sum()) > 10
    rule.assign_grads(net, r, loss_fn(r.outputs))
    grid = {n: p.grad.clone() for n, p in net.named_parameters()}
    rb = BPTT().simulate(net, x)
    BPTT().assign_grads(net, rb, loss_fn(rb.outputs))
    readout = net.layers[-1]
    for name in ("layers.1.synapse.weight", "layers.1.synapse.bias"):
        torch.testing.assert_close(grid[name], dict(net.named_parameters())[name].grad,
                                   rtol=1e-12, atol=1e-14)
    h, g = 1e-6, gen(9)
    for param in (readout.weight, readout.bias, net.layers[0].weight):
        direction = torch.randn(param.shape, generator=g, dtype=F64)
        values = []
        with torch.no_grad():
            for sign in (1.0, -1.0):
                param.add_(sign * h * direction)
                values.append(loss_fn(unroll(net, x).outputs).item())
                param.sub_(sign * h * direction)
        fd = (values[0] - values[1]) / (2 * h)
        if param is net.layers[0].weight:
            assert fd == 0.0
            continue
        name = "layers.1.synapse.weight" if param is readout.weight else "layers.1.synapse.bias"
        assert abs((grid[name] * direction).sum().item() - fd) < 1e-7 * abs(fd)


def test_grid_silent_hidden_layer_gets_no_gradient_and_the_readout_equals_bptt():
    net = small_net([4], v_th=50.0)
    x = (torch.rand(30, 2, 3, generator=gen(3)) < 0.3).to(F64)
    grads = []
    for rule in (EventProp(), BPTT()):
        r = rule.simulate(net, x)
        assert r.spikes[0].sum() == 0
        rule.assign_grads(net, r, loss_fn(r.outputs))
        grads.append([q.grad.clone() for q in net.parameters()])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)
    assert grads[0][-1].abs().max() > 1e-2 and grads[0][0].abs().max() == 0


def fine_net(hidden: list[int], dt: float, *, seed: int = 1, recurrent: bool = False) -> Network:
    """A bias-free net (a bias acts once per step, so it would change with ``dt``)."""
    g = gen(seed)
    neuron = LIFParams(tau_mem=10e-3, tau_syn=4e-3, v_th=1.0, v_leak=0.05, v_reset=-0.1,
                       reset="hard")
    sizes = [3, *hidden]
    layers: list = [SpikingLayer.dense(a, b, neuron, weight_scale=4.0, recurrent=recurrent,
                                       generator=g, dtype=F64)
                    for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    layers.append(Readout(sizes[-1], 2, LIParams(tau_mem=8e-3, tau_syn=3e-3, v_leak=0.1),
                          generator=g, dtype=F64))
    net = Network(layers, dt=dt)
    with torch.no_grad():
        for layer in net.layers[:-1]:
            layer.weight.abs_()
    return net


def grid_gradient_on_a_finer_grid(ref: Network, build, x: Tensor, m: int
                                  ) -> tuple[list[Tensor], int]:
    """Grid-mode gradient of the loss of the outputs at ``(n + 1) DT`` of ``build(DT / m)`` with
    ``ref``'s weights (inputs at ``n DT``, as in the exact mode)."""
    net = build(DT / m)
    net.load_state_dict(ref.state_dict())
    fine = torch.zeros(x.shape[0] * m, *x.shape[1:], dtype=F64)
    fine[::m] = x
    rule = EventProp()
    r = rule.simulate(net, fine)
    rule.assign_grads(net, r, loss_fn(r.outputs[m - 1::m]))
    return [p.grad.clone() for p in net.parameters()], int(sum(z.sum() for z in r.spikes))


def test_grid_gradients_converge_to_the_exact_mode_as_dt_shrinks():
    # Both modes simulate the same continuous-time network in the limit dt -> 0: the grid holds
    # the current over a step and puts each spike at its step, errors O(dt), amplified by
    # 1 / (R I - theta) at spikes that barely cross. Measured (relative error of each weight
    # gradient, 3-4-3-2): 0.20, 0.42, 0.067 at dt = DT/16; 0.018, 0.022, 0.004 at DT/256.
    def build(dt: float) -> Network:
        return fine_net([4, 3], dt)

    ref = build(DT)
    x = (torch.rand(40, 2, 3, generator=gen(2)) < 0.2).to(F64)
    r = exact_mode().simulate(ref, x)
    exact_mode().assign_grads(ref, r, loss_fn(r.outputs))
    exact = [p.grad.clone() for p in ref.parameters()]
    errors = {}
    for m in (16, 256):
        grads, spikes = grid_gradient_on_a_finer_grid(ref, build, x, m)
        errors[m] = [float((a - b).norm() / b.norm()) for a, b in zip(grads, exact, strict=True)]
    assert abs(spikes - sum(int(z.sum()) for z in r.spikes)) <= 1  # of 246
    assert max(errors[256]) < 0.03 and max(errors[256]) < max(errors[16]) / 5, errors


def exact_recurrent_loss_outputs(net: Network, x: Tensor) -> tuple[Tensor, int]:
    """Reference: the event-exact continuous-time recurrent network (one layer), by brute force.

    Per batch element, every neuron is advanced with the exact flow; the earliest crossing of
    any neuron within the step is found with the exact mode's root finder, all neurons are
    advanced to it, the spiking neuron resets and its recurrent weights jump the currents at
    that instant. The readout is the exact LI response to the spike times.
    """
    from snnlearn.learning._eventprop_exact import _detect, _Dyn, _Events, _flow, _root
    from snnlearn.learning.eventprop import _li_forward, check_eventprop_network

    layer, readout = net.layers
    p = layer.neuron
    d = _Dyn(p.tau_mem, p.tau_syn, p.r, p.v_th - p.v_leak, p.v_reset - p.v_leak, p.v_leak)
    w = layer.weight.detach()
    w_rec = (layer.masked_recurrent_weight().detach() if layer.recurrent
             else torch.zeros(w.shape[0], w.shape[0], dtype=F64))
    n_steps, batch = x.shape[:2]
    events = []
    for b in range(batch):
        u, i = torch.zeros(w.shape[0], dtype=F64), torch.zeros(w.shape[0], dtype=F64)
        for n in range(n_steps):
            i = i + w @ x[n, b]
            t = 0.0
            while True:
                rem = torch.full_like(u, DT - t)
                cross, hi = _detect(u, i, rem, d)
                if not bool(cross.any()):
                    a_m, a_s, rk = _flow(rem, d)
                    u, i = a_m * u + rk * i, a_s * i
                    break
                tau = torch.full_like(u, math.inf)
                tau[cross] = _root(u[cross], i[cross], hi[cross], d, 1e-13 * DT)
                j = int(torch.argmin(tau))
                a_m, a_s, rk = _flow(tau[j], d)
                u, i = a_m * u + rk * i, a_s * i
                u[j] = d.u_reset
                t += float(tau[j])
                events.append((n, t, b, j, float(i[j])))
                i = i + w_rec[:, j]
    cols = list(zip(*events, strict=True))
    ev = _Events(torch.tensor(cols[0]), torch.tensor(cols[1], dtype=F64), torch.tensor(cols[2]),
                 torch.tensor(cols[3]), torch.tensor(cols[4], dtype=F64))
    dyn = check_eventprop_network(net, recurrent=True)[-1]
    v, _, _ = _li_forward(readout.weight.detach(), None, dyn, DT, None, ev, n_steps, batch)
    return v, len(events)


def test_recurrent_grid_gradients_converge_to_the_event_exact_recurrent_network():
    # No exact-mode reference exists for recurrence, so the reference is the brute-force
    # event-exact simulation above (checked against the exact mode without recurrence) and its
    # central finite differences. Measured relative errors of the directional derivatives
    # (W_rec, W, W_out): 0.11, 0.34, 0.015 at dt = DT/16; 0.013, 0.029, 0.0009 at DT/256.
    x = (torch.rand(40, 2, 3, generator=gen(2)) < 0.2).to(F64)
    feed_forward = fine_net([4], DT, seed=4)
    v, count = exact_recurrent_loss_outputs(feed_forward, x)
    r = exact_mode().simulate(feed_forward, x)
    assert count == int(r.spikes[0].sum()) > 20
    torch.testing.assert_close(v, r.outputs, rtol=1e-9, atol=1e-10)

    def build(dt: float) -> Network:
        return fine_net([4], dt, seed=4, recurrent=True)

    ref = build(DT)
    v, count = exact_recurrent_loss_outputs(ref, x)
    assert count > 20
    h, g = 1e-6, gen(7)
    directions = [torch.randn(q.shape, generator=g, dtype=F64) for q in ref.parameters()]
    fd = []
    for param, direction in zip(ref.parameters(), directions, strict=True):
        values = []
        with torch.no_grad():
            for sign in (1.0, -1.0):
                param.add_(sign * h * direction)
                vp, cp = exact_recurrent_loss_outputs(ref, x)
                param.sub_(sign * h * direction)
                assert cp == count
                values.append(loss_fn(vp).item())
        fd.append((values[0] - values[1]) / (2 * h))
    assert min(abs(f) for f in fd) > 0.01
    errors = {}
    for m in (16, 256):
        grads, spikes = grid_gradient_on_a_finer_grid(ref, build, x, m)
        errors[m] = [abs(float((q * e).sum()) - f) / abs(f)
                     for q, e, f in zip(grads, directions, fd, strict=True)]
    assert spikes == count
    assert max(errors[256]) < 0.05 and max(errors[256]) < max(errors[16]) / 5, errors


@pytest.mark.parametrize("recurrent", [False, True], ids=["feed_forward", "recurrent"])
def test_compiled_grid_scan_equals_the_torch_loop(recurrent, monkeypatch):
    import snnlearn.learning._eventprop_grid as grid

    if not grid.numba_available():
        pytest.skip("numba is not installed")
    net = fine_net([6, 5], DT, recurrent=recurrent)
    x = (torch.rand(60, 3, 3, generator=gen(5)) < 0.25).to(F64)
    grads = []
    for compiled in (True, False):
        monkeypatch.setattr(grid, "numba_available", lambda c=compiled: c)
        rule = EventProp()
        r = rule.simulate(net, x)
        rule.assign_grads(net, r, loss_fn(r.outputs[:, :2]))
        grads.append([q.grad.clone() for q in net.parameters()])
    assert sum(int(z.sum()) for z in r.spikes) > 50
    for a, b in zip(*grads, strict=True):
        assert a.abs().max() > 0
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-13)


@pytest.mark.slow
def test_a_recurrent_network_learns_randman_and_evaluate_sees_the_trained_model(tmp_path, capsys):
    import json

    from snnlearn.experiments import cli

    out = tmp_path / "run"
    status = cli.main(["train", "--task", "randman", "--rule", "eventprop",
                       "--layers", "dense:32:rec", "--epochs", "15", "--lr", "0.02",
                       "--batch-size", "32",
                       "--task-option", "n_classes=4", "--task-option", "n_steps=50",
                       "--task-option", "n_samples_per_class=120", "--seed", "0",
                       "--out", str(out), "--no-progress"])
    capsys.readouterr()
    assert status == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["test_accuracy"] > 0.5  # chance 0.25; measured 0.65 (BPTT: 0.81)
    assert cli.main(["evaluate", str(out), "--recompute"]) == 0  # simulated with rule.simulate
    assert json.loads(capsys.readouterr().out)["recomputed_test_accuracy"] == \
        summary["test_accuracy"]


def test_plots_show_the_model_the_rule_simulates():
    from types import SimpleNamespace

    from snnlearn.experiments.plots import sample_figures
    from snnlearn.tasks.base import TaskData

    net = small_net([4])
    x = (torch.rand(30, 3, 3, generator=gen(4)) < 0.3).to(F64)
    task = SimpleNamespace(
        split=lambda name: TaskData(x.transpose(0, 1), torch.zeros(3, dtype=torch.long)),
        encode=lambda inputs, generator: inputs.transpose(0, 1),
        predict=lambda outputs: outputs.amax(0).argmax(1))
    rule = exact_mode()
    with torch.no_grad():
        exact = rule.simulate(net, x)
        grid = unroll(net, x)
    assert not torch.equal(exact.spikes[0].sum((0, 1)), grid.spikes[0].sum((0, 1)))
    for simulate, r in ((rule.simulate, exact), (None, grid)):
        rates = sample_figures(net, task, samples=1, seed=0, simulate=simulate)["rates"]
        expected = (r.spikes[0].sum(0).mean(0) / (30 * DT)).tolist()
        assert rates["hidden 1"] == pytest.approx(expected, rel=1e-12)
