"""Random ZYX training patches for 3D N2V, one volume (frame and channel) at a time.

The 3D counterpart of ``patches``: each (frame, channel) z-stack of every image is a volume;
its kept columns are those with data in any slice, and it is normalised by its own robust
statistics (as 2D normalises each plane), so a dim channel or a bleached frame is seen at the
scale of a bright one. Patch positions are numbered volume by volume, a seeded subset is drawn,
and each volume is read once to cut its patches.

Validation patches share no voxel with training patches (see ``patches`` for why): whole
volumes when a channel has enough frames, else a band of rows of every volume (through all its
slices; ``holdout``), else, for one volume too small for a band, overlapping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from ..data.planes import Normalization, kept_columns, plane_normalization
from ..data.stack import PlaneStack
from ..errors import InputError
from .holdout import hold_out
from .patches import TrainingPatches


@dataclass
class VolumeRecord:
    """Where one usable volume is and what part of it is data."""

    stack: int
    t: int
    c: int
    columns: slice
    normalization: Normalization
    shape: tuple[int, int, int]  # (Z, Y, X) of its patch area: all slices, ``rows``, ``columns``
    rows: slice = field(default_factory=lambda: slice(None))

    def candidates(self, depth: int, size: int) -> int:
        z, y, x = self.shape
        return max(0, z - depth + 1) * max(0, y - size + 1) * max(0, x - size + 1)


def survey_volumes(stacks: Sequence[PlaneStack], channels: Sequence[int] | None, keep_zero_columns: bool,
                   progress: Callable[[int, int], None] | None = None) -> tuple[list[VolumeRecord], int]:
    """Each volume's kept columns and statistics; the count of all-zero volumes."""
    records: list[VolumeRecord] = []
    skipped = 0
    total = sum(s.frames * s.channels for s in stacks)
    done = 0
    for number, stack in enumerate(stacks):
        for t in range(stack.frames):
            for c in range(stack.channels):
                done += 1
                if channels is not None and c not in channels:
                    continue
                volume = stack.volume(t, c)
                columns = kept_columns(volume.any(axis=0), keep_zero_columns)
                if progress:
                    progress(done, total)
                if columns is None:
                    skipped += 1
                    continue
                kept = volume[:, :, columns]
                records.append(VolumeRecord(number, t, c, columns, plane_normalization(kept), kept.shape))
    return records, skipped


def sample_volume_patches(
    stacks: Sequence[PlaneStack],
    depth: int,
    size: int,
    count: int,
    val_fraction: float,
    seed: int,
    keep_zero_columns: bool = False,
    channels: Sequence[int] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> TrainingPatches:
    """Draw up to ``count`` distinct ``depth`` x ``size`` x ``size`` patches, shaped (N, depth, size, size, 1).

    The draw, the shuffle and the split are fixed by ``seed``; ``channels`` are 0-based (None: all).
    """
    names = ", ".join(s.source for s in stacks)
    thin = [s for s in stacks if s.slices < depth]
    if thin:
        raise InputError(f"{thin[0].source} has {thin[0].slices} slice(s), fewer than the patch depth {depth} that 3D "
                         f"training needs: use a smaller --patch-depth (at least 4) or train in 2D (without --3d).")
    records, skipped = survey_volumes(stacks, channels, keep_zero_columns, progress)
    records = [r for r in records if r.candidates(depth, size)]
    if not records:
        raise InputError(f"No volume has a {depth}x{size}x{size} area of data in {names} (after cutting zero "
                         f"columns): use a smaller --patch-size or --patch-depth, or check that the images are not empty.")
    rng = np.random.default_rng(seed)
    train_records, val_records, area = hold_out(records, lambda r: (r.stack, r.c), lambda r: r.shape[1], _within,
                                                size, val_fraction, rng, "volumes")
    available = sum(r.candidates(depth, size) for r in train_records + val_records)
    wanted = min(count, available)
    if wanted < 2:
        raise InputError(f"The images give only {wanted} patch of {depth}x{size}x{size}: use a smaller --patch-size.")
    n_val = min(max(1, int(round(wanted * val_fraction))), wanted - 1)
    if not train_records:
        pool = _draw(stacks, val_records, wanted, depth, size, rng)
        validation, train = pool[:n_val], pool[n_val:]
    else:
        validation = _draw(stacks, val_records, n_val, depth, size, rng)
        train = _draw(stacks, train_records, wanted - len(validation), depth, size, rng)
    return TrainingPatches(train=train, validation=validation, planes_used=len(records), planes_skipped=skipped,
                           candidates=available, validation_area=area,
                           normalizations=[r.normalization for r in records])


def _within(record: VolumeRecord, rows: slice) -> VolumeRecord:
    z, _, x = record.shape
    return VolumeRecord(record.stack, record.t, record.c, record.columns, record.normalization,
                        (z, rows.stop - rows.start, x), rows)


def _draw(stacks: Sequence[PlaneStack], records: list[VolumeRecord], count: int, depth: int, size: int,
          rng: np.random.Generator) -> np.ndarray:
    """``count`` distinct positions drawn uniformly over ``records``, cut and normalised, in random order."""
    offsets = np.cumsum([0] + [r.candidates(depth, size) for r in records])
    drawn = rng.choice(int(offsets[-1]), size=min(count, int(offsets[-1])), replace=False, shuffle=True)
    patches = np.empty((len(drawn), depth, size, size, 1), dtype=np.float32)
    owner = np.searchsorted(offsets, drawn, side="right") - 1
    for number in np.unique(owner):
        record = records[number]
        volume = stacks[record.stack].volume(record.t, record.c)[:, record.rows, record.columns]
        slots = np.flatnonzero(owner == number)
        local = drawn[slots] - offsets[number]
        _, y_positions, x_positions = (n - k + 1 for n, k in zip(volume.shape, (depth, size, size)))
        zs, rest = np.divmod(local, y_positions * x_positions)
        ys, xs = np.divmod(rest, x_positions)
        for slot, z, y, x in zip(slots, zs, ys, xs):
            record.normalization.apply(volume[z : z + depth, y : y + size, x : x + size], out=patches[slot, ..., 0])
    return patches
