"""Per-plane facts the N2V data path needs: the kept area and the normalisation.

Processed dome stacks carry columns of zeros at the left and right edge of each plane; they
are no data, so they are cut away before training and left out of prediction. Each plane is
then normalised by its own robust mean and spread, so a dim channel or a bleached frame is
seen by the network at the same scale as a bright one and is mapped back to its own units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .bands import row_bands

CLIP_PERCENTILES = (0.1, 99.9)
"""Statistics are taken on values clipped to these percentiles: a few saturated or hot pixels
must not set a plane's scale."""


def kept_columns(plane, keep_zero_columns: bool = False) -> slice | None:
    """Columns of ``plane`` (Y, X; an array or a ``PlaneReader``) that hold data: all, or all but the zero
    edge strips. Read band by band, so a large plane is never copied whole.

    Returns None for a plane that is entirely zero (nothing to train on or denoise).
    """
    if keep_zero_columns:
        return slice(0, plane.shape[1]) if any(band.any() for band in row_bands(plane)) else None
    found = np.zeros(plane.shape[1], bool)
    for band in row_bands(plane):
        found |= band.any(axis=0)
    nonzero = np.flatnonzero(found)
    if nonzero.size == 0:
        return None
    return slice(int(nonzero[0]), int(nonzero[-1]) + 1)


@dataclass(frozen=True)
class Normalization:
    """An affine map of one plane to zero mean and unit spread, and back."""

    mean: float
    std: float

    def apply(self, data: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """(data - mean) / std as float32, in ``out`` when given."""
        out = np.subtract(data, np.float32(self.mean), out=out, dtype=np.float32)
        out *= np.float32(1.0 / self.std)
        return out

    def invert(self, data: np.ndarray) -> np.ndarray:
        """data * std + mean, in place (``data`` must be float32)."""
        data *= np.float32(self.std)
        data += np.float32(self.mean)
        return data


def plane_normalization(kept) -> Normalization:
    """Robust mean and standard deviation of the kept area of one plane (an array or a ``PlaneReader``).

    Integer planes of up to 16 bits are summarised by their histogram (one pass, no sort,
    counted band by band, so a 400-megapixel plane costs a band, not a copy of it), which gives
    np.percentile's (linear) percentiles exactly and is several times faster: training surveys
    every plane of a stack, so this is what a multi-GB stack waits for. Other types are read
    whole (np.percentile needs every value).
    """
    dtype = np.dtype(kept.dtype)
    if dtype.kind in "uib" and dtype.itemsize <= 2:
        counts, low_level = _histogram(kept)
        levels = np.flatnonzero(counts)
        counts = counts[levels]
        levels = levels + low_level
        low, high = _histogram_percentiles(levels, counts, CLIP_PERCENTILES)
        mean, std = _histogram_mean_std(np.clip(levels, low, high), counts)
        spread = _histogram_mean_std(levels.astype(np.float64), counts)[1]
    else:
        values = np.asarray(kept).astype(np.float32, copy=False)
        low, high = np.percentile(values, CLIP_PERCENTILES)
        clipped = np.clip(values, low, high)
        mean, std = float(clipped.mean(dtype=np.float64)), float(clipped.std(dtype=np.float64))
        spread = float(values.std(dtype=np.float64))
    if not np.isfinite(std) or std <= 0:
        std = max(spread, 1.0)
    return Normalization(mean, std)


def plane_mean(kept) -> float:
    """The mean of ``kept`` (an array or a ``PlaneReader``), summed band by band in float64 (exact for integers)."""
    return sum(float(band.sum(dtype=np.float64)) for band in row_bands(kept)) / int(np.prod(kept.shape))


def _histogram(kept) -> tuple[np.ndarray, int]:
    """Counts of every value of an integer plane of up to 16 bits, band by band, and the value of counts[0]."""
    dtype = np.dtype(kept.dtype)
    low = int(np.iinfo(dtype).min) if dtype.kind == "i" else 0
    size = 2 if dtype.kind == "b" else 2 ** (8 * dtype.itemsize)
    counts = np.zeros(size, np.int64)
    for band in row_bands(kept):
        band = band.ravel()  # np.bincount takes flat non-negative integers
        counts += np.bincount(band.astype(np.int32) - low if low else band, minlength=size)
    return counts, low


def _histogram_percentiles(levels: np.ndarray, counts: np.ndarray, percentiles) -> list[float]:
    """np.percentile (method 'linear') of the values that ``counts`` times ``levels`` make up."""
    ends = np.cumsum(counts)
    result = []
    for q in percentiles:
        position = q / 100 * (ends[-1] - 1)
        below = int(np.floor(position))
        lower = levels[np.searchsorted(ends, below, side="right")]
        upper = levels[np.searchsorted(ends, min(below + 1, ends[-1] - 1), side="right")]
        result.append(float(lower) + (position - below) * (float(upper) - float(lower)))
    return result


def _histogram_mean_std(values: np.ndarray, counts: np.ndarray) -> tuple[float, float]:
    total = counts.sum()
    mean = float((values * counts).sum() / total)
    return mean, float(np.sqrt((counts * (values - mean) ** 2).sum() / total))
