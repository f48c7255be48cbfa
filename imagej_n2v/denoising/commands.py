"""The commands, written once: every front door (CLI, Python API, ImageJ commands, worker) calls these.

``denoise_stack`` takes a loaded model, a stack and the ``DenoiseConfig``, chooses the frames
and channels, and returns the output planes with what the output is (axes, shape, pixel type,
provenance); where the planes go (a TIFF, an array, an ``ImagePlus``) is the caller's part.
Training's one entry is ``training.train_model``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from ..config import DenoiseConfig
from ..data.axes import choose
from ..data.bands import BandedPlane
from ..data.output_types import output_dtype
from ..data.stack import PlaneStack
from ..data.tiff_io import output_shape
from .check import Check, check_image, report
from .inference import Denoiser

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutputPlan:
    """What denoising a stack writes, known before any plane is computed (the cluster's client
    cuts the work by it without loading the model)."""

    frames: list[int] | None  # 0-based frames of the input in the output; None: all
    channels: list[int] | None  # 0-based channels denoised; None: all (the others are copied)
    axes: str  # the input's axes in ImageJ order (the order a written file gets)
    shape: tuple[int, ...]  # in ``axes``, with only the chosen frames

    @property
    def count(self) -> int:
        """How many planes the whole output has."""
        return int(np.prod(self.shape[:-2]))


def plan_output(stack: PlaneStack, config: DenoiseConfig) -> OutputPlan:
    """The frames and channels ``config`` chooses (a frame or channel the stack lacks is refused
    here, before any output is begun) and the output's axes and shape."""
    frames = choose(config.frames, stack.frames, "frame")
    channels = choose(config.channels, stack.channels, "channel")
    axes = stack.canonical_dims()
    return OutputPlan(frames, channels, axes, output_shape(stack, axes, None if frames is None else len(frames)))


@dataclass
class Denoised:
    """A denoised stack on its way out: planes are computed as they are taken."""

    planes: Iterator[np.ndarray | BandedPlane]  # in ImageJ order: C fastest, then Z, then T; bands where tiled
    axes: str  # the input's axes in ImageJ order (the order a written file gets)
    shape: tuple[int, ...]  # in ``axes``, with only the chosen frames
    dtype: np.dtype
    frames: list[int] | None  # 0-based frames of the input in the output; None: all
    info: str  # which model and precision made it (ImageJ's Info)
    check: Check | None = None  # the quality check on a sample of the input (None: --check off, or a unit of work)

    @property
    def count(self) -> int:
        """How many planes the whole output has."""
        return int(np.prod(self.shape[:-2]))


def denoise_stack(
    denoiser: Denoiser,
    stack: PlaneStack,
    config: DenoiseConfig,
    progress: Callable[[int, int], None] | None = None,
    planes: slice | None = None,
    on_tile: Callable[[int, int, int], None] | None = None,
) -> Denoised:
    """Denoise the chosen frames and channels of ``stack`` with ``denoiser``.

    Frames not chosen are left out of the output; channels not chosen are copied through.
    ``progress(done, total)`` is called as planes are taken. Nothing is computed until then,
    but a frame or channel the stack lacks is refused here, before any output is begun.
    ``planes`` takes only a run of the output planes (a unit of work on a cluster);
    ``shape`` still describes the whole output. ``on_tile(plane, done, total)`` follows the tiles
    of planes too large for one network call (see ``Denoiser.denoise_planes``). Unless
    ``config.check`` is off (or only a run of planes is taken), a quality check on a sample of
    the input comes first (``check``): its verdict is logged, a warning when the model does no
    better than a blur, and its cost as a share of the denoising time once the planes are all taken.
    """
    plan = plan_output(stack, config)
    check = None
    if config.check != "off" and planes is None:  # "only" is the front doors' to honour: here it checks as "on"
        check = check_image(denoiser, stack, plan.frames, plan.channels, config.keep_zero_columns)
        report(check)
    output = denoiser.denoise_planes(
        stack, frames=plan.frames, channels=plan.channels, bit_depth=config.bit_depth,
        batch_planes=config.batch_planes, keep_zero_columns=config.keep_zero_columns, progress=progress, planes=planes,
        tile_size=config.tile_size, on_tile=on_tile, tta=config.tta,
    )
    return Denoised(output if check is None or check.verdict is None else _timed(output, check), plan.axes, plan.shape,
                    output_dtype(stack.dtype, config.bit_depth), plan.frames, denoiser.provenance(), check)


def _timed(planes: Iterator[np.ndarray | BandedPlane], check: Check) -> Iterator[np.ndarray | BandedPlane]:
    """``planes``, then the check's cost as a share of the CPU time they took, to the log.

    CPU time, as a busy machine stretches wall times unevenly (measured under load 4-5: the same
    check logged 8 % to 22 % of the wall time, and 7 % of the CPU time every time)."""
    started = time.process_time()
    yield from planes
    denoising = time.process_time() - started
    log.info("The quality check took %.1f s of CPU time, %.0f %% of the denoising's (%.1f s); --check off skips it.",
             check.seconds, 100 * check.seconds / max(denoising, 1e-9), denoising)
