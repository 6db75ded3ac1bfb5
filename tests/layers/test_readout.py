"""Tests for snnlearn.layers.readout.Readout: LI closed form and gradcheck over time."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from snnlearn.layers import Readout
from snnlearn.neurons import LIFParams, LIParams

F64 = torch.float64


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class Unrolled(nn.Module):
    """Test helper: a readout unrolled over the time axis of ``x`` ``[T, B, n_in]``."""

    def __init__(self, readout: Readout, dt: float) -> None:
        super().__init__()
        self.readout, self.dt = readout, dt

    def forward(self, x: Tensor) -> Tensor:
        state = self.readout.initial_state(x.shape[1])
        current = self.readout.project(x)
        outs = []
        for t in range(x.shape[0]):
            v, state = self.readout.step(current[t], state, self.dt)
            outs.append(v)
        return torch.stack(outs)


def test_constant_input_charges_to_w_x_with_the_membrane_time_constant():
    dt, tau, steps = 1e-3, 7e-3, 60
    ro = Readout(3, 2, LIParams(tau_mem=tau, r=1.5), bias=True, generator=gen(), dtype=F64)
    with torch.no_grad():
        ro.bias.copy_(torch.tensor([0.2, -0.1], dtype=F64))
    x = torch.tensor([[1.0, 0.0, 1.0]], dtype=F64)
    v = Unrolled(ro, dt)(x.expand(steps, 1, 3)).detach()
    target = 1.5 * (x @ ro.weight.detach().T + ro.bias.detach())
    t = dt * torch.arange(1, steps + 1, dtype=F64)[:, None, None]
    torch.testing.assert_close(v, target * (1 - torch.exp(-t / tau)), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("neuron", [LIParams(tau_mem=5e-3),
                                    LIParams(tau_mem=5e-3, tau_syn=2e-3, v_leak=0.1)],
                         ids=["LI", "CubaLI"])
def test_gradcheck_over_time_wrt_input_and_weights(neuron):
    ro = Readout(3, 2, neuron, bias=True, generator=gen(), dtype=F64)
    model = Unrolled(ro, 1e-3)
    x = torch.randn(8, 2, 3, generator=gen(1), dtype=F64, requires_grad=True)
    w = torch.randn(2, 3, generator=gen(2), dtype=F64, requires_grad=True)
    b = torch.randn(2, generator=gen(3), dtype=F64, requires_grad=True)

    def f(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
        return torch.func.functional_call(model, {"readout.synapse.weight": w,
                                                  "readout.synapse.bias": b}, (x,))

    assert torch.autograd.gradcheck(f, (x, w, b))


def test_state_dict_and_dtype():
    ro = Readout(4, 3, generator=gen(), dtype=F64)
    assert set(ro.state_dict()) == {"synapse.weight"}
    assert set(Readout(4, 3, bias=True).state_dict()) == {"synapse.weight", "synapse.bias"}
    s = ro.initial_state(2)
    assert s.v.dtype == F64 and s.v.shape == (2, 3)
    v, _ = ro.step(ro.project(torch.ones(2, 4, dtype=F64)), s, 1e-3)
    assert v.dtype == F64


def test_initial_weights_follow_the_documented_scale():
    ro = Readout(500, 200, weight_scale=0.5, generator=gen(4), dtype=F64)
    w = ro.weight.detach()
    assert w.abs().max() <= 0.5 * math.sqrt(3.0 / 500)
    assert w.std().item() == pytest.approx(0.5 / math.sqrt(500), rel=0.02)


def test_empty_batch():
    ro = Readout(3, 2)
    v, s = ro.step(ro.project(torch.zeros(0, 3)), ro.initial_state(0), 1e-3)
    assert v.shape == (0, 2)


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"n_in": 0}, "n_in"), ({"n_out": -1}, "n_out"), ({"n_out": 1.5}, "n_out"),
    ({"neuron": LIFParams()}, "neuron"), ({"weight_scale": 0.0}, "weight_scale"),
    ({"weight_scale": float("inf")}, "weight_scale"),
])
def test_invalid_arguments_raise(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Readout(**{"n_in": 3, "n_out": 2, **kwargs})
