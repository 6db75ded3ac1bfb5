"""Per-neuron firing rates of each layer, sorted from high to low."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from snnlearn.plot.figure import colours, drawing

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["firing_rate_chart"]


def firing_rate_chart(rates: Mapping[str, Sequence[float]]) -> Figure:
    """Each layer's per-neuron firing rates (Hz), sorted from high to low, one line per layer.

    The x axis is the neuron's rank as a fraction of its layer (0 = the most active), so layers
    of different sizes share one chart; a flat line at 0 on the right shows silent neurons. A
    layer of one neuron is a single marker.

    Example:
        >>> fig = firing_rate_chart({"hidden 1": [10.0, 0.0, 5.0]})
        >>> fig.axes[0].lines[0].get_ydata().tolist()
        [10.0, 5.0, 0.0]
    """
    with drawing() as fig:
        ax = fig.subplots()
        top = 0.0
        for (name, values), colour in zip(rates.items(), colours(len(rates)), strict=True):
            ranked = sorted((float(r) for r in values), reverse=True)
            n = len(ranked)
            if not n:
                continue
            xs = [k / max(n - 1, 1) for k in range(n)]
            ax.plot(xs, ranked, color=colour, marker="o" if n == 1 else None,
                    label=f"{name} ({n} units, mean {sum(ranked) / n:.1f} Hz)")
            top = max(top, ranked[0])
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(0.0, 1.05 * top if top > 0 else 1.0)  # rates from 0: silence is visible
        ax.set_xlabel("neuron rank (fraction of the layer, 0 = most active)")
        ax.set_ylabel("firing rate (Hz)")
        ax.set_title("Firing rates per neuron")
        if ax.lines:
            ax.legend(loc="best", fontsize=7)
    return fig
