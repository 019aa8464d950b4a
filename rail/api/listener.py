"""Our own HTTP/1.1 listener, on public APIs only: one `asyncio.Protocol` per connection on the running loop
(uvloop where installed), llhttp (through httptools, as uvicorn parses) for the protocol, and a limit on
everything a client controls.

    listener = Listener(app)            # app: an HttpApplication (rail/api/http_types.py)
    await listener.start("127.0.0.1", 8080)
    ...
    await listener.close()              # stop accepting, finish what is in flight, close the rest

The listener knows no route and no payment. As soon as a request's headers are complete it asks
`app.head(...)`; the body is read only if the answer is Admit, and only up to that route's limit. So an
unauthenticated or unknown request costs its head, never its body: a small refused body (up to
DISCARD_BODY_BYTES_MAX, length announced) is read and dropped to keep the connection, any other is not read:
the answer goes out with `Connection: close`, then a lingering close (half-close, read and drop until the
client closes, at most LINGER_S and LINGER_BYTES_MAX) so the client sees the answer rather than a reset.

Memory per connection is bounded whatever a client sends or fails to read:
- read flow control: requests queued on a connection (pipelined, the one being served included) stop at
  PIPELINE_REQUESTS_MAX, their buffered bodies at QUEUED_BODY_BYTES_MAX: reading pauses, the rest waits in the
  kernel's socket buffer (and the client's). Data is parsed in FEED_SLICE_BYTES slices so a pause lands
  within one slice: llhttp, once fed, runs to the end of what it was given.
- write flow control: no queued request is started while the transport's write buffer is above
  WRITE_BUFFER_HIGH_BYTES (pause_writing/resume_writing); a client that pipelines and never reads is left
  with at most the queue above and one answer in the buffer, and is cut off after WRITE_STALL_TIMEOUT_S.
- head size (URL_BYTES_MAX -> 414, HEAD_BYTES_MAX, FIELD_BYTES_MAX and HEADER_COUNT_MAX -> 431), slow clients
  (REQUEST_READ_TIMEOUT_S -> 408), idle keep-alive (KEEP_ALIVE_TIMEOUT_S), connections (CONNECTIONS_MAX -> 503).

HTTP/1.1 as RFC 9112 has it: keep-alive and `Connection: close`, HTTP/1.0 (with or without keep-alive),
pipelining with answers in order, `Expect: 100-continue` (100 only once the head is admitted and the declared
length fits), chunked request bodies, Content-Length and Date on every answer, HEAD (no body, same length),
malformed requests -> 400 and close, other versions -> 505, upgrades refused (400), other expectations -> 417.

Parts: this module (the server: accept, sweep timeouts, shut down), http_connection.py (one connection),
http_wire.py (answers as bytes), listener_limits.py (the limits), http_types.py (the seam).
"""

from __future__ import annotations

import asyncio
import socket
from typing import Self

from rail.api.http_connection import HttpConnection
from rail.api.http_types import HttpApplication
from rail.api.listener_limits import (
    CONNECTIONS_MAX,
    DISCARD_BODY_BYTES_MAX,
    FEED_SLICE_BYTES,
    FIELD_BYTES_MAX,
    HEAD_BYTES_MAX,
    HEADER_COUNT_MAX,
    KEEP_ALIVE_TIMEOUT_S,
    LINGER_BYTES_MAX,
    LINGER_S,
    LISTEN_BACKLOG,
    PIPELINE_REQUESTS_MAX,
    QUEUED_BODY_BYTES_MAX,
    REQUEST_READ_TIMEOUT_S,
    SHUTDOWN_GRACE_S,
    URL_BYTES_MAX,
    WRITE_BUFFER_HIGH_BYTES,
    WRITE_BUFFER_LOW_BYTES,
    WRITE_STALL_TIMEOUT_S,
    ListenerLimits,
)

# The limits are part of this module's public face: `from rail.api.listener import Listener, ListenerLimits`.
__all__ = [
    "CONNECTIONS_MAX",
    "DISCARD_BODY_BYTES_MAX",
    "FEED_SLICE_BYTES",
    "FIELD_BYTES_MAX",
    "HEADER_COUNT_MAX",
    "HEAD_BYTES_MAX",
    "KEEP_ALIVE_TIMEOUT_S",
    "LINGER_BYTES_MAX",
    "LINGER_S",
    "LISTEN_BACKLOG",
    "PIPELINE_REQUESTS_MAX",
    "QUEUED_BODY_BYTES_MAX",
    "REQUEST_READ_TIMEOUT_S",
    "SHUTDOWN_GRACE_S",
    "URL_BYTES_MAX",
    "WRITE_BUFFER_HIGH_BYTES",
    "WRITE_BUFFER_LOW_BYTES",
    "WRITE_STALL_TIMEOUT_S",
    "Listener",
    "ListenerLimits",
]


class Listener:
    """An HTTP/1.1 server for one HttpApplication on the running loop."""

    def __init__(self, app: HttpApplication, limits: ListenerLimits | None = None) -> None:
        self.app = app
        self.limits = limits or ListenerLimits()
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]  # set by start
        self._server: asyncio.Server | None = None
        self.host: str | None = None
        self._port: int | None = None
        self._connections: set[HttpConnection] = set()
        self._sweeper: asyncio.TimerHandle | None = None
        self._stopping = False
        self._all_closed: asyncio.Event | None = None

    async def start(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        reuse_port: bool = False,
        sock: socket.socket | None = None,
    ) -> None:
        """Listen on host:port (port 0: one the OS picks, see `port`), or on an already bound `sock`.
        `reuse_port`: several processes share the port (the edge workers, SO_REUSEPORT)."""
        self.loop = asyncio.get_running_loop()
        self.host = host
        self._all_closed = asyncio.Event()
        factory = lambda: HttpConnection(self)
        if sock is not None:
            self._server = await self.loop.create_server(factory, sock=sock, backlog=LISTEN_BACKLOG)
        else:
            self._server = await self.loop.create_server(
                factory, host, port, reuse_port=reuse_port or None, backlog=LISTEN_BACKLOG
            )
        self._port = self._server.sockets[0].getsockname()[1]
        self._sweeper = self.loop.call_later(self.limits.sweep_every_s(), self._sweep)

    @property
    def port(self) -> int:
        """The port listened on (the OS's pick for port 0)."""
        assert self._port is not None, "start() first"
        return self._port

    @property
    def url(self) -> str:
        """http://HOST:PORT of this listener."""
        return f"http://{self.host}:{self.port}"

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    def admit_connection(self, connection: HttpConnection) -> bool:
        if self._stopping or len(self._connections) >= self.limits.connections_max:
            return False
        self._connections.add(connection)
        return True

    def forget_connection(self, connection: HttpConnection) -> None:
        self._connections.discard(connection)
        if self._stopping and not self._connections:
            self._all_closed.set()

    def _sweep(self) -> None:
        now = self.loop.time()
        for connection in list(self._connections):
            connection.expire(now)
        self._sweeper = self.loop.call_later(self.limits.sweep_every_s(), self._sweep)

    async def close(self, grace_s: float = SHUTDOWN_GRACE_S) -> None:
        """Stop accepting; close idle connections now; give requests in flight `grace_s` to be answered
        (their answers say `Connection: close`); then cut what is left."""
        if self._server is None or self._stopping:
            return
        self._stopping = True
        self._server.close()
        for connection in list(self._connections):
            connection.shutdown()
        if self._connections:
            self._all_closed.clear()
            try:
                await asyncio.wait_for(self._all_closed.wait(), grace_s)
            except TimeoutError:
                for connection in list(self._connections):
                    connection.abort()
        if self._sweeper is not None:
            self._sweeper.cancel()
        await self._server.wait_closed()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
