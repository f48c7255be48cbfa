"""structN2V masks: training for noise that is correlated along rows or columns.

N2V assumes that the noise of neighbouring pixels is independent; line-scanning microscopes
and many cameras add noise that is correlated along rows (or columns), and N2V then learns
those stripes as signal. structN2V (n2v's ``structN2Vmask``) also hides the pixels a mask
marks around every masked pixel, so the network cannot copy the correlated noise from them.
A mask is a 2D array of 0 and 1 with odd sides, centred on the masked pixel.
"""

from __future__ import annotations

from typing import Any, Sequence

from ..errors import InputError

REACH = 4
"""Pixels hidden on each side by the named masks: correlations over up to 4 neighbours."""

NAMED = {
    "rows": [[1] * (2 * REACH + 1)],  # noise correlated along a row: hide the row neighbours
    "columns": [[1]] * (2 * REACH + 1),  # along a column: hide the column neighbours
}

_HOW = ("give rows, columns, or a custom mask of 0 and 1 with odd sides, its rows separated by ';', "
        "such as 1,1,1,1,1 for 5 pixels along a row")


def normalize_mask(value: str | Sequence[Sequence[int]] | None) -> str | None:
    """The mask as it is recorded in the settings: a name, or ``1,1,1`` rows joined by ``;``.

    Accepts a name, that text form, or (from Python) a list of rows.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str) and value.strip().lower() in NAMED:
        return value.strip().lower()
    rows = _rows(value)
    if len({len(row) for row in rows}) != 1 or len(rows) % 2 == 0 or len(rows[0]) % 2 == 0:
        raise InputError(f"The option struct_mask {value!r} is not a rectangle with odd sides: {_HOW}.")
    if sum(map(sum, rows)) - rows[len(rows) // 2][len(rows[0]) // 2] == 0:
        raise InputError(f"The option struct_mask {value!r} hides no pixel beside the centre: {_HOW}.")
    return ";".join(",".join(str(v) for v in row) for row in rows)


def _rows(value: Any) -> list[list[int]]:
    if isinstance(value, str):
        if not any(c.isdigit() for c in value):
            raise InputError(f"The option struct_mask '{value}' is unknown: {_HOW}.")
        rows: Any = [row.split(",") for row in value.replace(" ", "").strip(";").split(";")]
    else:
        rows = value
    try:
        parsed = [[int(v) for v in row] for row in rows]
    except (TypeError, ValueError):
        raise InputError(f"The option struct_mask {value!r} is not made of 0 and 1: {_HOW}.") from None
    if not parsed or any(v not in (0, 1) for row in parsed for v in row):
        raise InputError(f"The option struct_mask {value!r} is not made of 0 and 1: {_HOW}.")
    return parsed


def mask_array(normalized: str) -> list[list[int]]:
    """n2v's ``structN2Vmask`` for a mask recorded by ``normalize_mask``."""
    return [list(row) for row in NAMED[normalized]] if normalized in NAMED else _rows(normalized)
