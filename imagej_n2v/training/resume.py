"""Interrupted trainings: where their model folder goes, and how to find it again.

An interrupted training keeps its best weights so far in an ordinary model folder whose
``imagej_n2v.json`` says ``"incomplete": true`` (and how many epochs were done), so it can be
used as it is, and ``--resume`` continues it. It takes the model's own name when that is free
(or holds an older interrupted run); a complete model of that name is never touched: the
interrupted run then goes to ``<name>.incomplete`` beside it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..models.folder import METADATA_FILE
from .history import read_history

log = logging.getLogger(__name__)

INCOMPLETE_SUFFIX = ".incomplete"


@dataclass
class Resumable:
    """An interrupted training found on disk."""

    folder: Path
    metadata: dict
    history: dict[str, list[float]]

    @property
    def epochs_done(self) -> int:
        return int(self.metadata.get("epochs_done", len(self.history.get("loss", []))))


def is_incomplete(folder: Path) -> bool:
    """Whether ``folder`` is a model folder left by an interrupted training."""
    try:
        return bool(json.loads((folder / METADATA_FILE).read_text()).get("incomplete"))
    except (OSError, ValueError):
        return False


def incomplete_place(target: Path) -> Path:
    """Where an interrupted training of ``target`` is kept: never over a complete model."""
    if not target.exists() or is_incomplete(target):
        return target
    return target.with_name(target.name + INCOMPLETE_SUFFIX)


def find_resumable(target: Path) -> Resumable:
    """The interrupted training of ``target`` (its own folder or ``<name>.incomplete``)."""
    for folder in (target, target.with_name(target.name + INCOMPLETE_SUFFIX)):
        if is_incomplete(folder):
            try:
                metadata = json.loads((folder / METADATA_FILE).read_text())
                return Resumable(folder, metadata, read_history(folder))
            except (OSError, ValueError) as exc:
                raise InputError(
                    f"The interrupted model {folder} cannot be read ({exc}): train again without --resume."
                ) from None
    raise InputError(f"There is no interrupted training of {target} to resume: train it without --resume.")
