"""The frames between the rail and its decode workers (rail/iso20022/decode_pool.py, decode_worker.py).

A frame is a 4-byte big-endian length and a msgpack array: requests one way, one outcome per request the other,
in the same order. A whole event-loop tick's bodies travel as one frame, so a worker costs a few syscalls a tick,
not a few a message.
"""

from __future__ import annotations

import socket
import struct

import msgspec

FRAME_HEADER = struct.Struct(">I")
FRAME_BYTES_MAX = 1 << 30  # a frame holds at most the pool's bytes in flight (decode_pool.py), far below this


class Request(msgspec.Struct, array_like=True, frozen=True):
    request_id: int
    content_type: str
    body: bytes


class DecodedWire(msgspec.Struct, tag="ok", array_like=True, frozen=True):
    """A readable message: its struct and header as JSON (lossless: every lexical form, every time zone)."""

    request_id: int
    msg_type: str
    rendering: str
    message: bytes
    header: bytes | None


class Refused(msgspec.Struct, tag="no", array_like=True, frozen=True):
    """An unreadable message: the fields of its admi.002 (rail.iso20022.MessageRejected)."""

    request_id: int
    reason_code: str
    description: str
    error_location: str | None
    related_ref: str | None


class Failed(msgspec.Struct, tag="err", array_like=True, frozen=True):
    """The worker could not decide (a bug): the rail decodes this body itself."""

    request_id: int
    error: str


REQUESTS_DECODER = msgspec.msgpack.Decoder(list[Request])
OUTCOMES_DECODER = msgspec.msgpack.Decoder(list[DecodedWire | Refused | Failed])


def read_frame(sock: socket.socket) -> bytes | None:
    """The next frame's payload (blocking), or None when the other side has closed the socket."""
    header = _read_exactly(sock, FRAME_HEADER.size)
    if header is None:
        return None
    (size,) = FRAME_HEADER.unpack(header)
    if size > FRAME_BYTES_MAX:
        raise ConnectionError(f"decode frame of {size} bytes: the stream is out of step")
    return _read_exactly(sock, size) if size else b""


def _read_exactly(sock: socket.socket, size: int) -> bytes | None:
    buffer = bytearray(size)
    view, got = memoryview(buffer), 0
    while got < size:
        n = sock.recv_into(view[got:])
        if n == 0:
            return None
        got += n
    return bytes(buffer)
