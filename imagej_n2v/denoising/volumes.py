"""Denoising with a 3D model: each (frame, channel) z-stack is one ZYX volume.

A 3D model sees the slices above and below, so it is applied to whole volumes: each chosen
channel of a frame is read slice by slice, normalised by its own statistics (the training's
per-volume normalisation), padded to the network's multiple in Z, Y and X, predicted, and given
back as planes in ImageJ order (C fastest, then Z), through the same output types, zero columns
and pass-through of channels not chosen as the 2D path. Only one frame's volumes are in memory.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import numpy as np

from ..data.output_types import PlaneConverter
from ..data.planes import kept_columns
from ..data.stack import PlaneStack
from ..errors import InputError, NothingToDenoise
from .memory import memory_budget, network_bytes, size_text
from .tiling import plan_tiles, read_window, tile_side_for
from .tta import model_orientations

if TYPE_CHECKING:
    from .inference import Denoiser, Tiling

log = logging.getLogger(__name__)


def fewest_slices(denoiser: Denoiser) -> int:
    """Slices a volume needs for a 3D model: one of the network's Z steps (2 to the power of its depth)."""
    return denoiser.div_by


def check_volumes(denoiser: Denoiser, stack: PlaneStack) -> None:
    """Refuse, before any output is begun, a stack a 3D model cannot denoise: no Z, or too few slices."""
    name = (denoiser.description.source or denoiser.description.folder).name
    needed = fewest_slices(denoiser)
    if stack.slices == 1:
        raise InputError(f"{stack.source} has no Z axis (one slice per frame and channel), but the model {name} is a 3D "
                         f"model that denoises z-stacks: use a 2D model (train one without --3d) for it.")
    if stack.slices < needed:
        raise InputError(f"{stack.source} has {stack.slices} slices, fewer than the {needed} the 3D model {name} needs: "
                         f"denoise it with a 2D model (train one without --3d).")


def volume_tiling(denoiser: Denoiser, shape: tuple[int, int, int], tile_size: int | None, tta: bool,
                  source: str) -> Tiling:
    """Whether volumes of ``shape`` (Z, Y, X) go through the network whole or in overlapping windows, and which.

    As for planes (``Denoiser.tiling``): ``tile_size`` sets the windows' side (on every axis, an
    axis shorter than it whole), else a volume is cut only when one call on it would need more
    than the memory budget. Windows are as large as the budget allows; an axis too short to be
    cut with the network's context on both sides (often Z) stays whole and the others share the rest.
    """
    from .inference import BATCH_PIXELS, Tiling  # inference imports this module

    multiple, context = denoiser.div_by, denoiser.context
    turns = tuple(model_orientations(denoiser.description)) if tta else (0,)
    padded = [n + (-n) % multiple for n in shape]
    if tile_size is not None:
        plane = denoiser.tiling(shape[1], shape[2], tile_size, source)  # checks the side, in the same sentence
        side = tile_size // multiple * multiple
        tile = None if max(padded) <= side and plane.tile is None else tuple(min(side, n) for n in padded)
        return Tiling(tile, f"--tile-size {tile_size}", source, turns)
    budget = memory_budget()
    allowed = max(budget.bytes // network_bytes(1, denoiser.description.first_filters), BATCH_PIXELS)
    if math.prod(padded) <= allowed:
        return Tiling(None, budget.seen, source, turns)
    sides, free = list(padded), [0, 1, 2]
    while free:
        whole = math.prod(sides[i] for i in range(3) if i not in free)
        side = tile_side_for(max(allowed // whole, 1), len(free), context, multiple)
        short = [i for i in free if padded[i] <= side]
        if not short:
            for i in free:
                sides[i] = side
            break
        free = [i for i in free if i not in short]  # these stay whole; the others share what is left
    log.info("%s: volumes of %s go through the network in windows of %s (a whole volume would need %s; %s, a share "
             "of it per call).", source, "x".join(map(str, shape)), "x".join(map(str, sides)),
             size_text(network_bytes(math.prod(padded), denoiser.description.first_filters)), budget.seen)
    return Tiling(tuple(sides), budget.seen, source, turns)


def denoise_volume(denoiser: Denoiser, volume: np.ndarray, columns: slice, tiling: Tiling) -> np.ndarray:
    """One (Z, Y, X) volume denoised in the input's units (float32); zero columns outside ``columns`` stay zero.

    The kept area is normalised by its own statistics and goes through the network whole or, when
    ``tiling`` says so, window by window through the tiler (each window reflect-padded as the whole
    volume would be, only its core kept): the same values either way, to float32 rounding.
    """
    kept = volume[:, :, columns]
    normalization = denoiser.normalization_for(kept)
    multiple = denoiser.div_by
    padded = tuple(n + (-n) % multiple for n in kept.shape)
    sides = tiling.tile or padded
    contexts = tuple(0 if side >= n else denoiser.context for side, n in zip(sides, padded))  # a whole axis needs none
    output = np.empty(kept.shape, dtype=np.float32)
    for tile in plan_tiles(kept.shape, sides, contexts, multiple):
        window = normalization.apply(read_window(kept, tile, multiple))
        output[tile.core] = denoiser._call(window[np.newaxis], tiling, tiled=tiling.tile is not None)[0][tile.crop]
    if denoiser.per_plane:  # the per-volume offset correction, as 2D does per plane
        mean = (kept.mean(dtype=np.float64) - normalization.mean) / normalization.std
        output += np.float32(mean - output.mean(dtype=np.float64))
    full = np.zeros(volume.shape, dtype=np.float32)
    full[:, :, columns] = normalization.invert(output)
    return full


def denoise_volumes(
    denoiser: Denoiser,
    stack: PlaneStack,
    frames: Sequence[int] | None,
    channels: Sequence[int] | None,
    bit_depth: str | int,
    keep_zero_columns: bool,
    progress: Callable[[int, int], None] | None,
    planes: slice | None,
    tile_size: int | None = None,
    tta: bool = False,
) -> Iterator[np.ndarray]:
    """The output planes of ``stack`` in ImageJ order, each chosen (frame, channel) denoised as a volume.

    Arguments as for ``Denoiser.denoise_planes``; a run of ``planes`` computes only the frames it touches.
    """
    convert = PlaneConverter(stack.dtype, bit_depth, stack.source)
    tilings: dict[tuple[int, ...], Tiling] = {}  # by the kept area's shape: decided once per stack and shape
    per_frame = stack.slices * stack.channels
    wanted = range(len(list(stack.indices(frames))))[planes or slice(None)]
    chosen_frames = list(range(stack.frames)) if frames is None else list(frames)
    finished = denoised = 0
    for number in sorted({n // per_frame for n in wanted}):
        t = chosen_frames[number]
        outputs = []
        for c in range(stack.channels):
            volume = stack.volume(t, c)
            columns = None if channels is not None and c not in channels else kept_columns(volume.any(axis=0),
                                                                                            keep_zero_columns)
            if columns is None:
                outputs.append((volume, None))
                continue
            shape = (stack.slices, stack.height, columns.stop - columns.start)
            if shape not in tilings:
                tilings[shape] = volume_tiling(denoiser, shape, tile_size, tta, stack.source)
            outputs.append((volume, denoise_volume(denoiser, volume, columns, tilings[shape])))
            denoised += 1
        for z in range(stack.slices):
            for c, (volume, result) in enumerate(outputs):
                if number * per_frame + z * stack.channels + c not in wanted:
                    continue
                original = volume[z]
                if result is None and convert.dtype == np.uint16 and original.dtype == np.uint16:
                    yield original
                else:
                    yield convert(original.astype(np.float32) if result is None else result[z], original)
                finished += 1
                if progress:
                    progress(finished, len(wanted))
    if not denoised:
        raise NothingToDenoise.in_stack(stack.source)
    convert.report()

