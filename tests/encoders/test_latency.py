"""Tests of snnlearn.encoders.latency against the closed-form spike times."""

from __future__ import annotations

import math

import pytest
import torch

from snnlearn.encoders import first_spike_times, latency_decode, latency_encode, times_to_spikes

THETA = 0.2


def test_times_to_spikes_rounding_and_window() -> None:
    dt, n_steps = 1e-3, 4
    times = torch.tensor([[0.0, 0.4e-3, 0.6e-3, 2e-3, 3.4e-3, 3.6e-3, 10e-3,
                           float("inf"), float("nan")]])
    z = times_to_spikes(times, n_steps, dt)
    assert z.shape == (n_steps, 1, 9)
    expected = torch.tensor([0.0, 0.0, 1.0, 2.0, 3.0, math.inf, math.inf, math.inf, math.inf])
    assert torch.equal(first_spike_times(z, 1.0)[0], expected)
    assert z.sum(0).max() <= 1


def test_times_to_spikes_rejects_negative_times() -> None:
    with pytest.raises(ValueError, match="times"):
        times_to_spikes(torch.tensor([[-1e-4]]), 5, 1e-3)
    with pytest.raises(ValueError, match="times"):
        times_to_spikes(torch.tensor([[-math.inf]]), 5, 1e-3)


def test_linear_code_on_grid_is_exact() -> None:
    dt, n_steps = 1e-3, 11
    x = torch.linspace(0.0, 1.0, n_steps, dtype=torch.float64).unsqueeze(0)
    # t = (1 - x) * 10 dt lands on the grid: the spike is in step k = t / dt exactly
    z = latency_encode(x, n_steps, dt)
    steps = first_spike_times(z, 1.0)  # with dt = 1 the "time" is the step index
    assert torch.equal(steps, torch.arange(n_steps - 1, -1, -1, dtype=torch.float64)[None])
    assert torch.allclose(first_spike_times(z, dt), (1.0 - x) * (n_steps - 1) * dt)
    # with t_min > 0 and an explicit t_max: t = 5 dt + (1 - x) 20 dt
    z = latency_encode(x, 30, dt, t_min=5e-3, t_max=25e-3)
    steps = first_spike_times(z, 1.0)
    assert torch.equal(steps, 5.0 + torch.arange(20, -1, -2, dtype=torch.float64)[None])


def test_linear_roundtrip_within_resolution() -> None:
    dt, n_steps, t_min, t_max = 1e-3, 50, 2e-3, 40e-3
    x = torch.rand(16, 32, generator=torch.Generator().manual_seed(0))
    z = latency_encode(x, n_steps, dt, t_min=t_min, t_max=t_max)
    x_hat = latency_decode(z, dt, t_min=t_min, t_max=t_max)
    assert (x_hat - x).abs().max() <= dt / (t_max - t_min)


def test_log_code_matches_rc_charging_time() -> None:
    dt, n_steps, tau = 1e-4, 400, 5e-3
    x = torch.linspace(0.25, 1.0, 31, dtype=torch.float64).unsqueeze(0)
    z = latency_encode(x, n_steps, dt, kind="log", tau=tau)
    t_expected = tau * torch.log(x / (x - THETA))
    assert (first_spike_times(z, dt) - t_expected).abs().max() <= dt
    # it is the threshold crossing of v(t) = x (1 - exp(-t / tau))
    v_at_t = x * (1 - torch.exp(-t_expected / tau))
    assert torch.allclose(v_at_t, torch.full_like(x, THETA))


def test_log_code_sub_threshold_and_clipping() -> None:
    dt, n_steps, tau = 1e-3, 20, 5e-3
    x = torch.tensor([[0.0, 0.1, THETA, 0.2001, 1.0]])
    times = first_spike_times(latency_encode(x, n_steps, dt, kind="log", tau=tau), dt)
    assert torch.isinf(times[0, :3]).all()
    assert times[0, 3].item() == pytest.approx((n_steps - 1) * dt)  # clipped to t_max
    assert times[0, 4].item() == pytest.approx(round(tau * math.log(1 / 0.8) / dt) * dt)


def test_one_spike_at_most_and_skip_zero() -> None:
    x = torch.rand(8, 20, generator=torch.Generator().manual_seed(1))
    x[:, :3] = 0.0
    for kind in ("linear", "log"):
        z = latency_encode(x, 25, 1e-3, kind=kind)
        assert z.sum(0).max() <= 1
    z = latency_encode(x, 25, 1e-3)
    assert torch.all(z.sum(0)[:, :3] == 1)
    z = latency_encode(x, 25, 1e-3, skip_zero=True)
    assert torch.all(z.sum(0)[:, :3] == 0)
    assert torch.all(z.sum(0)[:, 3:] == 1)
    assert latency_decode(z, 1e-3, t_max=24e-3)[:, :3].eq(0).all()


def test_first_spike_times() -> None:
    z = torch.zeros(6, 2, 3)
    z[2, 0, 0] = z[4, 0, 0] = 1.0
    z[0, 1, 1] = 1.0
    z[5, 1, 2] = 1.0
    t = first_spike_times(z, 0.5e-3)
    expected = torch.tensor([[1e-3, math.inf, math.inf], [math.inf, 0.0, 2.5e-3]])
    assert torch.equal(torch.isinf(t), torch.isinf(expected))
    assert torch.allclose(t[torch.isfinite(t)], expected[torch.isfinite(expected)])
    assert first_spike_times(z.bool(), 1e-3).dtype == torch.float32


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"x": torch.tensor([[1.5]])}, "x"),
        ({"x": torch.tensor([[-0.1]])}, "x"),
        ({"x": torch.tensor([[float("nan")]])}, "x"),
        ({"n_steps": 0}, "n_steps"),
        ({"dt": 0.0}, "dt"),
        ({"t_min": -1e-3}, "t_min"),
        ({"t_max": -1.0}, "t_max"),
        ({"tau": 0.0}, "tau"),
        ({"kind": "exp"}, "kind"),
    ],
)
def test_latency_encode_validation(kwargs: dict, name: str) -> None:
    args = {"x": torch.tensor([[0.5]]), "n_steps": 10, "dt": 1e-3} | kwargs
    x, n_steps, dt = args.pop("x"), args.pop("n_steps"), args.pop("dt")
    with pytest.raises(ValueError, match=name):
        latency_encode(x, n_steps, dt, **args)


def test_latency_decode_validation() -> None:
    with pytest.raises(ValueError, match="t_max"):
        latency_decode(torch.zeros(3, 1, 1), 1e-3, t_min=2e-3, t_max=2e-3)
    with pytest.raises(ValueError, match="dt"):
        first_spike_times(torch.zeros(3, 1, 1), -1.0)
