"""Denoising with a 3D model: each (frame, channel) z-stack is one ZYX volume.

A 3D model sees the slices above and below, so it is applied to whole volumes: each chosen
channel of a frame is read slice by slice, normalised by its own statistics (the training's
per-volume normalisation), padded to the network's multiple in Z, Y and X, predicted, and given
back as planes in ImageJ order (C fastest, then Z), through the same output types, zero columns
and pass-through of channels not chosen as the 2D path. Only one frame's volumes are in memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import numpy as np

from ..data.output_types import PlaneConverter
from ..data.planes import kept_columns
from ..data.stack import PlaneStack
from ..errors import InputError, NothingToDenoise

if TYPE_CHECKING:
    from .inference import Denoiser


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


def _pad(data: np.ndarray, multiple: int) -> tuple[np.ndarray, tuple[tuple[int, int], ...]]:
    """Reflect-pad every axis to a multiple of ``multiple``, split as csbdeep splits it (n2v's own predict)."""
    pad = tuple((((-n) % multiple) // 2, (-n) % multiple - ((-n) % multiple) // 2) for n in data.shape)
    return (np.pad(data, pad, mode="reflect") if any(sum(p) for p in pad) else data), pad


def denoise_volume(denoiser: Denoiser, volume: np.ndarray, columns: slice) -> np.ndarray:
    """One (Z, Y, X) volume denoised in the input's units (float32); zero columns outside ``columns`` stay zero."""
    kept = volume[:, :, columns]
    normalization = denoiser.normalization_for(kept)
    data, pad = _pad(normalization.apply(kept), denoiser.div_by)
    predicted = denoiser.predict(data)
    crop = np.ascontiguousarray(predicted[tuple(slice(a, n - b) for (a, b), n in zip(pad, data.shape))])
    if denoiser.per_plane:  # the per-volume offset correction, as 2D does per plane
        crop += np.float32(data[tuple(slice(a, n - b) for (a, b), n in zip(pad, data.shape))].mean() - crop.mean())
    full = np.zeros(volume.shape, dtype=np.float32)
    full[:, :, columns] = normalization.invert(crop)
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
) -> Iterator[np.ndarray]:
    """The output planes of ``stack`` in ImageJ order, each chosen (frame, channel) denoised as a volume.

    Arguments as for ``Denoiser.denoise_planes``; a run of ``planes`` computes only the frames it touches.
    """
    convert = PlaneConverter(stack.dtype, bit_depth, stack.source)
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
            outputs.append((volume, denoise_volume(denoiser, volume, columns)))
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
        raise NothingToDenoise(
            f"{stack.source} is zero everywhere in the chosen frames and channels: there is nothing "
            f"to denoise; check the file or the --frames/--channels choice."
        )
    convert.report()

