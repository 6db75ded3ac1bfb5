"""The kernel dispatch: every fast backend equals the reference on random inputs of awkward
shapes and dtypes; backend selection and its errors."""

from __future__ import annotations

import pytest
import torch

from snnlearn.kernels import li_sequence, lif_sequence
from snnlearn.kernels.dispatch import (
    get_default_backend,
    numba_available,
    resolve_backend,
    set_default_backend,
)
from snnlearn.neurons import LIFParams, LIParams
from snnlearn.surrogate import FastSigmoid

DT = 1e-3
SHAPES = [(1, 1, 1), (1, 4, 3), (37, 3, 301), (64, 5, 7)]


def _grads(fn, x, s0, weights):
    out, s = fn(x, s0)
    loss = (out * weights).sum() + (s.v ** 2).sum()
    return out, torch.autograd.grad(loss, x)[0]


@pytest.mark.parametrize("backend", ["torch", "cpu"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_lif_fast_paths_match_reference(backend, shape, dtype):
    g = torch.Generator().manual_seed(sum(shape))
    p = LIFParams(tau_syn=5e-3, t_ref=1e-3)
    x = (torch.randn(*shape, generator=g, dtype=dtype) * 2 + 0.8).requires_grad_()
    s0 = p.initial_state(shape[1:], dtype=dtype)
    w = torch.randn(*shape, generator=g, dtype=dtype)
    z_ref, g_ref = _grads(lambda a, s: lif_sequence(a, s, p, DT, backend="reference"), x, s0, w)
    z, gx = _grads(lambda a, s: lif_sequence(a, s, p, DT, backend=backend), x, s0, w)
    assert torch.equal(z, z_ref)
    torch.testing.assert_close(gx, g_ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend", ["torch", "cpu"])
@pytest.mark.parametrize("shape", SHAPES)
def test_li_fast_paths_match_reference(backend, shape):
    g = torch.Generator().manual_seed(1)
    p = LIParams(tau_syn=5e-3)
    x = torch.randn(*shape, generator=g).requires_grad_()
    s0 = p.initial_state(shape[1:])
    w = torch.randn(*shape, generator=g)
    v_ref, g_ref = _grads(lambda a, s: li_sequence(a, s, p, DT, backend="reference"), x, s0, w)
    v, gx = _grads(lambda a, s: li_sequence(a, s, p, DT, backend=backend), x, s0, w)
    torch.testing.assert_close(v, v_ref, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(gx, g_ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend", ["torch", "cpu"])
def test_noncontiguous_input(backend):
    g = torch.Generator().manual_seed(2)
    p = LIFParams(tau_syn=5e-3)
    base = torch.randn(9, 30, 4, generator=g) * 3
    x = base.transpose(0, 1).requires_grad_()  # [30, 9, 4], a non-contiguous view
    assert not x.is_contiguous()
    s0 = p.initial_state((9, 4))
    w = torch.randn(30, 9, 4, generator=g)
    z_ref, g_ref = _grads(lambda a, s: lif_sequence(a, s, p, DT, backend="reference"), x, s0, w)
    z, gx = _grads(lambda a, s: lif_sequence(a, s, p, DT, backend=backend), x, s0, w)
    assert torch.equal(z, z_ref)
    torch.testing.assert_close(gx, g_ref, rtol=1e-5, atol=1e-6)


def test_bfloat16_input_is_computed_in_float32():
    """bf16 data run in float32 internally: same spikes as the float32 reference of the same
    (bf16-representable) values, results returned in bf16."""
    g = torch.Generator().manual_seed(3)
    p = LIFParams(tau_syn=5e-3)
    x16 = (torch.randn(40, 4, 33, generator=g) * 2).to(torch.bfloat16).requires_grad_()
    z, s = lif_sequence(x16, p.initial_state((4, 33), dtype=torch.bfloat16), p, DT, backend="cpu")
    assert z.dtype == torch.bfloat16 and s.v.dtype == torch.bfloat16
    x32 = x16.detach().float().requires_grad_()
    z_ref, _ = lif_sequence(x32, p.initial_state((4, 33)), p, DT, backend="reference")
    assert torch.equal(z.float(), z_ref)
    (g16,) = torch.autograd.grad(z.float().sum(), x16)
    (g32,) = torch.autograd.grad(z_ref.sum(), x32)
    assert g16.dtype == torch.bfloat16
    torch.testing.assert_close(g16.float(), g32, rtol=1e-2, atol=1e-2)


def test_auto_picks_cpu_and_falls_back_for_custom_surrogates():
    class Wide(FastSigmoid):
        pass

    x = torch.zeros(3, 2, 2)
    assert resolve_backend("auto", x, FastSigmoid()) == ("cpu" if numba_available() else "torch")
    assert resolve_backend("auto", x, Wide()) == "torch"
    with pytest.raises(ValueError, match="not a built-in"):
        resolve_backend("cpu", x, Wide())


def test_unknown_backend_names_the_choices():
    with pytest.raises(ValueError, match="valid backends: auto, reference, torch, cpu"):
        resolve_backend("cuda-magic", torch.zeros(1, 1, 1))
    with pytest.raises(ValueError, match="unknown kernel backend"):
        set_default_backend("fast")


def test_default_backend_is_used_and_restorable():
    p = LIFParams()
    x = torch.full((4, 1, 2), 30.0)
    try:
        set_default_backend("reference")
        z, _ = lif_sequence(x, p.initial_state((1, 2)), p, DT)
        assert get_default_backend() == "reference" and z.grad_fn is None
    finally:
        set_default_backend("auto")
    assert get_default_backend() == "auto"
