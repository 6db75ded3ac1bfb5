"""Helpers shared by the tasks that read data files from disk (private).

- The data root: the ``root`` argument, else the environment variable ``SNNLEARN_DATA``, else
  ``~/data``.
- Locating a file among candidate paths, with an error that lists every path tried.
- Carving a validation split out of a training split, deterministically from a seed.
- Sanity checks a loader runs before training on a file: :func:`check_nonempty` (no empty
  split), :func:`check_not_silent` (not every sample silent) and :func:`count_dropped` (events
  past the window, for a summary or an error).
- Binning events to a time grid: an event at time ``t`` falls into step ``k = floor(t / dt)``
  (the interval ``[k dt, (k + 1) dt)``), computed in float64; events with ``k >= n_steps`` are
  dropped. Binned events are stored as flat ids ``k * n_channels + channel`` and turned into
  time-first rasters ``[T, B, n_channels]`` by :func:`rasterise`.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import torch
from torch import Tensor

DATA_ENV = "SNNLEARN_DATA"
"""Environment variable naming the data root when a task is built without ``root``."""
DEFAULT_DATA_ROOT = "~/data"
"""Data root when neither ``root`` nor ``SNNLEARN_DATA`` is given."""

Merge = Literal["sum", "or"]
"""How events that fall into the same (step, channel) combine: counted, or 0/1."""


def data_root(root: str | os.PathLike[str] | None) -> Path:
    """``root``, else ``$SNNLEARN_DATA`` (if set and non-empty), else ``~/data`` (user expanded)."""
    if root is None:
        root = os.environ.get(DATA_ENV) or DEFAULT_DATA_ROOT
    return Path(root).expanduser()


def root_hint(root: str | os.PathLike[str] | None) -> str:
    """Where the data root came from, for error messages."""
    if root is not None:
        return "the root argument"
    if os.environ.get(DATA_ENV):
        return f"${DATA_ENV}"
    return f"the default {DEFAULT_DATA_ROOT} (${DATA_ENV} is not set)"


def find_file(what: str, candidates: Sequence[Path], root: str | os.PathLike[str] | None,
              *, hint: str = "") -> Path:
    """The first existing path of ``candidates``, or ``FileNotFoundError`` listing them all."""
    for path in candidates:
        if path.is_file():
            return path
    tried = ", ".join(repr(str(p)) for p in candidates)
    raise FileNotFoundError(
        f"{what} not found; looked for {tried} (data root from {root_hint(root)}). Put the file "
        f"there, or pass root=... or set {DATA_ENV} to the folder that holds it"
        + (f"; {hint}" if hint else "")
    )


def check_merge(owner: str, merge: object) -> Merge:
    """Return ``merge`` if it is ``"sum"`` or ``"or"``, else raise ``ValueError``."""
    if merge not in get_args(Merge):
        raise ValueError(f"{owner}.merge must be one of {list(get_args(Merge))}, got {merge!r}")
    return merge  # type: ignore[return-value]


def check_seed(owner: str, seed: object) -> int:
    """Return ``seed`` as an int in ``[0, 2**32)``, else raise ``ValueError``."""
    if (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
            or not 0 <= seed < 2**32):
        raise ValueError(f"{owner}.seed must be an int in [0, 2**32), got {seed!r}")
    return int(seed)


def check_fraction(owner: str, name: str, value: object) -> float:
    """Return ``value`` as a float in ``(0, 1)``, else raise ``ValueError``."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not 0.0 < float(value) < 1.0):
        raise ValueError(f"{owner}.{name} must be a number in (0, 1), got {value!r}")
    return float(value)


def carve_validation(n: int, n_val: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split ``range(n)`` into (train, val) index arrays with ``len(val) == n_val``.

    The validation indices are the first ``n_val`` of a permutation drawn from a local NumPy
    generator seeded with ``seed``; both parts are returned in ascending order.
    """
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def bin_csr(times: np.ndarray, channels: np.ndarray, lengths: np.ndarray, *, n_steps: int,
            dt: float, n_channels: int) -> tuple[Tensor, Tensor]:
    """Bin the events of several samples into a CSR store ``(ids, offsets)``.

    ``times`` and ``channels`` hold the events of every sample back to back, ``lengths[i]`` of
    them for sample ``i``; ``times`` and ``dt`` share a unit. An event becomes the flat id
    ``floor(t / dt) * n_channels + channel``; events with ``floor(t / dt) >= n_steps`` are
    dropped. Sample ``i`` keeps ``ids[offsets[i]:offsets[i + 1]]``; ids are int32 when they fit.
    The caller has already checked that times are finite and ``>= 0`` and channels in range.
    """
    step = np.floor(np.asarray(times, dtype=np.float64) / dt)
    keep = step < n_steps
    sample = np.repeat(np.arange(lengths.size), lengths)[keep]
    offsets = np.zeros(lengths.size + 1, dtype=np.int64)
    np.cumsum(np.bincount(sample, minlength=lengths.size), out=offsets[1:])
    dtype = np.int32 if n_steps * n_channels <= np.iinfo(np.int32).max else np.int64
    ids = step[keep].astype(dtype) * dtype(n_channels) + np.asarray(channels)[keep].astype(dtype)
    return torch.from_numpy(ids), torch.from_numpy(offsets)


def concat_csr(stores: Sequence[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
    """One CSR store holding the samples of ``stores`` in order."""
    ids = torch.cat([s[0] for s in stores])
    parts, total = [torch.zeros(1, dtype=torch.int64)], 0
    for store_ids, offsets in stores:
        parts.append(offsets[1:] + total)
        total += store_ids.numel()
    return ids, torch.cat(parts)


def rasterise(ids: Tensor, offsets: Tensor, index: Tensor, *, n_steps: int, n_channels: int,
              merge: Merge) -> Tensor:
    """Rasters ``[n_steps, B, n_channels]`` (float32) of the samples ``index`` of a CSR store.

    Each flat id ``k * n_channels + c`` adds one spike at step ``k``, channel ``c``; with
    ``merge="or"`` a (step, channel) holding any spike is 1.
    """
    start, stop = offsets[index], offsets[index + 1]
    lengths = stop - start
    batch = index.numel()
    total = int(lengths.sum())
    raster = torch.zeros(batch, n_steps * n_channels)
    if total:
        row = torch.repeat_interleave(torch.arange(batch), lengths)
        first = torch.repeat_interleave(torch.cumsum(lengths, 0) - lengths, lengths)
        pos = torch.repeat_interleave(start, lengths) + torch.arange(total) - first
        raster.index_put_((row, ids[pos].long()), torch.ones(total), accumulate=True)
    if merge == "or":
        raster.clamp_(max=1.0)
    return raster.view(batch, n_steps, n_channels).transpose(0, 1).contiguous()


def check_index(owner: str, inputs: object, n_samples: int) -> Tensor:
    """Return ``inputs`` if it is a 1-D integer tensor of sample ids in ``[0, n_samples)``."""
    if (not isinstance(inputs, Tensor) or inputs.ndim != 1 or inputs.is_floating_point()
            or inputs.is_complex() or inputs.dtype == torch.bool):
        shape = tuple(inputs.shape) if isinstance(inputs, Tensor) else type(inputs).__name__
        raise ValueError(
            f"{owner} inputs must be sample ids [B] (an integer tensor, as in "
            f"task.split(...).inputs), got {shape}"
        )
    inputs = inputs.long().cpu()
    if inputs.numel() and not (0 <= int(inputs.min()) and int(inputs.max()) < n_samples):
        raise ValueError(
            f"{owner} sample ids must be in [0, {n_samples}), got ids from {int(inputs.min())} "
            f"to {int(inputs.max())}"
        )
    return inputs


def n_val_of(owner: str, n_train: int, val_fraction: float, path: Path) -> int:
    """``round(val_fraction * n_train)``, at least 1, checked to leave a training sample."""
    n_val = max(1, int(math.floor(val_fraction * n_train + 0.5)))
    if n_val >= n_train:
        raise ValueError(
            f"{owner}: {str(path)!r} holds {n_train} training samples, too few to carve a "
            f"validation split of {n_val} (val_fraction={val_fraction}) and keep one to train on"
        )
    return n_val


def check_nonempty(owner: str, what: str, n: int, path: Path) -> int:
    """Return ``n`` if it is at least 1, else raise ``ValueError``: a file with no samples.

    A split with no samples would train on nothing or score a meaningless 0 %.
    """
    if n < 1:
        raise ValueError(
            f"{owner}: {str(path)!r} holds no {what} (0 samples); an empty split can neither be "
            "trained on nor scored: replace the file with the full data set"
        )
    return n


def check_not_silent(owner: str, split: str, counts: np.ndarray | Tensor, path: Path) -> None:
    """Raise ``ValueError`` if every sample of a split has no event (``counts`` per sample).

    ``counts`` are the events each sample keeps after binning; a split whose samples are all
    silent holds no information (wrong time units, or every event past the window).
    """
    counts = np.asarray(counts)
    if counts.size and int(counts.max()) == 0:
        raise ValueError(
            f"{owner}: every one of the {counts.size} {split} samples in {str(path)!r} is silent "
            "(no event inside the time window); check the file's time unit and the window"
        )


def count_dropped(times: np.ndarray, window: float) -> tuple[int, int]:
    """``(dropped, total)``: how many event ``times`` fall at or past ``window`` (same unit)."""
    times = np.asarray(times, dtype=np.float64)
    return int((times >= window).sum()), int(times.size)
