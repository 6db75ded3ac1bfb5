"""Tests for snnlearn.tasks.autoencoder: sample ids, the coding loss and score on exact and
trivial reconstructions, the run-time threshold knob, and a short training run."""

from __future__ import annotations

import pytest
import torch

from snnlearn.experiments import registry
from snnlearn.layers import build_network
from snnlearn.neurons import ALIFParams
from snnlearn.simulate import unroll
from snnlearn.tasks.autoencoder import AutoEncoder, autoencoder_operating_point


@pytest.fixture(scope="module")
def task() -> AutoEncoder:
    return AutoEncoder(n_steps=10)


def test_labels_are_ids_of_the_images(task):
    ids = torch.cat([task.split(s).labels for s in ("train", "val", "test")])
    assert sorted(ids.tolist()) == list(range(1797))
    test = task.split("test")
    assert torch.equal(task.images[test.labels], test.inputs)
    x = task.encode(test.inputs[:4], generator=torch.Generator().manual_seed(0))
    assert tuple(x.shape) == (10, 4, 64) and set(x.unique().tolist()) <= {0.0, 1.0}


def test_loss_score_and_metrics_against_closed_forms(task):
    test = task.split("test")
    labels = test.labels[:8]
    x = test.inputs[:8]
    exact = x[None].expand(10, -1, -1)
    assert float(task.loss(exact, labels)) == 0.0
    assert torch.equal(task.score(exact, labels), torch.ones(8))
    assert task.predict(exact).tolist() == labels.tolist()
    mean = task.mean_image[None, None].expand(10, 8, -1)
    torch.testing.assert_close(task.score(mean, labels), torch.zeros(8), atol=1e-6, rtol=0)
    half = 0.5 * exact  # error x / 2: MSE = mean(x^2) / 4
    torch.testing.assert_close(task.metrics(half, labels)["coding_loss"],
                               x.square().mean(dim=1) / 4)
    with pytest.raises(ValueError, match="intensities"):
        task.encode(torch.zeros(2, 10))
    with pytest.raises(ValueError, match="max_rate"):
        AutoEncoder(max_rate=0.0)


def test_threshold_scale_changes_one_parameter_and_the_activity():
    task = AutoEncoder(n_steps=20)
    net = build_network(64, [50], 64, dt=task.dt, neuron=task.defaults.neuron, recurrent=True,
                        generator=torch.Generator().manual_seed(0))
    low = autoencoder_operating_point(net, 0.5, knob="threshold")
    high = autoencoder_operating_point(net, 2.0, knob="threshold")
    n = low.layers[0].neuron
    assert isinstance(n, ALIFParams) and n.lif.v_th == 0.5 * net.layers[0].neuron.lif.v_th
    assert n.adaptation == 0.5 * net.layers[0].neuron.adaptation
    assert net.layers[0].neuron.lif.v_th == 1.0  # the original is untouched
    assert torch.equal(low.layers[0].weight, net.layers[0].weight)
    x = task.encode(task.split("test").inputs[:16], generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        counts = [float(unroll(m, x).spikes[0].sum()) for m in (low, net, high)]
    assert counts[0] > counts[1] > counts[2]
    size = autoencoder_operating_point(net, 2.0)  # spike size: downstream weights x 2 too
    assert size.layers[0].neuron.lif.v_th == 2.0
    torch.testing.assert_close(size.layers[0].recurrent_weight, 2 * net.layers[0].recurrent_weight)
    torch.testing.assert_close(size.layers[1].weight, 2 * net.layers[1].weight)
    torch.testing.assert_close(size.layers[0].weight, net.layers[0].weight)
    with pytest.raises(ValueError, match="scale"):
        autoencoder_operating_point(net, 0.0)
    with pytest.raises(ValueError, match="knob"):
        autoencoder_operating_point(net, 1.0, knob="gain")


@pytest.mark.slow
def test_a_short_run_learns_to_reconstruct(tmp_path):
    from snnlearn.experiments import Config, run

    res = run(Config(task="autoencoder", rule="bptt", epochs=2, hidden=[64],
                     out=str(tmp_path / "run")))
    s = res.summary
    # two epochs: clearly better than the mean-image decoder (score 0, MSE 0.074) on the test
    # split; the coding loss is the score's numerator, so the two must agree
    assert s["test_accuracy"] > 0.25 and s["test_coding_loss"] < 0.055, s
    assert registry.make_task("autoencoder").name == "autoencoder"
