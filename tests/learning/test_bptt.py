"""Tests for snnlearn.learning.bptt: exact gradients where the network is smooth, determinism,
and a loss decrease after one optimisation step."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from snnlearn.layers import Network, Readout, SpikingLayer, build_network
from snnlearn.learning import BPTT, LearningRule, Rollout
from snnlearn.neurons import LIFParams, LIParams, lif_fire, lif_integrate
from snnlearn.simulate import unroll
from snnlearn.surrogate import Triangle

F64 = torch.float64
DT = 1e-3


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def loss_fn(outputs: Tensor, labels: Tensor) -> Tensor:
    """Cross-entropy of the time-averaged readout (a typical task loss)."""
    return F.cross_entropy(outputs.mean(dim=0), labels)


def min_distance_to_threshold(layer: SpikingLayer, x: Tensor) -> float:
    """Smallest ``|v' - v_th|`` of a feed-forward LIF layer over a run (pre-reset membrane)."""
    p = layer.neuron
    current, state, margins = layer.project(x).detach(), layer.initial_state(x.shape[1]), []
    for t in range(x.shape[0]):
        pre = lif_integrate(current[t], state, p, DT)
        margins.append((pre.v - p.v_th).abs().min())
        _, state = lif_fire(pre, p, DT)
    return torch.stack(margins).min().item()


def smooth_regime_net(v_th: float) -> tuple[Network, Tensor, Tensor]:
    """A float64 net whose surrogate (triangle, support 1e-3) is zero at every visited state."""
    g = gen(4)
    neuron = LIFParams(tau_mem=5e-3, tau_syn=3e-3, v_th=v_th, reset="hard", v_reset=-0.2,
                       surrogate=Triangle(scale=1e3))
    net = Network([SpikingLayer.dense(3, 4, neuron, bias=True, weight_scale=20.0, generator=g,
                                dtype=F64),
                   Readout(4, 2, LIParams(tau_mem=8e-3, tau_syn=4e-3), bias=True, generator=g,
                           dtype=F64)], dt=DT)
    with torch.no_grad():
        net.layers[1].bias.copy_(torch.tensor([0.3, -0.2], dtype=F64))
    x = 2.0 * torch.rand(8, 2, 3, generator=g, dtype=F64)
    labels = torch.tensor([0, 1])
    assert min_distance_to_threshold(net.layers[0], x) > 1e-2
    return net, x, labels


@pytest.mark.parametrize(("v_th", "spiking"), [(1.0, True), (1e3, False)],
                         ids=["spiking_far_from_threshold", "silent_hidden_layer"])
def test_bptt_gradients_equal_finite_differences_where_the_network_is_smooth(v_th, spiking):
    net, x, labels = smooth_regime_net(v_th)
    rule = BPTT()
    rollout = rule.simulate(net, x)
    assert (rollout.spikes[0].sum() > 0) == spiking
    rule.assign_grads(net, rollout, loss_fn(rollout.outputs, labels))
    h = 1e-6
    for name, param in net.named_parameters():
        fd = torch.zeros_like(param)
        with torch.no_grad():
            for k in range(param.numel()):
                flat = param.view(-1)
                orig = flat[k].item()
                flat[k] = orig + h
                up = loss_fn(unroll(net, x).outputs, labels)
                flat[k] = orig - h
                down = loss_fn(unroll(net, x).outputs, labels)
                flat[k] = orig
                fd.view(-1)[k] = (up - down) / (2 * h)
        torch.testing.assert_close(param.grad, fd, rtol=1e-6, atol=1e-9, msg=name)
    readout_grad = net.layers[1].bias.grad
    assert readout_grad.abs().max() > 1e-3  # the comparison is not vacuous


def test_hidden_gradients_flow_through_the_surrogate():
    net = build_network(3, [6], 2, dt=DT, gain=3.0, generator=gen(), dtype=F64)
    x = (torch.rand(20, 4, 3, generator=gen(1)) < 0.4).to(F64)
    rule = BPTT()
    r = rule.simulate(net, x)
    rule.assign_grads(net, r, loss_fn(r.outputs, torch.tensor([0, 1, 1, 0])))
    for p in net.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0


def test_simulate_is_unroll():
    net = build_network(3, [6], 2, dt=DT, gain=3.0, recurrent=True, generator=gen(), dtype=F64)
    x = (torch.rand(15, 2, 3, generator=gen(1)) < 0.4).to(F64)
    r = BPTT().simulate(net, x)
    ref = unroll(net, x)
    assert isinstance(r, Rollout)
    assert torch.equal(r.outputs, ref.outputs) and torch.equal(r.spikes[0], ref.spikes[0])


def grads_for(seed: int) -> list[Tensor]:
    net = build_network(4, [8], 3, dt=DT, gain=3.0, recurrent=True, generator=gen(seed))
    x = (torch.rand(25, 5, 4, generator=gen(seed + 100)) < 0.3).float()
    labels = torch.randint(0, 3, (5,), generator=gen(seed + 200))
    rule = BPTT()
    r = rule.simulate(net, x)
    rule.assign_grads(net, r, loss_fn(r.outputs, labels))
    return [p.grad.clone() for p in net.parameters()]


def test_gradients_are_deterministic_for_a_fixed_generator():
    a, b, c = grads_for(0), grads_for(0), grads_for(1)
    assert all(torch.equal(ga, gb) for ga, gb in zip(a, b, strict=True))
    assert not all(torch.equal(ga, gc) for ga, gc in zip(a, c, strict=True))


def test_assign_grads_writes_instead_of_accumulating():
    net = build_network(3, [5], 2, dt=DT, gain=3.0, generator=gen(), dtype=F64)
    x = (torch.rand(10, 2, 3, generator=gen(1)) < 0.4).to(F64)
    labels = torch.tensor([1, 0])
    rule = BPTT()
    first = []
    for _ in range(2):
        r = rule.simulate(net, x)
        rule.assign_grads(net, r, loss_fn(r.outputs, labels))
        first = first or [p.grad.clone() for p in net.parameters()]
    assert all(torch.equal(g, p.grad) for g, p in zip(first, net.parameters(), strict=True))


def test_one_optimisation_step_decreases_the_loss():
    net = build_network(4, [10], 2, dt=DT, gain=3.0, generator=gen(), dtype=F64)
    x = (torch.rand(20, 6, 4, generator=gen(1)) < 0.4).to(F64)
    labels = torch.tensor([0, 1, 0, 1, 1, 0])
    rule = BPTT()
    optimizer = torch.optim.SGD(net.parameters(), lr=1e-2)
    r = rule.simulate(net, x)
    before = loss_fn(r.outputs, labels)
    rule.assign_grads(net, r, before)
    optimizer.step()
    with torch.no_grad():
        after = loss_fn(rule.simulate(net, x).outputs, labels)
    assert after.item() < before.item()


def test_bptt_is_a_learning_rule_named_bptt():
    assert isinstance(BPTT(), LearningRule) and BPTT.name == "bptt"
