"""Spike rasters as dependency-free SVG: one tick per spike, time across, neurons down.

The layers of one sample are stacked top to bottom (input first), each in its own band with its
name and size on the left, so a raster shows at a glance which layers are silent or saturated.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

import torch
from torch import Tensor

from snnlearn.plot.svg import PALETTE, nice_ticks

__all__ = ["spike_raster"]

_W, _LEFT, _RIGHT, _TOP, _BOTTOM = 520, 90, 20, 34, 46
_GAP = 10  # pixels between layer bands
_MIN_BAND = 40.0  # pixels: a small layer (the input) stays readable


def _as_matrix(spikes: Tensor, name: str) -> Tensor:
    if not isinstance(spikes, Tensor) or spikes.ndim != 2:
        shape = tuple(spikes.shape) if isinstance(spikes, Tensor) else type(spikes).__name__
        raise ValueError(f"raster layer {name!r} must be a [T, N] tensor of one sample's spikes "
                         f"(index the batch first, e.g. z[:, 0]), got {shape}")
    return spikes.detach().to("cpu", torch.float32)


def spike_raster(
    layers: Sequence[tuple[str, Tensor]], *, dt: float, title: str = "Spike raster",
    height: int = 320,
) -> str:
    """An SVG raster of one sample: a vertical tick at ``(t, n)`` for each spike ``z[t, n] > 0``.

    Each layer gets a band whose height is proportional to its size (at least 40 px).

    Args:
        layers: ``(name, spikes)`` pairs, spikes ``[T, N]`` of one sample (0 or 1), top first;
            all with the same ``T``.
        dt: the time step (s); the axis is labelled in ms.
        title: the chart title.
        height: the SVG height (px) when the bands fit.

    Returns:
        A self-contained ``<svg>`` string.

    Raises:
        ValueError: no layers, a layer that is not ``[T, N]``, different ``T``, or ``dt <= 0``.

    Example:
        >>> z = torch.zeros(10, 3); z[2, 0] = z[5, 2] = 1.0
        >>> svg = spike_raster([("hidden", z)], dt=1e-3)
        >>> svg.startswith("<svg") and 'data-spikes="2"' in svg  # two ticks
        True
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
    avail = max(height - _TOP - _BOTTOM - _GAP * (len(mats) - 1), _MIN_BAND * len(mats))
    bands = [max(_MIN_BAND, avail * n / sum(sizes)) for n in sizes]
    total_h = round(_TOP + _BOTTOM + sum(bands) + _GAP * (len(mats) - 1))
    pw = _W - _LEFT - _RIGHT
    t_end = n_steps * dt * 1e3
    ticks = nice_ticks(0.0, t_end)

    def sx(t_ms: float) -> float:
        return _LEFT + t_ms / (ticks[-1] or 1.0) * pw

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{total_h}" '
           f'viewBox="0 0 {_W} {total_h}" font-family="sans-serif" font-size="11">',
           f'<rect width="{_W}" height="{total_h}" fill="white"/>',
           f'<text x="{_W / 2:.0f}" y="18" text-anchor="middle" font-size="13">'
           f'{escape(title)}</text>']
    bottom = _TOP + sum(bands) + _GAP * (len(mats) - 1)
    for t in ticks:
        out.append(f'<line x1="{sx(t):.1f}" y1="{_TOP}" x2="{sx(t):.1f}" y2="{bottom:.1f}" '
                   'stroke="#eee"/>')
        out.append(f'<text x="{sx(t):.1f}" y="{bottom + 14:.1f}" text-anchor="middle">'
                   f'{t:g}</text>')
    out.append(f'<text x="{_LEFT + pw / 2:.0f}" y="{total_h - 10}" text-anchor="middle">'
               'time (ms)</text>')
    y0 = float(_TOP)
    for k, ((name, m), band) in enumerate(zip(mats, bands, strict=True)):
        colour = PALETTE[k % len(PALETTE)]
        n = m.shape[1]
        row = band / max(n, 1)
        tick = max(min(row * 0.8, 6.0), 1.0)
        out.append(f'<rect x="{_LEFT}" y="{y0:.1f}" width="{pw}" height="{band:.1f}" '
                   'fill="none" stroke="#444"/>')
        out.append(f'<text x="{_LEFT - 6}" y="{y0 + band / 2:.1f}" text-anchor="end">'
                   f'{escape(name)}</text>')
        out.append(f'<text x="{_LEFT - 6}" y="{y0 + band / 2 + 13:.1f}" text-anchor="end" '
                   f'fill="#777">{n} units</text>')
        idx = torch.nonzero(m > 0).tolist()
        if idx:
            width = max(pw / max(ticks[-1] / (dt * 1e3), 1) * 0.6, 1.0)
            d = "".join(f"M{sx((t + 0.5) * dt * 1e3):.1f} {y0 + (i + 0.5) * row - tick / 2:.1f}"
                        f" v{tick:.1f}" for t, i in idx)
            out.append(f'<path data-spikes="{len(idx)}" d="{d}" stroke="{colour}" '
                       f'stroke-width="{width:.1f}" fill="none"/>')
        y0 += band + _GAP
    out.append("</svg>")
    return "\n".join(out)
