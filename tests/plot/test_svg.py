"""SVG charts: ticks cover the data, one mark per series, text escaped, well-formed XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from snnlearn.plot.svg import line_chart, nice_ticks, scatter_chart


@pytest.mark.parametrize(("lo", "hi"), [(0.0, 1.0), (0.31, 0.98), (-3.0, 12.0), (0.0, 137.0),
                                        (1e-4, 3e-4), (5.0, 5.0)])
def test_ticks_cover_the_range_with_equal_steps(lo, hi):
    ticks = nice_ticks(lo, hi)
    assert ticks[0] <= lo and ticks[-1] >= hi
    steps = {round(b - a, 12) for a, b in zip(ticks, ticks[1:], strict=False)}
    assert len(steps) == 1 and 2 <= len(ticks) <= 12


def test_a_single_value_is_centred_in_a_small_range():
    ticks = nice_ticks(0.959, 0.959)
    assert ticks[0] < 0.959 < ticks[-1] and ticks[-1] - ticks[0] < 0.2


def test_ticks_reject_non_finite():
    with pytest.raises(ValueError, match="finite"):
        nice_ticks(0.0, float("nan"))


def test_line_chart_has_one_polyline_per_series_and_escapes_names():
    svg = line_chart({"a<b": [(1, 0.1), (2, 0.5)], "c": [(1, 0.2), (2, 0.3), (3, 0.9)]},
                     title="t & u", xlabel="epoch", ylabel="acc")
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert len(root.findall(f"{ns}polyline")) == 2
    texts = [t.text for t in root.iter(f"{ns}text")]
    assert "a<b" in texts and "t & u" in texts


def test_scatter_chart_has_one_circle_per_point_and_ignores_nan():
    svg = scatter_chart({"x": [(1.0, 2.0), (float("nan"), 1.0)], "y": [(3.0, 4.0)]},
                        title="s", xlabel="a", ylabel="b")
    root = ET.fromstring(svg)
    assert len(root.findall("{http://www.w3.org/2000/svg}circle")) == 2
