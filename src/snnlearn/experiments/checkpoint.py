"""Checkpoints: atomic writes, a SHA-256 sidecar, and ``weights_only`` loading.

A checkpoint is one ``torch.save`` file holding only tensors, numbers, strings, lists and dicts, so
it loads with ``torch.load(weights_only=True)`` (no arbitrary code runs). Next to it,
``<name>.sha256`` holds its SHA-256 digest in ``sha256sum`` format; a flipped byte inside tensor
data otherwise loads silently.

Writes are atomic: the file and its digest are written to temporary files in the same folder,
flushed and ``fsync``-ed, then moved over the old ones with ``os.replace``. A crash at any point
leaves a checkpoint that verifies: the old one, or the new one whose digest is still in the
temporary sidecar (which :func:`load_checkpoint` accepts in that one window).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "CheckpointError", "CHECKPOINT_NAME", "FORMAT_VERSION", "REQUIRED_KEYS",
    "save_checkpoint", "load_checkpoint", "sidecar_path", "write_json", "write_jsonl",
]

CHECKPOINT_NAME = "checkpoint.pt"
FORMAT_VERSION = 1
REQUIRED_KEYS = (
    "format_version", "config", "epoch", "model", "optimizer", "best_model", "best_epoch",
    "best_val_accuracy", "history", "train_seconds",
)
_TMP_SUFFIX = ".tmp"


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, corrupt, or of an unknown format."""


def sidecar_path(path: str | Path) -> Path:
    """The digest file next to checkpoint ``path``: ``<path>.sha256``."""
    path = Path(path)
    return path.with_name(path.name + ".sha256")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_durably(path: Path, data: bytes) -> None:
    with path.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open a folder
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Atomically write ``payload`` to ``path`` and its SHA-256 digest to ``<path>.sha256``.

    Args:
        path: the checkpoint file; its folder must exist.
        payload: the checkpoint dict (tensors, numbers, strings, lists and dicts only, so that it
            loads with ``weights_only=True``).

    Raises:
        Whatever serialisation or the file system raises; the previous checkpoint, if any, is
        left untouched and no temporary file is left behind.
    """
    path = Path(path)
    sidecar = sidecar_path(path)
    tmp = path.with_name(path.name + _TMP_SUFFIX)
    tmp_sidecar = sidecar.with_name(sidecar.name + _TMP_SUFFIX)
    moved = False
    try:
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        data = buffer.getvalue()
        _write_durably(tmp, data)
        _write_durably(tmp_sidecar, f"{_sha256(data)}  {path.name}\n".encode())
        os.replace(tmp, path)
        moved = True  # from here the new digest must survive: it is the only one that matches
        os.replace(tmp_sidecar, sidecar)
        _fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)
        if not moved:
            tmp_sidecar.unlink(missing_ok=True)


def _read_digest(sidecar: Path) -> str | None:
    try:
        text = sidecar.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    digest = text.split()[0].lower() if text else ""
    return digest if len(digest) == 64 else None


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Verify ``path`` against its SHA-256 sidecar and load it with ``weights_only=True``.

    Raises:
        CheckpointError: the file or its digest is missing, the digest does not match, the file
            cannot be unpickled, or it is not a snnlearn checkpoint of a known format version.
            The message names the file, the problem and what to do.
    """
    path = Path(path)
    restart = (
        "restore the file from a backup, or start the run again with `snnlearn train` "
        "(another --out keeps this folder)"
    )
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(
            f"checkpoint {str(path)!r} does not exist; is this a run folder made by "
            "`snnlearn train`? A run interrupted before its first epoch ended has no checkpoint: "
            "start it again with `snnlearn train`"
        ) from None
    except OSError as err:
        raise CheckpointError(f"checkpoint {str(path)!r} cannot be read ({err})") from None
    sidecar = sidecar_path(path)
    digest = _sha256(data)
    expected = _read_digest(sidecar)
    pending = _read_digest(sidecar.with_name(sidecar.name + _TMP_SUFFIX))
    if expected is None and pending is None:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has no valid SHA-256 file {str(sidecar)!r}, so it cannot "
            f"be verified; {restart}"
        )
    if digest not in (expected, pending):
        problem = "is empty" if not data else f"has {len(data)} bytes"
        raise CheckpointError(
            f"checkpoint {str(path)!r} is corrupt: it {problem} with SHA-256 {digest[:12]}... but "
            f"{sidecar.name} expects {(expected or pending or '')[:12]}... (truncated, modified or "
            f"partly written); {restart}"
        )
    try:
        payload = torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for a bad file
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(
            f"checkpoint {str(path)!r} cannot be loaded ({type(err).__name__}: {first}); "
            f"{restart}"
        ) from None
    if not isinstance(payload, dict) or "format_version" not in payload:
        raise CheckpointError(
            f"{str(path)!r} is not a snnlearn checkpoint (no 'format_version'); {restart}"
        )
    if payload["format_version"] != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has format version {payload['format_version']!r}, but this "
            f"snnlearn reads version {FORMAT_VERSION}; resume it with the snnlearn version that "
            "wrote it"
        )
    missing = [k for k in REQUIRED_KEYS if k not in payload]
    if missing:
        raise CheckpointError(
            f"checkpoint {str(path)!r} lacks the key(s) {', '.join(missing)}; {restart}"
        )
    return payload


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically (temporary file, then rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    """Write one JSON object per line to ``path`` atomically."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in records))
    os.replace(tmp, path)
