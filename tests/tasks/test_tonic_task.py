"""Tests of the tonic task: event-to-frame binning (no tonic needed) and a tiny on-disk data set."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from snnlearn.tasks.tonic_task import TonicTask, events_to_frames

XYTP = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])
TXP = np.dtype([("t", int), ("x", int), ("p", int)])


def events(rows: list[tuple[int, int, int, int]]) -> np.ndarray:
    return np.array(rows, dtype=XYTP)


def test_an_event_lands_in_floor_t_over_dt_at_channel_p_h_y_w_x() -> None:
    sensor = (4, 3, 2)  # W, H, P
    ev = events([(0, 0, 0, 0), (3, 2, 999, 1), (1, 2, 1000, 0), (2, 1, 4999, 1),
                 (2, 1, 5000, 1), (0, 0, 7200, 0)])
    frames = events_to_frames(ev, sensor, n_steps=5, dt=1e-3, origin="zero")
    assert frames.shape == (5, 24) and frames.dtype == torch.float32
    expected = torch.zeros(5, 2, 3, 4)  # tonic's [T, P, H, W]
    for x, y, t, p in ev.tolist():
        k = math.floor(t / 1000)
        if k < 5:  # events at t >= n_steps * dt are dropped
            expected[k, p, y, x] += 1
    assert torch.equal(frames, expected.reshape(5, 24))
    assert float(frames.sum()) == 4


def test_origin_first_event_shifts_time_and_merge_or_marks_once() -> None:
    ev = events([(1, 0, 10_500, 0), (1, 0, 10_900, 0), (0, 0, 12_600, 1)])
    first = events_to_frames(ev, (2, 1, 2), n_steps=3, dt=1e-3)
    assert first[0].tolist() == [0, 2, 0, 0] and first[2].tolist() == [0, 0, 1, 0]
    assert float(events_to_frames(ev, (2, 1, 2), n_steps=3, dt=1e-3, origin="zero").sum()) == 0
    ored = events_to_frames(ev, (2, 1, 2), n_steps=3, dt=1e-3, merge="or")
    assert ored[0].tolist() == [0, 1, 0, 0]


def test_single_polarity_and_one_dimensional_sensors() -> None:
    ev = np.array([(100, 5, 1), (2500, 699, 1)], dtype=TXP)  # SHD in tonic: t first, p = 1
    frames = events_to_frames(ev, (700, 1, 1), n_steps=2, dt=1e-3, origin="zero")
    assert frames.shape == (2, 700)
    assert frames[0, 5] == 1 and float(frames.sum()) == 1  # 2.5 ms is past T dt = 2 ms


def test_empty_sample_gives_empty_frames() -> None:
    frames = events_to_frames(np.zeros(0, dtype=XYTP), (2, 2, 2), n_steps=4, dt=1e-3)
    assert frames.shape == (4, 8) and float(frames.sum()) == 0


def test_frames_match_tonic_to_frame() -> None:
    to_frame_numpy = pytest.importorskip("tonic.functional").to_frame_numpy

    rng = np.random.default_rng(0)
    ev = np.zeros(300, dtype=XYTP)
    ev["x"], ev["y"], ev["p"] = rng.integers(0, 5, 300), rng.integers(0, 4, 300), rng.integers(
        0, 2, 300)
    ev["t"] = np.sort(rng.integers(0, 10_000, 300))
    ev["t"][0] = 0
    ours = events_to_frames(ev, (5, 4, 2), n_steps=4, dt=2e-3)
    theirs = to_frame_numpy(ev.copy(), (5, 4, 2), time_window=2000.0)[:4]
    assert torch.equal(ours, torch.from_numpy(theirs.reshape(4, -1)).float())


@pytest.mark.parametrize(
    ("ev", "sensor", "match"),
    [(np.zeros(2, dtype=[("x", int), ("t", int)]), (2, 1, 1), r"fields x, t, p"),
     (np.zeros(2, dtype=TXP), (2, 2, 2), r"fields x, y, t, p"),
     (events([(4, 0, 0, 0)]), (4, 3, 2), r"event x values span 4 \.\. 4, outside .* 0 \.\. 3"),
     (events([(0, 3, 0, 0)]), (4, 3, 2), r"event y values"),
     (events([(0, 0, 0, 2)]), (4, 3, 2), r"event p values span 2 \.\. 2"),
     (events([(0, 0, -5, 0)]), (4, 3, 2), r"finite microseconds >= 0"),
     (np.zeros((2, 2)), (4, 3, 2), r"1-D structured array"),
     (events([(0, 0, 0, 0)]), (4, 3), r"sensor_size must be \(W, H, P\)")],
)
def test_malformed_events_raise(ev: np.ndarray, sensor: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        events_to_frames(ev, sensor, n_steps=2, dt=1e-3, origin="zero")


def test_nan_times_raise() -> None:
    ev = np.array([(0, 0, 0.0, 0), (0, 0, np.nan, 0)],
                  dtype=[("x", int), ("y", int), ("t", float), ("p", int)])
    with pytest.raises(ValueError, match="finite microseconds"):
        events_to_frames(ev, (1, 1, 1), n_steps=2, dt=1e-3)


def test_options_are_checked_before_tonic_is_needed() -> None:
    with pytest.raises(ValueError, match=r"\['sum', 'or'\]"):
        events_to_frames(events([]), (1, 1, 1), n_steps=2, dt=1e-3, merge="max")  # type: ignore
    with pytest.raises(ValueError, match=r"\['first_event', 'zero'\]"):
        TonicTask("NMNIST", origin="start")  # type: ignore[arg-type]


def test_missing_tonic_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tonic", None)
    monkeypatch.setitem(sys.modules, "tonic.datasets", None)
    with pytest.raises(ModuleNotFoundError, match="pip install tonic"):
        TonicTask("NMNIST")


# --- a tiny data set in tonic's on-disk layout (needs tonic and h5py) -------------------------


def _write_tonic_shd(root: Path, name: str, times, units, labels) -> None:  # noqa: ANN001
    h5py = pytest.importorskip("h5py")
    folder = root / "SHD"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.zip").write_bytes(b"")  # tonic checks the archive exists, then the .h5
    with h5py.File(folder / name, "w") as f:
        for key, values, dtype in (("times", times, np.float64), ("units", units, np.uint16)):
            ds = f.create_dataset(f"spikes/{key}", (len(values),), dtype=h5py.vlen_dtype(dtype))
            for i, v in enumerate(values):
                ds[i] = np.asarray(v, dtype=dtype)
        f.create_dataset("labels", data=np.asarray(labels, np.uint8))
        f.create_dataset("extra/keys", data=np.array([f"k{i}".encode() for i in range(20)]))
        f.create_dataset("extra/speaker", data=np.zeros(len(labels), np.uint8))


@pytest.fixture
def tonic_root(tmp_path: Path) -> Path:
    pytest.importorskip("tonic")
    rng = np.random.default_rng(0)
    for name, n in (("shd_train.h5", 10), ("shd_test.h5", 4)):
        # times in the middle of 1 ms bins, so tonic's cast to integer microseconds is exact
        times = [(rng.integers(0, 30, 6) + 0.5) * 1e-3 for _ in range(n)]
        units = [rng.integers(0, 700, 6) for _ in range(n)]
        _write_tonic_shd(tmp_path, name, times, units, np.arange(n) % 3)
    return tmp_path


def test_reads_a_tonic_dataset_from_disk(tonic_root: Path) -> None:
    from snnlearn.tasks.shd import SpikingSpeech

    task = TonicTask("SHD", root=tonic_root, n_steps=20, dt=1e-3, origin="zero",
                     val_fraction=0.2)
    assert (task.name, task.n_in, task.n_out, task.sensor_size) == ("tonic:SHD", 700, 20,
                                                                    (700, 1, 1))
    assert [len(task.split(s)) for s in ("train", "val", "test")] == [8, 2, 4]
    assert task.split("test").labels.tolist() == [0, 1, 2, 0]
    ours = SpikingSpeech(root=tonic_root, n_steps=20, dt=1e-3, val_fraction=0.2)
    for split in ("train", "val", "test"):
        a, b = task.split(split), ours.split(split)
        assert torch.equal(a.inputs, b.inputs) and torch.equal(a.labels, b.labels)
        assert torch.equal(task.encode(a.inputs), ours.encode(b.inputs))
    with pytest.raises(ValueError, match=r"sample ids must be in \[0, 14\)"):
        task.encode(torch.tensor([14]))


def test_make_task_tonic_reads_from_the_data_root(
        tonic_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from snnlearn.experiments.registry import make_task

    monkeypatch.setenv("SNNLEARN_DATA", str(tonic_root))
    task = make_task("tonic:SHD")
    assert task.name == "tonic:SHD" and task.encode(task.split("val").inputs).shape[1:] == (1, 700)


def test_absent_dataset_is_never_downloaded(tmp_path: Path) -> None:
    pytest.importorskip("tonic")
    with pytest.raises(FileNotFoundError, match=r"NMNIST is not on disk.*never downloads"):
        TonicTask("NMNIST", root=tmp_path)
    assert not any(tmp_path.rglob("*.zip"))


def test_unknown_dataset_lists_tonics(tmp_path: Path) -> None:
    pytest.importorskip("tonic")
    with pytest.raises(ValueError, match=r"unknown tonic data set 'MNIST'; .*NMNIST"):
        TonicTask("MNIST", root=tmp_path)
