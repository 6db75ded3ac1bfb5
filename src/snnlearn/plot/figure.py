"""Figures with matplotlib (the optional ``plot`` extra): creation, axes conventions, output.

matplotlib is imported only when a figure is made, so that training, ``snnlearn compare`` and
``import snnlearn`` work without it. Figures are :class:`matplotlib.figure.Figure` objects made
without ``pyplot`` (no global figure manager, no GUI backend), in the house conventions:

- accuracies are in percent, on every axis and in every table;
- epoch axes tick at integers only;
- axis ranges are honest: a bar starts at 0, an accuracy axis that does not span 0-100 % spans
  at least :data:`MIN_PERCENT_SPAN` points and its range is written in the panel, so a gap of one
  point is never stretched over the whole panel.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["PlotDependencyError", "INSTALL_HINT", "MIN_PERCENT_SPAN", "FORMATS", "drawing",
           "integer_epochs", "percent_axis", "mean_sd", "colours", "figure_svg", "save_figure"]

INSTALL_HINT = "figures need matplotlib: pip install 'snnlearn[plot]'"
"""The one line shown (or raised) where a figure cannot be drawn without matplotlib."""

MIN_PERCENT_SPAN = 10.0
"""Percentage points an accuracy axis spans at least."""

FORMATS = ("png", "pdf")
"""The file formats :func:`save_figure` writes by default (PNG to view, PDF for papers)."""

_RC = {"svg.fonttype": "none", "svg.hashsalt": "snnlearn", "font.size": 9.0,
       "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
       "grid.color": "#e6e6e6", "axes.axisbelow": True, "legend.frameon": False}


class PlotDependencyError(ImportError):
    """matplotlib is not installed; the message says how to install it."""


def _require() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise PlotDependencyError(INSTALL_HINT) from None


@contextmanager
def drawing(width: float = 5.2, height: float = 3.2) -> Iterator[Figure]:
    """A new ``width`` x ``height`` inch figure (constrained layout), drawn in the house style.

    Axes and artists made inside the ``with`` block get the house rc settings.

    Raises:
        PlotDependencyError: matplotlib is not installed.
    """
    _require()
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_RC):
        yield Figure(figsize=(width, height), dpi=100, layout="constrained")


def integer_epochs(ax: Axes, epochs: Iterable[float]) -> None:
    """Label ``ax``'s x axis "epoch", tick it at integers only and fit it to ``epochs``."""
    from matplotlib.ticker import MaxNLocator

    values = [float(e) for e in epochs]
    lo, hi = (min(values), max(values)) if values else (1.0, 1.0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.set_xlim(lo - 0.5 if hi == lo else lo - 0.02 * (hi - lo),
                hi + 0.5 if hi == lo else hi + 0.02 * (hi - lo))
    ax.set_xlabel("epoch")


def percent_axis(ax: Axes, values: Iterable[float], *, label: str,
                 from_zero: bool = False) -> tuple[float, float]:
    """Set ``ax``'s y axis to a percent range that holds ``values`` (in %) and return it.

    With ``from_zero`` (bars) the axis is 0-100 %. Otherwise it spans at least
    :data:`MIN_PERCENT_SPAN` points (and the values' range plus one point each side), on multiples
    of 5 within 0-100; a range narrower than 0-100 % is written in the panel's corner.

    Example:
        >>> with drawing() as fig:
        ...     percent_axis(fig.subplots(), [95.1, 96.3], label="accuracy (%)")
        (90.0, 100.0)
    """
    finite = [v for v in values if math.isfinite(v)]
    if from_zero or not finite:
        lo, hi = 0.0, 100.0
    else:
        span = max(max(finite) - min(finite) + 2.0, MIN_PERCENT_SPAN)  # 1 point clear
        mid = (max(finite) + min(finite)) / 2
        lo = min(max(mid - span / 2, 0.0), 100.0 - span)
        hi = lo + span
        lo, hi = float(max(5 * math.floor(lo / 5), 0)), float(min(5 * math.ceil(hi / 5), 100))
    ax.set_ylim(lo, hi)
    ax.set_ylabel(label)
    if (lo, hi) != (0.0, 100.0):
        ax.text(0.99, 0.02, f"axis {lo:g}-{hi:g} %", transform=ax.transAxes, ha="right",
                va="bottom", fontsize=7, color="#666")
    return lo, hi


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """The mean and sample standard deviation (0 for a single value) of ``values``.

    Example:
        >>> mean_sd([1.0, 3.0])
        (2.0, 1.4142135623730951)
    """
    if not values:
        raise ValueError("mean_sd needs at least one value, got none")
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return mean, sd


def colours(n: int) -> list[tuple[float, float, float, float]]:
    """``n`` distinguishable colours: tab10 up to 10, tab20 up to 20, then viridis."""
    _require()
    from matplotlib import colormaps

    if n <= 10:
        return [colormaps["tab10"](k) for k in range(n)]
    if n <= 20:
        return [colormaps["tab20"](k) for k in range(n)]
    return [colormaps["viridis"](k / max(n - 1, 1)) for k in range(n)]


def figure_svg(fig: Figure) -> str:
    """The figure as an inline ``<svg>`` element (text kept as text), for an HTML page."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context(_RC):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    return text[text.index("<svg"):].strip()


def save_figure(fig: Figure, stem: str | Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Write ``fig`` to ``stem.<format>`` for each of ``formats``; return the paths.

    PNG at 200 dpi; PDF and SVG are vector files. The files carry no creation date, so the same
    figure writes the same bytes.
    """
    import matplotlib

    stem = Path(stem)
    paths = []
    metadata = {"png": {"Software": None}, "pdf": {"CreationDate": None},
                "svg": {"Date": None}}
    with matplotlib.rc_context(_RC):
        for fmt in formats:
            path = stem.with_name(f"{stem.name}.{fmt}")
            fig.savefig(path, format=fmt, dpi=200, metadata=metadata.get(fmt))
            paths.append(path)
    return paths
