"""The messages between ImageJ (the plugin jar) and the worker process, over the worker's stdin/stdout.

Written so that plain Java 8 (``java/src/N2V_Message.java``) reads and writes it without a JSON
library. Every message, in both directions, is

    4 bytes    the header's length N, big-endian
    N bytes    the header: UTF-8 lines "key=value" joined by "\\n"; the first key is "type"
    B bytes    the payload, where the header has "bytes=B" (pixels of one plane), else nothing

In values a backslash is written "\\\\" and a newline "\\n"; nothing else is escaped. Planes are
raw pixels row by row, little-endian, described by the keys ``dtype`` (uint8, uint16, float32),
``width`` and ``height``.

The message kinds follow Appose's worker protocol (github.com/apposed/appose):

worker -> ImageJ
    hello        first, once: ``protocol``, ``version`` (imagej-n2v), ``python``
    fields       the dialog of ``command``, ``spec`` (see ``bridge.options.dialog_spec``)
    cost         ``text``: what the options of a ``cost`` request will cost here, in words
    read         asks for input plane ``index`` (1-based stack index, as ImageJ counts)
    plane        the next output plane, in ImageJ's order
    update       ``current``/``maximum`` for the progress bar, ``message`` for the status line
    log          ``message`` for ImageJ's Log
    loss         ``epoch``, ``loss``, ``val_loss`` after each training epoch (the loss plot)
    completion   the command finished: ``title``, ``frames`` (the input's frames it holds, 1-based,
                 comma-separated; empty for all) and ``info`` of a denoised image, or ``model``
    failure      the command failed: ``error`` is the one sentence for the user
ImageJ -> worker
    fields       ``command``: which dialog to describe, with the image's description (as in
                 ``execute``) when one is open: an image the command cannot take is refused
                 (``failure``) before the dialog opens
    cost         ``command``, ``options``: the Train dialog's values as they change
    execute      ``command``, ``options`` (the macro options string), the image's ``title``,
                 ``width``, ``height``, ``channels``, ``slices``, ``frames`` and ``bit_depth``
    plane        the answer to ``read``: ``index`` and the pixels
    cancel       stop the running command (Esc): training stops after the current step

The worker stops when its stdin closes (ImageJ quit or was killed).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np

PROTOCOL = 2
"""Raised whenever a message kind or key changes meaning; the jar checks it in ``hello``."""

DTYPES = {"uint8": np.dtype("<u1"), "uint16": np.dtype("<u2"), "float32": np.dtype("<f4")}
_LENGTH = struct.Struct(">I")
MAX_HEADER = 1 << 24  # a header longer than this is a corrupt stream, not a message


class ProtocolError(Exception):
    """The other side wrote something that is not a message (or the stream ended mid-message)."""


@dataclass
class Message:
    """One message: its kind, its header values (strings) and its payload."""

    type: str
    values: dict[str, str] = field(default_factory=dict)
    payload: bytes = b""

    def __getitem__(self, key: str) -> str:
        return self.values[key]

    def get(self, key: str, default: str = "") -> str:
        return self.values.get(key, default)

    def number(self, key: str) -> int:
        return int(self.values[key])

    def plane(self) -> np.ndarray:
        """The payload as a (height, width) array of the header's dtype (native byte order)."""
        dtype = DTYPES[self.values["dtype"]]
        shape = (int(self.values["height"]), int(self.values["width"]))
        return np.frombuffer(self.payload, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="), copy=False)


def plane_message(kind: str, plane: np.ndarray, **values: object) -> Message:
    """A message carrying ``plane`` (uint8, uint16 or float32) as its payload."""
    name = next((n for n, d in DTYPES.items() if d.kind == plane.dtype.kind and d.itemsize == plane.dtype.itemsize), None)
    if name is None:
        raise ValueError(f"planes of type {plane.dtype} cannot be sent")
    data = np.ascontiguousarray(plane, dtype=DTYPES[name]).tobytes()
    height, width = plane.shape
    return Message(kind, {**{k: str(v) for k, v in values.items()}, "dtype": name, "width": str(width),
                          "height": str(height)}, data)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _unescape(text: str) -> str:
    out, chars = [], iter(text)
    for char in chars:
        if char == "\\":
            following = next(chars, "")
            out.append("\n" if following == "n" else following)
        else:
            out.append(char)
    return "".join(out)


def encode(message: Message) -> bytes:
    """The bytes of ``message`` on the wire."""
    values = {k: v for k, v in message.values.items() if k not in ("type", "bytes")}
    lines = [f"type={message.type}", *(f"{k}={_escape(str(v))}" for k, v in values.items())]
    if message.payload:
        lines.append(f"bytes={len(message.payload)}")
    header = "\n".join(lines).encode("utf-8")
    return _LENGTH.pack(len(header)) + header + message.payload


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = stream.read(left)
        if not chunk:
            if left == size:
                return None
            raise ProtocolError(f"the stream ended {left} bytes before the end of a message")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_message(stream: BinaryIO) -> Message | None:
    """The next message from ``stream``, or None when it ended cleanly between messages."""
    prefix = _read_exactly(stream, _LENGTH.size)
    if prefix is None:
        return None
    (length,) = _LENGTH.unpack(prefix)
    if length > MAX_HEADER:
        raise ProtocolError(f"a message header of {length} bytes: the stream is not this protocol")
    header = _read_exactly(stream, length)
    if header is None:
        raise ProtocolError("the stream ended inside a message header")
    values: dict[str, str] = {}
    for line in header.decode("utf-8").split("\n"):
        key, sep, value = line.partition("=")
        if not sep:
            raise ProtocolError(f"the header line {line!r} has no '='")
        values[key] = _unescape(value)
    kind = values.pop("type", "")
    size = int(values.pop("bytes", "0"))
    payload = _read_exactly(stream, size) if size else b""
    if size and payload is None:
        raise ProtocolError("the stream ended before a message's payload")
    return Message(kind, values, payload or b"")
