"""Tests of snnlearn.encoders.rate against the binomial distribution of a Bernoulli process."""

from __future__ import annotations

import math

import pytest
import torch

from snnlearn.encoders import poisson_encode, rate_decode

Z_999 = 3.2905  # two-sided 99.9% quantile of the standard normal distribution


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("rate", [1.0, 20.0, 100.0, 400.0, 900.0])
def test_empirical_rate_within_binomial_interval(rate: float) -> None:
    dt, n_steps, batch, n = 1e-3, 2000, 8, 16
    z = poisson_encode(torch.full((batch, n), rate), n_steps, dt, generator=_gen(1))
    trials = z.numel()
    p = rate * dt
    half_width = Z_999 * math.sqrt(p * (1 - p) / trials)
    assert abs(z.mean().item() - p) <= half_width


def test_shape_dtype_and_values() -> None:
    z = poisson_encode(torch.full((3, 5), 50.0, dtype=torch.float64), 7, 1e-3, generator=_gen())
    assert z.shape == (7, 3, 5)
    assert z.dtype == torch.float64
    assert set(z.unique().tolist()) <= {0.0, 1.0}
    zi = poisson_encode(torch.full((2, 2), 10, dtype=torch.int64), 4, 1e-3, generator=_gen())
    assert zi.dtype == torch.float32


def test_extreme_probabilities_are_deterministic() -> None:
    dt = 1e-3
    z = poisson_encode(torch.tensor([[0.0, 1.0 / dt]]), 50, dt, generator=_gen())
    assert torch.equal(z[:, 0, 0], torch.zeros(50))
    assert torch.equal(z[:, 0, 1], torch.ones(50))


def test_generator_reproducibility() -> None:
    rates = torch.full((4, 10), 200.0)
    a = poisson_encode(rates, 100, 1e-3, generator=_gen(3))
    b = poisson_encode(rates, 100, 1e-3, generator=_gen(3))
    c = poisson_encode(rates, 100, 1e-3, generator=_gen(4))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_channels_are_independent_of_their_neighbours_rates() -> None:
    rates = torch.tensor([[0.0, 300.0, 0.0, 300.0]])
    z = poisson_encode(rates, 500, 1e-3, generator=_gen(5))
    assert z[:, :, rates[0] == 0].sum() == 0


def test_rate_decode_recovers_rate() -> None:
    dt, n_steps = 1e-3, 5000
    rates = torch.tensor([[5.0, 50.0, 250.0]])
    decoded = rate_decode(poisson_encode(rates, n_steps, dt, generator=_gen(7)), dt)
    duration = n_steps * dt
    # 99.9% binomial interval on the count, converted to Hz
    p = rates * dt
    tol = Z_999 * torch.sqrt(p * (1 - p) * n_steps) / duration
    assert torch.all((decoded - rates).abs() <= tol)


def test_rate_decode_closed_form() -> None:
    z = torch.zeros(10, 1, 2)
    z[:3, 0, 0] = 1.0
    assert torch.allclose(rate_decode(z, 1e-3), torch.tensor([[300.0, 0.0]]))
    assert rate_decode(z.bool(), 1e-3).dtype == torch.float32


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"rates": torch.tensor([[-1.0]])}, "rates"),
        ({"rates": torch.tensor([[float("nan")]])}, "rates"),
        ({"rates": torch.tensor([[float("inf")]])}, "rates"),
        ({"rates": torch.tensor([[1001.0]])}, "1/dt"),
        ({"rates": [[1.0]]}, "rates"),
        ({"n_steps": 0}, "n_steps"),
        ({"n_steps": 2.5}, "n_steps"),
        ({"dt": 0.0}, "dt"),
        ({"dt": -1e-3}, "dt"),
        ({"dt": float("nan")}, "dt"),
    ],
)
def test_poisson_validation(kwargs: dict, name: str) -> None:
    args = {"rates": torch.tensor([[10.0]]), "n_steps": 5, "dt": 1e-3} | kwargs
    with pytest.raises(ValueError, match=name):
        poisson_encode(args["rates"], args["n_steps"], args["dt"], generator=_gen())


def test_rate_decode_validation() -> None:
    with pytest.raises(ValueError, match="dt"):
        rate_decode(torch.zeros(3, 1, 1), 0.0)
    with pytest.raises(ValueError, match="spikes"):
        rate_decode(torch.zeros(0, 1, 1), 1e-3)
