"""A tiny, separable two-class task registered under the id ``toy`` for the experiment tests."""

from __future__ import annotations

from types import MappingProxyType

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from snnlearn.experiments import registry
from snnlearn.tasks.base import Task, TaskData, TaskDefaults


class ToyTask(Task):
    """Class 0 fires on channels 0-1, class 1 on channels 2-3 (rate-coded, T = 10)."""

    name = "toy"
    n_in, n_out, n_steps, dt = 4, 2, 10, 5e-3

    def __init__(self, nan_loss: bool = False) -> None:
        self.defaults = TaskDefaults(hidden=(16,), epochs=3, batch_size=8, lr=3e-2)
        self.nan_loss = nan_loss
        g = torch.Generator().manual_seed(1234)
        self._splits = {name: self._make(n, g) for name, n in
                        (("train", 32), ("val", 16), ("test", 16))}

    @staticmethod
    def _make(n: int, g: torch.Generator) -> TaskData:
        labels = torch.arange(n) % 2
        rates = torch.full((n, 4), 0.05)
        rates[labels == 0, :2] = 0.6
        rates[labels == 1, 2:] = 0.6
        return TaskData(rates + 0.05 * torch.rand(n, 4, generator=g), labels)

    def split(self, split):  # noqa: ANN001, ANN201 - the Task signature
        return self._splits[split]

    def encode(self, inputs: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        noise = torch.rand((self.n_steps, *inputs.shape), generator=generator)
        return (noise < inputs).float()

    def loss(self, outputs: Tensor, labels: Tensor) -> Tensor:
        loss = F.cross_entropy(outputs.mean(0), labels)
        return loss * float("nan") if self.nan_loss else loss

    def predict(self, outputs: Tensor) -> Tensor:
        return outputs.mean(0).argmax(-1)


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> str:
    """Register ``toy`` (and ``toy_nan``, whose loss is NaN) for one test; returns ``"toy"``."""
    tasks = {**registry.TASKS, "toy": ToyTask, "toy_nan": lambda: ToyTask(nan_loss=True)}
    monkeypatch.setattr(registry, "TASKS", MappingProxyType(tasks))
    return "toy"
