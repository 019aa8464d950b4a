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

`Transport` is that interface. :class:`HttpTransport` speaks the rail's HTTP API (keep-alive, a bounded
connection pool: participants/http_client.py, or aiohttp's client for https), to one rail or to an active rail
and its standbys (several URLs: it switches over by itself, see the class); :class:`InProcessTransport` drives the
rail's API layer in this process (rail/api/routes.py), as httpx's ASGI transport drives an app. Failures to reach
the rail raise :class:`RailUnreachable` (the harness counts them as a gap and retries idempotent calls); answers
the rail refuses raise :class:`RailRefused` with the status and the rail's own text.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp
import msgspec
import orjson

from participants.http_client import HTTP_CONNECT_TIMEOUT_S, Http11Pool
from rail.api.accept import Accepted
from rail.api.http_types import HttpApplication, RequestHead, Response, respond
from rail.api.routes import OPERATOR
from rail.settlement.core import CoreStopped, Overloaded

# A bank's concurrent requests: enough for ~2,000 payments/s at ~10 ms a request, bounded so a slow rail
# shows up as queueing in the harness (counted as late sends), not as thousands of sockets.
HTTP_POOL_CONNECTIONS_MAX = 64
BASE_URLS_MAX = 8  # an active rail and its standbys
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


class Transport(Protocol):
    """How a participant talks to a rail (see the module docstring); HttpTransport and InProcessTransport."""

    kind: str  # "http" | "inprocess"

    async def send(self, body: bytes, content_type: str = ..., wait_s: float | None = None) -> tuple[int, str, bytes]:
        ...

    async def post(self, msg_type: str, message: Any, codec: Any) -> Answer: ...

    async def inbox(self, wait_s: float = ..., max_n: int = ..., ack_upto: int | None = None) -> dict: ...

    async def ack(self, upto: int) -> dict: ...

    async def payment(self, uetr: str) -> dict: ...

    async def add_participant(self, bic: str, name: str, callback_url: str | None = None) -> str: ...

    async def register(self, bic: str, name: str, callback_url: str | None = None) -> dict: ...

    async def liquidity(self, bic: str, amount_paisa: int, direction: str = ...) -> dict: ...

    async def balances(self) -> dict: ...

    async def metrics(self) -> str | None: ...

    async def healthz(self) -> bool: ...

    async def close(self) -> None: ...


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
        self._lean_pools: dict[int, Http11Pool] = {}
        # One rail over the lean client: a message's request head is built once per content type (a bank's
        # hot path: one POST a payment as debtor, one as creditor).
        self._one_lean_rail = len(self.base_urls) == 1 and self._lean_targets[0] is not None
        self._message_heads: dict[str, bytes] = {}

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
        if self._lean_targets[index] is not None:
            pool = self._lean_pool(index)
            return await self._lean_exchange(index, pool.head(method, path, headers or {}), body or b"", timeout_s)
        base_url = self.base_urls[index]
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

    def _lean_pool(self, index: int) -> Http11Pool:
        pool = self._lean_pools.get(index)
        if pool is None:
            host, port = self._lean_targets[index]  # type: ignore[misc]
            pool = self._lean_pools[index] = Http11Pool(host, port, self._pool_connections_max)
        return pool

    async def _lean_exchange(self, index: int, head: bytes, body: bytes, timeout_s: float) -> tuple[int, str, bytes]:
        try:
            return await self._lean_pool(index).exchange(head, body, timeout_s)
        except (TimeoutError, OSError) as exc:
            raise RailUnreachable(f"cannot reach the rail at {self.base_urls[index]}: {_describe(exc)}") from None
        except ValueError as exc:
            raise RailUnreachable(f"bad HTTP answer from {self.base_urls[index]}: {_describe(exc)}") from None

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
        return _json_answer(status, data)

    # ---- participant API ----------------------------------------------------------------------------

    async def send(self, body: bytes, content_type: str = XML, wait_s: float | None = None) -> tuple[int, str, bytes]:
        if wait_s is None and self._one_lean_rail:  # the hot path: exactly what _request would do, head built once
            head = self._message_heads.get(content_type)
            if head is None:
                headers = self._auth()
                headers["Content-Type"] = content_type
                head = self._message_heads[content_type] = self._lean_pool(0).head("POST", "/v1/messages", headers)
            return await self._lean_exchange(0, head, body, HTTP_REQUEST_TIMEOUT_S)
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
        return (await self.register(bic, name, callback_url))["token"]

    async def register(self, bic: str, name: str, callback_url: str | None = None) -> dict:
        """POST /admin/participants: {"bic", "token", "webhook_secret"} (the secret signs its webhook pushes)."""
        payload: dict[str, Any] = {"bic": bic, "name": name}
        if callback_url:
            payload["callback_url"] = callback_url
        return await self._json("POST", "/admin/participants", payload, admin=True)

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


class InProcessRail(Protocol):
    """What the in-process transport drives (rail/api/routes.py's RailApi is one): the API layer's application,
    admitting a caller it trusts without a token (every call, as HTTP would make it), and its struct lane for
    messages a participant in this process built itself."""

    scheme: Any

    def as_caller(self, caller: str) -> HttpApplication: ...

    async def dispatch(self, bic: str, accepted: Accepted) -> Answer: ...

    async def inbox_structs(self, bic: str, wait_s: float, max_n: int) -> list[tuple[int, str, Any]]: ...

    async def ack_inbox(self, bic: str, upto: int) -> int: ...


class InProcessTransport:
    """The same interface over the rail in this process, as httpx's ASGI transport drives an app: each call is the
    request HTTP would make, answered by the same route table, handlers and limits, without a socket. Two calls
    take the struct lane instead: `post` hands over the message struct a bank built (nothing to decode or
    re-validate), and `inbox` reads the inbox as structs (nothing to render), `ack` acknowledges it without a
    JSON round trip: the sandbox's and the simulator's hot path (a bank acknowledges every page it reads).

    The caller is trusted as `bic` (whoever holds the rail object runs the rail), and as the operator for admin
    calls when it has no BIC."""

    kind = "inprocess"

    def __init__(self, rail: InProcessRail, bic: str | None = None):
        self.rail = rail
        self.bic = bic
        self._app = rail.as_caller(bic if bic is not None else OPERATOR)

    def with_bic(self, bic: str) -> InProcessTransport:
        return InProcessTransport(self.rail, bic)

    async def close(self) -> None:
        return None

    def _need_bic(self) -> str:
        if self.bic is None:
            raise TransportError("this in-process transport has no participant BIC")
        return self.bic

    async def _call(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None,
                    query: str = "") -> Response:
        return await respond(self._app, RequestHead(method, path, query, headers or {}), body)

    async def _json(self, method: str, path: str, payload: Any = None) -> Any:
        body = b"" if payload is None else orjson.dumps(payload)
        headers = {} if payload is None else {"content-type": JSON}
        response = await self._call(method, path, body, headers)
        return _json_answer(response.status, response.body)

    async def send(self, body: bytes, content_type: str = XML, wait_s: float | None = None) -> tuple[int, str, bytes]:
        self._need_bic()
        headers = {"content-type": content_type}
        if wait_s is not None:
            headers["prefer"] = f"wait={wait_s:g}"
        response = await self._call("POST", "/v1/messages", body, headers)
        return response.status, response.headers.get("Content-Type", ""), response.body

    async def post(self, msg_type: str, message: Any, codec: Any) -> Answer:
        """The struct itself to the state-machine half of the rail (the rail's dispatch): what the wire half
        would do is decode and profile-check bytes, and this message was built, not received. `msg_type` is
        its short name (pacs.002); the rail renders what it forwards in `codec.rendering`."""
        return await self.rail.dispatch(self._need_bic(), Accepted(msg_type[:8], codec.rendering, message, None))

    async def inbox(self, wait_s: float = 1.0, max_n: int = 1000, ack_upto: int | None = None) -> dict:
        """The inbox as structs (same inbox, order and acknowledgement as GET /v1/inbox; only the rendering step
        is skipped). `ack_upto` is acknowledged first, as the `ack=` of a poll is."""
        wait_s = min(max(0.0, wait_s), INBOX_WAIT_S_MAX)
        max_n = min(max(1, max_n), INBOX_BATCH_MAX)
        page: dict[str, Any] = {}
        if ack_upto:
            page["acked_upto"] = (await self.ack(ack_upto))["acked_upto"]
        entries = await self.rail.inbox_structs(self._need_bic(), wait_s, max_n)
        page["messages"] = [{"seq": seq, "msg_type": msg_type, "message": message}
                            for seq, msg_type, message in entries]
        return page

    async def ack(self, upto: int) -> dict:
        """POST /v1/inbox/ack's journaled acknowledgement, and its refusals (400, 503) as RailRefused."""
        try:
            return {"acked_upto": await self.rail.ack_inbox(self._need_bic(), upto)}
        except ValueError as exc:
            raise RailRefused(400, str(exc)) from None
        except (CoreStopped, Overloaded) as exc:
            raise RailRefused(503, str(exc) or type(exc).__name__) from None

    async def payment(self, uetr: str) -> dict:
        self._need_bic()
        return await self._json("GET", _payment_path(uetr))

    async def add_participant(self, bic: str, name: str, callback_url: str | None = None) -> str:
        return (await self.register(bic, name, callback_url))["token"]

    async def register(self, bic: str, name: str, callback_url: str | None = None) -> dict:
        payload: dict[str, Any] = {"bic": bic, "name": name}
        if callback_url:
            payload["callback_url"] = callback_url
        return await self._json("POST", "/admin/participants", payload)

    async def liquidity(self, bic: str, amount_paisa: int, direction: str = "in") -> dict:
        payload = {"bic": bic, "amount": int(amount_paisa), "direction": direction}
        return await self._json("POST", "/admin/liquidity", payload)

    async def balances(self) -> dict:
        return await self._json("GET", "/admin/balances")

    async def metrics(self) -> str | None:
        response = await self._call("GET", "/metrics")
        return response.body.decode("utf-8", "replace") if response.status == 200 else None

    async def healthz(self) -> bool:
        return (await self._call("GET", "/healthz")).status == 200


def _json_answer(status: int, data: bytes) -> Any:
    """A JSON answer of the rail, or RailRefused with its status and text (either transport)."""
    if status >= 400:
        raise RailRefused(status, data.decode("utf-8", "replace"))
    try:
        return orjson.loads(data) if data else {}
    except orjson.JSONDecodeError:
        raise RailRefused(status, f"not JSON: {data[:200]!r}") from None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]
