"""``snnlearn plot``: write a run's charts (and a comparison's per-rule charts) to disk.

For a run folder, ``RUN_DIR/plots/`` receives ``loss.svg`` and ``accuracy.svg`` (from
``metrics.jsonl``), ``raster_<k>.svg``, ``membrane_<k>.svg`` and ``readout_<k>.svg`` for the
first test samples ``k`` (the network of :func:`~snnlearn.experiments.runner.load_network`,
best-validation weights, simulated by the run's rule, ``rule.simulate``, as ``evaluate`` does; the
membranes come from the rule's rollout where it records them, else from
:func:`~snnlearn.simulate.unroll`), ``rates.svg`` (per-neuron
firing rates over up to :data:`RATE_SAMPLES` test samples) and ``index.html``, which shows them
all. For a comparison folder (one with ``comparison.json``), every rule's run is plotted and
``report.html`` is rewritten with each rule's raster and membrane traces embedded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from snnlearn.experiments import registry
from snnlearn.experiments.runner import load_network
from snnlearn.layers import Network
from snnlearn.layers.readout import Readout
from snnlearn.plot.raster import spike_raster
from snnlearn.plot.report import comparison_html
from snnlearn.plot.run_page import firing_rate_chart, run_page_html, training_curves
from snnlearn.plot.traces import membrane_traces
from snnlearn.simulate import unroll

__all__ = ["RATE_SAMPLES", "plot_run", "plot_comparison", "sample_figures"]

RATE_SAMPLES = 256
"""Test samples over which the firing rates are averaged."""
_SEED_STRIDE = 1_000_003  # as the runner: generator (seed, 0) is the evaluation encoding's


def _v_th(layer: torch.nn.Module) -> float | None:
    """The layer's firing threshold, or ``None`` for a non-spiking readout."""
    if isinstance(layer, Readout):
        return None
    neuron = getattr(layer, "neuron", None)
    neuron = getattr(neuron, "lif", neuron)  # ALIF wraps its LIF parameters
    v_th = getattr(neuron, "v_th", None)
    return float(v_th) if isinstance(v_th, (int, float)) else None


def _names(net: Network) -> list[str]:
    n = len(net.layers)
    return [f"hidden {k + 1}" if k < n - 1 else "readout" for k in range(n)]


def sample_figures(net: Network, task: Any, *, samples: int, seed: int,
                   simulate: Any = None) -> dict[str, Any]:
    """Rasters and membrane traces of the first ``samples`` test samples, and firing rates.

    ``simulate(net, x) -> Rollout`` is the model that is plotted (default ``unroll``).

    Returns:
        ``{"samples": [(raster, membrane, readout), ...], "rates": {layer: [Hz, ...]}}``, the
        charts as SVG strings.
    """
    test = task.split("test")
    count = max(1, min(samples, len(test)))
    n_rate = min(len(test), max(RATE_SAMPLES, count))
    g = torch.Generator().manual_seed(seed * _SEED_STRIDE)
    device = next(net.parameters()).device
    with torch.no_grad():
        x = task.encode(test.inputs[:n_rate], generator=g).to(device)
        rollout = (unroll(net, x, record_membrane=True) if simulate is None
                   else simulate(net, x))
        if not rollout.membranes:
            rollout = rollout._replace(membranes=unroll(net, x, record_membrane=True).membranes)
        predicted = task.predict(rollout.outputs)
    names, dt, layers = _names(net), float(net.dt), list(net.layers)
    duration = x.shape[0] * dt
    rates = {names[k]: (z.sum(0).mean(0) / duration).tolist()
             for k, z in enumerate(rollout.spikes)}
    charts = []
    for b in range(count):
        title = f"test sample {b} (label {int(test.labels[b])}, predicted {int(predicted[b])})"
        bands = [("input", x[:, b])] + [(names[k], z[:, b]) for k, z in enumerate(rollout.spikes)]
        hidden_v = rollout.membranes[0][:, b]
        charts.append((
            spike_raster(bands, dt=dt, title=f"Spikes, {title}"),
            membrane_traces(hidden_v, dt=dt, v_th=_v_th(layers[0]),
                            title=f"Hidden 1 membrane, sample {b}"),
            membrane_traces(rollout.membranes[-1][:, b], dt=dt, v_th=_v_th(layers[-1]),
                            neurons=range(min(layers[-1].n_out, 6)), unit_name="class",
                            title=f"Readout membrane, sample {b}"),
        ))
    return {"samples": charts, "rates": rates}


def _read_history(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_run(run_dir: str | Path, *, samples: int = 3) -> Path:
    """Write ``run_dir/plots/*.svg`` and ``run_dir/plots/index.html``; return the page's path.

    Raises:
        ValueError: ``run_dir`` is not a folder or ``samples < 1``.
        CheckpointError: the run has no (valid) checkpoint.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"run folder {str(run_dir)!r} does not exist; pass a folder made by "
                         "`snnlearn train`")
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    net, cfg = load_network(run_dir)
    task = registry.make_task(cfg.task, cfg.task_options)
    rule = registry.make_rule(cfg.rule, cfg.rule_options)
    rule.prepare(net, generator=torch.Generator().manual_seed(0))
    figures = sample_figures(net, task, samples=samples, seed=cfg.seed, simulate=rule.simulate)
    curves = training_curves(_read_history(run_dir))
    files: dict[str, str] = {"loss": curves["loss"], "accuracy": curves["accuracy"],
                             "rates": firing_rate_chart(figures["rates"])}
    for b, (raster, membrane, readout) in enumerate(figures["samples"]):
        files.update({f"raster_{b}": raster, f"membrane_{b}": membrane, f"readout_{b}": readout})
    out = run_dir / "plots"
    out.mkdir(exist_ok=True)
    for name, svg in files.items():
        (out / f"{name}.svg").write_text(svg)
    summary_path = run_dir / "summary.json"
    summary = (json.loads(summary_path.read_text()) if summary_path.exists()
               else {"task": cfg.task, "rule": cfg.rule, "status": "unfinished"})
    sections = [("Training curves", [curves["loss"], curves["accuracy"]])]
    sections += [(f"Test sample {b}", list(charts))
                 for b, charts in enumerate(figures["samples"])]
    sections.append(("Firing rates", [files["rates"]]))
    mean_rates = {k: sum(v) / max(len(v), 1) for k, v in figures["rates"].items()}
    page = out / "index.html"
    page.write_text(run_page_html(str(run_dir), summary, sections, rate_table=mean_rates))
    return page


def plot_comparison(out: str | Path, *, samples: int = 1) -> Path:
    """Plot every finished run of the comparison in ``out`` and embed them in ``report.html``.

    Raises:
        ValueError: ``out`` holds no ``comparison.json``.
    """
    out = Path(out)
    path = out / "comparison.json"
    if not path.exists():
        raise ValueError(f"{str(path)!r} does not exist; run `snnlearn compare` first")
    data = json.loads(path.read_text())
    figures: dict[str, list[str]] = {}
    for record in data["runs"]:
        rule = record["rule"]
        if record.get("error") or rule in figures or not (out / rule).is_dir():
            continue
        page = plot_run(out / rule, samples=samples)
        figures[rule] = [(page.parent / f"{name}_0.svg").read_text()
                         for name in ("raster", "membrane")]
    report = out / "report.html"
    report.write_text(comparison_html(data["task"], data["runs"], figures=figures))
    return report
