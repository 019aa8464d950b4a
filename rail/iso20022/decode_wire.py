"""The frames between the rail and its decode workers (rail/iso20022/decode_pool.py, decode_worker.py).

A frame is a 4-byte big-endian length and a msgpack array: requests one way, one outcome per request the other,
in the same order. The bodies of a few milliseconds travel as one frame (decode_pool.py's GATHER_S), so a worker
costs a few syscalls and wake-ups a frame, not a few a message.
"""

from __future__ import annotations

import socket
import struct

import msgspec

FRAME_HEADER = struct.Struct(">I")
FRAME_BYTES_MAX = 1 << 30  # a frame holds at most the pool's bytes in flight (decode_pool.py), far below this
_RECV_BYTES = 1 << 18


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


def frame(payload: bytes) -> bytes:
    """`payload` as it travels: its length, then itself."""
    return FRAME_HEADER.pack(len(payload)) + payload


def take_frames(buffer: bytearray) -> list[bytes]:
    """The complete frames' payloads at the start of `buffer`, removed from it (a partial one stays)."""
    frames, offset, size = [], 0, len(buffer)
    while size - offset >= FRAME_HEADER.size:
        (length,) = FRAME_HEADER.unpack_from(buffer, offset)
        if length > FRAME_BYTES_MAX:
            raise ConnectionError(f"decode frame of {length} bytes: the stream is out of step")
        end = offset + FRAME_HEADER.size + length
        if end > size:
            break
        frames.append(bytes(buffer[offset + FRAME_HEADER.size : end]))
        offset = end
    del buffer[:offset]
    return frames


def frames_from(sock: socket.socket):
    """Each frame's payload from a blocking socket until the other side closes it, read in large chunks (a recv
    usually brings a whole frame, or several)."""
    buffer = bytearray()
    while chunk := sock.recv(_RECV_BYTES):
        buffer += chunk
        yield from take_frames(buffer)
