"""The tiler: cores cover an image exactly once, windows stay on the pooling grid, and a local
operator run tile by tile gives the untiled result exactly, in 2D and 3D."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagej_n2v.denoising.tiling import (
    context_for,
    padding,
    plan_tiles,
    read_window,
    receptive_radius,
    smallest_tile,
    tile_side_for,
)


def test_n2v_default_network_looks_43_pixels_each_side_and_gets_44_of_context():
    assert receptive_radius(depth=2, kernel=5) == 43
    assert context_for(depth=2, kernel=5) == 44
    assert smallest_tile(44, 4) == 92


@pytest.mark.parametrize("depth, kernel, blurpool", [(2, 5, False), (2, 3, False), (3, 3, False), (2, 3, True)])
def test_the_radius_is_how_far_a_real_network_output_moves_when_one_input_pixel_changes(depth, kernel, blurpool):
    import tensorflow as tf
    from n2v.nets.unet import build_single_unet_per_channel

    tf.keras.utils.set_random_seed(0)
    net = build_single_unet_per_channel((None, None, 1), n_depth=depth, kernel_size=(kernel, kernel), n_filter_base=4,
                                        pool_size=(2, 2), last_activation="linear", blurpool=blurpool,
                                        skip_skipone=blurpool)
    x = np.random.default_rng(1).normal(size=(1, 160, 160, 1)).astype(np.float32)
    base = net(x).numpy()[0, ..., 0]
    reach = 0
    for pos in range(80, 80 + 2**depth):  # every position on the pooling grid
        moved = x.copy()
        moved[0, pos, pos, 0] += 100
        rows = np.flatnonzero(np.abs(net(moved).numpy()[0, ..., 0] - base).max(axis=1))
        reach = max(reach, pos - rows.min(), rows.max() - pos)
    assert reach == receptive_radius(depth, kernel, blurpool=blurpool)


def _cover_count(shape, tiles):
    count = np.zeros(shape, dtype=int)
    for tile in tiles:
        count[tile.core] += 1
    return count


@settings(max_examples=60, deadline=None)
@given(shape=st.lists(st.integers(1, 70), min_size=1, max_size=3),
       extra=st.integers(0, 3), multiple=st.sampled_from([1, 2, 4]), context_steps=st.integers(0, 3))
def test_cores_cover_every_pixel_once_and_windows_sit_on_the_grid(shape, extra, multiple, context_steps):
    context = context_steps * multiple
    tile = smallest_tile(context, multiple) + extra * multiple
    tiles = plan_tiles(shape, tile, context, multiple)
    assert (_cover_count(shape, tiles) == 1).all()
    padded = [size + sum(p) for size, p in zip(shape, padding(shape, multiple))]
    for t in tiles:
        for window, core, crop, size, length, (before, _) in zip(t.window, t.core, t.crop, shape, padded,
                                                                 padding(shape, multiple)):
            assert window.start % multiple == 0 and (window.stop - window.start) % multiple == 0
            assert 0 <= window.start < window.stop <= length and window.stop - window.start <= max(tile, 0)
            assert crop.stop - crop.start == core.stop - core.start
            assert crop.start == core.start + before - window.start
            # context on every side that cuts the image (not the padded image's own border)
            assert window.start == 0 or crop.start >= context
            assert window.stop == length or (window.stop - window.start) - crop.stop >= context


def test_read_window_is_the_reflect_padded_image_without_padding_it_all():
    rng = np.random.default_rng(0)
    for shape in [(1, 7), (2, 3), (5, 9), (3, 4, 5), (13, 10)]:
        image = rng.integers(0, 1000, size=shape)
        padded = np.pad(image, padding(shape, 4), mode="reflect")
        for tile in plan_tiles(shape, 12, 4, 4):
            assert np.array_equal(read_window(image, tile, 4), padded[tile.window])


def _local_network(x: np.ndarray, radius: int, multiple: int) -> np.ndarray:
    """A stand-in for the U-Net with the same two properties: a box sum of ``radius`` with zero
    'same' padding (a convolution), then a max over blocks of ``multiple`` broadcast back (pooling
    and nearest upsampling on the grid), added; integer, so exact."""
    summed = x.copy()
    for axis in range(x.ndim):
        padded = np.pad(summed, [(radius, radius) if a == axis else (0, 0) for a in range(x.ndim)])
        cum = np.cumsum(padded, axis=axis)
        cum = np.concatenate([np.zeros_like(np.take(cum, [0], axis=axis)), cum], axis=axis)
        n = x.shape[axis]
        summed = np.take(cum, np.arange(2 * radius + 1, 2 * radius + 1 + n), axis=axis) - np.take(cum, np.arange(n), axis=axis)
    blocks = summed.reshape([s for n in x.shape for s in (n // multiple, multiple)])
    pooled = blocks.max(axis=tuple(range(1, 2 * x.ndim, 2)))
    for axis in range(x.ndim):
        pooled = np.repeat(pooled, multiple, axis=axis)
    return summed + pooled


@pytest.mark.parametrize("shape, tile", [((61, 45), 20), ((37, 50), 24), ((9, 23, 30), 16), ((3, 3), 20)])
def test_a_local_operator_run_tile_by_tile_equals_it_run_on_the_whole_image(shape, tile):
    multiple, radius = 4, 3
    context = 4  # the radius rounded up to the grid, as context_for does
    image = np.random.default_rng(2).integers(0, 100, size=shape).astype(np.int64)
    pads = padding(shape, multiple)
    whole = _local_network(np.pad(image, pads, mode="reflect"), radius, multiple)
    whole = whole[tuple(slice(b, b + n) for (b, _), n in zip(pads, shape))]
    tiled = np.full(shape, -1, dtype=np.int64)
    tiles = plan_tiles(shape, tile, context, multiple)
    for t in tiles:
        tiled[t.core] = _local_network(read_window(image, t, multiple), radius, multiple)[t.crop]
    assert np.array_equal(tiled, whole)
    assert len(tiles) > 1 or all(n <= tile for n in shape)


def test_too_little_context_is_seen_by_the_same_check():
    """The equality above fails when the context is below the operator's radius: the check can fail."""
    shape, multiple = (40, 40), 4
    image = np.random.default_rng(3).integers(0, 100, size=shape).astype(np.int64)
    whole = _local_network(image, 6, multiple)
    tiled = np.zeros(shape, dtype=np.int64)
    for t in plan_tiles(shape, 16, 4, multiple):
        tiled[t.core] = _local_network(read_window(image, t, multiple), 6, multiple)[t.crop]
    assert not np.array_equal(tiled, whole)


def test_bad_tiles_are_refused():
    with pytest.raises(ValueError):
        plan_tiles((100, 100), 90, 44, 4)  # below 2 * 44 + 4
    with pytest.raises(ValueError):
        plan_tiles((100, 100), 130, 42, 4)  # context off the grid
    with pytest.raises(ValueError):
        plan_tiles((100, 100), (128,), 44, 4)  # one tile side for two axes


def test_tile_side_follows_the_pixels_allowed():
    assert tile_side_for(1024 * 1024, 2, 44, 4) == 1024
    assert tile_side_for(64**3, 3, 12, 4) == 64
    assert tile_side_for(10, 2, 44, 4) == 92  # never below a tile that keeps a core
    assert all(tile_side_for(p, 2, 44, 4) % 4 == 0 for p in itertools.chain(range(8000, 9000, 37), [10**8]))
