"""Tests of snnlearn.encoders.delta: the send-on-delta reconstruction bound and spike counts."""

from __future__ import annotations

import math

import pytest
import torch

from snnlearn.encoders import delta_decode, delta_encode


def test_sine_reconstruction_within_threshold() -> None:
    threshold, n_steps = 0.05, 2000
    t = torch.arange(n_steps, dtype=torch.float64) * 1e-3
    phases = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64)
    signal = torch.sin(2 * math.pi * 3.0 * t[:, None] + phases).view(n_steps, 1, 3) * 1.5
    assert signal.diff(dim=0).abs().max() < threshold  # slowly varying
    z = delta_encode(signal, threshold)
    assert z.shape == (n_steps, 1, 6)
    on, off = z.chunk(2, dim=-1)
    assert (on * off).sum() == 0  # a channel never sends ON and OFF in the same step
    recon = delta_decode(z, threshold, initial=signal[0])
    assert (recon - signal).abs().max() <= threshold


def test_ramp_counts_equal_excursion_over_threshold() -> None:
    threshold = 0.125  # dyadic values keep the comparisons exact
    up = torch.arange(0, 65, dtype=torch.float64) / 64  # 0 -> 1
    down = 1.0 - torch.arange(1, 49, dtype=torch.float64) / 64  # 1 -> 0.25
    signal = torch.cat([up, down]).view(-1, 1, 1)
    z = delta_encode(signal, threshold)
    on, off = z[..., 0], z[..., 1]
    assert on.sum().item() == 1.0 / threshold
    assert off.sum().item() == 0.75 / threshold
    assert on[: len(up)].sum() == on.sum() and off[: len(up)].sum() == 0
    recon = delta_decode(z, threshold, initial=signal[0])
    assert recon[-1].item() == pytest.approx(0.25)


def test_monotone_ramp_gives_floor_of_change() -> None:
    threshold = 0.3
    signal = torch.linspace(0.0, 2.0, 200, dtype=torch.float64).view(-1, 1, 1)
    on = delta_encode(signal, threshold, off_spikes=False)
    assert on.shape == signal.shape
    assert on.sum().item() == math.floor(2.0 / threshold)


def test_large_jump_is_sent_one_spike_per_step() -> None:
    signal = torch.tensor([0.0, 1.0, 1.0, 1.0, 1.0, 1.0]).view(-1, 1, 1)
    z = delta_encode(signal, 0.25)
    assert z[:, 0, 0].tolist() == [0.0, 1.0, 1.0, 1.0, 1.0, 0.0]
    assert torch.allclose(delta_decode(z, 0.25)[-1], torch.ones(1, 1))


def test_on_only_still_tracks_decreases() -> None:
    # down by 0.5 then up by 0.5: the reference follows the decrease, so the increase is sent
    signal = torch.tensor([0.0, -0.5, 0.0]).view(-1, 1, 1)
    on = delta_encode(signal, 0.5, off_spikes=False)
    assert on[:, 0, 0].tolist() == [0.0, 0.0, 1.0]


def test_default_initial_is_zero_and_dtypes() -> None:
    signal = torch.tensor([2, 3, 4]).view(-1, 1, 1)  # integer input
    z = delta_encode(signal, 1.0)
    assert z.dtype == torch.float32
    assert delta_decode(z, 1.0)[:, 0, 0].tolist() == [0.0, 1.0, 2.0]


@pytest.mark.parametrize(
    ("signal", "threshold", "name"),
    [
        (torch.zeros(4, 2), 0.1, "signal"),
        (torch.full((2, 1, 1), float("nan")), 0.1, "signal"),
        (torch.zeros(4, 1, 1), 0.0, "threshold"),
        (torch.zeros(4, 1, 1), float("inf"), "threshold"),
    ],
)
def test_encode_validation(signal: torch.Tensor, threshold: float, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        delta_encode(signal, threshold)


def test_decode_validation() -> None:
    with pytest.raises(ValueError, match="off_spikes"):
        delta_decode(torch.zeros(3, 1, 3), 0.1)
    with pytest.raises(ValueError, match="initial"):
        delta_decode(torch.zeros(3, 1, 4), 0.1, initial=torch.zeros(1, 3))
