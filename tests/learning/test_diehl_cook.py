"""Tests of the Diehl & Cook excitatory layer: one layer of the network, simulated by unroll."""

from __future__ import annotations

import pytest
import torch

from snnlearn.layers import Dense, Network, build_network
from snnlearn.learning.diehl_cook import (
    DiehlCookNeuron,
    DiehlCookParams,
    diehl_cook_layer,
    diehl_cook_response,
)
from snnlearn.learning.stdp import STDP
from snnlearn.neurons import LIFParams
from snnlearn.simulate import unroll

DT = 1e-3


def _layer(n_in: int, n_out: int, p: DiehlCookParams, seed: int = 0) -> Network:
    layer = diehl_cook_layer(Dense(n_in, n_out), p)
    with torch.no_grad():
        layer.weight.copy_(torch.rand(n_out, n_in, generator=torch.Generator().manual_seed(seed)))
    return Network([layer], dt=DT)


def test_unroll_equals_stepping_the_network() -> None:
    net = _layer(6, 5, DiehlCookParams())
    net.layers[0].theta.copy_(torch.tensor([0.0, 0.5, 1.0, 0.0, 2.0]))
    x = (torch.rand(30, 4, 6, generator=torch.Generator().manual_seed(1)) < 0.6).float() * 3.0
    fused = unroll(net, x).spikes[0]
    state, steps = net.initial_state(4), []
    for x_t in x:
        out, state, _ = net.step(x_t, state)
        steps.append(out)
    assert torch.equal(fused, torch.stack(steps)) and fused.sum() > 0


def test_winner_take_all_lets_one_neuron_fire_per_step() -> None:
    x = torch.ones(40, 2, 3) * 5.0
    for wta in (True, False):
        p = DiehlCookParams(inhibition=0.0, winner_take_all=wta)
        z = diehl_cook_response(_layer(3, 4, p), x, p)
        per_step = z.sum(-1)
        if wta:
            assert float(per_step.max()) == 1.0 and z.sum() > 0
        else:
            assert float(per_step.max()) > 1.0


def test_lateral_inhibition_removes_w_inh_per_spike_from_the_others() -> None:
    p = DiehlCookParams(inhibition=0.7)
    layer = _layer(3, 4, p).layers[0]
    state = layer.initial_state(1)
    z = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    state = state._replace(z=z)
    current = torch.zeros(1, 4)
    _, after = layer.step(current, state, DT)
    # I_t = a_s I_{t-1} + x_t - w_inh * (spikes of the other neurons at t - 1); I starts at 0
    torch.testing.assert_close(after.i, -0.7 * (z.sum() - z))


def test_threshold_offsets_silence_a_neuron_and_enter_the_initial_state() -> None:
    p = DiehlCookParams(inhibition=0.0, winner_take_all=False)
    net = _layer(2, 2, p)
    with torch.no_grad():
        net.layers[0].weight.copy_(torch.ones(2, 2))
    net.layers[0].theta.copy_(torch.tensor([0.0, 1e6]))
    assert torch.equal(net.initial_state(3)[0].theta, torch.tensor([[0.0, 1e6]]).expand(3, 2))
    z = unroll(net, torch.ones(20, 3, 2) * 10.0).spikes[0].sum(dim=(0, 1))
    assert z[0] > 0 and z[1] == 0


def test_neuron_model_is_validated() -> None:
    with pytest.raises(ValueError, match="lif must be LIFParams"):
        DiehlCookNeuron(lif="lif")  # type: ignore[arg-type]
    assert DiehlCookNeuron(LIFParams()).winner_take_all


def test_prepare_makes_the_layer_and_keeps_a_prepared_network() -> None:
    net = build_network(4, [6], 2, dt=DT, generator=torch.Generator().manual_seed(0))
    STDP().prepare(net, generator=torch.Generator().manual_seed(1))
    layer = net.layers[0]
    assert isinstance(layer.neuron, DiehlCookNeuron) and not layer.recurrent_weight.requires_grad
    weights = layer.weight.detach().clone()
    net.assignments.fill_(1)
    STDP().prepare(net, generator=torch.Generator().manual_seed(2))  # a reloaded network
    assert net.layers[0] is layer and torch.equal(layer.weight, weights)
    assert net.assignments.tolist() == [1] * 6
