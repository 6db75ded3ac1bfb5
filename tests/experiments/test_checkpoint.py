from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path

import pytest
import torch

from snnlearn.experiments import checkpoint
from snnlearn.experiments.checkpoint import (
    FORMAT_VERSION,
    REQUIRED_KEYS,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
    sidecar_path,
)


def _payload(epoch: int) -> dict:
    d = {k: 0 for k in REQUIRED_KEYS}
    d.update(format_version=FORMAT_VERSION, epoch=epoch, config={"task": "toy"},
             model={"w": torch.arange(100, dtype=torch.float32) * epoch}, history=[])
    return d


def _rehash(path: Path) -> None:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    sidecar_path(path).write_text(f"{digest}  {path.name}\n")


@pytest.fixture
def ckpt(tmp_path: Path) -> Path:
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, _payload(1))
    return path


def test_round_trip_and_sidecar(ckpt: Path) -> None:
    loaded = load_checkpoint(ckpt)
    assert loaded["epoch"] == 1 and torch.equal(loaded["model"]["w"], _payload(1)["model"]["w"])
    digest, name = sidecar_path(ckpt).read_text().split()
    assert name == "checkpoint.pt" and digest == hashlib.sha256(ckpt.read_bytes()).hexdigest()
    assert sorted(p.name for p in ckpt.parent.iterdir()) == ["checkpoint.pt",
                                                             "checkpoint.pt.sha256"]


def test_crash_during_save_keeps_previous_checkpoint(
    ckpt: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(obj: object, f: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(ckpt, _payload(2))
    monkeypatch.undo()
    assert load_checkpoint(ckpt)["epoch"] == 1
    assert sorted(p.name for p in ckpt.parent.iterdir()) == ["checkpoint.pt",
                                                             "checkpoint.pt.sha256"]


def test_crash_during_replace_keeps_previous_checkpoint(
    ckpt: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(src: object, dst: object) -> None:
        raise OSError("power cut")

    monkeypatch.setattr(checkpoint.os, "replace", crash)
    with pytest.raises(OSError, match="power cut"):
        save_checkpoint(ckpt, _payload(2))
    monkeypatch.undo()
    assert load_checkpoint(ckpt)["epoch"] == 1


@pytest.mark.parametrize("step", range(6))
def test_a_crash_at_any_step_of_a_save_leaves_a_checkpoint_that_verifies(
    ckpt: Path, monkeypatch: pytest.MonkeyPatch, step: int
) -> None:
    real_replace, real_write, calls = os.replace, checkpoint._write_durably, []

    def counted(real):  # noqa: ANN001, ANN202
        def call(*args):  # noqa: ANN002, ANN202
            calls.append(args)
            if len(calls) == step + 1:
                raise OSError("power cut")
            return real(*args)
        return call

    monkeypatch.setattr(checkpoint.os, "replace", counted(real_replace))
    monkeypatch.setattr(checkpoint, "_write_durably", counted(real_write))
    with pytest.raises(OSError, match="power cut"):
        save_checkpoint(ckpt, _payload(2))
    monkeypatch.undo()
    for leftover in ckpt.parent.glob("*.tmp"):  # what a crash leaves may be lost as well
        leftover.unlink()
    epoch = load_checkpoint(ckpt, repair=True)["epoch"]
    assert epoch == (2 if step >= 4 else 1)  # the checkpoint moves at the fourth call
    assert sidecar_path(ckpt).read_text().count("\n") == 1  # repaired to its one digest
    assert sorted(p.name for p in ckpt.parent.iterdir()) == ["checkpoint.pt",
                                                             "checkpoint.pt.sha256"]
    save_checkpoint(ckpt, _payload(3))
    assert load_checkpoint(ckpt)["epoch"] == 3


def test_the_leftover_digest_of_an_earlier_version_is_accepted_and_repaired(ckpt: Path) -> None:
    # earlier versions moved the checkpoint first and its digest second: a crash between the two
    # left the valid digest only in checkpoint.pt.sha256.tmp
    sidecar = sidecar_path(ckpt)
    sidecar.rename(sidecar.with_name(sidecar.name + ".tmp"))
    sidecar.write_text("0" * 64 + "  checkpoint.pt\n")
    assert load_checkpoint(ckpt, repair=True)["epoch"] == 1
    assert not sidecar.with_name(sidecar.name + ".tmp").exists()
    assert load_checkpoint(ckpt)["epoch"] == 1  # the repaired sidecar alone verifies it


def _truncate(p: Path) -> None:
    p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])


def _flip_bit_in_tensor_data(p: Path) -> None:
    data = bytearray(p.read_bytes())
    i = data.find(struct.pack("<f", 50.0))  # an element of the saved tensor w
    assert i > 0
    data[i + 1] ^= 0x01
    p.write_bytes(bytes(data))


@pytest.mark.parametrize(("damage", "match"), [
    (lambda p: p.unlink(), "does not exist"),
    (lambda p: p.write_bytes(b""), "is empty"),
    (_truncate, "is corrupt"),
    (lambda p: p.write_bytes(os.urandom(4096)), "is corrupt"),
    (_flip_bit_in_tensor_data, "is corrupt"),
    (lambda p: sidecar_path(p).unlink(), "no valid SHA-256 file"),
    (lambda p: sidecar_path(p).write_text("0" * 64), "is corrupt"),
])
def test_damaged_checkpoint_raises_naming_the_file(ckpt: Path, damage, match: str) -> None:
    damage(ckpt)
    with pytest.raises(CheckpointError, match=match) as info:
        load_checkpoint(ckpt)
    assert str(ckpt) in str(info.value) and "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_flipped_bit_would_load_silently_without_the_digest(ckpt: Path) -> None:
    _flip_bit_in_tensor_data(ckpt)
    loaded = torch.load(ckpt, weights_only=True)  # what the sidecar protects against
    assert not torch.equal(loaded["model"]["w"], _payload(1)["model"]["w"])


@pytest.mark.parametrize(("content", "match"), [
    (lambda: os.urandom(4096), "cannot be loaded"),
    (lambda: b"PK\x03\x04" + b"\0" * 100, "cannot be loaded"),
])
def test_unloadable_file_with_matching_digest(ckpt: Path, content, match: str) -> None:
    ckpt.write_bytes(content())
    _rehash(ckpt)
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(ckpt)


def test_foreign_pickle_is_refused(ckpt: Path) -> None:
    torch.save({"w": torch.ones(2), "obj": Path("x")}, ckpt)
    _rehash(ckpt)
    with pytest.raises(CheckpointError, match="cannot be loaded"):
        load_checkpoint(ckpt)


def test_wrong_format_version_and_missing_keys(ckpt: Path) -> None:
    save_checkpoint(ckpt, {**_payload(1), "format_version": 99})
    with pytest.raises(CheckpointError, match="format version 99"):
        load_checkpoint(ckpt)
    save_checkpoint(ckpt, {"format_version": FORMAT_VERSION})
    with pytest.raises(CheckpointError, match="lacks the key"):
        load_checkpoint(ckpt)
    save_checkpoint(ckpt, {"w": torch.ones(1)})
    with pytest.raises(CheckpointError, match="not a snnlearn checkpoint"):
        load_checkpoint(ckpt)
