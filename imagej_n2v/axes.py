"""Axes strings: validation, the canonical TZCYX order, and 1-based index lists.

An axes string names each dimension of an array with one letter: T (frames), Z (slices),
C (channels), Y and X (rows and columns of a plane). Any order and subset is accepted as long
as Y and X are present; internally every image is seen in ImageJ's hyperstack order TZCYX.
"""

from __future__ import annotations

from typing import Sequence

from .errors import AxesError, InputError

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


LARGEST_INDEX = 10**6
"""Highest frame or channel number a list may name before an image is known: a guard against
``1-999999999`` filling memory, far above any real stack."""


def parse_numbers(text: str | int | Sequence[int] | None, what: str, count: int | None = None) -> tuple[int, ...] | None:
    """Parse ImageJ-style 1-based ranges such as ``"1-3,7"`` (or numbers) into sorted 1-based numbers.

    ``None``, an empty string or an empty list means "all" and returns None. ``what``
    ("frame", "channel") names the dimension in error messages. With ``count`` (the image's
    size) every range is checked against it before it is expanded; without, against
    ``LARGEST_INDEX``.
    """
    if text is None:
        return None
    if isinstance(text, str):
        text = text.strip().strip("[]").strip()
        if not text:
            return None
        chosen: set[int] = set()
        for part in text.split(","):
            first, last = _parse_range(part.strip(), text, what)
            _check_in_range(first, last, count, what)  # before expanding: 1-999999999 must not fill memory
            chosen.update(range(first, last + 1))
        numbers = sorted(chosen)
    else:
        try:
            numbers = sorted({int(n) for n in ([text] if isinstance(text, int) else text)})
        except (TypeError, ValueError):
            raise InputError(f"The {what} list {text!r} is malformed: use numbers and ranges such as 1-3,7.") from None
    if not numbers:
        return None
    _check_in_range(numbers[0], numbers[-1], count, what)
    return tuple(numbers)


def _parse_range(part: str, text: str, what: str) -> tuple[int, int]:
    try:
        if "-" in part:
            first, last = (int(p) for p in part.split("-", 1))
        else:
            first = last = int(part)
    except ValueError:
        raise InputError(
            f"The {what} list '{text}' is malformed at '{part}': use numbers and ranges such as 1-3,7."
        ) from None
    if first > last:
        raise InputError(f"The {what} range '{part}' runs backwards: write it as {last}-{first}.")
    return first, last


def choose(numbers: Sequence[int] | None, count: int, what: str) -> list[int] | None:
    """0-based indices of 1-based ``numbers`` (as settings hold them) in an image with ``count`` of ``what``.

    The one place where ImageJ's numbering meets array indices; None (all) stays None.
    """
    if not numbers:
        return None
    _check_in_range(min(numbers), max(numbers), count, what)
    return [n - 1 for n in sorted(set(numbers))]


def parse_index_list(text: str | Sequence[int] | None, count: int, what: str) -> list[int] | None:
    """Parse ranges such as ``"1-3,7"`` and choose them in an image with ``count`` of ``what`` (0-based)."""
    return choose(parse_numbers(text, what, count), count, what)


def _check_in_range(first: int, last: int, count: int | None, what: str) -> None:
    if first < 1 or (count is not None and last > count):
        raise InputError(
            f"The {what} list asks for {what} {first if first < 1 else last}, "
            f"but the image has {count} {what}{'s' if count != 1 else ''} (numbered from 1)."
            if count is not None else
            f"The option {what}s asks for {what} {first}, but counts from 1, as in ImageJ."
        )
    if count is None and last > LARGEST_INDEX:
        raise InputError(f"The {what} list asks for {what} {last}: no image has that many; check the numbers.")
