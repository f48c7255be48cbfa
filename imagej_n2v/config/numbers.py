"""Frame and channel numbers as users write them: ImageJ-style 1-based ranges such as ``1-3,7``."""

from __future__ import annotations

from typing import Sequence

from ..errors import InputError

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
            check_in_range(first, last, count, what)  # before expanding: 1-999999999 must not fill memory
            chosen.update(range(first, last + 1))
        numbers = sorted(chosen)
    else:
        try:
            numbers = sorted({int(n) for n in ([text] if isinstance(text, int) else text)})
        except (TypeError, ValueError):
            raise InputError(f"The {what} list {text!r} is malformed: use numbers and ranges such as 1-3,7.") from None
    if not numbers:
        return None
    check_in_range(numbers[0], numbers[-1], count, what)
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


def check_in_range(first: int, last: int, count: int | None, what: str) -> None:
    if first < 1 or (count is not None and last > count):
        raise InputError(
            f"The {what} list asks for {what} {first if first < 1 else last}, "
            f"but the image has {count} {what}{'s' if count != 1 else ''} (numbered from 1)."
            if count is not None else
            f"The option {what}s asks for {what} {first}, but counts from 1, as in ImageJ."
        )
    if count is None and last > LARGEST_INDEX:
        raise InputError(f"The {what} list asks for {what} {last}: no image has that many; check the numbers.")
