from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from snnlearn.experiments import Config, resume, run
from snnlearn.experiments.checkpoint import load_checkpoint
from snnlearn.layers import build_network
from snnlearn.learning.base import EpochContext
from snnlearn.learning.conversion import (
    ANNConversion,
    ann_forward,
    drive_gain,
    normalisation_scales,
)
from snnlearn.neurons import ALIFParams, LIFParams, LIParams
from snnlearn.simulate import unroll
from snnlearn.tasks.digits import Digits

DT = 1e-3
IF = LIFParams(tau_mem=1e3)  # integrate-and-fire: a leak of 1e-6 per step
IF_READOUT = LIParams(tau_mem=1e3)


def _converted_if_net(hidden: list[int], method: str = "max"):
    """A random ANN converted into an IF network, with its normalisation inputs (rates)."""
    g = torch.Generator().manual_seed(0)
    net = build_network(6, hidden, 3, dt=DT, neuron=IF, readout=IF_READOUT, generator=g)
    rule = ANNConversion(normalisation=method)
    rule.prepare(net, generator=g)
    rates = 0.5 * torch.rand(200, 6, generator=g)
    rule.convert(net, rates)
    return net, rule, rates


@torch.no_grad()
def _normalised(rule: ANNConversion, rates: torch.Tensor) -> list[torch.Tensor]:
    acts = ann_forward(rule.params, rates / rule.input_scale)
    return [a / s for a, s in zip(acts, rule.scales, strict=True)]


@torch.no_grad()
def test_snn_rates_approximate_the_normalised_ann_and_the_error_shrinks_with_t() -> None:
    net, rule, rates = _converted_if_net([20, 20])
    x_rates = rates[:50]
    target = [a.clamp(max=1.0) for a in _normalised(rule, x_rates)[:-1]]
    errors = []
    for n_steps in (20, 80, 320):
        # constant analog input current = the rates, as in Rueckauer et al. (2017)
        r = unroll(net, x_rates.expand(n_steps, -1, -1).contiguous())
        errors.append([float((z.mean(0) - a).abs().mean()) for z, a in zip(r.spikes, target,
                                                                           strict=True)])
    for layer in range(2):
        e20, e80, e320 = (e[layer] for e in errors)
        assert e20 > e80 > e320, errors
    # IF with reset by subtraction: less than one spike per neuron over T (plus the onset delay)
    assert errors[-1][0] < 2.0 / 320 and errors[-1][1] < 6.0 / 320, errors


@torch.no_grad()
def test_max_normalisation_puts_the_largest_drive_at_the_threshold() -> None:
    net, rule, rates = _converted_if_net([16], method="max")
    normalised = _normalised(rule, rates)
    for a in normalised:
        assert float(a.max()) == pytest.approx(1.0, rel=1e-5)
    # the SNN's per-step drive of the most driven hidden neuron equals v_th - v_reset
    hidden = net.layers[0]
    drive = F.relu(rates @ hidden.weight.T) * drive_gain(IF, DT)
    assert float(drive.max()) == pytest.approx(IF.v_th - IF.v_reset, rel=1e-5)


def test_percentile_normalisation_maps_the_percentile_to_the_threshold() -> None:
    acts = [torch.arange(1.0, 1001.0)[None], torch.tensor([[0.0, -1.0, 4.0]])]
    assert normalisation_scales(acts, method="max") == [1000.0, 4.0]
    assert normalisation_scales(acts, method="percentile", percentile=99.0) == [990.0, 4.0]
    net, rule, rates = _converted_if_net([16], method="percentile")
    hidden = _normalised(rule, rates)[0]
    positive = hidden[hidden > 0]
    assert float((positive <= 1.0 + 1e-6).float().mean()) == pytest.approx(0.999, abs=2e-3)
    assert float(positive.max()) > 1.0  # the outliers above the percentile saturate


def _ctx(task, epoch: int, lr: float = 5e-3) -> EpochContext:
    return EpochContext(task=task, data=task.split("train"), epoch=epoch, epochs=8,
                        batch_size=32, generator=torch.Generator().manual_seed(epoch),
                        optimizer=torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr),
                        lr=lr, device=torch.device("cpu"))


def test_digits_snn_accuracy_approaches_the_ann_at_large_t() -> None:
    train_task = Digits(coding="rate", n_steps=20)
    d = train_task.defaults
    net = build_network(64, [64], 10, dt=train_task.dt, neuron=d.neuron, readout=d.readout,
                        generator=torch.Generator().manual_seed(0))
    rule = ANNConversion()
    rule.prepare(net, generator=torch.Generator().manual_seed(1))
    losses = [rule.fit_epoch(net, _ctx(train_task, e))[0] for e in range(1, 7)]
    assert losses[-1] < 0.5 * losses[0]
    test = train_task.split("test")
    accuracy = {}
    for n_steps in (10, 200):
        task = Digits(coding="rate", n_steps=n_steps)
        x = task.encode(test.inputs, generator=torch.Generator().manual_seed(2))
        with torch.no_grad():
            ann = ann_forward(rule.params, x.mean(0) / rule.input_scale)[-1]
            snn = rule.simulate(net, x).outputs
        accuracy[n_steps] = (float((ann.argmax(-1) == test.labels).float().mean()),
                             float((task.predict(snn) == test.labels).float().mean()))
    ann_200, snn_200 = accuracy[200]
    assert ann_200 > 0.9
    assert snn_200 > ann_200 - 0.04, accuracy
    assert snn_200 > accuracy[10][1], accuracy


def test_conversion_runs_from_the_runner_and_resumes_exactly(tmp_path: Path) -> None:
    cfg = dict(task="digits", rule="conversion", epochs=2, hidden=[32])
    full = run(Config(out=str(tmp_path / "full"), **cfg))
    assert full.summary["test_accuracy"] > 0.6
    assert 0.0 < full.summary["ann_val_accuracy"] <= 1.0

    def stop(record: dict) -> None:
        if record["epoch"] == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(Config(out=str(tmp_path / "cut"), **cfg), on_epoch=stop)
    resumed = resume(tmp_path / "cut")
    a, b = full.network.state_dict(), resumed.network.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert full.summary["test_accuracy"] == resumed.summary["test_accuracy"]
    # the network carries its normalisation (rho, lambda_l), that of the scored epoch
    ckpt = load_checkpoint(tmp_path / "full" / "checkpoint.pt")
    state = ckpt["best_rule_state"]
    assert ckpt["best_model"]["conversion_scales"].tolist() == pytest.approx(
        [state["input_scale"], *state["scales"]])
    metrics = [json.loads(line) for line in (tmp_path / "cut" / "metrics.jsonl").read_text()
               .splitlines()]
    assert [m["epoch"] for m in metrics] == [1, 2]


def test_unsupported_networks_and_options_are_refused() -> None:
    g = torch.Generator().manual_seed(0)
    rule = ANNConversion()
    with pytest.raises(ValueError, match="layer 0 is recurrent"):
        rule.prepare(build_network(3, [4], 2, dt=DT, recurrent=True, generator=g))
    with pytest.raises(ValueError, match="ALIFParams neurons"):
        rule.prepare(build_network(3, [4], 2, dt=DT, neuron=ALIFParams(), generator=g))
    with pytest.raises(ValueError, match="reset='subtract' and t_ref=0, got reset='hard'"):
        rule.prepare(build_network(3, [4], 2, dt=DT, neuron=LIFParams(reset="hard")))
    with pytest.raises(ValueError, match=r"normalisation must be one of \['max', 'percentile'\]"):
        ANNConversion(normalisation="l2")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="percentile must be a number in \\(0, 100\\], got 0"):
        ANNConversion(percentile=0)
    with pytest.raises(RuntimeError, match="fit_epoch"):
        rule.assign_grads(build_network(3, [4], 2, dt=DT), None, torch.zeros(()))  # type: ignore
