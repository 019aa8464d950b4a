"""One participant interface to the rail, two transports (the httpx pattern, STYLE.md).

A simulated bank (and the harness's admin side) talks to the rail only through these methods, so the
payment code path is the same in-process and over HTTP:

* ``send(body, content_type, wait_s=None) -> (status, content_type, body)``: POST /v1/messages
* ``post(msg_type, message, codec) -> Answer``: the same for a message the bank built as a struct: HTTP sends
  ``codec.encode(message)``; in-process the struct itself goes to the rail (``RailService.dispatch``), so
  the rail neither decodes nor re-validates what the project's own builders made (tests prove those
  messages pass the RAAST profile and the XSDs). A simulated bank's answers take this path: in-process it
  is the sandbox's hot path, one answer per payment.
* ``inbox(wait_s, max_n, ack_upto=None) -> {"messages": [{"seq", "msg_type", "message"}, ...], ...}``:
  GET /v1/inbox (``ack_upto`` acknowledges the previous page in the same request)
* ``ack(upto)``: POST /v1/inbox/ack
* ``payment(uetr) -> dict``: GET /v1/payments/{uetr}
* admin (need the admin token over HTTP): ``add_participant``, ``liquidity``, ``balances``; and
  ``metrics()`` (text or None) and ``healthz()``.

:class:`HttpTransport` speaks the rail's HTTP API with aiohttp (keep-alive, a bounded connection pool), to one
rail or to an active rail and its standbys (several URLs: it switches over by itself, see the class);
:class:`InProcessTransport` calls :class:`rail.api.service.RailService` directly. Failures to reach the rail
raise :class:`RailUnreachable` (the harness counts them as a gap and retries idempotent calls);
answers the rail refuses raise :class:`RailRefused` with the status and the rail's own text.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp
import msgspec
import orjson

from rail.api.service import Accepted

# A bank's concurrent requests: enough for ~2,000 payments/s at ~10 ms a request, bounded so a slow rail
# shows up as queueing in the harness (counted as late sends), not as thousands of sockets.
HTTP_POOL_CONNECTIONS_MAX = 64
BASE_URLS_MAX = 8  # an active rail and its standbys
HTTP_CONNECT_TIMEOUT_S = 3.0
# A request that is not a long poll gets this long; long polls get their wait plus this margin.
HTTP_REQUEST_TIMEOUT_S = 15.0
LONG_POLL_MARGIN_S = 5.0
INBOX_WAIT_S_MAX = 30.0
INBOX_BATCH_MAX = 5_000

XML = "application/xml"
JSON = "application/json"


class TransportError(Exception):
    """Base of what a transport raises; always has a one-line human message."""


class RailUnreachable(TransportError):
    """The rail could not be reached (refused, reset, timed out, DNS): nothing is known about the call."""


class RailRefused(TransportError):
    """The rail answered with an error status to a non-message call (auth, admin, not found)."""

    def __init__(self, status: int, text: str):
        super().__init__(f"rail answered {status}: {text[:300]}")
        self.status = status
        self.text = text


class Answer(Protocol):
    """The rail's answer to a message: HTTP status, content type and body (in-process, rendered when read)."""

    status: int
    content_type: str
    body: bytes


class HttpAnswer(msgspec.Struct, frozen=True, gc=False):
    status: int
    content_type: str
    body: bytes


class _Http11Connection(asyncio.Protocol):
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
                parsed = _parse_response(self.buf)
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


def _parse_response(buf: bytearray) -> tuple[tuple[int, str, bytes, bool], int] | None:
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
        return (status, headers.get("content-type", ""), bytes(buf[start:start + length]), keep_alive), start + length
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
                if trailer_end < 0 and buf[line_end:line_end + 4] != b"\r\n\r\n":
                    return None
                used = (trailer_end + 4) if trailer_end >= 0 else line_end + 4
                return (status, headers.get("content-type", ""), bytes(body), keep_alive), used
            if len(buf) < line_end + 2 + size + 2:
                return None
            body += buf[line_end + 2:line_end + 2 + size]
            if len(body) > RESPONSE_BODY_BYTES_MAX:
                raise ValueError("HTTP response body too large")
            pos = line_end + 2 + size + 2
    if status in (204, 304) or 100 <= status < 200:
        return (status, headers.get("content-type", ""), b"", keep_alive), start
    raise ValueError("HTTP response without Content-Length or chunked encoding")


class _Http11Pool:
    """A bounded pool of keep-alive connections to one host: at most `size` requests in flight."""

    def __init__(self, host: str, port: int, size: int):
        self.host = host
        self.port = port
        self.host_header = f"Host: {host}:{port}\r\n"
        self.idle: list[_Http11Connection] = []
        self.slots = asyncio.Semaphore(size)

    async def _connect(self) -> _Http11Connection:
        loop = asyncio.get_running_loop()
        _, conn = await asyncio.wait_for(
            loop.create_connection(_Http11Connection, self.host, self.port), HTTP_CONNECT_TIMEOUT_S
        )
        return conn

    async def request(self, method: str, path: str, headers: dict[str, str], body: bytes | None,
                      timeout_s: float) -> tuple[int, str, bytes]:
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


def _payment_path(uetr: str) -> str:
    return f"/v1/payments/{uetr}"


def _base_urls(base_url: str | Sequence[str]) -> list[str]:
    """The rail's base URLs, active first then standbys: a list, or one string with commas."""
    urls = base_url.split(",") if isinstance(base_url, str) else list(base_url)
    urls = [url.strip().rstrip("/") for url in urls if url.strip()]
    if not urls:
        raise ValueError("no rail URL given")
    if len(urls) > BASE_URLS_MAX:
        raise ValueError(f"at most {BASE_URLS_MAX} rail URLs (active first, then standbys)")
    return urls


def _lean_target(base_url: str) -> tuple[str, int] | None:
    """(host, port) of a plain-http URL the lean client serves; None: aiohttp (https, or a malformed URL, which
    aiohttp reports as an invalid URL)."""
    split = urlsplit(base_url) if "://" in base_url else None
    if split is None or split.scheme != "http" or not split.hostname:
        return None
    try:
        return split.hostname, split.port or 80
    except ValueError:
        return None


class HttpTransport:
    """The rail's HTTP API as a participant (token) and, when given admin_token, as the operator.

    `base_url` may name several rails, active first then standbys (a list, or one string with commas): when the
    rail in use refuses or resets the connection, or answers 503 while its /healthz says it is not serving (a
    core stopping, or an edge whose core is gone), the call moves to the next URL and the transport stays there.
    Resending is safe: the rail answers a resent message with its original outcome, and every other call is a
    read or idempotent. Each call tries each URL at most once; when none answers it raises RailUnreachable (the
    harness retries later, e.g. while a standby is still taking over)."""

    kind = "http"

    def __init__(
        self,
        base_url: str | Sequence[str],
        token: str | None = None,
        admin_token: str | None = None,
        pool_connections_max: int = HTTP_POOL_CONNECTIONS_MAX,
        session: aiohttp.ClientSession | None = None,
        client: str = "lean",
    ):
        self.base_urls = _base_urls(base_url)
        self._current = 0  # index in base_urls of the rail in use
        self.switches = 0  # times this transport moved to another rail
        self.token = token
        self.admin_token = admin_token
        self._pool_connections_max = pool_connections_max
        self._session = session
        self._own_session = session is None
        self.client = client
        # Plain http goes through the lean keep-alive client (an aiohttp client request costs ~150-250 µs of
        # CPU, which made the load generator the limit of a measurement); https, and client="aiohttp", use aiohttp.
        self._lean_targets = [_lean_target(url) if client == "lean" else None for url in self.base_urls]
        self._lean_pools: dict[int, _Http11Pool] = {}

    @property
    def base_url(self) -> str:
        """The rail in use."""
        return self.base_urls[self._current]

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._pool_connections_max, keepalive_timeout=30.0, enable_cleanup_closed=True
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=HTTP_CONNECT_TIMEOUT_S),
                # The rail's bodies are already bytes; skip aiohttp's auto-decompression and cookie jar work.
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
            )
        return self._session

    def with_token(self, token: str) -> HttpTransport:
        """A transport for another participant sharing nothing but the URLs (own pool, own token); it starts on
        the rail this one uses."""
        urls = self.base_urls[self._current :] + self.base_urls[: self._current]
        return HttpTransport(urls, token, self.admin_token, self._pool_connections_max, client=self.client)

    async def close(self) -> None:
        if self._session is not None and self._own_session:
            await self._session.close()
        self._session = None
        for pool in self._lean_pools.values():
            pool.close()
        self._lean_pools.clear()

    async def _request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout_s: float = HTTP_REQUEST_TIMEOUT_S,
    ) -> tuple[int, str, bytes]:
        """One call to the rail in use, moving on to the next URL when it is down or not serving (see the class
        docstring). With one URL, exactly one attempt."""
        attempts = len(self.base_urls)
        for attempt in range(attempts):
            index = self._current
            last = attempt + 1 == attempts
            try:
                answer = await self._request_to(index, method, path, body, headers, timeout_s)
            except RailUnreachable:
                if last:
                    raise
                self._move_on_from(index)
                continue
            if answer[0] == 503 and not last and not await self._serving(index):
                self._move_on_from(index)
                continue
            return answer
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _move_on_from(self, index: int) -> None:
        # Concurrent calls that failed on the same rail move the transport on once, not once each.
        if self._current == index:
            self._current = (index + 1) % len(self.base_urls)
            self.switches += 1

    async def _serving(self, index: int) -> bool:
        """Whether the rail at base_urls[index] says it is serving (GET /healthz 200); asked only after a 503,
        to tell a core that is not (or no longer) the leader from one that sheds load. Asked afresh each time (a
        cheap request): a remembered "serving" could hide a core that has just begun to stop."""
        try:
            status, _, _ = await self._request_to(index, "GET", "/healthz", None, {}, HTTP_CONNECT_TIMEOUT_S)
        except RailUnreachable:
            return False
        return status == 200

    async def _request_to(
        self,
        index: int,
        method: str,
        path: str,
        body: bytes | None,
        headers: dict[str, str] | None,
        timeout_s: float,
    ) -> tuple[int, str, bytes]:
        base_url = self.base_urls[index]
        lean_target = self._lean_targets[index]
        if lean_target is not None:
            pool = self._lean_pools.get(index)
            if pool is None:
                pool = self._lean_pools[index] = _Http11Pool(*lean_target, self._pool_connections_max)
            try:
                return await pool.request(method, path, headers or {}, body, timeout_s)
            except (TimeoutError, OSError) as exc:
                raise RailUnreachable(f"cannot reach the rail at {base_url}: {_describe(exc)}") from None
            except ValueError as exc:
                raise RailUnreachable(f"bad HTTP answer from {base_url}: {_describe(exc)}") from None
        url = base_url + path
        try:
            async with self._client().request(
                method, url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout_s)
            ) as resp:
                data = await resp.read()
                return resp.status, resp.headers.get("Content-Type", ""), data
        except (TimeoutError, aiohttp.ClientConnectionError, OSError) as exc:
            raise RailUnreachable(f"cannot reach the rail at {base_url}: {_describe(exc)}") from None
        except aiohttp.InvalidURL:
            raise RailUnreachable(f"not a valid rail URL: {base_url}") from None
        except aiohttp.ClientError as exc:
            raise RailUnreachable(f"HTTP error talking to {base_url}: {_describe(exc)}") from None

    def _auth(self, admin: bool = False) -> dict[str, str]:
        token = self.admin_token if admin else self.token
        return {"Authorization": f"Bearer {token}"} if token else {}

    async def _json(self, method: str, path: str, payload: Any = None, *, admin: bool = False,
                    timeout_s: float = HTTP_REQUEST_TIMEOUT_S) -> Any:
        headers = self._auth(admin)
        body = None
        if payload is not None:
            body = orjson.dumps(payload)
            headers["Content-Type"] = JSON
        status, _, data = await self._request(method, path, body=body, headers=headers, timeout_s=timeout_s)
        if status >= 400:
            raise RailRefused(status, data.decode("utf-8", "replace"))
        try:
            return orjson.loads(data) if data else {}
        except orjson.JSONDecodeError:
            raise RailRefused(status, f"not JSON: {data[:200]!r}") from None

    # ---- participant API ----------------------------------------------------------------------------

    async def send(self, body: bytes, content_type: str = XML, wait_s: float | None = None) -> tuple[int, str, bytes]:
        headers = self._auth()
        headers["Content-Type"] = content_type
        timeout_s = HTTP_REQUEST_TIMEOUT_S
        if wait_s is not None:
            headers["Prefer"] = f"wait={int(wait_s) if float(wait_s).is_integer() else wait_s}"
            timeout_s = wait_s + LONG_POLL_MARGIN_S
        return await self._request("POST", "/v1/messages", body=body, headers=headers, timeout_s=timeout_s)

    async def post(self, msg_type: str, message: Any, codec: Any) -> Answer:
        """POST /v1/messages with `message` rendered by `codec` (a participants.codec.BankCodec)."""
        return HttpAnswer(*await self.send(codec.encode(message), codec.content_type))

    async def inbox(self, wait_s: float = 1.0, max_n: int = 1000, ack_upto: int | None = None) -> dict:
        """One long poll; `ack_upto` acknowledges the previous page in the same request (`ack=` query). A rail
        that honoured it answers with `acked_upto` >= ack_upto; otherwise the caller still has to ack()."""
        wait_s = min(max(0.0, wait_s), INBOX_WAIT_S_MAX)
        max_n = min(max(1, max_n), INBOX_BATCH_MAX)
        wait = int(wait_s) if float(wait_s).is_integer() else wait_s
        ack = f"&ack={int(ack_upto)}" if ack_upto else ""
        return await self._json("GET", f"/v1/inbox?wait={wait}&max={max_n}{ack}",
                                timeout_s=wait_s + LONG_POLL_MARGIN_S)

    async def ack(self, upto: int) -> dict:
        return await self._json("POST", "/v1/inbox/ack", {"upto": int(upto)})

    async def payment(self, uetr: str) -> dict:
        return await self._json("GET", _payment_path(uetr))

    # ---- operator API -------------------------------------------------------------------------------

    async def add_participant(self, bic: str, name: str, callback_url: str | None = None) -> str:
        payload: dict[str, Any] = {"bic": bic, "name": name}
        if callback_url:
            payload["callback_url"] = callback_url
        answer = await self._json("POST", "/admin/participants", payload, admin=True)
        return answer["token"]

    async def liquidity(self, bic: str, amount_paisa: int, direction: str = "in") -> dict:
        payload = {"bic": bic, "amount": int(amount_paisa), "direction": direction}
        return await self._json("POST", "/admin/liquidity", payload, admin=True)

    async def balances(self) -> dict:
        return await self._json("GET", "/admin/balances", admin=True)

    async def redeliver(self, uetr: str) -> dict:
        """Have the rail deliver a forwarded pacs.008 to its creditor agent once more (sandbox testing)."""
        return await self._json("POST", "/admin/redeliver", {"uetr": uetr}, admin=True)

    async def register_alias(self, alias: str, iban: str, name: str) -> dict:
        """POST /v1/aliases: link a Raast ID to one of this participant's IBANs."""
        return await self._json("POST", "/v1/aliases", {"alias": alias, "iban": iban, "name": name})

    async def own_balance(self) -> dict:
        """GET /v1/balance: this participant's settlement account (also proves its token works)."""
        return await self._json("GET", "/v1/balance")

    async def metrics(self) -> str | None:
        try:
            status, _, data = await self._request("GET", "/metrics")
        except RailUnreachable:
            return None
        return data.decode("utf-8", "replace") if status == 200 else None

    async def healthz(self) -> bool:
        status, _, _ = await self._request("GET", "/healthz", timeout_s=HTTP_CONNECT_TIMEOUT_S + 2)
        return status == 200


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


class InProcessTransport:
    """The same interface over a RailService in this process: no sockets, same code path in the rail.

    The service is trusted as the operator for admin calls (whoever holds the object runs the rail)."""

    kind = "inprocess"

    def __init__(self, service: Any, bic: str | None = None):
        self.service = service
        self.bic = bic

    def with_bic(self, bic: str) -> InProcessTransport:
        return InProcessTransport(self.service, bic)

    async def close(self) -> None:
        return None

    def _need_bic(self) -> str:
        if self.bic is None:
            raise TransportError("this in-process transport has no participant BIC")
        return self.bic

    async def send(self, body: bytes, content_type: str = XML, wait_s: float | None = None) -> tuple[int, str, bytes]:
        reply = await _maybe_await(self.service.submit(self._need_bic(), body, content_type, wait_s=wait_s))
        return reply.status, reply.content_type, reply.body

    async def post(self, msg_type: str, message: Any, codec: Any) -> Answer:
        """The struct itself to the state-machine half of the rail (RailService.dispatch): what the wire half
        would do is decode and profile-check bytes, and this message was built, not received. `msg_type` is
        its short name (pacs.002); the rail renders what it forwards in `codec.rendering`."""
        bic = self.bic if self.bic is not None else self._need_bic()
        return await self.service.dispatch(bic, Accepted(msg_type[:8], codec.rendering, message, None))

    async def inbox(self, wait_s: float = 1.0, max_n: int = 1000, ack_upto: int | None = None) -> dict:
        wait_s = min(max(0.0, wait_s), INBOX_WAIT_S_MAX)
        max_n = min(max(1, max_n), INBOX_BATCH_MAX)
        if ack_upto:
            # In-process an acknowledgement costs no request: acknowledge first, then read the next page.
            await self.ack(ack_upto)
            page = await self.inbox(wait_s, max_n)
            return {**page, "acked_upto": max(int(ack_upto), int(page.get("acked_upto") or 0))}
        structs = getattr(self.service, "inbox_structs", None)
        if structs is not None:
            # Same inbox, same order and acknowledgement; only the rendering step is skipped in-process.
            entries = await structs(self._need_bic(), wait_s, max_n)
            return {"messages": [{"seq": seq, "msg_type": msg_type, "message": message}
                                 for seq, msg_type, message in entries]}
        return await _maybe_await(self.service.inbox(self._need_bic(), wait_s, max_n))

    async def ack(self, upto: int) -> dict:
        result = await _maybe_await(self.service.ack(self._need_bic(), int(upto)))
        return result if isinstance(result, dict) else {"upto": upto}

    async def payment(self, uetr: str) -> dict:
        result = await _maybe_await(self.service.payment(self._need_bic(), uetr))
        return _as_dict(result)

    async def add_participant(self, bic: str, name: str, callback_url: str | None = None) -> str:
        result = await _maybe_await(self.service.add_participant(bic, name, callback_url=callback_url))
        return result["token"] if isinstance(result, dict) else result

    async def liquidity(self, bic: str, amount_paisa: int, direction: str = "in") -> dict:
        return _as_dict(await _maybe_await(self.service.liquidity(bic, int(amount_paisa), direction)))

    async def balances(self) -> dict:
        return await _maybe_await(self.service.balances())

    async def metrics(self) -> str | None:
        metrics = getattr(self.service, "metrics", None)
        render = getattr(metrics, "exposition", None)
        if render is None:
            return None
        text = await _maybe_await(render())
        return text.decode() if isinstance(text, bytes) else text

    async def healthz(self) -> bool:
        return True


def _as_dict(value: Any) -> dict:
    if isinstance(value, dict):
        return value
    if value is None:
        return {}
    try:
        import msgspec

        return msgspec.to_builtins(value)
    except TypeError:
        return {"result": str(value)}


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]
