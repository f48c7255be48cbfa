"""The worker protocol's framing (no process, no JVM): what the jar's N2V_Message must match."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest

from imagej_n2v.imagej.worker.protocol import (
    Message,
    ProtocolError,
    encode,
    plane_message,
    read_message,
)


def _round_trip(*messages: Message) -> list[Message]:
    stream = io.BytesIO(b"".join(encode(m) for m in messages))
    received = []
    while (message := read_message(stream)) is not None:
        received.append(message)
    return received


def test_headers_keep_any_text_and_the_stream_ends_cleanly():
    text = "line one\nline two \\n is not a newline = still the value\ttab, ünïcode"
    [back] = _round_trip(Message("log", {"message": text, "empty": ""}))
    assert back.type == "log" and back["message"] == text and back["empty"] == "" and back.payload == b""


def test_the_wire_format_is_the_documented_one():
    data = encode(Message("read", {"index": "3"}))
    assert data == struct.pack(">I", len(b"type=read\nindex=3")) + b"type=read\nindex=3"


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_planes_survive_bit_for_bit(dtype):
    plane = (np.random.default_rng(0).random((5, 7)) * 60000).astype(dtype)
    plane[0, 0] = np.iinfo(dtype).max if dtype != np.float32 else -1.5
    [back] = _round_trip(plane_message("plane", plane, index=4))
    assert back["index"] == "4" and back["dtype"] == np.dtype(dtype).name
    assert back.plane().dtype == dtype and np.array_equal(back.plane(), plane)
    assert back.payload == plane.astype(np.dtype(dtype).newbyteorder("<")).tobytes()  # little-endian on the wire


def test_a_stream_cut_inside_a_message_is_an_error():
    data = encode(plane_message("plane", np.zeros((4, 4), np.uint16)))
    with pytest.raises(ProtocolError, match="ended"):
        read_message(io.BytesIO(data[:-3]))
    with pytest.raises(ProtocolError, match="not this protocol"):
        read_message(io.BytesIO(b"Traceback (most recent call last):\n"))
