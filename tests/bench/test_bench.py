from __future__ import annotations

import json

import pytest
import torch

from snnlearn.bench import RECORD_KEYS, Shape, parse_shape, run_bench, to_markdown
from snnlearn.bench import run as bench_run
from snnlearn.bench.peers import PEERS, build_peer, peer_installed
from snnlearn.bench.roofline import Peaks, step_floor
from snnlearn.bench.workload import SnnlearnModel, make_batch, make_weights
from snnlearn.experiments import cli

TINY = Shape(2, 6, 8, 1)
PEAKS = Peaks(10.0, 1.0, "nominal, for the tests")
BENCHMARKS_KEYS = {"library", "B", "T", "H", "L", "device", "step_ms", "peak_memory_mib",
                   "firing_rate", "version"}


def test_snnlearn_record_has_the_benchmarks_keys():
    records = run_bench([TINY], peers=[], repeats=1, warmup=0, peaks=PEAKS)
    assert len(records) == 1
    r = records[0]
    assert BENCHMARKS_KEYS <= set(r) and set(r) == set(RECORD_KEYS)
    assert r["library"] == "snnlearn" and (r["B"], r["T"], r["H"], r["L"]) == tuple(TINY)
    assert r["device"] == "cpu" and r["peak_memory_mib"] is None and r["skipped"] is None
    assert r["step_ms"] > 0 and 0.0 <= r["firing_rate"] <= 1.0
    assert r["ratio_to_fastest_peer"] is None  # no peer ran
    assert r["x_floor"] == pytest.approx(r["step_ms"] / r["floor_ms"])
    assert "| 2,6,8,1 | snnlearn" in to_markdown(records, PEAKS)


def test_absent_peers_are_skipped(monkeypatch):
    monkeypatch.setattr(bench_run, "peer_installed", lambda name: False)
    records = run_bench([TINY], peers=["norse", "snntorch"], repeats=1, warmup=0, peaks=PEAKS)
    assert [r["library"] for r in records] == ["snnlearn", "norse", "snntorch"]
    assert all(r["skipped"] == "not installed" and r["step_ms"] is None for r in records[1:])
    assert "skipped: not installed" in to_markdown(records)


def test_unknown_peer_raises():
    with pytest.raises(ValueError, match="valid peers: snntorch, norse, spikingjelly"):
        run_bench([TINY], peers=["brian2"], peaks=PEAKS)


@pytest.mark.parametrize("name", list(PEERS))
def test_installed_peer_computes_the_same_step(name):
    # Same weights and input: the peer's neuron equations match snnlearn's, so spikes, logits
    # and the input-weight gradient agree (Norse's input weights are 20x, its gradient 1/20).
    if not peer_installed(name):
        pytest.skip(f"{name} not installed")
    gen = torch.Generator().manual_seed(0)
    shape = Shape(3, 20, 16, 2)
    weights = make_weights(shape, generator=gen)
    x, y = make_batch(shape, generator=gen)
    results = []
    for model in (SnnlearnModel(weights), build_peer(name, weights)):
        logits, rate = model(x)
        torch.nn.functional.cross_entropy(logits, y).backward()
        grad = next(p for p in model.parameters() if p.shape == (16, 700)).grad
        results.append((logits.detach(), float(rate), grad))
    (l0, r0, g0), (l1, r1, g1) = results
    assert r0 == r1 and r0 > 0
    torch.testing.assert_close(l1, l0, rtol=1e-5, atol=1e-6)
    scale = 20.0 if name == "norse" else 1.0
    torch.testing.assert_close(g1 * scale, g0, rtol=1e-4, atol=1e-6)


def test_parse_shape_and_floor():
    assert parse_shape("64,100,512,2") == Shape(64, 100, 512, 2)
    with pytest.raises(ValueError, match="B,T,H,L"):
        parse_shape("64,100,512")
    f = step_floor(Shape(32, 100, 256, 1), 0.05, PEAKS)
    assert f.gflop_event < f.gflop_dense and f.floor_ms <= f.floor_dense_ms


def test_cli_writes_json_and_markdown(tmp_path, capsys):
    out = tmp_path / "bench"
    status = cli.main(["bench", "--peers", "", "--shapes", "2,6,8,1", "--repeats", "1",
                       "--out", str(out)])
    assert status == 0
    records = json.loads((out / "bench.json").read_text())["steps"]
    assert [r["library"] for r in records] == ["snnlearn"]
    assert records[0]["backend"] in {"cpu", "torch"}
    assert BENCHMARKS_KEYS <= set(records[0])
    text = (out / "bench.md").read_text()
    assert "snnlearn bench --device cpu" in text and "| 2,6,8,1 | snnlearn" in text


@pytest.mark.parametrize("argv, message", [
    (["--peers", "snntorch,brian2"], "valid peers: snntorch, norse, spikingjelly"),
    (["--shapes", "1,2,3"], "B,T,H,L"),
    (["--device", "tpu"], "valid devices"),
    (["--workloads", "steps,gpu"], "valid workloads: steps, open-neuromorphic, rules"),
    (["--workloads", "rules", "--rules", "bptt,nope"], "nope"),
])
def test_cli_bad_arguments_exit_2(tmp_path, capsys, argv, message):
    status = cli.main(["bench", *argv, "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err.strip()
    assert status == 2 and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "b").exists()


def test_rule_table_times_every_rule_or_gives_its_refusal():
    from snnlearn.bench.rules import rules_markdown, run_rules

    records = run_rules(["bptt", "fa"], networks=["yinyang"], neurons=["lif"],
                        n_batches=1)
    by_rule = {r["rule"]: r for r in records}
    assert by_rule["bptt"]["seconds"] > 0 and by_rule["fa"]["seconds"] > 0
    assert by_rule["bptt"]["backend"] in {"cpu", "torch"}
    table = rules_markdown(records)
    assert "| yinyang | lif |" in table and "1.00x bptt" in table
