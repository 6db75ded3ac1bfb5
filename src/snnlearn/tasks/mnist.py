"""MNIST read from its IDX files on disk (28 x 28 images, 10 classes), rate- or latency-coded.

Files (never downloaded): ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each also accepted gzipped (the same
name plus ``.gz``). Each is looked for in ``<root>/mnist``, ``<root>/MNIST/raw`` (torchvision's
layout) and ``<root>`` itself; the data root is the ``root`` argument, else the environment variable
``SNNLEARN_DATA``, else ``~/data``.

IDX format (LeCun et al.): a big-endian header, then the values in row-major order::

    bytes 0-1   0x0000
    byte  2     element type (0x08 unsigned byte, 0x09 signed byte, 0x0B int16, 0x0C int32,
                0x0D float32, 0x0E float64; big-endian)
    byte  3     number of dimensions d
    then d      big-endian uint32 sizes

so the images' magic number is ``0x00000803`` (2051: bytes, 3 dimensions) and the labels'
``0x00000801`` (2049). Every file is checked: the magic number, the sizes (images
``[N, 28, 28]``, labels ``[N]`` with the same ``N``, labels in ``0 .. 9``) and the length (a
truncated file, or one with bytes past the data, is rejected), headers first, so that no data is
read or decompressed before the sizes are known to agree (a gzip stream is decoded only up to the
length its header declares, at most :data:`IDX_MAX_BYTES`); a file with no images is refused. An
error names the file and what was expected.

Pixels ``0 .. 255`` are kept as uint8 raw inputs ``[N, 784]`` and scaled to ``p = pixel / 255``
when encoded, as in :mod:`snnlearn.tasks.digits`:

- ``"latency"``: one spike per non-zero pixel at ``t = (1 - p) (n_steps - 1) dt`` (brighter is
  earlier, :func:`snnlearn.encoders.latency_encode`). Deterministic.
- ``"rate"``: Poisson spikes with probability ``p * max_rate * dt`` per step
  (:func:`snnlearn.encoders.poisson_encode`), drawn from the given generator.

Splits: ``n_val`` training images (5000 by default), chosen by a permutation from a local
generator seeded with ``seed``, form the validation split; the test split is the t10k files.

References:
    LeCun, Y., Bottou, L., Bengio, Y. & Haffner, P. (1998). Gradient-based learning applied to
    document recognition. Proceedings of the IEEE 86(11), 2278-2324. doi:10.1109/5.726791
"""

from __future__ import annotations

import gzip
import math
import numbers
import os
import zlib
from pathlib import Path
from typing import BinaryIO, Literal, get_args

import numpy as np
import torch
from torch import Tensor

from snnlearn.losses import max_membrane_cross_entropy
from snnlearn.neurons import LIFParams, LIParams
from snnlearn.tasks._images import check_image_coding, encode_intensities
from snnlearn.tasks._ondisk import (
    carve_validation,
    check_nonempty,
    check_seed,
    data_root,
    find_file,
)
from snnlearn.tasks.base import SPLITS, Split, Task, TaskData, TaskDefaults

__all__ = ["MNIST", "MNISTCoding", "read_idx", "read_idx_header", "IMAGES_MAGIC", "LABELS_MAGIC",
           "IDX_MAX_BYTES"]

MNISTCoding = Literal["rate", "latency"]
IMAGES_MAGIC = 0x00000803
"""Magic number of an IDX file of unsigned bytes with 3 dimensions (MNIST images)."""
LABELS_MAGIC = 0x00000801
"""Magic number of an IDX file of unsigned bytes with 1 dimension (MNIST labels)."""

_IDX_TYPES: dict[int, str] = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4",
                              0x0E: ">f8"}
_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
          "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
_SIDE = 28


IDX_MAX_BYTES = 2**31
"""The largest data an IDX file may claim in its header (2 GiB; MNIST's training images are
47 MB). A larger claim is refused before anything is allocated or decompressed."""


def _open_idx(path: Path, where: str) -> BinaryIO:
    """``path`` opened for reading, through a gzip decoder if it starts with the gzip magic."""
    try:
        with path.open("rb") as f:
            gzipped = f.read(2) == b"\x1f\x8b"
        return gzip.open(path, "rb") if gzipped else path.open("rb")  # type: ignore[return-value]
    except FileNotFoundError:
        raise FileNotFoundError(f"{where} does not exist") from None
    except OSError as err:
        raise ValueError(f"{where} cannot be read ({err.strerror or err})") from None


def _read(f: BinaryIO, n: int, where: str) -> bytes:
    """At most ``n`` bytes of ``f`` (a bounded read: a gzip stream is decoded no further)."""
    try:
        return f.read(n)
    except (OSError, EOFError, zlib.error) as err:
        raise ValueError(f"{where} is a corrupt or truncated gzip file ({err})") from None


def _idx_header(f: BinaryIO, where: str, magic: int | None) -> tuple[tuple[int, ...], np.dtype]:
    head = _read(f, 4, where)
    if len(head) < 4:
        raise ValueError(f"{where} is truncated: {len(head)} bytes, shorter than the 4-byte "
                         f"IDX magic number")
    found = int.from_bytes(head, "big")
    if magic is not None and found != magic:
        raise ValueError(f"{where} has magic number 0x{found:08X}, expected 0x{magic:08X}; "
                         "is it the right file (images vs labels), and not corrupt?")
    if head[:2] != b"\x00\x00" or head[2] not in _IDX_TYPES or head[3] == 0:
        raise ValueError(f"{where} has magic number 0x{found:08X}, not a valid IDX header "
                         "(expected 0x0000, a type code 0x08-0x0E and at least one dimension)")
    ndim, dtype = head[3], np.dtype(_IDX_TYPES[head[2]])
    sizes = _read(f, 4 * ndim, where)
    if len(sizes) < 4 * ndim:
        raise ValueError(f"{where} is truncated inside its header: {4 + len(sizes)} bytes, "
                         f"expected {4 + 4 * ndim} for {ndim} dimensions")
    return tuple(int.from_bytes(sizes[4 * i:4 * i + 4], "big") for i in range(ndim)), dtype


def read_idx_header(path: str | os.PathLike[str], *,
                    magic: int | None = None) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and element type an IDX file's header declares; reads the header only.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: as :func:`read_idx`, for the header.
    """
    path = Path(path)
    where = f"IDX file {str(path)!r}"
    with _open_idx(path, where) as f:
        return _idx_header(f, where, magic)


def read_idx(path: str | os.PathLike[str], *, magic: int | None = None,
             max_bytes: int = IDX_MAX_BYTES) -> np.ndarray:
    """Read an IDX file (plain or gzipped, told apart by content) into a NumPy array.

    The header is read and checked first; the data is then read (and decompressed) only up to
    the length the header declares, so neither a lying header nor a gzip bomb allocates more
    than ``max_bytes``.

    Args:
        path: the file.
        magic: the magic number the file must start with (e.g. :data:`IMAGES_MAGIC`); ``None``
            accepts any valid IDX header.
        max_bytes: the most data bytes the header may declare (default :data:`IDX_MAX_BYTES`).

    Returns:
        An array of the header's shape and element type (native byte order).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: a corrupt gzip stream, a wrong or invalid magic number, a header declaring
            more than ``max_bytes``, or a data length that does not match the header (truncated
            or with trailing bytes); the message names the file and what was expected.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "labels-idx1-ubyte")
        >>> with open(path, "wb") as f:
        ...     _ = f.write(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1]))
        >>> read_idx(path, magic=LABELS_MAGIC)
        array([7, 2, 1], dtype=uint8)
    """
    path = Path(path)
    where = f"IDX file {str(path)!r}"
    with _open_idx(path, where) as f:
        shape, dtype = _idx_header(f, where, magic)
        expected = math.prod(shape) * dtype.itemsize
        if expected > max_bytes:
            raise ValueError(
                f"{where} declares shape {shape}, {expected / 2**20:.0f} MiB of data, more than "
                f"the {max_bytes / 2**20:.0f} MiB a file may hold here; it is corrupt or not an "
                "IDX file of this data set"
            )
        header = 4 + 4 * len(shape)
        if isinstance(f, gzip.GzipFile):
            raw = _read(f, expected + 1, where)
            got, more = len(raw), ""
            if got > expected:
                more = " or more"
        else:
            got, more = os.fstat(f.fileno()).st_size - header, ""
            raw = _read(f, expected, where) if got == expected else b""
    if got != expected:
        state = "truncated" if got < expected else "longer than its header says"
        raise ValueError(f"{where} is {state}: shape {shape} needs {expected} data bytes, "
                         f"found {got}{more}")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


class MNIST(Task):
    """MNIST from IDX files: 784 input channels, 10 classes, 55000 / 5000 / 10000 split.

    See the module docstring for the files, their checks, the split and both encodings.

    Args:
        root: folder holding the files; ``None`` reads ``$SNNLEARN_DATA``, else ``~/data``.
        coding: ``"latency"`` (one spike per non-zero pixel, brighter earlier) or ``"rate"``
            (Poisson spikes at a rate proportional to the intensity).
        n_steps: time steps ``T`` of one sample (>= 2).
        dt: time step (s, > 0).
        max_rate: firing rate of a full-intensity pixel under rate coding (Hz, > 0, with
            ``max_rate * dt <= 1``); unused by latency coding.
        n_val: training images held out for validation (>= 1, fewer than the training images).
        seed: seed of the validation carve (int in ``[0, 2**32)``).

    Shapes:
        raw inputs: pixels ``[N, 784]`` (uint8); encoded: ``[n_steps, B, 784]``.

    Raises:
        FileNotFoundError: a file is missing (the message lists every path looked at).
        ValueError: an option out of range or a malformed file.

    Example:
        >>> MNIST(root="/nonexistent")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        FileNotFoundError: MNIST file 'train-images-idx3-ubyte' not found; looked for ...
    """

    name = "mnist"

    def __init__(
        self, *, root: str | os.PathLike[str] | None = None, coding: MNISTCoding = "latency",
        n_steps: int = 20, dt: float = 1e-3, max_rate: float = 200.0, n_val: int = 5000,
        seed: int = 0,
    ) -> None:
        self.dt = check_image_coding("MNIST", coding, get_args(MNISTCoding), n_steps, dt,
                                     max_rate)
        if isinstance(n_val, bool) or not isinstance(n_val, numbers.Integral) or n_val < 1:
            raise ValueError(f"MNIST.n_val must be an int >= 1, got {n_val!r}")
        self.coding: MNISTCoding = coding
        self.spatial_shape = (1, _SIDE, _SIDE)
        self.n_in, self.n_out, self.n_steps = _SIDE * _SIDE, 10, int(n_steps)
        self.max_rate = float(max_rate)
        self.n_val = int(n_val)
        self.seed = check_seed("MNIST", seed)
        self.defaults = TaskDefaults(
            hidden=(256,), neuron=LIFParams(tau_mem=20e-3, tau_syn=5e-3),
            readout=LIParams(tau_mem=20e-3, tau_syn=5e-3), gain=1.65, epochs=20,
            batch_size=128, lr=2e-3,
        )
        self.root = data_root(root)
        dirs = (self.root / "mnist", self.root / "MNIST" / "raw", self.root)
        self.files: dict[str, Path] = {
            name: find_file(f"MNIST file {name!r}",
                            [d / (name + ext) for d in dirs for ext in ("", ".gz")], root)
            for names in _FILES.values() for name in names
        }
        self._data = self._load()

    def _read_pair(self, images_name: str, labels_name: str) -> tuple[np.ndarray, np.ndarray]:
        images_path, labels_path = self.files[images_name], self.files[labels_name]
        # both headers first: sizes are checked before any data is read or decompressed
        image_shape, _ = read_idx_header(images_path, magic=IMAGES_MAGIC)
        label_shape, _ = read_idx_header(labels_path, magic=LABELS_MAGIC)
        if image_shape[1:] != (_SIDE, _SIDE):
            raise ValueError(f"MNIST images {str(images_path)!r} must be {_SIDE} x {_SIDE}, got "
                             f"{image_shape[1]} x {image_shape[2]}")
        if image_shape[0] != label_shape[0]:
            raise ValueError(
                f"MNIST files {str(images_path)!r} and {str(labels_path)!r} disagree: "
                f"{image_shape[0]} images but {label_shape[0]} labels"
            )
        check_nonempty("MNIST", "images", image_shape[0], images_path)
        images = read_idx(images_path, magic=IMAGES_MAGIC)
        labels = read_idx(labels_path, magic=LABELS_MAGIC)
        if labels.size and labels.max() >= self.n_out:
            bad = int(np.flatnonzero(labels >= self.n_out)[0])
            raise ValueError(f"MNIST labels {str(labels_path)!r}: label {int(labels[bad])} of "
                             f"sample {bad} is outside 0 .. 9")
        return images.reshape(-1, _SIDE * _SIDE), labels.astype(np.int64)

    def _load(self) -> dict[str, TaskData]:
        x_train, y_train = self._read_pair(*_FILES["train"])
        x_test, y_test = self._read_pair(*_FILES["test"])
        if self.n_val >= len(y_train):
            raise ValueError(
                f"MNIST.n_val={self.n_val} leaves no training image: "
                f"{str(self.files[_FILES['train'][0]])!r} holds {len(y_train)}; lower n_val"
            )
        train, val = carve_validation(len(y_train), self.n_val, self.seed)
        parts = {"train": (x_train[train], y_train[train]), "val": (x_train[val], y_train[val]),
                 "test": (x_test, y_test)}
        return {s: TaskData(torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y))
                for s, (x, y) in parts.items()}

    def split(self, split: Split) -> TaskData:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
        return self._data[split]

    def encode(self, inputs: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """Encode pixels ``[B, 784]`` into spikes ``[n_steps, B, 784]`` (float32).

        ``inputs`` are uint8 pixels ``0 .. 255`` (the raw inputs) or floating intensities in
        ``[0, 1]``. Rate coding draws from ``generator``; latency coding ignores it.
        """
        if not isinstance(inputs, Tensor) or inputs.ndim != 2 or inputs.shape[1] != self.n_in:
            shape = tuple(inputs.shape) if isinstance(inputs, Tensor) else type(inputs).__name__
            raise ValueError(f"MNIST inputs must be pixels [B, {self.n_in}], got {shape}")
        if inputs.dtype == torch.uint8:
            p = inputs.float() / 255.0
        elif inputs.is_floating_point():
            p = inputs.float()
            if p.numel() and not bool(((p >= 0) & (p <= 1)).all()):
                raise ValueError("MNIST float inputs must be intensities in [0, 1]; pass uint8 "
                                 "pixels 0 .. 255 or scale them by 1 / 255")
        else:
            raise ValueError(f"MNIST inputs must be uint8 pixels or float intensities, got "
                             f"{inputs.dtype}")
        return encode_intensities(p, self.coding, self.n_steps, self.dt, self.max_rate, generator)

    def loss(self, outputs: Tensor, labels: Tensor) -> Tensor:
        return max_membrane_cross_entropy(outputs, labels)

    def predict(self, outputs: Tensor) -> Tensor:
        return outputs.amax(dim=0).argmax(dim=-1)
