"""The Yin-Yang classification task (Kriener, Goltz & Petrovici 2022), generated and seeded.

Points ``(x, y)`` are drawn uniformly in the unit disc centred at ``(0.5, 0.5)`` (radius
``r_big = 0.5``) and labelled yin (1), yang (0) or dot (2) by the reference rule; classes are
balanced by drawing the class first and rejection-sampling a point of that class. Each point is
given as the paper's four coordinates ``(x, y, 1 - x, 1 - y)`` and encoded as one spike per
coordinate at

.. math::  t_i = t_{early} + u_i (t_{late} - t_{early}), \\qquad u \\in \\{x, y, 1-x, 1-y\\}

plus a bias spike at ``t_bias``, i.e. five input channels. Spike times are rounded to the
simulation grid ``dt``. The default splits follow the reference: 5000 / 1000 / 1000 samples for
train / validation / test with seeds 42 / 41 / 40 (offset by ``seed``), drawn with the reference
code's random stream from a local generator (the reference seeds the global one), so that the
default splits are exactly the published ones.

References:
    Kriener, L., Goltz, J. & Petrovici, M. A. (2022). The Yin-Yang dataset. Proceedings of the
    Neuro-Inspired Computational Elements Conference (NICE 2022). doi:10.1145/3517343.3517380
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from snnlearn.losses import max_membrane_cross_entropy
from snnlearn.neurons import LIFParams, LIParams
from snnlearn.tasks.base import SPLITS, Split, Task, TaskData, TaskDefaults

__all__ = ["YinYang", "yinyang_class", "yinyang_sample"]

_R_BIG = 0.5
_R_SMALL = 0.1


def yinyang_class(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Reference labelling of points in the disc: 0 (yang), 1 (yin) or 2 (dot).

    Example:
        >>> import numpy as np
        >>> yinyang_class(np.array([0.25, 0.5, 0.5]), np.array([0.5, 0.9, 0.1])).tolist()
        [2, 1, 0]
    """
    d_right = np.hypot(x - 1.5 * _R_BIG, y - _R_BIG)
    d_left = np.hypot(x - 0.5 * _R_BIG, y - _R_BIG)
    is_yin = (
        (d_right <= _R_SMALL)
        | ((d_left > _R_SMALL) & (d_left <= 0.5 * _R_BIG))
        | ((y > _R_BIG) & (d_right > 0.5 * _R_BIG))
    )
    is_dot = (d_right < _R_SMALL) | (d_left < _R_SMALL)
    return np.where(is_dot, 2, is_yin.astype(np.int64))


def yinyang_sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` class-balanced points; returns coordinates ``[n, 4]`` and labels ``[n]``.

    The random stream is the reference generator's, drawn from a local legacy
    ``np.random.RandomState(seed)`` instead of the global one: for each sample a goal class
    ``randint(3)``, then points ``rand(2)`` rejected until they lie in the disc and have the goal
    class. The splits with seeds 42 / 41 / 40 are therefore the published ones, on which the
    accuracies in the literature are measured.

    Args:
        n: number of samples (>= 0).
        seed: seed of the local generator.

    Returns:
        ``(features, labels)`` with features ``(x, y, 1 - x, 1 - y)`` in ``[0, 1]``.

    Example:
        >>> feats, labels = yinyang_sample(3, seed=40)
        >>> feats.shape, labels.tolist()
        ((3, 4), [2, 2, 1])
    """
    rng = np.random.RandomState(seed)
    xy = np.empty((n, 2))
    labels = np.empty(n, dtype=np.int64)
    for k in range(n):
        goal = rng.randint(3)
        while True:
            x, y = rng.rand(2) * 2.0 * _R_BIG
            if math.hypot(x - _R_BIG, y - _R_BIG) > _R_BIG:
                continue
            if int(yinyang_class(np.array([x]), np.array([y]))[0]) == goal:
                break
        xy[k], labels[k] = (x, y), goal
    feats = np.concatenate([xy, 1.0 - xy], axis=1)
    return feats, labels


class YinYang(Task):
    """Yin-Yang task: 5 input channels (4 coordinates + bias), 3 classes, spike-time coded.

    Args:
        n_train: training samples (default 5000).
        n_val: validation samples (default 1000).
        n_test: test samples (default 1000).
        seed: offset added to the reference split seeds 42 / 41 / 40.
        dt: time step (s).
        t_early: spike time of a coordinate equal to 0 (s).
        t_late: spike time of a coordinate equal to 1 (s).
        t_bias: spike time of the bias channel (s).
        t_end: duration of a sample (s); must exceed ``t_late``.

    Raises:
        ValueError: inconsistent times or sizes.

    Example:
        >>> task = YinYang(n_train=30, n_val=6, n_test=6)
        >>> x = task.encode(task.split("train").inputs[:4])
        >>> tuple(x.shape), float(x.sum())
        ((120, 4, 5), 20.0)
    """

    name = "yinyang"

    def __init__(
        self, *, n_train: int = 5000, n_val: int = 1000, n_test: int = 1000, seed: int = 0,
        dt: float = 0.5e-3, t_early: float = 2e-3, t_late: float = 42e-3, t_bias: float = 0.0,
        t_end: float = 60e-3,
    ) -> None:
        for name, value in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"YinYang.{name} must be an int >= 0, got {value!r}")
        if not (dt > 0 and 0 <= t_early < t_late < t_end and 0 <= t_bias < t_end):
            raise ValueError(
                "YinYang needs dt > 0 and 0 <= t_early < t_late < t_end, 0 <= t_bias < t_end; "
                f"got dt={dt!r}, t_early={t_early!r}, t_late={t_late!r}, t_bias={t_bias!r}, "
                f"t_end={t_end!r}"
            )
        self.n_in, self.n_out, self.dt = 5, 3, float(dt)
        self.n_steps = int(math.ceil(t_end / dt - 1e-9))
        self.t_early, self.t_late, self.t_bias = t_early, t_late, t_bias
        self.defaults = TaskDefaults(
            hidden=(120,), neuron=LIFParams(tau_mem=20e-3, tau_syn=5e-3),
            readout=LIParams(tau_mem=20e-3, tau_syn=5e-3), gain=5.25, epochs=40,
            batch_size=32, lr=0.03,
        )
        sizes = {"train": (n_train, 42), "val": (n_val, 41), "test": (n_test, 40)}
        self._data: dict[str, TaskData] = {}
        for split, (n, split_seed) in sizes.items():
            feats, labels = yinyang_sample(n, split_seed + seed)
            self._data[split] = TaskData(
                torch.from_numpy(feats).float(), torch.from_numpy(labels)
            )

    def split(self, split: Split) -> TaskData:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
        return self._data[split]

    def spike_steps(self, inputs: Tensor) -> Tensor:
        """Step index of each input spike ``[B, 5]`` (bias channel last)."""
        times = self.t_early + inputs * (self.t_late - self.t_early)
        bias = torch.full_like(times[:, :1], self.t_bias)
        return torch.round(torch.cat([times, bias], dim=1) / self.dt).long()

    def encode(self, inputs: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        if inputs.ndim != 2 or inputs.shape[1] != 4:
            raise ValueError(f"YinYang inputs must be [B, 4], got {tuple(inputs.shape)}")
        steps = self.spike_steps(inputs)
        out = torch.zeros(self.n_steps, inputs.shape[0], self.n_in)
        out.scatter_(0, steps.unsqueeze(0), 1.0)
        return out

    def loss(self, outputs: Tensor, labels: Tensor) -> Tensor:
        return max_membrane_cross_entropy(outputs, labels)

    def predict(self, outputs: Tensor) -> Tensor:
        return outputs.amax(dim=0).argmax(dim=-1)
