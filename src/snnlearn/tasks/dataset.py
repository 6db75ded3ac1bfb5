"""A user's ``torch.utils.data.Dataset`` named by import path (task id ``py:<module>:<Class>``).

``py:mypackage.data:MySpikes`` imports ``mypackage.data`` (it must be importable: installed, or
on ``PYTHONPATH``) and builds ``MySpikes(split="train")`` and ``MySpikes(split="test")``; a
class that also takes ``split="val"`` can supply validation data with ``val_split=True``,
otherwise ``round(val_fraction * n_train)`` training items (a permutation seeded with ``seed``)
form the validation split. Other keyword arguments of the class go in the task option
``dataset_options`` (``--task-option 'dataset_options={"root": "/data"}'``, or a TOML table
``[task_options.dataset_options]``).

Each item is ``(x, label)``: ``x`` a ``[T, n]`` tensor or array (time first: spikes, or any
real-valued input current per step of ``dt``), ``label`` an int class id. Every item must have
the same ``n``; shorter items are padded with zeros at the end to the longest ``T``. The whole
data set is read into memory once. The loss is cross-entropy on the readout membrane's maximum
over time, and the default network one recurrent hidden layer of 128 LIF neurons.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from snnlearn.losses import max_membrane_cross_entropy
from snnlearn.neurons import LIFParams, LIParams
from snnlearn.neurons._checks import check_dt
from snnlearn.tasks._ondisk import carve_validation, check_fraction, check_seed
from snnlearn.tasks.base import SPLITS, Split, Task, TaskData, TaskDefaults

__all__ = ["UserDataset", "load_dataset_class"]


def load_dataset_class(target: str) -> Any:
    """The class (or factory) that ``"package.module:Name"`` names.

    Raises:
        ValueError: ``target`` is not of the form ``module:Name``, or ``Name`` is not callable.
        ModuleNotFoundError: the module cannot be imported.

    Example:
        >>> load_dataset_class("snnlearn.tasks.dataset:UserDataset").__name__
        'UserDataset'
    """
    module, sep, name = target.partition(":")
    if not sep or not module or not name.isidentifier():
        raise ValueError(f"task 'py:{target}': expected py:<module>:<Class>, e.g. "
                         "py:mypackage.data:MySpikes")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as err:
        raise ModuleNotFoundError(f"task 'py:{target}': cannot import {module!r} ({err}); install "
                                  "it or add its folder to PYTHONPATH", name=module) from None
    factory = getattr(mod, name, None)
    if not callable(factory):
        raise ValueError(f"task 'py:{target}': {module!r} has no class {name!r}")
    return factory


def _read(target: str, factory: Any, split: str, options: Mapping[str, Any]) -> tuple[list, list]:
    try:
        data = factory(split=split, **options)
    except TypeError as err:
        raise ValueError(f"task 'py:{target}': {target}(split={split!r}) failed ({err}); the "
                         "class must take a keyword split ('train', 'test')") from None
    try:
        n = len(data)
    except TypeError:
        raise ValueError(f"task 'py:{target}': the {split} data set has no len(); it must be a "
                         "map-style torch.utils.data.Dataset") from None
    if n == 0:
        raise ValueError(f"task 'py:{target}': the {split} data set is empty")
    xs, labels = [], []
    for i in range(n):
        item = data[i]
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise ValueError(f"task 'py:{target}': {split} item {i} must be (x, label), got "
                             f"{type(item).__name__}")
        x = torch.as_tensor(item[0], dtype=torch.float32)
        if x.ndim != 2:
            raise ValueError(f"task 'py:{target}': {split} item {i} has x of shape "
                             f"{tuple(x.shape)}; expected [T, n] (time first)")
        label = item[1]
        label = int(label.item()) if isinstance(label, Tensor) else label
        if isinstance(label, bool) or not isinstance(label, int) or label < 0:
            raise ValueError(f"task 'py:{target}': {split} item {i} has label {label!r}; expected "
                             "an int class id >= 0")
        xs.append(x)
        labels.append(label)
    return xs, labels


class UserDataset(Task):
    """A map-style torch ``Dataset`` of ``(x [T, n], label)`` items as a task.

    See the module docstring for how the class is built and its items read.

    Args:
        target: ``"package.module:Class"``.
        dt: the time step each row of ``x`` stands for (s, > 0).
        n_classes: classes; ``None``: the largest label + 1 (at least 2).
        val_split: build the validation split with ``Class(split="val")``.
        val_fraction: fraction of the training items held out for validation otherwise.
        seed: seed of that validation carve.
        dataset_options: other keyword arguments of ``Class``.

    Shapes:
        raw inputs: ``[N, T, n]``; encoded: ``[T, B, n]``.

    Raises:
        ModuleNotFoundError: the module cannot be imported.
        ValueError: a bad target, option or item (the message names the split and item).
    """

    def __init__(
        self, target: str, *, dt: float = 1e-3, n_classes: int | None = None,
        val_split: bool = False, val_fraction: float = 0.1, seed: int = 0,
        dataset_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = f"py:{target}"
        self.dt = check_dt(dt)
        self.val_fraction = check_fraction("UserDataset", "val_fraction", val_fraction)
        self.seed = check_seed("UserDataset", seed)
        factory = load_dataset_class(target)
        options = dict(dataset_options or {})
        if "split" in options:
            raise ValueError("UserDataset: dataset_options may not set split")
        splits = ("train", "val", "test") if val_split else ("train", "test")
        read = {s: _read(target, factory, s, options) for s in splits}
        widths = {x.shape[1] for xs, _ in read.values() for x in xs}
        if len(widths) != 1:
            raise ValueError(f"task 'py:{target}': items have different input widths "
                             f"{sorted(widths)}; every x must be [T, n] with the same n")
        self.n_in = widths.pop()
        self.n_steps = max(x.shape[0] for xs, _ in read.values() for x in xs)
        top = max(max(labels) for _, labels in read.values()) + 1
        if n_classes is None:
            self.n_out = max(2, top)
        elif isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
            raise ValueError(f"UserDataset.n_classes must be an int >= 2, got {n_classes!r}")
        elif top > n_classes:
            raise ValueError(f"task 'py:{target}': label {top - 1} but n_classes={n_classes}")
        else:
            self.n_out = n_classes
        self._data = {s: self._stack(*read[s]) for s in splits}
        if not val_split:
            train = self._data["train"]
            n_val = max(1, round(self.val_fraction * len(train)))
            if n_val >= len(train):
                raise ValueError(f"task 'py:{target}': {len(train)} training items are too few "
                                 f"to carve a validation split of {n_val} and keep one to train")
            keep, val = carve_validation(len(train), n_val, self.seed)
            self._data["train"] = TaskData(train.inputs[keep], train.labels[keep])
            self._data["val"] = TaskData(train.inputs[val], train.labels[val])
        self.defaults = TaskDefaults(
            hidden=(128,), recurrent=True, neuron=LIFParams(tau_mem=20e-3, tau_syn=5e-3),
            readout=LIParams(tau_mem=20e-3, tau_syn=5e-3), gain=1.0, epochs=30,
            batch_size=64, lr=2e-3,
        )

    def _stack(self, xs: list[Tensor], labels: list[int]) -> TaskData:
        out = torch.zeros(len(xs), self.n_steps, self.n_in)
        for i, x in enumerate(xs):
            out[i, : x.shape[0]] = x
        return TaskData(out, torch.tensor(labels, dtype=torch.int64))

    def split(self, split: Split) -> TaskData:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
        return self._data[split]

    def encode(self, inputs: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """The items ``[B, T, n]`` time first, ``[T, B, n]`` (float32); ``generator`` unused."""
        if not isinstance(inputs, Tensor) or inputs.ndim != 3 or inputs.shape[2] != self.n_in:
            shape = tuple(inputs.shape) if isinstance(inputs, Tensor) else type(inputs).__name__
            raise ValueError(f"UserDataset inputs must be [B, T, {self.n_in}] (as in "
                             f"task.split(...).inputs), got {shape}")
        return inputs.float().transpose(0, 1).contiguous()

    def loss(self, outputs: Tensor, labels: Tensor) -> Tensor:
        return max_membrane_cross_entropy(outputs, labels)

    def predict(self, outputs: Tensor) -> Tensor:
        return outputs.amax(dim=0).argmax(dim=-1)

