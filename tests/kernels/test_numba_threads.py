"""The compiled CPU loops: the serial and the parallel compilation give identical results."""

from __future__ import annotations

import numpy as np
import pytest

nb = pytest.importorskip("snnlearn.kernels._numba_cpu")


def test_serial_and_parallel_lif_loops_agree_bit_for_bit():
    rng = np.random.default_rng(0)
    T, M = 30, 700  # several parallel blocks
    cur = rng.normal(0.0, 2.0, (T, M)).astype(np.float32)
    zeros = np.zeros(M, np.float32)
    consts = nb.as_dtype(np.dtype(np.float32), 0.95, 0.8, 0.05, 0.0, 1.0, 0.0, 1.0)
    times = nb.as_dtype(np.dtype(np.float32), 0.0, 1e-3, 5e-4)
    outs = []
    for fn in (nb.lif_forward.serial, nb.lif_forward.parallel):
        z, u = np.empty((T, M), np.float32), np.empty((T, M), np.float32)
        act = np.empty((1, 1), np.bool_)
        v, i, ref = (np.empty(M, np.float32) for _ in range(3))
        fn(cur, zeros, zeros, zeros, *consts, True, False, *times, z, u, act, v, i, ref)
        outs.append((z, u, v, i))
    for a, b in zip(*outs, strict=True):
        assert np.array_equal(a, b)
    assert outs[0][0].sum() > 0
