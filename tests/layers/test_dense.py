"""Tests for snnlearn.layers.dense.SpikingLayer: weights only, explicit state, recurrence."""

from __future__ import annotations

import math

import pytest
import torch

from snnlearn.layers import SpikingLayer
from snnlearn.neurons import ALIFParams, LIFParams, LIParams

F64 = torch.float64


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_state_dict_holds_only_weights():
    plain = SpikingLayer.dense(3, 4, generator=gen())
    assert set(plain.state_dict()) == {"synapse.weight"}
    full = SpikingLayer.dense(3, 4, ALIFParams(), recurrent=True, bias=True, generator=gen())
    assert set(full.state_dict()) == {"synapse.weight", "synapse.bias", "recurrent_weight"}
    assert list(full.buffers()) == []


def test_initial_weights_follow_the_documented_scale_and_generator():
    n_in, n_out, scale = 400, 300, 2.0
    layer = SpikingLayer.dense(n_in, n_out, weight_scale=scale, generator=gen(1), dtype=F64)
    w = layer.weight.detach()
    bound = scale * math.sqrt(3.0 / n_in)  # uniform with std scale / sqrt(n_in)
    assert w.abs().max() <= bound
    assert w.std().item() == pytest.approx(scale / math.sqrt(n_in), rel=0.02)
    same = SpikingLayer.dense(n_in, n_out, weight_scale=scale, generator=gen(1), dtype=F64)
    other = SpikingLayer.dense(n_in, n_out, weight_scale=scale, generator=gen(2), dtype=F64)
    assert torch.equal(w, same.weight.detach())
    assert not torch.equal(w, other.weight.detach())


def test_recurrent_diagonal_is_zero_and_bias_starts_at_zero():
    layer = SpikingLayer.dense(5, 6, recurrent=True, bias=True, generator=gen())
    assert torch.all(torch.diagonal(layer.recurrent_weight) == 0)
    assert (layer.recurrent_weight != 0).sum() == 6 * 5
    assert torch.all(layer.bias == 0)


def test_recurrent_current_adds_w_rec_times_previous_spikes():
    dt, tau = 1e-3, 10e-3
    p = LIFParams(tau_mem=tau, v_th=1e3)  # never fires
    layer = SpikingLayer.dense(3, 4, p, recurrent=True, generator=gen(), dtype=F64)
    state = layer.initial_state(2)
    z_prev = torch.tensor([[1.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 0.0]], dtype=F64)
    state = state._replace(z=z_prev)
    current = torch.randn(2, 4, generator=gen(3), dtype=F64)
    _, s = layer.step(current, state, dt)
    expected = (1 - math.exp(-dt / tau)) * (current + z_prev @ layer.recurrent_weight.T)
    torch.testing.assert_close(s.v, expected.detach(), rtol=1e-13, atol=1e-15)


def test_self_connections_stay_absent_under_training():
    layer = SpikingLayer.dense(3, 4, recurrent=True, generator=gen(), dtype=F64)
    state = layer.initial_state(2)._replace(z=torch.ones(2, 4, dtype=F64))
    z, s = layer.step(torch.full((2, 4), 0.5, dtype=F64), state, 1e-3)
    s.v.sum().backward()
    grad = layer.recurrent_weight.grad
    assert torch.all(torch.diagonal(grad) == 0)
    assert torch.all(grad[~torch.eye(4, dtype=torch.bool)] != 0)
    # A non-zero diagonal (e.g. loaded from elsewhere) has no effect on the dynamics.
    with torch.no_grad():
        layer.recurrent_weight.fill_diagonal_(5.0)
    _, s2 = layer.step(torch.full((2, 4), 0.5, dtype=F64), state, 1e-3)
    torch.testing.assert_close(s2.v, s.v, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("neuron", [LIFParams(), ALIFParams()], ids=["LIF", "ALIF"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_follows_the_parameters(neuron, dtype):
    layer = SpikingLayer.dense(3, 4, neuron, recurrent=True, generator=gen(), dtype=dtype)
    s = layer.initial_state(5)
    assert all(t.dtype == dtype and t.shape == (5, 4) for t in s)
    z, s = layer.step(layer.project(torch.ones(5, 3, dtype=dtype)), s, 1e-3)
    assert z.dtype == dtype and z.shape == (5, 4)


def test_project_is_w_x_plus_b_for_steps_and_sequences():
    layer = SpikingLayer.dense(3, 2, bias=True, generator=gen(), dtype=F64)
    with torch.no_grad():
        layer.bias.copy_(torch.tensor([0.5, -1.0], dtype=F64))
    x = torch.randn(7, 4, 3, generator=gen(1), dtype=F64)
    expected = x @ layer.weight.T + layer.bias
    torch.testing.assert_close(layer.project(x), expected, rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(layer.project(x[0]), expected[0], rtol=1e-14, atol=1e-14)


def test_no_state_is_stored_on_the_module():
    layer = SpikingLayer.dense(3, 4, recurrent=True, generator=gen(), dtype=F64)
    attrs = dict(vars(layer))
    params = {k: v.clone() for k, v in layer.state_dict().items()}
    x_a = 5.0 * torch.rand(2, 3, generator=gen(1), dtype=F64)
    x_b = 5.0 * torch.rand(2, 3, generator=gen(2), dtype=F64)
    first = layer.step(layer.project(x_b), layer.initial_state(2), 1e-3)
    layer.step(layer.project(x_a), layer.initial_state(2), 1e-3)
    again = layer.step(layer.project(x_b), layer.initial_state(2), 1e-3)
    assert torch.equal(first[0], again[0]) and torch.equal(first[1].v, again[1].v)
    assert vars(layer).keys() == attrs.keys()
    for k, v in layer.state_dict().items():
        assert torch.equal(v, params[k])


def test_empty_batch():
    layer = SpikingLayer.dense(3, 4, recurrent=True, generator=gen())
    z, s = layer.step(layer.project(torch.zeros(0, 3)), layer.initial_state(0), 1e-3)
    assert z.shape == (0, 4) and s.v.shape == (0, 4)


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"n_in": 0}, "n_in"), ({"n_in": -2}, "n_in"), ({"n_in": 2.0}, "n_in"),
    ({"n_in": True}, "n_in"),
    ({"n_out": 0}, "n_out"), ({"neuron": LIParams()}, "neuron"), ({"neuron": "lif"}, "neuron"),
    ({"weight_scale": 0.0}, "weight_scale"), ({"weight_scale": float("nan")}, "weight_scale"),
    ({"weight_scale": -1.0}, "weight_scale"),
])
def test_invalid_arguments_raise(kwargs, name):
    args = {"n_in": 3, "n_out": 4, **kwargs}
    with pytest.raises(ValueError, match=name):
        SpikingLayer.dense(**args)


def test_dt_is_validated_in_step():
    layer = SpikingLayer.dense(2, 2, generator=gen())
    with pytest.raises(ValueError, match="dt"):
        layer.step(torch.zeros(1, 2), layer.initial_state(1), 0.0)


@pytest.mark.parametrize("kind", ["izhikevich", "hh"])
def test_izhikevich_and_hh_layers_simulate_and_carry_gradients(kind):
    """The richer neuron models fill a layer: they spike under a strong drive and the surrogate
    gives nonzero weight gradients through the generic step loop."""
    from snnlearn.layers import Network, Readout
    from snnlearn.neurons import HHParams, izhikevich_preset
    from snnlearn.simulate import unroll

    neuron = izhikevich_preset("RS") if kind == "izhikevich" else HHParams()
    dt = 0.1e-3 if kind == "izhikevich" else 0.025e-3
    g = torch.Generator().manual_seed(0)
    layer = SpikingLayer.dense(2, 4, neuron, weight_scale=20.0, generator=g)
    with torch.no_grad():
        layer.weight.abs_()
    net = Network([layer, Readout(4, 2, generator=g)], dt=dt)
    rollout = unroll(net, torch.ones(400, 3, 2))
    assert rollout.spikes[0].sum() > 0
    rollout.outputs.sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0
