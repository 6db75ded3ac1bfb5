"""Fixtures shared by the learning-rule tests."""

from __future__ import annotations

from types import MappingProxyType

import pytest
import torch

from snnlearn.experiments import registry
from snnlearn.tasks.base import Task, TaskData, TaskDefaults


class _Toy(Task):
    """Two classes of rate-coded patterns on 4 channels (T = 10), 32 / 16 / 16 samples."""

    name, n_in, n_out, n_steps, dt = "toy", 4, 2, 10, 5e-3

    def __init__(self) -> None:
        self.defaults = TaskDefaults(hidden=(16,), epochs=2, batch_size=8, lr=3e-2)
        g = torch.Generator().manual_seed(1234)
        self._splits = {s: self._make(n, g) for s, n in (("train", 32), ("val", 16),
                                                         ("test", 16))}

    @staticmethod
    def _make(n: int, g: torch.Generator) -> TaskData:
        labels = torch.arange(n) % 2
        rates = torch.full((n, 4), 0.05)
        rates[labels == 0, :2] = 0.6
        rates[labels == 1, 2:] = 0.6
        return TaskData(rates + 0.05 * torch.rand(n, 4, generator=g), labels)

    def split(self, split: str) -> TaskData:  # type: ignore[override]
        return self._splits[split]

    def encode(self, inputs: torch.Tensor, *, generator: torch.Generator | None = None
               ) -> torch.Tensor:
        return (torch.rand((self.n_steps, *inputs.shape), generator=generator) < inputs).float()

    def loss(self, outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(outputs.mean(0), labels)

    def predict(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs.mean(0).argmax(-1)


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> str:
    """Register the task ``toy`` for one test."""
    monkeypatch.setattr(registry, "TASKS", MappingProxyType({**registry.TASKS, "toy": _Toy}))
    return "toy"
