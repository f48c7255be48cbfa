"""Axes strings: validation, reordering to TZCYX and back, and ImageJ-style index lists."""

import itertools

import numpy as np
import pytest

from imagej_n2v.data.axes import (
    canonical_shape,
    from_canonical,
    imagej_order,
    normalize_axes,
    parse_index_list,
    to_canonical,
)
from imagej_n2v.data.stack import PlaneIndex, PlaneStack
from imagej_n2v.errors import AxesError, InputError


@pytest.mark.parametrize("axes", ["YX", "ZYX", "TZYX", "TZCYX", "TZXY", "CYX", "XY", "YXZ"])
def test_valid_axes_are_accepted(axes):
    assert normalize_axes(axes) == axes
    assert normalize_axes(axes.lower(), (2,) * len(axes)) == axes


@pytest.mark.parametrize(
    "axes, fragment",
    [
        ("TZYY", "repeats Y"),
        ("TTZYX", "repeats T"),
        ("TZAYX", "unknown letters A"),
        ("ZYQ", "unknown letters Q"),
        ("TZY", "must contain both Y and X"),
        ("", "empty"),
    ],
)
def test_invalid_axes_say_what_is_wrong(axes, fragment):
    with pytest.raises(AxesError, match=fragment):
        normalize_axes(axes)


def test_axes_of_the_wrong_length_name_the_shape():
    with pytest.raises(AxesError, match=r"3 letters but the image has 4 dimensions \(2, 3, 4, 5\)"):
        normalize_axes("ZYX", (2, 3, 4, 5))
    with pytest.raises(AxesError, match="4 letters but the image has 2"):
        normalize_axes("TZYX", (4, 5))


def test_imagej_order_and_canonical_shape():
    assert imagej_order("XYCZT") == "TZCYX"
    assert imagej_order("TZXY") == "TZYX"
    assert imagej_order("YXC") == "CYX"
    assert canonical_shape((5, 6, 7), "ZYX") == (1, 5, 1, 6, 7)
    assert canonical_shape((2, 3, 4, 5), "TZXY") == (2, 3, 1, 5, 4)
    assert canonical_shape((4, 5), "YX") == (1, 1, 1, 4, 5)


def _labelled(axes: str, sizes: dict[str, int]) -> np.ndarray:
    """An array whose every element encodes its own (t, z, c, y, x) position."""
    shape = [sizes[a] for a in axes]
    grids = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    code = np.zeros(shape, dtype=np.int64)
    for a, grid in zip(axes, grids):
        code += grid * 10 ** (4 - "TZCYX".index(a))
    return code


ALL_ORDERS = ["".join(p) for n in range(2, 6) for p in itertools.permutations("TZCYX", n) if "Y" in p and "X" in p]


@pytest.mark.parametrize("axes", ALL_ORDERS)
def test_to_canonical_puts_every_element_in_its_tzcyx_place(axes):
    sizes = {"T": 2, "Z": 3, "C": 4, "Y": 5, "X": 6}
    array = _labelled(axes, sizes)
    canonical = to_canonical(array, axes)
    assert canonical.shape == canonical_shape(array.shape, axes)
    t, z, c, y, x = np.meshgrid(*[np.arange(n) for n in canonical.shape], indexing="ij")
    expected = sum(g * 10 ** (4 - i) for i, g in enumerate((t, z, c, y, x)))
    np.testing.assert_array_equal(canonical, expected)
    back = from_canonical(canonical, axes)
    np.testing.assert_array_equal(back, array)


def test_tzxy_stack_gives_yx_planes():
    """The seed loaded its 4D data as TZXY: each plane must come out transposed to (Y, X)."""
    tzyx = _labelled("TZYX", {"T": 2, "Z": 3, "Y": 5, "X": 7})
    tzxy = np.ascontiguousarray(np.swapaxes(tzyx, 2, 3))
    stack = PlaneStack(tzxy, "TZXY")
    assert (stack.height, stack.width) == (5, 7)
    assert stack.canonical_dims() == "TZYX"
    for index in stack.indices():
        np.testing.assert_array_equal(stack.plane(index), tzyx[index.t, index.z])


def test_plane_order_is_imagej_order():
    stack = PlaneStack(np.zeros((2, 3, 4, 5, 6)), "TZCYX")
    order = [(i.t, i.z, i.c) for i in stack.indices()]
    assert order == sorted(order)  # C fastest, then Z, then T
    assert len(order) == len(stack) == 24
    assert [i.t for i in stack.indices([1])] == [1] * 12
    assert stack.plane(PlaneIndex(1, 2, 3)).shape == (5, 6)


@pytest.mark.parametrize(
    "text, count, expected",
    [
        ("1-3,7", 8, [0, 1, 2, 6]),
        ("7, 1-3, 2", 8, [0, 1, 2, 6]),
        ("[2]", 3, [1]),
        ("3-3", 3, [2]),
        ([3, 1], 3, [0, 2]),
        (None, 3, None),
        ("", 3, None),
    ],
)
def test_parse_index_list(text, count, expected):
    assert parse_index_list(text, count, "frame") == expected


@pytest.mark.parametrize(
    "text, fragment",
    [("1-x", "malformed at '1-x'"), ("3-1", "runs backwards: write it as 1-3"), ("0", "asks for frame 0"), ("9", "has 8 frames")],
)
def test_bad_index_lists_name_the_problem(text, fragment):
    with pytest.raises(InputError, match=fragment):
        parse_index_list(text, 8, "frame")
