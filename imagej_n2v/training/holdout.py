"""Which planes (or volumes), or which rows of them, validate: the one rule for 2D and 3D patches.

Validation must share no pixel with training (``patches`` says why) and should look like the
data. A channel with enough planes gives whole planes, spread over its frames and slices. Otherwise
a band of rows of each plane validates, taken from the middle of the plane where it can be: a
microscope's field usually centres the specimen, and its edges are more often background or
vignetted. Measured on the phalloidin plane of neuron-4Ch (623x502, 5 photons): the band at the
bottom was mostly background, the verdict after training gave the same +11.7 dB for every model,
and the kept epoch of 6 was a lottery (34.0, 26.2 and 32.7 dB over three seeds).
"""

from __future__ import annotations

from typing import Callable, Hashable, Iterable, Sequence, TypeVar

import numpy as np

R = TypeVar("R")


def held_out_members(groups: Iterable[list[int]], val_fraction: float, rng: np.random.Generator) -> set[int]:
    """The members (plane or volume numbers) held out whole: ``val_fraction`` of each group, spread
    evenly over it; a group too small to lose one (under ``1 / val_fraction`` half-rounded) keeps all."""
    chosen: set[int] = set()
    for numbers in groups:
        held = int(round(len(numbers) * val_fraction))
        if 1 <= held < len(numbers):
            chosen.update(numbers[int(i)] for i in (np.arange(held) + rng.random()) * len(numbers) / held)
    return chosen


def row_bands(height: int, size: int, val_fraction: float) -> tuple[list[slice], slice] | None:
    """The rows that train (one or two stretches, each at least ``size`` rows) and the band that
    validates (``val_fraction`` of the rows, at least ``size``), or None when the plane is too low for both.

    The band lies in the middle when that leaves at least two patch heights above and below it (each
    stretch loses ``size - 1`` rows of patch positions at its edge, too large a share of fewer rows), else at the bottom.
    """
    band = max(size, int(np.ceil(height * val_fraction)))
    left = height - band
    if left < size:
        return None
    top = left // 2 if left >= 4 * size else left
    stretches = [slice(start, stop) for start, stop in ((0, top), (top + band, height)) if stop - start >= size]
    return stretches, slice(top, top + band)


def band_area(bands: Iterable[slice], heights: Iterable[int], unit: str) -> str:
    """Where the validation bands of ``unit`` (planes, volumes) lie, in words for the log and the model folder."""
    places = {"at the bottom" if band.stop == height else "through the middle" for band, height in zip(bands, heights)}
    if len(places) == 1:
        return f"a band of rows {places.pop()} of each {unit[:-1]} held out"
    return f"a band of rows of each {unit[:-1]} held out (through the middle of the taller ones, at the bottom of the others)"


def hold_out(records: Sequence[R], group: Callable[[R], Hashable], height: Callable[[R], int],
             within: Callable[[R, slice], R], size: int, val_fraction: float, rng: np.random.Generator,
             unit: str) -> tuple[list[R], list[R], str]:
    """Split ``records`` (planes or volumes; ``unit`` names them) into training and validation areas that share no pixel.

    ``group`` tells which records are a channel of an image (whole ones are held out per group),
    ``height`` how many rows a record has, ``within`` the same record with its patches in some rows only.
    Returns (training records, validation records, a description); no training records means that
    validation overlaps training (one record too small for a band).
    """
    groups: dict[Hashable, list[int]] = {}
    for number, record in enumerate(records):
        groups.setdefault(group(record), []).append(number)
    chosen = held_out_members(groups.values(), val_fraction, rng)
    if chosen:
        train = [r for i, r in enumerate(records) if i not in chosen]
        return train, [records[i] for i in sorted(chosen)], f"{len(chosen)} of {len(records)} {unit} held out"
    train, val, bands, heights = [], [], [], []
    for record in records:
        split = row_bands(height(record), size, val_fraction)
        if split is None:
            train.append(record)
            continue
        stretches, band = split
        train += [within(record, rows) for rows in stretches]
        val.append(within(record, band))
        bands.append(band)
        heights.append(height(record))
    if val:
        return train, val, band_area(bands, heights, unit)
    if len(records) > 1:
        return list(records[1:]), list(records[:1]), f"1 of {len(records)} {unit} held out"
    return [], list(records), f"overlapping the training patches (the {unit[:-1]} is too small to hold rows out)"
