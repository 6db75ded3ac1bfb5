"""Tests for snnlearn.layers.network: Network construction, step, and build_network."""

from __future__ import annotations

import math

import pytest
import torch

from snnlearn.layers import Network, Readout, Record, SpikingLayer, build_network
from snnlearn.neurons import ALIFParams, LIFParams, LIParams
from snnlearn.simulate import unroll

F64 = torch.float64


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def spikes_in(steps: int, batch: int, n: int, seed: int, dtype=F64) -> torch.Tensor:
    return (torch.rand(steps, batch, n, generator=gen(seed)) < 0.3).to(dtype)


ARCHS = {
    "lif": {"neuron": LIFParams(tau_mem=5e-3)},
    "lif_rec_syn_ref": {"neuron": LIFParams(tau_mem=5e-3, tau_syn=3e-3, t_ref=2e-3),
                        "recurrent": True},
    "alif_rec": {"neuron": ALIFParams(lif=LIFParams(tau_mem=5e-3), tau_adapt=20e-3),
                 "recurrent": True},
    "spiking_output": {"neuron": LIFParams(reset="hard"), "spiking_output": True},
}


@pytest.mark.parametrize("arch", ARCHS, ids=list(ARCHS))
def test_step_loop_equals_unroll(arch):
    net = build_network(5, [12, 7], 3, dt=1e-3, gain=3.0, generator=gen(), dtype=F64,
                        **ARCHS[arch])
    x = spikes_in(40, 4, 5, seed=1)
    r = unroll(net, x, record_membrane=True)
    state = net.initial_state(4)
    outs, spikes, membranes = [], [], []
    for t in range(x.shape[0]):
        out, state, rec = net.step(x[t], state)
        outs.append(out)
        spikes.append(rec.spikes)
        membranes.append(rec.membranes)
    assert all(s.sum() > 0 for s in r.spikes)  # the comparison is not vacuous
    for k in range(len(r.spikes)):
        assert torch.equal(torch.stack([s[k] for s in spikes]), r.spikes[k])
    # Same equations; the batched and per-step matrix products may round differently (1 ulp).
    torch.testing.assert_close(torch.stack(outs), r.outputs, rtol=1e-12, atol=1e-12)
    for k in range(len(net.layers)):
        torch.testing.assert_close(torch.stack([m[k] for m in membranes]), r.membranes[k],
                                   rtol=1e-12, atol=1e-12)
    for a, b in zip(state, r.final_state, strict=True):
        for ta, tb in zip(a, b, strict=True):
            torch.testing.assert_close(ta, tb, rtol=1e-12, atol=1e-12)
    # Without membrane recording unroll may take a fused path (kernels): the same result.
    fused = unroll(net, x)
    for k in range(len(r.spikes)):
        assert torch.equal(fused.spikes[k], r.spikes[k])
    torch.testing.assert_close(fused.outputs, r.outputs, rtol=1e-12, atol=1e-12)
    for a, b in zip(fused.final_state, r.final_state, strict=True):
        for ta, tb in zip(a, b, strict=True):
            torch.testing.assert_close(ta, tb, rtol=1e-12, atol=1e-12)


def test_record_lists_spiking_layers_and_all_membranes():
    net = build_network(3, [6, 5], 2, dt=1e-3, generator=gen())
    out, state, rec = net.step(torch.ones(4, 3), net.initial_state(4))
    assert isinstance(rec, Record)
    assert [s.shape for s in rec.spikes] == [(4, 6), (4, 5)]
    assert [m.shape for m in rec.membranes] == [(4, 6), (4, 5), (4, 2)]
    assert torch.equal(rec.membranes[-1], out)  # a readout's output is its membrane
    assert len(net.spiking_layers) == 2 and len(state) == 3


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_follows_the_network(dtype):
    net = build_network(3, [6], 2, dt=1e-3, recurrent=True, neuron=ALIFParams(),
                        generator=gen(), dtype=dtype)
    out, state, rec = net.step(torch.ones(2, 3, dtype=dtype), net.initial_state(2))
    assert out.dtype == dtype and rec.spikes[0].dtype == dtype
    assert all(t.dtype == dtype for s in state for t in s)


def test_no_state_is_kept_between_batches():
    net = build_network(4, [8], 3, dt=1e-3, recurrent=True, gain=3.0, generator=gen(), dtype=F64)
    keys = set(net.state_dict())
    assert keys == {"layers.0.synapse.weight", "layers.0.recurrent_weight",
                    "layers.1.synapse.weight"}
    assert list(net.buffers()) == []
    x_a, x_b = spikes_in(20, 3, 4, seed=1), spikes_in(20, 3, 4, seed=2)
    before = unroll(net, x_b)
    unroll(net, x_a)
    net.step(x_a[0], net.initial_state(3))
    after = unroll(net, x_b)
    assert torch.equal(before.outputs, after.outputs)
    assert torch.equal(before.spikes[0], after.spikes[0])
    assert set(net.state_dict()) == keys


def test_batch_size_zero():
    net = build_network(3, [4], 2, dt=1e-3, recurrent=True, generator=gen())
    out, state, rec = net.step(torch.zeros(0, 3), net.initial_state(0))
    assert out.shape == (0, 2) and rec.spikes[0].shape == (0, 4)


@pytest.mark.parametrize("batch_size", [-1, 2.0, True, None])
def test_invalid_batch_size_raises(batch_size):
    net = build_network(3, [4], 2, dt=1e-3)
    with pytest.raises(ValueError, match="batch_size"):
        net.initial_state(batch_size)


def test_step_rejects_a_state_of_the_wrong_length():
    net = build_network(3, [4], 2, dt=1e-3)
    state = net.initial_state(2)
    with pytest.raises(ValueError, match=r"state has 1 entries but the network has 2 layers"):
        net.step(torch.zeros(2, 3), state[:1])


def test_rejects_mismatched_layer_sizes():
    with pytest.raises(ValueError,
                       match=r"layer 1 \(Readout\) expects input shape \(5,\) but receives \(4,\)"):
        Network([SpikingLayer.dense(3, 4), Readout(5, 2)], dt=1e-3)


def test_rejects_a_readout_that_is_not_last():
    with pytest.raises(ValueError, match="Readout may only be the last layer"):
        Network([Readout(3, 4), SpikingLayer.dense(4, 2)], dt=1e-3)


@pytest.mark.parametrize("layers", [[], [torch.nn.Linear(3, 4)], ["dense"]])
def test_rejects_bad_layer_lists(layers):
    with pytest.raises(ValueError, match="layer"):
        Network(layers, dt=1e-3)


@pytest.mark.parametrize("dt", [0.0, -1e-3, float("nan"), float("inf")])
def test_rejects_bad_dt(dt):
    with pytest.raises(ValueError, match="dt"):
        Network([SpikingLayer.dense(3, 4)], dt=dt)
    with pytest.raises(ValueError, match="dt"):
        build_network(3, [4], 2, dt=dt)


def test_build_network_structure():
    net = build_network(4, [16, 8], 3, dt=1e-3, recurrent=True, generator=gen())
    assert (net.n_in, net.n_out, net.dt) == (4, 3, 1e-3)
    assert [type(m) for m in net.layers] == [SpikingLayer, SpikingLayer, Readout]
    assert [(m.n_in, m.n_out) for m in net.layers] == [(4, 16), (16, 8), (8, 3)]
    assert all(m.recurrent for m in net.spiking_layers)
    spiking = build_network(4, [], 3, dt=1e-3, spiking_output=True)
    assert [type(m) for m in spiking.layers] == [SpikingLayer]


def test_build_network_weight_scale_compensates_the_membrane_gain():
    dt, gain = 1e-3, 0.7
    neuron, readout = LIFParams(tau_mem=10e-3, r=2.0), LIParams(tau_mem=40e-3, tau_syn=5e-3)
    net = build_network(300, [200], 100, dt=dt, neuron=neuron, readout=readout, gain=gain,
                        generator=gen(), dtype=F64)
    cases = ((net.layers[0], 10e-3, 1.0, 2.0),
             (net.layers[1], 40e-3, 1 - math.exp(-dt / 5e-3), 1.0))
    for layer, tau, synapse, r in cases:
        std = gain * synapse / ((1 - math.exp(-dt / tau)) * r) / math.sqrt(layer.n_in)
        assert layer.weight.detach().std().item() == pytest.approx(std, rel=0.03)


def test_build_network_is_deterministic_for_a_generator():
    a = build_network(4, [8], 3, dt=1e-3, recurrent=True, generator=gen(7))
    b = build_network(4, [8], 3, dt=1e-3, recurrent=True, generator=gen(7))
    c = build_network(4, [8], 3, dt=1e-3, recurrent=True, generator=gen(8))
    for (ka, va), (_, vb), (_, vc) in zip(a.state_dict().items(), b.state_dict().items(),
                                          c.state_dict().items(), strict=True):
        assert torch.equal(va, vb), ka
        assert not torch.equal(va, vc), ka


def test_step_validates_its_input_against_the_network_and_state() -> None:
    net = build_network(3, [5], 2, dt=1e-3)
    state = net.initial_state(2)
    for x, match in ((torch.ones(4, 2, 3), "step takes one time step: pass x"),
                     (torch.ones(3, 3), "batch of 3 but the state was made for 2"),
                     (torch.ones(2, 4), "has 4 channels"),
                     (torch.ones(2, 3, dtype=torch.int64), r"convert the input with x.to"),
                     (torch.full((2, 3), float("nan")), "6 NaN or Inf")):
        with pytest.raises(ValueError, match=match):
            net.step(x, state)
