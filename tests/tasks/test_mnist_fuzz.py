"""Fuzz of the MNIST loader: generated broken IDX files load or fail with one clear ValueError."""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from snnlearn.tasks.mnist import MNIST

_spec = importlib.util.spec_from_file_location("mnist_helpers", Path(__file__).with_name(
    "test_mnist.py"))
assert _spec is not None and _spec.loader is not None
_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_helpers)

_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
          "t10k-labels-idx1-ubyte")


def _mutate(data: bytes, rng: np.random.Generator) -> bytes:
    kind = int(rng.integers(6))
    if kind == 0:  # truncate anywhere, the header included
        return data[:int(rng.integers(len(data)))]
    if kind == 1:  # flip bytes in the header
        b = bytearray(data)
        for i in rng.integers(0, min(16, len(b)), 2):
            b[i] = int(rng.integers(256))
        return bytes(b)
    if kind == 2:  # trailing garbage
        return data + bytes(rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8))
    if kind == 3:  # a header that lies about the count
        b = bytearray(data)
        b[4:8] = int(rng.integers(0, 2**32)).to_bytes(4, "big")
        return bytes(b)
    if kind == 4:  # gzipped, then truncated
        z = gzip.compress(data)
        return z[:int(rng.integers(2, len(z)))]
    b = bytearray(gzip.compress(data))  # gzipped, then a corrupt byte in the stream
    b[int(rng.integers(10, len(b)))] ^= 0xFF
    return bytes(b)


@pytest.mark.parametrize("case", range(48))
def test_broken_files_fail_with_one_line_naming_the_file(tmp_path: Path, case: int) -> None:
    rng = np.random.default_rng(case)
    _helpers.write_mnist(tmp_path / "mnist", n_train=20, n_test=6)
    name = _NAMES[case % 4]
    path = tmp_path / "mnist" / name
    path.write_bytes(_mutate(path.read_bytes(), rng))
    try:
        task = MNIST(root=tmp_path, n_val=4)
    except ValueError as err:  # the only exception a broken file may raise
        message = str(err)
        assert name in message and "\n" not in message, message
    else:  # a mutation that leaves a valid file (e.g. a label byte flipped within 0 .. 9)
        assert all(len(task.split(s)) > 0 for s in ("train", "val", "test"))
