"""One process per run folder: ``<run folder>/run.lock``, held for the whole session.

The lock is an advisory ``flock`` on ``run.lock``, which also holds the holder's pid, host and
start time (JSON) so that a second process can say who holds the folder. The kernel releases a
``flock`` when its process dies, however it dies, so a lock left by a killed run is *stale*: the
next run takes it over without a word. Where ``fcntl`` is missing (Windows) the pid alone
decides: a lock whose pid no longer runs on this host is stale.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_NAME", "RunLockedError", "run_lock", "lock_holder"]

LOCK_NAME = "run.lock"
"""The lock file's name inside a run folder."""


class RunLockedError(RuntimeError):
    """The run folder is held by another live process (the message names it)."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    except OSError:
        return False
    return True


def lock_holder(run_dir: str | Path) -> dict[str, Any] | None:
    """The holder record (``pid``, ``host``, ``started``, ``command``) of a lock, if readable."""
    try:
        record = json.loads((Path(run_dir) / LOCK_NAME).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _busy(run_dir: Path, holder: dict[str, Any] | None) -> RunLockedError:
    if holder is None:
        who = "another process"
    else:
        who = (f"process {holder.get('pid')} on {holder.get('host')} (since "
               f"{holder.get('started')}: {holder.get('command')})")
    return RunLockedError(
        f"run folder {str(run_dir)!r} is in use by {who}; wait for it to end, or choose "
        f"another --out (its lock is {str(run_dir / LOCK_NAME)!r})"
    )


def _record() -> str:
    return json.dumps({
        "pid": os.getpid(), "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join([os.path.basename(sys.argv[0]), *sys.argv[1:]])[:200],
    }) + "\n"


def _acquire_flock(run_dir: Path) -> int:
    path = run_dir / LOCK_NAME
    for _ in range(8):  # a holder may unlink the file between our open and our flock
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise _busy(run_dir, lock_holder(run_dir)) from None
        except BaseException:
            os.close(fd)
            raise
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            continue
        os.ftruncate(fd, 0)
        os.write(fd, _record().encode())
        os.fsync(fd)
        return fd
    raise _busy(run_dir, lock_holder(run_dir))


def _acquire_pid(run_dir: Path) -> int:
    path = run_dir / LOCK_NAME
    for _ in range(8):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            holder = lock_holder(run_dir)
            pid = holder.get("pid") if holder else None
            same_host = holder is not None and holder.get("host") == socket.gethostname()
            if isinstance(pid, int) and (not same_host or _pid_alive(pid)):
                raise _busy(run_dir, holder) from None
            path.unlink(missing_ok=True)  # stale: its process is gone
            continue
        os.write(fd, _record().encode())
        os.fsync(fd)
        return fd
    raise _busy(run_dir, lock_holder(run_dir))


@contextmanager
def run_lock(run_dir: str | Path, *, enabled: bool = True) -> Iterator[None]:
    """Hold ``run_dir``'s lock for the ``with`` block (creating the folder if needed).

    A folder this call created is removed again on exit if the block left it empty.

    Args:
        run_dir: the run folder.
        enabled: ``False`` makes this a no-op (the ranks of a distributed run other than 0).

    Raises:
        RunLockedError: another live process holds the folder; the message names its pid, host,
            start time and command.
    """
    if not enabled:
        yield
        return
    run_dir = Path(run_dir)
    created = not run_dir.exists()
    if not created and not run_dir.is_dir():
        raise NotADirectoryError(f"run folder {str(run_dir)!r} exists and is not a folder; "
                                 "choose a folder")
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = _acquire_flock(run_dir) if fcntl is not None else _acquire_pid(run_dir)
    except BaseException:
        if created:
            _remove_if_empty(run_dir)
        raise
    try:
        yield
    finally:
        try:
            (run_dir / LOCK_NAME).unlink(missing_ok=True)
        finally:
            os.close(fd)
            if created:  # a run that failed before writing anything leaves no folder
                _remove_if_empty(run_dir)


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:  # not empty (or gone): keep it
        pass
