"""Per-plane facts the N2V data path needs: the kept area and the normalisation.

Processed dome stacks carry columns of zeros at the left and right edge of each plane; they
are no data, so they are cut away before training and left out of prediction. Each plane is
then normalised by its own robust mean and spread, so a dim channel or a bleached frame is
seen by the network at the same scale as a bright one and is mapped back to its own units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLIP_PERCENTILES = (0.1, 99.9)
"""Statistics are taken on values clipped to these percentiles: a few saturated or hot pixels
must not set a plane's scale."""


def kept_columns(plane: np.ndarray, keep_zero_columns: bool = False) -> slice | None:
    """Columns of ``plane`` (Y, X) that hold data: all, or all but the zero edge strips.

    Returns None for a plane that is entirely zero (nothing to train on or denoise).
    """
    if keep_zero_columns:
        return slice(0, plane.shape[1]) if plane.any() else None
    nonzero = np.flatnonzero(plane.any(axis=0))
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


def plane_normalization(kept: np.ndarray) -> Normalization:
    """Robust mean and standard deviation of the kept area of one plane.

    8- and 16-bit planes are summarised by their histogram (one pass, no sort), which gives
    np.percentile's (linear) percentiles exactly and is several times faster: training
    surveys every plane of a stack, so this is what a multi-GB stack waits for.
    """
    kept = np.asarray(kept)
    if kept.dtype.kind in "ub" and kept.dtype.itemsize <= 2:
        counts = np.bincount(kept.ravel())
        levels = np.flatnonzero(counts)
        counts = counts[levels]
        low, high = _histogram_percentiles(levels, counts, CLIP_PERCENTILES)
        mean, std = _histogram_mean_std(np.clip(levels, low, high), counts)
        spread = _histogram_mean_std(levels.astype(np.float64), counts)[1]
    else:
        values = kept.astype(np.float32, copy=False)
        low, high = np.percentile(values, CLIP_PERCENTILES)
        clipped = np.clip(values, low, high)
        mean, std = float(clipped.mean(dtype=np.float64)), float(clipped.std(dtype=np.float64))
        spread = float(values.std(dtype=np.float64))
    if not np.isfinite(std) or std <= 0:
        std = max(spread, 1.0)
    return Normalization(mean, std)


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
