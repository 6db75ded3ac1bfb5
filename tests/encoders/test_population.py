"""Tests of snnlearn.encoders.population against the Gaussian tuning curves."""

from __future__ import annotations

import math

import pytest
import torch

from snnlearn.encoders import population_decode, population_encode, population_rates


def test_rates_at_centres_equal_max_rate() -> None:
    n, x_min, x_max = 5, -1.0, 3.0
    centres = torch.linspace(x_min, x_max, n, dtype=torch.float64)
    r = population_rates(centres.view(n, 1), n, x_min=x_min, x_max=x_max, max_rate=80.0)
    assert r.shape == (n, n)
    assert torch.allclose(r.diagonal(), torch.full((n,), 80.0, dtype=torch.float64))
    assert torch.all(r.argmax(dim=1) == torch.arange(n))


def test_rates_closed_form_and_layout() -> None:
    x = torch.tensor([[0.3, 0.9]], dtype=torch.float64)
    n, width, max_rate = 4, 0.2, 50.0
    r = population_rates(x, n, width=width, max_rate=max_rate)
    assert r.shape == (1, 2 * n)
    centres = torch.linspace(0.0, 1.0, n, dtype=torch.float64)
    for d in range(2):  # neurons of dimension d are the contiguous block d*n .. d*n + n - 1
        expected = max_rate * torch.exp(-(x[0, d] - centres) ** 2 / (2 * width**2))
        assert torch.allclose(r[0, d * n:(d + 1) * n], expected)
    # default width is the spacing between centres: a neighbour fires at exp(-1/2) max_rate
    r = population_rates(torch.zeros(1, 1), n, max_rate=1.0)
    assert r[0, 1].item() == pytest.approx(math.exp(-0.5))


def test_encode_shapes_and_reproducibility() -> None:
    x = torch.rand(3, 2, generator=torch.Generator().manual_seed(0))
    a = population_encode(x, 6, 40, 1e-3, generator=torch.Generator().manual_seed(1))
    b = population_encode(x, 6, 40, 1e-3, generator=torch.Generator().manual_seed(1))
    assert a.shape == (40, 3, 12)
    assert torch.equal(a, b)


def test_decode_recovers_x() -> None:
    n, dt, n_steps = 10, 1e-3, 1000
    x = torch.linspace(0.2, 0.8, 13).view(13, 1).repeat(1, 2)
    # the expected (noise-free) centre of mass is x up to the edge truncation
    rates = population_rates(x, n, max_rate=500.0)
    ideal = population_decode(rates.unsqueeze(0), n)
    assert (ideal - x).abs().max() < 5e-3
    z = population_encode(x, n, n_steps, dt, max_rate=500.0,
                          generator=torch.Generator().manual_seed(2))
    x_hat = population_decode(z, n)
    assert x_hat.shape == x.shape
    assert (x_hat - x).abs().max() < 0.03


def test_decode_without_spikes_is_midpoint() -> None:
    x_hat = population_decode(torch.zeros(5, 2, 8), 4, x_min=-2.0, x_max=4.0)
    assert torch.equal(x_hat, torch.ones(2, 2))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n_neurons": 1}, "n_neurons"),
        ({"x_max": 0.0}, "x_max"),
        ({"width": 0.0}, "width"),
        ({"max_rate": -1.0}, "max_rate"),
        ({"max_rate": 2000.0}, "max_rate"),
        ({"x": torch.zeros(3)}, "x"),
        ({"x": torch.tensor([[float("inf")]])}, "x"),
        ({"n_steps": 0}, "n_steps"),
        ({"dt": 0.0}, "dt"),
    ],
)
def test_encode_validation(kwargs: dict, name: str) -> None:
    args = {"x": torch.zeros(2, 1), "n_neurons": 4, "n_steps": 5, "dt": 1e-3} | kwargs
    x, n, n_steps, dt = args.pop("x"), args.pop("n_neurons"), args.pop("n_steps"), args.pop("dt")
    with pytest.raises(ValueError, match=name):
        population_encode(x, n, n_steps, dt, **args)


def test_decode_validation() -> None:
    with pytest.raises(ValueError, match="n_neurons"):
        population_decode(torch.zeros(4, 1, 10), 4)
    with pytest.raises(ValueError, match="spikes"):
        population_decode(torch.zeros(4, 8), 4)
