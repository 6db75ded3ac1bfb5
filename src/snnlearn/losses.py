"""Losses and regularisers on time-first spike and membrane sequences.

Every function takes sequences ``[T, B, ...]`` (time first) and, for classification, integer
labels ``[B]`` (int64, in ``0 .. C - 1``). Times are in seconds; ``dt`` is always explicit. The
cross-entropies go through :func:`torch.nn.functional.cross_entropy` (a ``logsumexp``), so they
stay finite for any finite logits, including silent networks. Losses are averaged over the
batch. An empty batch (``B = 0``) raises ``ValueError`` instead of returning NaN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "spike_count_cross_entropy", "max_membrane_cross_entropy", "mean_membrane_cross_entropy",
    "first_spike_times", "first_spike_time_loss", "van_rossum_filter", "van_rossum_distance",
    "spike_count", "activity_regularizer",
]


def _check_sequence(x: object, name: str, dims: str = "[T, B, C]", *, min_steps: int = 0) -> Tensor:
    """Validate a floating time-first tensor ``[T, B, N]`` with ``B >= 1`` and ``N >= 1``."""
    if not isinstance(x, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor {dims}, got {type(x).__name__}")
    if x.ndim != 3:
        raise ValueError(
            f"{name} must be time-first {dims} (3 dimensions), got {x.ndim} dimensions with "
            f"shape {tuple(x.shape)}; add a batch dimension with {name}.unsqueeze(1) if needed"
        )
    if not x.is_floating_point():
        raise ValueError(f"{name} must be floating point, got {x.dtype}; use {name}.float()")
    if x.shape[1] == 0:
        raise ValueError(f"empty batch: {name} has B = 0 samples (shape {tuple(x.shape)})")
    if x.shape[2] == 0:
        raise ValueError(f"{name} has no units in its last dimension (shape {tuple(x.shape)})")
    if x.shape[0] < min_steps:
        raise ValueError(f"{name} needs T >= {min_steps} time steps, got shape {tuple(x.shape)}")
    return x


def _check_labels(labels: object, batch: int, n_classes: int) -> Tensor:
    """Validate int64 labels ``[B]`` with values in ``0 .. n_classes - 1``."""
    if not isinstance(labels, Tensor):
        raise ValueError(f"labels must be a torch.Tensor [B] of int64, got {type(labels).__name__}")
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D [B] = [{batch}], got shape {tuple(labels.shape)}")
    if labels.dtype != torch.int64:
        raise ValueError(f"labels must be int64, got {labels.dtype}; convert with labels.long()")
    if labels.shape[0] != batch:
        raise ValueError(f"labels has {labels.shape[0]} entries but the batch size is B = {batch}")
    if bool(((labels < 0) | (labels >= n_classes)).any()):
        lo, hi = int(labels.min()), int(labels.max())
        raise ValueError(
            f"labels must lie in 0 .. {n_classes - 1} for C = {n_classes} output units, got "
            f"values in {lo} .. {hi}; check the readout size against the number of classes"
        )
    return labels


def _check_number(name: str, value: object, *, positive: bool = False, unit: str = "") -> float:
    """Return ``value`` as a float; it must be finite, and ``> 0`` (positive) or ``>= 0``."""
    bound = "> 0" if positive else ">= 0"
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            or value < 0 or (positive and value == 0)):
        raise ValueError(f"{name} must be a finite number {bound}{unit}, got {value!r}")
    return float(value)


def _check_layers(spikes: object) -> list[Tensor]:
    """Validate a non-empty sequence of ``[T, B, N_l]`` spike tensors with one batch size."""
    if isinstance(spikes, Tensor) or not isinstance(spikes, Sequence):
        raise ValueError(
            f"spikes must be a sequence of [T, B, N_l] tensors, one per layer (e.g. "
            f"rollout.spikes or [spikes]), got {type(spikes).__name__}"
        )
    if len(spikes) == 0:
        raise ValueError("spikes must contain at least one layer, got an empty sequence")
    layers = [_check_sequence(z, f"spikes[{i}]", "[T, B, N]") for i, z in enumerate(spikes)]
    batches = [z.shape[1] for z in layers]
    if len(set(batches)) != 1:
        raise ValueError(f"every layer must have the same batch size B, got {batches}")
    return layers


def _cross_entropy(logits: Tensor, labels: Tensor) -> Tensor:
    return F.cross_entropy(logits, _check_labels(labels, logits.shape[0], logits.shape[1]))


def spike_count_cross_entropy(spikes: Tensor, labels: Tensor, *, scale: float = 1.0) -> Tensor:
    r"""Cross-entropy of the output spike counts.

    .. math::

        \ell_b = s \sum_{t=0}^{T-1} z_{t,b}, \qquad
        L = -\frac{1}{B} \sum_b \log \mathrm{softmax}(\ell_b)_{y_b}

    Args:
        spikes: output spikes ``z`` (0/1, or surrogate spikes carrying gradients).
        labels: class indices ``y`` (int64).
        scale: logit gain ``s`` per spike (dimensionless, > 0).

    Shapes:
        ``spikes [T, B, C]``, ``labels [B]`` -> scalar.

    Returns:
        The batch-mean cross-entropy (nats). A silent output gives ``log C``.

    Raises:
        ValueError: ``spikes`` not a floating ``[T, B >= 1, C]`` tensor, labels of the wrong
            shape, dtype or range, or a non-positive ``scale``.

    Example:
        >>> import torch
        >>> spikes = torch.zeros(5, 1, 2); spikes[:3, 0, 0] = 1.0  # counts (3, 0)
        >>> spike_count_cross_entropy(spikes, torch.tensor([0]))  # log(1 + e^-3)
        tensor(0.0486)
    """
    _check_sequence(spikes, "spikes")
    scale = _check_number("scale", scale, positive=True)
    return _cross_entropy(scale * spikes.sum(dim=0), labels)


def max_membrane_cross_entropy(v: Tensor, labels: Tensor) -> Tensor:
    r"""Cross-entropy of the maximum over time of the readout membrane.

    .. math::

        \ell_{b,c} = \max_t v_{t,b,c}, \qquad
        L = -\frac{1}{B} \sum_b \log \mathrm{softmax}(\ell_b)_{y_b}

    The gradient reaches only the time step of the maximum (ties share it equally, as in
    :func:`torch.amax`).

    Args:
        v: readout membrane potential (dimensionless), e.g. of non-spiking leaky integrators.
        labels: class indices ``y`` (int64).

    Shapes:
        ``v [T, B, C]`` (``T >= 1``), ``labels [B]`` -> scalar.

    Returns:
        The batch-mean cross-entropy (nats).

    Raises:
        ValueError: ``v`` not a floating ``[T >= 1, B >= 1, C]`` tensor, or labels of the wrong
            shape, dtype or range.

    Example:
        >>> import torch
        >>> v = torch.tensor([[[0.0, 1.0]], [[2.0, 0.5]]])  # max over time: (2, 1)
        >>> max_membrane_cross_entropy(v, torch.tensor([0]))  # log(1 + e^-1)
        tensor(0.3133)

    References:
        Zenke, F. & Vogels, T. P. (2021). The remarkable robustness of surrogate gradient learning
        for instilling complex function in spiking neural networks. Neural Computation 33(4).
        doi:10.1162/neco_a_01367

        Cramer, B. et al. (2022). The Heidelberg spiking data sets for the systematic evaluation
        of spiking neural networks. IEEE TNNLS 33(7). doi:10.1109/TNNLS.2020.3044364
    """
    _check_sequence(v, "v", min_steps=1)
    return _cross_entropy(v.amax(dim=0), labels)


def mean_membrane_cross_entropy(v: Tensor, labels: Tensor) -> Tensor:
    r"""Cross-entropy of the time average of the readout membrane.

    .. math::

        \ell_{b,c} = \frac{1}{T} \sum_{t=0}^{T-1} v_{t,b,c}, \qquad
        L = -\frac{1}{B} \sum_b \log \mathrm{softmax}(\ell_b)_{y_b}

    Args:
        v: readout membrane potential (dimensionless).
        labels: class indices ``y`` (int64).

    Shapes:
        ``v [T, B, C]`` (``T >= 1``), ``labels [B]`` -> scalar.

    Returns:
        The batch-mean cross-entropy (nats).

    Raises:
        ValueError: ``v`` not a floating ``[T >= 1, B >= 1, C]`` tensor, or labels of the wrong
            shape, dtype or range.

    Example:
        >>> import torch
        >>> v = torch.tensor([[[0.0, 1.0]], [[2.0, 1.0]]])  # mean over time: (1, 1)
        >>> mean_membrane_cross_entropy(v, torch.tensor([1]))  # log 2
        tensor(0.6931)
    """
    _check_sequence(v, "v", min_steps=1)
    return _cross_entropy(v.mean(dim=0), labels)


def first_spike_times(spikes: Tensor, dt: float, *, t_max: float | None = None) -> Tensor:
    r"""Differentiable time of the first spike of every unit, in seconds.

    With step times :math:`t_k = k\,dt` (the first step is at ``t = 0``) and the survival
    probability :math:`S_k = \prod_{s<k} (1 - z_s)` (``S_0 = 1``):

    .. math::

        t^{first} = \sum_{k=0}^{T-1} t_k\, z_k\, S_k + t_{max}\, S_T

    For 0/1 spikes this is exactly the time of the first spike, or ``t_max`` for a silent unit.
    The expression is a polynomial in ``z``, so surrogate gradients flow through every spike up
    to and including the first: for binary spikes,
    :math:`\partial t^{first} / \partial z_j = t_j - t'_j` for ``j`` up to the first spike, where
    :math:`t'_j` is the first spike time with step ``j`` removed (``t_max`` if none), and ``0``
    after it.

    Args:
        spikes: spikes ``z`` in ``[0, 1]`` (0/1, or surrogate spikes carrying gradients).
        dt: simulation time step (s, > 0).
        t_max: time assigned to a unit that never fires (s); default ``T * dt``, one step after
            the last. Must be ``>= (T - 1) * dt`` so that silence is never earlier than a spike.

    Shapes:
        ``spikes [T, B, C]`` -> ``[B, C]``.

    Returns:
        First-spike times (s), dtype of ``spikes``.

    Raises:
        ValueError: ``spikes`` not a floating ``[T, B >= 1, C]`` tensor, a non-positive ``dt`` or
            a ``t_max`` before the last step.

    Example:
        >>> import torch
        >>> spikes = torch.tensor([[[0.0, 0.0]], [[1.0, 0.0]], [[1.0, 0.0]]])  # [T=3, B=1, C=2]
        >>> first_spike_times(spikes, dt=1e-3)
        tensor([[0.0010, 0.0030]])
    """
    _check_sequence(spikes, "spikes")
    dt = _check_number("dt", dt, positive=True, unit=" seconds")
    n_steps = spikes.shape[0]
    t_max = n_steps * dt if t_max is None else _check_number("t_max", t_max, unit=" seconds")
    if t_max < (n_steps - 1) * dt:
        raise ValueError(
            f"t_max must be >= the last step's time (T - 1) * dt = {(n_steps - 1) * dt!r} s, "
            f"got {t_max!r}; leave it as None for T * dt"
        )
    ones = spikes.new_ones((1, *spikes.shape[1:]))
    survival = torch.cumprod(torch.cat([ones, 1.0 - spikes]), dim=0)  # S_0 .. S_T
    times = torch.arange(n_steps, dtype=spikes.dtype, device=spikes.device) * dt
    return (times[:, None, None] * spikes * survival[:-1]).sum(dim=0) + t_max * survival[-1]


def first_spike_time_loss(
    spikes: Tensor, labels: Tensor, dt: float, *, tau: float = 5e-3, t_max: float | None = None,
    alpha: float = 0.0, tau_reg: float = 10e-3,
) -> Tensor:
    r"""Time-to-first-spike cross-entropy with a regulariser pulling the label unit early.

    With :math:`t_{b,c}` from :func:`first_spike_times`:

    .. math::

        L = \frac{1}{B} \sum_b \Big[ -\log \frac{e^{-t_{b,y_b}/\tau}}{\sum_c e^{-t_{b,c}/\tau}}
            + \alpha \big( e^{t_{b,y_b}/\tau_{reg}} - 1 \big) \Big]

    Args:
        spikes: output spikes ``z`` in ``[0, 1]`` (surrogate spikes carrying gradients).
        labels: class indices ``y`` (int64).
        dt: simulation time step (s, > 0).
        tau: softmax temperature :math:`\tau` (s, > 0); ``tau_0`` in Göltz et al.
        t_max: time assigned to a silent unit (s); see :func:`first_spike_times`.
        alpha: regulariser strength :math:`\alpha` (dimensionless, >= 0); ``0`` disables it.
        tau_reg: regulariser time constant :math:`\tau_{reg}` (s, > 0); ``tau_1`` in Göltz et al.
            ``exp(t_max / tau_reg)`` overflows float32 once ``t_max / tau_reg > 88``.

    Shapes:
        ``spikes [T, B, C]``, ``labels [B]`` -> scalar.

    Returns:
        The batch-mean loss (nats).

    Raises:
        ValueError: as :func:`first_spike_times`, labels of the wrong shape, dtype or range, or a
            non-positive ``tau``/``tau_reg`` or negative ``alpha``.

    Example:
        >>> import torch
        >>> spikes = torch.zeros(4, 1, 2); spikes[1, 0, 0] = 1.0  # t = (1 ms, silent = 4 ms)
        >>> first_spike_time_loss(spikes, torch.tensor([0]), 1e-3, tau=1e-3)  # log(1 + e^-3)
        tensor(0.0486)

    References:
        Göltz, J. et al. (2021). Fast and energy-efficient neuromorphic deep learning with
        first-spike times. Nature Machine Intelligence 3, 823-835.
        doi:10.1038/s42256-021-00388-x
    """
    tau = _check_number("tau", tau, positive=True, unit=" seconds")
    alpha = _check_number("alpha", alpha)
    tau_reg = _check_number("tau_reg", tau_reg, positive=True, unit=" seconds")
    t_first = first_spike_times(spikes, dt, t_max=t_max)
    loss = _cross_entropy(-t_first / tau, labels)
    if alpha > 0:
        t_label = t_first.gather(1, labels[:, None]).squeeze(1)
        loss = loss + alpha * torch.expm1(t_label / tau_reg).mean()
    return loss


def van_rossum_filter(spikes: Tensor, dt: float, *, tau: float = 10e-3) -> Tensor:
    r"""Filter spike trains with the causal exponential kernel :math:`e^{-t/\tau}`.

    Exact discretisation of :math:`\tau \dot f = -f + \tau \sum_k \delta(t - t_k)` (a unit jump
    per spike), starting from :math:`f_{-1} = 0`:

    .. math::

        f_t = e^{-dt/\tau} f_{t-1} + z_t

    Args:
        spikes: spike trains ``z`` (0/1, or surrogate spikes carrying gradients).
        dt: simulation time step (s, > 0).
        tau: kernel time constant :math:`\tau` (s, > 0).

    Shapes:
        ``spikes [T, B, N]`` -> ``[T, B, N]``.

    Returns:
        The filtered traces ``f`` (dimensionless, a single spike contributes 1 at its step).

    Raises:
        ValueError: ``spikes`` not a floating ``[T, B >= 1, N]`` tensor, or a non-positive ``dt``
            or ``tau``.

    Example:
        >>> import torch
        >>> spikes = torch.tensor([1.0, 0.0, 1.0]).reshape(3, 1, 1)
        >>> van_rossum_filter(spikes, dt=1e-3, tau=1e-3 / math.log(2)).flatten()  # decay 1/2
        tensor([1.0000, 0.5000, 1.2500])

    References:
        van Rossum, M. C. W. (2001). A novel spike distance. Neural Computation 13(4).
        doi:10.1162/089976601300014321
    """
    _check_sequence(spikes, "spikes", "[T, B, N]")
    dt = _check_number("dt", dt, positive=True, unit=" seconds")
    tau = _check_number("tau", tau, positive=True, unit=" seconds")
    decay = math.exp(-dt / tau)
    traces, trace = [], spikes.new_zeros(spikes.shape[1:])
    for z_t in spikes:
        trace = decay * trace + z_t
        traces.append(trace)
    return torch.stack(traces) if traces else spikes.new_zeros(spikes.shape)


def van_rossum_distance(spikes: Tensor, target: Tensor, dt: float, *, tau: float = 10e-3) -> Tensor:
    r"""Squared van Rossum distance between spike trains, summed over units, batch-averaged.

    With ``f`` and ``g`` the :func:`van_rossum_filter` traces of ``spikes`` and ``target``:

    .. math::

        D^2 = \frac{1}{B} \sum_b \frac{dt}{\tau} \sum_{t=0}^{T-1} \sum_n (f_{t,b,n} - g_{t,b,n})^2

    This is the rectangle-rule sum of van Rossum's :math:`\frac{1}{\tau}\int (f - g)^2 dt` over the
    simulated window (no tail after ``T``). It is the *squared* distance: its square root has an
    infinite gradient at ``D = 0``. In the continuum limit (``dt << tau``, window long enough),
    one spike against none gives ``1/2`` and single spikes at ``t_1``, ``t_2`` give
    :math:`1 - e^{-|t_1 - t_2|/\tau}`.

    Args:
        spikes: spike trains (0/1, or surrogate spikes carrying gradients).
        target: target spike trains, same shape.
        dt: simulation time step (s, > 0).
        tau: kernel time constant :math:`\tau` (s, > 0).

    Shapes:
        ``spikes [T, B, N]``, ``target [T, B, N]`` -> scalar.

    Returns:
        :math:`D^2` (dimensionless), ``0`` for identical trains.

    Raises:
        ValueError: as :func:`van_rossum_filter` for either argument, or shapes that differ.

    Example:
        >>> import torch
        >>> a = torch.zeros(4, 1, 1); a[0] = 1.0
        >>> van_rossum_distance(a, torch.zeros_like(a), dt=1e-3, tau=1e-3)  # 1 + e^-2 + e^-4 + e^-6
        tensor(1.1561)

    References:
        van Rossum, M. C. W. (2001). A novel spike distance. Neural Computation 13(4).
        doi:10.1162/089976601300014321
    """
    _check_sequence(spikes, "spikes", "[T, B, N]")
    _check_sequence(target, "target", "[T, B, N]")
    if spikes.shape != target.shape:
        raise ValueError(
            f"spikes and target must have the same shape [T, B, N], got {tuple(spikes.shape)} "
            f"and {tuple(target.shape)}"
        )
    diff = van_rossum_filter(spikes - target, dt, tau=tau)  # the filter is linear
    return (dt / tau) * diff.square().sum(dim=(0, 2)).mean()


def spike_count(spikes: Sequence[Tensor]) -> Tensor:
    r"""Total number of spikes per sample over all layers, units and time steps.

    .. math::

        n_b = \sum_l \sum_t \sum_n z^{(l)}_{t,b,n}

    Args:
        spikes: one spike tensor per layer, e.g. ``rollout.spikes``.

    Shapes:
        ``spikes[l] [T, B, N_l]`` -> ``[B]``.

    Returns:
        Spike counts per sample (dtype of the spikes; differentiable).

    Raises:
        ValueError: not a sequence of tensors (a bare tensor included), no layers, a layer of the
            wrong shape or dtype, an empty batch, or layers with different batch sizes.

    Example:
        >>> import torch
        >>> spike_count([torch.ones(3, 2, 4), torch.zeros(3, 2, 1)])
        tensor([12., 12.])
    """
    layers = _check_layers(spikes)
    return torch.stack([z.sum(dim=(0, 2)) for z in layers]).sum(dim=0)


def activity_regularizer(
    spikes: Sequence[Tensor], *, lower: float = 0.0, upper: float = 0.0,
    strength_lower: float = 0.0, strength_upper: float = 1e-6,
) -> Tensor:
    r"""Spike-count regulariser: a per-unit floor and a population ceiling, summed over layers.

    For layer ``l`` with counts :math:`c_{b,n} = \sum_t z_{t,b,n}`:

    .. math::

        R = \sum_l \Big[ \lambda_{lo} \frac{1}{N_l} \sum_n
            \mathrm{relu}\Big(\theta_{lo} - \frac{1}{B}\sum_b c_{b,n}\Big)^2
          + \lambda_{up} \frac{1}{B} \sum_b
            \mathrm{relu}\Big(\frac{1}{N_l}\sum_n c_{b,n} - \theta_{up}\Big)^2 \Big]

    The first term revives units whose batch-mean count is below :math:`\theta_{lo}` (silent
    units); the second curbs samples whose mean count per unit exceeds :math:`\theta_{up}`. The
    defaults (``upper = 0``, ``strength_upper = 1e-6``, no floor) are a weak quadratic penalty
    on all activity. Both terms are zero inside the band.

    Args:
        spikes: one spike tensor per layer (surrogate spikes carrying gradients).
        lower: :math:`\theta_{lo}`, spikes per unit per sample (>= 0).
        upper: :math:`\theta_{up}`, mean spikes per unit per sample (>= 0).
        strength_lower: :math:`\lambda_{lo}` (>= 0).
        strength_upper: :math:`\lambda_{up}` (>= 0).

    Shapes:
        ``spikes[l] [T, B, N_l]`` -> scalar.

    Returns:
        :math:`R` (dtype of the spikes; differentiable).

    Raises:
        ValueError: as :func:`spike_count`, or a negative or non-finite threshold or strength.

    Example:
        >>> import torch
        >>> z = torch.zeros(10, 1, 2); z[:4, 0, 0] = 1.0  # counts (4, 0): unit 1 is silent
        >>> activity_regularizer([z], lower=1.0, upper=1.0, strength_lower=1.0, strength_upper=1.0)
        tensor(1.5000)

    References:
        Zenke, F. & Vogels, T. P. (2021). The remarkable robustness of surrogate gradient learning
        for instilling complex function in spiking neural networks. Neural Computation 33(4).
        doi:10.1162/neco_a_01367
    """
    layers = _check_layers(spikes)
    lower = _check_number("lower", lower)
    upper = _check_number("upper", upper)
    strength_lower = _check_number("strength_lower", strength_lower)
    strength_upper = _check_number("strength_upper", strength_upper)
    total = layers[0].new_zeros(())
    for z in layers:
        counts = z.sum(dim=0)  # [B, N]
        floor = F.relu(lower - counts.mean(dim=0)).square().mean()
        ceiling = F.relu(counts.mean(dim=1) - upper).square().mean()
        total = total + strength_lower * floor + strength_upper * ceiling
    return total
