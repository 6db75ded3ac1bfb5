"""Tests of the MNIST task on small files written in the real IDX format."""

from __future__ import annotations

import gzip
import inspect
from pathlib import Path

import numpy as np
import pytest
import torch

from snnlearn.tasks.base import SPLITS
from snnlearn.tasks.mnist import IMAGES_MAGIC, LABELS_MAGIC, MNIST, read_idx

_TYPES = {np.dtype("u1"): 0x08, np.dtype("i1"): 0x09, np.dtype(">i2"): 0x0B,
          np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of ``array`` (big-endian header, then the values)."""
    dtype = array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    header = bytes([0, 0, _TYPES[dtype], array.ndim])
    header += b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.astype(dtype).tobytes()


def write_mnist(folder: Path, n_train: int = 40, n_test: int = 12, *, gz: bool = False,
                seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        images[:, :4] = 0  # some zero pixels
        labels = (np.arange(n) % 10).astype(np.uint8)
        for kind, array in (("images-idx3-ubyte", images), ("labels-idx1-ubyte", labels)):
            name = f"{prefix}-{kind}"
            data = idx_bytes(array)
            if gz:
                (folder / (name + ".gz")).write_bytes(gzip.compress(data))
            else:
                (folder / name).write_bytes(data)
            arrays[name] = array
    return arrays


@pytest.fixture
def mnist_root(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    return tmp_path, write_mnist(tmp_path / "mnist")


@pytest.mark.parametrize("dtype", ["u1", "i1", ">i2", ">i4", ">f4", ">f8"])
def test_read_idx_round_trips_every_type(tmp_path: Path, dtype: str) -> None:
    array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype if dtype != "u1" else "u1")
    if dtype == "u1":
        array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a").write_bytes(idx_bytes(array))
    (tmp_path / "b.gz").write_bytes(gzip.compress(idx_bytes(array)))
    for name in ("a", "b.gz"):
        out = read_idx(tmp_path / name)
        assert out.shape == (2, 3, 4) and out.dtype.isnative
        np.testing.assert_array_equal(out, array)


def test_loads_splits_and_labels(mnist_root) -> None:  # noqa: ANN001
    root, arrays = mnist_root
    task = MNIST(root=root, n_val=8)
    assert (task.n_in, task.n_out, task.name) == (784, 10, "mnist")
    assert [len(task.split(s)) for s in SPLITS] == [32, 8, 12]
    train, val, test = (task.split(s) for s in SPLITS)
    assert train.inputs.dtype == torch.uint8 and train.inputs.shape == (32, 784)
    all_train = arrays["train-images-idx3-ubyte"].reshape(40, 784)
    rows = {r.tobytes(): i for i, r in enumerate(all_train)}
    used = sorted(rows[r.numpy().tobytes()] for r in torch.cat([train.inputs, val.inputs]))
    assert used == list(range(40))
    for part in (train, val):
        idx = [rows[r.numpy().tobytes()] for r in part.inputs]
        assert part.labels.tolist() == (np.array(idx) % 10).tolist()
    np.testing.assert_array_equal(test.inputs.numpy(), arrays["t10k-images-idx3-ubyte"]
                                  .reshape(12, 784))
    assert test.labels.tolist() == (np.arange(12) % 10).tolist()
    again, other = MNIST(root=root, n_val=8), MNIST(root=root, n_val=8, seed=1)
    assert torch.equal(again.split("val").inputs, val.inputs)
    assert not torch.equal(other.split("val").inputs, val.inputs)


def test_gzipped_files_and_torchvision_layout(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    arrays = write_mnist(tmp_path / "MNIST" / "raw", gz=True)
    monkeypatch.setenv("SNNLEARN_DATA", str(tmp_path))
    task = MNIST(n_val=4)
    assert task.files["t10k-labels-idx1-ubyte"] == (
        tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz")
    np.testing.assert_array_equal(task.split("test").inputs.numpy().reshape(-1, 28, 28),
                                  arrays["t10k-images-idx3-ubyte"])


def test_latency_coding_matches_digits(mnist_root) -> None:  # noqa: ANN001
    task = MNIST(root=mnist_root[0], n_val=8)
    x = task.split("test").inputs[:6]
    z = task.encode(x)
    assert z.shape == (20, 6, 784) and z.dtype == torch.float32
    p = x.float() / 255
    assert float(z.sum(dim=0)[p == 0].sum()) == 0.0
    assert bool((z.sum(dim=0)[p > 0] == 1).all())
    error = (z.argmax(dim=0).float() - (1 - p) * 19)[p > 0].abs()
    assert float(error.max()) <= 0.5 + 1e-4
    assert torch.equal(task.encode(p), z)  # float intensities in [0, 1] give the same spikes


def test_rate_coding_uses_the_generator(mnist_root) -> None:  # noqa: ANN001
    task = MNIST(root=mnist_root[0], n_val=8, coding="rate", n_steps=30)
    x = task.split("train").inputs[:4]
    a = task.encode(x, generator=torch.Generator().manual_seed(0))
    b = task.encode(x, generator=torch.Generator().manual_seed(0))
    c = task.encode(x, generator=torch.Generator().manual_seed(1))
    assert a.shape == (30, 4, 784) and torch.equal(a, b) and not torch.equal(a, c)
    assert float(a.sum(dim=0)[x == 0].sum()) == 0.0


def test_missing_file_lists_every_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNNLEARN_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError) as err:
        MNIST()
    for path in (tmp_path / "mnist" / "train-images-idx3-ubyte",
                 tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte.gz",
                 tmp_path / "train-images-idx3-ubyte"):
        assert repr(str(path)) in str(err.value)
    write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        MNIST(n_val=4)


def _break(root: Path, name: str, data: bytes) -> None:
    (root / "mnist" / name).write_bytes(data)


def test_wrong_magic_number(mnist_root) -> None:  # noqa: ANN001
    root, arrays = mnist_root
    _break(root, "train-images-idx3-ubyte", idx_bytes(arrays["train-labels-idx1-ubyte"]))
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte' has magic number 0x00000801, "
                                         r"expected 0x00000803"):
        MNIST(root=root, n_val=8)
    with pytest.raises(ValueError, match=r"not a valid IDX header"):
        (root / "x").write_bytes(b"\x01\x02\x08\x01" + bytes(8))
        read_idx(root / "x")


def test_truncated_and_overlong_files(mnist_root) -> None:  # noqa: ANN001
    root, arrays = mnist_root
    good = idx_bytes(arrays["train-images-idx3-ubyte"])
    for data, match in ((good[:-5], r"is truncated: shape \(40, 28, 28\) needs 31360 data bytes, "
                                    r"found 31355"),
                        (good[:10], r"is truncated inside its header"),
                        (good[:3], r"is truncated: 3 bytes"),
                        (good + b"\x00", r"is longer than its header says")):
        _break(root, "train-images-idx3-ubyte", data)
        with pytest.raises(ValueError, match=r"train-images-idx3-ubyte' " + match):
            MNIST(root=root, n_val=8)


def test_corrupt_gzip(tmp_path: Path) -> None:
    write_mnist(tmp_path, gz=True)
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-12])
    with pytest.raises(ValueError, match=r"labels-idx1-ubyte\.gz' is a corrupt or truncated gzip"):
        MNIST(root=tmp_path, n_val=4)


def test_mismatched_counts_sizes_and_labels(mnist_root) -> None:  # noqa: ANN001
    root, arrays = mnist_root
    labels = arrays["t10k-labels-idx1-ubyte"]
    _break(root, "t10k-labels-idx1-ubyte", idx_bytes(labels[:-1]))
    with pytest.raises(ValueError, match=r"disagree: 12 images but 11 labels"):
        MNIST(root=root, n_val=8)
    bad = labels.copy()
    bad[3] = 10
    _break(root, "t10k-labels-idx1-ubyte", idx_bytes(bad))
    with pytest.raises(ValueError, match=r"label 10 of sample 3 is outside 0 \.\. 9"):
        MNIST(root=root, n_val=8)
    _break(root, "t10k-labels-idx1-ubyte", idx_bytes(labels))
    _break(root, "t10k-images-idx3-ubyte", idx_bytes(np.zeros((12, 27, 28), np.uint8)))
    with pytest.raises(ValueError, match=r"must be 28 x 28, got 27 x 28"):
        MNIST(root=root, n_val=8)
    assert read_idx(root / "mnist" / "t10k-labels-idx1-ubyte", magic=LABELS_MAGIC).size == 12
    with pytest.raises(ValueError, match="expected 0x00000803"):
        read_idx(root / "mnist" / "t10k-labels-idx1-ubyte", magic=IMAGES_MAGIC)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"coding": "poisson"}, r"\['rate', 'latency'\]"), ({"n_steps": 1}, "n_steps"),
     ({"dt": -1.0}, "dt"), ({"max_rate": 5000.0}, "max_rate"), ({"n_val": 0}, "n_val"),
     ({"n_val": 40}, r"n_val=40 leaves no training image"), ({"seed": 2**32}, "seed")],
)
def test_invalid_options_raise(mnist_root, kwargs: dict, match: str) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match=match):
        MNIST(root=mnist_root[0], **kwargs)


def test_encode_rejects_bad_inputs(mnist_root) -> None:  # noqa: ANN001
    task = MNIST(root=mnist_root[0], n_val=8)
    with pytest.raises(ValueError, match=r"pixels \[B, 784\]"):
        task.encode(torch.zeros(2, 28, 28, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"intensities in \[0, 1\]"):
        task.encode(torch.full((1, 784), 255.0))
    with pytest.raises(ValueError, match="uint8 pixels or float"):
        task.encode(torch.zeros(1, 784, dtype=torch.int64))
    out = torch.zeros(3, 2, 10)
    out[1, 0, 4], out[2, 1, 9] = 1.0, 2.0
    assert task.predict(out).tolist() == [4, 9]
    with pytest.raises(ValueError, match="train, val, test"):
        task.split("valid")  # type: ignore[arg-type]


def test_docstring_is_its_own() -> None:
    assert inspect.getdoc(MNIST).startswith("MNIST from IDX files")


def test_an_empty_split_is_refused(mnist_root) -> None:  # noqa: ANN001
    root, _ = mnist_root
    _break(root, "t10k-images-idx3-ubyte", idx_bytes(np.zeros((0, 28, 28), np.uint8)))
    _break(root, "t10k-labels-idx1-ubyte", idx_bytes(np.zeros(0, np.uint8)))
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte' holds no images \(0 samples"):
        MNIST(root=root, n_val=8)


def test_sizes_are_checked_from_the_headers_before_any_data(mnist_root) -> None:  # noqa: ANN001
    root, _ = mnist_root
    # a header claiming 11 million images (8.6 GB), gzipped: refused from the two headers
    lie = bytes([0, 0, 8, 3]) + b"".join(n.to_bytes(4, "big") for n in (11_000_000, 28, 28))
    (root / "mnist" / "train-images-idx3-ubyte").unlink()
    (root / "mnist" / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(lie + bytes(1000)))
    with pytest.raises(ValueError, match="disagree: 11000000 images but 40 labels"):
        MNIST(root=root, n_val=8)
    with pytest.raises(ValueError, match=r"declares shape \(11000000, 28, 28\), 8224 MiB of data"):
        read_idx(root / "mnist" / "train-images-idx3-ubyte.gz")


def test_a_gzip_bomb_is_decoded_only_as_far_as_its_header_says(tmp_path: Path) -> None:
    header = bytes([0, 0, 8, 1]) + (100).to_bytes(4, "big")
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress(header + bytes(20 * 2**20), compresslevel=1))  # 20 MB
    with pytest.raises(ValueError, match=r"longer than its header says: shape \(100,\) needs 100 "
                                         r"data bytes, found 101 or more"):
        read_idx(path)
