"""Tests for snnlearn.layers.synapses: dense and convolutional synapses, Dale's law."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from snnlearn.layers import Conv1d, Conv2d, Dense, Network, Readout, SpikingLayer, build_network
from snnlearn.simulate import unroll

F64 = torch.float64


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_dense_is_the_affine_map_and_conv_matches_torch_per_step():
    syn = Dense(5, 3, bias=True, generator=gen(), dtype=F64)
    x = torch.rand(7, 2, 5, generator=gen(1), dtype=F64)
    torch.testing.assert_close(syn(x), F.linear(x, syn.weight, syn.bias))
    conv = Conv2d((2, 6, 6), 4, 3, generator=gen(), dtype=F64)
    img = torch.rand(3, 2, 2, 6, 6, generator=gen(2), dtype=F64)
    expected = torch.stack([F.conv2d(img[t], conv.weight, padding=1) for t in range(3)])
    torch.testing.assert_close(conv(img), expected)
    assert conv.out_shape == (4, 6, 6) and conv.fan_out == 36
    c1 = Conv1d((2, 9), 3, 3, stride=2, padding=0, generator=gen(), dtype=F64)
    assert c1.out_shape == (3, 4) and tuple(c1(torch.zeros(2, 1, 2, 9, dtype=F64)).shape) == (
        2, 1, 3, 4)


@pytest.mark.parametrize("make", [
    lambda: Dense(10, 4, dale=0.7, generator=gen()),
    lambda: Conv2d((5, 4, 4), 3, 3, dale=0.6, generator=gen()),
])
def test_dale_signs_hold_per_presynaptic_unit_through_training(make):
    syn = make()
    sign = syn.dale_sign
    assert int((sign > 0).sum()) == round(syn.dale * sign.numel())
    view = [1] * syn.weight.ndim
    view[1] = -1
    s = sign.view(view)
    assert bool((syn.weight * s >= 0).all())
    opt = torch.optim.SGD(syn.parameters(), lr=10.0)
    x = torch.rand(3, 2, *syn.in_shape, generator=gen(3))
    crossed = 0
    for _ in range(5):  # large steps push many weights across zero
        opt.zero_grad()
        (syn(x) - 1).abs().sum().backward()
        opt.step()
        crossed += int((syn.weight * s < 0).sum())
        syn.constrain_()
        assert bool((syn.weight * s >= 0).all())
    assert crossed > 0  # the projection had work to do


def test_dale_network_trains_and_keeps_signs():
    torch.manual_seed(0)
    net = build_network(6, [16], 2, dt=1e-3, dale=0.8, gain=4.0, generator=gen())
    sign = net.layers[0].synapse.dale_sign
    x = (torch.rand(30, 32, 6, generator=gen(1)) < 0.3).float()
    y = (x[:, :, :3].sum((0, 2)) > x[:, :, 3:].sum((0, 2))).long()
    opt = torch.optim.Adam(net.parameters(), lr=0.5)
    losses = []
    for _ in range(40):
        out = unroll(net, x).outputs.mean(0)
        loss = F.cross_entropy(out, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        net.constrain_()
        losses.append(float(loss.detach()))
        w = net.layers[0].weight
        assert bool((w * sign >= 0).all())  # .weight is the effective signed weight
    assert losses[-1] < 0.6 * losses[0]


def test_invalid_synapse_arguments_raise_one_line():
    with pytest.raises(ValueError, match="dale must be the fraction"):
        Dense(3, 2, dale=1.5)
    with pytest.raises(ValueError, match=r"needs an input shape \[C, H, W\]"):
        Conv2d((3, 4), 2, 3)
    with pytest.raises(ValueError, match="does not fit"):
        Conv2d((1, 2, 2), 2, 5, padding=0)
    with pytest.raises(ValueError, match="recurrent synapses need a layer with one feature"):
        SpikingLayer(Conv2d((1, 4, 4), 2, 3), recurrent=True)


def test_graded_spikes_scale_the_output_and_learn_their_amplitude():
    layer = SpikingLayer.dense(3, 4, graded=True, weight_scale=80.0, generator=gen())
    net = Network([layer, Readout(4, 2, generator=gen(1))], dt=1e-3)
    with torch.no_grad():
        layer.amplitude.copy_(torch.tensor([0.5, 1.0, 2.0, 3.0]))
    x = torch.ones(10, 2, 3)
    r = unroll(net, x, record=True)
    z = r.spikes[0]
    assert z.sum() > 0 and set(z.unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(r.records[1].input, z * layer.amplitude)
    r.outputs.sum().backward()
    assert layer.amplitude.grad is not None and layer.amplitude.grad.abs().sum() > 0
