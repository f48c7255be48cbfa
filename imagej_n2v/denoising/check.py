"""The quality check on a new image: the model against blind-spot blurs on a sample of the image's own pixels.

A model meets images it was not trained on (another channel, another microscope), so ``denoise``
checks each image before its planes are denoised: a few patches cut at random from the chosen
planes, normalised as denoising normalises them, go through the network twice with held-out
pixels (``quality.blindspot``). The sample is sized to cost at most ``SHARE`` of the network
work of denoising the image, so the check stays under 10 % of the denoising time (the blurs and
the noise estimate add less than the network passes; the cost is measured and logged). Images too
small for a sample get one sentence and no check; ``imagej-n2v check`` samples more, without that
budget.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..data.bands import kept_part
from ..data.planes import kept_columns
from ..data.stack import PlaneStack
from ..quality.blindspot import BLOCK
from ..quality.verdict import MIN_PIXELS, Verdict, assess, image_advice, warning
from .inference import Denoiser

log = logging.getLogger(__name__)

LIMIT = 0.10
"""The most a check may cost, as a share of the denoising time."""
SHARE = 0.06
"""Network pixels of the check per network pixel of denoising (two masked passes and one unmasked): below ``LIMIT``,
since masking, the blurs and the noise estimate come on top (measured: a check of 5 % of the network
pixels cost 5 % of the denoising time on ten 512x512 planes; with this share 6.2-7.0 % of the CPU time
of denoising ten 512x512 planes, the first image of a session included, now that the network is traced
when it is loaded: the check paid that trace before, 9-12 %). The 256 held-out pixels a verdict needs then
take about 0.41 megapixels of chosen planes (one hidden pixel in 64, two of three passes masked): a 512x512
plane is just too small and gets the one-sentence skip, and ``imagej-n2v check`` for a verdict."""
PASSES = 2
MAX_PATCHES = 64
"""Patches in a sample at most: about 8,000 held-out pixels per pass at the default patch size."""
WHERE = "a sample of this image's pixels"


@dataclass
class Check:
    """A check's outcome: the verdict (None: skipped, ``skipped`` says why), its warning and its cost."""

    verdict: Verdict | None
    warning: str | None
    seconds: float  # CPU time (this process, all threads): unlike wall time, not swollen by other programs' load
    skipped: str | None = None

    def message(self) -> str:
        """The one thing to tell the user."""
        if self.verdict is None:
            return f"No quality check: {self.skipped}."
        return self.warning or self.verdict.sentence()


def _patch_side(denoiser: Denoiser, height: int, width: int) -> int:
    """The model's training patch size, or the largest the planes hold (a multiple of what the network divides by)."""
    shape = denoiser.description.config.get("n2v_patch_shape") or [64]
    side = min(int(shape[0]), height, width)
    return side - side % denoiser.div_by


def check_image(denoiser: Denoiser, stack: PlaneStack, frames: Sequence[int] | None = None,
                channels: Sequence[int] | None = None, keep_zero_columns: bool = False, budget: bool = True,
                seed: int = 0) -> Check:
    """The verdict of ``denoiser`` on a sample of ``stack``'s chosen planes (0-based ``frames`` and ``channels``).

    ``budget`` sizes the sample to the denoising's cost (``SHARE``); without it (the ``check``
    command) the sample is ``MAX_PATCHES`` patches seen four times.
    """
    started = time.process_time()
    indices = [i for i in stack.indices(frames) if channels is None or i.c in channels]
    side = _patch_side(denoiser, stack.height, stack.width)
    per_patch = (side // BLOCK) ** 2
    passes = PASSES if budget else 4
    count = MAX_PATCHES if not budget else int(min(MAX_PATCHES, SHARE * len(indices) * stack.height * stack.width
                                                   // max((passes + 1) * side * side, 1)))  # and the unmasked pass
    if side < 2 * BLOCK or count * per_patch * passes < MIN_PIXELS:
        needed = -(-MIN_PIXELS // max(per_patch * passes, 1))
        reason = (f"{stack.source} is too small for a sample of {MIN_PIXELS} held-out pixels"
                  + (f" within {LIMIT:.0%} of the denoising time ({needed} patches of {side}x{side} would be "
                     f"needed); imagej-n2v check gives one without that limit" if budget and side >= 2 * BLOCK else
                     f" (its planes are {stack.height}x{stack.width})"))
        return Check(None, None, time.process_time() - started, reason)
    patches = _sample(denoiser, stack, indices, side, count, keep_zero_columns, np.random.default_rng(seed))
    if len(patches) * per_patch * passes < MIN_PIXELS:
        return Check(None, None, time.process_time() - started,
                     f"{stack.source} has too few planes with data {side} pixels wide for a sample")
    if not np.ptp(patches) > 0:
        return Check(None, None, time.process_time() - started, f"{stack.source} is flat where it was sampled: no noise to measure")
    verdict = assess(patches, denoiser.predict, WHERE, wanted=len(patches) * per_patch * passes, max_passes=passes,
                     seed=seed)
    seconds = time.process_time() - started
    if verdict is None:
        return Check(None, None, seconds, f"{stack.source} gives too few held-out pixels for a sample")
    trained = denoiser.description.metadata.get("quality", {})
    return Check(verdict, warning(verdict, image_advice(bool(trained.get("warning")))), seconds)


def _sample(denoiser: Denoiser, stack: PlaneStack, indices: list, side: int, count: int, keep_zero_columns: bool,
            rng: np.random.Generator) -> np.ndarray:
    """``count`` normalised ``side`` x ``side`` patches at random places of random chosen planes (each read once)."""
    chosen = rng.choice(len(indices), size=count, replace=True)
    patches = []
    for number in np.unique(chosen):
        plane = stack.plane_source(indices[number])  # a large plane is read a patch at a time
        columns = kept_columns(plane, keep_zero_columns)
        if columns is None or columns.stop - columns.start < side:
            continue
        kept = kept_part(plane, columns)
        normalization = denoiser.normalization_for(kept)
        for _ in range(int((chosen == number).sum())):
            y, x = rng.integers(0, kept.shape[0] - side + 1), rng.integers(0, kept.shape[1] - side + 1)
            patches.append(normalization.apply(kept[y : y + side, x : x + side]))
    return np.stack(patches) if patches else np.zeros((0, side, side), np.float32)


def report(check: Check) -> None:
    """The check's verdict to the log: a warning when it calls for one."""
    if check.warning:
        log.warning("%s", check.warning)
    else:
        log.info("%s", check.message())
