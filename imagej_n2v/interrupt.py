"""Turning Ctrl-C and SIGTERM into a clean stop instead of a lost night of work.

Python's default reaction to Ctrl-C is a ``KeyboardInterrupt`` wherever the program happens
to be (for instance half-way through writing a weights file), and SIGTERM (``kill``, a batch
scheduler's time limit) ends the process without running any clean-up at all. Long work asks
for a stop at the next safe point instead: ``stop_requests`` turns the first signal into a
request that training honours after the current step; a second signal stops at once.
"""

from __future__ import annotations

import logging
import signal
import threading
from contextlib import contextmanager
from typing import Iterator

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def stop_requests(stop: threading.Event | None = None) -> Iterator[threading.Event]:
    """Yield an event that Ctrl-C or SIGTERM set, and that the caller polls at safe points.

    Another thread (an ImageJ Cancel button) may set ``stop`` too. Signal handlers can only
    be installed from the main thread; elsewhere the event is yielded without them.
    """
    stop = stop or threading.Event()
    if not _in_main_thread():
        yield stop
        return

    def request(signum, frame) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        log.warning("Stopping after the current step (%s); send it again to stop at once.", signal.Signals(signum).name)

    previous = {number: signal.signal(number, request) for number in SIGNALS}
    try:
        yield stop
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """While active, SIGTERM raises ``KeyboardInterrupt`` like Ctrl-C, so ``finally`` blocks run.

    Without this a terminated denoising run would leave its temporary output file behind.
    """
    if not _in_main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
