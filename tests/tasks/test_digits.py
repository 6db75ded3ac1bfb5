"""Tests of the scikit-learn digits task: split, scaling, both encodings and a short training."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from snnlearn.tasks.base import SPLITS, accuracy
from snnlearn.tasks.digits import Digits


@pytest.fixture(scope="module")
def task() -> Digits:
    return Digits()


def _sorted_rows(x: np.ndarray) -> np.ndarray:
    return x[np.lexsort(x.T[::-1])]


def test_split_sizes(task: Digits) -> None:
    assert [len(task.split(s)) for s in SPLITS] == [1257, 270, 270]
    assert (task.n_in, task.n_out, task.dt) == (64, 10, 1e-3)


def test_splits_partition_the_scaled_dataset(task: Digits) -> None:
    images, labels = load_digits(return_X_y=True)
    parts = [task.split(s) for s in SPLITS]
    x = torch.cat([p.inputs for p in parts]).double().numpy()
    y = torch.cat([p.labels for p in parts]).numpy()
    full = np.concatenate([images / 16.0, labels[:, None]], axis=1)
    ours = np.concatenate([x, y[:, None]], axis=1)
    np.testing.assert_allclose(_sorted_rows(ours), _sorted_rows(full), rtol=0, atol=1e-7)


def test_inputs_are_float32_in_unit_interval_on_the_16_level_grid(task: Digits) -> None:
    x = task.split("train").inputs
    assert x.dtype == torch.float32 and x.shape[1] == 64
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    assert torch.allclose(x * 16, torch.round(x * 16), rtol=0.0, atol=1e-5)


def test_labels_in_range_and_stratified(task: Digits) -> None:
    overall = np.bincount(load_digits().target, minlength=10) / 1797
    for s in SPLITS:
        y = task.split(s).labels
        assert y.dtype == torch.int64 and int(y.min()) == 0 and int(y.max()) == 9
        counts = y.bincount(minlength=10).numpy()
        assert np.all(np.abs(counts - overall * len(y)) <= 2.0)  # two stratified roundings


def test_same_seed_same_split_other_seed_differs(task: Digits) -> None:
    again, other = Digits(), Digits(seed=1)
    for s in SPLITS:
        assert torch.equal(task.split(s).inputs, again.split(s).inputs)
        assert torch.equal(task.split(s).labels, again.split(s).labels)
    assert not torch.equal(task.split("test").inputs, other.split("test").inputs)


def test_latency_one_spike_per_nonzero_pixel_at_the_linear_time(task: Digits) -> None:
    x = task.split("val").inputs[:16]
    z = task.encode(x)
    assert z.shape == (task.n_steps, 16, 64) and z.dtype == torch.float32
    nonzero = x > 0
    assert float(z.sum(dim=0)[~nonzero].sum()) == 0.0  # zero pixels never spike
    assert bool((z.sum(dim=0)[nonzero] == 1).all())
    exact = (1 - x) * (task.n_steps - 1)  # t / dt = (1 - p)(T - 1), rounded to the grid
    error = (z.argmax(dim=0).float() - exact)[nonzero].abs()
    assert float(error.max()) <= 0.5 + 1e-4


def test_latency_ignores_the_generator(task: Digits) -> None:
    x = task.split("val").inputs[:4]
    a = task.encode(x, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, task.encode(x, generator=torch.Generator().manual_seed(1)))


def test_rate_coding_is_seeded_by_the_generator_and_silent_for_zero_pixels() -> None:
    rate = Digits(coding="rate", n_steps=40, max_rate=250.0)
    x = rate.split("train").inputs[:8]
    a = rate.encode(x, generator=torch.Generator().manual_seed(0))
    b = rate.encode(x, generator=torch.Generator().manual_seed(0))
    c = rate.encode(x, generator=torch.Generator().manual_seed(1))
    assert a.shape == (40, 8, 64) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert float(a.sum(dim=0)[x == 0].sum()) == 0.0


def test_rate_coding_mean_count_within_binomial_interval() -> None:
    rate = Digits(coding="rate", n_steps=50, max_rate=200.0)
    x = torch.full((400, 64), 0.5)
    z = rate.encode(x, generator=torch.Generator().manual_seed(0))
    p = 0.5 * 200.0 * 1e-3
    n = z.numel()
    assert abs(float(z.mean()) - p) < 5 * (p * (1 - p) / n) ** 0.5


def test_encode_rejects_a_wrong_shape(task: Digits) -> None:
    with pytest.raises(ValueError, match=r"\[B, 64\]"):
        task.encode(torch.zeros(2, 8, 8))


def test_predict_is_argmax_of_max_over_time(task: Digits) -> None:
    out = torch.zeros(4, 2, 10)
    out[2, 0, 7] = 1.0
    out[0, 1, 3] = 1.0
    out[3, 1, 3] = -1.0
    assert task.predict(out).tolist() == [7, 3]
    assert bool(torch.isfinite(task.loss(out, torch.tensor([7, 3]))))


def test_unknown_coding_lists_the_choices() -> None:
    with pytest.raises(ValueError, match=r"\['rate', 'latency'\].*'poisson'"):
        Digits(coding="poisson")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"n_steps": 1}, "n_steps"), ({"dt": -1e-3}, "dt"), ({"max_rate": 0.0}, "max_rate"),
     ({"max_rate": 2000.0}, "max_rate"), ({"seed": -1}, "seed"), ({"seed": 2**32}, "seed")],
)
def test_invalid_options_raise(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Digits(**kwargs)


def test_unknown_split_lists_the_choices(task: Digits) -> None:
    with pytest.raises(ValueError, match="train, val, test"):
        task.split("valid")  # type: ignore[arg-type]


def test_docstring_is_its_own() -> None:
    assert inspect.getdoc(Digits).startswith("scikit-learn digits")


@pytest.mark.slow
def test_bptt_learns_digits_well_above_chance(task: Digits) -> None:
    from snnlearn.layers import build_network
    from snnlearn.simulate import unroll

    d = task.defaults
    g = torch.Generator().manual_seed(0)
    net = build_network(task.n_in, (64,), task.n_out, dt=task.dt, neuron=d.neuron,
                        readout=d.readout, gain=d.gain, generator=g)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    train, test = task.split("train"), task.split("test")
    for _ in range(4):
        perm = torch.randperm(len(train), generator=g)
        for i in range(0, len(train), d.batch_size):
            idx = perm[i:i + d.batch_size]
            loss = task.loss(unroll(net, task.encode(train.inputs[idx])).outputs,
                             train.labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        acc = accuracy(task, unroll(net, task.encode(test.inputs)).outputs, test.labels)
    assert acc > 0.6  # chance is 0.1; the full defaults reach >= 0.95
