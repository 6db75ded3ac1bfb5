"""Spike rasters: one tick per spike, time across, neurons down, one panel per layer.

The layers of one sample are stacked top to bottom (input first), each in a panel whose height
grows with its size, labelled with its name and number of units, so a raster shows at a glance
which layers are silent or saturated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from snnlearn.plot.figure import colours, drawing

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["spike_raster"]

_MIN_SHARE = 0.12  # the smallest panel's share of the height: a small input stays readable


def _as_matrix(spikes: Tensor, name: str) -> Tensor:
    if not isinstance(spikes, Tensor) or spikes.ndim != 2:
        shape = tuple(spikes.shape) if isinstance(spikes, Tensor) else type(spikes).__name__
        raise ValueError(f"raster layer {name!r} must be a [T, N] tensor of one sample's spikes "
                         f"(index the batch first, e.g. z[:, 0]), got {shape}")
    return spikes.detach().to("cpu", torch.float32)


def _tick_area(panel_points: float, n: int) -> float:
    """The marker area (points²) of a tick as tall as one row of ``n`` in the panel, 2.5-8 pt
    (a tick may cover a few rows of a large layer, never shrink to a dot)."""
    return max(2.5, min(8.0, 0.8 * panel_points / max(n, 1))) ** 2


def spike_raster(layers: Sequence[tuple[str, Tensor]], *, dt: float,
                 title: str = "Spike raster") -> Figure:
    """A raster of one sample: a vertical tick at ``((t + 1) dt, n)`` for each ``z[t, n] > 0``.

    Args:
        layers: ``(name, spikes)`` pairs, spikes ``[T, N]`` of one sample (0 or 1), top first;
            all with the same ``T``.
        dt: the time step (s); the axis is in ms and spans ``[0, T dt]``.
        title: the figure title.

    Returns:
        A matplotlib figure with one axes per layer, in order; a layer's spikes are the offsets
        of its axes' one collection (a silent layer has none).

    Raises:
        ValueError: no layers, a layer that is not ``[T, N]``, different ``T``, or ``dt <= 0``.

    Example:
        >>> z = torch.zeros(10, 3); z[2, 0] = z[5, 2] = 1.0
        >>> fig = spike_raster([("hidden", z)], dt=1e-3)
        >>> fig.axes[0].collections[0].get_offsets().tolist()  # (ms, neuron)
        [[3.0, 0.0], [6.0, 2.0]]
    """
    if not layers:
        raise ValueError("spike_raster needs at least one (name, [T, N] spikes) layer, got none")
    if not dt > 0:
        raise ValueError(f"dt must be > 0 seconds, got {dt!r}")
    mats = [(name, _as_matrix(z, name)) for name, z in layers]
    steps = {m.shape[0] for _, m in mats}
    if len(steps) != 1:
        raise ValueError(f"every raster layer needs the same number of time steps, got "
                         f"{[(name, m.shape[0]) for name, m in mats]}")
    n_steps = steps.pop()
    sizes = [max(m.shape[1], 1) for _, m in mats]
    shares = [max(n / sum(sizes), _MIN_SHARE) for n in sizes]
    t_end = n_steps * dt * 1e3
    height = 1.2 + 3.0 * min(sum(shares), 1.5)  # inches
    with drawing(6.0, height) as fig:
        axes = fig.subplots(len(mats), 1, sharex=True, squeeze=False,
                            gridspec_kw={"height_ratios": shares})[:, 0]
        for ax, (name, m), share, colour in zip(axes, mats, shares, colours(len(mats)),
                                                strict=True):
            n = m.shape[1]
            idx = torch.nonzero(m > 0)
            if len(idx):
                ax.scatter(((idx[:, 0] + 1) * dt * 1e3).tolist(), idx[:, 1].tolist(),
                           marker="|", s=_tick_area(72 * (height - 1.2) * share / sum(shares), n),
                           linewidths=1.0, color=colour)
            ax.set_ylim(n - 0.5, -0.5)  # neuron 0 at the top
            ax.set_ylabel(f"{name}\n({n} units)")
            ax.grid(False)
            ax.text(1.0, 1.0, f"{len(idx)} spikes", transform=ax.transAxes, ha="right",
                    va="bottom", fontsize=7, color="#666")
        axes[-1].set_xlim(0.0, t_end)
        axes[-1].set_xlabel("time (ms)")
        fig.suptitle(title)
    return fig
