"""Random training patches from every plane, without materialising all candidates.

A dome stack offers hundreds of thousands of patch positions. The positions are numbered
plane by plane, a seeded random subset of those numbers is drawn, and each plane is read once
to cut its patches. Memory grows with the number of patches asked for, not with the stack.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from .errors import InputError
from .planes import Normalization, kept_columns, plane_normalization
from .stack import PlaneIndex, PlaneStack


@dataclass
class PlaneRecord:
    """Where one usable plane is and what part of it is data."""

    stack: int
    index: PlaneIndex
    columns: slice
    normalization: Normalization
    candidates: int


@dataclass
class TrainingPatches:
    """Normalised patches ready for n2v, shaped (N, size, size, 1), and where they came from."""

    train: np.ndarray
    validation: np.ndarray
    planes_used: int
    planes_skipped: int
    candidates: int
    normalizations: list[Normalization] = field(repr=False, default_factory=list)

    def summary(self) -> dict:
        """A JSON-ready description for the model folder."""
        means = [n.mean for n in self.normalizations]
        stds = [n.std for n in self.normalizations]
        return {
            "train_patches": int(len(self.train)),
            "validation_patches": int(len(self.validation)),
            "patch_size": int(self.train.shape[1]),
            "planes_used": self.planes_used,
            "planes_skipped_all_zero": self.planes_skipped,
            "candidate_positions": int(self.candidates),
            "plane_mean_range": [float(min(means)), float(max(means))],
            "plane_std_range": [float(min(stds)), float(max(stds))],
        }


def survey_planes(
    stacks: Sequence[PlaneStack],
    channels: Sequence[int] | None,
    size: int,
    keep_zero_columns: bool,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[PlaneRecord], int]:
    """Find each plane's kept columns, statistics and patch positions; count all-zero planes."""
    records: list[PlaneRecord] = []
    skipped = 0
    total = sum(len(s) for s in stacks)
    done = 0
    for number, stack in enumerate(stacks):
        for index in stack.indices():
            done += 1
            if channels is not None and index.c not in channels:
                continue
            plane = stack.plane(index)
            columns = kept_columns(plane, keep_zero_columns)
            if progress:
                progress(done, total)
            if columns is None:
                skipped += 1
                continue
            width = columns.stop - columns.start
            candidates = max(0, plane.shape[0] - size + 1) * max(0, width - size + 1)
            if candidates:
                records.append(PlaneRecord(number, index, columns, plane_normalization(plane[:, columns]), candidates))
    return records, skipped


def sample_patches(
    stacks: Sequence[PlaneStack],
    size: int,
    count: int,
    val_fraction: float,
    seed: int,
    keep_zero_columns: bool = False,
    channels: Sequence[int] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> TrainingPatches:
    """Draw up to ``count`` distinct patches uniformly over all positions inside the kept areas.

    The draw, the shuffle and the train/validation split are all fixed by ``seed``.
    ``channels`` holds 0-based channel indices (None: all channels).
    """
    records, skipped = survey_planes(stacks, channels, size, keep_zero_columns, progress)
    if not records:
        raise InputError(
            f"No plane has a {size}x{size} area of data in {', '.join(s.source for s in stacks)} (after cutting "
            f"zero columns): use a smaller --patch-size or check that the images are not empty."
        )
    offsets = np.cumsum([0] + [r.candidates for r in records])
    total = int(offsets[-1])
    rng = np.random.default_rng(seed)
    drawn = rng.choice(total, size=min(count, total), replace=False, shuffle=True)
    if len(drawn) < 2:
        raise InputError(f"The images give only {len(drawn)} patch of {size}x{size}: use a smaller --patch-size.")
    patches = np.empty((len(drawn), size, size, 1), dtype=np.float32)
    owner = np.searchsorted(offsets, drawn, side="right") - 1
    for plane_number in np.unique(owner):
        record = records[plane_number]
        plane = stacks[record.stack].plane(record.index)[:, record.columns]
        slots = np.flatnonzero(owner == plane_number)
        local = drawn[slots] - offsets[plane_number]
        x_positions = plane.shape[1] - size + 1
        for slot, y, x in zip(slots, local // x_positions, local % x_positions):
            record.normalization.apply(plane[y : y + size, x : x + size], out=patches[slot, :, :, 0])
    n_val = min(max(1, int(round(len(drawn) * val_fraction))), len(drawn) - 1)
    return TrainingPatches(
        train=patches[n_val:],
        validation=patches[:n_val],
        planes_used=len(records),
        planes_skipped=skipped,
        candidates=total,
        normalizations=[r.normalization for r in records],
    )
