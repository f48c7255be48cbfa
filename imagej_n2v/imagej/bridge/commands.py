"""The N2V commands' Python side: the handler that the Java plugins call.

The plugins (``java/src``) only gather the options string and hand it here with the current
image; everything else happens where the other front doors do it (through ``bridge.tasks``):
``DenoiseConfig``/``TrainConfig`` from the options, ``commands.denoise_stack`` streaming plane by
plane straight from ImageJ's planes into a new image, ``train_model`` writing the model folder as
the CLI does. A problem the user can fix
comes back to Java as one sentence, which aborts the macro; the JVM stays usable.
"""

from __future__ import annotations

import logging
import threading
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from ...errors import InputError, Interrupted, N2VError
from . import tasks
from .options import DENOISE, TRAIN, dialog_spec
from .pixels import as_imageplus, image_stack, new_image

log = logging.getLogger(__name__)

_handler: Any = None  # the installed JPype proxy; referenced here so it outlives install_handler


def _ij() -> Any:
    from jpype import JClass

    return JClass("ij.IJ")


class _ImageJReporter:
    """Messages of a running command to ImageJ's Log, progress bar, status line and loss plot.

    Built on the plugin's thread, where ``Macro.getOptions()`` tells a macro (no plot: its window
    would become the macro's current image) from a menu run.
    """

    def __init__(self, command: str) -> None:
        from jpype import JClass

        self.command = command
        self.IJ = _ij()
        self.warned = False
        self.plot = JClass("N2V_LossPlot")(command) if JClass("ij.Macro").getOptions() is None else None

    def log(self, text: str) -> None:
        self.IJ.log(text)

    def progress(self, done: int, total: int, status: str) -> None:
        self.IJ.showProgress(done, total)
        self.IJ.showStatus(status)

    def loss(self, epoch: int, loss: float, val_loss: float) -> None:
        if self.plot is not None:
            self.plot.add(float(epoch), loss, val_loss)

    def warn(self, text: str) -> None:
        from jpype import JClass

        self.warned = True
        self.IJ.log(text)
        if self.plot is not None:  # a menu run (N2V_Bridge shows no dialog in batch or headless runs)
            JClass("N2V_Bridge").warningDialog(self.command, text)

    def reference(self, label: str, value: float) -> None:
        if self.plot is not None:
            self.plot.reference(label, float(value))


def denoise_image(image: Any, options: str, report: _ImageJReporter | None = None) -> Any:
    """Denoise an ``ImagePlus`` with the options of ``N2V Denoise``; returns the new ``ImagePlus`` (None with check=only)."""
    denoised = tasks.denoise(image_stack(image), str(image.getTitle()), options, report or _ImageJReporter(DENOISE))
    if denoised.planes is None:
        return None
    return new_image(denoised.planes, image, denoised.frames, denoised.title, denoised.info)


@contextmanager
def escape_stops(poll_seconds: float = 0.3) -> Iterator[threading.Event]:
    """An event set when the user presses Esc in ImageJ: training then stops after the current step.

    Signals (Ctrl-C, SIGTERM) only reach Python's main thread; inside ImageJ, Esc is the way
    to ask for the same clean stop, so a thread watches ``IJ.escapePressed()``.
    """
    IJ = _ij()
    IJ.resetEscape()
    stop, finished = threading.Event(), threading.Event()

    def watch() -> None:
        while not finished.wait(poll_seconds):
            if IJ.escapePressed():
                stop.set()
                return

    watcher = threading.Thread(target=watch, daemon=True, name="n2v-escape")
    watcher.start()
    try:
        yield stop
    finally:
        finished.set()
        watcher.join()


def train_on_image(image: Any, options: str, report: _ImageJReporter | None = None) -> Path:
    """Train a model on an ``ImagePlus`` (None: only the files of the ``inputs`` option) with the options
    of ``N2V Train``; returns the model folder."""
    with escape_stops() as stop:
        stack, title = (None, "") if image is None else (image_stack(image), str(image.getTitle()))
        return tasks.train(stack, title, options, report or _ImageJReporter(TRAIN), stop)


def run_command(command: str, image: Any, options: str, gateway: Any = None) -> None:
    """Run ``command`` on ``image`` (None when no image is open); raises N2VError for user problems."""
    if command not in (DENOISE, TRAIN):
        raise InputError(f"The command '{command}' is unknown: use {DENOISE} or {TRAIN}.")
    if image is None and command == DENOISE:
        raise tasks.no_image()
    image = None if image is None else as_imageplus(image, gateway)
    report = _ImageJReporter(command)
    if command == DENOISE:
        result = denoise_image(image, options, report)
        if result is not None:
            result.show()  # in batch mode this makes it the current image without a window
    else:
        train_on_image(image, options, report)
    _ij().showProgress(1.0)
    _ij().showStatus(tasks.finished(command, report.warned))


def install_handler(debug: bool = False, dialogs: bool = True, gateway: Any = None) -> Any:
    """Install the Python handler in the Java bridge class; returns it (keep it referenced)."""
    global _handler
    from jpype import JClass, JImplements, JOverride, JString

    @JImplements("N2V_Bridge$Handler")
    class Handler:
        @JOverride
        def fields(self, command):
            return JString(dialog_spec(str(command)))

        @JOverride
        def refusal(self, command, image):
            try:
                if image is not None:
                    image_stack(as_imageplus(image, gateway))
                return None
            except N2VError as exc:
                return JString(str(exc))

        @JOverride
        def cost(self, command, options):
            return JString(tasks.cost(str(options)))

        @JOverride
        def run(self, command, image, options):
            try:
                run_command(str(command), image, str(options), gateway)
                return None
            except Interrupted as exc:  # Esc during training: what was kept is in the sentence
                return JString(str(exc))
            except N2VError as exc:
                if debug:
                    _ij().log(traceback.format_exc())
                return JString(str(exc))
            except Exception as exc:  # a bug: report it in one line, the traceback on request
                log.debug("%s failed", command, exc_info=True)
                if debug:
                    _ij().log(traceback.format_exc())
                return JString(f"unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)")
            finally:
                _ij().showProgress(1.0)

    _handler = Handler()
    bridge = JClass("N2V_Bridge")
    bridge.setHandler(_handler)
    bridge.setDialogs(dialogs)
    if not dialogs:
        from . import dialogs as closer

        closer.install()
    return _handler
