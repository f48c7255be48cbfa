"""The N2V commands' Python side: the handler that the Java plugins call.

The plugins (``java/src``) only gather the options string and hand it here with the current
image; everything else happens in the core: ``DenoiseConfig``/``TrainConfig`` from the options,
``Denoiser.denoise_planes`` streaming plane by plane straight from ImageJ's planes into a new
image, ``train_model`` writing the model folder as the CLI does. A problem the user can fix
comes back to Java as one sentence, which aborts the macro; the JVM stays usable.
"""

from __future__ import annotations

import logging
import threading
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from ..errors import InputError, Interrupted, N2VError
from .options import DENOISE, TRAIN, build_options, dialog_fields
from .pixels import as_imageplus, image_stack, new_image

log = logging.getLogger(__name__)

_handler: Any = None  # the installed JPype proxy; referenced here so it outlives install_handler


def _ij() -> Any:
    from jpype import JClass

    return JClass("ij.IJ")


def _progress(command: str, what: str) -> Callable[[int, int], None]:
    """A callback that moves ImageJ's progress bar and status line."""
    IJ = _ij()

    def report(done: int, total: int) -> None:
        IJ.showProgress(done, total)
        IJ.showStatus(f"{command}: {what} {done}/{total}")

    return report


def denoise_image(image: Any, options: str) -> Any:
    """Denoise an ``ImagePlus`` with the options of ``N2V Denoise``; returns the new ``ImagePlus``."""
    from ..axes import choose
    from ..inference import load_denoiser

    chosen = build_options(DENOISE, options)
    config = chosen.config
    stack = image_stack(image)
    frames = choose(config.frames, stack.frames, "frame")
    channels = choose(config.channels, stack.channels, "channel")
    denoiser = load_denoiser(chosen.model, config.precision)
    planes = denoiser.denoise_planes(
        stack, frames=frames, channels=channels, bit_depth=config.bit_depth, batch_planes=config.batch_planes,
        keep_zero_columns=config.keep_zero_columns, progress=_progress(DENOISE, "plane"),
    )
    result = new_image(planes, image, None if frames is None else len(frames))
    result.setProperty("Info", denoiser.provenance())  # Image > Show Info; saved with the TIFF
    _ij().log(f"{DENOISE}: {result.getTitle()}: {denoiser.provenance()}")
    return result


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


def train_on_image(image: Any, options: str) -> Path:
    """Train a model on an ``ImagePlus`` with the options of ``N2V Train``; returns the model folder."""
    from ..training import train_model

    IJ = _ij()
    stack = image_stack(image)
    chosen = build_options(TRAIN, options, stack.channels)

    def on_epoch(epoch: int, epochs: int, logs: dict, seconds: float) -> None:
        IJ.log(f"{TRAIN}: epoch {epoch}/{epochs}  loss {logs.get('loss', float('nan')):.4f}  "
               f"val_loss {logs.get('val_loss', float('nan')):.4f}  ({seconds:.1f} s)")
        IJ.showProgress(epoch, epochs)
        IJ.showStatus(f"{TRAIN}: epoch {epoch}/{epochs}")

    IJ.log(f"{TRAIN}: training {chosen.model} on '{image.getTitle()}' ({len(stack)} planes); press Esc to stop.")
    with escape_stops() as stop:
        result = train_model([stack], chosen.model, chosen.config, overwrite=chosen.overwrite,
                             on_epoch=on_epoch, on_survey=_progress(TRAIN, "reading plane"),
                             resume=chosen.resume, stop=stop)
    IJ.log(f"{TRAIN}: model written to {result.model_folder}, trained in {result.precision} precision (history.csv, loss.png"
           f"{', ' + result.archive.name if result.archive else ''}).")
    return result.model_folder


def run_command(command: str, image: Any, options: str, gateway: Any = None) -> None:
    """Run ``command`` on ``image`` (None when no image is open); raises N2VError for user problems."""
    if command not in (DENOISE, TRAIN):
        raise InputError(f"The command '{command}' is unknown: use {DENOISE} or {TRAIN}.")
    if image is None:
        raise InputError("No image is open: open a stack first, e.g. with open(path) in a macro.")
    image = as_imageplus(image, gateway)
    if command == DENOISE:
        result = denoise_image(image, options)
        result.show()  # in batch mode this makes it the current image without a window
    else:
        train_on_image(image, options)
    _ij().showProgress(1.0)
    _ij().showStatus(f"{command}: done")


def install_handler(debug: bool = False, dialogs: bool = True, gateway: Any = None) -> Any:
    """Install the Python handler in the Java bridge class; returns it (keep it referenced)."""
    global _handler
    from jpype import JArray, JClass, JImplements, JOverride, JString

    @JImplements("N2V_Bridge$Handler")
    class Handler:
        @JOverride
        def fields(self, command):
            return JArray(JString)(dialog_fields(str(command)))

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
        bridge.closeDialogs()
    return _handler
