"""Test-time augmentation (``--tta``): the network's output averaged over the flips and quarter turns of its input.

The network sees each plane in every orientation it was trained on (``data.orientations``: all 8,
or those that keep a structN2V model's mask) and each output is turned back before the mean. The
eight predictions err differently, so their mean is closer to the clean plane, at eight times the
network's work (``benchmarks/quality-results.md`` measures both).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ..data.orientations import orientations, turn, unturn
from ..models.folder import ModelDescription

Network = Callable[[np.ndarray], np.ndarray]
"""(N, Y, X, 1) float32 in (a 3D model's: (N, Z, Y, X, 1)), the network's output of the same shape out."""


def model_orientations(description: ModelDescription) -> list[int]:
    """The orientations a model may be averaged over: those that keep its structN2V mask, if any."""
    mask = description.config.get("structN2Vmask")
    return orientations(np.array(mask) if mask else None)


def averaged(network: Network, turns: Sequence[int]) -> Network:
    """``network`` averaged over the orientations ``turns`` of its input; itself for ``(0,)`` alone."""
    if tuple(turns) == (0,):
        return network

    def apply(batch: np.ndarray) -> np.ndarray:
        total = np.zeros(batch.shape, np.float32)
        for k in turns:
            # Y and X are the axes before the channel in (N, Y, X, 1) and in a 3D model's (N, Z, Y, X, 1)
            total += unturn(network(np.ascontiguousarray(turn(batch, k, axes=(-3, -2)))), k, axes=(-3, -2))
        return total / np.float32(len(turns))
    return apply
