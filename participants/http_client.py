"""A lean HTTP/1.1 client for the load harness: keep-alive connections in a bounded pool, one request at a time
each, answers framed by Content-Length or chunked encoding. An aiohttp client request costs ~150-250 us of CPU,
which made the load generator the limit of a measurement; this costs a fraction of it. HttpTransport
(participants/transport.py) uses it for plain http URLs, aiohttp's client for the rest.
"""

from __future__ import annotations

import asyncio

HTTP_CONNECT_TIMEOUT_S = 3.0


class Http11Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection: one request at a time, response framed by Content-Length or
    chunked encoding (what aiohttp servers send)."""

    __slots__ = ("_timer", "buf", "closed", "transport", "waiter")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future | None = None
        self.closed = False
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(exc or ConnectionResetError("the rail closed the connection"))

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.waiter is not None and not self.waiter.done():
            try:
                parsed = parse_response(self.buf)
            except ValueError as exc:
                self._fail(exc)
                return
            if parsed is not None:
                response, used = parsed
                del self.buf[:used]
                self._settle(response)

    def _settle(self, response: tuple) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(response)

    def _fail(self, exc: BaseException) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self.close()

    def _timed_out(self) -> None:
        self._timer = None
        self._fail(TimeoutError())

    def request(self, data: bytes, timeout_s: float) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        self.waiter = loop.create_future()
        self.buf.clear()
        self._timer = loop.call_later(timeout_s, self._timed_out)
        assert self.transport is not None
        self.transport.write(data)
        return self.waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


RESPONSE_HEADER_BYTES_MAX = 64 * 1024
RESPONSE_BODY_BYTES_MAX = 64 * 1024 * 1024


def parse_response(buf: bytearray) -> tuple[tuple[int, str, bytes, bool], int] | None:
    """((status, content_type, body, keep_alive), bytes used) once a whole response is in buf, else None."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if len(buf) > RESPONSE_HEADER_BYTES_MAX:
            raise ValueError("HTTP response header too large")
        return None
    head = bytes(buf[:end]).decode("latin-1").split("\r\n")
    parts = head[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ValueError(f"not an HTTP response: {head[0][:80]!r}")
    status = int(parts[1])
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    keep_alive = headers.get("connection", "").lower() != "close" and parts[0] != "HTTP/1.0"
    start = end + 4
    if "content-length" in headers:
        length = int(headers["content-length"])
        if length > RESPONSE_BODY_BYTES_MAX:
            raise ValueError("HTTP response body too large")
        if len(buf) < start + length:
            return None
        return (
            status,
            headers.get("content-type", ""),
            bytes(buf[start : start + length]),
            keep_alive,
        ), start + length
    if "chunked" in headers.get("transfer-encoding", "").lower():
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
                return (status, headers.get("content-type", ""), bytes(body), keep_alive), used
            if len(buf) < line_end + 2 + size + 2:
                return None
            body += buf[line_end + 2 : line_end + 2 + size]
            if len(body) > RESPONSE_BODY_BYTES_MAX:
                raise ValueError("HTTP response body too large")
            pos = line_end + 2 + size + 2
    if status in (204, 304) or 100 <= status < 200:
        return (status, headers.get("content-type", ""), b"", keep_alive), start
    raise ValueError("HTTP response without Content-Length or chunked encoding")


class Http11Pool:
    """A bounded pool of keep-alive connections to one host: at most `size` requests in flight."""

    def __init__(self, host: str, port: int, size: int):
        self.host = host
        self.port = port
        self.host_header = f"Host: {host}:{port}\r\n"
        self.idle: list[Http11Connection] = []
        self.slots = asyncio.Semaphore(size)

    async def _connect(self) -> Http11Connection:
        loop = asyncio.get_running_loop()
        _, conn = await asyncio.wait_for(
            loop.create_connection(Http11Connection, self.host, self.port), HTTP_CONNECT_TIMEOUT_S
        )
        return conn

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None, timeout_s: float
    ) -> tuple[int, str, bytes]:
        head = [f"{method} {path} HTTP/1.1\r\n", self.host_header]
        for name, value in headers.items():
            head.append(f"{name}: {value}\r\n")
        head.append(f"Content-Length: {len(body) if body else 0}\r\n\r\n")
        data = "".join(head).encode("latin-1") + (body or b"")
        async with self.slots:
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
                try:
                    status, content_type, payload, keep_alive = await conn.request(data, timeout_s)
                except ConnectionError:
                    # Only a reused connection that turned out dead is retried (not timeouts: a stalled
                    # rail must not cost twice the timeout).
                    if reused and attempt == 0:
                        continue
                    raise
                except BaseException:
                    conn.close()
                    raise
                if keep_alive and not conn.closed:
                    self.idle.append(conn)
                else:
                    conn.close()
                return status, content_type, payload
            raise ConnectionResetError("the rail closed the connection")

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()
