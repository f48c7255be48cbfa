"""Running ImageJ macros and the ImageJ window with the N2V commands available.

A macro runs in this process's JVM through ImageJ's own interpreter, with errors reported back
instead of shown in dialogs (no one is there to click them in a batch run). The Log is
streamed to a callback while the macro runs, so an overnight job shows its progress.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ...errors import InputError
from . import dialogs

log = logging.getLogger(__name__)

LOG_POLL_S = 0.5
MACRO_CANCELED = "Macro canceled"
"""What ImageJ throws out of a macro that ends with ``exit`` (ij.Macro.MACRO_CANCELED)."""


@dataclass
class MacroResult:
    """How a macro ended: its return value, whether it stopped on a failure and why, the Log it wrote,
    and whether it went on past failures (a command that failed or a dialog closed while the macro
    carried on to its end, as the folder macro does when it runs each file through ``eval``)."""

    value: str | None
    failed: bool
    error: str | None
    log: str
    went_past_failures: bool = False


class _LogTail:
    """Hands new text of ImageJ's Log to ``emit`` while a macro runs, and once more at the end."""

    def __init__(self, emit: Callable[[str], None] | None):
        from jpype import JClass

        self._ij = JClass("ij.IJ")
        self._emit = emit
        self._seen = len(self._text())
        self._start = self._seen
        self._stop = threading.Event()
        self.collected: list[str] = []
        self._thread = threading.Thread(target=self._poll, name="n2v-log", daemon=True)

    def _text(self) -> str:
        text = self._ij.getLog()
        return "" if text is None else str(text)

    def _take(self) -> None:
        text = self._text()
        if len(text) < self._seen:  # the macro cleared the Log
            self._seen = 0
        new = text[self._seen :]
        self._seen = len(text)
        if new:
            self.collected.append(new)
            if self._emit:
                self._emit(new)

    def _poll(self) -> None:
        while not self._stop.wait(LOG_POLL_S):
            self._take()

    def __enter__(self) -> "_LogTail":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._take()


def run_macro(code: str, argument: str = "", emit: Callable[[str], None] | None = None) -> MacroResult:
    """Run macro ``code`` (its ``getArgument()`` returns ``argument``) in the running ImageJ.

    ImageJ must have been started with ``runtime.start_imagej``. A command that fails (or a
    macro error) ends the macro; the result says so with the one-sentence reason. In a headless
    run a dialog (an error from a built-in such as open, or exit("message")) is closed and logged;
    it is the reason the macro stopped when the macro stopped with it (``exit("message")``), else
    one of the failures the macro went past. A failing command inside ``eval`` ends only the
    evaluated code, so it too is a failure the macro went past when the macro carries on.
    """
    from jpype import JClass, JException

    bridge = JClass("N2V_Bridge")
    interpreter = JClass("ij.macro.Interpreter")()
    interpreter.setIgnoreErrors(True)  # report errors to us instead of in a dialog
    failures, closed = int(bridge.failures()), dialogs.closed()
    value, thrown = None, None
    with _LogTail(emit) as tail:
        try:
            value = interpreter.run(code, argument)
        except JException as exc:  # exit(), a Cancel, or a Java error out of a command
            thrown = str(exc.getMessage()) if exc.getMessage() is not None else str(exc)
            log.debug("The macro ended with %s", exc)
    error = None if interpreter.getErrorMessage() is None else str(interpreter.getErrorMessage())
    failed_since, closed_since = int(bridge.failures()) - failures, dialogs.closed() - closed
    if error is None and thrown is not None and (thrown != MACRO_CANCELED or closed_since):
        error = thrown if thrown != MACRO_CANCELED else (
            f"ImageJ showed the dialog {dialogs.last()}, which no one can answer in a headless run")
    failed = error is not None or (value is not None and str(value) == "[aborted]")
    return MacroResult(None if value is None else str(value), failed, error, "".join(tail.collected),
                       not failed and (failed_since + closed_since) > 0)


def run_macro_file(path: str | Path, argument: str = "", emit: Callable[[str], None] | None = None) -> MacroResult:
    """Run the macro file ``path``; see ``run_macro``."""
    path = Path(path)
    try:
        code = path.read_text()
    except OSError as exc:
        raise InputError(f"The macro {path} cannot be read ({exc.strerror}): check the path.") from None
    return run_macro(code, argument, emit)


def wait_for_gui() -> None:
    """Keep this process (and so the JVM) alive while ImageJ's window is open."""
    from jpype import JClass

    ij = JClass("ij.IJ")
    while ij.getInstance() is not None:
        time.sleep(LOG_POLL_S)
