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
- head size (URL_BYTES_MAX -> 414, HEAD_BYTES_MAX and HEADER_COUNT_MAX -> 431), slow clients
  (REQUEST_READ_TIMEOUT_S -> 408), idle keep-alive (KEEP_ALIVE_TIMEOUT_S), connections (CONNECTIONS_MAX -> 503).

HTTP/1.1 as RFC 9112 has it: keep-alive and `Connection: close`, HTTP/1.0 (with or without keep-alive),
pipelining with answers in order, `Expect: 100-continue` (100 only once the head is admitted and the declared
length fits), chunked request bodies, Content-Length and Date on every answer, HEAD (no body, same length),
malformed requests -> 400 and close, other versions -> 505, upgrades refused (400), other expectations -> 417.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import deque
from dataclasses import dataclass
from typing import Self

import httptools

from rail.api.http_types import (
    Admit,
    HttpApplication,
    Request,
    RequestHead,
    Response,
    error_response,
    internal_error,
)
from rail.api.http_wire import render

log = logging.getLogger(__name__)

# ---- limits: the defaults of ListenerLimits --------------------------------------------------------------------
URL_BYTES_MAX = 8_190  # the request target; aiohttp's request-line limit
HEAD_BYTES_MAX = 16_384  # the target plus every header name and value
HEADER_COUNT_MAX = 64  # the rail's clients send fewer than ten
PIPELINE_REQUESTS_MAX = 16  # requests queued on one connection, the one being served included
# Bodies buffered for queued requests (the one being read may still reach its own route's limit).
QUEUED_BODY_BYTES_MAX = 1 << 20
# A refused request's announced body up to this is read and dropped, to keep the connection.
DISCARD_BODY_BYTES_MAX = 64 * 1024
CONNECTIONS_MAX = 2_048  # open connections; one more is answered 503 and closed
KEEP_ALIVE_TIMEOUT_S = 75.0  # an idle connection is closed after it (aiohttp's default)
REQUEST_READ_TIMEOUT_S = 15.0  # first byte to last byte of a request (and connect to first request): 408
WRITE_STALL_TIMEOUT_S = 60.0  # answers waiting for a client that does not read (nginx's send_timeout)
LINGER_S = 2.0  # after the last answer of a closing connection, wait this long for the client's close
LINGER_BYTES_MAX = 4 << 20  # bytes read and dropped once a connection stops reading requests
WRITE_BUFFER_HIGH_BYTES = 64 * 1024  # transport write buffer: above it no queued request is started
WRITE_BUFFER_LOW_BYTES = 16 * 1024
SHUTDOWN_GRACE_S = 2.0  # close(): requests in flight get this long to be answered

FEED_SLICE_BYTES = 8 * 1024  # see "read flow control" above
LISTEN_BACKLOG = 1_024
SWEEP_EVERY_S_MAX = 1.0  # timeouts are checked by one sweep over all connections, not a timer per request


@dataclass(frozen=True, slots=True)
class ListenerLimits:
    url_bytes_max: int = URL_BYTES_MAX
    head_bytes_max: int = HEAD_BYTES_MAX
    header_count_max: int = HEADER_COUNT_MAX
    pipeline_requests_max: int = PIPELINE_REQUESTS_MAX
    queued_body_bytes_max: int = QUEUED_BODY_BYTES_MAX
    discard_body_bytes_max: int = DISCARD_BODY_BYTES_MAX
    connections_max: int = CONNECTIONS_MAX
    keep_alive_timeout_s: float = KEEP_ALIVE_TIMEOUT_S
    request_read_timeout_s: float = REQUEST_READ_TIMEOUT_S
    write_stall_timeout_s: float = WRITE_STALL_TIMEOUT_S
    linger_s: float = LINGER_S
    linger_bytes_max: int = LINGER_BYTES_MAX
    write_buffer_high_bytes: int = WRITE_BUFFER_HIGH_BYTES
    write_buffer_low_bytes: int = WRITE_BUFFER_LOW_BYTES

    def sweep_every_s(self) -> float:
        shortest_s = min(
            self.keep_alive_timeout_s, self.request_read_timeout_s, self.write_stall_timeout_s, self.linger_s
        )
        return max(0.01, min(SWEEP_EVERY_S_MAX, shortest_s / 4))


# Hop-by-hop and framing request headers: the transport's business, not handed to the application.
_FRAMING_REQUEST_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "content-length",
        "transfer-encoding",
        "expect",
        "upgrade",
        "te",
        "trailer",
        "proxy-connection",
    }
)
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


# ---- one connection --------------------------------------------------------------------------------------------


class _StopParsing(Exception):
    """Raised from a parser callback: nothing more is parsed on this connection (its state says why)."""


class _Fatal(Exception):
    """Raised from a parser callback: answer the request being read with `response`, then close."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


class _Exchange:
    """One request on a connection, from its complete head until its answer is written."""

    __slots__ = (
        "admit",
        "answer",
        "body",
        "body_bytes",
        "complete",
        "head",
        "head_only",
        "http10",
        "send_continue",
    )

    def __init__(
        self, head: RequestHead | None, http10: bool = False, answer: Response | None = None
    ) -> None:
        self.head = head
        self.http10 = http10
        self.head_only = head is not None and head.method == "HEAD"
        self.admit: Admit | None = None
        self.answer = answer  # set: written when the exchange reaches the front, whatever the body's state
        self.body: list[bytes] = []
        self.body_bytes = 0
        self.complete = answer is not None
        self.send_continue = False


class _Connection(asyncio.Protocol):
    """Parses requests into a queue of exchanges and answers them in order, one handler at a time.

    Reading states: `_reading` (requests are parsed) or not (bytes are dropped: the connection closes once the
    queued answers are written, then lingers). `_unfed` holds read bytes not parsed yet while the queue is
    full; reading is paused meanwhile."""

    __slots__ = (
        "_app",
        "_chunked",
        "_content_length",
        "_discarded_bytes",
        "_eof",
        "_expect",
        "_fields_fed",
        "_head_bytes",
        "_header_count",
        "_headers",
        "_idle_since",
        "_in_fields",
        "_incoming",
        "_limits",
        "_linger_since",
        "_listener",
        "_loop",
        "_lost",
        "_parser",
        "_queue",
        "_queued_body_bytes",
        "_read_paused",
        "_reading",
        "_reading_since",
        "_running",
        "_transport",
        "_unfed",
        "_url",
        "_write_paused_since",
    )

    def __init__(self, listener: Listener) -> None:
        self._listener = listener
        self._app = listener.app
        self._limits = listener.limits
        self._loop = listener.loop
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport = None  # type: ignore[assignment]  # set by connection_made
        self._queue: deque[_Exchange] = deque()
        self._queued_body_bytes = 0
        self._running: asyncio.Task | None = None
        self._unfed: bytes | memoryview | None = None
        self._reading = True
        self._read_paused = False
        self._lost = False
        self._eof = False
        self._discarded_bytes = 0
        now = self._loop.time()
        self._idle_since = now
        self._reading_since: float | None = now  # a new connection has REQUEST_READ_TIMEOUT_S for its request
        self._write_paused_since: float | None = None
        self._linger_since: float | None = None
        self._incoming: _Exchange | None = None  # the exchange whose body is being read
        self._in_fields = False
        self._fields_fed = 0
        self._url = b""
        self._headers: dict[str, str] = {}
        self._head_bytes = 0
        self._header_count = 0
        self._content_length = 0
        self._chunked = False
        self._expect: str | None = None

    # -- asyncio.Protocol --------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        limits = self._limits
        if not self._listener.admit_connection(self):
            self._refuse_connection()
            return
        self._transport.set_write_buffer_limits(limits.write_buffer_high_bytes, limits.write_buffer_low_bytes)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # answers are single writes: no Nagle

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._reading = False
        self._queue.clear()
        self._unfed = None
        self._incoming = None
        self._listener.forget_connection(self)
        # A handler still running finishes (its work may matter to the application); its answer is dropped.

    def data_received(self, data: bytes) -> None:
        if not self._reading:
            self._discarded_bytes += len(data)
            if self._discarded_bytes > self._limits.linger_bytes_max:
                self._transport.abort()
            return
        # The loop may hand over one more read in the tick pause_reading() was called: keep it too.
        self._unfed = data if self._unfed is None else bytes(self._unfed) + data
        self._pump()

    def eof_received(self) -> bool:
        self._eof = True
        if self._linger_since is not None:
            return False  # the client closed after our last answer: close
        self._pump()  # requests already read, held or queued, are still answered
        return True  # half-close: the answers can still be written

    def pause_writing(self) -> None:
        self._write_paused_since = self._loop.time()

    def resume_writing(self) -> None:
        self._write_paused_since = None
        self._pump()

    # -- parser callbacks (httptools) ----------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if not self._reading:
            raise _StopParsing
        self._in_fields = True
        self._fields_fed = 0
        self._url = b""
        self._headers = {}
        self._head_bytes = 0
        self._header_count = 0
        self._content_length = 0
        self._chunked = False
        self._expect = None
        if self._reading_since is None:
            self._reading_since = self._loop.time()

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._head_bytes += len(url)
        if len(self._url) > self._limits.url_bytes_max:
            raise _Fatal(
                error_response(
                    414, "uri_too_long", f"request target above {self._limits.url_bytes_max} bytes"
                )
            )

    def on_header(self, name: bytes, value: bytes) -> None:
        limits = self._limits
        self._head_bytes += len(name) + len(value)
        self._header_count += 1
        if self._head_bytes > limits.head_bytes_max or self._header_count > limits.header_count_max:
            raise _Fatal(_head_too_large(limits))
        if self._incoming is not None:
            return  # a trailer field (after a chunked body): dropped, as RFC 9110 6.5.1 allows
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        if key in _FRAMING_REQUEST_HEADERS:
            if key == "content-length":
                self._content_length = int(text)  # llhttp has checked it: digits, one value
            elif key == "transfer-encoding":
                self._chunked = True  # llhttp refuses a request whose last coding is not chunked
            elif key == "expect":
                self._expect = text.strip().lower()
            return
        headers = self._headers
        prior = headers.get(key)
        headers[key] = text if prior is None else f"{prior}, {text}"

    def on_headers_complete(self) -> None:
        self._in_fields = False
        parser = self._parser
        version = parser.get_http_version()
        if version != "1.1" and version != "1.0":
            raise _Fatal(error_response(505, "http_version_not_supported", "send HTTP/1.1 (or HTTP/1.0)"))
        method = parser.get_method().decode("ascii")
        path, query = self._target()
        head = RequestHead(method, path, query, self._headers)
        exchange = _Exchange(head, version == "1.0")
        self._incoming = exchange
        self._queue.append(exchange)
        if parser.should_upgrade():
            self._refuse(exchange, _UPGRADE_REFUSED, close=True)
        if self._expect is not None and self._expect != "100-continue":
            self._refuse(exchange, _EXPECTATION_FAILED, close=True)
        try:
            decision = self._app.head(head)
        except Exception:  # noqa: BLE001 - the application's bug: a logged 500, never a dead connection
            decision = internal_error(head)
        if type(decision) is not Admit:
            # Refused before its body: read and drop a small announced body to keep the connection; close on
            # any other (a client waiting for 100-continue may send nothing at all).
            close = (
                self._expect is not None
                or self._chunked
                or self._content_length > self._limits.discard_body_bytes_max
            )
            self._refuse(exchange, decision, close=close)
            return
        exchange.admit = decision
        if self._content_length > decision.body_bytes_max:
            self._refuse(exchange, self._too_large(exchange), close=True)
        exchange.send_continue = self._expect is not None

    def on_body(self, body: bytes) -> None:
        self._in_fields = False
        exchange = self._incoming
        if exchange.answer is not None:
            return  # a refused request's body: dropped
        exchange.body_bytes += len(body)
        if exchange.body_bytes > exchange.admit.body_bytes_max:  # a chunked body past the route's limit
            self._queued_body_bytes -= exchange.body_bytes - len(body)
            exchange.body = []
            self._refuse(exchange, self._too_large(exchange), close=True)
        exchange.body.append(body)
        self._queued_body_bytes += len(body)

    def on_chunk_header(self) -> None:
        self._in_fields = True  # the last chunk's header is followed by trailer fields, gathered like a head
        self._fields_fed = 0

    def on_chunk_complete(self) -> None:
        self._in_fields = False

    def on_message_complete(self) -> None:
        exchange = self._incoming
        self._incoming = None
        self._reading_since = None
        exchange.complete = True
        if not self._parser.should_keep_alive():  # Connection: close, or HTTP/1.0 without keep-alive
            self._stop_reading()
            raise _StopParsing

    def _target(self) -> tuple[str, str]:
        url = self._url
        if url[:1] == b"/":
            path, _, query = url.partition(b"?")
        else:  # absolute-form (RFC 9112 3.2.2), which a server must accept
            try:
                parsed = httptools.parse_url(url)
            except httptools.HttpParserInvalidURLError:
                raise _Fatal(error_response(400, "bad_request", "unreadable request target")) from None
            path, query = parsed.path or b"/", parsed.query or b""
        try:
            return path.decode("ascii"), query.decode("ascii")
        except UnicodeDecodeError:
            raise _Fatal(
                error_response(400, "bad_request", "request target not ASCII: percent-encode it")
            ) from None

    def _too_large(self, exchange: _Exchange) -> Response:
        try:
            return self._app.body_too_large(exchange.head, exchange.admit)
        except Exception:  # noqa: BLE001 - as in on_headers_complete
            return internal_error(exchange.head)

    def _refuse(self, exchange: _Exchange, response: Response, *, close: bool) -> None:
        exchange.answer = response
        if close:
            self._stop_reading()
            raise _StopParsing

    # -- reading -------------------------------------------------------------------------------------------------

    def _may_read(self) -> bool:
        queued = len(self._queue)
        return queued <= 1 or (
            queued < self._limits.pipeline_requests_max
            and self._queued_body_bytes < self._limits.queued_body_bytes_max
        )

    def _parse(self) -> None:
        """Feed `_unfed` to the parser, a slice at a time, while the queue has room; keep what is left."""
        data = self._unfed
        self._unfed = None
        size = len(data)
        if size > FEED_SLICE_BYTES and not isinstance(data, memoryview):
            data = memoryview(data)
        offset = 0
        while offset < size and self._reading:
            if offset and not self._may_read():
                self._unfed = data[offset:]
                return
            chunk = data[offset : offset + FEED_SLICE_BYTES] if size > FEED_SLICE_BYTES else data
            offset += len(chunk)
            self._feed(chunk)

    def _feed(self, chunk: bytes | memoryview) -> None:
        try:
            self._parser.feed_data(chunk)
        except httptools.HttpParserUpgrade:
            self._stop_reading()  # refused in on_headers_complete; what follows is not HTTP
        except httptools.HttpParserError as error:
            self._parse_failed(error)
            return
        if self._in_fields:
            # httptools gathers a header's (or trailer's) pieces before on_header sees it: bound them here too
            # (counted per slice, so one slice above the limit on_url/on_header apply exactly).
            self._fields_fed += len(chunk)
            if self._fields_fed > self._limits.head_bytes_max + FEED_SLICE_BYTES:
                self._fail_request(_head_too_large(self._limits))

    def _parse_failed(self, error: httptools.HttpParserError) -> None:
        cause = error.__context__
        if isinstance(cause, _Fatal):
            self._fail_request(cause.response)
        elif isinstance(cause, _StopParsing):
            pass  # the state that raised it says what follows
        elif cause is not None:
            log.error("listener callback failed", exc_info=cause)
            self._fail_request(error_response(500, "internal", "the listener could not read this request"))
        else:
            detail = f"malformed HTTP/1.1 request: {error}"
            self._fail_request(error_response(400, "bad_request", detail))

    def _fail_request(self, response: Response) -> None:
        """Answer the request being read with `response` (after those before it) and read no further."""
        self._stop_reading()
        self._queue.append(_Exchange(None, answer=response))

    def _stop_reading(self) -> None:
        if not self._reading:
            return
        self._reading = False
        self._unfed = None
        self._reading_since = None
        exchange = self._incoming
        self._incoming = None
        if exchange is not None and exchange.answer is None:  # half-read and unanswerable: dropped
            self._queue.remove(exchange)
            self._queued_body_bytes -= exchange.body_bytes

    def _set_read_paused(self, paused: bool) -> None:
        if paused != self._read_paused and not self._lost:
            self._read_paused = paused
            if paused:
                self._transport.pause_reading()
            else:
                self._transport.resume_reading()
                if self._reading_since is not None:  # the client is not to blame for the time we did not read
                    self._reading_since = self._loop.time()

    # -- answering -----------------------------------------------------------------------------------------------

    def _pump(self) -> None:
        """Make all the progress the state allows: parse held bytes into the room the queue has, answer its
        front (which frees room), pause or resume reading."""
        if self._lost:
            return
        while True:
            parsing = self._unfed is not None and self._reading and self._may_read()
            if parsing:
                self._parse()
            self._answer_front()
            if not parsing:
                break
        if self._eof and self._reading and self._unfed is None:  # all the client sent before closing is read
            self._stop_reading()
            self._answer_front()
        if self._reading:
            may_read = self._unfed is None and self._may_read()
            if may_read == self._read_paused:
                self._set_read_paused(not may_read)
        elif self._read_paused:
            self._set_read_paused(False)  # drop what still comes, and see the client's close

    def _answer_front(self) -> None:
        queue = self._queue
        while queue and self._running is None and self._write_paused_since is None:
            exchange = queue[0]
            if exchange.answer is None:
                if not exchange.complete:
                    if exchange.send_continue:
                        exchange.send_continue = False
                        self._transport.write(_CONTINUE)
                    return
                body = exchange.body[0] if len(exchange.body) == 1 else b"".join(exchange.body)
                exchange.body = []
                self._queued_body_bytes -= exchange.body_bytes
                task = self._loop.create_task(
                    self._serve(exchange, Request(exchange.head, body, exchange.admit))
                )
                if not task.done():  # an eager task factory (Python 3.12+) may have answered it already
                    self._running = task
                return
            queue.popleft()
            self._write(exchange)
        if not queue and not self._reading and self._running is None:
            self._linger()

    async def _serve(self, exchange: _Exchange, request: Request) -> None:
        try:
            response = await self._app.handle(request)
        except Exception:  # noqa: BLE001 - as in on_headers_complete
            response = internal_error(request.head)
        exchange.answer = response
        self._running = None
        self._pump()

    def _write(self, exchange: _Exchange) -> None:
        # Keep-alive unless this is the last answer of a connection that reads no more requests.
        keep_alive = self._reading or bool(self._queue)
        http10, head_only = exchange.http10, exchange.head_only
        try:
            data = render(exchange.answer, keep_alive=keep_alive, http10=http10, head_only=head_only)
        except Exception:  # noqa: BLE001 - not a Response, or a header that would break the framing
            response = internal_error(exchange.head)
            data = render(response, keep_alive=keep_alive, http10=http10, head_only=head_only)
        self._transport.write(data)
        self._idle_since = self._loop.time()

    def _refuse_connection(self) -> None:
        self._reading = False
        self._lost = True  # never in the listener's set: nothing else is done on it
        self._transport.write(render(_OVER_CAPACITY, keep_alive=False, http10=False, head_only=False))
        self._linger()
        self._loop.call_later(self._limits.linger_s, _abort_if_open, self._transport)

    def _linger(self) -> None:
        """Half-close after the last answer and drop what the client still sends until it closes: closing with
        unread bytes would reset the connection, and a reset can destroy the answer before it is read."""
        if self._linger_since is not None:
            return
        self._linger_since = self._loop.time()
        transport = self._transport
        if self._eof or not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()
        self._set_read_paused(False)

    # -- the listener's sweep and shutdown -----------------------------------------------------------------------

    def expire(self, now: float) -> None:
        limits = self._limits
        if self._write_paused_since is not None:
            if now - self._write_paused_since > limits.write_stall_timeout_s:
                self._transport.abort()  # it does not read: what is buffered cannot be delivered
        elif self._linger_since is not None:
            if now - self._linger_since > limits.linger_s:
                self._transport.abort()
        elif self._reading_since is not None:
            if (
                now - self._reading_since > limits.request_read_timeout_s
                and self._reading
                and not self._read_paused
            ):
                self._fail_request(error_response(408, "request_timeout", "request not received in time"))
                self._pump()
        elif self._is_idle() and now - self._idle_since > limits.keep_alive_timeout_s:
            self._transport.close()

    def _is_idle(self) -> bool:
        return not self._queue and self._running is None and self._reading_since is None

    def shutdown(self) -> None:
        """Read no more requests; answer those already read; then close."""
        if self._lost:
            return
        if not self._queue and self._running is None:  # nothing to answer (a head half-read is not in flight)
            self._transport.close()
            return
        self._stop_reading()
        self._pump()

    def abort(self) -> None:
        if self._running is not None:
            self._running.cancel()
        self._transport.abort()


def _head_too_large(limits: ListenerLimits) -> Response:
    detail = f"request head above {limits.head_bytes_max} bytes or {limits.header_count_max} headers"
    return error_response(431, "header_fields_too_large", detail)


def _abort_if_open(transport: asyncio.BaseTransport) -> None:
    if not transport.is_closing():
        transport.abort()


_UPGRADE_REFUSED = error_response(
    400, "upgrade_unsupported", "protocol upgrades are not served: use HTTP/1.1"
)
_EXPECTATION_FAILED = error_response(417, "expectation_failed", "only 'Expect: 100-continue' is understood")
_OVER_CAPACITY = error_response(
    503, "over_capacity", "too many open connections: retry shortly", {"Retry-After": "1"}
)


# ---- the listener ----------------------------------------------------------------------------------------------


class Listener:
    """An HTTP/1.1 server for one HttpApplication on the running loop."""

    def __init__(self, app: HttpApplication, limits: ListenerLimits | None = None) -> None:
        self.app = app
        self.limits = limits or ListenerLimits()
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]  # set by start
        self._server: asyncio.Server | None = None
        self._port: int | None = None
        self._connections: set[_Connection] = set()
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
        self._all_closed = asyncio.Event()
        factory = lambda: _Connection(self)
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
    def connection_count(self) -> int:
        return len(self._connections)

    def admit_connection(self, connection: _Connection) -> bool:
        if self._stopping or len(self._connections) >= self.limits.connections_max:
            return False
        self._connections.add(connection)
        return True

    def forget_connection(self, connection: _Connection) -> None:
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
