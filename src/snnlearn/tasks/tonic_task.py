"""Any tonic event data set already on disk (task id ``tonic:<NAME>``), binned to frames.

``tonic:<NAME>`` builds ``tonic.datasets.<NAME>`` (for example ``tonic:NMNIST``,
``tonic:DVSGesture``, ``tonic:SHD``) with ``save_to`` set to the data root: the ``root``
argument, else the environment variable ``SNNLEARN_DATA``, else ``~/data``; tonic keeps each data
set in ``<root>/<NAME>/``. snnlearn never downloads: where tonic would start a download, the task
raises ``FileNotFoundError`` naming the folder instead. It needs tonic (``pip install tonic``).

Events (tonic's representation): a NumPy structured array per sample with fields ``x``, ``t``
and ``p`` and, for 2-D sensors, ``y``; ``t`` in microseconds. A sensor of size ``(W, H, P)``
gives ``N = W H P`` input channels; an event at ``(x, y, p)`` feeds channel
``(p H + y) W + x``, the order of tonic's ``ToFrame`` frames ``[T, P, H, W]`` flattened. A
single-polarity sensor (``P = 1``) ignores ``p``. An event at time ``t`` (measured from the first
event of the sample with ``origin="first_event"``, as ``ToFrame`` does, or from ``t = 0`` with
``origin="zero"``) falls into step ``k = floor(t / (dt * 1e6))`` (computed in float64); events
with ``k >= n_steps`` are dropped. Events that share a (step, channel) are counted
(``merge="sum"``) or marked once (``merge="or"``). Events with coordinates outside the sensor, a
polarity outside ``0 .. P - 1``, a negative or non-finite time, or missing fields raise
``ValueError`` naming the sample.

Splits: data sets built with ``train=True/False`` give the training and test splits, and
``round(val_fraction * n_train)`` training samples (a permutation from a local generator seeded
with ``seed``) form the validation split. Data sets built with ``split=`` use ``"train"``,
``"valid"`` and ``"test"``. A data set with a single split gives ``round(test_fraction * n)``
samples to test and ``round(val_fraction * n)`` to validation, carved the same way.

Raw inputs are sample ids ``[N]`` (int64): the events stay on disk and
:meth:`TonicTask.encode` reads the samples of a batch through tonic each time it is called.
"""

from __future__ import annotations

import inspect
import math
import os
from typing import Any, Literal, get_args

import numpy as np
import torch
from torch import Tensor

from snnlearn.encoders._checks import check_n_steps
from snnlearn.losses import max_membrane_cross_entropy
from snnlearn.neurons import LIFParams, LIParams
from snnlearn.neurons._checks import check_dt
from snnlearn.tasks._ondisk import (
    Merge,
    bin_csr,
    carve_validation,
    check_fraction,
    check_index,
    check_merge,
    check_seed,
    data_root,
    n_val_of,
    rasterise,
)
from snnlearn.tasks.base import SPLITS, Split, Task, TaskData, TaskDefaults

__all__ = ["TonicTask", "Origin", "events_to_frames"]

Origin = Literal["first_event", "zero"]


def _import_tonic() -> Any:
    try:
        import tonic.datasets
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(
            "tonic:<NAME> tasks read data sets through tonic, which is not installed; install "
            "it with pip install tonic", name="tonic",
        ) from err
    return tonic


def _sensor(sensor_size: object) -> tuple[int, int, int]:
    if (not isinstance(sensor_size, (tuple, list)) or len(sensor_size) != 3
            or not all(isinstance(s, (int, np.integer)) and s >= 1 for s in sensor_size)):
        raise ValueError(f"sensor_size must be (W, H, P) with three ints >= 1, got "
                         f"{sensor_size!r}")
    w, h, p = (int(s) for s in sensor_size)
    return w, h, p


def _event_channels(events: object, sensor: tuple[int, int, int], *, dt: float,
                    origin: Origin, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Checked (time in units of ``dt``, channel) of every event of one sample."""
    w, h, p = sensor
    names = getattr(getattr(events, "dtype", None), "names", None) or ()
    needed = ("x", "t", "p") if h == 1 else ("x", "y", "t", "p")
    if not isinstance(events, np.ndarray) or events.ndim != 1 or not set(needed) <= set(names):
        got = f"fields {names}" if names else type(events).__name__
        raise ValueError(f"{where}: events must be a 1-D structured array with fields "
                         f"{', '.join(needed)} (t in microseconds), got {got}")
    t = events["t"].astype(np.float64)
    if not np.isfinite(t).all() or (origin == "zero" and t.size and t.min() < 0):
        raise ValueError(f"{where}: event times must be finite microseconds"
                         + (" >= 0" if origin == "zero" else "")
                         + f", got values from {t.min()!r} to {t.max()!r}")
    if origin == "first_event" and t.size:
        t = t - t.min()
    coords = [("x", w), ("y", h)] if "y" in names else [("x", w)]
    channel = np.zeros(t.size, dtype=np.int64)
    if p > 1:
        coords.append(("p", p))
    for name, size in coords:
        value = events[name].astype(np.int64)
        if value.size and (value.min() < 0 or value.max() >= size):
            raise ValueError(f"{where}: event {name} values span {value.min()} .. {value.max()}, "
                             f"outside the sensor's 0 .. {size - 1}")
    x = events["x"].astype(np.int64)
    y = events["y"].astype(np.int64) if "y" in names else channel
    pol = events["p"].astype(np.int64) if p > 1 else channel
    return t / (dt * 1e6), (pol * h + y) * w + x


def events_to_frames(
    events: np.ndarray, sensor_size: tuple[int, int, int], *, n_steps: int, dt: float,
    merge: Merge = "sum", origin: Origin = "first_event",
) -> Tensor:
    """Bin one sample's tonic events into frames ``[n_steps, W * H * P]`` (float32).

    An event at ``(x, y, p)`` and time ``t`` (µs) adds a spike to channel ``(p H + y) W + x`` at
    step ``floor((t - t_0) / (dt * 1e6))``, with ``t_0`` the first event's time
    (``origin="first_event"``) or 0 (``origin="zero"``); later steps than ``n_steps - 1`` are
    dropped. See the module docstring for the checks.

    Args:
        events: structured array with fields ``x``, ``t``, ``p`` (and ``y`` when ``H > 1``).
        sensor_size: ``(W, H, P)`` as tonic's ``sensor_size``.
        n_steps: time steps ``T`` (>= 1).
        dt: bin width (s, > 0).
        merge: ``"sum"`` (event counts) or ``"or"`` (0/1).
        origin: ``"first_event"`` or ``"zero"``.

    Shapes:
        ``events [E] -> frames [n_steps, W * H * P]``.

    Raises:
        ValueError: an option out of range or events that break the representation.

    Example:
        >>> import numpy as np
        >>> ev = np.array([(0, 0, 1, 0), (1, 0, 1500, 1), (1, 0, 1700, 1)],
        ...               dtype=[("x", int), ("y", int), ("t", int), ("p", int)])
        >>> events_to_frames(ev, (2, 1, 2), n_steps=3, dt=1e-3)
        tensor([[1., 0., 0., 0.],
                [0., 0., 0., 2.],
                [0., 0., 0., 0.]])
    """
    sensor = _sensor(sensor_size)
    n_steps, dt = check_n_steps(n_steps), check_dt(dt)
    merge = check_merge("events_to_frames", merge)
    _check_origin("events_to_frames", origin)
    return _frames([events], sensor, n_steps=n_steps, dt=dt, merge=merge, origin=origin,
                   where=["events"])[:, 0]


def _check_origin(owner: str, origin: object) -> None:
    if origin not in get_args(Origin):
        raise ValueError(f"{owner}.origin must be one of {list(get_args(Origin))}, got {origin!r}")


def _frames(samples: list[Any], sensor: tuple[int, int, int], *, n_steps: int, dt: float,
            merge: Merge, origin: Origin, where: list[str]) -> Tensor:
    times, channels = [np.zeros(0)], [np.zeros(0, np.int64)]
    for events, name in zip(samples, where, strict=True):
        t, c = _event_channels(events, sensor, dt=dt, origin=origin, where=name)
        times.append(t)
        channels.append(c)
    lengths = np.fromiter((c.size for c in channels[1:]), dtype=np.int64, count=len(samples))
    n_channels = math.prod(sensor)
    ids, offsets = bin_csr(np.concatenate(times), np.concatenate(channels), lengths,
                           n_steps=n_steps, dt=1.0, n_channels=n_channels)
    return rasterise(ids, offsets, torch.arange(len(samples)), n_steps=n_steps,
                     n_channels=n_channels, merge=merge)


def _refuse_download(self: Any) -> None:
    name = type(self).__name__
    raise FileNotFoundError(
        f"tonic data set {name} is not on disk: tonic looked in "
        f"{str(self.location_on_system)!r} for {getattr(self, 'filename', 'its files')!r} and its "
        f"extracted contents. snnlearn never downloads; fetch it once with tonic "
        f"(tonic.datasets.{name}(save_to=...)), then pass that folder as root= or set "
        f"SNNLEARN_DATA to it"
    )


class TonicTask(Task):
    """A tonic data set read from disk (``tonic:<NAME>``), binned to ``[T, B, W * H * P]``.

    See the module docstring for the events, the binning and the splits.

    Args:
        dataset: the class name in ``tonic.datasets`` (e.g. ``"NMNIST"``); the task's name is
            ``"tonic:<dataset>"``.
        root: folder holding ``<dataset>/``; ``None`` reads ``$SNNLEARN_DATA``, else ``~/data``.
        n_steps: time steps ``T`` (>= 1).
        dt: bin width and simulation time step (s, > 0).
        merge: ``"sum"`` (event counts per bin) or ``"or"`` (0/1).
        origin: time zero of each sample: ``"first_event"`` or ``"zero"``.
        val_fraction: fraction of the training samples held out for validation, in ``(0, 1)``.
        test_fraction: fraction held out for testing when the data set has one split only.
        seed: seed of the carved splits (int in ``[0, 2**32)``).

    Shapes:
        raw inputs: sample ids ``[N]`` (int64); encoded: ``[n_steps, B, W * H * P]``.

    Raises:
        ModuleNotFoundError: tonic is not installed.
        FileNotFoundError: the data set is not on disk (the message names the folder).
        ValueError: an unknown data set (the message lists tonic's), an option out of range,
            or a data set without a fixed sensor size.

    Example:
        >>> TonicTask("NMNIST", n_steps=0)
        Traceback (most recent call last):
        ...
        ValueError: TonicTask.n_steps must be an integer >= 1, got 0
    """

    def __init__(
        self, dataset: str, *, root: str | os.PathLike[str] | None = None, n_steps: int = 100,
        dt: float = 3e-3, merge: Merge = "sum", origin: Origin = "first_event",
        val_fraction: float = 0.1, test_fraction: float = 0.2, seed: int = 0,
    ) -> None:
        self.n_steps = check_n_steps(n_steps, "TonicTask.n_steps")
        self.dt = check_dt(dt)
        self.merge = check_merge("TonicTask", merge)
        _check_origin("TonicTask", origin)
        self.origin: Origin = origin
        self.val_fraction = check_fraction("TonicTask", "val_fraction", val_fraction)
        self.test_fraction = check_fraction("TonicTask", "test_fraction", test_fraction)
        self.seed = check_seed("TonicTask", seed)
        tonic = _import_tonic()
        names = sorted(getattr(tonic.datasets, "__all__", ()))
        cls = getattr(tonic.datasets, dataset, None) if isinstance(dataset, str) else None
        if not (isinstance(cls, type) and dataset in names):
            raise ValueError(f"unknown tonic data set {dataset!r}; valid data sets: "
                             f"{', '.join(names)}")
        self.name = f"tonic:{dataset}"
        self.root = data_root(root)
        local = type(dataset, (cls,), {"download": _refuse_download, "__module__": __name__})
        self._sets, parts = self._open(local)
        self.sensor_size = _sensor(getattr(self._sets[0], "sensor_size", None))
        self.n_in = math.prod(self.sensor_size)
        self._data = self._splits(parts)
        classes = getattr(self._sets[0], "classes", None)
        n_labels = max(int(d.labels.max()) + 1 if len(d) else 0 for d in self._data.values())
        self.n_out = max(len(classes) if classes is not None else 0, n_labels, 2)
        self.defaults = TaskDefaults(
            hidden=(128,), recurrent=True, neuron=LIFParams(tau_mem=20e-3, tau_syn=5e-3),
            readout=LIParams(tau_mem=20e-3, tau_syn=5e-3), gain=1.0, epochs=20,
            batch_size=32, lr=2e-3,
        )

    def _open(self, local: type) -> tuple[list[Any], dict[str, int]]:
        """Build the tonic data sets; returns them and which set holds which split."""
        params = inspect.signature(local.__init__).parameters
        root = str(self.root)
        if "train" in params:
            return [local(save_to=root, train=True), local(save_to=root, train=False)], {
                "train": 0, "test": 1}
        if "split" in params:
            sets = [local(save_to=root, split=s) for s in ("train", "valid", "test")]
            return sets, {"train": 0, "val": 1, "test": 2}
        if "save_to" in params:
            return [local(save_to=root)], {"all": 0}
        raise ValueError(f"tonic data set {local.__name__} takes no save_to argument, so it "
                         "cannot be read from a folder; it is not supported")

    def _splits(self, parts: dict[str, int]) -> dict[str, TaskData]:
        sizes = [len(s) for s in self._sets]
        first = np.concatenate([[0], np.cumsum(sizes)])
        ids = {k: np.arange(first[i], first[i + 1]) for k, i in parts.items()}
        labels = {k: np.array([_label(self._sets[i], j) for j in range(sizes[i])], np.int64)
                  for k, i in parts.items()}
        where = f"tonic data set {self.name} in {str(self.root)!r}"
        if "all" in ids:
            n = ids["all"].size
            n_test = n_val_of("TonicTask", n, self.test_fraction, self.root)
            rest, test = carve_validation(n, n_test, self.seed)
            ids["test"], labels["test"] = ids["all"][test], labels["all"][test]
            ids["train"], labels["train"] = ids["all"][rest], labels["all"][rest]
        if "val" not in ids:
            n = ids["train"].size
            train, val = carve_validation(n, n_val_of("TonicTask", n, self.val_fraction,
                                                      self.root), self.seed)
            ids["val"], labels["val"] = ids["train"][val], labels["train"][val]
            ids["train"], labels["train"] = ids["train"][train], labels["train"][train]
        for split in SPLITS:
            if labels[split].size and labels[split].min() < 0:
                raise ValueError(f"{where}: negative label in the {split} split")
        self._first = first
        return {s: TaskData(torch.from_numpy(ids[s]), torch.from_numpy(labels[s]))
                for s in SPLITS}

    def split(self, split: Split) -> TaskData:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
        return self._data[split]

    def encode(self, inputs: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """Read the samples ``inputs [B]`` through tonic and bin them: ``[n_steps, B, N]``.

        Deterministic: ``generator`` is accepted for the common interface and unused.
        """
        index = check_index("TonicTask", inputs, int(self._first[-1])).numpy()
        which = np.searchsorted(self._first, index, side="right") - 1
        samples = [self._sets[s][int(i - self._first[s])][0]
                   for s, i in zip(which, index, strict=True)]
        where = [f"{self.name} sample {int(i)}" for i in index]
        return _frames(samples, self.sensor_size, n_steps=self.n_steps, dt=self.dt,
                       merge=self.merge, origin=self.origin, where=where)

    def loss(self, outputs: Tensor, labels: Tensor) -> Tensor:
        return max_membrane_cross_entropy(outputs, labels)

    def predict(self, outputs: Tensor) -> Tensor:
        return outputs.amax(dim=0).argmax(dim=-1)


def _label(dataset: Any, index: int) -> int:
    """Label ``index`` of a tonic data set, from ``targets`` when it lists every sample."""
    targets = getattr(dataset, "targets", None)
    target = (targets[index] if targets is not None and len(targets) == len(dataset)
              else dataset[index][1])
    return int(np.asarray(target).reshape(()))
