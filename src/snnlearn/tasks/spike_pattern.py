r"""Spike-pattern task: output neurons learn to fire at given target times (Zenke & Ganguli 2018).

``n_patterns`` frozen Poisson input rasters (``n_in`` channels, ``input_rate`` Hz, ``duration``
seconds on the grid ``dt``) are each paired with a target raster of ``n_out`` output neurons, every
one of which must fire ``target_spikes`` times, at least ``min_interval`` apart and not before
``onset``. The network ends in spiking output neurons (``TaskDefaults.spiking_output``); the loss
is the squared van Rossum distance (:func:`snnlearn.losses.van_rossum_distance`, kernel
``e^{-t/tau}``) between output and target trains. The inputs are frozen: the task is to memorise
the patterns, so the train, validation and test splits hold the same patterns (the training
split ``repeats`` copies of each, so that one epoch makes ``repeats`` updates at the default
batch size).

Metrics (per sample, averaged over a split by the runner):

- ``score`` (the run's ``test_accuracy``): the fraction of target spikes that have an output
  spike of the same neuron within ``tolerance`` (default 2 ms), i.e. ``|t_out - t_target| <=
  tolerance``, both on the grid;
- ``van_rossum_distance``: the squared van Rossum distance of that sample;
- ``spike_timing_error_ms``: the mean over target spikes of the distance to the nearest output
  spike of the same neuron (ms); a neuron without any output spike counts ``duration``;
- ``stray_spikes``: output spikes that match no target: those farther than ``tolerance`` from
  every target spike of their neuron, plus every spike beyond the first inside one target's
  tolerance window.

Raw inputs are the rasters ``[N, T, n_in]`` (uint8), labels the pattern index; :meth:`predict`
names the target pattern nearest (in van Rossum distance) to the output.

References:
    Zenke, F. & Ganguli, S. (2018). SuperSpike: supervised learning in multilayer spiking neural
    networks. Neural Computation 30(6), 1514-1541. doi:10.1162/neco_a_01086
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import Tensor

from snnlearn.losses import van_rossum_distance, van_rossum_filter
from snnlearn.neurons import LIFParams
from snnlearn.neurons._checks import check_dt
from snnlearn.surrogate import FastSigmoid
from snnlearn.tasks.base import SPLITS, Split, Task, TaskData, TaskDefaults

__all__ = ["SpikePattern", "nearest_spike_distance", "spike_pattern_targets"]


def nearest_spike_distance(spikes: Tensor) -> Tensor:
    """Steps from every step to the nearest spike of the same train (``inf`` if none).

    Shapes:
        ``spikes [T, B, N] -> [T, B, N]`` (float).

    Example:
        >>> z = torch.tensor([0.0, 1.0, 0.0, 0.0, 0.0]).reshape(5, 1, 1)
        >>> nearest_spike_distance(z).flatten().tolist()
        [1.0, 0.0, 1.0, 2.0, 3.0]
    """
    n_steps = spikes.shape[0]
    step = torch.arange(n_steps, dtype=torch.float64, device=spikes.device)
    step = step.reshape(n_steps, *([1] * (spikes.ndim - 1))).expand(spikes.shape)
    fired = spikes > 0
    inf = torch.tensor(math.inf, dtype=torch.float64, device=spikes.device)
    last = torch.where(fired, step, -inf).cummax(dim=0).values
    upcoming = torch.where(fired, step, inf).flip(0).cummin(dim=0).values.flip(0)
    return torch.minimum(step - last, upcoming - step)


def spike_pattern_targets(
    n_patterns: int, n_steps: int, n_out: int, count: int, gap: int, onset: int, *,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Random target rasters: ``count`` spikes per neuron, ``>= gap`` steps apart, from ``onset``.

    The sorted draw ``u_1 < ... < u_count`` from ``0 .. n_steps - onset - (count - 1) gap - 1``
    (without replacement) is spread to ``t_i = onset + u_i + (i - 1) gap``, which is uniform over
    all such spike sets.

    Shapes:
        ``-> [n_patterns, n_steps, n_out]`` (0/1 float32).

    Raises:
        ValueError: the spikes do not fit into ``n_steps``.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> t = spike_pattern_targets(1, 100, 3, 4, 10, 5, generator=g)
        >>> t.sum(dim=1).tolist()
        [[4.0, 4.0, 4.0]]
    """
    room = n_steps - onset - (count - 1) * gap
    if room < count:
        raise ValueError(f"{count} target spikes {gap} steps apart after {onset} onset steps do "
                         f"not fit into {n_steps} steps; lower target_spikes or min_interval, or "
                         "raise duration")
    targets = torch.zeros(n_patterns, n_steps, n_out)
    for p in range(n_patterns):
        for n in range(n_out):
            u = torch.randperm(room, generator=generator)[:count].sort().values
            targets[p, onset + u + gap * torch.arange(count), n] = 1.0
    return targets


def _int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"SpikePattern.{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _time(name: str, value: object, *, zero: bool = False) -> float:
    ok = (not isinstance(value, bool) and isinstance(value, numbers.Real)
          and math.isfinite(float(value)) and (float(value) >= 0 if zero else float(value) > 0))
    if not ok:
        raise ValueError(f"SpikePattern.{name} must be a finite number {'>=' if zero else '>'} 0 "
                         f"(seconds or Hz), got {value!r}")
    return float(value)


class SpikePattern(Task):
    """Frozen Poisson inputs to precisely timed output spike trains (see the module docstring).

    Args:
        n_in: input channels (>= 1; the paper's demonstrations use 100 to 1000).
        n_out: output neurons, each with its own target train (>= 1).
        duration: length of one pattern (s, > 0).
        dt: time step (s, > 0).
        input_rate: Poisson rate of every input channel (Hz, > 0).
        target_spikes: target spikes per output neuron (>= 1).
        min_interval: least time between two target spikes of a neuron (s, > 0).
        onset: no target spike before this time (s, >= 0).
        n_patterns: input/target pairs to learn (>= 1).
        repeats: copies of each pattern in the training split (>= 1).
        tau: van Rossum kernel time constant of the loss and the distance metric (s, > 0).
        tolerance: a target spike is matched by an output spike this close (s, >= 0).
        seed: seed of the inputs and targets (int >= 0).

    Shapes:
        raw inputs ``[N, T, n_in]`` (uint8); encoded ``[T, B, n_in]``; outputs ``[T, B, n_out]``.

    Raises:
        ValueError: a size or time out of range, or targets that do not fit into ``duration``.

    Example:
        >>> task = SpikePattern(n_in=20, n_out=3, duration=0.1, target_spikes=2)
        >>> x = task.encode(task.split("train").inputs[:2])
        >>> tuple(x.shape), len(task.split("train")), len(task.split("test"))
        ((100, 2, 20), 20, 1)
        >>> target = task.targets_for(task.split("test").labels)
        >>> float(task.score(target, task.split("test").labels)[0])
        1.0
    """

    name = "spike_pattern"

    def __init__(
        self, *, n_in: int = 200, n_out: int = 20, duration: float = 0.5, dt: float = 1e-3,
        input_rate: float = 10.0, target_spikes: int = 5, min_interval: float = 20e-3,
        onset: float = 20e-3, n_patterns: int = 1, repeats: int = 20, tau: float = 10e-3,
        tolerance: float = 2e-3, seed: int = 0,
    ) -> None:
        self.n_in, self.n_out = _int("n_in", n_in, 1), _int("n_out", n_out, 1)
        self.dt = check_dt(dt)
        self.duration = _time("duration", duration)
        self.n_steps = max(1, round(self.duration / self.dt))
        self.input_rate = _time("input_rate", input_rate)
        self.target_spikes = _int("target_spikes", target_spikes, 1)
        self.min_interval = _time("min_interval", min_interval)
        self.onset = _time("onset", onset, zero=True)
        self.n_patterns = _int("n_patterns", n_patterns, 1)
        self.repeats = _int("repeats", repeats, 1)
        self.tau = _time("tau", tau)
        self.tolerance = _time("tolerance", tolerance, zero=True)
        self.seed = _int("seed", seed, 0)
        self._tol_steps = round(self.tolerance / self.dt)
        self.defaults = TaskDefaults(
            hidden=(500,), neuron=LIFParams(tau_mem=10e-3, tau_syn=5e-3,
                                            surrogate=FastSigmoid(scale=5.0)),
            gain=2.0, epochs=50, batch_size=self.n_patterns, lr=1e-2, spiking_output=True,
        )
        g = torch.Generator().manual_seed(self.seed)
        p_spike = min(1.0, self.input_rate * self.dt)
        self.inputs = (torch.rand(self.n_patterns, self.n_steps, self.n_in, generator=g)
                       < p_spike).to(torch.uint8)
        self.targets = spike_pattern_targets(
            self.n_patterns, self.n_steps, self.n_out, self.target_spikes,
            max(1, round(self.min_interval / self.dt)), round(self.onset / self.dt), generator=g)
        once = torch.arange(self.n_patterns)
        train = once.repeat(self.repeats)
        self._data = {"train": TaskData(self.inputs[train], train),
                      "val": TaskData(self.inputs, once), "test": TaskData(self.inputs, once)}

    def split(self, split: Split) -> TaskData:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
        return self._data[split]

    def encode(self, inputs: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """The frozen rasters ``[B, T, n_in]`` time-first ``[T, B, n_in]`` (float32).

        Deterministic: ``generator`` is accepted for the common interface and unused.
        """
        if inputs.ndim != 3 or tuple(inputs.shape[1:]) != (self.n_steps, self.n_in):
            raise ValueError(f"SpikePattern inputs must be rasters [B, T, n_in] = [B, "
                             f"{self.n_steps}, {self.n_in}], got {tuple(inputs.shape)}")
        return inputs.permute(1, 0, 2).to(torch.float32).contiguous()

    def targets_for(self, labels: Tensor, like: Tensor | None = None) -> Tensor:
        """The target rasters ``[T, B, n_out]`` of patterns ``labels`` (as ``like``'s dtype)."""
        target = self.targets[labels.cpu()].permute(1, 0, 2)
        return target if like is None else target.to(like)

    def _check_outputs(self, outputs: Tensor, labels: Tensor) -> Tensor:
        if outputs.ndim != 3 or tuple(outputs.shape[::2]) != (self.n_steps, self.n_out):
            raise ValueError(f"SpikePattern outputs must be spikes [T, B, n_out] = [{self.n_steps}"
                             f", B, {self.n_out}], got {tuple(outputs.shape)}; the network needs "
                             "a spiking output layer (TaskDefaults.spiking_output)")
        return self.targets_for(labels, outputs)

    def loss(self, outputs: Tensor, labels: Tensor) -> Tensor:
        """Squared van Rossum distance to the target trains, batch mean (kernel ``tau``)."""
        return van_rossum_distance(outputs, self._check_outputs(outputs, labels), self.dt,
                                   tau=self.tau)

    def _distance(self, outputs: Tensor, target: Tensor) -> Tensor:
        diff = van_rossum_filter(outputs - target, self.dt, tau=self.tau)
        return (self.dt / self.tau) * diff.square().sum(dim=(0, 2))

    def predict(self, outputs: Tensor) -> Tensor:
        """The pattern whose target is nearest to the output in van Rossum distance ``[B]``."""
        batch = outputs.shape[1]
        dist = torch.stack([
            self._distance(outputs, self.targets_for(torch.full((batch,), p), outputs))
            for p in range(self.n_patterns)])
        return dist.argmin(dim=0)

    def score(self, outputs: Tensor, labels: Tensor) -> Tensor:
        """Fraction of each sample's target spikes matched within ``tolerance`` ``[B]``."""
        target = self._check_outputs(outputs, labels)
        near = nearest_spike_distance(outputs.detach()) <= self._tol_steps
        hits = (near & (target > 0)).sum(dim=(0, 2)).to(torch.float32)
        return hits / target.sum(dim=(0, 2)).clamp(min=1).to(torch.float32)

    def metrics(self, outputs: Tensor, labels: Tensor) -> dict[str, Tensor]:
        """``van_rossum_distance``, ``spike_timing_error_ms`` and ``stray_spikes`` per sample."""
        outputs = outputs.detach()
        target = self._check_outputs(outputs, labels)
        fired, wanted = outputs > 0, target > 0
        nearest = nearest_spike_distance(outputs).clamp(max=self.n_steps)
        error_ms = (nearest * wanted).sum(dim=(0, 2)) * self.dt * 1e3
        error_ms = error_ms / wanted.sum(dim=(0, 2)).clamp(min=1)
        far = (nearest_spike_distance(target) > self._tol_steps) & fired
        # output spikes inside each target's window [t - k, t + k], beyond the first
        k = self._tol_steps
        count = torch.nn.functional.pad(fired.to(torch.float64).cumsum(dim=0), (0, 0, 0, 0, 1, 0))
        hi = (torch.arange(self.n_steps, device=outputs.device) + k + 1).clamp(max=self.n_steps)
        lo = (torch.arange(self.n_steps, device=outputs.device) - k).clamp(min=0)
        in_window = count[hi] - count[lo]
        extra = ((in_window - 1).clamp(min=0) * wanted).sum(dim=(0, 2))
        return {"van_rossum_distance": self._distance(outputs, target),
                "spike_timing_error_ms": error_ms.to(torch.float32),
                "stray_spikes": (far.sum(dim=(0, 2)) + extra).to(torch.float32)}
