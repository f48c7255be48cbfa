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
from pathlib import Path

import numpy as np
import pytest

from imagej_n2v.cli import main
from imagej_n2v.config import TrainConfig
from imagej_n2v.data.stack import PlaneStack
from imagej_n2v.data.tiff_io import read_image, write_image
from imagej_n2v.errors import InputError, Interrupted, OutputError
from imagej_n2v.info import model_lines
from imagej_n2v.models.folder import METADATA_FILE, describe_model
from imagej_n2v.training.train import train_model
from tests.conftest import TINY_TRAINING

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
    assert "status: INCOMPLETE" in "\n".join(model_lines(describe_model(target)))
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


def test_resume_with_other_images_is_refused_and_keeps_the_model(tmp_path, dome, channel_stack):
    config = TrainConfig(**{**TINY_TRAINING, "epochs": 3, "steps": 2})
    target = tmp_path / "dome"
    stop = threading.Event()
    with pytest.raises(Interrupted):
        train_model(dome, target, config, export=False, stop=stop, on_epoch=stop_at_epoch(1, stop.set))
    kept = fingerprint(target)
    others = [PlaneStack(channel_stack.noisy, channel_stack.axes)]
    for images in (others, [*dome, *others]):
        with pytest.raises(InputError, match=f"^The interrupted training {target} was started on other images: "
                                             f"resume it with the same inputs"):
            train_model(images, target, config, export=False, resume=True)
        assert fingerprint(target) == kept and visible(tmp_path) == ["dome"]


def test_resume_needs_an_interrupted_training(tmp_path, dome):
    with pytest.raises(InputError, match=f"There is no interrupted training of {tmp_path / 'none'} to resume"):
        train_model(dome, tmp_path / "none", TrainConfig(**TINY_TRAINING), resume=True)
    incomplete = tmp_path / "half"
    incomplete.mkdir()
    (incomplete / METADATA_FILE).write_text(json.dumps({"incomplete": True}))
    with pytest.raises(OutputError, match="is an interrupted training: continue it with --resume, or pass --overwrite"):
        train_model(dome, incomplete, TrainConfig(**TINY_TRAINING))


# --------------------------------------------------------------------------- real processes


class Run:
    """``imagej-n2v`` in a subprocess; the test waits for the lines it writes to stderr, never for time.

    A thread collects stderr as it comes, so the test learns where the run is (an epoch ended,
    a plane was written) the moment it says so, however fast or slow this machine is.
    """

    def __init__(self, *argv: str):
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen([sys.executable, "-m", "imagej_n2v.cli", *argv], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True, env=env)
        self.lines: list[str] = []
        self._ended = False
        self._news = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stderr:
            with self._news:
                self.lines.append(line.rstrip("\n"))
                self._news.notify_all()
        with self._news:
            self._ended = True
            self._news.notify_all()

    def wait_for(self, text: str, seconds: float = 240) -> None:
        """Block until a stderr line contains ``text``; fail if the run ends or takes too long first."""
        with self._news:
            self._news.wait_for(lambda: self._ended or any(text in line for line in self.lines), timeout=seconds)
            seen = any(text in line for line in self.lines)
        assert seen, f"the run never wrote {text!r}; its stderr ended with {self.lines[-5:]}"

    def finish(self, seconds: float = 120) -> int:
        """The exit status, once the process ended and all of its stderr was read."""
        code = self.process.wait(timeout=seconds)
        self._reader.join(timeout=seconds)
        return code


def start_training_over(tmp_path: Path, dome_file: Path, tiny_model: Path) -> tuple[Run, Path, dict]:
    """``train --overwrite`` of a model name that holds a complete model, run until epoch 2 ended.

    The in-process tests above cover a new name; here the old model must survive the signal.
    500 epochs: the run cannot end on its own before the signal, on any machine.
    """
    models = tmp_path / "models"
    shutil.copytree(tiny_model, models / "dome")
    original = fingerprint(models / "dome")
    run = Run("train", str(dome_file), "--name", "dome", "--model-dir", str(models),
              "--epochs", "500", "--steps", "2", "--overwrite", *CLI_TINY)
    run.wait_for("epoch 2/500")
    return run, models, original


def test_sigterm_stops_training_cleanly(tmp_path, dome_file, tiny_model):
    run, models, original = start_training_over(tmp_path, dome_file, tiny_model)
    run.process.send_signal(signal.SIGTERM)
    assert run.finish() == 130
    message = run.lines[-1]
    kept = models / "dome.incomplete"
    assert message.startswith("imagej-n2v: interrupted: Training stopped after") and str(kept) in message
    assert metadata(kept)["incomplete"] is True and (kept / "weights_best.h5").is_file()
    assert visible(models) == ["dome", "dome.incomplete"] and not any(models.glob(".dome.partial-*"))
    assert fingerprint(models / "dome") == original


def test_sigkill_during_training_leaves_the_old_model_alone(tmp_path, dome_file, tiny_model):
    run, models, original = start_training_over(tmp_path, dome_file, tiny_model)
    run.process.kill()
    assert run.finish() == -signal.SIGKILL
    assert visible(models) == ["dome"]  # at most a hidden .dome.partial-* staging folder beside it
    assert fingerprint(models / "dome") == original


PLANES = 600
"""Planes of ``long_stack``: the signal goes out after the first, so hundreds are still to come."""


@pytest.fixture
def long_stack(tmp_path) -> Path:
    data = np.random.default_rng(0).integers(1, 1000, (PLANES, 128, 128)).astype(np.uint16)
    return write_image(tmp_path / "long.tif", data, "ZYX")


def written_planes(lines: list[str]) -> list[int]:
    """The plane numbers of the ``--debug`` lines "long.tif: plane N of 600 written", in order."""
    return [int(line.split()[2]) for line in lines if line.startswith("long.tif: plane ")]


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=lambda s: s.name)
def test_stopped_denoising_keeps_the_earlier_result_or_writes_the_whole_new_one(tmp_path, long_stack, tiny_model, how):
    """Signalled once the first plane is in the temporary file: never a truncated output.

    The run says where it is (``--debug`` logs each plane written) and when the signal reached
    it, so both outcomes are checked for what they are: stopped before the rename (the earlier
    result untouched, nothing else left, exit 130) or, had the signal come after the last plane,
    the complete new result with exit 0. The exit status must agree with what is on disk.
    """
    out = tmp_path / "out"
    out.mkdir()
    target = out / "long_denoised.tif"
    target.write_bytes(b"earlier result")
    run = Run("--debug", "denoise", str(long_stack), "--model", str(tiny_model), "--output", str(out), "--overwrite")
    run.wait_for(f"long.tif: plane 1 of {PLANES} written")
    run.process.send_signal(how)
    code = run.finish()
    left = sorted(p.name for p in out.iterdir() if p != target)
    if how == signal.SIGKILL:
        if target.read_bytes() == b"earlier result":  # killed before the rename
            assert code == -signal.SIGKILL
            assert all(name.startswith(".long_denoised.tif.") and name.endswith(".partial") for name in left)
        else:  # all planes were done before the kill landed
            assert code in (0, -signal.SIGKILL) and read_image(target).stack.shape == (PLANES, 128, 128)
        return
    received = next(i for i, line in enumerate(run.lines) if line.startswith(f"Stopping after the current step ({how.name})"))
    before, after = written_planes(run.lines[:received]), written_planes(run.lines[received:])
    assert len(after) <= 1, f"the run went on for {len(after)} planes after the stop request"
    assert left == []
    if (after or before)[-1] < PLANES:  # stopped before the rename
        assert code == 130 and target.read_bytes() == b"earlier result"
        assert run.lines[-1].startswith(f"imagej-n2v: interrupted: stopped after {(after or before)[-1]} of {PLANES} planes")
    else:  # the request came with the last plane: the output is complete and the run says so
        assert code == 0 and read_image(target).stack.shape == (PLANES, 128, 128)
        assert "nothing was left to stop" in run.lines[-1]
