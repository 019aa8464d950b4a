"""A decode worker: `python -m rail.iso20022.decode_worker FD PARENT_PID`, started by rail/iso20022/decode_pool.py.

It reads frames of participants' message bodies from the socket FD, decodes each exactly as the rail's own
process would (`rail.iso20022.decode`: hardened parse, the official XSD, the tree walk) and writes back one frame
of outcomes per frame read, in order: the message struct (JSON, so every lexical form and time zone survives the
trip) or the admi.002 fields of a refusal. Nothing here keeps state between messages: the worker is a pure
function of the bytes it is given, so the rail can always fall back to decoding a body itself.

It exits when the socket closes (the rail stopped or died), ignores the signals a terminal sends the whole
process group (the rail decides), and dies with the rail (rail/parent.py) on Linux.
"""

from __future__ import annotations

import signal
import socket
import sys

import msgspec

from rail.iso20022 import MessageRejected, decode, warm_up
from rail.iso20022.decode_wire import REQUESTS_DECODER, DecodedWire, Failed, Refused, frame, frames_from
from rail.parent import die_with

_JSON = msgspec.json.Encoder()
_MSGPACK = msgspec.msgpack.Encoder()


def outcome(request_id: int, body: bytes, content_type: str) -> DecodedWire | Refused | Failed:
    """One body's outcome, as the rail's process would have it."""
    try:
        decoded = decode(body, content_type)
    except MessageRejected as exc:
        return Refused(request_id, exc.reason_code, exc.description, exc.error_location, exc.related_ref)
    except Exception as exc:  # noqa: BLE001 - a bug, not the sender's fault: the rail decodes it itself and answers as it would
        return Failed(request_id, f"{type(exc).__name__}: {exc}"[:200])
    header = _JSON.encode(decoded.header) if decoded.header is not None else None
    return DecodedWire(request_id, decoded.msg_type, decoded.rendering, _JSON.encode(decoded.message), header)


def serve(sock: socket.socket) -> None:
    sock.sendall(frame(b""))  # ready: schemas loaded (an empty frame)
    for requests in frames_from(sock):
        answers = [outcome(r.request_id, r.body, r.content_type) for r in REQUESTS_DECODER.decode(requests)]
        sock.sendall(frame(_MSGPACK.encode(answers)))


def main(argv: list[str]) -> int:
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    try:
        if not die_with(int(argv[1])):
            return 0  # the rail died already: nobody to serve
    except OSError:
        pass  # not Linux: the socket's end-of-file still ends this worker
    sock = socket.socket(fileno=int(argv[0]))
    warm_up()
    try:
        serve(sock)
    except (ConnectionError, OSError):
        pass  # the rail is gone
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
