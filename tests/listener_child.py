"""A tiny application behind rail/api/http_types.HttpApplication, for tests/test_listener.py. Run as a script,
it serves that application with rail/api/listener.py on uvloop in a process of its own (the memory tests read
its /proc/PID/status), with the listener's default limits.

Usage: python tests/listener_child.py     prints "port N", serves until SIGTERM
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from urllib.parse import parse_qs

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rail.api.http_types import Admit, Request, RequestHead, Response, error_response
from rail.api.listener import Listener

TOKEN = "good-token"
ECHO_BODY_BYTES_MAX = 64 * 1024
BIG_BYTES = 64 * 1024
BIG_BODY = bytes(range(256)) * (BIG_BYTES // 256)
# (method, path) -> whether the route wants the token, and its body limit
ROUTES = {
    ("GET", "/hello"): (False, 0),
    ("HEAD", "/hello"): (False, 0),
    ("POST", "/echo"): (True, ECHO_BODY_BYTES_MAX),
    ("GET", "/big"): (True, 0),
    ("GET", "/slow"): (False, 0),
    ("GET", "/gate"): (False, 0),
    ("GET", "/boom"): (False, 0),
    ("GET", "/badheader"): (False, 0),
}
PATHS = {path for _, path in ROUTES}


class TinyApp:
    """GET /hello (public), POST /echo (token; echoes the body and the participant), GET /big (token;
    BIG_BYTES), GET /slow?ms=N, GET /gate (waits for `gate`), GET /boom (raises), GET /badheader (a header
    value with a line break). `heads_seen` counts head() calls; `handled` lists (path, body) when `record`."""

    def __init__(self, record: bool = True) -> None:
        self.heads_seen = 0
        self.record = record
        self.handled: list[tuple[str, bytes]] = []
        self.gate = asyncio.Event()

    def head(self, head: RequestHead) -> Admit | Response:
        self.heads_seen += 1
        route = ROUTES.get((head.method, head.path))
        if route is None:
            if head.path in PATHS:
                allowed = ", ".join(sorted(m for m, p in ROUTES if p == head.path))
                return error_response(405, "method_not_allowed", "see Allow", {"Allow": allowed})
            return error_response(404, "not_found", f"no route {head.path}")
        wants_token, body_bytes_max = route
        participant = None
        if wants_token:
            if head.headers.get("authorization") != f"Bearer {TOKEN}":
                return error_response(
                    401, "unauthenticated", "send the token", {"WWW-Authenticate": "Bearer"}
                )
            participant = "BANKPKKA"
        return Admit(head.path, body_bytes_max, participant)

    async def handle(self, request: Request) -> Response:
        path = request.head.path
        if self.record:
            self.handled.append((path, request.body))
        if path == "/echo":
            return Response(
                200,
                {"Content-Type": "application/octet-stream", "Participant": request.admit.participant},
                request.body,
            )
        if path == "/big":
            return Response(200, {"Content-Type": "application/octet-stream"}, BIG_BODY)
        if path == "/slow":
            await asyncio.sleep(int(parse_qs(request.head.query).get("ms", ["0"])[0]) / 1000)
        elif path == "/gate":
            await self.gate.wait()
        elif path == "/boom":
            raise RuntimeError("a bug in a handler")
        elif path == "/badheader":
            return Response(200, {"X-Bad": "a\r\nInjected: yes"}, b"")
        return Response(200, {"Content-Type": "text/plain; charset=utf-8"}, f"hello {path}".encode())

    def body_too_large(self, head: RequestHead, admit: Admit) -> Response:
        return error_response(413, "too_large", f"body above {admit.body_bytes_max} bytes")


async def _serve() -> None:
    listener = Listener(TinyApp(record=False))
    await listener.start("127.0.0.1", 0)
    print(f"port {listener.port}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await listener.close()


if __name__ == "__main__":
    import uvloop

    uvloop.run(_serve())
