"""Dependency-free SVG charts (line and scatter) for reports that must render anywhere.

Every function returns a self-contained ``<svg>`` string; values are escaped, axes get "nice"
ticks, and each series has its own colour and a legend entry.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

__all__ = ["line_chart", "scatter_chart", "nice_ticks"]

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
_W, _H = 520, 320
_LEFT, _RIGHT, _TOP, _BOTTOM = 60, 150, 34, 46

Points = Sequence[tuple[float, float]]


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` evenly spaced round tick values covering ``[lo, hi]``.

    Example:
        >>> nice_ticks(0.0, 1.0)
        [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
        >>> nice_ticks(0.31, 0.98)
        [0.2, 0.4, 0.6, 0.8, 1.0]
    """
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"tick range must be finite, got [{lo}, {hi}]")
    if hi <= lo:  # a single value: centre it in a small range
        pad = 0.05 * abs(lo) or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    digits = max(0, 1 - math.floor(math.log10(step)))
    tick = math.floor(lo / step) * step
    ticks = [round(tick, digits)]
    while ticks[-1] < hi - 1e-9 * step:
        tick += step
        ticks.append(round(tick, digits))
    return ticks


def _frame(series: Mapping[str, Points], title: str, xlabel: str, ylabel: str,
           marks: str) -> str:
    xs = [x for pts in series.values() for x, _ in pts if math.isfinite(x)]
    ys = [y for pts in series.values() for _, y in pts if math.isfinite(y)]
    xt = nice_ticks(min(xs, default=0.0), max(xs, default=1.0))
    yt = nice_ticks(min(ys, default=0.0), max(ys, default=1.0))
    x0, x1, y0, y1 = xt[0], xt[-1], yt[0], yt[-1]
    pw, ph = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    def sx(x: float) -> float:
        return _LEFT + (x - x0) / ((x1 - x0) or 1.0) * pw

    def sy(y: float) -> float:
        return _TOP + ph - (y - y0) / ((y1 - y0) or 1.0) * ph

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" '
           f'viewBox="0 0 {_W} {_H}" font-family="sans-serif" font-size="11">',
           f'<rect width="{_W}" height="{_H}" fill="white"/>',
           f'<text x="{_W / 2:.0f}" y="18" text-anchor="middle" font-size="13">'
           f'{escape(title)}</text>']
    for x in xt:
        out.append(f'<line x1="{sx(x):.1f}" y1="{_TOP}" x2="{sx(x):.1f}" y2="{_TOP + ph}" '
                   'stroke="#eee"/>')
        out.append(f'<text x="{sx(x):.1f}" y="{_TOP + ph + 14}" text-anchor="middle">'
                   f'{x:g}</text>')
    for y in yt:
        out.append(f'<line x1="{_LEFT}" y1="{sy(y):.1f}" x2="{_LEFT + pw}" y2="{sy(y):.1f}" '
                   'stroke="#eee"/>')
        out.append(f'<text x="{_LEFT - 6}" y="{sy(y) + 4:.1f}" text-anchor="end">{y:.4g}</text>')
    out.append(f'<rect x="{_LEFT}" y="{_TOP}" width="{pw}" height="{ph}" fill="none" '
               'stroke="#444"/>')
    out.append(f'<text x="{_LEFT + pw / 2:.0f}" y="{_H - 10}" text-anchor="middle">'
               f'{escape(xlabel)}</text>')
    out.append(f'<text x="14" y="{_TOP + ph / 2:.0f}" text-anchor="middle" '
               f'transform="rotate(-90 14 {_TOP + ph / 2:.0f})">{escape(ylabel)}</text>')
    for k, (name, pts) in enumerate(series.items()):
        colour = PALETTE[k % len(PALETTE)]
        coords = [(sx(x), sy(y)) for x, y in pts if math.isfinite(x) and math.isfinite(y)]
        if marks == "line" and len(coords) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                       'stroke-width="2"/>')
        for x, y in coords if marks == "scatter" or len(coords) == 1 else []:
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}"/>')
        ly = _TOP + 8 + 16 * k
        out.append(f'<rect x="{_LEFT + pw + 12}" y="{ly - 8}" width="10" height="10" '
                   f'fill="{colour}"/>')
        out.append(f'<text x="{_LEFT + pw + 27}" y="{ly + 1}">{escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(s for s in out if s)


def line_chart(series: Mapping[str, Points], *, title: str, xlabel: str, ylabel: str) -> str:
    """An SVG line chart with one polyline per named series of ``(x, y)`` points.

    Example:
        >>> svg = line_chart({"bptt": [(1, 0.5), (2, 0.9)]}, title="t", xlabel="x", ylabel="y")
        >>> svg.startswith("<svg") and "polyline" in svg
        True
    """
    return _frame(series, title, xlabel, ylabel, "line")


def scatter_chart(series: Mapping[str, Points], *, title: str, xlabel: str, ylabel: str) -> str:
    """An SVG scatter chart with one colour per named series of ``(x, y)`` points."""
    return _frame(series, title, xlabel, ylabel, "scatter")
