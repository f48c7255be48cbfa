"""Tiles for predicting images of any size: overlapping windows whose centres add up to the whole.

Pure numpy and N-dimensional: the axes given are the spatial ones (YX for a plane, ZYX for a
volume). The image is first reflect-padded to a multiple of ``multiple`` (``2**unet_depth``) on
each axis, split as csbdeep's ``PadAndCropResizer`` does, which is what untiled prediction sees.
Windows of that padded image go through the network; each keeps only its core, at least
``context`` pixels away from any side of the window that is not a side of the padded image.

Why the result equals untiled prediction: an output pixel depends only on input pixels within
the network's receptive field (``receptive_radius``), and on the zero padding of each
convolution only where that field crosses a border. A core pixel's field lies inside its window,
and the window's borders that cut the image are at least ``context`` >= the radius away, so the
pixel sees exactly the inputs it sees in the whole padded image. Every window starts at a
multiple of ``multiple``, so the U-Net's pooling grid is the whole image's grid. What remains
are float32 rounding differences between convolutions of different sizes.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np


def receptive_radius(depth: int, kernel: int, convs_per_level: int = 2, blurpool: bool = False) -> int:
    """How far (pixels, per axis, either side) an output pixel of csbdeep's U-Net looks into its input.

    csbdeep's ``unet_block`` (which n2v builds) has ``convs_per_level`` convolutions of side
    ``kernel`` at each of ``depth`` levels on the way down, 2x2 max pooling between levels, the
    same number at the bottom, and on the way up nearest-neighbour upsampling, concatenation with
    the skip connection and the same convolutions again; n2v ends with a 1x1 convolution. The
    field of a feature at level ``l`` index ``i`` is ``[2**l * i + lo, 2**l * i + hi]``; a
    convolution widens it by ``kernel // 2`` steps of ``2**l`` each side, pooling adds ``2**l``
    above, and upsampling ``2**l`` below (odd positions copy their left neighbour's parent).
    N2V2's max-blur pooling (``blurpool``: a 2x2 maximum at stride 1, then a 3x3 blur at stride
    2, both 'same' padded) adds ``3 * 2**l`` above instead. For n2v's default network (depth 2, kernel 5) this is 43 pixels.
    """
    half = kernel // 2
    lo = hi = 0
    skips = []
    for level in range(depth):
        step = 2**level
        lo, hi = lo - convs_per_level * half * step, hi + convs_per_level * half * step
        skips.append((lo, hi))
        hi += 3 * step if blurpool else step
    step = 2**depth
    lo, hi = lo - convs_per_level * half * step, hi + convs_per_level * half * step
    for level in reversed(range(depth)):
        step = 2**level
        lo -= step
        lo, hi = min(lo, skips[level][0]), max(hi, skips[level][1])
        lo, hi = lo - convs_per_level * half * step, hi + convs_per_level * half * step
    return max(-lo, hi)


def context_for(depth: int, kernel: int, blurpool: bool = False) -> int:
    """The context kept around each tile's core: the receptive radius, rounded up to a multiple of ``2**depth``
    (so cores and windows stay on the pooling grid). 44 for n2v's default network."""
    multiple = 2**depth
    return math.ceil(receptive_radius(depth, kernel, blurpool=blurpool) / multiple) * multiple


def smallest_tile(context: int, multiple: int) -> int:
    """The smallest tile side that keeps a core: both contexts and one step of the pooling grid."""
    return 2 * context + multiple


def padding(shape: Sequence[int], multiple: int) -> tuple[tuple[int, int], ...]:
    """Reflect padding (before, after) per axis up to a multiple of ``multiple``, split as csbdeep does."""
    pads = []
    for size in shape:
        total = (-size) % multiple
        pads.append((total // 2, total - total // 2))
    return tuple(pads)


@dataclass(frozen=True)
class Tile:
    """One window of the padded image and the part of the output it gives.

    ``window``: the region of the padded image sent to the network (see ``read_window``).
    ``core``: the region of the output (the image's own coordinates, unpadded) this tile fills.
    ``crop``: where ``core`` lies inside the network's output for ``window``.
    """

    window: tuple[slice, ...]
    core: tuple[slice, ...]
    crop: tuple[slice, ...]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(s.stop - s.start for s in self.window)


def _balanced(padded: int, tile: int, context: int, multiple: int) -> int:
    """The smallest tile (on the grid, at most ``tile``) that covers ``padded`` in as few tiles as ``tile`` does.

    Tiles of the largest size would leave the last one mostly overlapping its neighbour (a
    2048 axis in 1024 tiles takes three, 3072 pixels of network input); three of 744 cover
    it with 2232.
    """
    count = -(-(padded - 2 * context) // (tile - 2 * context))
    needed = -(-(padded - 2 * context) // count) + 2 * context
    return min(tile, -(-needed // multiple) * multiple)


def _segments(padded: int, tile: int, context: int, multiple: int) -> list[tuple[int, int, int, int]]:
    """(window start, window stop, core start, core stop) along one padded axis.

    The first core begins at 0 and the last ends at ``padded``: the image's own borders need no
    context, their windows end there as the whole image does. Between them cores are
    ``tile - 2 * context`` long; the last window is moved back to end at the border.
    """
    if padded <= tile:
        return [(0, padded, 0, padded)]
    tile = _balanced(padded, tile, context, multiple)
    step = tile - 2 * context
    segments = [(0, tile, 0, tile - context)]
    while segments[-1][3] < padded:
        core_start = segments[-1][3]
        start = core_start - context
        if start + tile >= padded:
            segments.append((padded - tile, padded, core_start, padded))
        else:
            segments.append((start, start + tile, core_start, core_start + step))
    return segments


def plan_tiles(shape: Sequence[int], tile: int | Sequence[int], context: int | Sequence[int],
               multiple: int) -> list[Tile]:
    """The tiles covering an image of ``shape`` (its spatial axes), in C order of their cores.

    ``tile`` (the largest window side, network input; windows are made as small as the same
    number of them allows, see ``_balanced``) and ``context`` may be one number for every
    axis or one per axis; both must be multiples of ``multiple`` and ``tile`` at least
    ``smallest_tile(context, multiple)``. An axis shorter than a tile gets one window: the whole
    padded axis. The cores do not overlap and cover the image exactly once.
    """
    ndim = len(shape)
    tiles = (tile,) * ndim if isinstance(tile, (int, np.integer)) else tuple(tile)
    contexts = (context,) * ndim if isinstance(context, (int, np.integer)) else tuple(context)
    if len(tiles) != ndim or len(contexts) != ndim:
        raise ValueError(f"tile {tile} and context {context} do not match the {ndim} axes of {tuple(shape)}")
    for side, margin in zip(tiles, contexts):
        if side % multiple or margin % multiple or side < smallest_tile(margin, multiple):
            raise ValueError(f"tile {side} with context {margin} must be multiples of {multiple} and the tile at least "
                             f"{smallest_tile(margin, multiple)}")
    pads = padding(shape, multiple)
    per_axis = []
    for size, (before, after), side, margin in zip(shape, pads, tiles, contexts):
        axis = []
        for start, stop, core_start, core_stop in _segments(size + before + after, side, margin, multiple):
            out_start, out_stop = max(core_start - before, 0), min(core_stop - before, size)
            if out_stop > out_start:  # a core wholly in the padding gives nothing
                axis.append((slice(start, stop), slice(out_start, out_stop),
                             slice(out_start + before - start, out_stop + before - start)))
        per_axis.append(axis)
    return [Tile(*(tuple(parts) for parts in zip(*combination))) for combination in itertools.product(*per_axis)]


def _reflected(start: int, stop: int, before: int, size: int) -> np.ndarray:
    """Indices into an axis of ``size`` for padded positions ``start:stop`` (numpy's 'reflect' padding)."""
    positions = np.arange(start - before, stop - before)
    if size == 1:
        return np.zeros_like(positions)
    period = 2 * (size - 1)
    positions = np.abs(positions) % period
    return np.where(positions >= size, period - positions, positions)


def read_window(image: np.ndarray, tile: Tile, multiple: int) -> np.ndarray:
    """The padded image's values in ``tile.window``, read from ``image`` without padding all of it.

    Equal to ``np.pad(image, padding(image.shape, multiple), mode="reflect")[tile.window]``. A
    window inside the image is a plain slice (a view for arrays, a read of only that region for
    memory maps); only windows reaching into the padding are gathered index by index.
    """
    pads = padding(image.shape, multiple)
    direct = []
    for window, (before, _), size in zip(tile.window, pads, image.shape):
        start, stop = window.start - before, window.stop - before
        direct.append(slice(start, stop) if start >= 0 and stop <= size else None)
    if all(s is not None for s in direct):
        return image[tuple(direct)]
    index = [np.arange(s.start, s.stop) if s is not None else _reflected(w.start, w.stop, before, size)
             for s, w, (before, _), size in zip(direct, tile.window, pads, image.shape)]
    box = tuple(slice(int(i.min()), int(i.max()) + 1) for i in index)
    region = np.asarray(image[box])  # one read of the region the window needs, then the reflection
    return region[np.ix_(*(i - b.start for i, b in zip(index, box)))]


def tile_side_for(pixels: int, ndim: int, context: int, multiple: int) -> int:
    """The largest tile side (a multiple of ``multiple``) whose window holds at most ``pixels``
    pixels over ``ndim`` axes; never below ``smallest_tile``."""
    root = int(round(pixels ** (1 / ndim)))
    root -= root**ndim > pixels  # float roots of exact powers fall either side
    root += (root + 1) ** ndim <= pixels
    side = root // multiple * multiple
    return max(side, smallest_tile(context, multiple))

