"""The compiled CPU loops: the serial and the parallel compilation give identical results."""

from __future__ import annotations

import numpy as np
import pytest

nb = pytest.importorskip("snnlearn.kernels._numba_cpu")


@pytest.mark.parametrize("adaptive", [False, True])
def test_serial_and_parallel_lif_loops_agree_bit_for_bit(adaptive: bool):
    rng = np.random.default_rng(0)
    T, M = 30, 700  # several parallel blocks
    cur = rng.normal(0.0, 2.0, (T, M)).astype(np.float32)
    zeros = np.zeros(M, np.float32)
    consts = nb.as_dtype(np.dtype(np.float32), 0.95, 0.8, 0.05, 0.0, 1.0, 0.0, 1.0, 1.7, 0.9, 0.1)
    times = nb.as_dtype(np.dtype(np.float32), 0.0, 1e-3, 5e-4)
    outs = []
    for fn in (nb.lif_forward.serial, nb.lif_forward.parallel):
        z, u = np.empty((T, M), np.float32), np.empty((T, M), np.float32)
        act = np.empty((1, 1), np.bool_)
        a_seq = np.empty((T, M) if adaptive else (1, 1), np.float32)
        v, i, ref, a = (np.empty(M, np.float32) for _ in range(4))
        fn(cur, zeros, zeros, zeros, zeros, *consts, True, False, adaptive, *times, z, u, act,
           a_seq, v, i, ref, a)
        outs.append((z, u, v, i, a_seq if adaptive else z, a if adaptive else v))
    for a, b in zip(*outs, strict=True):
        assert np.array_equal(a, b)
    assert outs[0][0].sum() > 0
