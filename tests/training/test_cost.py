"""What a training will cost here, from the pace of the last one (issue 27, point 4)."""

from __future__ import annotations

import json
from datetime import datetime

from imagej_n2v.config import TrainConfig
from imagej_n2v.training.cost import describe_cost, pace_file, record_pace
from imagej_n2v.training.stopping import Pace


def test_the_pace_of_a_training_gives_the_cost_of_other_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    pace = Pace(None)
    pace.epoch_seconds = [30.0, 12.0, 12.0]  # the first includes tracing: left out
    record_pace(pace, TrainConfig(epochs=3, steps=10, batch_size=4, patch_size=32), "bf16")
    kept = json.loads(pace_file().read_text())
    assert kept["seconds_per_patch_pixel"] == 12.0 / 10 / (4 * 32 * 32) and kept["precision"] == "bf16"
    noon = datetime(2026, 1, 1, 12, 0).timestamp()
    # n2v's defaults: 100 x 400 steps of 16 patches of 64x64 = 16x the pixels of a step above, 1.2 s each
    default = describe_cost(TrainConfig(), now=noon)
    assert default.startswith("Cost: about 213h20m here, at most, ending by") and default.endswith("(pace of the last training, bf16).")
    assert describe_cost(TrainConfig(unet_n_first=16), now=noon).startswith("Cost: about 53h20m")  # half as wide
    limited = describe_cost(TrainConfig(time_limit="30m"), now=noon)
    assert "with time limit 30m it ends by 12:30" in limited
    short = describe_cost(TrainConfig(epochs=2, steps=10, batch_size=4, patch_size=32), now=noon)
    assert short.startswith("Cost: about 24s here, at most, ending by 12:00")


def test_without_an_earlier_training_the_cost_says_where_it_shows(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert "after the first epoch" in describe_cost(TrainConfig())
    record_pace(Pace(None), TrainConfig(), "fp32")  # no epoch ended: nothing recorded
    assert not pace_file().exists()
