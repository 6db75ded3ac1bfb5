"""A user's spike data set: a folder of HDF5 files in the SHD layout (task id ``folder:<path>``).

The folder holds one file per split, found by name: ``train.h5`` and ``test.h5`` (or any
``<name>_train.h5`` / ``<name>_test.h5``, as SHD's own files are named), and optionally a
validation file ``val.h5`` (also ``valid`` or ``validation``, with or without a prefix). Without
one, ``round(val_fraction * n_train)`` training samples form the validation split. Each file has
the layout of :mod:`snnlearn.tasks.shd`::

    /spikes/times[i]   variable-length array of spike times (s)
    /spikes/units[i]   variable-length array of input unit ids (ints >= 0)
    /labels[i]         class id (int >= 0)

and is checked the same way (plus: no empty split, no silent file, times in seconds). The number
of input units and of classes are those the files hold (the largest id + 1) unless given. The
time grid has steps of ``dt``; ``n_steps`` defaults to the whole of the latest sample, so that
no spike is dropped. Binning, the warning and summary count for dropped spikes, the merge of
spikes that share a bin, the loss (cross-entropy on the readout membrane's maximum over time)
and the default network (one recurrent hidden layer of 128 LIF neurons) are those of SHD.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from snnlearn.losses import max_membrane_cross_entropy
from snnlearn.neurons import LIFParams, LIParams
from snnlearn.neurons._checks import check_dt
from snnlearn.tasks._ondisk import check_fraction, check_index, check_merge, check_seed, rasterise
from snnlearn.tasks.base import SPLITS, Split, Task, TaskData, TaskDefaults
from snnlearn.tasks.shd import _check_int, bin_spike_files, read_spike_file

__all__ = ["SpikeFolder", "find_split_files"]

_NAMES: dict[str, tuple[str, ...]] = {
    "train": ("train",), "val": ("val", "valid", "validation"), "test": ("test",),
}
_MAX_ID = 2**31
"""Bound on unit ids read from a user's files (ids are counted, not assumed)."""


def find_split_files(folder: Path) -> dict[str, Path]:
    """The file of each split in ``folder`` (see the module docstring): ``train``, ``test`` and,
    if there is one, ``val``.

    Raises:
        FileNotFoundError: the folder does not exist, or has no train or no test file.
        ValueError: two files claim the same split.
    """
    if not folder.is_dir():
        raise FileNotFoundError(f"folder task: {str(folder)!r} is not a folder; expected a folder "
                                "holding train.h5 and test.h5 in the SHD layout")
    files = sorted(p for p in folder.iterdir() if p.suffix in (".h5", ".hdf5") and p.is_file())
    found: dict[str, Path] = {}
    for split, names in _NAMES.items():
        hits = [p for p in files if any(p.stem == n or p.stem.endswith("_" + n) for n in names)]
        if len(hits) > 1:
            raise ValueError(f"folder task: {len(hits)} files in {str(folder)!r} are {split} "
                             f"files ({', '.join(p.name for p in hits)}); keep one")
        if hits:
            found[split] = hits[0]
    missing = [s for s in ("train", "test") if s not in found]
    if missing:
        raise FileNotFoundError(
            f"folder task: {str(folder)!r} has no {' and no '.join(missing)} file; expected "
            f"train.h5 and test.h5 (or <name>_train.h5, <name>_test.h5), found "
            f"{', '.join(p.name for p in files) or 'no .h5 file'}")
    return found


class SpikeFolder(Task):
    """A folder of SHD-layout HDF5 files (train, test, optional validation) as a task.

    See the module docstring for the files and their checks.

    Args:
        path: the folder.
        n_steps: time steps ``T`` (>= 1); ``None``: ``floor(t_max / dt) + 1`` for the latest
            spike ``t_max`` of every file, so that every spike is used.
        dt: bin width and simulation time step (s, > 0).
        n_units: input units in the files; ``None``: the largest unit id + 1.
        n_channels: input channels after grouping the units (as SHD's ``n_channels``);
            ``None``: one per unit.
        n_classes: classes; ``None``: the largest label + 1 (at least 2).
        merge: ``"sum"`` (spike counts per bin) or ``"or"`` (0/1 per bin).
        val_fraction: fraction of the training file held out for validation when there is no
            validation file, in ``(0, 1)``.
        seed: seed of that validation carve.

    Shapes:
        raw inputs: sample ids ``[N]`` (int64); encoded: ``[n_steps, B, n_channels]``.

    Raises:
        FileNotFoundError: the folder or a split's file is missing.
        ValueError: an option out of range, or a file that breaks the layout.

    Example:
        >>> SpikeFolder("/nonexistent")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        FileNotFoundError: folder task: '/nonexistent' is not a folder; ...
    """

    def __init__(
        self, path: str | os.PathLike[str], *, n_steps: int | None = None, dt: float = 1e-3,
        n_units: int | None = None, n_channels: int | None = None, n_classes: int | None = None,
        merge: Literal["sum", "or"] = "sum", val_fraction: float = 0.1, seed: int = 0,
    ) -> None:
        self.path = Path(path).expanduser()
        self.name = f"folder:{path}"
        self.dt = check_dt(dt)
        self.merge = check_merge("SpikeFolder", merge)
        self.val_fraction = check_fraction("SpikeFolder", "val_fraction", val_fraction)
        self.seed = check_seed("SpikeFolder", seed)
        self.files = find_split_files(self.path)
        def whole(name: str, value: object, lo: int, hi: float = math.inf) -> int:
            return _check_int(name, value, lo, hi, owner="SpikeFolder")

        bound = _MAX_ID if n_units is None else whole("n_units", n_units, 1)
        contents = {split: read_spike_file(p, n_units=bound) for split, p in self.files.items()}
        units = max((int(f.units.max()) + 1 for f in contents.values() if f.units.size),
                    default=1)
        self.n_units = units if n_units is None else bound
        self.n_in = (self.n_units if n_channels is None
                     else whole("n_channels", n_channels, 1, self.n_units))
        labels = max((int(f.labels.max()) + 1 for f in contents.values() if f.labels.size),
                     default=2)
        self.n_out = max(2, labels) if n_classes is None else whole("n_classes", n_classes, 2)
        if labels > self.n_out:
            raise ValueError(f"SpikeFolder: the files hold label {labels - 1}, but n_classes is "
                             f"{self.n_out}; labels must lie in 0 .. n_classes - 1")
        latest = max((float(f.times.max()) for f in contents.values() if f.times.size),
                     default=0.0)
        self.n_steps = (math.floor(latest / self.dt) + 1 if n_steps is None
                        else whole("n_steps", n_steps, 1))
        self.defaults = TaskDefaults(
            hidden=(128,), recurrent=True, neuron=LIFParams(tau_mem=20e-3, tau_syn=5e-3),
            readout=LIParams(tau_mem=20e-3, tau_syn=5e-3), gain=1.0, epochs=30,
            batch_size=64, lr=2e-3,
        )
        binned = bin_spike_files(f"folder {str(self.path)!r}", self.files, n_steps=self.n_steps,
                                 dt=self.dt, n_channels=self.n_in, n_units=self.n_units,
                                 n_classes=self.n_out, val_fraction=self.val_fraction,
                                 seed=self.seed, contents=contents)
        self._ids, self._offsets, self._data = binned.ids, binned.offsets, binned.data
        self._binned = binned

    def split(self, split: Split) -> TaskData:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
        return self._data[split]

    def encode(self, inputs: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """Rasters ``[n_steps, B, n_channels]`` (float32) of the sample ids ``inputs [B]``."""
        index = check_index("SpikeFolder", inputs, self._offsets.numel() - 1)
        return rasterise(self._ids, self._offsets, index, n_steps=self.n_steps,
                         n_channels=self.n_in, merge=self.merge)

    def summary_metrics(self) -> dict[str, float]:
        """Input spikes dropped past the window (count and fraction of all the files' spikes)."""
        return self._binned.summary_metrics()

    def loss(self, outputs: Tensor, labels: Tensor) -> Tensor:
        return max_membrane_cross_entropy(outputs, labels)

    def predict(self, outputs: Tensor) -> Tensor:
        return outputs.amax(dim=0).argmax(dim=-1)

