"""``snnlearn plot``: a run folder gets plots/*.png, *.pdf and an index.html; a compare folder
gets figures/ and a report that embeds each rule's figures; without matplotlib, one line."""

from __future__ import annotations

import builtins
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from snnlearn.experiments import cli
from snnlearn.experiments.compare import compare
from snnlearn.experiments.config import Config
from snnlearn.experiments.plots import plot_comparison, plot_run, sample_figures
from snnlearn.experiments.runner import load_network, run

pytest.importorskip("matplotlib")

RUN_FIGURES = ["accuracy", "loss", "membrane_0", "membrane_1", "raster_0", "raster_1", "rates",
               "readout_0", "readout_1"]


def _valid(path: Path) -> None:
    data = path.read_bytes()
    if path.suffix == ".png":
        from PIL import Image

        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(path) as image:
            image.verify()
    else:
        assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")


def _inline_svgs(html: str) -> list[str]:
    return [html[i:html.index("</svg>", i) + 6] for i in range(len(html))
            if html.startswith("<svg", i)]


def _no_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    real = builtins.__import__

    def fake(name, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if name.split(".")[0] == "matplotlib":
            raise ImportError(f"No module named {name!r}")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake)


def test_plot_writes_every_figure_and_the_page(toy: str, tmp_path: Path) -> None:
    run(Config(task=toy, epochs=2, out=str(tmp_path / "r")))
    page = plot_run(tmp_path / "r", samples=2)
    for suffix in ("png", "pdf"):
        files = sorted(page.parent.glob(f"*.{suffix}"))
        assert [p.stem for p in files] == RUN_FIGURES
        for path in files:
            _valid(path)
    html = page.read_text()
    svgs = _inline_svgs(html)
    assert len(svgs) == len(RUN_FIGURES) and "test_accuracy" in html
    for svg in svgs:
        ET.fromstring(svg)
    assert "hidden 1" in html and "Mean firing rate per layer" in html


def test_the_readout_figure_shows_every_class(toy: str, tmp_path: Path) -> None:
    run(Config(task=toy, epochs=1, out=str(tmp_path / "r")))
    net, cfg = load_network(tmp_path / "r")
    from snnlearn.experiments import registry

    task = registry.make_task(cfg.task)
    (_, _, readout), = sample_figures(net, task, samples=1, seed=0)["samples"]
    traces, bars = readout.axes
    assert len(bars.patches) == len(traces.lines) == task.n_out


def test_cli_plot(toy: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                  monkeypatch: pytest.MonkeyPatch) -> None:
    run(Config(task=toy, epochs=1, out=str(tmp_path / "r")))
    assert cli.main(["plot", str(tmp_path / "r"), "--samples", "1"]) == 0
    assert capsys.readouterr().out.strip().endswith("index.html")
    _valid(tmp_path / "r" / "plots" / "raster_0.png")
    assert cli.main(["plot", str(tmp_path / "missing")]) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "does not exist" in err
    assert cli.main(["plot", str(tmp_path / "r"), "--samples", "0"]) == 1
    assert "--samples must be >= 1" in capsys.readouterr().err
    _no_matplotlib(monkeypatch)
    assert cli.main(["plot", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == ["snnlearn: error: figures need matplotlib: pip install "
                                "'snnlearn[plot]'"]


def _train(task, rule, run_dir, epochs, seed, device):  # noqa: ANN001, ANN202
    run(Config(task=task, rule=rule, epochs=epochs, seed=seed, out=str(run_dir)))


def test_plot_comparison_embeds_rasters(toy: str, tmp_path: Path) -> None:
    compare(toy, ["bptt", "eprop"], out=tmp_path, epochs=1, train=_train)  # embeds the plots
    embedded = (tmp_path / "report.html").read_text()
    report = plot_comparison(tmp_path)  # plotting again rewrites the same report
    html = report.read_text()
    assert html == embedded
    # the 4 comparison figures, then a raster, membrane traces and the readout per rule
    assert len(_inline_svgs(html)) == 4 + 2 * 3
    assert "href='eprop/plots/index.html'" in html
    for name in ("val_accuracy", "loss", "test_accuracy", "activity"):
        for suffix in ("png", "pdf"):
            _valid(tmp_path / "figures" / f"{name}.{suffix}")
    assert (tmp_path / "eprop" / "plots" / "index.html").exists()
    assert json.loads((tmp_path / "comparison.json").read_text())["task"] == toy


def test_compare_without_matplotlib_keeps_the_table(toy: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    _no_matplotlib(monkeypatch)
    records = compare(toy, ["bptt"], out=tmp_path, epochs=1, train=_train)
    assert not records[0].get("error")
    html = (tmp_path / "report.html").read_text()
    assert "<svg" not in html and "pip install &#x27;snnlearn[plot]&#x27;" in html
    assert "<td>bptt</td>" in html and not (tmp_path / "figures").exists()
    assert "matplotlib" in caplog.text  # the per-rule rasters are skipped with a warning
