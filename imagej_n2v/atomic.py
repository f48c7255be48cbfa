"""Writing files and folders so that nobody ever sees half of one.

Everything is written under a temporary name beside its target and renamed into place only
when complete, so a crash, a full disk or Ctrl-C never leaves a truncated image or model, and
an existing file or model is replaced only when asked to (and only once the new one is whole).
What is renamed into place gets the permissions a plain ``open`` or ``mkdir`` would have given.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import OutputError


def _reason(exc: OSError) -> str:
    """An OSError's cause in words (numpy's short writes on a full disk carry no errno, only a message)."""
    return exc.strerror or (os.strerror(exc.errno) if exc.errno else str(exc))


def check_target(target: Path, overwrite: bool) -> None:
    """Refuse to replace an existing output unless asked to (before any work is spent on it)."""
    if target.exists() and not overwrite:
        raise OutputError(f"{target} already exists: choose another output folder or pass --overwrite.")


@contextmanager
def replacing(target: Path) -> Iterator[Path]:
    """The one write-then-rename: a temporary path beside ``target``, renamed over it if the block succeeds.

    The temporary file is removed otherwise; an ``OSError`` is left to the caller, which knows
    what the file is part of.
    """
    handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.close(handle)
    temp_path = Path(temp)
    try:
        yield temp_path
        share_like_plain_files(temp_path)
        os.replace(temp_path, target)
    finally:
        temp_path.unlink(missing_ok=True)


@contextmanager
def atomic_output(target: Path, overwrite: bool) -> Iterator[Path]:
    """``replacing`` for an output the user named: existing files kept unless ``overwrite``, errors as sentences."""
    target = Path(target)
    check_target(target, overwrite)
    folder = target.parent
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"The output folder {folder} is a file: choose a folder for the outputs.")
    started = False
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with replacing(target) as temp:
            started = True
            yield temp
    except OSError as exc:
        if not started:
            raise OutputError(f"Cannot write to the folder {folder} ({exc.strerror}): choose a writable output folder.") from None
        raise OutputError(f"Writing {target} failed ({_reason(exc)}): free disk space or choose another folder.") from None


def write_text(target: Path, text: str) -> None:
    """Write (or replace) a small text file: a reader sees the old file or the new one, never half."""
    with replacing(target) as temp:
        temp.write_text(text)


def staging_folder(target: Path) -> Path:
    """A fresh hidden folder beside ``target`` in which a folder (a model) is built before ``move_into_place``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    share_like_plain_files(staging)
    return staging


def move_into_place(staging: Path, target: Path) -> None:
    """Rename a finished staging folder to ``target``, replacing a folder there as a whole.

    An existing ``target`` is first renamed aside, so at every moment ``target`` is either the
    old folder or the new one; callers decide beforehand whether replacing it is allowed.
    """
    if not target.exists():
        os.replace(staging, target)
        return
    retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    os.replace(target, retired / target.name)
    os.replace(staging, target)
    shutil.rmtree(retired, ignore_errors=True)


def _umask() -> int:
    try:
        for line in open("/proc/self/status"):
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere the only way to read it is to set it
    os.umask(mask)
    return mask


def share_like_plain_files(path: Path) -> None:
    """Give a finished temporary file or folder the permissions ``open``/``mkdir`` would have.

    Temporary names come from ``tempfile``, which makes them private (0600/0700) for safety;
    an output image or a model renamed from one would otherwise be unreadable to colleagues.
    """
    os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~_umask())
