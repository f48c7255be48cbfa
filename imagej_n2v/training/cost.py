"""What a training will cost on this machine, from the pace of the last training here.

A Fiji user sees n2v's defaults, 100 epochs of 400 steps, and cannot tell whether that is ten
minutes or a night. Each training records its steady pace (seconds per step, per patch pixel,
so that other patch and batch sizes scale from it, and the network's width, whose square the
work grows with) in a small file of the user's cache folder; the Train dialog turns the settings
it shows into a duration and an end time with it, naming the precision it was measured in. A missing or unreadable record is not an error: the estimate then says where the
cost shows (the Log's first epoch line).
"""

from __future__ import annotations

import json
import logging
import os
import time
from datetime import datetime
from pathlib import Path

from ..atomic import write_text
from ..config import TrainConfig
from ..config.durations import format_duration, parse_duration
from .stopping import Pace

log = logging.getLogger(__name__)


def pace_file() -> Path:
    """``$XDG_CACHE_HOME/imagej-n2v/pace.json`` (``~/.cache`` by default)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "imagej-n2v" / "pace.json"


def record_pace(pace: Pace, config: TrainConfig, precision: str) -> None:
    """Keep this training's steady pace for the next estimate (nothing when no epoch ended)."""
    if not pace.epoch_seconds:
        return
    per_pixel = pace.epoch_cost() / config.steps / (config.batch_size * config.patch_size ** 2)
    record = {"seconds_per_patch_pixel": per_pixel, "precision": precision, "unet_n_first": config.unet_n_first,
              "patch_size": config.patch_size, "batch_size": config.batch_size, "recorded": time.time()}
    try:
        pace_file().parent.mkdir(parents=True, exist_ok=True)
        write_text(pace_file(), json.dumps(record))
    except OSError as exc:  # a cache: training has succeeded all the same
        log.debug("The pace could not be recorded in %s: %s", pace_file(), exc)


def describe_cost(config: TrainConfig, now: float | None = None) -> str:
    """``about 13h here; with time limit 30m it ends by 14:35``, at the pace of the last training here."""
    try:
        record = json.loads(pace_file().read_text())
        per_pixel = float(record["seconds_per_patch_pixel"])
    except (OSError, ValueError, KeyError, TypeError):
        return "What this costs here shows after the first epoch (the Log and the status line give the estimate)."
    width = config.unet_n_first / float(record.get("unet_n_first", config.unet_n_first))  # work grows as width squared
    total = config.epochs * config.steps * config.batch_size * config.patch_size ** 2 * per_pixel * width ** 2
    start = time.time() if now is None else now
    limit = parse_duration(config.time_limit) if config.time_limit else None

    def by(seconds: float) -> str:
        return datetime.fromtimestamp(start + seconds).strftime("%H:%M")

    cost = f"Cost: about {format_duration(total)} here, at most"
    if limit is not None and limit < total:
        cost += f"; with time limit {format_duration(limit)} it ends by {by(limit)}"
    else:
        cost += f", ending by {by(total)}"
    return f"{cost} (pace of the last training, {record.get('precision', '?')})."
