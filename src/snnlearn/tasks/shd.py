"""The Heidelberg spiking data sets: SHD (spoken digits, 20 classes) and SSC (speech commands, 35).

Files (read from disk, never downloaded; get them from zenkelab.org/datasets and decompress):
``shd_train.h5``, ``shd_test.h5``; ``ssc_train.h5``, ``ssc_valid.h5``, ``ssc_test.h5``. Each file
is looked for in the data root, then in ``<root>/shd`` (``ssc``), then in ``<root>/SHD`` (``SSC``,
tonic's layout). The data root is the ``root`` argument, else the environment variable
``SNNLEARN_DATA``, else ``~/data``. Reading needs h5py (``pip install 'snnlearn[data]'``).

HDF5 layout (Cramer et al. 2022), one entry per sample ``i``::

    /spikes/times[i]   variable-length array of spike times (s)
    /spikes/units[i]   variable-length array of channel ids in 0 .. 699
    /labels[i]         class id (0 .. 19 for SHD, 0 .. 34 for SSC)

Times and units are cast to float64 and int64 whatever their stored dtype. Every file is checked:
the three datasets exist, are one entry per sample and agree in length, each sample has as many
times as units, times are finite and ``>= 0``, units lie in ``0 .. 699`` and labels in
``0 .. n_classes - 1``; an error names the file, the sample and what was expected. Spike order
within a sample does not matter.

Binning: a spike at time ``t`` of channel ``u`` is written into step ``k = floor(t / dt)`` (the
interval ``[k dt, (k + 1) dt)``, computed in float64) of input channel ``g = floor(u N / 700)``
for ``N = n_channels`` (contiguous groups of ``700 / N`` channels when ``N`` divides 700). Spikes
with ``k >= n_steps``, i.e. at ``t >= n_steps dt``, are dropped: the task logs a warning with
their number, and :meth:`SpikingSpeech.summary_metrics` reports it in the run's summary
(``input_spikes_dropped``, ``input_spikes_dropped_fraction``). A split whose spikes all fall past
the window, or whose latest spike is more than 100 windows late (times written in milliseconds
instead of seconds), is refused, as is a file with no samples or no spikes at all. Spikes that
share a (step, channel) are counted (``merge="sum"``) or marked once (``merge="or"``).

Splits: SSC uses its three files. SHD has no validation file: ``round(val_fraction * n_train)``
training samples, chosen by a permutation drawn from a local generator seeded with ``seed``,
form the validation split and the rest stay in training; the test split is ``shd_test.h5``.

Raw inputs are sample ids ``[N]`` (int64) into the binned spikes that the task holds in memory
(about 4 bytes per spike inside the window); :meth:`SpikingSpeech.encode` turns a batch of ids
into rasters ``[T, B, n_channels]``.

Defaults: 1400 steps of 1 ms (a 1.4 s window: the whole of every SHD and SSC sample, whose
spikes end before 1.4 s), all 700 channels, and the network of the EventProp SHD setups (Nowotny,
Turner & Knight 2022; mlGeNN): 700 -> 256 recurrent LIF (tau_mem 20 ms, tau_syn 5 ms) -> 20 LI
readout, with cross-entropy on the readout membrane's maximum over time (Cramer et al. 2022).
The training defaults (30 epochs, batch 64, Adam lr 2e-3) were not tuned on the data here. Every
option is a task option (``--task-option n_steps=100 --task-option dt=14e-3`` gives the 100 bins
of 14 ms of Zenke's SHD tutorial).

References:
    Cramer, B., Stradmann, Y., Schemmel, J. & Zenke, F. (2022). The Heidelberg spiking data sets
    for the systematic evaluation of spiking neural networks. IEEE Transactions on Neural
    Networks and Learning Systems 33(7), 2744-2757. doi:10.1109/TNNLS.2020.3044364

    Nowotny, T., Turner, J. P. & Knight, J. C. (2022). Loss shaping enhances exact gradient
    learning with EventProp in spiking neural networks. arXiv:2212.01232
"""

from __future__ import annotations

import logging
import numbers
import os
from pathlib import Path
from typing import Any, Literal, NamedTuple, get_args

import numpy as np
import torch
from torch import Tensor

from snnlearn.losses import max_membrane_cross_entropy
from snnlearn.neurons import LIFParams, LIParams
from snnlearn.neurons._checks import check_dt
from snnlearn.tasks._ondisk import (
    bin_csr,
    carve_validation,
    check_fraction,
    check_index,
    check_merge,
    check_seed,
    concat_csr,
    data_root,
    find_file,
    n_val_of,
    rasterise,
)
from snnlearn.tasks.base import SPLITS, Split, Task, TaskData, TaskDefaults

__all__ = ["SpikingSpeech", "Corpus", "SpikeFile", "BinnedSplits", "read_spike_file",
           "bin_spike_files", "N_UNITS"]

logger = logging.getLogger(__name__)

MS_FACTOR = 100.0
"""A split whose latest spike is this many windows late holds times in ms, not s: refused."""

Corpus = Literal["shd", "ssc"]
N_UNITS = 700
"""Input channels of the recordings (the cochlea model's hair cells)."""

_N_CLASSES: dict[str, int] = {"shd": 20, "ssc": 35}
_FILE_SPLITS: dict[str, dict[str, str]] = {
    "shd": {"train": "train", "test": "test"},
    "ssc": {"train": "train", "val": "valid", "test": "test"},
}
_KEYS = ("spikes/times", "spikes/units", "labels")


class SpikeFile(NamedTuple):
    """The checked contents of one SHD/SSC file, with every sample's spikes back to back.

    Attributes:
        times: spike times (s, float64) of all samples, concatenated.
        units: channel ids (int64) of the same spikes.
        lengths: spikes per sample (int64).
        labels: class ids (int64), one per sample.
    """

    times: np.ndarray
    units: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray


def _import_h5py() -> Any:
    try:
        import h5py
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            "reading the SHD/SSC .h5 files needs h5py; install it with "
            "pip install 'snnlearn[data]' (or pip install h5py)", name="h5py",
        ) from err
    return h5py


def read_spike_file(path: str | os.PathLike[str], *, n_classes: int | None = None,
                    n_units: int = N_UNITS) -> SpikeFile:
    """Read and check one SHD/SSC HDF5 file (the layout in the module docstring).

    Args:
        path: the ``.h5`` file.
        n_classes: if given, labels must lie in ``0 .. n_classes - 1``.
        n_units: units must lie in ``0 .. n_units - 1`` (700 for SHD and SSC).

    Returns:
        The :class:`SpikeFile`.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ModuleNotFoundError: h5py is not installed.
        ValueError: not an HDF5 file, a missing dataset, or contents that break the layout (the
            message names the file, the sample and what was expected).

    Example:
        >>> read_spike_file("/nonexistent/shd_train.h5")
        Traceback (most recent call last):
        ...
        FileNotFoundError: SHD/SSC file '/nonexistent/shd_train.h5' does not exist
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"SHD/SSC file {str(path)!r} does not exist")
    h5py = _import_h5py()
    where = f"SHD/SSC file {str(path)!r}"
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(
            f"{where} is not a readable HDF5 file ({err}); expected an .h5 file with "
            f"{', '.join(_KEYS)} (decompress a downloaded .h5.gz / .h5.zip first)"
        ) from None
    with f:
        data = {}
        for key in _KEYS:
            if key not in f or not isinstance(f[key], h5py.Dataset):
                raise ValueError(
                    f"{where} has no dataset {key!r}; expected the layout /spikes/times, "
                    f"/spikes/units (one variable-length array per sample) and /labels"
                )
            ds = f[key]
            if ds.ndim != 1:
                raise ValueError(f"{where}: {key!r} must hold one entry per sample (1-D), "
                                 f"got shape {ds.shape}")
            if key != "labels" and h5py.check_vlen_dtype(ds.dtype) is None:
                raise ValueError(f"{where}: {key!r} must be a variable-length array per sample, "
                                 f"got dtype {ds.dtype}")
            data[key] = ds[()]
    return _check_contents(where, data["spikes/times"], data["spikes/units"], data["labels"],
                           n_classes, n_units)


def _check_contents(where: str, times: np.ndarray, units: np.ndarray, labels: np.ndarray,
                    n_classes: int | None, n_units: int) -> SpikeFile:
    n = len(labels)
    if not (len(times) == len(units) == n):
        raise ValueError(
            f"{where}: spikes/times, spikes/units and labels must have one entry per sample, got "
            f"{len(times)}, {len(units)} and {n} entries"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{where}: labels must be integers, got dtype {labels.dtype}")
    labels = labels.astype(np.int64)
    outside = (labels < 0) | (labels >= (np.inf if n_classes is None else n_classes))
    if outside.any():
        bad = int(np.flatnonzero(outside)[0])
        expected = ">= 0" if n_classes is None else f"in 0 .. {n_classes - 1}"
        raise ValueError(f"{where}: sample {bad} has label {int(labels[bad])}; labels must be "
                         f"{expected}")
    lengths = np.fromiter((len(t) for t in times), dtype=np.int64, count=n)
    unit_lengths = np.fromiter((len(u) for u in units), dtype=np.int64, count=n)
    if not np.array_equal(lengths, unit_lengths):
        bad = int(np.flatnonzero(lengths != unit_lengths)[0])
        raise ValueError(f"{where}: sample {bad} has {lengths[bad]} spike times but "
                         f"{unit_lengths[bad]} units; each time needs its unit")
    flat_t = np.concatenate([np.asarray(t, np.float64) for t in times]) if n else np.zeros(0)
    flat_u = (np.concatenate([np.asarray(u) for u in units]) if n else np.zeros(0, np.int64))
    if not (np.issubdtype(flat_u.dtype, np.integer) or flat_u.size == 0):
        raise ValueError(f"{where}: spikes/units must be integers, got dtype {flat_u.dtype}")
    flat_u = flat_u.astype(np.int64)
    sample = np.repeat(np.arange(n), lengths)
    bad_t = ~(np.isfinite(flat_t) & (flat_t >= 0))
    if bad_t.any():
        i = int(np.flatnonzero(bad_t)[0])
        raise ValueError(f"{where}: sample {sample[i]} has spike time {float(flat_t[i])!r}; "
                         "times must be finite seconds >= 0")
    bad_u = (flat_u < 0) | (flat_u >= n_units)
    if bad_u.any():
        i = int(np.flatnonzero(bad_u)[0])
        raise ValueError(f"{where}: sample {sample[i]} has unit {flat_u[i]}; units must lie in "
                         f"0 .. {n_units - 1}")
    return SpikeFile(flat_t, flat_u, lengths, labels)


def _check_int(name: str, value: object, lo: int, hi: float = float("inf"), *,
               owner: str = "SpikingSpeech") -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not lo <= value <= hi:
        bound = f"in {lo} .. {int(hi)}" if hi != float("inf") else f">= {lo}"
        raise ValueError(f"{owner}.{name} must be an int {bound}, got {value!r}")
    return int(value)


class BinnedSplits(NamedTuple):
    """Spike files binned to a time grid: a CSR store of every sample and the three splits.

    Attributes:
        ids: flat ids ``step * n_channels + channel`` of every kept spike, sample after sample.
        offsets: sample ``i`` holds ``ids[offsets[i]:offsets[i + 1]]``.
        data: the ``train``/``val``/``test`` splits (sample ids and labels).
        n_spikes: spikes in the files.
        n_dropped: spikes at ``t >= n_steps dt``, dropped.
    """

    ids: Tensor
    offsets: Tensor
    data: dict[str, TaskData]
    n_spikes: int
    n_dropped: int

    def summary_metrics(self) -> dict[str, float]:
        """Input spikes dropped past the window: count, and fraction of the files' spikes."""
        return {"input_spikes_dropped": float(self.n_dropped),
                "input_spikes_dropped_fraction": self.n_dropped / max(self.n_spikes, 1)}


def bin_spike_files(
    owner: str, paths: dict[str, Path], *, n_steps: int, dt: float, n_channels: int,
    n_units: int = N_UNITS, n_classes: int | None = None, val_fraction: float = 0.1,
    seed: int = 0, contents: dict[str, SpikeFile] | None = None,
) -> BinnedSplits:
    """Read, check and bin the files ``paths`` (split -> file; ``val`` optional) of one task.

    ``contents`` holds files already read with :func:`read_spike_file` (by split).

    Units ``u`` go to channel ``floor(u n_channels / n_units)``. Without a ``val`` file,
    ``round(val_fraction * n_train)`` training samples (a permutation seeded with ``seed``)
    form the validation split. Dropped spikes (past the window) are logged as a warning.

    Raises:
        ValueError: a file that breaks the layout, holds no samples or no spikes, or whose
            spikes all lie past the window ``n_steps dt`` or reach beyond 100 windows (times
            in milliseconds rather than seconds).
    """
    window = n_steps * dt
    stores, labels, first, total, dropped = [], {}, 0, 0, 0
    ranges: dict[str, np.ndarray] = {}
    for split, path in paths.items():
        f = (contents or {}).get(split) or read_spike_file(path, n_classes=n_classes,
                                                             n_units=n_units)
        where = f"{owner}: {split} file {str(path)!r}"
        if f.labels.size == 0:
            raise ValueError(f"{where} holds no samples; a split needs at least one")
        if f.times.size == 0:
            raise ValueError(f"{where} is silent: none of its {f.labels.size} samples holds a "
                             "spike")
        store = bin_csr(f.times, f.units * n_channels // n_units, f.lengths, n_steps=n_steps,
                        dt=dt, n_channels=n_channels)
        kept, latest = store[0].numel(), float(f.times.max())
        if kept == 0 or latest > MS_FACTOR * window:
            raise ValueError(
                f"{where}: its spikes reach t = {latest:g} but the window n_steps * dt is "
                f"{window:g} s ({kept} of {f.times.size} spikes inside); times must be in "
                "seconds (divide times written in milliseconds by 1000), or widen the window "
                "(task options n_steps, dt)")
        stores.append(store)
        total, dropped = total + f.times.size, dropped + f.times.size - kept
        ranges[split] = np.arange(first, first + f.labels.size)
        labels[split] = f.labels
        first += f.labels.size
    if "val" not in paths:
        n_train = ranges["train"].size
        n_val = n_val_of(owner, n_train, val_fraction, paths["train"])
        train, val = carve_validation(n_train, n_val, seed)
        ranges["val"], labels["val"] = ranges["train"][val], labels["train"][val]
        ranges["train"], labels["train"] = ranges["train"][train], labels["train"][train]
    if dropped:
        logger.warning("%s: %d of %d input spikes (%.1f %%) lie at t >= n_steps * dt = %g s and "
                       "are dropped; widen the window (task options n_steps, dt) to keep them",
                       owner, dropped, total, 100 * dropped / total, window)
    ids, offsets = concat_csr(stores)
    data = {split: TaskData(torch.from_numpy(ranges[split]), torch.from_numpy(labels[split]))
            for split in SPLITS}
    return BinnedSplits(ids, offsets, data, total, dropped)


class SpikingSpeech(Task):
    """SHD or SSC read from disk: spikes of 700 channels binned to ``[T, B, n_channels]``.

    See the module docstring for the files, their checks, the binning and the splits.

    Args:
        corpus: ``"shd"`` (Spiking Heidelberg Digits, 20 classes) or ``"ssc"`` (Spiking Speech
            Commands, 35 classes); also the task's name.
        root: folder holding the files; ``None`` reads ``$SNNLEARN_DATA``, else ``~/data``.
        n_steps: time steps ``T`` (>= 1); spikes at ``t >= n_steps * dt`` are dropped (and
            counted in the run's summary).
        dt: bin width and simulation time step (s, > 0).
        n_channels: input channels ``N`` after grouping the 700 units (1 .. 700).
        merge: ``"sum"`` (spike counts per bin) or ``"or"`` (0/1 per bin).
        val_fraction: fraction of SHD's training file held out for validation, in ``(0, 1)``;
            unused for SSC, which has a validation file.
        seed: seed of SHD's validation carve (int in ``[0, 2**32)``).

    Shapes:
        raw inputs: sample ids ``[N]`` (int64); encoded: ``[n_steps, B, n_channels]``.

    Raises:
        FileNotFoundError: a file is missing (the message lists every path looked at).
        ModuleNotFoundError: h5py is not installed.
        ValueError: an option out of range, or a file that breaks the layout.

    Example:
        >>> SpikingSpeech("shd", root="/nonexistent")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        FileNotFoundError: SHD file 'shd_train.h5' not found; looked for '/nonexistent/shd_...

    References:
        Cramer et al. (2022), IEEE TNNLS 33(7). doi:10.1109/TNNLS.2020.3044364
    """

    def __init__(
        self, corpus: Corpus = "shd", *, root: str | os.PathLike[str] | None = None,
        n_steps: int = 1400, dt: float = 1e-3, n_channels: int = N_UNITS,
        merge: Literal["sum", "or"] = "sum", val_fraction: float = 0.1, seed: int = 0,
    ) -> None:
        if corpus not in get_args(Corpus):
            raise ValueError(
                f"SpikingSpeech.corpus must be one of {list(get_args(Corpus))}, got {corpus!r}"
            )
        self.name = corpus
        self.corpus: Corpus = corpus
        self.n_steps = _check_int("n_steps", n_steps, 1)
        self.dt = check_dt(dt)
        self.n_in = _check_int("n_channels", n_channels, 1, N_UNITS)
        self.n_out = _N_CLASSES[corpus]
        self.merge = check_merge("SpikingSpeech", merge)
        self.val_fraction = check_fraction("SpikingSpeech", "val_fraction", val_fraction)
        self.seed = check_seed("SpikingSpeech", seed)
        self.defaults = TaskDefaults(
            hidden=(256,), recurrent=True, neuron=LIFParams(tau_mem=20e-3, tau_syn=5e-3),
            readout=LIParams(tau_mem=20e-3, tau_syn=5e-3), gain=1.0, epochs=30,
            batch_size=64, lr=2e-3,
        )
        self.root = data_root(root)
        paths = {split: self._find(root, stem) for split, stem in _FILE_SPLITS[corpus].items()}
        self.files: dict[str, Path] = paths
        binned = bin_spike_files(corpus.upper(), paths, n_steps=self.n_steps, dt=self.dt,
                                 n_channels=self.n_in, n_classes=self.n_out,
                                 val_fraction=self.val_fraction, seed=self.seed)
        self._ids, self._offsets, self._data = binned.ids, binned.offsets, binned.data
        self._binned = binned

    def _find(self, root: str | os.PathLike[str] | None, stem: str) -> Path:
        name = f"{self.corpus}_{stem}.h5"
        dirs = (self.root, self.root / self.corpus, self.root / self.corpus.upper())
        packed = [d / (name + ext) for d in dirs for ext in (".gz", ".zip")]
        found = [str(p) for p in packed if p.is_file()]
        hint = (f"found the compressed {found[0]!r}: decompress it next to itself first"
                if found else "the files are at zenkelab.org/datasets (decompress them)")
        return find_file(f"{self.corpus.upper()} file {name!r}", [d / name for d in dirs], root,
                         hint=hint)

    def split(self, split: Split) -> TaskData:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
        return self._data[split]

    def encode(self, inputs: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """Rasters ``[n_steps, B, n_channels]`` (float32) of the sample ids ``inputs [B]``.

        Deterministic: ``generator`` is accepted for the common interface and unused.
        """
        index = check_index("SpikingSpeech", inputs, self._offsets.numel() - 1)
        return rasterise(self._ids, self._offsets, index, n_steps=self.n_steps,
                         n_channels=self.n_in, merge=self.merge)

    def summary_metrics(self) -> dict[str, float]:
        """Input spikes dropped past the window (count and fraction of all the files' spikes)."""
        return self._binned.summary_metrics()

    def loss(self, outputs: Tensor, labels: Tensor) -> Tensor:
        return max_membrane_cross_entropy(outputs, labels)

    def predict(self, outputs: Tensor) -> Tensor:
        return outputs.amax(dim=0).argmax(dim=-1)
