"""The files of a run folder: which names belong to a run, and one strict reader and writer.

Every JSON file snnlearn reads back (``config.json``, ``env.json``, ``summary.json``,
``metrics.jsonl``, ``comparison.json``) goes through :func:`read_json` / :func:`read_jsonl`: a
bounded read, strict JSON (no bare ``NaN``), the expected top-level type, and a
:class:`RunFileError` naming the file on any problem. Every JSON file it writes goes through
:func:`json_text`, which writes a non-finite number as ``null`` (JSON has no ``NaN``).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from snnlearn.experiments.lock import LOCK_NAME

__all__ = [
    "RUN_FILES", "RunFileError", "ForeignFilesError", "check_fresh_folder", "check_export_target",
    "read_json", "read_jsonl", "json_text", "finite_or_none", "MAX_JSON_BYTES",
]

RUN_FILES = frozenset({
    "config.json", "env.json", "metrics.jsonl", "summary.json", "checkpoint.pt",
    "checkpoint.pt.sha256", LOCK_NAME, "tensorboard", "plots", "crash.log",
})
"""Names a run folder may hold (plus their ``.tmp`` siblings while being written)."""

MAX_JSON_BYTES = 256 * 2**20
"""The largest JSON file read back (a bounded read: ``/dev/zero`` is refused, not read)."""


class RunFileError(ValueError):
    """A file of a run folder that cannot be read or does not hold what it should."""


class ForeignFilesError(FileExistsError):
    """A new run's folder holds files that are not a snnlearn run's."""


def _is_run_name(name: str) -> bool:
    base = name[:-4] if name.endswith(".tmp") else name
    return base in RUN_FILES or base.startswith(("checkpoint.pt.sha256", "metrics.jsonl"))


def check_fresh_folder(run_dir: str | Path) -> None:
    """Refuse to start a new run in ``run_dir`` unless it is empty or holds an unstarted run.

    An unstarted run is what a run interrupted before its first epoch ended leaves: a
    ``config.json`` (a JSON object with ``task`` and ``rule``), ``env.json``, an empty
    ``metrics.jsonl`` and no checkpoint; a new run may replace it. Anything else (a file of
    the user's, a ``config.json`` that is not a run's) is refused.

    Raises:
        ForeignFilesError: the folder holds other files; the message lists them.
        RunFileError: ``run_dir`` exists but is not a folder.
    """
    run_dir = Path(run_dir)
    if not run_dir.exists():
        return
    if not run_dir.is_dir():
        raise RunFileError(f"--out {str(run_dir)!r} exists and is not a folder; choose a folder")
    foreign = sorted(p.name for p in run_dir.iterdir() if not _is_run_name(p.name))
    if not foreign:
        for name in ("config.json", "env.json", "metrics.jsonl"):
            path = run_dir / name
            if not path.exists():
                continue
            try:
                if name == "metrics.jsonl":
                    ok = path.is_file() and not read_jsonl(path)
                else:
                    obj = read_json(path)
                    ok = name == "env.json" or {"task", "rule"} <= set(obj)
            except RunFileError:
                ok = False
            if not ok:
                foreign.append(name)
    if foreign:
        raise ForeignFilesError(
            f"--out {str(run_dir)!r} holds files that are not those of an unstarted snnlearn "
            f"run ({', '.join(foreign[:5])}{', ...' if len(foreign) > 5 else ''}); a new run "
            "would overwrite them: choose an empty or new folder"
        )


def check_export_target(target: str | Path, *, force: bool) -> None:
    """Refuse to write an export over a run's own files, and over any file without ``force``.

    Raises:
        FileExistsError: ``target`` is a run file (``checkpoint.pt``, ``config.json``, ... next
            to a run's ``config.json`` or checkpoint), a folder, or an existing file and
            ``force`` is false.
    """
    target = Path(target)
    folder = target.parent
    in_run = (folder / "config.json").is_file() or (folder / "checkpoint.pt").is_file()
    if in_run and _is_run_name(target.name):
        raise FileExistsError(
            f"{str(target)!r} is a file of the run folder {str(folder)!r}; export to another "
            "name, e.g. --nir model.nir"
        )
    if target.is_dir():
        raise FileExistsError(f"{str(target)!r} is a folder; pass a file name, e.g. model.nir")
    if target.exists() and not force:
        raise FileExistsError(
            f"{str(target)!r} already exists; pass --force to overwrite it, or choose another "
            "name"
        )


def _read_text(path: Path, what: str) -> str:
    try:
        if path.is_dir():
            raise RunFileError(f"{what} {str(path)!r} is a folder, not a file")
        with path.open("rb") as f:
            data = f.read(MAX_JSON_BYTES + 1)
    except FileNotFoundError:
        raise RunFileError(f"{what} {str(path)!r} does not exist") from None
    except OSError as err:
        raise RunFileError(f"{what} {str(path)!r} cannot be read ({err.strerror or err})") from None
    if len(data) > MAX_JSON_BYTES:
        raise RunFileError(f"{what} {str(path)!r} is larger than {MAX_JSON_BYTES >> 20} MiB; "
                           "it is not a file snnlearn wrote")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise RunFileError(f"{what} {str(path)!r} is not UTF-8 text (binary or corrupt)") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON (write null)")


def _loads(text: str) -> Any:
    return json.loads(text, parse_constant=_reject_constant)


def read_json(path: str | Path, *, kind: type = dict, what: str = "run file") -> Any:
    """The JSON value in ``path``, which must be of type ``kind`` (a ``dict`` by default).

    Raises:
        RunFileError: missing, a folder, unreadable, too large, not UTF-8, not strict JSON, or
            not a ``kind``; the message names the file.
    """
    path = Path(path)
    text = _read_text(path, what)
    try:
        obj = _loads(text)
    except ValueError as err:
        raise RunFileError(f"{what} {str(path)!r} is not valid JSON ({err}); it is corrupt or "
                           "was edited by hand") from None
    if not isinstance(obj, kind):
        raise RunFileError(f"{what} {str(path)!r} holds a JSON {type(obj).__name__}, expected "
                           f"a JSON {'object' if kind is dict else kind.__name__}")
    return obj


def read_jsonl(path: str | Path, *, what: str = "metrics file") -> list[dict[str, Any]]:
    """One JSON object per non-blank line of ``path``.

    Raises:
        RunFileError: as :func:`read_json`, naming the file and the line.
    """
    path = Path(path)
    records = []
    for number, line in enumerate(_read_text(path, what).splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = _loads(line)
        except ValueError as err:
            raise RunFileError(f"{what} {str(path)!r}, line {number}, is not valid JSON "
                               f"({err})") from None
        if not isinstance(obj, dict):
            raise RunFileError(f"{what} {str(path)!r}, line {number}, holds a JSON "
                               f"{type(obj).__name__}, expected an object")
        records.append(obj)
    return records


def finite_or_none(obj: Any) -> Any:
    """``obj`` with every non-finite float (in nested dicts, lists and tuples) made ``None``."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_none(v) for v in obj]
    return obj


def json_text(obj: Any, *, indent: int | None = None) -> str:
    """Strict JSON of ``obj`` (``NaN`` and infinities written as ``null``)."""
    return json.dumps(finite_or_none(obj), indent=indent, allow_nan=False)


def write_text_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
