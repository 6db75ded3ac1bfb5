"""Tests for snnlearn.surrogate: the Heaviside forward and the pseudo-derivatives of each surrogate.

Every surrogate is checked against its documented closed forms (peak, full width at half maximum)
and against the derivative of its smooth primitive (the "custom backward equals the derivative of
the smooth function" contract).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import pytest
import torch
from scipy.optimize import brentq
from torch import Tensor

from snnlearn.surrogate import SURROGATES, ATan, FastSigmoid, Surrogate, Triangle, spike

SCALES = (0.5, 1.0, 2.0, 10.0, 100.0)


def fwhm_fast_sigmoid(scale: float) -> float:
    return 2.0 * (math.sqrt(2.0) - 1.0) / scale


def fwhm_atan(scale: float) -> float:
    return 4.0 / (math.pi * scale)


def fwhm_triangle(scale: float) -> float:
    return 1.0 / scale


def primitive_fast_sigmoid(x: Tensor, scale: float) -> Tensor:
    # d/dx [x / (1 + s|x|)] = 1 / (1 + s|x|)^2
    return x / (1.0 + scale * x.abs())


def primitive_atan(x: Tensor, scale: float) -> Tensor:
    # d/dx [2/(pi s) atan(pi/2 s x)] = 1 / (1 + (pi/2 s x)^2)
    return 2.0 / (math.pi * scale) * torch.atan(0.5 * math.pi * scale * x)


def primitive_triangle(x: Tensor, scale: float) -> Tensor:
    # x - s x|x|/2 inside the support |x| < 1/s, constant +-1/(2s) outside.
    inside = x - 0.5 * scale * x * x.abs()
    outside = torch.sign(x) / (2.0 * scale)
    return torch.where(x.abs() < 1.0 / scale, inside, outside)


CASES: list[tuple[type[Surrogate], Callable[[float], float], Callable[[Tensor, float], Tensor]]] = [
    (FastSigmoid, fwhm_fast_sigmoid, primitive_fast_sigmoid),
    (ATan, fwhm_atan, primitive_atan),
    (Triangle, fwhm_triangle, primitive_triangle),
]
IDS = [c[0].__name__ for c in CASES]


@pytest.mark.parametrize(("cls", "fwhm", "primitive"), CASES, ids=IDS)
@pytest.mark.parametrize("scale", SCALES)
def test_peak_is_one_at_threshold_and_below_elsewhere(cls, fwhm, primitive, scale):
    s = cls(scale=scale)
    assert s.derivative(torch.zeros(1, dtype=torch.float64)).item() == 1.0
    x = torch.linspace(-5.0, 5.0, 2000, dtype=torch.float64)  # excludes 0
    d = s.derivative(x)
    assert torch.all(d < 1.0)
    assert torch.all(d <= 1.0) and torch.all(d >= 0.0)
    assert torch.equal(d, s.derivative(-x))  # symmetric


@pytest.mark.parametrize(("cls", "fwhm", "primitive"), CASES, ids=IDS)
@pytest.mark.parametrize("scale", SCALES)
def test_measured_fwhm_equals_documented_formula(cls, fwhm, primitive, scale):
    s = cls(scale=scale)

    def half(x: float) -> float:
        return s.derivative(torch.tensor([x], dtype=torch.float64)).item() - 0.5

    # The pseudo-derivatives decrease in |x|, so each half-maximum point is a single root.
    right = brentq(half, 0.0, 10.0 / scale, xtol=1e-15, rtol=1e-14)
    left = brentq(half, -10.0 / scale, 0.0, xtol=1e-15, rtol=1e-14)
    assert right - left == pytest.approx(fwhm(scale), rel=1e-10)


@pytest.mark.parametrize(("cls", "fwhm", "primitive"), CASES, ids=IDS)
def test_scale_only_changes_the_width(cls, fwhm, primitive):
    x = torch.linspace(-3.0, 3.0, 601, dtype=torch.float64)
    # sigma'_s(x) = sigma'_1(s x): the scale is used and is a pure width parameter.
    torch.testing.assert_close(cls(scale=4.0).derivative(x), cls(scale=1.0).derivative(4.0 * x),
                               rtol=1e-14, atol=0.0)


@pytest.mark.parametrize(("cls", "fwhm", "primitive"), CASES, ids=IDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("scale", [1.0, 25.0, 100.0])
def test_gradients_are_finite_over_a_wide_range(cls, fwhm, primitive, dtype, scale):
    x = torch.linspace(-100.0, 100.0, 20001, dtype=dtype, requires_grad=True)
    z = spike(x, cls(scale=scale))
    z.sum().backward()
    assert x.grad is not None and x.grad.dtype == dtype
    assert torch.isfinite(x.grad).all()
    assert torch.all(x.grad >= 0.0) and torch.all(x.grad <= 1.0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_forward_is_the_strict_heaviside(dtype):
    tiny = torch.finfo(dtype).tiny
    x = torch.tensor([-1.0, -tiny, 0.0, -0.0, tiny, 1.0], dtype=dtype)
    z = spike(x, FastSigmoid())
    assert z.dtype == dtype and z.shape == x.shape
    assert z.tolist() == [0.0, 0.0, 0.0, 0.0, 1.0, 1.0]


@pytest.mark.parametrize(("cls", "fwhm", "primitive"), CASES, ids=IDS)
def test_backward_is_grad_output_times_derivative(cls, fwhm, primitive):
    g = torch.Generator().manual_seed(0)
    s = cls(scale=3.0)
    x = torch.randn(4, 7, generator=g, dtype=torch.float64, requires_grad=True)
    grad_out = torch.randn(4, 7, generator=g, dtype=torch.float64)
    spike(x, s).backward(grad_out)
    torch.testing.assert_close(x.grad, grad_out * s.derivative(x.detach()), rtol=0.0, atol=0.0)


@pytest.mark.parametrize(("cls", "fwhm", "primitive"), CASES, ids=IDS)
@pytest.mark.parametrize("scale", [0.7, 5.0])
def test_backward_equals_autograd_of_the_smooth_primitive(cls, fwhm, primitive, scale):
    s = cls(scale=scale)
    x = torch.linspace(-4.0 / scale, 4.0 / scale, 801, dtype=torch.float64)
    x = x + 1e-3 / scale  # stay off the kinks of the triangle primitive's second derivative
    x_spike = x.clone().requires_grad_(True)
    spike(x_spike, s).sum().backward()
    x_smooth = x.clone().requires_grad_(True)
    primitive(x_smooth, scale).sum().backward()
    torch.testing.assert_close(x_spike.grad, x_smooth.grad, rtol=1e-12, atol=1e-15)
    # The primitive is the right one: a central finite difference of it gives the derivative.
    h = 1e-6 / scale
    fd = (primitive(x + h, scale) - primitive(x - h, scale)) / (2.0 * h)
    torch.testing.assert_close(fd, s.derivative(x), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize(("cls", "fwhm", "primitive"), CASES, ids=IDS)
def test_primitive_passes_gradcheck(cls, fwhm, primitive):
    x = torch.tensor([-2.3, -0.4, 0.1, 0.35, 1.7], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: primitive(t, 2.0), (x,))


def test_spike_composes_with_torch_func():
    x = torch.linspace(-1.0, 1.0, 9, dtype=torch.float64)
    s = ATan(scale=2.0)
    grad = torch.func.grad(lambda t: spike(t, s).sum())(x)
    torch.testing.assert_close(grad, s.derivative(x), rtol=0.0, atol=0.0)
    batched = torch.func.vmap(lambda t: spike(t, s))(x.reshape(3, 3))
    assert torch.equal(batched, (x > 0).to(x.dtype).reshape(3, 3))


@pytest.mark.parametrize("cls", [FastSigmoid, ATan, Triangle])
@pytest.mark.parametrize("scale", [0.0, -1.0, float("nan"), float("inf"), "10", None])
def test_invalid_scale_raises(cls, scale):
    with pytest.raises(ValueError, match="scale"):
        cls(scale=scale)


def test_surrogates_are_frozen_and_registered():
    s = FastSigmoid(scale=2.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.scale = 3.0  # type: ignore[misc]
    assert SURROGATES == {"fast_sigmoid": FastSigmoid, "atan": ATan, "triangle": Triangle}
    for cls in SURROGATES.values():
        assert isinstance(cls(), Surrogate)


def test_spike_rejects_a_non_surrogate():
    with pytest.raises(TypeError, match="Surrogate"):
        spike(torch.zeros(3), "fast_sigmoid")  # type: ignore[arg-type]


def test_derivative_keeps_dtype_and_shape():
    for dtype in (torch.float32, torch.float64):
        x = torch.zeros(2, 3, 4, dtype=dtype)
        for cls in (FastSigmoid, ATan, Triangle):
            d = cls().derivative(x)
            assert d.dtype == dtype and d.shape == x.shape
