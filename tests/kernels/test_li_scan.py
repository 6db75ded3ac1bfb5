"""The fused leaky-integrator sequence equals autograd through ``li_step``; gradcheck passes."""

from __future__ import annotations

import pytest
import torch

from snnlearn.kernels import li_sequence
from snnlearn.neurons import LIParams, li_step

DT = 1e-3


@pytest.mark.parametrize("backend", ["torch", "cpu"])
@pytest.mark.parametrize("tau_syn", [None, 5e-3])
def test_matches_reference(tau_syn, backend):
    g = torch.Generator().manual_seed(0)
    p = LIParams(tau_mem=10e-3, tau_syn=tau_syn, v_leak=0.2, r=1.5)
    x = torch.randn(20, 3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    v0 = torch.randn(3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    s0 = p.initial_state((3, 4), dtype=torch.float64)._replace(v=v0)
    s, vs = s0, []
    for t in range(20):
        v, s = li_step(x[t], s, p, DT)
        vs.append(v)
    v_ref = torch.stack(vs)
    v_fused, s_fused = li_sequence(x, s0, p, DT, backend=backend)
    torch.testing.assert_close(v_ref, v_fused, rtol=0, atol=1e-12)
    torch.testing.assert_close(s.i, s_fused.i, rtol=0, atol=1e-12)
    w = torch.randn(20, 3, 4, generator=g, dtype=torch.float64)
    w_i = torch.randn(3, 4, generator=g, dtype=torch.float64)
    a = torch.autograd.grad((v_ref * w).sum() + (s.i * w_i).sum(), [x, v0])
    b = torch.autograd.grad((v_fused * w).sum() + (s_fused.i * w_i).sum(), [x, v0])
    for ga, gb in zip(a, b, strict=True):
        torch.testing.assert_close(ga, gb, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("backend", ["torch", "cpu"])
@pytest.mark.parametrize("tau_syn", [None, 5e-3])
def test_gradcheck(tau_syn, backend):
    p = LIParams(tau_mem=10e-3, tau_syn=tau_syn)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(6, 2, 3, generator=g, dtype=torch.float64, requires_grad=True)
    v0 = torch.randn(2, 3, generator=g, dtype=torch.float64, requires_grad=True)
    s0 = p.initial_state((2, 3), dtype=torch.float64)

    def f(x, v0):
        return li_sequence(x, s0._replace(v=v0), p, DT, backend=backend)[0]

    assert torch.autograd.gradcheck(f, (x, v0))


def test_charging_closed_form():
    p = LIParams(tau_mem=10e-3)
    T = 50
    v, _ = li_sequence(torch.full((T, 1, 1), 2.0, dtype=torch.float64),
                       p.initial_state((1, 1), dtype=torch.float64), p, DT)
    t = torch.arange(1, T + 1, dtype=torch.float64) * DT
    torch.testing.assert_close(v.flatten(), 2.0 * (1 - torch.exp(-t / 10e-3)), rtol=1e-12,
                               atol=1e-12)
