"""One HTTP/1.1 connection of the listener: parses requests with httptools into a queue of exchanges, asks
the application at each head, answers in order, with read and write flow control. What it guarantees, and
why: rail/api/listener.py."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import deque
from typing import Protocol

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
from rail.api.listener_limits import FEED_SLICE_BYTES, ListenerLimits

log = logging.getLogger(__name__)


class ConnectionOwner(Protocol):
    """What a connection needs of its listener."""

    app: HttpApplication
    limits: ListenerLimits
    loop: asyncio.AbstractEventLoop

    def admit_connection(self, connection: HttpConnection) -> bool: ...

    def forget_connection(self, connection: HttpConnection) -> None: ...


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
# The lower-case names of the headers clients send with every request, by their usual spellings: one dict lookup
# instead of a decode and a lower() per header (any other spelling takes that general path).
_HEADER_NAMES = {
    spelling.encode("latin-1"): spelling.lower()
    for name in ("Host", "Authorization", "Content-Type", "Content-Length", "Accept", "Prefer", "User-Agent",
                 "Connection", "Accept-Encoding", "Transfer-Encoding", "Expect")
    for spelling in (name, name.lower())
}  # fmt: skip
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


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


class HttpConnection(asyncio.Protocol):
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
        "_field_bytes_max",
        "_fields_fed",
        "_head_bytes",
        "_head_bytes_max",
        "_header_count",
        "_header_count_max",
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

    def __init__(self, listener: ConnectionOwner) -> None:
        self._listener = listener
        self._app = listener.app
        self._limits = limits = listener.limits
        # The bounds on_header checks for every header, as plain attributes (no lookup through the limits).
        self._head_bytes_max = limits.head_bytes_max
        self._header_count_max = limits.header_count_max
        self._field_bytes_max = limits.field_bytes_max
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
        # Called for every header of every request: kept to the few operations each one needs.
        head_bytes = self._head_bytes + len(name) + len(value)
        self._head_bytes = head_bytes
        self._header_count += 1
        if head_bytes > self._head_bytes_max or self._header_count > self._header_count_max or (
            len(value) > self._field_bytes_max
        ):
            raise _Fatal(_head_too_large(self._limits))
        if self._incoming is not None:
            return  # a trailer field (after a chunked body): dropped, as RFC 9110 6.5.1 allows
        key = _HEADER_NAMES.get(name)
        if key is None:
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
    detail = (
        f"request head above {limits.head_bytes_max} bytes, {limits.header_count_max} headers, or a header value "
        f"above {limits.field_bytes_max} bytes"
    )
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
