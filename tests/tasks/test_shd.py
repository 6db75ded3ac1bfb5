"""Tests of the SHD/SSC task on small files written in the real HDF5 layout."""

from __future__ import annotations

import inspect
import json
import math
import sys
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest
import torch

from snnlearn.tasks.base import SPLITS
from snnlearn.tasks.shd import N_UNITS, SpikingSpeech, read_spike_file

h5py = pytest.importorskip("h5py")


def write_spikes(path: Path, times, units, labels, *, times_dtype=np.float64,  # noqa: ANN001
                 units_dtype=np.uint16, skip: str = "") -> Path:
    """Write ``times``/``units`` (lists of per-sample arrays) and ``labels`` as SHD does."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        spikes = f.create_group("spikes")
        for key, values, dtype in (("times", times, times_dtype), ("units", units, units_dtype)):
            if key == skip:
                continue
            ds = spikes.create_dataset(key, (len(values),), dtype=h5py.vlen_dtype(dtype))
            for i, v in enumerate(values):
                ds[i] = np.asarray(v, dtype=dtype)
        if skip != "labels":
            f.create_dataset("labels", data=np.asarray(labels, dtype=np.uint8))
    return path


def random_file(path: Path, n: int, seed: int, n_classes: int = 20, *, t_max: float = 1.0,
                n_spikes: int = 30) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    times = [rng.uniform(0.0, t_max, n_spikes) for _ in range(n)]
    units = [rng.integers(0, N_UNITS, n_spikes) for _ in range(n)]
    labels = np.arange(n) % n_classes
    write_spikes(path, times, units, labels)
    return times, units, labels


@pytest.fixture
def shd_root(tmp_path: Path) -> Path:
    random_file(tmp_path / "shd_train.h5", 30, seed=0)
    random_file(tmp_path / "shd_test.h5", 8, seed=1)
    return tmp_path


def test_a_spike_lands_in_bin_floor_t_over_dt_and_late_spikes_are_dropped(tmp_path: Path) -> None:
    dt, n_steps = 10e-3, 50
    times = np.array([0.0, 0.0099, 0.01, 0.0234, 0.4999, 0.49999, 0.5, 0.73])
    units = np.array([0, 1, 2, 3, 4, 5, 6, 7])
    write_spikes(tmp_path / "shd_train.h5", [times, [0.1]], [units, [9]], [3, 4])
    write_spikes(tmp_path / "shd_test.h5", [[0.2]], [[8]], [5])
    task = SpikingSpeech(root=tmp_path, n_steps=n_steps, dt=dt, val_fraction=0.4)
    assert (task.n_in, task.n_out, task.n_steps, task.dt) == (700, 20, 50, 10e-3)
    x = task.encode(torch.tensor([0]))
    assert x.shape == (n_steps, 1, 700) and x.dtype == torch.float32
    expected = torch.zeros(n_steps, 700)
    for t, u in zip(times, units, strict=True):
        k = math.floor(t / dt)
        if k < n_steps:  # t >= n_steps * dt is dropped
            expected[k, u] += 1
    assert torch.equal(x[:, 0], expected)
    assert float(x.sum()) == 6  # the spikes at 0.5 s and 0.73 s are past T dt = 0.5 s
    assert x[0, 0, 1] == 1 and x[1, 0, 2] == 1 and x[49, 0, 5] == 1


def test_stored_float16_times_and_uint16_units_are_cast(tmp_path: Path) -> None:
    times = [np.array([0.0, 0.0312, 0.5])]
    write_spikes(tmp_path / "shd_train.h5", times * 2, [np.array([699, 1, 2])] * 2, [0, 1],
                 times_dtype=np.float16)
    write_spikes(tmp_path / "shd_test.h5", times, [np.array([0, 1, 2])], [2])
    f = read_spike_file(tmp_path / "shd_train.h5", n_classes=20)
    assert f.times.dtype == np.float64 and f.units.dtype == np.int64
    assert f.lengths.tolist() == [3, 3] and f.labels.tolist() == [0, 1]
    x = SpikingSpeech(root=tmp_path, dt=1e-3, n_steps=1000, val_fraction=0.5).encode(
        torch.tensor([0]))
    k = math.floor(float(np.float16(0.0312)) / 1e-3)
    assert x[0, 0, 699] == 1 and x[k, 0, 1] == 1 and x[500, 0, 2] == 1


def test_downsampling_sums_contiguous_groups_and_or_marks_once(tmp_path: Path) -> None:
    units = np.array([0, 99, 100, 350, 699, 698])
    times = np.full(units.size, 0.015)
    write_spikes(tmp_path / "shd_train.h5", [times, times], [units, units], [0, 1])
    write_spikes(tmp_path / "shd_test.h5", [times], [units], [0])
    summed = SpikingSpeech(root=tmp_path, n_channels=7, val_fraction=0.5)
    x = summed.encode(torch.tensor([2]))[1, 0]  # 15 ms -> step 1 at dt = 10 ms
    assert summed.n_in == 7 and x.tolist() == [2, 1, 0, 1, 0, 0, 2]
    ored = SpikingSpeech(root=tmp_path, n_channels=7, merge="or", val_fraction=0.5)
    assert ored.encode(torch.tensor([2]))[1, 0].tolist() == [1, 1, 0, 1, 0, 0, 1]
    uneven = SpikingSpeech(root=tmp_path, n_channels=3, val_fraction=0.5)
    groups = units * 3 // 700  # floor(u N / 700) when N does not divide 700
    expected = np.bincount(groups, minlength=3).tolist()
    assert uneven.encode(torch.tensor([2]))[1, 0].tolist() == expected


def test_counts_accumulate_within_a_bin_and_batches_are_time_first(shd_root: Path) -> None:
    task = SpikingSpeech(root=shd_root, n_channels=10)
    data = task.split("train")
    x = task.encode(data.inputs[:5])
    assert x.shape == (100, 5, 10)
    f = read_spike_file(shd_root / "shd_train.h5")
    starts = np.concatenate([[0], np.cumsum(f.lengths)])
    for b, i in enumerate(data.inputs[:5].tolist()):
        t = f.times[starts[i]:starts[i + 1]]
        assert float(x[:, b].sum()) == int((np.floor(t / 10e-3) < 100).sum())


def test_shd_splits_carve_validation_from_train_deterministically(shd_root: Path) -> None:
    task = SpikingSpeech(root=shd_root, val_fraction=0.2, seed=3)
    sizes = [len(task.split(s)) for s in SPLITS]
    assert sizes == [24, 6, 8]
    train, val, test = (task.split(s) for s in SPLITS)
    assert sorted(train.inputs.tolist() + val.inputs.tolist()) == list(range(30))
    assert test.inputs.tolist() == list(range(30, 38))
    labels = np.arange(30) % 20
    assert train.labels.tolist() == labels[train.inputs.numpy()].tolist()
    assert val.labels.tolist() == labels[val.inputs.numpy()].tolist()
    assert test.labels.tolist() == (np.arange(8) % 20).tolist()
    again = SpikingSpeech(root=shd_root, val_fraction=0.2, seed=3)
    other = SpikingSpeech(root=shd_root, val_fraction=0.2, seed=4)
    assert torch.equal(again.split("val").inputs, val.inputs)
    assert not torch.equal(other.split("val").inputs, val.inputs)


def test_ssc_uses_its_three_files(tmp_path: Path) -> None:
    for name, n, seed in (("train", 12, 0), ("valid", 5, 1), ("test", 7, 2)):
        random_file(tmp_path / "SSC" / f"ssc_{name}.h5", n, seed, n_classes=35)  # tonic layout
    task = SpikingSpeech("ssc", root=tmp_path)
    assert (task.name, task.n_out) == ("ssc", 35)
    assert [len(task.split(s)) for s in SPLITS] == [12, 5, 7]
    assert task.split("val").inputs.tolist() == list(range(12, 17))
    assert task.files["val"] == tmp_path / "SSC" / "ssc_valid.h5"
    assert task.encode(task.split("test").inputs).shape == (100, 7, 700)


def test_data_root_argument_environment_and_default(
        shd_root: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory) -> None:  # noqa: ANN001
    monkeypatch.setenv("SNNLEARN_DATA", str(shd_root))
    assert SpikingSpeech().root == shd_root
    home = tmp_path_factory.mktemp("home")
    random_file(home / "data" / "shd" / "shd_train.h5", 4, seed=0)
    random_file(home / "data" / "shd" / "shd_test.h5", 2, seed=1)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SNNLEARN_DATA")
    task = SpikingSpeech(val_fraction=0.25)
    assert task.files["train"] == home / "data" / "shd" / "shd_train.h5"
    assert len(task.split("train")) == 3
    assert SpikingSpeech(root=shd_root).files["test"] == shd_root / "shd_test.h5"


def test_missing_file_names_every_path_and_the_variable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNNLEARN_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError) as err:
        SpikingSpeech()
    message = str(err.value)
    for path in (tmp_path / "shd_train.h5", tmp_path / "shd" / "shd_train.h5",
                 tmp_path / "SHD" / "shd_train.h5"):
        assert repr(str(path)) in message
    assert "$SNNLEARN_DATA" in message
    random_file(tmp_path / "shd_train.h5", 4, seed=0)
    with pytest.raises(FileNotFoundError, match="shd_test.h5"):
        SpikingSpeech()


def test_a_compressed_file_gets_a_decompress_hint(tmp_path: Path) -> None:
    (tmp_path / "shd_train.h5.gz").write_bytes(b"\x1f\x8b")
    with pytest.raises(FileNotFoundError, match=r"found the compressed .*shd_train\.h5\.gz"):
        SpikingSpeech(root=tmp_path)


def _pair(tmp_path: Path, train: Path) -> SpikingSpeech:
    if not (tmp_path / "shd_test.h5").exists():
        random_file(tmp_path / "shd_test.h5", 2, seed=1)
    return SpikingSpeech(root=train.parent)


@pytest.mark.parametrize("skip", ["times", "units", "labels"])
def test_missing_dataset_key(tmp_path: Path, skip: str) -> None:
    path = write_spikes(tmp_path / "shd_train.h5", [[0.1]], [[1]], [0], skip=skip)
    key = "labels" if skip == "labels" else f"spikes/{skip}"
    with pytest.raises(ValueError, match=rf"shd_train\.h5' has no dataset '{key}'"):
        _pair(tmp_path, path)


@pytest.mark.parametrize("content", [b"", b"not an hdf5 file at all", b"\x89HDF\r\n\x1a\n\x00"])
def test_a_corrupt_or_truncated_file_is_not_hdf5(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "shd_train.h5").write_bytes(content)
    with pytest.raises(ValueError, match=r"shd_train\.h5' is not a readable HDF5 file"):
        _pair(tmp_path, tmp_path / "shd_train.h5")


def test_a_truncated_real_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "shd_train.h5"
    random_file(path, 20, seed=0)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"shd_train\.h5"):
        _pair(tmp_path, path)


@pytest.mark.parametrize(
    ("times", "units", "labels", "match"),
    [
        ([[0.1], [0.2]], [[1], [2]], [0], r"one entry per sample, got 2, 2 and 1"),
        ([[0.1]], [[1], [2]], [0], r"one entry per sample, got 1, 2 and 1"),
        ([[0.1, 0.2], [0.3]], [[1], [2]], [0, 1], r"sample 0 has 2 spike times but 1 units"),
        ([[0.1], [0.2, float("nan")]], [[1], [2, 3]], [0, 1], r"sample 1 has spike time nan"),
        ([[0.1], [float("inf")]], [[1], [2]], [0, 1], r"sample 1 has spike time inf"),
        ([[-0.1]], [[1]], [0], r"sample 0 has spike time -0\.1.*finite seconds >= 0"),
        ([[0.1], [0.2]], [[1], [700]], [0, 1], r"sample 1 has unit 700; .* 0 \.\. 699"),
        ([[0.1], [0.2]], [[1], [2]], [0, 20], r"sample 1 has label 20; .* in 0 \.\. 19"),
    ],
)
def test_malformed_contents_name_the_file_and_the_sample(
        tmp_path: Path, times, units, labels, match: str) -> None:  # noqa: ANN001
    path = write_spikes(tmp_path / "shd_train.h5", times, units, labels)
    with pytest.raises(ValueError, match=r"shd_train\.h5'.*" + match):
        _pair(tmp_path, path)


def test_a_padded_array_instead_of_variable_length_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "shd_train.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("spikes/times", data=np.zeros(2))
        f.create_dataset("spikes/units", data=np.zeros(2))
        f.create_dataset("labels", data=np.zeros(2, np.uint8))
    with pytest.raises(ValueError, match=r"'spikes/times' must be a variable-length array"):
        _pair(tmp_path, path)


def test_too_few_samples_to_carve_validation(tmp_path: Path) -> None:
    random_file(tmp_path / "shd_train.h5", 1, seed=0)
    with pytest.raises(ValueError, match=r"holds 1 training samples, too few"):
        _pair(tmp_path, tmp_path / "shd_train.h5")


def test_missing_h5py_says_how_to_install(
        shd_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'snnlearn\[data\]'"):
        SpikingSpeech(root=shd_root)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"corpus": "timit"}, r"\['shd', 'ssc'\]"), ({"n_steps": 0}, "n_steps"),
     ({"dt": 0.0}, "dt"), ({"n_channels": 701}, "n_channels"), ({"n_channels": 0}, "n_channels"),
     ({"merge": "max"}, r"\['sum', 'or'\]"), ({"val_fraction": 1.0}, "val_fraction"),
     ({"seed": -1}, "seed")],
)
def test_invalid_options_raise(shd_root: Path, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SpikingSpeech(root=shd_root, **kwargs)


def test_encode_checks_the_ids_and_predict_is_max_over_time(shd_root: Path) -> None:
    task = SpikingSpeech(root=shd_root)
    for bad in (torch.tensor([0.5]), torch.zeros(2, 3, dtype=torch.long)):
        with pytest.raises(ValueError, match=r"sample ids \[B\]"):
            task.encode(bad)
    with pytest.raises(ValueError, match=r"in \[0, 38\), got ids from 0 to 38"):
        task.encode(torch.tensor([0, 38]))
    assert task.encode(torch.zeros(0, dtype=torch.long)).shape == (100, 0, 700)
    out = torch.zeros(3, 2, 20)
    out[1, 0, 4], out[2, 1, 17] = 1.0, 2.0
    assert task.predict(out).tolist() == [4, 17]
    assert bool(torch.isfinite(task.loss(out, torch.tensor([4, 17]))))
    with pytest.raises(ValueError, match="train, val, test"):
        task.split("valid")  # type: ignore[arg-type]


def test_docstrings_are_their_own() -> None:
    assert inspect.getdoc(SpikingSpeech).startswith("SHD or SSC read from disk")


# coarse bins on purpose (dt = 40 ms, above tau_mem): fast, and warned about
@pytest.mark.filterwarnings("ignore::snnlearn.diagnostics.TimeConstantWarning")
def test_trains_through_the_runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from snnlearn.experiments import Config, registry, run

    rng = np.random.default_rng(0)
    data = tmp_path / "data"

    def sample(label: int) -> tuple[np.ndarray, np.ndarray]:
        units = rng.integers(0, 350, 40) + 350 * label  # class 0 low channels, class 1 high
        return rng.uniform(0.0, 0.5, 40), units

    for name, n in (("train", 36), ("test", 8)):
        pairs = [sample(i % 2) for i in range(n)]
        write_spikes(data / f"shd_{name}.h5", [p[0] for p in pairs], [p[1] for p in pairs],
                     np.arange(n) % 2)
    monkeypatch.setenv("SNNLEARN_DATA", str(data))
    # the registered factory with fewer, wider bins (SNNLEARN_DATA still locates the files)
    short = {**registry.TASKS, "shd": lambda: SpikingSpeech(n_steps=25, dt=40e-3)}
    monkeypatch.setattr(registry, "TASKS", MappingProxyType(short))
    cfg = Config(task="shd", epochs=2, hidden=[8], batch_size=36, lr=1e-2, gain=20.0,
                 out=str(tmp_path / "run"))  # 40 input spikes a sample: a gain that spikes
    result = run(cfg)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["task"] == "shd" and summary["epochs"] == 2
    assert 0.0 <= result.summary["test_accuracy"] <= 1.0
    assert json.loads((tmp_path / "run" / "config.json").read_text())["recurrent"] is True
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2 and all(math.isfinite(json.loads(x)["train_loss"]) for x in lines)
