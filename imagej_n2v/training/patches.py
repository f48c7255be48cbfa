"""Random training patches from every plane, without materialising all candidates.

A dome stack offers hundreds of thousands of patch positions. The positions are numbered
plane by plane, a seeded random subset of those numbers is drawn, and each plane is read once
to cut its patches. Memory grows with the number of patches asked for, not with the stack.

Validation patches never share a pixel with training patches. Drawn from the same pixels, they
hide overfitting: on a small stack the network learns the noise of the pixels it trains on, and
the validation loss keeps falling while the result gets worse (measured on the dome example at
n2v's default settings: 29.6 dB after the first epoch, 22.1 dB after 41, the validation loss
falling all along). Held-out pixels show it, so patience ends training near the best result.
A channel with enough planes (six or more at the default 10 %) gives whole planes, spread over its frames
and slices; a channel with fewer gives them all to training (a channel seen in only two frames
must not lose one). Without such planes, a band of rows of each plane validates (``holdout``); a
plane too small for a band leaves validation overlapping, and ``TrainingPatches.validation_area``
says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from ..data.orientations import turn
from ..data.planes import Normalization, kept_columns, plane_normalization
from ..data.stack import PlaneIndex, PlaneStack
from ..errors import InputError
from .holdout import hold_out


@dataclass
class PlaneRecord:
    """Where one usable plane is and what part of it is data."""

    stack: int
    index: PlaneIndex
    columns: slice
    normalization: Normalization
    candidates: int
    rows: slice = field(default_factory=lambda: slice(None))  # the rows its patches lie in


@dataclass
class TrainingPatches:
    """Normalised patches ready for n2v, shaped (N, size, size, 1) (3D: (N, depth, size, size, 1)), and where
    they came from (``planes_used`` counts volumes for 3D)."""

    train: np.ndarray
    validation: np.ndarray
    planes_used: int
    planes_skipped: int
    candidates: int
    validation_area: str  # where the validation patches come from, for the user's log
    normalizations: list[Normalization] = field(repr=False, default_factory=list)
    example_plane: np.ndarray | None = field(repr=False, default=None)  # a whole plane (raw units), see ``_example``

    @property
    def three_d(self) -> bool:
        """ZYX patches (N, Z, Y, X, 1) from volumes, not YX ones from planes."""
        return self.train.ndim == 5

    @property
    def unit(self) -> str:
        """What the patches were cut from, in the user's word: planes, or volumes for 3D."""
        return "volumes" if self.three_d else "planes"

    def summary(self) -> dict:
        """A JSON-ready description for the model folder."""
        means = [n.mean for n in self.normalizations]
        stds = [n.std for n in self.normalizations]
        return {
            "train_patches": int(len(self.train)),
            "validation_patches": int(len(self.validation)),
            "patch_size": int(self.train.shape[-2]),
            **({"patch_depth": int(self.train.shape[1])} if self.three_d else {}),
            f"{self.unit}_used": self.planes_used,
            f"{self.unit}_skipped_all_zero": self.planes_skipped,
            "candidate_positions": int(self.candidates),
            "validation_area": self.validation_area,
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
    rng = np.random.default_rng(seed)
    train_records, val_records, area = hold_out(
        records, lambda r: (r.stack, r.index.c), lambda r: r.candidates // _x_positions(r, size) + size - 1,
        lambda r, rows: _within(r, rows, size), size, val_fraction, rng, "planes")
    available = sum(r.candidates for r in train_records + val_records)
    wanted = min(count, available)
    if wanted < 2:
        raise InputError(f"The images give only {wanted} patch of {size}x{size}: use a smaller --patch-size.")
    n_val = min(max(1, int(round(wanted * val_fraction))), wanted - 1)
    if not train_records:  # overlapping validation: one pool, split after the draw
        pool = _draw(stacks, val_records, wanted, size, rng)
        validation, train = pool[:n_val], pool[n_val:]
    else:
        validation = _draw(stacks, val_records, n_val, size, rng)
        train = _draw(stacks, train_records, wanted - len(validation), size, rng)
    return TrainingPatches(
        train=train,
        validation=validation,
        planes_used=len(records),
        planes_skipped=skipped,
        candidates=available,
        validation_area=area,
        normalizations=[r.normalization for r in records],
        example_plane=_example(stacks, val_records or records),
    )


def _example(stacks: Sequence[PlaneStack], records: list[PlaneRecord]) -> np.ndarray:
    """A whole plane of the data, the held-out one of median brightness: the exported archive's test input."""
    record = sorted(records, key=lambda r: r.normalization.mean)[len(records) // 2]
    return np.array(stacks[record.stack].plane(record.index))


def _x_positions(record: PlaneRecord, size: int) -> int:
    return record.columns.stop - record.columns.start - size + 1


def _within(record: PlaneRecord, rows: slice, size: int) -> PlaneRecord:
    """The same plane, its patches lying in ``rows`` only."""
    candidates = (rows.stop - rows.start - size + 1) * _x_positions(record, size)
    return PlaneRecord(record.stack, record.index, record.columns, record.normalization, candidates, rows)


def _draw(stacks: Sequence[PlaneStack], records: list[PlaneRecord], count: int, size: int,
          rng: np.random.Generator) -> np.ndarray:
    """``count`` distinct positions drawn uniformly over ``records`` (capped by what they offer),
    cut and normalised, in random order."""
    offsets = np.cumsum([0] + [r.candidates for r in records])
    drawn = rng.choice(int(offsets[-1]), size=min(count, int(offsets[-1])), replace=False, shuffle=True)
    patches = np.empty((len(drawn), size, size, 1), dtype=np.float32)
    owner = np.searchsorted(offsets, drawn, side="right") - 1
    for number in np.unique(owner):
        record = records[number]
        plane = stacks[record.stack].plane(record.index)[record.rows, record.columns]
        slots = np.flatnonzero(owner == number)
        local = drawn[slots] - offsets[number]
        x_positions = plane.shape[1] - size + 1
        for slot, y, x in zip(slots, local // x_positions, local % x_positions):
            record.normalization.apply(plane[y : y + size, x : x + size], out=patches[slot, :, :, 0])
    return patches


def augment(patches: np.ndarray, allowed: Sequence[int], seed: int) -> None:
    """Turn or mirror each of ``patches`` (N, size, size, 1) in place by one of the ``allowed``
    orientations (``data.orientations``).

    n2v's own training shows the network all 8 orientations of each tile; one at random per patch
    gives the same variety without 8 times the memory, and a run's patches are many and seen few
    times each.
    """
    choice = np.random.default_rng([seed, 8]).choice(np.asarray(allowed), size=len(patches))
    for k in allowed:
        chosen = np.flatnonzero(choice == k)
        if k and chosen.size:
            patches[chosen] = turn(patches[chosen], k, axes=(1, 2))
