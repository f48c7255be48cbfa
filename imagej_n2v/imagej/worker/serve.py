"""The worker's loop: one request at a time from ImageJ, planes pulled from ImageJ as they are needed.

A reader thread takes every message off stdin at once (so ImageJ's writes never block): plane
answers go to whoever asked, ``cancel`` sets the stop event, requests queue for the main thread,
which runs them one after the other (TensorFlow and numpy stay on the main thread). When stdin
closes, the stop event is set too: training ends after the current step with its model kept,
and the worker exits instead of computing for no one.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
import traceback
from typing import BinaryIO

import numpy as np

from ... import __version__
from ...data.stack import PlaneStack
from ...errors import DependencyError, InputError, Interrupted, N2VError
from ..bridge import tasks
from ..bridge.options import DENOISE, TRAIN, dialog_spec
from ..bridge.pixels import frame_list, plane_dtype
from .protocol import (
    PROTOCOL,
    Message,
    ProtocolError,
    encode,
    plane_message,
    read_message,
)

log = logging.getLogger(__name__)


class Disconnected(Exception):
    """ImageJ closed the connection (it quit or was killed): there is no one left to answer."""


class Connection:
    """The worker's end of the pipes: ``send`` from any thread, incoming messages sorted by a reader thread."""

    def __init__(self, incoming: BinaryIO, outgoing: BinaryIO):
        self._out = outgoing
        self._lock = threading.Lock()
        self.requests: queue.Queue[Message | None] = queue.Queue()
        self._planes: queue.Queue[Message | None] = queue.Queue()
        self.stop = threading.Event()  # Esc in ImageJ, or ImageJ gone
        self.closed = threading.Event()
        self._reader = threading.Thread(target=self._read, args=(incoming,), name="n2v-stdin", daemon=True)
        self._reader.start()

    def send(self, message: Message) -> None:
        data = encode(message)
        with self._lock:
            try:
                self._out.write(data)
                self._out.flush()
            except (BrokenPipeError, ValueError, OSError):
                self._close()
                raise Disconnected from None

    def read_plane(self, index: int) -> Message:
        """Input plane ``index`` (1-based, ImageJ's stack index), asked for and waited on."""
        self.send(Message("read", {"index": str(index)}))
        answer = self._planes.get()
        if answer is None:
            raise Disconnected
        if answer.number("index") != index:
            raise ProtocolError(f"plane {answer['index']} came back for plane {index}")
        return answer

    def _read(self, incoming: BinaryIO) -> None:
        try:
            while (message := read_message(incoming)) is not None:
                if message.type == "plane":
                    self._planes.put(message)
                elif message.type == "cancel":
                    self.stop.set()
                elif message.type == "fields":  # answered here: the main thread may be importing TensorFlow
                    self._answer_fields(message)
                elif message.type == "cost":
                    self.send(Message("cost", {"text": tasks.cost(message.get("options"))}))
                else:
                    self.requests.put(message)
        except (ProtocolError, OSError) as exc:
            log.error("Reading from ImageJ failed: %s", exc)
        except Disconnected:
            pass
        self._close()

    def _answer_fields(self, message: Message) -> None:
        """The dialog of ``message``'s command, or the sentence that refuses its image before the dialog opens."""
        try:
            if "width" in message.values:
                image_dtype(message)
            self.send(Message("fields", {"spec": dialog_spec(message["command"])}))
        except N2VError as exc:
            self.send(Message("failure", {"error": str(exc)}))

    def _close(self) -> None:
        self.closed.set()
        self.stop.set()
        self._planes.put(None)
        self.requests.put(None)


def image_dtype(request: Message) -> np.dtype:
    """The pixel type of the image a request describes; refuses one N2V cannot take (RGB, sizes that disagree)."""
    return plane_dtype(request["title"], request.number("bit_depth"), request.number("channels"),
                       request.number("slices"), request.number("frames"), request.number("planes"))


class RemotePlanes:
    """A TZCYX array-like whose planes stay in ImageJ until the core reads them (one at a time)."""

    def __init__(self, connection: Connection, request: Message):
        channels, slices, frames = (request.number(k) for k in ("channels", "slices", "frames"))
        self.dtype = image_dtype(request)
        self.shape = (frames, slices, channels, request.number("height"), request.number("width"))
        self.ndim = 5
        self._connection = connection

    def __getitem__(self, key: tuple) -> np.ndarray:
        t, z, c = (int(i) for i in key[:3])
        frames, slices, channels = self.shape[:3]
        plane = self._connection.read_plane(1 + c + channels * (z + slices * t)).plane()
        if plane.shape != self.shape[3:] or plane.dtype != self.dtype:
            raise ProtocolError(f"a {plane.dtype} plane of {plane.shape} came for a {self.dtype} image of {self.shape}")
        return plane[key[3:]] if len(key) > 3 else plane


class _Reporter:
    """A command's Log lines, progress and losses, sent to ImageJ as messages.

    Once ImageJ is gone these are dropped rather than raised: a training must reach its next
    step boundary (the stop event is set) to keep the model so far.
    """

    def __init__(self, connection: Connection):
        self._connection = connection
        self.warned = False

    def _send(self, kind: str, **values: object) -> None:
        try:
            self._connection.send(Message(kind, {k: str(v) for k, v in values.items()}))
        except Disconnected:
            pass

    def log(self, text: str) -> None:
        self._send("log", message=text)

    def progress(self, done: int, total: int, status: str) -> None:
        self._send("update", current=done, maximum=total, message=status)

    def loss(self, epoch: int, loss: float, val_loss: float) -> None:
        self._send("loss", epoch=epoch, loss=repr(loss), val_loss=repr(val_loss))

    def warn(self, text: str) -> None:
        self.warned = True
        self._send("warning", message=text)

    def reference(self, label: str, value: float) -> None:
        self._send("reference", label=label, value=repr(value))


def execute(connection: Connection, request: Message) -> Message:
    """Run one ``execute`` request; returns its ``completion`` message (errors propagate)."""
    command, title, options = request["command"], request.get("title"), request.get("options")
    if command not in (DENOISE, TRAIN):
        raise InputError(f"The command '{command}' is unknown: use {DENOISE} or {TRAIN}.")
    stack = PlaneStack(RemotePlanes(connection, request), "TZCYX") if "width" in request.values else None
    report = _Reporter(connection)
    if command == DENOISE:
        if stack is None:
            raise tasks.no_image()
        denoised = tasks.denoise(stack, title, options, report)
        if denoised.planes is None:  # check=only: the verdict went to the Log; no image
            return Message("completion", {"status": tasks.finished(command, report.warned)})
        for plane in denoised.planes:
            if connection.stop.is_set():
                raise Interrupted(f"{DENOISE} stopped at your request: no image was made.")
            connection.send(plane_message("plane", plane))
        return Message("completion", {"title": denoised.title, "frames": frame_list(denoised.frames), "info": denoised.info,
                                      "status": tasks.finished(command, report.warned)})
    folder = tasks.train(stack, title, options, report, connection.stop)
    return Message("completion", {"model": str(folder), "status": tasks.finished(command, report.warned)})


def _answer(connection: Connection, request: Message) -> None:
    if not connection.closed.is_set():
        connection.stop.clear()  # a cancel that came after the last command ended is not for this one
    try:
        reply = execute(connection, request)
    except Disconnected:
        return
    except (N2VError, Interrupted) as exc:
        reply = Message("failure", {"error": str(exc)})
    except Exception as exc:  # a bug: the traceback to stderr and the Log, one line to the macro
        trace = traceback.format_exc()
        print(trace, file=sys.stderr)
        reply = Message("failure", {"error": f"unexpected {type(exc).__name__}: {exc}", "traceback": trace})
    try:
        connection.send(reply)
    except Disconnected:
        pass


def _configure_logging() -> None:
    """This package's messages to stderr (ImageJ shows its last lines if the worker dies)."""
    from ...logs import configure_logging, quiet_tensorflow

    configure_logging(logging.INFO)
    quiet_tensorflow()


def serve(incoming: BinaryIO, outgoing: BinaryIO) -> int:
    """Say hello, then answer requests until stdin closes; returns the exit status.

    A Python without the tested TensorFlow/n2v stack answers with a ``failure`` instead of
    ``hello``: its sentence names the pip command that fixes it.
    """
    from ...versions import check_environment

    _configure_logging()
    connection = Connection(incoming, outgoing)
    try:
        check_environment()
    except DependencyError as exc:
        connection.send(Message("failure", {"error": str(exc)}))
        return 1
    try:
        connection.send(Message("hello", {"protocol": str(PROTOCOL), "version": __version__, "python": sys.executable}))
    except Disconnected:
        return 0
    import tensorflow  # noqa: F401  # on the main thread, while ImageJ shows the dialog

    while (request := connection.requests.get()) is not None:
        _answer(connection, request)
    return 0
