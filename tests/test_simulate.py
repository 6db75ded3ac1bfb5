"""Tests for snnlearn.simulate: input validation, edge cases, state threading and gradients."""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from snnlearn.layers import Network, Readout, SpikingLayer, build_network
from snnlearn.neurons import LIFParams, LIParams, lif_fire, lif_integrate
from snnlearn.simulate import Rollout, check_input_sequence, unroll
from snnlearn.surrogate import Triangle

F64 = torch.float64


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def small_net(dtype=torch.float32, **kwargs) -> Network:
    return build_network(3, [5], 2, dt=1e-3, generator=gen(), dtype=dtype, **kwargs)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("shape", [(4, 3), (3,), (2, 4, 3, 1)])
def test_wrong_ndim_names_the_expected_layout(shape):
    with pytest.raises(ValueError, match=r"\[T, B, 3\].*" + str(len(shape)) + " dimensions"):
        unroll(small_net(), torch.zeros(shape))


def test_wrong_channel_count_names_expected_and_received():
    with pytest.raises(ValueError, match=r"4 channels.*expects 3.*\(10, 2, 4\)"):
        unroll(small_net(), torch.zeros(10, 2, 4))


def test_batch_first_input_is_caught_by_the_channel_check():
    with pytest.raises(ValueError, match="time first"):
        unroll(small_net(), torch.zeros(2, 3, 10))  # [B, n_in, T]


def test_wrong_dtype_names_both_dtypes_and_the_fix():
    with pytest.raises(ValueError, match=r"torch\.float64.*torch\.float32.*x\.to"):
        unroll(small_net(torch.float32), torch.zeros(5, 2, 3, dtype=F64))
    with pytest.raises(ValueError, match="dtype"):
        unroll(small_net(torch.float32), torch.zeros(5, 2, 3, dtype=torch.int64))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_inputs_raise(bad):
    x = torch.zeros(5, 2, 3)
    x[2, 1, 0] = bad
    with pytest.raises(ValueError, match="1 NaN or Inf"):
        unroll(small_net(), x)


@pytest.mark.parametrize("x", [[[[0.0, 0.0, 0.0]]], np.zeros((5, 2, 3), dtype=np.float32), 1.0])
def test_non_tensor_input_raises(x):
    with pytest.raises(ValueError, match=r"torch\.Tensor \[T, B, 3\]"):
        unroll(small_net(), x)


def test_check_input_sequence_returns_the_input_and_uses_the_given_name():
    x = torch.zeros(5, 2, 3)
    assert check_input_sequence(x, 3, torch.float32) is x
    with pytest.raises(ValueError, match="^spikes "):
        check_input_sequence(torch.zeros(5, 3), 3, torch.float32, name="spikes")


def test_wrong_state_length_names_expected_and_received():
    net = small_net()
    state = net.initial_state(2)
    with pytest.raises(ValueError, match="state has 3 entries but the network has 2 layers"):
        unroll(net, torch.zeros(5, 2, 3), state=(*state, state[0]))


@pytest.mark.parametrize("batch", [1, 3])
def test_state_for_another_batch_size_raises(batch):
    net = small_net()
    with pytest.raises(ValueError, match=rf"\({batch}, 5\), expected \(2, 5\)"):
        unroll(net, torch.zeros(5, 2, 3), state=net.initial_state(batch))


def test_check_false_skips_validation_but_not_the_result():
    net = small_net(F64, gain=3.0)
    x = (torch.rand(20, 2, 3, generator=gen(1)) < 0.4).to(F64)
    a, b = unroll(net, x), unroll(net, x, check=False)
    assert torch.equal(a.outputs, b.outputs) and torch.equal(a.spikes[0], b.spikes[0])


# --------------------------------------------------------------------------- edge cases


@pytest.mark.parametrize("record", [False, True])
def test_zero_time_steps_returns_empty_sequences_and_the_initial_state(record):
    net = small_net(recurrent=True)
    r = unroll(net, torch.zeros(0, 4, 3), record_membrane=record)
    assert r.outputs.shape == (0, 4, 2) and r.spikes[0].shape == (0, 4, 5)
    assert [m.shape for m in r.membranes] == ([(0, 4, 5), (0, 4, 2)] if record else [])
    for got, want in zip(r.final_state, net.initial_state(4), strict=True):
        for a, b in zip(got, want, strict=True):
            assert torch.equal(a, b)


def test_zero_batch():
    net = small_net(recurrent=True)
    r = unroll(net, torch.zeros(7, 0, 3), record_membrane=True)
    assert r.outputs.shape == (7, 0, 2) and r.spikes[0].shape == (7, 0, 5)


def test_rollout_shapes_dtype_and_read_only_extras():
    net = small_net(F64, gain=3.0)
    x = (torch.rand(9, 4, 3, generator=gen(1)) < 0.4).to(F64)
    r = unroll(net, x)
    assert isinstance(r, Rollout)
    assert r.outputs.shape == (9, 4, 2) and r.outputs.dtype == F64
    assert r.spikes[0].dtype == F64 and r.membranes == ()
    assert set(r.spikes[0].unique().tolist()) <= {0.0, 1.0}
    assert isinstance(r.extras, types.MappingProxyType) and len(r.extras) == 0
    with pytest.raises(TypeError):
        r.extras["x"] = 1  # type: ignore[index]


def test_continuing_from_the_final_state_equals_one_long_run():
    net = build_network(3, [6], 2, dt=1e-3, recurrent=True, gain=3.0,
                        neuron=LIFParams(tau_syn=3e-3, t_ref=2e-3), generator=gen(), dtype=F64)
    x = (torch.rand(30, 2, 3, generator=gen(2)) < 0.4).to(F64)
    whole = unroll(net, x)
    first = unroll(net, x[:13])
    second = unroll(net, x[13:], state=first.final_state)
    assert whole.spikes[0].sum() > 0
    assert torch.equal(torch.cat([first.spikes[0], second.spikes[0]]), whole.spikes[0])
    torch.testing.assert_close(torch.cat([first.outputs, second.outputs]), whole.outputs,
                               rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- gradients


class Unrolled(nn.Module):
    """Test helper: ``unroll`` as a module, so ``functional_call`` can swap in the weights."""

    def __init__(self, net: Network) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        r = unroll(self.net, x, record_membrane=True)
        return r.outputs, r.membranes[0]


def min_distance_to_threshold(layer: SpikingLayer, x: Tensor, dt: float) -> float:
    """Smallest ``|v' - v_th|`` of a (feed-forward LIF) layer over a run, pre-reset membrane."""
    p = layer.neuron
    current, state, margins = layer.project(x).detach(), layer.initial_state(x.shape[1]), []
    for t in range(x.shape[0]):
        pre = lif_integrate(current[t], state, p, dt)
        margins.append((pre.v - p.v_th).abs().min())
        _, state = lif_fire(pre, p, dt)
    return torch.stack(margins).min().item()


def test_gradcheck_through_a_spiking_network_where_no_spike_can_flip():
    # With the triangle surrogate (support |v - v_th| < 1e-3) and every pre-spike membrane far
    # from threshold, the surrogate network is exactly the piecewise-smooth true network, so the
    # autograd gradient through unroll (leak, synapse, hard reset, readout) must be exact.
    dt = 1e-3
    neuron = LIFParams(tau_mem=5e-3, tau_syn=3e-3, reset="hard", v_reset=-0.2,
                       surrogate=Triangle(scale=1e3))
    g = gen(4)
    net = Network([SpikingLayer.dense(3, 4, neuron, weight_scale=20.0, generator=g, dtype=F64),
                   Readout(4, 2, LIParams(tau_mem=8e-3), generator=g, dtype=F64)], dt=dt)
    x = (2.0 * torch.rand(8, 1, 3, generator=g, dtype=F64)).requires_grad_(True)
    hidden = net.layers[0]
    assert min_distance_to_threshold(hidden, x, dt) > 1e-2
    assert unroll(net, x).spikes[0].sum() > 0
    model = Unrolled(net)
    w0 = hidden.weight.detach().clone().requires_grad_(True)
    w1 = net.layers[1].weight.detach().clone().requires_grad_(True)

    def f(x: Tensor, w0: Tensor, w1: Tensor) -> tuple[Tensor, Tensor]:
        return torch.func.functional_call(
            model, {"net.layers.0.synapse.weight": w0, "net.layers.1.synapse.weight": w1}, (x,))

    assert torch.autograd.gradcheck(f, (x, w0, w1))


def test_gradcheck_of_a_readout_only_network():
    net = Network([Readout(3, 2, LIParams(tau_mem=4e-3, tau_syn=2e-3), generator=gen(),
                           dtype=F64)], dt=1e-3)
    x = torch.randn(10, 2, 3, generator=gen(1), dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: unroll(net, t).outputs, (x,))


def test_projection_hook_replaces_the_feedforward_current():
    from snnlearn.layers import build_network

    net = build_network(3, [6], 2, dt=1e-3, generator=torch.Generator().manual_seed(0))
    x = (torch.rand(12, 4, 3, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    calls = []

    def same(k, layer, seq):
        calls.append(k)
        return layer.project(seq)

    default = unroll(net, x)
    hooked = unroll(net, x, projection=same)
    assert calls == [0, 1]
    assert torch.equal(default.outputs, hooked.outputs)
    doubled = unroll(net, x, projection=lambda k, layer, seq: 2 * layer.project(seq))
    assert not torch.equal(default.outputs, doubled.outputs)
