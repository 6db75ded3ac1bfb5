"""The activity-regulariser sweep (``compare_activity``), its trade-off plot and activity counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from snnlearn.experiments.cli import main
from snnlearn.experiments.compare import compare_activity
from snnlearn.experiments.config import Config
from snnlearn.experiments.runner import evaluate, run
from snnlearn.layers import DelayParams, build_network
from snnlearn.plot.tradeoff import tradeoff_chart
from snnlearn.tasks.base import TaskData

STRENGTHS = [0.0, 0.3, 3.0]


def _in_process(task, rule, run_dir, epochs, seed, device, activity_reg):
    run(Config(task=task, rule=rule, epochs=epochs, seed=seed, device=device, out=str(run_dir),
               activity_reg=activity_reg))


def test_sweep_lowers_spikes_and_plots_one_point_per_run(toy: str, tmp_path: Path):
    records = compare_activity(toy, ["bptt"], STRENGTHS, out=tmp_path, epochs=3, seed=0,
                               train=_in_process)
    assert [r["activity_reg"] for r in records] == STRENGTHS
    assert not any(r.get("error") for r in records)
    spikes = [r["spikes_per_sample"] for r in records]
    assert spikes[0] > spikes[1] > spikes[2], spikes
    assert (tmp_path / "tradeoff.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "tradeoff.pdf").read_bytes()[:5] == b"%PDF-"
    ax = tradeoff_chart(records).axes[0]
    assert len(ax.lines[0].get_xdata()) == len(STRENGTHS)  # one marker per run
    labels = [t.get_text() for t in ax.texts]
    for reg in STRENGTHS:
        assert f"reg={reg:g}" in labels
    table = (tmp_path / "tradeoff.md").read_text().splitlines()
    assert len([line for line in table if line.startswith("| bptt |")]) == len(STRENGTHS)
    html = (tmp_path / "report.html").read_text()
    # the 4 comparison figures and the trade-off
    assert html.count("<svg") == 5 and "activity-regulariser sweep" in html
    payload = json.loads((tmp_path / "comparison.json").read_text())
    assert [r["activity_reg"] for r in payload["runs"]] == STRENGTHS
    # finished runs are reused
    again = compare_activity(toy, ["bptt"], STRENGTHS, out=tmp_path, epochs=3,
                             train=lambda *a: pytest.fail("a finished run was trained again"))
    assert [r["spikes_per_sample"] for r in again] == spikes


@pytest.mark.parametrize(("strengths", "match"), [
    ([], "finite numbers >= 0"), ([-1.0], "finite numbers >= 0"), ([0.0, 0.0], "once"),
])
def test_bad_strengths_raise(toy: str, tmp_path: Path, strengths, match):
    with pytest.raises(ValueError, match=match):
        compare_activity(toy, ["bptt"], strengths, out=tmp_path, train=_in_process)


def test_cli_rejects_bad_strengths(capsys):
    assert main(["compare", "--task", "yinyang", "--rules", "bptt", "--activity-reg", "a,1"]) == 2
    assert "invalid strengths" in capsys.readouterr().err


def test_chart_skips_failed_runs():
    runs = [{"rule": "bptt", "activity_reg": 0.0, "spikes_per_sample": 5.0, "test_accuracy": 0.9},
            {"rule": "bptt", "activity_reg": 1.0, "error": "boom"}]
    assert tradeoff_chart(runs).axes[0].lines[0].get_xydata().tolist() == [[5.0, 90.0]]


class _Fixed:
    """A task stub: ``encode`` returns a fixed raster, so the counts are known by hand."""

    def __init__(self, x: torch.Tensor) -> None:
        self.x = x

    def encode(self, inputs, *, generator=None):  # noqa: ANN001, ANN201
        return self.x[:, : len(inputs)]

    def predict(self, outputs):  # noqa: ANN001, ANN201
        return outputs.sum(0).argmax(-1)

    def loss(self, outputs, labels):  # noqa: ANN001, ANN201
        return torch.nn.functional.cross_entropy(outputs.sum(0), labels)


@pytest.mark.parametrize("delays", [None, DelayParams(4e-3, kernel="integer")])
def test_spikes_and_synops_per_sample_match_a_hand_count(delays):
    net = build_network(3, [5, 4], 2, dt=1e-3, gain=4.0, delays=delays,
                        generator=torch.Generator().manual_seed(0))
    x = (torch.rand(25, 6, 3, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    data = TaskData(torch.zeros(6, 1), torch.zeros(6, dtype=torch.long))
    ev = evaluate(net, _Fixed(x), data, seed=0)  # type: ignore[arg-type]
    from snnlearn.simulate import unroll

    with torch.no_grad():
        z1, z2 = unroll(net, x).spikes
    assert z1.sum() > 0 and z2.sum() > 0
    # every input spike reaches each of the 5 neurons once (with a delay or not), each layer-1
    # spike each of the 4 layer-2 neurons, each layer-2 spike each of the 2 readout units
    synops = 5 * x.sum() + 4 * z1.sum() + 2 * z2.sum()
    assert ev.spikes_per_sample == pytest.approx(float(z1.sum() + z2.sum()) / 6)
    assert ev.synops_per_sample == pytest.approx(float(synops) / 6)


def test_config_and_cli_take_delays(toy: str, tmp_path: Path):
    with pytest.raises(ValueError, match="rule 'eprop' cannot train delayed synapses"):
        run(Config(task=toy, rule="eprop", delays=5e-3, out=str(tmp_path / "e")))
    with pytest.raises(ValueError, match="delays"):
        Config(task=toy, delays=-1.0)
    out = tmp_path / "d"
    assert main(["train", "--task", toy, "--epochs", "1", "--max-delay", "0.01", "--out",
                 str(out), "--no-progress"]) == 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["delays"] == 0.01
    from snnlearn.experiments.runner import load_network

    net, _ = load_network(out)
    assert net.layers[0].synapse.kind == "delayed" and net.layers[0].synapse.n_taps == 3
