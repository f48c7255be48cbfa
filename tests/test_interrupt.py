"""Interrupted work loses nothing (issue #5): stops, kills and resumes, checked on disk.

In-process tests stop training deterministically (a stop request or a KeyboardInterrupt from
the epoch callback, exactly what Ctrl-C does); subprocess tests send real SIGTERM and SIGKILL
to ``imagej-n2v train`` and ``imagej-n2v denoise`` mid-run and look at what is left.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from .conftest import TINY_TRAINING
from imagej_n2v.cli import main
from imagej_n2v.config import TrainConfig
from imagej_n2v.errors import InputError, Interrupted, OutputError
from imagej_n2v.model import METADATA_FILE, describe_model, info_lines
from imagej_n2v.stack import PlaneStack
from imagej_n2v.tiff_io import write_image
from imagej_n2v.training import train_model

pytestmark = pytest.mark.slow

CLI_TINY = ["--patch-size", "32", "--patches", "40", "--batch-size", "4", "--unet-kernel", "3", "--no-export"]


def fingerprint(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with the hash of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def metadata(folder: Path) -> dict:
    return json.loads((folder / METADATA_FILE).read_text())


def history_rows(folder: Path) -> list[str]:
    return [line for line in (folder / "history.csv").read_text().splitlines()[1:] if not line.startswith("#")]


def visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def stop_at_epoch(epoch: int, action):
    def on_epoch(done: int, epochs: int, logs: dict, seconds: float) -> None:
        if done == epoch:
            action()

    return on_epoch


@pytest.fixture
def dome(dome_stack) -> list[PlaneStack]:
    return [PlaneStack(dome_stack.noisy, dome_stack.axes)]


@pytest.fixture
def dome_file(tmp_path, dome_stack) -> Path:
    return write_image(tmp_path / "dome.tif", dome_stack.noisy, dome_stack.axes)


# --------------------------------------------------------------------------- in-process


def test_stop_request_keeps_the_model_so_far_and_resume_finishes_it(tmp_path, dome, dome_file):
    config = TrainConfig(**{**TINY_TRAINING, "epochs": 6, "steps": 12})
    target = tmp_path / "models" / "dome"
    stop = threading.Event()
    with pytest.raises(Interrupted, match=f"stopped after [23] of 6 epochs.*{target}.*--resume"):
        train_model(dome, target, config, export=False, stop=stop, on_epoch=stop_at_epoch(2, stop.set))
    kept = metadata(target)
    done = kept["epochs_done"]
    assert kept["incomplete"] is True and done in (2, 3)  # the stop lands after the next step
    assert len(history_rows(target)) == done
    assert (target / "history.csv").read_text().splitlines()[-1].startswith("# incomplete: stopped after")
    assert (target / "weights_best.h5").is_file() and (target / "weights_last.h5").is_file()
    assert visible(target.parent) == ["dome"] and not any(target.parent.glob(".dome.partial-*"))
    assert "status: INCOMPLETE" in "\n".join(info_lines(describe_model(target)))
    before = history_rows(target)

    assert main(["--quiet", "train", str(dome_file), "--name", "dome", "--model-dir", str(target.parent), "--resume"]) == 0
    resumed = metadata(target)
    assert "incomplete" not in resumed and resumed["training"]["epochs"] == 6
    rows = history_rows(target)
    assert len(rows) == 6 and rows[:done] == before
    losses = [float(r.split(",")[1]) for r in rows]
    assert losses[done] < losses[0], "the resumed epochs must start from the trained weights, not afresh"
    assert (target / "dome.bioimage.io.zip").is_file()
    assert visible(target.parent) == ["dome"] and not any(target.parent.glob(".dome.*"))


def test_second_ctrl_c_keeps_the_finished_epochs(tmp_path, dome):
    config = TrainConfig(**{**TINY_TRAINING, "epochs": 5, "steps": 2})
    target = tmp_path / "dome"

    def hard_stop() -> None:
        raise KeyboardInterrupt

    with pytest.raises(Interrupted, match="stopped after 2 of 5 epochs"):
        train_model(dome, target, config, export=False, on_epoch=stop_at_epoch(2, hard_stop))
    assert metadata(target)["epochs_done"] == 2 and len(history_rows(target)) == 2
    assert (target / "weights_last.h5").is_file() and not (target / "weights_now.h5").exists()
    describe_model(target)  # usable as it is


def test_interrupt_before_training_leaves_nothing(tmp_path, dome):
    def interrupt(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_model(dome, tmp_path / "dome", TrainConfig(**TINY_TRAINING), on_survey=interrupt)
    assert list(tmp_path.iterdir()) == []


def test_interrupted_overwrite_never_touches_the_complete_model(tmp_path, dome, dome_file, tiny_model):
    target = tmp_path / "tiny"
    shutil.copytree(tiny_model, target)
    original = fingerprint(target)
    stop = threading.Event()
    config = TrainConfig(**{**TINY_TRAINING, "epochs": 4, "steps": 2})
    with pytest.raises(Interrupted, match="tiny.incomplete"):
        train_model(dome, target, config, overwrite=True, stop=stop, on_epoch=stop_at_epoch(1, stop.set))
    assert fingerprint(target) == original
    assert metadata(tmp_path / "tiny.incomplete")["incomplete"] is True

    argv = ["--quiet", "train", str(dome_file), "--name", "tiny", "--model-dir", str(tmp_path), "--resume"]
    assert main(argv) == 2  # a complete model of that name is only replaced with --overwrite
    assert fingerprint(target) == original
    assert main([*argv, "--overwrite", "--no-export"]) == 0
    assert visible(tmp_path) == ["dome.tif", "tiny"] and "incomplete" not in metadata(target)
    assert len(history_rows(target)) == 4


def test_resume_needs_an_interrupted_training(tmp_path, dome):
    with pytest.raises(InputError, match=f"There is no interrupted training of {tmp_path / 'none'} to resume"):
        train_model(dome, tmp_path / "none", TrainConfig(**TINY_TRAINING), resume=True)
    incomplete = tmp_path / "half"
    incomplete.mkdir()
    (incomplete / METADATA_FILE).write_text(json.dumps({"incomplete": True}))
    with pytest.raises(OutputError, match="is an interrupted training: continue it with --resume, or pass --overwrite"):
        train_model(dome, incomplete, TrainConfig(**TINY_TRAINING))


# --------------------------------------------------------------------------- real processes


def start(tmp_path: Path, *argv: str) -> tuple[subprocess.Popen, Path]:
    log = tmp_path / f"run-{time.monotonic_ns()}.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "imagej_n2v.cli", *argv], stdout=subprocess.DEVNULL,
                               stderr=open(log, "w"), env=env)
    return process, log


def wait_for(condition, process: subprocess.Popen, seconds: float = 240) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert process.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline, "the run did not get there in time"
        time.sleep(0.05)


def start_training_over(tmp_path: Path, dome_file: Path, tiny_model: Path) -> tuple[subprocess.Popen, Path, Path, dict]:
    """``train --overwrite`` of a model name that holds a complete model, run until epoch 2 ended.

    The in-process tests above cover a new name; here the old model must survive the signal.
    """
    models = tmp_path / "models"
    shutil.copytree(tiny_model, models / "dome")
    original = fingerprint(models / "dome")
    process, log = start(tmp_path, "train", str(dome_file), "--name", "dome", "--model-dir", str(models),
                         "--epochs", "500", "--steps", "2", "--overwrite", *CLI_TINY)
    wait_for(lambda: "epoch 2/500" in log.read_text(), process)
    return process, log, models, original


def test_sigterm_stops_training_cleanly(tmp_path, dome_file, tiny_model):
    process, log, models, original = start_training_over(tmp_path, dome_file, tiny_model)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 130
    message = log.read_text().strip().splitlines()[-1]
    kept = models / "dome.incomplete"
    assert message.startswith("imagej-n2v: interrupted: Training stopped after") and str(kept) in message
    assert metadata(kept)["incomplete"] is True and (kept / "weights_best.h5").is_file()
    assert visible(models) == ["dome", "dome.incomplete"] and not any(models.glob(".dome.partial-*"))
    assert fingerprint(models / "dome") == original


def test_sigkill_during_training_leaves_the_old_model_alone(tmp_path, dome_file, tiny_model):
    process, log, models, original = start_training_over(tmp_path, dome_file, tiny_model)
    process.kill()
    process.wait(timeout=60)
    assert visible(models) == ["dome"]  # at most a hidden .dome.partial-* staging folder beside it
    assert fingerprint(models / "dome") == original


@pytest.fixture
def long_stack(tmp_path) -> Path:
    """Enough planes that denoising takes seconds even with the tiny model."""
    data = np.random.default_rng(0).integers(1, 1000, (600, 128, 128)).astype(np.uint16)
    return write_image(tmp_path / "long.tif", data, "ZYX")


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=lambda s: s.name)
def test_killed_denoising_leaves_no_truncated_output(tmp_path, long_stack, tiny_model, how):
    """An earlier result being replaced with --overwrite survives too: the rename comes last."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "long_denoised.tif").write_bytes(b"earlier result")
    process, log = start(tmp_path, "denoise", str(long_stack), "--model", str(tiny_model), "--output", str(out),
                         "--overwrite")
    wait_for(lambda: any(out.glob(".long_denoised.tif.*.partial")), process)
    time.sleep(0.3)  # well inside the write
    assert process.poll() is None
    process.send_signal(how)
    code = process.wait(timeout=60)
    left = sorted(p.name for p in out.iterdir() if p.name != "long_denoised.tif")
    assert (out / "long_denoised.tif").read_bytes() == b"earlier result"
    if how == signal.SIGKILL:
        assert code == -signal.SIGKILL and all(name.endswith(".partial") for name in left)
    else:
        assert code == 130 and left == []
        assert log.read_text().strip().splitlines()[-1] == "imagej-n2v: interrupted."
