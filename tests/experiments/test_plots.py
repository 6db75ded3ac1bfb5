"""``snnlearn plot``: a run folder gets plots/*.svg and an index.html; a compare folder too."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from snnlearn.experiments import cli
from snnlearn.experiments.compare import compare
from snnlearn.experiments.config import Config
from snnlearn.experiments.plots import plot_comparison, plot_run
from snnlearn.experiments.runner import run


def test_plot_writes_every_chart_and_the_page(toy: str, tmp_path: Path) -> None:
    run(Config(task=toy, epochs=2, out=str(tmp_path / "r")))
    page = plot_run(tmp_path / "r", samples=2)
    names = sorted(p.name for p in page.parent.glob("*.svg"))
    assert names == ["accuracy.svg", "loss.svg", "membrane_0.svg", "membrane_1.svg",
                     "raster_0.svg", "raster_1.svg", "rates.svg", "readout_0.svg",
                     "readout_1.svg"]
    for path in page.parent.glob("*.svg"):
        ET.fromstring(path.read_text())
    html = page.read_text()
    assert html.count("<svg") == len(names) and "test_accuracy" in html
    assert "hidden 1" in html and "Mean firing rate per layer" in html


def test_cli_plot(toy: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(Config(task=toy, epochs=1, out=str(tmp_path / "r")))
    assert cli.main(["plot", str(tmp_path / "r"), "--samples", "1"]) == 0
    assert capsys.readouterr().out.strip().endswith("index.html")
    assert (tmp_path / "r" / "plots" / "raster_0.svg").exists()
    assert cli.main(["plot", str(tmp_path / "missing")]) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "does not exist" in err
    assert cli.main(["plot", str(tmp_path / "r"), "--samples", "0"]) == 1
    assert "--samples must be >= 1" in capsys.readouterr().err


def test_plot_comparison_embeds_rasters(toy: str, tmp_path: Path) -> None:
    compare(toy, ["bptt", "eprop"], out=tmp_path, epochs=1, train=run)  # embeds the plots
    embedded = (tmp_path / "report.html").read_text()
    report = plot_comparison(tmp_path)  # plotting again rewrites the same report
    html = report.read_text()
    assert html == embedded
    assert html.count("<svg") == 3 + 4  # the 3 comparison charts, a raster and traces per rule
    assert "href='eprop/plots/index.html'" in html
    assert (tmp_path / "eprop" / "plots" / "index.html").exists()
    assert json.loads((tmp_path / "comparison.json").read_text())["task"] == toy
