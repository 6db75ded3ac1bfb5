"""The task interface: data, its spike encoding, the loss and the prediction, plus defaults.

A task owns everything that is specific to a problem; the runner and every learning rule only see
``Task``. Data splits are raw (un-encoded) tensors; ``encode`` turns a batch into time-first spikes
``[T, B, n_in]``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor

from snnlearn.neurons import ALIFParams, LIFParams, LIParams

__all__ = ["Task", "TaskData", "TaskDefaults", "Split", "SPLITS", "accuracy"]

Split = Literal["train", "val", "test"]
SPLITS: tuple[Split, ...] = ("train", "val", "test")


@dataclass(frozen=True)
class TaskData:
    """One split of a task: raw inputs ``[N, ...]`` and integer labels ``[N]`` (int64)."""

    inputs: Tensor
    labels: Tensor

    def __post_init__(self) -> None:
        if self.labels.ndim != 1 or self.inputs.shape[0] != self.labels.shape[0]:
            raise ValueError(
                f"TaskData needs inputs [N, ...] and labels [N]; got inputs "
                f"{tuple(self.inputs.shape)} and labels {tuple(self.labels.shape)}"
            )
        if self.labels.dtype != torch.int64:
            raise ValueError(f"TaskData.labels must be int64, got {self.labels.dtype}")

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@dataclass(frozen=True)
class TaskDefaults:
    """Architecture and training defaults that make a task learn well out of the box.

    Args:
        hidden: sizes of the hidden layers.
        neuron: hidden neuron parameters.
        readout: readout (LI) parameters.
        recurrent: recurrent hidden layers.
        gain: initial weight gain (see :func:`snnlearn.layers.build_network`).
        epochs: training epochs.
        batch_size: minibatch size.
        lr: Adam learning rate.
        spiking_output: the network ends in a spiking layer (of the hidden neuron model)
            instead of the ``readout``, for tasks whose targets are spike trains.
    """

    hidden: tuple[int, ...] = (128,)
    neuron: LIFParams | ALIFParams = field(default_factory=LIFParams)
    readout: LIParams = field(default_factory=LIParams)
    recurrent: bool = False
    gain: float = 1.0
    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-3
    spiking_output: bool = False


class Task(ABC):
    """Abstract task. Concrete tasks are final and set the attributes below in ``__init__``.

    Attributes:
        name: the task id (as in the CLI).
        n_in: input channels of the encoded spikes.
        n_out: number of classes (readout units).
        n_steps: time steps ``T`` of one encoded sample.
        dt: time step (s).
        defaults: architecture and training defaults.
        spatial_shape: the shape ``(C, H, W)`` of one encoded step of an image task (so that
            convolutional layers apply), ``None`` for flat inputs.
    """

    spatial_shape: tuple[int, ...] | None = None
    name: str
    n_in: int
    n_out: int
    n_steps: int
    dt: float
    defaults: TaskDefaults

    @property
    def in_shape(self) -> tuple[int, ...]:
        """The feature shape of one encoded step: ``spatial_shape`` or ``(n_in,)``."""
        return self.spatial_shape if self.spatial_shape is not None else (self.n_in,)

    @abstractmethod
    def split(self, split: Split) -> TaskData:
        """Return the raw data of ``"train"``, ``"val"`` or ``"test"``."""

    @abstractmethod
    def encode(self, inputs: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """Encode a batch of raw inputs ``[B, ...]`` into spikes ``[T, B, n_in]`` (float32)."""

    @abstractmethod
    def loss(self, outputs: Tensor, labels: Tensor) -> Tensor:
        """Scalar loss of network outputs ``[T, B, n_out]`` against labels ``[B]``."""

    @abstractmethod
    def predict(self, outputs: Tensor) -> Tensor:
        """Predicted class ``[B]`` (int64) from outputs ``[T, B, n_out]``."""

    def score(self, outputs: Tensor, labels: Tensor) -> Tensor:
        """Per-sample score ``[B]`` in ``0..1``; its mean over a split is the task's accuracy.

        The default is a correct prediction (1) or not (0); a task that is not classification
        (spike-train targets, reconstruction) defines its own.
        """
        return (self.predict(outputs) == labels).to(torch.float32)

    def metrics(self, outputs: Tensor, labels: Tensor) -> dict[str, Tensor]:
        """Task-specific figures per sample (``name -> [B]``); the runner reports their means
        over the validation and test splits. None by default."""
        return {}

    def summary_metrics(self) -> dict[str, float]:
        """Figures about the data that the run's ``summary.json`` reports (default: none)."""
        return {}


def accuracy(task: Task, outputs: Tensor, labels: Tensor) -> float:
    """Mean :meth:`Task.score` of ``task`` on one batch (0..1; classification: the
    fraction of correct predictions)."""
    if labels.numel() == 0:
        return 0.0
    return float(task.score(outputs, labels).float().mean())
