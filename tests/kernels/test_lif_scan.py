"""The fused LIF sequence equals BPTT through the step-by-step reference (spikes and gradients)."""

from __future__ import annotations

import itertools

import pytest
import torch

from snnlearn.kernels import lif_sequence
from snnlearn.neurons import LIFParams, lif_step
from snnlearn.surrogate import ATan, FastSigmoid, Triangle

DT = 1e-3


def _reference(x, state, p):
    zs = []
    for t in range(x.shape[0]):
        z, state = lif_step(x[t], state, p, DT)
        zs.append(z)
    return torch.stack(zs), state


CASES = list(itertools.product([None, 5e-3], ["subtract", "hard"], [False, True], [0.0, 2e-3]))
FAST = ["torch", "cpu"]  # every fused backend; each must equal the step-by-step reference


@pytest.mark.parametrize("backend", FAST)
@pytest.mark.parametrize(("tau_syn", "reset", "detach", "t_ref"), CASES)
def test_matches_reference_forward_and_backward(tau_syn, reset, detach, t_ref, backend):
    g = torch.Generator().manual_seed(1)
    p = LIFParams(tau_mem=10e-3, tau_syn=tau_syn, reset=reset, detach_reset=detach, t_ref=t_ref,
                  v_leak=0.1)
    T, B, N = 25, 3, 5
    x = (torch.randn(T, B, N, generator=g, dtype=torch.float64) * 3 + 1.5).requires_grad_()
    v0 = (torch.rand(B, N, generator=g, dtype=torch.float64) * 0.5).requires_grad_()
    i0 = torch.rand(B, N, generator=g, dtype=torch.float64).requires_grad_()
    s0 = p.initial_state((B, N), dtype=torch.float64)._replace(v=v0, i=i0)
    g_z = torch.randn(T, B, N, generator=g, dtype=torch.float64)
    g_v = torch.randn(B, N, generator=g, dtype=torch.float64)
    g_i = torch.randn(B, N, generator=g, dtype=torch.float64)

    z_ref, s_ref = _reference(x, s0, p)
    z_fused, s_fused = lif_sequence(x, s0, p, DT, backend=backend)
    assert torch.equal(z_ref, z_fused)
    assert 0 < z_ref.mean() < 1  # the case exercises spikes and silence
    for a, b in zip(s_ref, s_fused, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)

    inputs = [x, v0, i0] if tau_syn is not None else [x, v0]

    def objective(z, s):
        return (z * g_z).sum() + (s.v * g_v).sum() + (s.i * g_i).sum()

    grads_ref = torch.autograd.grad(objective(z_ref, s_ref), inputs)
    grads_fused = torch.autograd.grad(objective(z_fused, s_fused), inputs)
    for a, b in zip(grads_ref, grads_fused, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("backend", FAST)
@pytest.mark.parametrize("surrogate", [FastSigmoid(5.0), ATan(), Triangle(0.5)])
def test_surrogate_is_used(surrogate, backend):
    p = LIFParams(surrogate=surrogate)
    x = torch.linspace(-1, 3, 40, dtype=torch.float64).reshape(8, 1, 5).requires_grad_()
    s0 = p.initial_state((1, 5), dtype=torch.float64)
    z_ref, _ = _reference(x, s0, p)
    (g_ref,) = torch.autograd.grad(z_ref.sum(), x)
    z, _ = lif_sequence(x, s0, p, DT, backend=backend)
    (g_fused,) = torch.autograd.grad(z.sum(), x)
    torch.testing.assert_close(g_ref, g_fused, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("backend", FAST)
def test_empty_sequence_returns_initial_state(backend):
    p = LIFParams()
    s0 = p.initial_state((2, 3))
    z, s = lif_sequence(torch.zeros(0, 2, 3), s0, p, DT, backend=backend)
    assert z.shape == (0, 2, 3)
    assert torch.equal(s.v, s0.v) and torch.equal(s.i, s0.i)


@pytest.mark.parametrize("backend", FAST)
def test_float32_and_noncontiguous_input(backend):
    p = LIFParams(tau_syn=5e-3)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(5, 12, 4, generator=g).mul(20).transpose(0, 1)  # [12, 5, 4], non-contiguous
    assert not x.is_contiguous()
    s0 = p.initial_state((5, 4))
    z_ref, _ = _reference(x, s0, p)
    z, _ = lif_sequence(x, s0, p, DT, backend=backend)
    assert z.dtype == torch.float32
    assert torch.equal(z, z_ref)


def test_rejects_bad_dt():
    p = LIFParams()
    with pytest.raises(ValueError, match="dt"):
        lif_sequence(torch.zeros(2, 1, 1), p.initial_state((1, 1)), p, 0.0)
