"""Tests for snnlearn.tasks.spike_pattern: frozen data, target layout, the metrics on hand-made
spike trains, the loss, and training with SuperSpike through the runner."""

from __future__ import annotations

import math

import pytest
import torch

from snnlearn.experiments import registry
from snnlearn.losses import van_rossum_distance
from snnlearn.tasks.spike_pattern import (
    SpikePattern,
    nearest_spike_distance,
    spike_pattern_targets,
)


def small(**kw) -> SpikePattern:
    options = {"n_in": 30, "n_out": 3, "duration": 0.2, "target_spikes": 3, "repeats": 4}
    return SpikePattern(**(options | kw))


def test_data_is_frozen_and_the_splits_hold_the_same_patterns():
    a, b = small(n_patterns=2), small(n_patterns=2)
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)
    assert not torch.equal(a.inputs, small(n_patterns=2, seed=1).inputs)
    train, test = a.split("train"), a.split("test")
    assert len(train) == 8 and test.labels.tolist() == [0, 1]
    assert torch.equal(train.inputs[3], a.inputs[train.labels[3]])
    x = a.encode(test.inputs)
    assert tuple(x.shape) == (200, 2, 30) and x.dtype == torch.float32
    rate = float(a.encode(a.split("train").inputs).mean()) / a.dt  # Poisson rate in Hz
    assert abs(rate - 10.0) < 5 * math.sqrt(10.0 * a.dt / (30 * 200 * 2)) / a.dt


def test_targets_keep_their_count_interval_and_onset():
    t = spike_pattern_targets(3, 300, 4, 6, 25, 20, generator=torch.Generator().manual_seed(0))
    assert tuple(t.shape) == (3, 300, 4) and (t.sum(dim=1) == 6).all()
    for p in range(3):
        for n in range(4):
            steps = t[p, :, n].nonzero().flatten()
            assert steps.min() >= 20 and (steps.diff() >= 25).all()
    with pytest.raises(ValueError, match="do not fit"):
        spike_pattern_targets(1, 50, 1, 5, 20, 0)


def test_nearest_spike_distance_and_none():
    z = torch.zeros(6, 1, 2)
    z[[0, 4], 0, 0] = 1.0
    assert nearest_spike_distance(z)[:, 0, 0].tolist() == [0, 1, 2, 1, 0, 1]
    assert math.isinf(nearest_spike_distance(z)[0, 0, 1])


def test_metrics_on_hand_made_outputs():
    task = small()
    labels = torch.tensor([0])
    target = task.targets_for(labels)
    steps = target[:, 0, 0].nonzero().flatten()
    out = target.clone()
    out[:, 0, 0] = 0.0
    out[steps[0] + 2, 0, 0] = 1.0   # within 2 ms: matched, 2 ms error
    out[steps[1] + 3, 0, 0] = 1.0   # 3 ms late: unmatched, stray
    out[steps[2], 0, 0] = out[steps[2] + 1, 0, 0] = 1.0  # matched, plus a duplicate
    score = float(task.score(out, labels)[0])
    assert score == pytest.approx(8 / 9)  # 3 neurons x 3 targets, one missed
    m = task.metrics(out, labels)
    assert float(m["spike_timing_error_ms"][0]) == pytest.approx((2 + 3) / 9, rel=1e-6)
    assert float(m["stray_spikes"][0]) == 2.0
    assert float(m["van_rossum_distance"][0]) == pytest.approx(
        float(van_rossum_distance(out, target, task.dt)), rel=1e-6)
    silent = task.metrics(torch.zeros_like(out), labels)
    assert float(silent["spike_timing_error_ms"][0]) == pytest.approx(200.0)  # the duration
    assert float(task.score(target, labels)[0]) == 1.0
    assert float(task.metrics(target, labels)["stray_spikes"][0]) == 0.0


def test_loss_predict_and_bad_input():
    task = small(n_patterns=3)
    labels = torch.tensor([2, 0])
    target = task.targets_for(labels)
    assert float(task.loss(target, labels)) == 0.0
    assert float(task.loss(torch.zeros_like(target), labels)) > 0.0
    assert task.predict(target).tolist() == [2, 0]
    with pytest.raises(ValueError, match="spiking output"):
        task.loss(torch.zeros(200, 2, 10), labels)
    with pytest.raises(ValueError, match="rasters"):
        task.encode(torch.zeros(2, 10, 30))
    with pytest.raises(ValueError, match="n_in"):
        SpikePattern(n_in=0)
    with pytest.raises(ValueError, match="tolerance"):
        SpikePattern(tolerance=-1e-3)


def test_registered_with_a_spiking_output():
    task = registry.make_task("spike_pattern", {"n_in": "20", "duration": "0.2"})
    assert task.name == "spike_pattern" and task.n_in == 20 and task.defaults.spiking_output
