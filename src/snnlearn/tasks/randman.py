"""The Randman task (Zenke & Vogels 2021): points on random smooth manifolds, coded in spike timing.

Each class is ``n_spikes`` random smooth manifolds of dimension ``D = manifold_dim`` embedded in
``n_units`` dimensions. Unit ``i`` of one manifold at the latent point ``x \\in [0, 1]^D`` takes
the value

.. math::

    y_i(x) = \\prod_{d=1}^{D} f_{i,d}(x_d), \\qquad
    f_{i,d}(x) = \\sum_{k=0}^{K-1} \\theta_{0,k}\\, s_k
        \\sin\\big(2\\pi (k\\, x\\, \\theta_{1,k} + \\theta_{2,k})\\big), \\qquad
    s_k = \\frac{1}{(k+1)^{\\alpha}},

with ``K = min(ceil(prec^{-1/alpha}), 1000)`` frequencies (``K = 32`` for ``alpha = 2``,
``prec = 1e-3``) and every ``theta ~ U[0, 1)`` drawn independently per unit, dimension and
frequency, except that the constant term is dropped (``theta_{0,0} = 0``, the reference's
``use_bias=False``). For every class, ``n_samples_per_class`` latent points ``x ~ U[0, 1]^D`` are
drawn; each unit is min-max standardised over those samples to ``u \\in [0, 1]``, and ``u`` sets the
time of that unit's single spike on that manifold:

.. math::  t = u\\, (n_{active} - 1)\\, dt, \\qquad n_{active} = \\max(1, \\mathrm{round}(n_{steps}
    \\cdot \\mathrm{step\\_frac})),

so that rounding ``t / dt`` gives a step in ``0 .. n_active - 1``. Every unit therefore spikes
exactly ``n_spikes`` times per sample, and all the class information is in the timing. The raw
inputs are these continuous spike times in seconds, ``[N, n_spikes, n_units]``; :meth:`encode`
rounds them to the grid ``dt`` (a bin may then hold a count of 2 or more when ``n_spikes > 1`` and
two spikes of a unit coincide, as in the reference's summed sparse raster).

Splits: the samples of each class are shuffled and split 4 : 1 : 1 into train / validation / test
(``n_val = n_test = n_samples_per_class // 6`` per class, the rest for training); the default of
300 samples per class gives 200 / 50 / 50 per class, i.e. 2000 / 500 / 500 samples for 10 classes.
Each split is then shuffled across classes. Everything is drawn from local NumPy generators
spawned from ``seed`` (manifolds, latent points and splits each get their own stream, so changing
the number of samples keeps the manifolds); no global random state is touched.

References:
    Zenke, F. & Vogels, T. P. (2021). The remarkable robustness of surrogate gradient learning for
    instilling complex function in spiking neural networks. Neural Computation 33(4), 899-925.
    doi:10.1162/neco_a_01367
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch
from torch import Tensor

from snnlearn.encoders import times_to_spikes
from snnlearn.losses import max_membrane_cross_entropy
from snnlearn.neurons import LIFParams, LIParams
from snnlearn.neurons._checks import check_dt
from snnlearn.tasks.base import SPLITS, Split, Task, TaskData, TaskDefaults

__all__ = ["Randman", "randman_draw", "randman_eval", "randman_cutoff"]

_MAX_CUTOFF = 1000


def randman_cutoff(alpha: float, prec: float = 1e-3) -> int:
    """Number of frequencies ``K = min(ceil(prec^(-1/alpha)), 1000)`` of a manifold.

    Example:
        >>> randman_cutoff(2.0)
        32
    """
    return min(int(math.ceil(prec ** (-1.0 / alpha) - 1e-9)), _MAX_CUTOFF)


def randman_draw(
    n_units: int, manifold_dim: int, *, alpha: float = 2.0, prec: float = 1e-3,
    generator: np.random.Generator,
) -> np.ndarray:
    """Draw the parameters ``theta ~ U[0, 1)`` of one random manifold (constant term dropped).

    Args:
        n_units: embedding dimension (number of units).
        manifold_dim: intrinsic dimension ``D``.
        alpha: spectral decay exponent (> 0); larger is smoother.
        prec: precision that sets the number of frequencies (see :func:`randman_cutoff`).
        generator: the local NumPy generator to draw from.

    Shapes:
        returns ``[n_units, manifold_dim, 3, K]``: ``theta_0`` (amplitude), ``theta_1``
        (frequency scale) and ``theta_2`` (phase) for each unit, dimension and frequency ``k``.

    Example:
        >>> import numpy as np
        >>> p = randman_draw(5, 2, generator=np.random.default_rng(0))
        >>> p.shape, float(p[:, :, 0, 0].max())
        ((5, 2, 3, 32), 0.0)
    """
    params = generator.random((n_units, manifold_dim, 3, randman_cutoff(alpha, prec)))
    params[:, :, 0, 0] = 0.0
    return params


def randman_eval(params: np.ndarray, x: np.ndarray, *, alpha: float = 2.0) -> np.ndarray:
    """Evaluate a manifold at latent points: ``y_i(x) = prod_d f_{i,d}(x_d)`` (module equation).

    Args:
        params: manifold parameters ``[n_units, D, 3, K]`` from :func:`randman_draw`.
        x: latent points ``[S, D]`` (dimensionless, normally in ``[0, 1]``).
        alpha: spectral decay exponent; must match the one used to draw ``params``.

    Shapes:
        ``params [U, D, 3, K], x [S, D] -> [S, U]``.

    Example:
        >>> import numpy as np
        >>> p = randman_draw(4, 1, generator=np.random.default_rng(0))
        >>> randman_eval(p, np.zeros((3, 1))).shape
        (3, 4)
    """
    k = np.arange(params.shape[-1], dtype=np.float64)
    spectrum = 1.0 / (k + 1.0) ** alpha
    amp, freq, phase = params[:, :, 0], params[:, :, 1], params[:, :, 2]  # [U, D, K] each
    arg = k * x[:, None, :, None] * freq + phase  # [S, U, D, K]
    f = (amp * spectrum * np.sin(2.0 * np.pi * arg)).sum(axis=-1)  # [S, U, D]
    return f.prod(axis=-1)


def _standardise(y: np.ndarray) -> np.ndarray:
    """Min-max scale each column of ``y [S, U]`` to ``[0, 1]`` (a constant column maps to 0)."""
    lo, hi = y.min(axis=0), y.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return np.clip((y - lo) / span, 0.0, 1.0)


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"Randman.{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _check_positive(name: str, value: object, upper: float = math.inf) -> float:
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not (0 < float(value) <= upper)):
        bound = f"in (0, {upper}]" if math.isfinite(upper) else "a finite number > 0"
        raise ValueError(f"Randman.{name} must be {bound}, got {value!r}")
    return float(value)


class Randman(Task):
    """Randman: ``n_classes`` random smooth manifolds, one spike per unit, information in timing.

    See the module docstring for the generative equations, the spike-time mapping and the splits.

    Args:
        n_classes: number of classes (>= 2), i.e. of independent manifold sets.
        n_units: input channels (embedding dimension, >= 1).
        n_steps: time steps ``T`` of one sample (>= 1).
        dt: time step (s, > 0).
        manifold_dim: intrinsic dimension ``D`` of each manifold (>= 1); larger is harder.
        alpha: spectral decay exponent (> 0); smaller gives rougher manifolds, a harder task.
        n_spikes: manifolds (and so spikes per unit) per class (>= 1).
        n_samples_per_class: samples drawn per class (>= 6), split 4 : 1 : 1.
        step_frac: fraction of the ``n_steps`` over which the spikes are spread, in ``(0, 1]``.
        seed: seed of the local NumPy generators (int >= 0).

    Shapes:
        raw inputs: spike times ``[N, n_spikes, n_units]`` (s); encoded: ``[n_steps, B, n_units]``.

    Raises:
        ValueError: a size, time or exponent out of range.

    Example:
        >>> task = Randman(n_classes=3, n_units=8, n_steps=20, n_samples_per_class=12)
        >>> [len(task.split(s)) for s in ("train", "val", "test")]
        [24, 6, 6]
        >>> x = task.encode(task.split("train").inputs[:5])
        >>> tuple(x.shape), x.sum(dim=0).unique().tolist()
        ((20, 5, 8), [1.0])

    References:
        Zenke, F. & Vogels, T. P. (2021). Neural Computation 33(4). doi:10.1162/neco_a_01367
    """

    name = "randman"

    def __init__(
        self, *, n_classes: int = 10, n_units: int = 100, n_steps: int = 100, dt: float = 1e-3,
        manifold_dim: int = 1, alpha: float = 2.0, n_spikes: int = 1,
        n_samples_per_class: int = 300, step_frac: float = 1.0, seed: int = 0,
    ) -> None:
        self.n_out = _check_int("n_classes", n_classes, 2)
        self.n_in = _check_int("n_units", n_units, 1)
        self.n_steps = _check_int("n_steps", n_steps, 1)
        self.dt = check_dt(dt)
        self.manifold_dim = _check_int("manifold_dim", manifold_dim, 1)
        self.alpha = _check_positive("alpha", alpha)
        self.n_spikes = _check_int("n_spikes", n_spikes, 1)
        self.n_samples_per_class = _check_int("n_samples_per_class", n_samples_per_class, 6)
        self.step_frac = _check_positive("step_frac", step_frac, 1.0)
        self.seed = _check_int("seed", seed, 0)
        n_active = max(1, round(self.n_steps * self.step_frac))
        self.t_span = (n_active - 1) * self.dt
        self.defaults = TaskDefaults(
            hidden=(128,), neuron=LIFParams(tau_mem=20e-3, tau_syn=10e-3),
            readout=LIParams(tau_mem=20e-3, tau_syn=10e-3), gain=5.25, epochs=10,
            batch_size=64, lr=5e-3,
        )
        self._data = self._generate()

    def _generate(self) -> dict[str, TaskData]:
        man_seq, x_seq, split_seq = np.random.SeedSequence(self.seed).spawn(3)
        man_rng, x_rng = np.random.default_rng(man_seq), np.random.default_rng(x_seq)
        split_rng = np.random.default_rng(split_seq)
        n = self.n_samples_per_class
        n_hold = n // 6
        bounds = {"train": (0, n - 2 * n_hold), "val": (n - 2 * n_hold, n - n_hold),
                  "test": (n - n_hold, n)}
        parts: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {s: [] for s in SPLITS}
        for c in range(self.n_out):
            manifolds = [randman_draw(self.n_in, self.manifold_dim, alpha=self.alpha,
                                      generator=man_rng) for _ in range(self.n_spikes)]
            x = x_rng.random((n, self.manifold_dim))
            u = np.stack([_standardise(randman_eval(p, x, alpha=self.alpha))
                          for p in manifolds], axis=1)  # [n, n_spikes, n_units]
            order = split_rng.permutation(n)
            for split, (lo, hi) in bounds.items():
                idx = order[lo:hi]
                parts[split].append((u[idx] * self.t_span, np.full(idx.size, c)))
        data = {}
        for split in SPLITS:
            times = np.concatenate([t for t, _ in parts[split]])
            labels = np.concatenate([y for _, y in parts[split]])
            perm = split_rng.permutation(labels.size)
            data[split] = TaskData(torch.from_numpy(times[perm]).float(),
                                   torch.from_numpy(labels[perm]).long())
        return data

    def split(self, split: Split) -> TaskData:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
        return self._data[split]

    def encode(self, inputs: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """Round spike times ``[B, n_spikes, n_units]`` (s) to a raster ``[T, B, n_units]``.

        Deterministic: ``generator`` is accepted for the common interface and unused.
        """
        if inputs.ndim != 3 or tuple(inputs.shape[1:]) != (self.n_spikes, self.n_in):
            raise ValueError(
                f"Randman inputs must be spike times [B, n_spikes, n_units] = "
                f"[B, {self.n_spikes}, {self.n_in}], got {tuple(inputs.shape)}"
            )
        batch = inputs.shape[0]
        flat = inputs.reshape(batch, self.n_spikes * self.n_in).float()
        raster = times_to_spikes(flat, self.n_steps, self.dt)
        return raster.reshape(self.n_steps, batch, self.n_spikes, self.n_in).sum(dim=2)

    def loss(self, outputs: Tensor, labels: Tensor) -> Tensor:
        return max_membrane_cross_entropy(outputs, labels)

    def predict(self, outputs: Tensor) -> Tensor:
        return outputs.amax(dim=0).argmax(dim=-1)
