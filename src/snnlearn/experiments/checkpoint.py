"""Checkpoints: atomic writes, a SHA-256 sidecar, and ``weights_only`` loading.

A checkpoint is one ``torch.save`` file holding only tensors, numbers, strings, lists and dicts, so
it loads with ``torch.load(weights_only=True)`` (no arbitrary code runs). Next to it,
``<name>.sha256`` holds its SHA-256 digest in ``sha256sum`` format; a flipped byte inside tensor
data otherwise loads silently.

Writes are atomic and ordered so that the sidecar always lists the digest of the checkpoint on
disk: the new file is written to a temporary file and ``fsync``-ed; the sidecar is replaced by one
listing the new digest *and* the old one; the checkpoint is moved into place with
``os.replace``; the sidecar is replaced by one listing the new digest alone. Every replacement is
atomic, so a crash at any point leaves a checkpoint whose digest the sidecar lists: the old one or
the new one. :func:`load_checkpoint` accepts any digest the sidecar lists (and, for folders
written by earlier versions, the one in a leftover ``<name>.sha256.tmp``); with ``repair=True``
(what ``resume`` does) it then rewrites the sidecar to the one matching digest and removes the
leftover temporary files.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any

import torch

from snnlearn.experiments.runfiles import json_text, write_text_atomically

__all__ = [
    "CheckpointError", "CHECKPOINT_NAME", "FORMAT_VERSION", "REQUIRED_KEYS",
    "save_checkpoint", "load_checkpoint", "sidecar_path", "repair_sidecar", "write_json",
    "write_jsonl",
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
        left untouched and still verifies, and no temporary file is left behind.
    """
    path = Path(path)
    sidecar = sidecar_path(path)
    tmp = path.with_name(path.name + _TMP_SUFFIX)
    try:
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        data = buffer.getvalue()
        _write_durably(tmp, data)
        new = _sha256(data)
        old = [d for d in _read_digests(sidecar) if d != new][:2]
        _write_sidecar(sidecar, [new, *old], path.name)  # lists both: either file verifies
        os.replace(tmp, path)
        _write_sidecar(sidecar, [new], path.name)
        _fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def _write_sidecar(sidecar: Path, digests: list[str], name: str) -> None:
    """Replace ``sidecar`` atomically by one ``sha256sum`` line per digest."""
    tmp = sidecar.with_name(sidecar.name + _TMP_SUFFIX)
    try:
        _write_durably(tmp, "".join(f"{d}  {name}\n" for d in digests).encode())
        os.replace(tmp, sidecar)
    finally:
        tmp.unlink(missing_ok=True)


def _read_digests(sidecar: Path) -> list[str]:
    """The valid digests ``sidecar`` lists, in order (none if it is missing or unreadable)."""
    try:
        with sidecar.open("rb") as f:
            text = f.read(4096).decode("ascii")
    except (OSError, UnicodeDecodeError):
        return []
    digests = [line.split()[0].lower() for line in text.splitlines() if line.strip()]
    return [d for d in digests if len(d) == 64 and all(c in "0123456789abcdef" for c in d)]


def _read_digest(sidecar: Path) -> str | None:
    digests = _read_digests(sidecar)
    return digests[0] if digests else None


def repair_sidecar(path: str | Path, digest: str) -> None:
    """Make ``<path>.sha256`` list ``digest`` alone and drop leftover temporary files."""
    path = Path(path)
    sidecar = sidecar_path(path)
    if _read_digests(sidecar) != [digest]:
        _write_sidecar(sidecar, [digest], path.name)
    for leftover in (path.with_name(path.name + _TMP_SUFFIX),
                     sidecar.with_name(sidecar.name + _TMP_SUFFIX)):
        leftover.unlink(missing_ok=True)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu", *,
                    repair: bool = False) -> dict[str, Any]:
    """Verify ``path`` against its SHA-256 sidecar and load it with ``weights_only=True``.

    With ``repair``, a verified checkpoint's sidecar is rewritten to list its digest alone (what
    a crash between the steps of :func:`save_checkpoint` leaves is made whole).

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
        if not path.is_file() and path.exists():
            raise CheckpointError(f"checkpoint {str(path)!r} is not a regular file; {restart}")
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
    listed = _read_digests(sidecar) + _read_digests(sidecar.with_name(sidecar.name + _TMP_SUFFIX))
    expected = listed[0] if listed else None
    if expected is None:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has no valid SHA-256 file {str(sidecar)!r}, so it cannot "
            f"be verified; {restart}"
        )
    if digest not in listed:
        problem = "is empty" if not data else f"has {len(data)} bytes"
        raise CheckpointError(
            f"checkpoint {str(path)!r} is corrupt: it {problem} with SHA-256 {digest[:12]}... but "
            f"{sidecar.name} expects {expected[:12]}... (truncated, modified or "
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
    if repair:
        repair_sidecar(path, digest)
    return payload


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as indented strict JSON (``NaN`` as ``null``) to ``path`` atomically."""
    write_text_atomically(path, json_text(obj, indent=2) + "\n")


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    """Write one JSON object per line to ``path`` atomically."""
    write_text_atomically(path, "".join(json_text(r) + "\n" for r in records))
