"""Checks that a file is what its name says (PNG, PDF, SVG) and a visible-ticks helper."""

from __future__ import annotations

import importlib.util
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

if importlib.util.find_spec("matplotlib") is None:  # the figures need the `plot` extra
    collect_ignore_glob = ["test_*.py"]


def assert_png(path: Path) -> None:
    from PIL import Image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    with Image.open(path) as image:
        image.verify()
        assert image.format == "PNG" and min(image.size) > 100


def assert_pdf(path: Path) -> None:
    data = path.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF"), path


def assert_svg(text: str) -> ET.Element:
    root = ET.fromstring(text)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return root


def visible_ticks(axis) -> list[float]:  # noqa: ANN001 - a matplotlib Axis
    lo, hi = sorted(axis.get_view_interval())
    return [float(t) for t in axis.get_ticklocs() if lo - 1e-9 <= t <= hi + 1e-9]


@pytest.fixture
def valid():  # noqa: ANN201
    """``valid.png(path)``, ``valid.pdf(path)``, ``valid.svg(text)``, ``valid.ticks(axis)``."""
    from types import SimpleNamespace

    return SimpleNamespace(png=assert_png, pdf=assert_pdf, svg=assert_svg, ticks=visible_ticks)
