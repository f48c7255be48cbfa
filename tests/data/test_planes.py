"""Zero edge strips and per-plane normalisation."""

import numpy as np
import pytest

from imagej_n2v.data.planes import (
    CLIP_PERCENTILES,
    Normalization,
    kept_columns,
    plane_normalization,
)


def _plane_with_strips(left: int, right: int, height: int = 8, width: int = 20) -> np.ndarray:
    plane = np.random.default_rng(0).integers(1, 1000, (height, width)).astype(np.uint16)
    plane[:, :left] = 0
    plane[:, width - right :] = 0
    return plane


@pytest.mark.parametrize("left, right", [(0, 0), (3, 0), (0, 4), (5, 2)])
def test_edge_strips_are_cut(left, right):
    plane = _plane_with_strips(left, right)
    assert kept_columns(plane) == slice(left, plane.shape[1] - right)


def test_zero_columns_inside_the_data_are_kept():
    plane = _plane_with_strips(2, 2)
    plane[:, 8:11] = 0
    assert kept_columns(plane) == slice(2, 18)


def test_a_column_with_one_nonzero_pixel_is_data():
    plane = _plane_with_strips(4, 4)
    plane[5, 1] = 7
    assert kept_columns(plane) == slice(1, 16)


def test_keep_zero_columns_keeps_everything():
    plane = _plane_with_strips(3, 3)
    assert kept_columns(plane, keep_zero_columns=True) == slice(0, 20)


@pytest.mark.parametrize("keep", [False, True])
def test_all_zero_plane_has_nothing_to_keep(keep):
    assert kept_columns(np.zeros((6, 9), np.uint16), keep) is None


def test_normalization_round_trips():
    plane = np.random.default_rng(1).normal(500, 40, (32, 32)).astype(np.float32)
    norm = plane_normalization(plane)
    scaled = norm.apply(plane)
    assert scaled.dtype == np.float32
    assert abs(float(scaled.mean())) < 0.05 and abs(float(scaled.std()) - 1) < 0.05
    np.testing.assert_allclose(norm.invert(scaled.copy()), plane, rtol=1e-5)


def test_normalization_ignores_a_few_saturated_pixels():
    rng = np.random.default_rng(2)
    plane = rng.normal(1000, 50, (64, 64)).astype(np.float32)
    clean = plane_normalization(plane)
    plane.flat[rng.choice(plane.size, 3, replace=False)] = 65535
    hot = plane_normalization(plane)
    assert abs(hot.mean - clean.mean) < 1.0
    assert abs(hot.std / clean.std - 1) < 0.02
    assert plane.std() > 10 * clean.std  # the naive statistic would be dominated by them


def test_normalization_follows_brightness():
    """A plane 100x dimmer is mapped to the same normalised values (dim channels weigh equally)."""
    bright = np.random.default_rng(3).gamma(4, 500, (32, 32)).astype(np.float32)
    dim = bright / 100
    np.testing.assert_allclose(
        plane_normalization(dim).apply(dim), plane_normalization(bright).apply(bright), atol=1e-4
    )


def test_constant_plane_gets_a_usable_spread():
    norm = plane_normalization(np.full((16, 16), 300, np.uint16))
    assert norm.mean == pytest.approx(300)
    assert norm.std >= 1.0


def test_apply_writes_into_out():
    norm = Normalization(10.0, 2.0)
    out = np.empty((2, 2), np.float32)
    result = norm.apply(np.full((2, 2), 14, np.uint16), out=out)
    assert result is out
    np.testing.assert_array_equal(out, 2.0)


@pytest.mark.parametrize("dtype, top", [(np.uint16, 65535), (np.uint16, 5), (np.uint8, 255)])
def test_integer_planes_match_percentile_clipping_on_floats(dtype, top):
    """The histogram path for 8/16-bit planes gives what np.percentile and clipping give on floats."""
    rng = np.random.default_rng(int(top))
    for height, width in ((1, 1), (7, 3), (40, 33)):
        plane = rng.integers(0, top, (height, width), endpoint=True).astype(dtype)
        values = plane.astype(np.float64)
        clipped = np.clip(values, *np.percentile(values, CLIP_PERCENTILES))
        norm = plane_normalization(plane)
        assert norm.mean == pytest.approx(clipped.mean(), rel=1e-9, abs=1e-9)
        assert norm.std == pytest.approx(clipped.std() if clipped.std() > 0 else max(values.std(), 1.0), rel=1e-9, abs=1e-9)
        assert plane_normalization(plane.astype(np.float32)).mean == pytest.approx(norm.mean, rel=1e-6)
