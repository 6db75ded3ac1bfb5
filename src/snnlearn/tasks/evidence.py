"""Evidence accumulation (the cue task of Bellec et al. 2020): count cues, wait, then answer.

A trial shows ``n_cues`` cues, one after another: cue ``k`` is ``cue_duration`` of Poisson spikes
at ``cue_rate`` on the 10 "left" or the 10 "right" input channels (side drawn uniformly), each
followed by a silent ``gap``. After the last cue comes a ``delay``, then ``recall_duration`` of
spikes at ``cue_rate`` on 10 "recall" channels; 10 more channels carry background spikes at
``noise_rate`` throughout (40 channels in all: left, right, recall, noise). The label is the side
that showed more cues (``n_cues`` is odd, so there is no tie).

The answer is read during the recall window only: the loss is cross-entropy on the readout
membrane averaged over the recall steps, and the prediction its argmax. Nothing in the recall
window says which side won: the network must hold a running count across the gaps and the
delay, the long time dependency on which e-prop's approximation (no gradient through the
recurrent state) is tested against BPTT. The network defaults to one recurrent layer of 100
adaptive (ALIF) neurons, with synaptic time constants of at least one step (10 ms). The
defaults (7 cues of 100 ms, 50 ms gaps, a 500 ms delay, 10 ms steps: T = 170) shorten the
paper's trial (~2 s at 1 ms) for CPU budgets; every timing is an option.

Raw inputs are the cue sides ``[N, n_cues]`` (0 left, 1 right); :meth:`EvidenceAccumulation.encode`
draws the spikes from the given generator. Splits are drawn from local generators seeded with
``seed`` (train), ``seed + 1`` (validation) and ``seed + 2`` (test).

References:
    Bellec, G., Scherr, F., Subramoney, A., Hajek, E., Salaj, D., Legenstein, R. & Maass, W.
    (2020). A solution to the learning dilemma for recurrent networks of spiking neurons. Nature
    Communications 11, 3625. doi:10.1038/s41467-020-17236-y
"""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F
from torch import Tensor

from snnlearn.neurons import ALIFParams, LIFParams, LIParams
from snnlearn.neurons._checks import check_dt
from snnlearn.tasks.base import SPLITS, Split, Task, TaskData, TaskDefaults

__all__ = ["EvidenceAccumulation", "N_GROUP"]

N_GROUP = 10
"""Channels per input group (left, right, recall, noise)."""


def _steps(name: str, seconds: object, dt: float, minimum: int = 1) -> int:
    if (isinstance(seconds, bool) or not isinstance(seconds, numbers.Real)
            or not math.isfinite(seconds) or seconds < 0):
        raise ValueError(f"EvidenceAccumulation.{name} must be a duration >= 0 seconds, got "
                         f"{seconds!r}")
    steps = round(float(seconds) / dt)
    if steps < minimum:
        raise ValueError(f"EvidenceAccumulation.{name}={seconds!r} s is under {minimum} step(s) "
                         f"of dt={dt!r} s; lengthen it or lower dt")
    return steps


def _count(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"EvidenceAccumulation.{name} must be an int >= {minimum}, got "
                         f"{value!r}")
    return int(value)


def _rate(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
        raise ValueError(f"EvidenceAccumulation.{name} must be a rate >= 0 Hz, got {value!r}")
    return float(value)


class EvidenceAccumulation(Task):
    """Count left and right cues, hold the count over a delay, report the majority at recall.

    See the module docstring for the trial structure, the loss and the splits.

    Args:
        n_train: training trials (>= 1).
        n_val: validation trials (>= 1).
        n_test: test trials (>= 1).
        n_cues: cues per trial (odd, >= 1).
        cue_duration: length of one cue (s).
        gap: silence after each cue (s).
        delay: silence between the last cue's gap and the recall cue (s).
        recall_duration: length of the recall cue, over which the answer is read (s).
        cue_rate: Poisson rate of cue and recall channels while on (Hz).
        noise_rate: Poisson rate of the background channels (Hz).
        dt: time step (s, > 0).
        seed: seed of the splits.

    Shapes:
        raw inputs: cue sides ``[N, n_cues]`` (int64); encoded: ``[T, B, 40]``.

    Raises:
        ValueError: an option out of range.

    Example:
        >>> task = EvidenceAccumulation(n_train=4, n_val=2, n_test=2)
        >>> task.n_steps, task.n_in, task.encode(task.split("test").inputs).shape
        (170, 40, torch.Size([170, 2, 40]))

    References:
        Bellec et al. (2020), Nature Communications 11, 3625. doi:10.1038/s41467-020-17236-y
    """

    name = "evidence"

    def __init__(
        self, *, n_train: int = 2000, n_val: int = 500, n_test: int = 1000, n_cues: int = 7,
        cue_duration: float = 0.1, gap: float = 0.05, delay: float = 0.5,
        recall_duration: float = 0.15, cue_rate: float = 40.0, noise_rate: float = 10.0,
        dt: float = 10e-3, seed: int = 0,
    ) -> None:
        self.dt = check_dt(dt)
        self.n_cues = _count("n_cues", n_cues, 1)
        if self.n_cues % 2 == 0:
            raise ValueError(f"EvidenceAccumulation.n_cues must be odd (no tie), got {n_cues!r}")
        self.cue_steps = _steps("cue_duration", cue_duration, self.dt)
        self.gap_steps = _steps("gap", gap, self.dt, minimum=0)
        self.delay_steps = _steps("delay", delay, self.dt, minimum=0)
        self.recall_steps = _steps("recall_duration", recall_duration, self.dt)
        self.cue_rate, self.noise_rate = _rate("cue_rate", cue_rate), _rate("noise_rate",
                                                                            noise_rate)
        if max(self.cue_rate, self.noise_rate) * self.dt > 1:
            raise ValueError(f"EvidenceAccumulation: rate * dt must be <= 1 (one spike per step "
                             f"at most), got {max(self.cue_rate, self.noise_rate) * self.dt:g}")
        self.recall_start = self.n_cues * (self.cue_steps + self.gap_steps) + self.delay_steps
        self.n_steps = self.recall_start + self.recall_steps
        self.n_in, self.n_out = 4 * N_GROUP, 2
        self.seed = _count("seed", seed, 0)
        sizes = {"train": _count("n_train", n_train, 1), "val": _count("n_val", n_val, 1),
                 "test": _count("n_test", n_test, 1)}
        self._data: dict[str, TaskData] = {}
        for k, (split, n) in enumerate(sizes.items()):
            g = torch.Generator().manual_seed(self.seed + k)
            sides = torch.randint(0, 2, (n, self.n_cues), generator=g)
            labels = (2 * sides.sum(1) > self.n_cues).long()
            self._data[split] = TaskData(sides, labels)
        self.defaults = TaskDefaults(
            hidden=(100,), recurrent=True,
            neuron=ALIFParams(lif=LIFParams(tau_mem=20e-3, tau_syn=max(10e-3, self.dt)),
                              tau_adapt=min(2.0, max(0.2, self.n_steps * self.dt))),
            readout=LIParams(tau_mem=20e-3, tau_syn=max(10e-3, self.dt)), gain=1.0, epochs=20,
            batch_size=64, lr=0.02,
        )

    def split(self, split: Split) -> TaskData:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
        return self._data[split]

    def rates(self, inputs: Tensor) -> Tensor:
        """Spike probability per step ``[T, B, 40]`` of the trials with cue sides ``inputs``."""
        if (not isinstance(inputs, Tensor) or inputs.ndim != 2 or inputs.shape[1] != self.n_cues
                or inputs.is_floating_point()):
            shape = tuple(inputs.shape) if isinstance(inputs, Tensor) else type(inputs).__name__
            raise ValueError(f"EvidenceAccumulation inputs must be cue sides [B, {self.n_cues}] "
                             f"(ints 0 or 1), got {shape}")
        batch = inputs.shape[0]
        p = torch.zeros(self.n_steps, batch, 4, N_GROUP)
        on = self.cue_rate * self.dt
        for k in range(self.n_cues):
            start = k * (self.cue_steps + self.gap_steps)
            side = F.one_hot(inputs[:, k].long(), 2).float()  # [B, 2]: left, right
            p[start:start + self.cue_steps, :, :2] = on * side[None, :, :, None]
        p[self.recall_start:, :, 2] = on
        p[:, :, 3] = self.noise_rate * self.dt
        return p.reshape(self.n_steps, batch, self.n_in)

    def encode(self, inputs: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """Poisson spikes ``[T, B, 40]`` (float32) of the trials ``inputs [B, n_cues]``."""
        p = self.rates(inputs)
        return (torch.rand(p.shape, generator=generator) < p).float()

    def loss(self, outputs: Tensor, labels: Tensor) -> Tensor:
        """Cross-entropy of the readout membrane averaged over the recall window."""
        return F.cross_entropy(outputs[self.recall_start:].mean(0), labels)

    def predict(self, outputs: Tensor) -> Tensor:
        return outputs[self.recall_start:].mean(0).argmax(dim=-1)
