"""``snnlearn plot``: draw a run's figures (and a comparison's) with matplotlib and write them.

For a run folder, ``RUN_DIR/plots/`` receives each figure as ``<name>.png`` and ``<name>.pdf``:
``loss`` and ``accuracy`` (from ``metrics.jsonl``), ``raster_<k>``, ``membrane_<k>`` and
``readout_<k>`` for the first test samples ``k`` (the network of
:func:`~snnlearn.experiments.runner.load_network`, best-validation weights, simulated by the
run's rule, ``rule.simulate``, as ``evaluate`` does; the membranes come from the rule's rollout
where it records them, else from :func:`~snnlearn.simulate.unroll`), ``rates`` (per-neuron
firing rates over up to :data:`RATE_SAMPLES` test samples) and ``index.html``, which shows them
all as inline SVG.

For a comparison folder (one with ``comparison.json``), :func:`write_report` writes
``figures/<name>.png`` and ``.pdf`` (validation accuracy and loss per epoch, test accuracy per
rule, accuracy against activity; each rule the mean ± sd over its seeds) and ``report.html``;
:func:`plot_comparison` also plots every rule's run and embeds its raster, membrane traces and
readout.
Without matplotlib the report keeps its table and says how to install it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from snnlearn.experiments import registry
from snnlearn.experiments.runfiles import RunFileError, read_json, read_jsonl
from snnlearn.experiments.runner import load_network
from snnlearn.layers import Network
from snnlearn.layers.readout import Readout
from snnlearn.plot.curves import training_curves
from snnlearn.plot.figure import PlotDependencyError, figure_svg, save_figure
from snnlearn.plot.raster import spike_raster
from snnlearn.plot.rates import firing_rate_chart
from snnlearn.plot.report import comparison_figures, comparison_html
from snnlearn.plot.run_page import run_page_html
from snnlearn.plot.traces import membrane_traces, readout_chart
from snnlearn.plot.tradeoff import tradeoff_chart
from snnlearn.simulate import unroll

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["RATE_SAMPLES", "plot_run", "plot_comparison", "sample_figures", "write_figures",
           "write_report"]

RATE_SAMPLES = 256
"""Test samples over which the firing rates are averaged."""
_SEED_STRIDE = 1_000_003  # as the runner: generator (seed, 0) is the evaluation encoding's
_EMBEDDED = ("raster", "membrane", "readout")  # each rule's figures of test sample 0, embedded


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
    """Rasters, membrane traces and readouts of the first ``samples`` test samples, and rates.

    ``simulate(net, x) -> Rollout`` is the model that is plotted (default ``unroll``).

    Returns:
        ``{"samples": [(raster, membrane, readout), ...], "rates": {layer: [Hz, ...]}}``, the
        figures as matplotlib figures; the readout figure shows every class.

    Raises:
        PlotDependencyError: matplotlib is not installed.
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
    figures = []
    for b in range(count):
        label, guess = int(test.labels[b]), int(predicted[b])
        title = f"test sample {b} (label {label}, predicted {guess})"
        bands = [("input", x[:, b])] + [(names[k], z[:, b]) for k, z in enumerate(rollout.spikes)]
        figures.append((
            spike_raster(bands, dt=dt, title=f"Spikes, {title}"),
            membrane_traces(rollout.membranes[0][:, b], dt=dt, v_th=_v_th(layers[0]),
                            title=f"Hidden 1 membrane, test sample {b}"),
            readout_chart(rollout.membranes[-1][:, b], dt=dt, label=label, predicted=guess,
                          title=f"Readout, {title}"),
        ))
    return {"samples": figures, "rates": rates}


def write_figures(folder: Path, figures: Mapping[str, Figure]) -> dict[str, str]:
    """Write each figure to ``folder/<name>.png`` and ``.pdf``; return its inline SVG by name."""
    folder.mkdir(parents=True, exist_ok=True)
    svgs = {}
    for name, fig in figures.items():
        save_figure(fig, folder / name)
        svgs[name] = figure_svg(fig)
    return svgs


def _read_history(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return []
    return read_jsonl(path)


def _plot_run(run_dir: Path, samples: int) -> tuple[Path, dict[str, str]]:
    if not run_dir.is_dir():
        raise ValueError(f"run folder {str(run_dir)!r} does not exist; pass a folder made by "
                         "`snnlearn train`")
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    net, cfg = load_network(run_dir)
    task = registry.make_task(cfg.task, cfg.task_options)
    rule = registry.make_rule(cfg.rule, cfg.rule_options)
    rule.prepare(net, generator=torch.Generator().manual_seed(0))
    drawn = sample_figures(net, task, samples=samples, seed=cfg.seed, simulate=rule.simulate)
    figures: dict[str, Figure] = dict(training_curves(_read_history(run_dir)))
    for b, (raster, membrane, readout) in enumerate(drawn["samples"]):
        figures.update({f"raster_{b}": raster, f"membrane_{b}": membrane,
                        f"readout_{b}": readout})
    figures["rates"] = firing_rate_chart(drawn["rates"])
    out = run_dir / "plots"
    svgs = write_figures(out, figures)
    summary_path = run_dir / "summary.json"
    summary = (read_json(summary_path, what="run summary") if summary_path.exists()
               else {"task": cfg.task, "rule": cfg.rule, "status": "unfinished"})
    sections = [("Training curves", [svgs["loss"], svgs["accuracy"]])]
    sections += [(f"Test sample {b}", [svgs[f"{name}_{b}"] for name in
                                       ("raster", "membrane", "readout")])
                 for b in range(len(drawn["samples"]))]
    sections.append(("Firing rates", [svgs["rates"]]))
    mean_rates = {k: sum(v) / max(len(v), 1) for k, v in drawn["rates"].items()}
    page = out / "index.html"
    page.write_text(run_page_html(str(run_dir), summary, sections, rate_table=mean_rates))
    return page, svgs


def plot_run(run_dir: str | Path, *, samples: int = 3) -> Path:
    """Write ``run_dir/plots/*.png``, ``*.pdf`` and ``index.html``; return the page's path.

    Raises:
        ValueError: ``run_dir`` is not a folder or ``samples < 1``.
        CheckpointError: the run has no (valid) checkpoint.
        PlotDependencyError: matplotlib is not installed.
    """
    return _plot_run(Path(run_dir), samples)[0]


def write_report(out: Path, task: str, runs: Sequence[Mapping[str, Any]], *,
                 per_rule: Mapping[str, Sequence[str]] | None = None,
                 tradeoff: Sequence[Mapping[str, Any]] | None = None) -> Path:
    """Write a comparison's figures to ``out/figures/`` and its ``out/report.html``.

    Args:
        out: the comparison folder.
        task: the task id.
        runs: the records shown (several records of one rule are its seeds).
        per_rule: rule -> inline SVG figures of its run, each in its own section.
        tradeoff: the records of an activity-regulariser sweep: adds ``tradeoff.png`` and
            ``tradeoff.pdf`` (in ``out``) and the trade-off figure to the report.

    Without matplotlib, ``report.html`` holds the table and one line saying how to install it.
    """
    charts: list[str] | None
    try:
        figures = comparison_figures(runs)
        charts = list(write_figures(out / "figures", figures).values())
        if tradeoff is not None:
            chart = tradeoff_chart(tradeoff)
            save_figure(chart, out / "tradeoff")
            charts.append(figure_svg(chart))
    except PlotDependencyError:
        charts = None
    report = out / "report.html"
    report.write_text(comparison_html(task, runs, charts=charts, figures=per_rule))
    return report


def plot_comparison(out: str | Path, *, samples: int = 1) -> Path:
    """Plot every finished run of the comparison in ``out`` and embed them in ``report.html``.

    Raises:
        ValueError: ``out`` holds no ``comparison.json``.
        PlotDependencyError: matplotlib is not installed.
    """
    out = Path(out)
    path = out / "comparison.json"
    if not path.exists():
        raise ValueError(f"{str(path)!r} does not exist; run `snnlearn compare` first")
    data = read_json(path, what="comparison file")
    if not isinstance(data.get("runs"), list) or not isinstance(data.get("task"), str):
        raise RunFileError(f"comparison file {str(path)!r} lacks its 'task' or 'runs' list; "
                           "run `snnlearn compare` again")
    per_rule: dict[str, list[str]] = {}
    for record in data["runs"]:
        rule = record["rule"]
        run_dir = next((d for d in (Path(record.get("run_dir") or out / rule), out / rule)
                        if d.is_dir()), None)
        if record.get("error") or rule in per_rule or run_dir is None:
            continue
        svgs = _plot_run(run_dir, samples)[1]
        per_rule[rule] = [svgs[f"{name}_0"] for name in _EMBEDDED]
    return write_report(out, data["task"], data["runs"], per_rule=per_rule)
