from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from snnlearn.kernels import spike_matmul
from snnlearn.kernels.dispatch import numba_available
from snnlearn.kernels.spike_matmul import spike_linear

pytestmark = pytest.mark.skipif(not numba_available(), reason="needs numba")


def _spikes(shape: tuple[int, ...], p: float, dtype: torch.dtype, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.bernoulli(torch.full(shape, p, dtype=torch.float64), generator=g).to(dtype)


def _uses_sparse(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the calls that take the event-driven path."""
    calls: list[int] = []
    original = spike_matmul._SparseInputLinear.apply

    def apply(*args: object) -> torch.Tensor:
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(spike_matmul._SparseInputLinear, "apply", apply)
    return calls


def test_binary_input_small_integer_weights_is_bitwise_exact(monkeypatch):
    # 0/1 inputs and small-integer weights: every partial sum is exact in any order.
    calls = _uses_sparse(monkeypatch)
    g = torch.Generator().manual_seed(1)
    x = _spikes((7, 3, 29), 0.05, torch.float32)
    w = torch.randint(-8, 9, (13, 29), generator=g).float().requires_grad_()
    go = torch.randint(-4, 5, (7, 3, 13), generator=g).float()
    out = spike_linear(x, w)
    (gw,) = torch.autograd.grad(out, w, go)
    w_ref = w.detach().clone().requires_grad_()
    ref = F.linear(x, w_ref)
    (gw_ref,) = torch.autograd.grad(ref, w_ref, go)
    assert calls, "the event-driven path was not taken"
    assert torch.equal(out, ref)
    assert torch.equal(gw, gw_ref)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(1, 1, 5), (1, 4, 31), (9, 2, 17), (33, 37)])
def test_forward_and_gradients_match_dense(monkeypatch, dtype, shape):
    calls = _uses_sparse(monkeypatch)
    g = torch.Generator().manual_seed(2)
    x = _spikes(shape, 0.07, dtype, seed=3)
    x[..., 0] = 1.0  # never an all-zero input
    x = x.requires_grad_()
    w = torch.randn(11, shape[-1], generator=g, dtype=dtype, requires_grad=True)
    b = torch.randn(11, generator=g, dtype=dtype, requires_grad=True)
    go = torch.randn(*shape[:-1], 11, generator=g, dtype=dtype)
    out = spike_linear(x, w, b, max_density=1.0)
    grads = torch.autograd.grad(out, (x, w, b), go)
    ref = F.linear(x, w, b)
    ref_grads = torch.autograd.grad(ref, (x, w, b), go)
    assert calls
    tol = {"rtol": 1e-5, "atol": 1e-5} if dtype == torch.float32 else {"rtol": 1e-12, "atol": 1e-12}
    torch.testing.assert_close(out, ref, **tol)
    for a, r in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(a, r, **tol)


def test_non_binary_values_and_all_zero_rows():
    x = torch.zeros(6, 10, dtype=torch.float64)
    x[1, 3], x[4, 0], x[4, 9] = 2.5, -1.0, 0.25
    w = torch.randn(5, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(spike_linear(x, w), F.linear(x, w), rtol=1e-12, atol=1e-12)
    assert torch.equal(spike_linear(torch.zeros(4, 10, dtype=torch.float64), w),
                       torch.zeros(4, 5, dtype=torch.float64))


def test_non_contiguous_input_and_weight(monkeypatch):
    calls = _uses_sparse(monkeypatch)
    x = _spikes((12, 5, 40), 0.05, torch.float64).transpose(0, 1)  # [5, 12, 40], strided
    w_big = torch.randn(40, 18, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    w = w_big.t().requires_grad_()  # [18, 40], not contiguous
    assert not x.is_contiguous() and not w.is_contiguous()
    go = torch.randn(5, 12, 18, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    out = spike_linear(x, w)
    (gw,) = torch.autograd.grad(out, w, go)
    ref = F.linear(x, w)
    (gw_ref,) = torch.autograd.grad(ref, w, go)
    assert calls
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(gw, gw_ref, rtol=1e-12, atol=1e-12)


def test_gradcheck_float64():
    x = _spikes((2, 1, 5), 0.3, torch.float64, seed=7)
    x[0, 0, 0] = 1.0
    x.requires_grad_()
    w = torch.randn(3, 5, dtype=torch.float64, requires_grad=True,
                    generator=torch.Generator().manual_seed(8))
    # max_density=1: the perturbed inputs (no longer 0/1) still take the event-driven path.
    assert torch.autograd.gradcheck(lambda w_: spike_linear(x.detach(), w_, max_density=1.0),
                                    (w,))
    assert torch.autograd.gradcheck(lambda x_: spike_linear(x_, w.detach(), max_density=1.0),
                                    (x,))


def test_dense_inputs_and_other_backends_fall_back(monkeypatch):
    calls = _uses_sparse(monkeypatch)
    w = torch.randn(3, 8)
    dense = torch.rand(5, 8) + 0.5
    torch.testing.assert_close(spike_linear(dense, w), F.linear(dense, w))
    spikes = torch.zeros(5, 8)
    spikes[2, 3] = 1.0
    spike_linear(spikes, w, backend="torch")
    spike_linear(spikes.half(), w.half())  # float16: not a compiled dtype
    assert not calls
    spike_linear(spikes, w)
    assert calls


def test_invalid_max_density():
    with pytest.raises(ValueError, match="max_density"):
        spike_linear(torch.zeros(2, 3), torch.zeros(4, 3), max_density=1.5)
