"""The 8 flips and quarter turns of a plane: for training on every orientation, and averaging over them.

Numbered 0-7: ``k % 4`` quarter turns, then a mirror image (top to bottom) for ``k >= 4``.
Training shows the network its patches in random orientations (``training.patches.augment``);
denoising may average the network's output over them (``denoising.tta``). A structN2V mask
(noise correlated along rows or columns) keeps only the orientations that leave it as it is.
"""

from __future__ import annotations

import numpy as np


def orientations(mask: np.ndarray | None = None) -> list[int]:
    """The orientations that leave ``mask`` as it is: all 8 without one; the rows or columns
    masks of structN2V keep only the mirror images and the half turn."""
    if mask is None:
        return list(range(8))
    return [k for k in range(8) if np.array_equal(turn(mask, k), mask)]


def turn(array: np.ndarray, k: int, axes: tuple[int, int] = (0, 1)) -> np.ndarray:
    """``array`` turned by ``k % 4`` quarter turns in ``axes``, then mirrored (top to bottom) if ``k >= 4``."""
    turned = np.rot90(array, k % 4, axes=axes)
    return np.flip(turned, axis=axes[0]) if k >= 4 else turned


def unturn(array: np.ndarray, k: int, axes: tuple[int, int] = (0, 1)) -> np.ndarray:
    """What ``turn(array, k, axes)`` undoes: ``unturn(turn(a, k), k)`` is ``a``."""
    mirrored = np.flip(array, axis=axes[0]) if k >= 4 else array
    return np.rot90(mirrored, -(k % 4), axes=axes)
