"""Ending training by time or patience: clean, complete models that say what ended them."""

import csv
import json
import time

import numpy as np
import pytest

from imagej_n2v import api
from imagej_n2v.cli import main
from imagej_n2v.config import TrainConfig
from imagej_n2v.config.durations import format_duration, parse_duration
from imagej_n2v.errors import InputError
from imagej_n2v.info import model_lines
from imagej_n2v.models.folder import describe_model
from imagej_n2v.training.resume import is_incomplete
from imagej_n2v.training.stopping import Pace, describe_remaining
from tests.conftest import TINY_TRAINING

ENDLESS = ["--patch-size", "32", "--patches", "40", "--epochs", "100000", "--steps", "2", "--batch-size", "4",
           "--unet-kernel", "3", "--no-export"]
"""Tiny epochs, more than any test waits for: only a time limit or patience ends them. Two steps
per epoch never trigger the first-epoch projection, so a slow machine ends after epoch 1 at worst."""


@pytest.mark.parametrize("text, seconds", [("45s", 45), ("30m", 1800), ("2h", 7200), ("1h30m", 5400),
                                           ("1.5m", 90), (" 2H ", 7200), (90, 90)])
def test_durations_are_read_as_users_write_them(text, seconds):
    assert parse_duration(text) == seconds
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize("options, fragment", [
    ({"time_limit": "soon"}, "time_limit 'soon' is not a duration"),
    ({"time_limit": "30"}, "not a duration"),  # text needs its unit: 30 seconds or minutes?
    ({"time_limit": 30}, None),  # a number (from Python) is seconds
    ({"time_limit": "0s"}, "at least 1s"),
    ({"time_limit": "-5m"}, "not a duration"),
    ({"patience": 0}, "patience must be at least 1, not"),
    ({"patience": -3}, "patience must be at least 1, not"),
    ({"struct_mask": "diagonal"}, "struct_mask 'diagonal' is unknown"),
    ({"struct_mask": "1,1"}, "odd sides"),
    ({"struct_mask": "1,2,1"}, "0 and 1"),
    ({"struct_mask": "0,1,0"}, "hides no pixel beside the centre"),
])
def test_bad_stopping_settings_are_one_sentence(options, fragment):
    if fragment is None:
        TrainConfig(**options)
        return
    with pytest.raises(InputError, match=fragment) as caught:
        TrainConfig(**options)
    assert str(caught.value).count(". ") == 0 and str(caught.value).endswith(".")


def test_bad_time_limit_on_the_command_line_is_exit_2(input_files, tmp_path, capsys):
    code = main(["train", str(input_files.dome), "--name", "m", "--model-dir", str(tmp_path), "--time-limit", "soon"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("imagej-n2v: error: The option time_limit 'soon' is not a duration") and "\n" not in err
    assert not list(tmp_path.iterdir())


def test_the_estimate_is_bounded_by_the_time_limit():
    pace = Pace(time_limit=100.0, started=time.monotonic() - 45.0)  # 45 s into the budget
    pace.epoch_seconds = [30.0, 10.0, 10.0]  # the first epoch traces: the pace is 10 s an epoch
    assert pace.estimate(2)["remaining_s"] == pytest.approx(20.0) and pace.estimate(2)["bound"] == ""
    bounded = pace.estimate(20)
    assert bounded["remaining_s"] == pytest.approx(50.0)  # the 5 whole epochs that still fit
    assert "time limit 1m40s" in describe_remaining(bounded)


def _ending_line(folder) -> str:
    return (folder / "history.csv").read_text().splitlines()[-1]


def _val_losses(folder) -> list[float]:
    with open(folder / "history.csv", newline="") as handle:
        return [float(row["val_loss"]) for row in csv.DictReader(line for line in handle if not line.startswith("#"))]


@pytest.mark.slow
def test_time_limit_ends_training_with_a_complete_model(input_files, tmp_path, capsys):
    code = main(["train", str(input_files.dome), "--name", "timed", "--model-dir", str(tmp_path), *ENDLESS,
                 "--time-limit", "10s"])
    assert code == 0
    folder = tmp_path / "timed"
    meta = json.loads((folder / "imagej_n2v.json").read_text())
    losses = _val_losses(folder)
    assert meta["ended"]["reason"] == "time_limit" and meta["ended"]["epochs_done"] == len(losses) < 100000
    assert meta["ended"]["best_epoch"] == int(np.argmin(losses)) + 1
    assert "incomplete" not in meta and not is_incomplete(folder) and (folder / "weights_best.h5").is_file()
    assert meta["training"]["time_limit"] == "10s"
    assert _ending_line(folder).startswith("# ended: the time limit 10s was reached after epoch")
    capsys.readouterr()
    assert main(["info", str(folder)]) == 0
    assert "because the time limit 10s was reached (time_limit)" in capsys.readouterr().out


@pytest.mark.slow
def test_a_time_limit_shorter_than_one_epoch_says_what_an_epoch_costs(input_files, tmp_path, capsys):
    code = main(["train", str(input_files.dome), "--name", "short", "--model-dir", str(tmp_path), "--patch-size", "32",
                 "--patches", "40", "--epochs", "2", "--steps", "5000", "--batch-size", "4", "--unet-kernel", "3",
                 "--time-limit", "1s"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("imagej-n2v: error: The time limit 1s is too short for one epoch here: one epoch of 5000 steps "
                          "takes about ")
    assert "give a time limit of at least" in err
    assert not list(tmp_path.iterdir())  # nothing half-made is left


@pytest.mark.slow
def test_patience_ends_training_keeps_the_best_epoch_and_reports_the_estimate(dome_stack, tmp_path):
    reports = []
    folder = api.train(dome_stack.noisy, dome_stack.axes, tmp_path / "patient",
                       on_epoch=lambda epoch, epochs, logs, seconds: reports.append(dict(logs)),
                       **{**TINY_TRAINING, "epochs": 500, "steps": 2, "unet_depth": 1, "learning_rate": 0.01,
                          "patience": 2})
    meta = json.loads((folder / "imagej_n2v.json").read_text())
    losses = _val_losses(folder)
    best = int(np.argmin(losses)) + 1
    assert meta["ended"] == {"reason": "patience", "text": "the validation loss did not improve for 2 epochs",
                             "best_epoch": best, "epochs_done": len(losses)}
    assert len(losses) == best + 2 < 500  # two epochs without improvement, then the end
    assert "# ended: the validation loss did not improve for 2 epochs" in _ending_line(folder)
    assert any("ended: after epoch" in line for line in model_lines(describe_model(folder)))
    assert len(reports) == len(losses)
    assert all(r["remaining_s"] >= 0 and r["ends_at"] > 0 for r in reports[:-1])
    assert "remaining_s" not in reports[-1]  # the last epoch has nothing left to estimate


@pytest.mark.parametrize("seed", range(4))
def test_the_patience_benchmark_stops_where_training_would(seed):
    """``make bench-patience`` reads what each --patience would have done off one run's curve; its
    reading must agree with the callback that ends training, on noisy curves with plateaus."""
    import tensorflow as tf

    from benchmarks.quality import with_patience
    from imagej_n2v.training.stopping import training_callbacks

    losses = 1 + np.cumsum(np.random.default_rng(seed).normal(-0.005, 0.02, 80))
    curve = [{"epoch": i + 1, "val_loss": float(v), "wall_s": i, "cpu_s": i} for i, v in enumerate(losses)]
    for patience in (1, 3, 5, 10, 15):
        callbacks, ended = training_callbacks(Pace(None), patience, steps=1, history={})
        early = callbacks[-1]
        model = tf.keras.Sequential([tf.keras.Input((1,)), tf.keras.layers.Dense(1)])
        early.set_model(model)
        early.on_train_begin()
        stopped = None
        for entry in curve:
            early.on_epoch_end(entry["epoch"] - 1, {"val_loss": entry["val_loss"]})
            if model.stop_training:
                stopped = entry["epoch"]
                break
        read = with_patience(curve, patience)
        assert read["stopped_at"] == stopped, (seed, patience)
        assert read["best_epoch"] == early.best_epoch + 1, (seed, patience)
