"""Tests for snnlearn.layers.transforms and conv networks built from specs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from snnlearn.layers import (
    Dropout,
    Flatten,
    Network,
    Pool,
    Readout,
    SpikingLayer,
    SpikingModule,
    build_network,
)
from snnlearn.simulate import unroll


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_sum_pool_adds_spikes_and_max_pool_keeps_any():
    x = torch.zeros(2, 1, 1, 4, 4)
    x[0, 0, 0, 0, 0] = x[0, 0, 0, 1, 1] = 1.0
    assert Pool((1, 4, 4), 2)(x)[0, 0, 0, 0, 0].item() == 2.0
    assert Pool((1, 4, 4), 2, "max")(x)[0, 0, 0, 0, 0].item() == 1.0
    assert Flatten((1, 4, 4))(x).shape == (2, 1, 16)


def test_dropout_mask_is_constant_over_time_and_identity_in_eval():
    d = Dropout((50,), 0.5)
    torch.manual_seed(0)
    y = d(torch.ones(6, 3, 50))
    assert torch.equal(y[0], y[5]) and 0 < float((y[0] == 0).float().mean()) < 1
    d.eval()
    assert torch.equal(d(torch.ones(6, 3, 50)), torch.ones(6, 3, 50))


def test_conv_network_from_specs_runs_steps_and_sequences_alike():
    net = build_network(64, [], 3, dt=1e-3, in_shape=(1, 8, 8), gain=4.0, generator=gen(),
                        dtype=torch.float64, layers=[
                            {"kind": "conv2d", "channels": 3, "kernel": 3},
                            {"kind": "pool", "size": 2}, {"kind": "dense", "size": 10}])
    x = (torch.rand(12, 2, 64, generator=gen(1), dtype=torch.float64) < 0.3).double()
    seq = unroll(net, x)
    assert seq.spikes[0].shape == (12, 2, 3, 8, 8) and seq.spikes[0].sum() > 0
    state, outs = net.initial_state(2), []
    for t in range(12):
        out, state, _ = net.step(x[t], state)
        outs.append(out)
    torch.testing.assert_close(torch.stack(outs), seq.outputs)


def test_specs_errors_name_the_entry():
    with pytest.raises(ValueError, match=r"layer 0 \('conv2d'\).*\[C, H, W\]"):
        build_network(5, [], 2, dt=1e-3, layers=[{"kind": "conv2d", "channels": 2}])
    with pytest.raises(ValueError, match=r"layer 1 \('blur'\): unknown kind"):
        build_network(5, [], 2, dt=1e-3, layers=[{"kind": "dense", "size": 3}, {"kind": "blur"}])
    with pytest.raises(ValueError, match="unknown key"):
        build_network(5, [], 2, dt=1e-3, layers=[{"kind": "dense", "size": 3, "colour": 1}])


def test_any_torch_module_sits_between_spiking_layers_and_trains():
    net = Network([SpikingLayer.dense(3, 6, weight_scale=40.0, generator=gen()),
                   nn.Linear(6, 5), SpikingLayer.dense(5, 4, weight_scale=40.0,
                                                      generator=gen(1)),
                   Readout(4, 2, generator=gen(2))], dt=1e-3)
    out = unroll(net, torch.ones(8, 2, 3)).outputs
    out.sum().backward()
    assert net.layers[1].module.weight.grad is not None


def test_spiking_module_is_the_stateful_sequence_form():
    mod = SpikingModule([SpikingLayer.dense(3, 5, weight_scale=30.0, generator=gen())], dt=1e-3)
    x = torch.rand(10, 2, 3, generator=gen(3))
    z, state = mod(x)
    z1, s1 = mod(x[:4])
    z2, _ = mod(x[4:], s1)
    torch.testing.assert_close(torch.cat([z1, z2]), z)
