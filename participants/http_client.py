"""A lean HTTP/1.1 client for the load harness: keep-alive connections in a bounded pool, one request at a time
each, answers framed by Content-Length or chunked encoding. An aiohttp client request costs ~150-250 us of CPU,
which made the load generator the limit of a measurement; this costs a fraction of it. HttpTransport
(participants/transport.py) uses it for plain http URLs, aiohttp's client for the rest.

The hot path (two exchanges a payment in a load run) is kept short, each step measured:

* a caller that sends the same kind of request again and again (a bank's POST /v1/messages) builds its head
  once (:meth:`Http11Pool.head`) and sends `head + length + body` (:meth:`Http11Pool.exchange`);
* no timer per request: each connection carries its deadline and the pool sweeps the busy ones every
  TIMEOUT_SWEEP_S while any is busy (a timed-out request fails at most that much after its deadline);
* the pool's slots are a counter with a queue of waiters, not an asyncio.Semaphore (whose `locked()` walks its
  waiters on every acquire);
* an answer that arrives in one read is framed from that read, without copying it into the buffer first.
"""

from __future__ import annotations

import asyncio
import collections

HTTP_CONNECT_TIMEOUT_S = 3.0
TIMEOUT_SWEEP_S = 0.25  # how often a pool looks for requests past their deadline (while any is in flight)
RESPONSE_HEADER_BYTES_MAX = 64 * 1024
RESPONSE_BODY_BYTES_MAX = 64 * 1024 * 1024

Response = tuple[int, str, bytes, bool]  # status, content type, body, keep-alive


class Http11Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection: one request at a time, response framed by Content-Length or
    chunked encoding (what aiohttp servers send)."""

    __slots__ = ("buf", "closed", "deadline", "loop", "transport", "waiter")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()
        self.buf = bytearray()
        self.waiter: asyncio.Future | None = None
        self.closed = False
        self.deadline = 0.0  # loop time by which the answer to the request in flight must be complete

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.fail(exc or ConnectionResetError("the rail closed the connection"))

    def data_received(self, data: bytes) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            self.buf += data  # nothing asked: kept, and cleared by the next request
            return
        buf = self.buf
        if buf:
            buf += data
            data = buf
        try:
            parsed = parse_response(data)
        except ValueError as exc:
            self.fail(exc)
            return
        if parsed is None:
            if not buf:
                buf += data
            return
        response, used = parsed
        if buf:
            del buf[:used]
        elif used < len(data):
            buf += data[used:]
        self.waiter = None
        waiter.set_result(response)

    def fail(self, exc: BaseException) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self.close()

    def request(self, data: bytes, deadline: float) -> asyncio.Future:
        self.waiter = waiter = self.loop.create_future()
        self.buf.clear()
        self.deadline = deadline
        assert self.transport is not None
        self.transport.write(data)
        return waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


def parse_response(buf: bytes | bytearray) -> tuple[Response, int] | None:
    """((status, content_type, body, keep_alive), bytes used) once a whole response is in buf, else None."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if len(buf) > RESPONSE_HEADER_BYTES_MAX:
            raise ValueError("HTTP response header too large")
        return None
    head = bytes(buf[:end])
    line_end = head.find(b"\r\n")
    first = head if line_end < 0 else head[:line_end]
    parts = first.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise ValueError(f"not an HTTP response: {first[:80].decode('latin-1')!r}")
    status = int(parts[1])
    # The fields, lower-cased to find names (same offsets: ASCII case only); values are read from `head`.
    fields = head[line_end:] if line_end >= 0 else b""
    lowered = fields.lower()
    content_type = _field(fields, lowered, b"\r\ncontent-type:") or ""
    keep_alive = parts[0] != b"HTTP/1.0" and (_field(fields, lowered, b"\r\nconnection:") or "").lower() != "close"
    start = end + 4
    length = _field(fields, lowered, b"\r\ncontent-length:")
    if length is not None:
        if not length.isdigit():
            raise ValueError(f"bad Content-Length: {length[:40]!r}")
        size = int(length)
        if size > RESPONSE_BODY_BYTES_MAX:
            raise ValueError("HTTP response body too large")
        if len(buf) < start + size:
            return None
        return (status, content_type, bytes(buf[start : start + size]), keep_alive), start + size
    if "chunked" in (_field(fields, lowered, b"\r\ntransfer-encoding:") or "").lower():
        return _dechunk(buf, start, status, content_type, keep_alive)
    if status in (204, 304) or 100 <= status < 200:
        return (status, content_type, b"", keep_alive), start
    raise ValueError("HTTP response without Content-Length or chunked encoding")


def _field(fields: bytes, lowered: bytes, name: bytes) -> str | None:
    """The value of the last header `name` (b"\\r\\nname:", lower case) in `fields`, or None."""
    at = lowered.rfind(name)
    if at < 0:
        return None
    at += len(name)
    stop = fields.find(b"\r\n", at)
    return (fields[at:] if stop < 0 else fields[at:stop]).decode("latin-1").strip()


def _dechunk(buf: bytes | bytearray, start: int, status: int, content_type: str,
             keep_alive: bool) -> tuple[Response, int] | None:
    body = bytearray()
    pos = start
    while True:
        line_end = buf.find(b"\r\n", pos)
        if line_end < 0:
            return None
        size = int(bytes(buf[pos:line_end]).split(b";")[0], 16)
        if size == 0:
            trailer_end = buf.find(b"\r\n\r\n", line_end)
            if trailer_end < 0 and buf[line_end : line_end + 4] != b"\r\n\r\n":
                return None
            used = (trailer_end + 4) if trailer_end >= 0 else line_end + 4
            return (status, content_type, bytes(body), keep_alive), used
        if len(buf) < line_end + 2 + size + 2:
            return None
        body += buf[line_end + 2 : line_end + 2 + size]
        if len(body) > RESPONSE_BODY_BYTES_MAX:
            raise ValueError("HTTP response body too large")
        pos = line_end + 2 + size + 2


class Http11Pool:
    """A bounded pool of keep-alive connections to one host: at most `size` requests in flight."""

    def __init__(self, host: str, port: int, size: int):
        self.host = host
        self.port = port
        self.host_header = f"Host: {host}:{port}\r\n"
        self.idle: list[Http11Connection] = []
        self.busy: set[Http11Connection] = set()
        self._free = size  # slots: requests that may start now
        self._waiters: collections.deque[asyncio.Future] = collections.deque()
        self._sweeper: asyncio.TimerHandle | None = None

    def head(self, method: str, path: str, headers: dict[str, str]) -> bytes:
        """A request's head up to its Content-Length value: `exchange(head, body)` sends it with `body`."""
        lines = [f"{method} {path} HTTP/1.1\r\n", self.host_header]
        lines.extend(f"{name}: {value}\r\n" for name, value in headers.items())
        lines.append("Content-Length: ")
        return "".join(lines).encode("latin-1")

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None, timeout_s: float
    ) -> tuple[int, str, bytes]:
        return await self.exchange(self.head(method, path, headers), body or b"", timeout_s)

    async def exchange(self, head: bytes, body: bytes, timeout_s: float) -> tuple[int, str, bytes]:
        """Send `head` (from :meth:`head`) with `body`; (status, content type, body) of the answer."""
        data = b"%b%d\r\n\r\n%b" % (head, len(body), body)
        if self._free > 0 and not self._waiters:
            self._free -= 1
        else:
            await self._wait_for_slot()
        busy = self.busy
        try:
            # A reused connection the server closed while idle fails at once: retry that case on a fresh
            # connection (every call the harness makes is idempotent at the rail: resends answer the same).
            for attempt in range(2):
                conn = None
                while self.idle and conn is None:
                    candidate = self.idle.pop()
                    conn = None if candidate.closed else candidate  # the server closed it while idle
                reused = conn is not None
                if conn is None:
                    conn = await self._connect()
                busy.add(conn)
                if self._sweeper is None:
                    self._sweeper = conn.loop.call_later(TIMEOUT_SWEEP_S, self._sweep)
                try:
                    status, content_type, payload, keep_alive = await conn.request(data, conn.loop.time() + timeout_s)
                except ConnectionError:
                    # Only a reused connection that turned out dead is retried (not timeouts: a stalled
                    # rail must not cost twice the timeout).
                    if reused and attempt == 0:
                        continue
                    raise
                except BaseException:
                    conn.close()
                    raise
                finally:
                    busy.discard(conn)
                if keep_alive and not conn.closed:
                    self.idle.append(conn)
                else:
                    conn.close()
                return status, content_type, payload
            raise ConnectionResetError("the rail closed the connection")
        finally:
            self._release_slot()

    def _sweep(self) -> None:
        """Fail the requests past their deadline; look again later while any request is in flight."""
        self._sweeper = None
        if not self.busy:
            return
        now = next(iter(self.busy)).loop.time()
        for conn in [c for c in self.busy if c.deadline <= now]:
            conn.fail(TimeoutError())
        if self.busy:
            self._sweeper = asyncio.get_running_loop().call_later(TIMEOUT_SWEEP_S, self._sweep)

    async def _wait_for_slot(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release_slot()  # handed a slot as it was cancelled: pass it on
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    def _release_slot(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes to the oldest waiter
                return
        self._free += 1

    async def _connect(self) -> Http11Connection:
        loop = asyncio.get_running_loop()
        _, conn = await asyncio.wait_for(
            loop.create_connection(Http11Connection, self.host, self.port), HTTP_CONNECT_TIMEOUT_S
        )
        return conn

    def close(self) -> None:
        """Close the idle connections. Requests in flight finish (or time out: the sweep goes on while any is)."""
        for conn in self.idle:
            conn.close()
        self.idle.clear()
        if self._sweeper is not None and not self.busy:
            self._sweeper.cancel()
            self._sweeper = None
