"""``python -m imagej_n2v.imagej.worker`` driven through its pipes by a test client playing ImageJ's part."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from imagej_n2v import __version__
from imagej_n2v.api import denoise
from imagej_n2v.imagej.worker.protocol import (
    PROTOCOL,
    Message,
    encode,
    plane_message,
    read_message,
)

TRAINING = "patch_size=32 patches=40 steps=4 batch_size=4 unet_kernel=3 unet_n_first=8"


class Worker:
    """A worker process and the ImageJ side of the conversation, answering plane reads from an array."""

    def __init__(self, stderr: Path):
        self.stderr = stderr.open("wb")  # a file, not a pipe: TensorFlow's warnings must never block it
        self.process = subprocess.Popen([sys.executable, "-m", "imagej_n2v.imagej.worker"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=self.stderr)
        self.hello = self.receive()

    def send(self, message: Message) -> None:
        self.process.stdin.write(encode(message))
        self.process.stdin.flush()

    def receive(self) -> Message:
        message = read_message(self.process.stdout)
        assert message is not None, "the worker closed its stdout"
        return message

    def execute(self, command: str, stack: np.ndarray, options: str, title: str = "dome.tif", until=None):
        """Run a command on a TZCYX stack; returns (output planes, other messages, final message).

        ``until(message)`` is called on every message and may act on the conversation (cancel, close).
        """
        frames, slices, channels, height, width = stack.shape
        bit_depth = {np.uint8: 8, np.uint16: 16, np.float32: 32}[stack.dtype.type]
        self.send(Message("execute", {"command": command, "options": options, "title": title, "width": width,
                                      "height": height, "channels": channels, "slices": slices, "frames": frames,
                                      "planes": frames * slices * channels, "bit_depth": bit_depth}))
        flat = stack.reshape(-1, height, width)
        planes, others = [], []
        while True:
            message = self.receive()
            if until:
                until(message)
            if message.type == "read":
                self.send(plane_message("plane", flat[message.number("index") - 1], index=message["index"]))
            elif message.type == "plane":
                planes.append(message.plane())
            elif message.type in ("completion", "failure"):
                return planes, others, message
            else:
                others.append(message)

    def close(self) -> int:
        self.process.stdin.close()
        code = self.process.wait(timeout=120)
        self.stderr.close()
        return code


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    started = Worker(tmp_path_factory.mktemp("worker") / "stderr.txt")
    yield started
    started.close()


def _tzcyx(stack) -> np.ndarray:
    return stack.noisy[:, :, np.newaxis]  # TZYX -> TZCYX


def test_hello_names_the_protocol_and_version(worker):
    assert worker.hello.type == "hello"
    assert worker.hello["protocol"] == str(PROTOCOL) and worker.hello["version"] == __version__
    assert worker.hello["python"] == sys.executable


def test_dialog_fields_come_from_the_settings(worker):
    worker.send(Message("fields", {"command": "N2V Denoise"}))
    reply = worker.receive()
    assert reply.type == "fields" and reply["spec"].startswith("path\tmodel\t")


def test_the_train_dialogs_cost_line_follows_its_values(worker):
    worker.send(Message("cost", {"command": "N2V Train", "options": "epochs=2 steps=10 time_limit=30m"}))
    reply = worker.receive()
    assert reply.type == "cost" and reply["text"].startswith(("Cost: about", "What this costs here")), reply.values
    worker.send(Message("cost", {"command": "N2V Train", "options": "epochs=0"}))
    assert "epochs must be at least 1" in worker.receive()["text"]  # said at once, while the dialog is open


def test_an_image_the_command_cannot_take_is_refused_before_its_dialog(worker):
    image = {"title": "colour", "width": "8", "height": "8", "channels": "1", "slices": "1", "frames": "1", "planes": "1"}
    worker.send(Message("fields", {"command": "N2V Train", **image, "bit_depth": "24"}))
    reply = worker.receive()
    assert reply.type == "failure" and "The image 'colour' is 24-bit RGB" in reply["error"]
    worker.send(Message("fields", {"command": "N2V Train", **image, "bit_depth": "16"}))
    assert worker.receive().type == "fields"


@pytest.mark.slow
def test_denoise_gives_the_apis_planes_bit_for_bit(worker, tiny_model, dome_stack):
    planes, others, done = worker.execute("N2V Denoise", _tzcyx(dome_stack), f"model=[{tiny_model}]")
    assert done.type == "completion", done.values
    assert done["title"] == "dome_denoised" and done["frames"] == ""  # all of them
    assert "precision fp32" in done["info"] and done["status"] == "N2V Denoise: done"  # no warning: the plain status
    expected = denoise(dome_stack.noisy, dome_stack.axes, tiny_model)
    assert np.array_equal(np.stack(planes).reshape(expected.shape), expected)
    updates = [m for m in others if m.type == "update"]
    assert updates[-1]["current"] == updates[-1]["maximum"] == str(len(planes))
    # ImageJ's progress bar plane by plane, the estimate of the rest in the status line (issue 27, point 5)
    assert [int(m["current"]) for m in updates if m["current"] != "0"] == list(range(1, len(planes) + 1))
    under_way = [m["message"] for m in updates if 0 < int(m["current"]) < len(planes)]
    assert under_way and all(" left" in text for text in under_way), under_way
    assert any(m.type == "log" and "dome_denoised" in m["message"] for m in others)


@pytest.mark.parametrize("options, sentence", [
    ("model=[/m] colour=red", "The N2V Denoise option 'colour' is unknown"),
    ("model=[/nowhere/model]", "The model /nowhere/model does not exist"),
])
def test_errors_are_one_sentence_and_the_worker_goes_on(worker, dome_stack, options, sentence):
    _, _, failed = worker.execute("N2V Denoise", _tzcyx(dome_stack), options)
    assert failed.type == "failure" and sentence in failed["error"] and "\n" not in failed["error"]
    worker.send(Message("execute", {"command": "N2V Denoise", "options": "model=[/m]"}))
    assert "No image is open" in worker.receive()["error"]


@pytest.mark.slow
def test_cancel_stops_training_after_the_step_and_keeps_the_model(worker, dome_stack, tmp_path):
    model = tmp_path / "cancelled"

    def cancel_after_the_first_epoch(message: Message) -> None:
        if message.type == "loss" and message["epoch"] == "1":
            worker.send(Message("cancel"))

    _, others, done = worker.execute("N2V Train", _tzcyx(dome_stack), f"model=[{model}] epochs=50 {TRAINING}",
                                     until=cancel_after_the_first_epoch)
    assert done.type == "failure" and "--resume" in done["error"], done.values
    kept = json.loads((model / "imagej_n2v.json").read_text())
    assert kept["incomplete"] and 1 <= kept["epochs_done"] < 50
    assert [m["epoch"] for m in others if m.type == "loss"][0] == "1"


@pytest.mark.slow
def test_closed_stdin_ends_training_and_the_worker(dome_stack, tmp_path):
    """ImageJ quit mid-training: the worker keeps the model so far and exits."""
    worker = Worker(tmp_path / "stderr.txt")
    model = tmp_path / "orphan"

    def quit_after_the_first_epoch(message: Message) -> None:
        if message.type == "loss":
            worker.process.stdin.close()
            worker.process.stdout.close()
            raise EOFError

    with pytest.raises(EOFError):
        worker.execute("N2V Train", _tzcyx(dome_stack), f"model=[{model}] epochs=50 {TRAINING}",
                       until=quit_after_the_first_epoch)
    assert worker.process.wait(timeout=120) == 0
    kept = json.loads((model / "imagej_n2v.json").read_text())
    assert kept["incomplete"] and kept["epochs_done"] < 50


@pytest.mark.slow
def test_a_poor_model_is_a_warning_and_the_plot_gets_its_reference_lines(worker, dome_stack, tmp_path):
    """Four steps of training cannot beat a blur: the worker says so as a warning (the Log, a dialog in menu runs)."""
    training = TRAINING.replace("patches=40", "patches=400")
    _, others, done = worker.execute("N2V Train", _tzcyx(dome_stack), f"model=[{tmp_path / 'poor'}] epochs=1 {training}")
    assert done.type == "completion", done.values
    warnings = [m["message"] for m in others if m.type == "warning"]
    assert len(warnings) == 1 and warnings[0].startswith("N2V Train: ") and "What to do: train longer" in warnings[0]
    assert done["status"] == "N2V Train: done, with a quality WARNING (see the Log)"  # the status line keeps it in sight
    references = {m["label"]: float(m["value"]) for m in others if m.type == "reference"}
    assert len(references) == 3 and any(label.startswith("best blur") for label in references)
