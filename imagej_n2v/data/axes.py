"""Axes strings: validation, the canonical TZCYX order, and 1-based index lists.

An axes string names each dimension of an array with one letter: T (frames), Z (slices),
C (channels), Y and X (rows and columns of a plane). Any order and subset is accepted as long
as Y and X are present; internally every image is seen in ImageJ's hyperstack order TZCYX.
"""

from __future__ import annotations

from typing import Sequence

from ..config.numbers import check_in_range, parse_numbers
from ..errors import AxesError

CANONICAL = "TZCYX"
"""ImageJ's hyperstack order; planes are stored with C fastest, then Z, then T."""


_EXAMPLES = {2: "YX", 3: "ZYX or TYX", 4: "TZYX or ZCYX", 5: "TZCYX"}


def axes_examples(ndim: int) -> str:
    """Axes strings that fit ``ndim`` dimensions, for hints: ``"ZYX or TYX"`` for 3."""
    return _EXAMPLES.get(ndim, "at most 5 letters from TZCYX")


def normalize_axes(axes: str, shape: Sequence[int] | None = None) -> str:
    """Check an axes string (and, if given, that it fits ``shape``); return it upper-cased.

    Raises
    ------
    AxesError
        With a sentence that says which letters are allowed, or how the shape disagrees.
    """
    if not isinstance(axes, str) or not axes:
        raise AxesError("The axes string is empty: give one letter per dimension, e.g. TZYX.")
    axes = axes.strip().upper()
    unknown = sorted(set(axes) - set(CANONICAL))
    if unknown:
        raise AxesError(
            f"The axes string '{axes}' has unknown letters {''.join(unknown)}: "
            f"use only T, Z, C, Y and X, e.g. TZYX."
        )
    repeated = sorted({a for a in axes if axes.count(a) > 1})
    if repeated:
        raise AxesError(f"The axes string '{axes}' repeats {''.join(repeated)}: name each dimension once.")
    if "Y" not in axes or "X" not in axes:
        raise AxesError(f"The axes string '{axes}' must contain both Y and X (the plane's rows and columns).")
    if shape is not None and len(shape) != len(axes):
        raise AxesError(
            f"The axes string '{axes}' has {len(axes)} letters but the image has {len(shape)} "
            f"dimensions {tuple(shape)}: give one letter per dimension, e.g. {axes_examples(len(shape))}."
        )
    return axes


def imagej_order(axes: str) -> str:
    """The letters of ``axes`` in ImageJ's hyperstack order (the order a written file gets)."""
    return "".join(a for a in CANONICAL if a in axes)


def canonical_shape(shape: Sequence[int], axes: str) -> tuple[int, int, int, int, int]:
    """The (T, Z, C, Y, X) sizes of an array with ``axes``; absent axes count as 1."""
    sizes = dict(zip(axes, shape))
    return tuple(int(sizes.get(a, 1)) for a in CANONICAL)  # type: ignore[return-value]


def to_canonical(array, axes: str):
    """View ``array`` (numpy or memmap) in TZCYX order, adding length-1 axes; no copy."""
    import numpy as np

    axes = normalize_axes(axes, array.shape)
    present = imagej_order(axes)
    view = np.transpose(array, [axes.index(a) for a in present])
    return view.reshape(canonical_shape(array.shape, axes))


def from_canonical(array, axes: str):
    """Turn a TZCYX array back into ``axes`` order, dropping the axes that ``axes`` lacks."""
    import numpy as np

    axes = normalize_axes(axes)
    present = imagej_order(axes)
    squeezed = array.reshape([array.shape[CANONICAL.index(a)] for a in present])
    return np.transpose(squeezed, [present.index(a) for a in axes])


def choose(numbers: Sequence[int] | None, count: int, what: str) -> list[int] | None:
    """0-based indices of 1-based ``numbers`` (as settings hold them) in an image with ``count`` of ``what``.

    The one place where ImageJ's numbering meets array indices; None (all) stays None.
    """
    if not numbers:
        return None
    check_in_range(min(numbers), max(numbers), count, what)
    return [n - 1 for n in sorted(set(numbers))]


def parse_index_list(text: str | Sequence[int] | None, count: int, what: str) -> list[int] | None:
    """Parse ranges such as ``"1-3,7"`` and choose them in an image with ``count`` of ``what`` (0-based)."""
    return choose(parse_numbers(text, what, count), count, what)
