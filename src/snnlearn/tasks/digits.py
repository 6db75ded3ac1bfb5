"""The scikit-learn handwritten digits (8 x 8 images, 10 classes), rate- or latency-coded.

The 1797 images bundled with scikit-learn (``sklearn.datasets.load_digits``, read from the
installed package, never downloaded) have integer pixels ``0 .. 16``; they are scaled to
``p = pixel / 16 \\in [0, 1]`` and flattened to 64 input channels. The split is stratified and
deterministic for a given ``seed``: 270 test and 270 validation images, the remaining 1257 for
training (``sklearn.model_selection.train_test_split`` with ``random_state=seed``, which uses its
own local generator).

Encodings of one image over ``n_steps`` steps of length ``dt``:

- ``"latency"``: one spike per non-zero pixel at
  ``t = (1 - p) (n_steps - 1) dt`` (brighter is earlier, see
  :func:`snnlearn.encoders.latency_encode`); a zero pixel never spikes. Deterministic.
- ``"rate"``: independent Poisson spikes at rate ``p * max_rate`` (Hz), i.e. with probability
  ``p * max_rate * dt`` per step (:func:`snnlearn.encoders.poisson_encode`); a fresh draw from the
  given generator for every batch.
"""

from __future__ import annotations

import numbers
from typing import Literal, get_args

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import Tensor

from snnlearn.losses import max_membrane_cross_entropy
from snnlearn.neurons import LIFParams, LIParams
from snnlearn.tasks._images import check_image_coding, encode_intensities
from snnlearn.tasks.base import SPLITS, Split, Task, TaskData, TaskDefaults

__all__ = ["Digits", "DigitsCoding"]

DigitsCoding = Literal["rate", "latency"]

_N_VAL = 270
_N_TEST = 270


class Digits(Task):
    """scikit-learn digits: 64 input channels (8 x 8 pixels), 10 classes, 1257 / 270 / 270 split.

    See the module docstring for the scaling, the split and both encodings.

    Args:
        coding: ``"latency"`` (one spike per non-zero pixel, brighter earlier) or ``"rate"``
            (Poisson spikes at a rate proportional to the intensity).
        n_steps: time steps ``T`` of one sample (>= 2).
        dt: time step (s, > 0).
        max_rate: firing rate of a full-intensity pixel under rate coding (Hz, > 0, with
            ``max_rate * dt <= 1``); unused by latency coding.
        seed: seed of the stratified split (int in ``[0, 2**32)``).

    Shapes:
        raw inputs: intensities ``[N, 64]`` in ``[0, 1]``; encoded: ``[n_steps, B, 64]``.

    Raises:
        ValueError: an unknown ``coding`` (the message lists the choices) or a value out of range.

    Example:
        >>> task = Digits()
        >>> [len(task.split(s)) for s in ("train", "val", "test")]
        [1257, 270, 270]
        >>> x = task.encode(task.split("test").inputs[:4])
        >>> tuple(x.shape), x.dtype
        ((20, 4, 64), torch.float32)
    """

    name = "digits"

    def __init__(
        self, *, coding: DigitsCoding = "latency", n_steps: int = 20, dt: float = 1e-3,
        max_rate: float = 200.0, seed: int = 0,
    ) -> None:
        self.dt = check_image_coding("Digits", coding, get_args(DigitsCoding), n_steps, dt,
                                     max_rate)
        if (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
                or not 0 <= seed < 2**32):
            raise ValueError(f"Digits.seed must be an int in [0, 2**32), got {seed!r}")
        self.coding: DigitsCoding = coding
        self.spatial_shape = (1, 8, 8)
        self.n_in, self.n_out, self.n_steps = 64, 10, int(n_steps)
        self.max_rate = float(max_rate)
        self.seed = int(seed)
        self.defaults = TaskDefaults(
            hidden=(256,), neuron=LIFParams(tau_mem=20e-3, tau_syn=5e-3),
            readout=LIParams(tau_mem=20e-3, tau_syn=5e-3), gain=1.65, epochs=40,
            batch_size=32, lr=5e-3,
        )
        self._data = _load_splits(self.seed)

    def split(self, split: Split) -> TaskData:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
        return self._data[split]

    def encode(self, inputs: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """Encode intensities ``[B, 64]`` into spikes ``[n_steps, B, 64]`` (float32).

        Rate coding draws from ``generator``; latency coding is deterministic and ignores it.
        """
        if inputs.ndim != 2 or inputs.shape[1] != self.n_in:
            raise ValueError(
                f"Digits inputs must be intensities [B, {self.n_in}], got {tuple(inputs.shape)}"
            )
        return encode_intensities(inputs.float(), self.coding, self.n_steps, self.dt,
                                  self.max_rate, generator)

    def loss(self, outputs: Tensor, labels: Tensor) -> Tensor:
        return max_membrane_cross_entropy(outputs, labels)

    def predict(self, outputs: Tensor) -> Tensor:
        return outputs.amax(dim=0).argmax(dim=-1)


def _load_splits(seed: int) -> dict[str, TaskData]:
    """Load the bundled digits and split them (stratified, seeded) into train / val / test."""
    images, labels = load_digits(return_X_y=True)
    x = (np.asarray(images, dtype=np.float64) / 16.0).astype(np.float32)
    y = np.asarray(labels, dtype=np.int64)
    idx = np.arange(y.size)
    rest, test = train_test_split(idx, test_size=_N_TEST, stratify=y, random_state=seed)
    train, val = train_test_split(rest, test_size=_N_VAL, stratify=y[rest], random_state=seed)
    return {
        split: TaskData(torch.from_numpy(x[i]), torch.from_numpy(y[i]))
        for split, i in (("train", train), ("val", val), ("test", test))
    }
