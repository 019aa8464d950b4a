"""HTTP/1.1 answers as bytes: status lines built once, the Date header once a second, Content-Length always.

Shared by every server of the rail that writes HTTP itself (today rail/api/listener.py)."""

from __future__ import annotations

import time
from email.utils import formatdate
from http import HTTPStatus

from rail.api.http_types import ConstantHeaders, Response


def _status_line(status: int) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""  # RFC 9112 4: the reason phrase may be empty
    return f"HTTP/1.1 {status} {phrase}\r\n".encode("latin-1")


_STATUS_LINES = {status: _status_line(status) for status in range(100, 600)}
# Framing is the listener's: an application's own value for these would contradict what is sent.
_FRAMING_RESPONSE_HEADERS = frozenset(
    {"content-length", "transfer-encoding", "connection", "keep-alive", "date"}
)
HEADER_BLOCKS_MAX = 256  # distinct header sets remembered rendered
_header_blocks: dict[tuple[tuple[str, str], ...], bytes] = {}
# ConstantHeaders by identity: (the headers, kept alive so that their id stays theirs; their block).
_constant_blocks: dict[int, tuple[ConstantHeaders, bytes]] = {}
_date_cache: list = [0, b""]  # [second, b"Date: ...\r\n"]: one HTTP date per second


def _date_line() -> bytes:
    now_s = int(time.time())
    if _date_cache[0] != now_s:
        _date_cache[1] = b"Date: " + formatdate(now_s, usegmt=True).encode("ascii") + b"\r\n"
        _date_cache[0] = now_s
    return _date_cache[1]


def _header_block(headers: dict[str, str]) -> bytes:
    """The header lines of an answer. Most answers carry the same few headers (a Content-Type): their block is
    built once and looked up after, in a memo bounded for answers whose values vary (Retry-After...).
    ConstantHeaders (the hot answers share a few) are found by identity, without building the key."""
    if type(headers) is ConstantHeaders:
        known = _constant_blocks.get(id(headers))
        if known is not None:
            return known[1]
        block = _header_block(dict(headers))
        if len(_constant_blocks) < HEADER_BLOCKS_MAX:
            _constant_blocks[id(headers)] = (headers, block)
        return block
    key = tuple(headers.items())
    block = _header_blocks.get(key)
    if block is not None:
        return block
    lines = [f"{name}: {value}\r\n" for name, value in key if name.lower() not in _FRAMING_RESPONSE_HEADERS]
    text = "".join(lines)
    if text.count("\n") != len(lines) or text.count("\r") != len(lines):
        raise ValueError("a response header holds a line break")
    block = text.encode("latin-1")
    if len(_header_blocks) < HEADER_BLOCKS_MAX:
        _header_blocks[key] = block
    return block


def render(response: Response, *, keep_alive: bool, http10: bool, head_only: bool) -> bytes:
    """One answer on the wire. Raises ValueError for a status outside 100-599, a header that would break the
    framing (a line break in a name or value) or one not in latin-1."""
    status = response.status
    status_line = _STATUS_LINES.get(status)
    if status_line is None:
        raise ValueError(f"HTTP status {status!r} is not 100-599")
    parts = [status_line, _header_block(response.headers), _date_line()]
    body = response.body
    bodiless = status < 200 or status == 204 or status == 304  # RFC 9110 6.4.1: these never carry one
    if not bodiless:
        parts.append(b"Content-Length: %d\r\n" % len(body))
    if not keep_alive:
        parts.append(b"Connection: close\r\n")
    elif http10:
        parts.append(b"Connection: keep-alive\r\n")
    parts.append(b"\r\n")
    if not (bodiless or head_only):
        parts.append(body)
    return b"".join(parts)
