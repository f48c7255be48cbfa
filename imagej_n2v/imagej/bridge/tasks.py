"""N2V Denoise and N2V Train as ImageJ runs them, without Java: an options string and planes in.

Both ways into ImageJ call these: the handler inside a JVM that Python started
(``bridge.commands``) and the worker process that an ImageJ started the usual way talks to
(``imagej_n2v.imagej.worker``). They differ only in where planes come from and where the Log,
progress bar and loss plot are, which a ``Reporter`` hides.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Protocol

import numpy as np

from ...config.durations import format_duration
from ...data.bands import whole
from ...data.stack import PlaneStack
from ...errors import InputError
from .options import DENOISE, TRAIN, build_options
from .pixels import output_title


def no_image() -> InputError:
    """The sentence for a command run while no image is open."""
    return InputError("No image is open: open a stack first, e.g. with open(path) in a macro.")


class Reporter(Protocol):
    """Where a command's messages go: ImageJ's Log, progress bar, status line and loss plot."""

    def log(self, text: str) -> None: ...

    def progress(self, done: int, total: int, status: str) -> None: ...

    def loss(self, epoch: int, loss: float, val_loss: float) -> None: ...

    def warn(self, text: str) -> None:
        """A quality warning: the Log, and in a menu run a dialog the user can dismiss (never in batch or headless runs)."""

    def reference(self, label: str, value: float) -> None:
        """A held-out loss the loss plot draws as a horizontal line (the best blur's, the noisy input's level)."""


def finished(command: str, warned: bool) -> str:
    """The status line once a command is done: after a quality warning it stays in sight (the Log has it whole)."""
    return f"{command}: done, with a quality WARNING (see the Log)" if warned else f"{command}: done"


@dataclass
class Denoised:
    """The output planes of N2V Denoise (a lazy stream, in ImageJ's order) and what describes them."""

    planes: Iterator[np.ndarray] | None  # None: no image (check=only gave the verdict alone)
    frames: list[int] | None  # 0-based frames of the input in the output; None: all
    title: str
    info: str  # the model and precision, for the image's Info property and the Log


def denoise(stack: PlaneStack, title: str, options: str, report: Reporter) -> Denoised:
    """Start denoising ``stack`` (an image called ``title``) with the options of N2V Denoise."""
    from ...denoising.check import check_image
    from ...denoising.commands import denoise_stack, plan_output
    from ...denoising.inference import load_denoiser, model_loads

    chosen = build_options(DENOISE, options)
    report.progress(0, 1, f"{DENOISE}: loading the model {Path(chosen.model).name}...")
    loads, started = model_loads(), time.monotonic()
    denoiser = load_denoiser(chosen.model, chosen.config.precision)
    if model_loads() > loads:
        report.log(f"{DENOISE}: loaded the model {chosen.model} in {time.monotonic() - started:.1f} s; "
                   f"it stays loaded for the next images")
    if chosen.config.check == "only":
        plan = plan_output(stack, chosen.config)
        check = check_image(denoiser, stack, plan.frames, plan.channels, chosen.config.keep_zero_columns, budget=False)
        _report_check(check, report)
        report.progress(1, 1, f"{DENOISE}: {'WARNING: ' if check.warning else ''}{check.message()}")
        return Denoised(None, None, title, "")
    planes = plan_output(stack, chosen.config).count
    result = denoise_stack(denoiser, stack, chosen.config, _plane_progress(report),
                           on_tile=lambda plane, done, total: report.progress(
                               done, total, f"{DENOISE}: plane {plane}/{planes}, tile {done}/{total}"))
    result_title = output_title(title)
    if result.check is not None:
        _report_check(result.check, report)
    done = f"{DENOISE}: {result_title}: {result.info}"
    return Denoised(_then(map(whole, result.planes), report, done), result.frames, result_title, result.info)


def _report_check(check, report: Reporter) -> None:
    """The quality check's verdict: a warning (the Log, the status line, a dialog in menu runs) or a Log line."""
    if check.warning:
        report.warn(f"{DENOISE}: {check.warning}")
        report.progress(0, 1, f"{DENOISE}: WARNING: {check.verdict.sentence()}")
    else:
        report.log(f"{DENOISE}: {check.message()}")


def cost(options: str) -> str:
    """The Train dialog's cost line for its current values, or what is wrong with them, in one sentence."""
    from ...training.cost import describe_cost

    try:  # the model's name does not change the cost: a dialog whose model field is still empty has one
        return describe_cost(build_options(TRAIN, f"model=[-] {options}", image_channels=None).config)
    except InputError as exc:
        return str(exc)


def _plane_progress(report: Reporter) -> Callable[[int, int], None]:
    """The progress bar plane by plane, and in the status line the estimate of the rest at the pace so far."""
    started = time.monotonic()

    def progress(done: int, total: int) -> None:
        left = ""
        if 0 < done < total:
            left = f", about {format_duration((time.monotonic() - started) / done * (total - done))} left"
        report.progress(done, total, f"{DENOISE}: plane {done}/{total}{left}")

    return progress


class _LogWarnings(logging.Handler):
    """Warnings of the core (pixels clipped to fit 16 bits, metadata not kept) to ImageJ's Log."""

    def __init__(self, report: Reporter):
        super().__init__(logging.WARNING)
        self.report = report

    def emit(self, record: logging.LogRecord) -> None:
        self.report.log(f"{DENOISE}: {record.getMessage()}")


def _then(planes: Iterator[np.ndarray], report: Reporter, text: str) -> Iterator[np.ndarray]:
    """``planes``, with the core's warnings in the Log while they are made, then ``text`` to the Log."""
    package = logging.getLogger("imagej_n2v")
    handler = _LogWarnings(report)
    package.addHandler(handler)
    try:
        yield from planes
    finally:
        package.removeHandler(handler)
    report.log(text)


def train(stack: PlaneStack | None, title: str, options: str, report: Reporter, stop: threading.Event) -> Path:
    """Train a model on ``stack`` (the current image; None when none is open) and the files of the
    ``inputs`` option, with the options of N2V Train; returns the model folder.

    ``stop`` (Esc in ImageJ, or the worker's stdin closing) stops training after the current
    step; the model so far is kept and ``errors.Interrupted`` says where.
    """
    from ...data.tiff_io import find_tiffs, read_image
    from ...training.stopping import describe_remaining
    from ...training.train import train_model

    chosen = build_options(TRAIN, options, stack.channels if stack is not None else 1)
    files = find_tiffs(chosen.inputs)  # the command line's reading and checks
    stacks = ([stack] if stack is not None else []) + [read_image(path).stack for path in files]
    if not stacks:
        raise no_image()

    def on_epoch(epoch: int, epochs: int, logs: dict, seconds: float) -> None:
        loss, val_loss = logs.get("loss", float("nan")), logs.get("val_loss", float("nan"))
        estimate = describe_remaining(logs)
        report.log(f"{TRAIN}: epoch {epoch}/{epochs}  loss {loss:.4f}  val_loss {val_loss:.4f}  ({seconds:.1f} s"
                   f"{'; ' + estimate if estimate else ''})")
        report.progress(epoch, epochs, f"{TRAIN}: epoch {epoch}/{epochs}{', ' + estimate if estimate else ''}")
        report.loss(epoch, loss, val_loss)

    def on_survey(done: int, total: int) -> None:
        report.progress(done, total, f"{TRAIN}: reading plane {done}/{total}")

    def on_stage(text: str) -> None:
        report.log(f"{TRAIN}: {text}")
        report.progress(1, 1, f"{TRAIN}: {text}")

    named = ([f"'{title}'"] if stack is not None else []) + [path.name for path in files]
    report.log(f"{TRAIN}: training {chosen.model} on {', '.join(named)} ({sum(len(s) for s in stacks)} planes); "
               f"press Esc to stop.")
    result = train_model(stacks, chosen.model, chosen.config, overwrite=chosen.overwrite, on_epoch=on_epoch,
                         on_survey=on_survey, resume=chosen.resume, stop=stop, on_stage=on_stage)
    if result.ending:
        report.log(f"{TRAIN}: training ended early because {result.ending.text}; the best epoch, "
                   f"{result.ending.best_epoch}, is kept.")
    report.log(f"{TRAIN}: model written to {result.model_folder}, trained in {result.precision} precision (history.csv, "
               f"loss.png{', ' + result.archive.name if result.archive else ''}).")
    verdict = result.assessment.verdict if result.assessment else None
    if verdict:
        for label, value in result.assessment.reference_losses().items():
            report.reference(label, value)
        if result.assessment.warning:
            report.warn(f"{TRAIN}: {result.assessment.warning}")
        else:
            report.log(f"{TRAIN}: {verdict.sentence()}")
        report.progress(1, 1, f"{TRAIN}: {'WARNING: ' if verdict.warns else ''}{verdict.sentence()}")
    return result.model_folder
