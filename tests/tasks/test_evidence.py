"""The evidence-accumulation cue task: trial structure, labels, spike rates and learnability."""

from __future__ import annotations

import math

import pytest
import torch

from snnlearn.tasks.base import SPLITS
from snnlearn.tasks.evidence import N_GROUP, EvidenceAccumulation


def test_trial_structure_and_majority_labels() -> None:
    task = EvidenceAccumulation(n_train=50, n_val=5, n_test=5, n_cues=3, cue_duration=0.05,
                                gap=0.02, delay=0.1, recall_duration=0.04, dt=10e-3)
    assert (task.cue_steps, task.gap_steps, task.delay_steps, task.recall_steps) == (5, 2, 10, 4)
    assert task.recall_start == 3 * 7 + 10 and task.n_steps == 35
    data = task.split("train")
    assert data.labels.tolist() == (data.inputs.sum(1) >= 2).long().tolist()
    p = task.rates(torch.tensor([[0, 1, 1]])).reshape(35, 4, N_GROUP)
    on = 40.0 * 10e-3
    for k, side in enumerate((0, 1, 1)):
        start = 7 * k
        assert torch.all(p[start:start + 5, side] == on)
        assert torch.all(p[start:start + 5, 1 - side] == 0)
        assert torch.all(p[start + 5:start + 7, :2] == 0)  # the gap is silent
    assert torch.all(p[21:31, :3] == 0)  # the delay: no cue, no recall
    assert torch.all(p[31:, 2] == on) and torch.all(p[:31, 2] == 0)
    assert torch.all(p[:, 3] == 10.0 * 10e-3)
    assert [len(task.split(s)) for s in SPLITS] == [50, 5, 5]


def test_spikes_follow_the_rates_within_a_binomial_interval() -> None:
    task = EvidenceAccumulation(n_train=400, n_val=1, n_test=1)
    inputs = task.split("train").inputs
    x = task.encode(inputs, generator=torch.Generator().manual_seed(0))
    p = task.rates(inputs)
    assert x.shape == (170, 400, 40) and set(x.unique().tolist()) <= {0.0, 1.0}
    n = float((p > 0).sum())
    mean_p = float(p[p > 0].mean())
    observed = float(x[p > 0].mean())
    assert abs(observed - mean_p) < 4 * math.sqrt(mean_p * (1 - mean_p) / n)
    assert float(x[p == 0].sum()) == 0


def test_the_answer_is_read_in_the_recall_window_only() -> None:
    task = EvidenceAccumulation(n_train=2, n_val=1, n_test=1)
    out = torch.zeros(task.n_steps, 2, 2)
    out[: task.recall_start, 0, 1] = 50.0  # before recall: ignored
    out[task.recall_start:, 0, 0] = 1.0
    out[task.recall_start:, 1, 1] = 1.0
    assert task.predict(out).tolist() == [0, 1]
    assert float(task.loss(out, torch.tensor([0, 1]))) < float(task.loss(out, torch.tensor([1, 0])))


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"n_cues": 4}, "must be odd"), ({"cue_duration": 0.001}, "under 1 step"),
    ({"cue_rate": 200.0}, r"rate \* dt must be <= 1"), ({"n_train": 0}, "n_train"),
    ({"delay": -1.0}, "duration >= 0"),
])
def test_invalid_options_raise(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        EvidenceAccumulation(**kwargs)


@pytest.mark.slow
def test_bptt_learns_to_count_across_the_delay(tmp_path) -> None:  # noqa: ANN001
    from snnlearn.experiments import Config, run

    cfg = Config(task="evidence", epochs=12, hidden=[64], out=str(tmp_path / "run"),
                 task_options={"n_train": 400, "n_val": 100, "n_test": 200, "n_cues": 3,
                               "delay": 0.2})
    assert run(cfg).summary["test_accuracy"] >= 0.8  # chance is 0.5
