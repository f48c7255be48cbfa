"""Durations as users write them (``45s``, ``30m``, ``1h30m``): the time limit setting, read and said back."""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Any

from ..errors import InputError

_UNITS = {"h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([hms])")


def parse_duration(value: Any, name: str = "time_limit") -> float:
    """Seconds in a duration such as ``45s``, ``30m``, ``2h`` or ``1h30m``; a number is seconds.

    ``datetime.timedelta`` is accepted too, for the Python API.
    """
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        text = str(value).strip().lower().replace(" ", "")
        parts = _DURATION.findall(text)
        if not text or "".join(number + unit for number, unit in parts) != text:
            raise InputError(f"The option {name} '{value}' is not a duration: write it like 45s, 30m, 2h or 1h30m.")
        seconds = sum(float(number) * _UNITS[unit] for number, unit in parts)
    if not 1 <= seconds < math.inf:
        raise InputError(f"The option {name} must be a duration of at least 1s, such as 45s, 30m or 2h, not {value!r}.")
    return seconds


def format_duration(seconds: float) -> str:
    """A duration as ``parse_duration`` reads it and a user says it: ``45s``, ``12m30s``, ``2h5m``."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m{secs}s" if secs else f"{minutes}m"
    return f"{secs}s"
