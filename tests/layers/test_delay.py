"""Tests for snnlearn.layers.delay: learnable synaptic delays (DCLS-style tap kernels)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from snnlearn.layers import (
    Delayed,
    DelayParams,
    Network,
    Readout,
    SpikingLayer,
    build_network,
)
from snnlearn.layers.delay import delay_kernel
from snnlearn.neurons import LIFParams
from snnlearn.simulate import unroll

F64 = torch.float64
DT = 1e-3


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def spikes(steps: int, batch: int, n: int, p: float = 0.2, seed: int = 0,
           dtype: torch.dtype = F64) -> torch.Tensor:
    return (torch.rand(steps, batch, n, generator=gen(seed)) < p).to(dtype)


def layer(n_in: int = 3, n_out: int = 4, kernel: str = "gaussian", max_delay: float = 6e-3,
          sigma: float | None = None, **kw) -> Delayed:
    return Delayed(n_in, n_out, delay=DelayParams(max_delay, kernel=kernel, sigma=sigma),
                        dt=DT, generator=gen(), dtype=F64, **kw)


@pytest.mark.parametrize("kernel", ["integer", "linear", "gaussian"])
def test_integer_delays_shift_the_current_and_the_spikes_exactly(kernel: str):
    d = 3
    sigma = 1e-6 if kernel == "gaussian" else None  # a Gaussian far below a step is one-hot
    lay = layer(kernel=kernel, sigma=sigma, bias=True)
    with torch.no_grad():
        lay.delay.fill_(d * DT)
        lay.bias.uniform_(-0.1, 0.1, generator=gen(3))
    x = spikes(20, 5, 3)
    shifted = torch.cat([torch.zeros(d, 5, 3, dtype=F64), x[:-d]])
    expected = F.linear(shifted, lay.weight, lay.bias)
    torch.testing.assert_close(lay(x), expected, rtol=0, atol=1e-12)
    # a one-layer delayed network spikes as the undelayed network fed the shifted input
    net = Network([SpikingLayer(lay), Readout(4, 2, generator=gen(1), dtype=F64)], dt=DT)
    with torch.no_grad():
        lay.weight.mul_(30.0)
    plain = Network([SpikingLayer.dense(3, 4, bias=True, dtype=F64), Readout(4, 2, dtype=F64)],
                    dt=DT)
    plain.load_state_dict({k: v for k, v in net.state_dict().items()
                           if k != "layers.0.synapse.delay"})
    z = unroll(net, x).spikes[0]
    assert z.sum() > 0
    assert torch.equal(z, unroll(plain, shifted).spikes[0])


def test_per_synapse_delays_route_each_input_separately():
    lay = layer(n_in=2, n_out=1, kernel="integer")
    with torch.no_grad():
        lay.weight.copy_(torch.tensor([[1.0, 10.0]], dtype=F64))
        lay.delay.copy_(torch.tensor([[2 * DT, 5 * DT]], dtype=F64))
    x = torch.zeros(10, 1, 2, dtype=F64)
    x[0, 0, :] = 1.0
    current = lay(x)[:, 0, 0]
    assert current.nonzero().flatten().tolist() == [2, 5]
    assert current[2].item() == 1.0 and current[5].item() == 10.0


def test_kernels_are_normalised_and_agree_on_the_grid():
    delays = torch.tensor([0.0, 1.0, 2.5, 4.0], dtype=F64)
    for kernel in ("gaussian", "linear", "integer"):
        k = delay_kernel(delays, 5, kernel, sigma_steps=0.7)
        torch.testing.assert_close(k.sum(-1), torch.ones(4, dtype=F64))
        assert (k >= 0).all()
    lin = delay_kernel(delays, 5, "linear")
    assert lin[2].tolist() == [0.0, 0.0, 0.5, 0.5, 0.0]
    torch.testing.assert_close(delay_kernel(delays[[0, 1, 3]], 5, "gaussian", 1e-4),
                               delay_kernel(delays[[0, 1, 3]], 5, "integer"))


@pytest.mark.parametrize("kernel", ["gaussian", "linear"])
def test_gradient_wrt_delay_matches_central_finite_differences(kernel: str):
    sigma = 1.5e-3 if kernel == "gaussian" else None
    lay = layer(kernel=kernel, sigma=sigma, max_delay=8e-3)
    with torch.no_grad():  # keep the linear kernel away from its kinks at integer delays
        lay.delay.copy_((torch.floor(lay.delay / DT) + 0.3 + 0.4 * torch.rand(
            lay.delay.shape, generator=gen(5), dtype=F64)).clamp(max=7.5) * DT)
    x = torch.rand(15, 2, 3, generator=gen(2), dtype=F64)
    target = torch.randn(15, 2, 4, generator=gen(4), dtype=F64)

    def loss() -> torch.Tensor:
        return ((lay(x) - target) ** 2).sum()

    (grad,) = torch.autograd.grad(loss(), lay.delay)
    eps = 1e-7 * DT
    numeric = torch.zeros_like(grad)
    with torch.no_grad():
        for idx in range(grad.numel()):
            d = lay.delay.view(-1)
            d[idx] += eps
            up = loss()
            d[idx] -= 2 * eps
            down = loss()
            d[idx] += eps
            numeric.view(-1)[idx] = (up - down) / (2 * eps)
    assert grad.abs().max() > 0
    torch.testing.assert_close(grad, numeric, rtol=1e-5, atol=1e-6 * numeric.abs().max().item())


def test_rounding_at_the_end_reproduces_a_narrow_gaussian_exactly():
    net = build_network(3, [6], 2, dt=DT, delays=DelayParams(5e-3, sigma=1e-5),
                        generator=gen(), dtype=F64, gain=3.0)
    x = spikes(30, 4, 3)
    soft = unroll(net, x)
    first = net.layers[0]
    hard = Network([SpikingLayer(first.synapse.with_integer_delays(), first.neuron),
                    net.layers[1]], dt=DT)
    assert hard.layers[0].synapse.delay_params.kernel == "integer"
    steps = hard.layers[0].synapse.delay / DT
    torch.testing.assert_close(steps, torch.round(steps), rtol=0, atol=1e-9)
    rolled = unroll(hard, x)
    assert soft.spikes[0].sum() > 0
    assert torch.equal(soft.spikes[0], rolled.spikes[0])
    torch.testing.assert_close(soft.outputs, rolled.outputs, rtol=0, atol=1e-12)


def test_shapes_state_dict_and_build_network():
    lay = layer(n_in=3, n_out=4, max_delay=6e-3)
    assert lay.n_taps == 7 and tuple(lay.delay.shape) == (4, 3)
    assert set(lay.state_dict()) == {"weight", "delay"}
    assert 0 <= lay.delay.min() and lay.delay.max() <= 6e-3
    assert tuple(lay.synaptic_kernel().shape) == (4, 3, 7)
    assert tuple(lay(torch.zeros(9, 2, 3, dtype=F64)).shape) == (9, 2, 4)
    net = build_network(3, [5, 4], 2, dt=DT, delays=DelayParams(4e-3), recurrent=True,
                        generator=gen())
    assert [m.synapse.kind for m in net.layers] == ["delayed", "delayed", "dense"]
    r = unroll(net, spikes(12, 2, 3, dtype=torch.float32))
    assert tuple(r.outputs.shape) == (12, 2, 2) and len(r.spikes) == 2
    same = build_network(3, [5], 2, dt=DT, delays=DelayParams(4e-3), generator=gen())
    again = build_network(3, [5], 2, dt=DT, delays=DelayParams(4e-3), generator=gen())
    assert torch.equal(same.layers[0].synapse.delay, again.layers[0].synapse.delay)


def test_delays_outside_the_range_are_clamped():
    lay = layer(kernel="integer", max_delay=3e-3)
    with torch.no_grad():
        lay.delay.fill_(10e-3)
    assert lay.delay_steps().max().item() == 3.0
    with torch.no_grad():
        lay.delay.fill_(-1e-3)
    assert lay.delay_steps().min().item() == 0.0


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"max_delay": 0.0}, "max_delay must be a finite number > 0"),
    ({"max_delay": math.inf}, "max_delay must be a finite number > 0"),
    ({"max_delay": 1e-3, "kernel": "box"}, "kernel must be one of gaussian, linear, integer"),
    ({"max_delay": 1e-3, "sigma": -1.0}, "sigma must be a finite number > 0"),
    ({"max_delay": 1e-3, "kernel": "linear", "sigma": 1e-3}, "sigma applies to"),
])
def test_invalid_delay_params_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DelayParams(**kwargs)


def test_invalid_layer_use_raises():
    with pytest.raises(ValueError, match="must be a DelayParams"):
        Delayed(2, 3, delay=5e-3, dt=DT)  # type: ignore[arg-type]
    lay = layer()
    with pytest.raises(ValueError, match=r"whole sequence \[T, B, n_in\]"):
        lay(torch.zeros(2, 3, dtype=F64))
    with pytest.raises(ValueError, match="has dt=0.001 but the network has dt=0.002"):
        Network([SpikingLayer(lay), Readout(4, 2, dtype=F64)], dt=2e-3)


def coincidence_data(n: int, seed: int, lag: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """Two channels spike once each; class 1 iff channel 1 fires ``lag`` steps after channel 0,
    class 0 iff ``lag`` steps before. Onsets are random: only the relative timing tells."""
    g = gen(seed)
    labels = torch.arange(n) % 2
    t0 = torch.randint(0, 10, (n,), generator=g)
    x = torch.zeros(10 + 3 * lag, n, 2, dtype=F64)
    x[t0 + lag, torch.arange(n), 0] = 1.0
    x[t0 + lag + torch.where(labels == 1, lag, -lag), torch.arange(n), 1] = 1.0
    return x, labels


def coincidence_accuracy(detector: Delayed, seed: int) -> float:
    """Class 1 iff the LIF coincidence detector fires at all."""
    net = Network([SpikingLayer(detector, LIFParams(tau_mem=DT)), Readout(1, 1, dtype=F64)],
                  dt=DT)
    x, y = coincidence_data(200, seed)
    with torch.no_grad():
        fired = unroll(net, x).spikes[0].sum((0, 2)) > 0
    return float((fired.long() == y).double().mean())


def test_learned_delays_solve_a_timing_task_that_undelayed_synapses_cannot():
    # one LIF neuron (tau_mem = dt) with weights such that one input spike stays below threshold
    # and two coincident ones cross it: it detects "channel 1 fires 5 steps after channel 0"
    # only if channel 0 is delayed by 5 steps. Without delays (or with the initial 1-step
    # delay) it never fires on either class; gradient descent on the delays alone finds 5.
    lay = Delayed(2, 1, delay=DelayParams(8e-3, sigma=2e-3), dt=DT, dtype=F64)
    with torch.no_grad():
        lay.weight.fill_(1.2)
        lay.delay.copy_(torch.tensor([[1 * DT, 0.0]], dtype=F64))
    assert coincidence_accuracy(lay.with_integer_delays(), 1) == 0.5  # chance, as undelayed
    opt = torch.optim.Adam([lay.delay], lr=2e-4)
    x, y = coincidence_data(64, 0)
    sign = 2.0 * y.double() - 1.0
    for _ in range(60):  # peak input current: high for class 1, low for class 0
        peak = lay(x).amax(0)[:, 0]
        loss = F.softplus(-sign * (peak - 1.8) * 5.0).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    hard = lay.with_integer_delays()
    assert (hard.delay / DT).round().tolist() == [[5.0, 0.0]]
    assert coincidence_accuracy(hard, 1) == 1.0
