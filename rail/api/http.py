"""The sandbox endpoint: aiohttp handlers as thin wrappers over RailService.

Handlers only do transport work: authentication, body limit, rate limit (429 Retry-After), content negotiation,
`Prefer: wait=N` (RFC 7240, answered with Preference-Applied), JSON framing. Every decision about a payment is
made behind RailService (rail/api/service.py), the same code path the in-process participants use.

The two requests on a payment's path (POST /v1/messages, GET /v1/inbox) are served by a lean HTTP/1.1 fast lane
in front of aiohttp when they are well-formed and ordinary, through the same functions; see "the fast lane"
below. `GET /v1/inbox?ack=SEQ` acknowledges the previous page in the poll itself.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import warnings
from collections.abc import Mapping
from email.utils import formatdate
from http import HTTPStatus
from typing import NamedTuple
from urllib.parse import parse_qsl

import orjson
from aiohttp import __version__ as aiohttp_version
from aiohttp import web
from aiohttp.tcp_helpers import tcp_nodelay

from rail.api.auth import bearer_token, why_unauthenticated
from rail.api.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from rail.api.service import WAIT_S_MAX, RailService, Reply
from rail.iso20022 import canonical_bic
from rail.settlement.core import CoreStopped, Overloaded

log = logging.getLogger(__name__)

BODY_BYTES_MAX = 1 << 20  # one ISO 20022 message; the codec refuses bigger bodies too
JSON_BODY_BYTES_MAX = 64 * 1024  # admin and ack bodies are tiny
INBOX_MAX_DEFAULT = 100
ACK_DIGITS_MAX = 19  # an inbox sequence number fits in a signed 64-bit integer
_PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*\"?(\d+(?:\.\d+)?)\"?", re.IGNORECASE)
SERVICE_KEY = web.AppKey("rail_service", RailService)


_JSON_CONTENT_TYPE = "application/json"
# Content-Type header values by media type, built once: aiohttp's content_type/charset setters re-parse and
# re-render the header on every response, a measurable share of a request on the payment path.
_content_type_headers: dict[str, str] = {}
CONTENT_TYPE_HEADERS_MAX = 64  # media types the rail answers with are a handful; bound the memo anyway


def _content_type_header(media_type: str) -> str:
    header = _content_type_headers.get(media_type)
    if header is None:
        header = media_type if "charset=" in media_type else f"{media_type}; charset=utf-8"
        if len(_content_type_headers) < CONTENT_TYPE_HEADERS_MAX:
            _content_type_headers[media_type] = header
    return header


def _json(data: object, status: int = 200, headers: dict | None = None) -> web.Response:
    # orjson always writes UTF-8; the header is the one aiohttp's content_type="application/json" gives.
    all_headers = {"Content-Type": _JSON_CONTENT_TYPE}
    if headers:
        all_headers.update(headers)
    return web.Response(body=orjson.dumps(data), status=status, headers=all_headers)


def _error(status: int, code: str, text: str, headers: dict | None = None) -> web.Response:
    return _json({"error": code, "detail": text}, status, headers)


class _Refusal(Exception):
    """Raised by the helpers below with a JSON error answer; the middleware (or the fast lane) returns it."""

    def __init__(self, status: int, code: str, text: str, headers: dict | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.code = code
        self.text = text
        self.headers = headers

    def response(self) -> web.Response:
        return _error(self.status, self.code, self.text, self.headers)


def refuse(status: int, code: str, text: str, headers: dict | None = None) -> _Refusal:
    """The exception a handler (or a fast-lane service, e.g. rail/cluster/edge.py's) raises to answer with a JSON
    error: `raise refuse(401, "unauthorized", "...")`."""
    return _Refusal(status, code, text, headers)


def _unavailable(exc: CoreStopped | Overloaded) -> _Refusal:
    """503 for any route when the core sheds load or has stopped (e.g. its journal failed): never a 500."""
    if isinstance(exc, Overloaded):
        return refuse(503, "overloaded", "the rail is overloaded; retry in a second", {"Retry-After": "1"})
    return refuse(
        503, "unavailable", "the rail is not accepting work (stopping, or its journal failed); retry later",
        {"Retry-After": "5"},
    )  # fmt: skip


def _reply(reply: Reply) -> web.Response:
    headers = {"Content-Type": _content_type_header(reply.content_type)}
    if reply.headers:
        headers.update(reply.headers)
    return web.Response(body=reply.body, status=reply.status, headers=headers)


def _bearer(request: web.Request) -> str:
    return bearer_token(request.headers.get("Authorization", ""))


def _service(request: web.Request) -> RailService:
    return request.app[SERVICE_KEY]


def _participant(request: web.Request) -> str:
    """The authenticated, not rate-limited participant's BIC, or an HTTP error raised."""
    return _participant_bic(_service(request), request.headers.get("Authorization", ""))


def _participant_bic(service: RailService, authorization: str) -> str:
    """Authentication then the per-participant rate limit, for every participant request on either server."""
    bic = service.authenticate(bearer_token(authorization))
    if bic is None:
        raise refuse(
            401,
            "unauthenticated",
            _why_unauthenticated(service, authorization, "participant"),
            {"WWW-Authenticate": 'Bearer realm="rail"'},
        )
    retry_s = service.rate_limit(bic)
    if retry_s:
        raise refuse(
            429,
            "rate_limited",
            "request rate limit reached",
            {"Retry-After": str(max(1, int(retry_s + 0.999)))},
        )
    return bic


def _admin(request: web.Request) -> None:
    service = _service(request)
    if not service.is_admin(_bearer(request)):
        raise refuse(
            401,
            "unauthenticated",
            _why_unauthenticated(service, request.headers.get("Authorization", ""), "admin"),
            {"WWW-Authenticate": 'Bearer realm="rail-admin"'},
        )


def _why_unauthenticated(service: RailService, authorization: str, wanted: str) -> str:
    """Which of: no header, not Bearer, admin token on a participant route (or the reverse), unknown token."""
    is_admin = getattr(service, "is_admin", None) or (lambda token: False)  # an edge knows no admin token
    return why_unauthenticated(
        authorization,
        wanted=wanted,
        is_admin=is_admin,
        is_participant=lambda token: service.authenticate(token) is not None,
    )


async def _json_body(request: web.Request) -> dict:
    if request.content_length is not None and request.content_length > JSON_BODY_BYTES_MAX:
        raise refuse(413, "too_large", f"JSON body above {JSON_BODY_BYTES_MAX} bytes")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise refuse(413, "too_large", f"JSON body above {JSON_BODY_BYTES_MAX} bytes") from None
    if len(raw) > JSON_BODY_BYTES_MAX:
        raise refuse(413, "too_large", f"JSON body above {JSON_BODY_BYTES_MAX} bytes")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise refuse(400, "bad_json", f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise refuse(400, "bad_json", "body must be a JSON object")
    return data


def prefer_wait_s(prefer: str | None) -> float | None:
    """Seconds of an RFC 7240 `Prefer: wait=N` header (capped at WAIT_S_MAX); None when absent."""
    if not prefer:
        return None
    match = _PREFER_WAIT.search(prefer)
    return min(float(match.group(1)), WAIT_S_MAX) if match else None


def _float_arg(query: Mapping[str, str], name: str, default: float, high: float) -> float:
    try:
        value = float(query.get(name, default))
    except ValueError:
        raise refuse(400, "bad_query", f"{name} must be a number") from None
    return max(0.0, min(value, high))


def _rendering_of_content_type(content_type: str) -> str:
    # The media type without parameters, as request.content_type gives it, without its per-request parse.
    return "json" if "json" in content_type.partition(";")[0].lower() else "xml"


def _too_large(service: RailService, rendering: str) -> Reply:
    return service.replies.too_large(rendering, BODY_BYTES_MAX)


async def _inbox_page(service: RailService, bic: str, query: Mapping[str, str]) -> dict:
    """GET /v1/inbox after authentication: query checks, the optional acknowledgement, then the page."""
    wait_s = _float_arg(query, "wait", 0.0, WAIT_S_MAX)
    max_n = int(_float_arg(query, "max", INBOX_MAX_DEFAULT, 1000)) or 1
    rendering = query.get("rendering")
    if rendering not in (None, "xml", "json"):
        raise refuse(400, "bad_query", "rendering must be xml or json")
    ack = query.get("ack")
    if ack is not None:
        # `ack=SEQ` acknowledges the previous page in the same request as the next poll (the same journaled
        # acknowledgement as POST /v1/inbox/ack, applied before the page is read): a polling participant makes
        # one request per page instead of two. The page's `acked_upto` shows the rail honoured it.
        if not (ack.isascii() and ack.isdigit()) or len(ack) > ACK_DIGITS_MAX:
            raise refuse(400, "bad_ack", "ack must be a non-negative integer sequence number")
        await service.ack(bic, int(ack))
    return await service.inbox(bic, wait_s, max_n, rendering)


# ---- participant endpoints ------------------------------------------------------------------------------------


async def post_message(request: web.Request) -> web.Response:
    bic = _participant(request)
    service = _service(request)
    content_type = request.headers.get("Content-Type", "")
    if request.content_length is not None and request.content_length > BODY_BYTES_MAX:
        return _reply(_too_large(service, _rendering_of_content_type(content_type)))
    try:
        body = await request.read()  # bounded by client_max_size (BODY_BYTES_MAX)
    except web.HTTPRequestEntityTooLarge:
        return _reply(_too_large(service, _rendering_of_content_type(content_type)))
    reply = await service.submit(bic, body, content_type, prefer_wait_s(request.headers.get("Prefer")))
    return _reply(reply)


async def get_inbox(request: web.Request) -> web.Response:
    bic = _participant(request)
    return _json(await _inbox_page(_service(request), bic, request.query))


async def post_ack(request: web.Request) -> web.Response:
    bic = _participant(request)
    data = await _json_body(request)
    try:
        acked_upto = await _service(request).ack(bic, data.get("upto"))
    except ValueError as exc:
        return _error(400, "bad_ack", str(exc))
    return _json({"acked_upto": acked_upto})


async def get_payment(request: web.Request) -> web.Response:
    bic = _participant(request)
    view = await _service(request).payment(bic, request.match_info["uetr"])
    if view is None:
        return _error(404, "not_found", "no such payment among this participant's payments")
    return _json(view)


async def get_own_balance(request: web.Request) -> web.Response:
    bic = _participant(request)
    balance = (await _service(request).balances())["accounts"].get(bic)
    return _json({"bic": bic, **(balance or {})})


async def post_alias(request: web.Request) -> web.Response:
    bic = _participant(request)
    data = await _json_body(request)
    result = await _service(request).register_alias(
        bic, data.get("alias"), data.get("iban"), data.get("name") or ""
    )
    return _json(result, 201 if result["ok"] else 422)


async def delete_alias(request: web.Request) -> web.Response:
    bic = _participant(request)
    result = await _service(request).delete_alias(bic, request.match_info["alias"])
    return _json(result, 200 if result["ok"] else (404 if result.get("reason") == "AC01" else 422))


# ---- admin endpoints ------------------------------------------------------------------------------------------


async def post_participant(request: web.Request) -> web.Response:
    _admin(request)
    data = await _json_body(request)
    service = _service(request)
    try:
        token = await service.add_participant(
            data.get("bic"),
            data.get("name") or "",
            data.get("callback_url"),
            data.get("requests_per_s"),
            data.get("requests_burst"),
        )
    except ValueError as exc:
        return _error(422, "bad_participant", str(exc))
    return _json({"bic": canonical_bic(data["bic"]), "token": token}, 201)  # as registered: no XXX branch


async def post_liquidity(request: web.Request) -> web.Response:
    _admin(request)
    data = await _json_body(request)
    try:
        result = await _service(request).liquidity(data.get("bic"), data.get("amount"), data.get("direction"))
    except ValueError as exc:
        return _error(422, "bad_liquidity", str(exc))
    return _json(result, 200 if result["ok"] else 422)


async def get_balances(request: web.Request) -> web.Response:
    _admin(request)
    return _json(await _service(request).balances())


# ---- operations -----------------------------------------------------------------------------------------------


async def get_metrics(request: web.Request) -> web.Response:
    service = _service(request)
    metrics, health = service.metrics, service.core.health()
    metrics.core_queue_depth.set(health.queue_depth)
    metrics.payments_retained.labels("whole").set(health.payments_whole)
    metrics.payments_retained.labels("packed").set(health.payments_packed)
    metrics.payments_forgotten.set(health.payments_forgotten)
    return web.Response(body=service.metrics.exposition(), headers={"Content-Type": METRICS_CONTENT_TYPE})


async def get_healthz(request: web.Request) -> web.Response:
    service = _service(request)
    health = service.core.health()
    ok = health.serving
    return _json(
        {"ok": ok, "journal_seq": health.journal_seq, "queue_depth": health.queue_depth},
        200 if ok else 503,
    )


async def get_openapi(request: web.Request) -> web.Response:
    from rail.api.openapi import openapi_document

    return _json(openapi_document())


@web.middleware
async def _errors_as_json(request: web.Request, handler):
    """Every error answer is a clear JSON object; a traceback never reaches a client."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.content_type == "application/json":
            raise
        return _error(
            exc.status,
            exc.reason.lower().replace(" ", "_"),
            exc.text or exc.reason,
            {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")},
        )
    except _Refusal as refusal:
        return refusal.response()
    except (CoreStopped, Overloaded) as exc:
        return _unavailable(exc).response()
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return _error(500, "internal", "the rail could not process this request; it has been logged")


# ---- the fast lane: the two payment-path requests without aiohttp's per-request machinery -------------------
#
# A payment costs the rail two or three HTTP exchanges (the debtor's pacs.008, the creditor's pacs.002, a share of
# an inbox poll), and aiohttp's request machinery (request and response objects, stream reader, router,
# middleware, header rendering) costs ~100 us of CPU each on this machine class, against ~25 us for the bare
# socket work. So each connection starts in a small HTTP/1.1 protocol that serves exactly the common, well-formed
# case of POST /v1/messages and GET /v1/inbox (HTTP/1.1, Content-Length body within the limit, no Expect,
# Transfer-Encoding or Upgrade, no repeated header, keep-alive) through the SAME functions as the aiohttp
# handlers above: authentication, rate limit, body limit, Prefer: wait, inbox acknowledgement, JSON errors.
# Any other well-formed request (another route, an unusual one, HTTP/1.0, Connection: close) makes it hand the
# connection, with the bytes it holds and that request marked `Connection: close`, to aiohttp, which serves it
# and closes: the next request starts in the fast lane again. So every request head is read here first, and one
# that is malformed or too large is refused here (400/431, connection closed) and never reaches aiohttp, whose
# parse errors echo what they failed on into the answer and the log (a bearer token among it).

FAST_HEAD_BYTES_MAX = 8_190  # aiohttp's own limit for a request line and its headers
FAST_PIPELINE_BYTES_MAX = (
    BODY_BYTES_MAX + FAST_HEAD_BYTES_MAX
)  # read no further ahead while a request is served
FAST_SHUTDOWN_GRACE_S = 2.0  # a submit in flight at shutdown gets this long to answer before it is cancelled
FAST_IDLE_CLOSE_S = 75.0  # aiohttp's keep-alive timeout: an idle fast-lane connection is closed after it
_FAST_ROUTES = frozenset({("POST", "/v1/messages"), ("GET", "/v1/inbox")})
_HAND_OVER_HEADERS = frozenset({"transfer-encoding", "expect", "upgrade"})
FAST_HEADERS_MAX = 100  # header lines in one request head (aiohttp refuses more, echoing)
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 token: header names and methods
_HEADER_VALUE_BAD = re.compile(r"[^\t\x20-\x7e]")  # printable ASCII and tab only
_REQUEST_TARGET = re.compile(r"[\x21-\x7e]+")
_HTTP_VERSIONS = frozenset({"HTTP/1.1", "HTTP/1.0"})
_reason_phrases: dict[int, bytes] = {}
_date_header = [0, b""]  # [second, b"Date: ...\r\n"]: one HTTP date per second, as aiohttp caches it


def _reason_phrase(status: int) -> bytes:
    phrase = _reason_phrases.get(status)
    if phrase is None:
        try:
            phrase = HTTPStatus(status).phrase.encode("latin-1")
        except ValueError:
            phrase = b"Unknown"
        _reason_phrases[status] = phrase  # bounded: HTTP status codes are three digits
    return phrase


def _date_line() -> bytes:
    now_s = int(time.time())
    if _date_header[0] != now_s:
        _date_header[0] = now_s
        _date_header[1] = b"Date: " + formatdate(now_s, usegmt=True).encode("latin-1") + b"\r\n"
    return _date_header[1]


def _http_response(status: int, headers: dict[str, str], body: bytes) -> bytes:
    head = [b"HTTP/1.1 %d %s\r\n" % (status, _reason_phrase(status))]
    for name, value in headers.items():
        head.append(f"{name}: {value}\r\n".encode("latin-1"))
    head.append(_date_line())
    head.append(b"Content-Length: %d\r\n\r\n" % len(body))
    head.append(body)
    return b"".join(head)


def _json_parts(data: object, status: int = 200, headers: dict | None = None) -> tuple[int, dict, bytes]:
    all_headers = {"Content-Type": _JSON_CONTENT_TYPE}
    if headers:
        all_headers.update(headers)
    return status, all_headers, orjson.dumps(data)


def _reply_parts(reply: Reply) -> tuple[int, dict, bytes]:
    headers = {"Content-Type": _content_type_header(reply.content_type)}
    if reply.headers:
        headers.update(reply.headers)
    return reply.status, headers, reply.body


class _Head(NamedTuple):
    """A well-formed request head: its request line, and its header lines as sent."""

    method: str
    target: str
    version: str
    lines: list[tuple[str, str]]  # (name, value)

    def handed_over(self) -> bytes:
        """The head for aiohttp: the same request, with `Connection: close` (it serves this one and closes)."""
        out = [f"{self.method} {self.target} {self.version}\r\n"]
        out += [f"{name}: {value}\r\n" for name, value in self.lines if name.lower() != "connection"]
        out.append("Connection: close\r\n\r\n")
        return "".join(out).encode("ascii")


def _read_head(head: bytes) -> _Head | None:
    """The head, if well-formed (stricter than aiohttp: ASCII, tokens, no folding, no ambiguous length);
    None when it is not."""
    lines = head.decode("latin-1").split("\r\n")
    method, _, rest = lines[0].partition(" ")
    target, _, version = rest.partition(" ")
    if not _TOKEN.fullmatch(method) or not _REQUEST_TARGET.fullmatch(target) or version not in _HTTP_VERSIONS:
        return None
    if len(lines) - 1 > FAST_HEADERS_MAX:
        return None
    parsed = []
    names = set()
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not _TOKEN.fullmatch(name) or _HEADER_VALUE_BAD.search(value):
            return None
        key = name.lower()
        if key in names and key in ("content-length", "transfer-encoding", "host", "authorization"):
            return None
        names.add(key)
        parsed.append((name, value.strip(" \t")))
    if "content-length" in names and "transfer-encoding" in names:
        return None  # ambiguous framing (request smuggling)
    length = next((v for n, v in parsed if n.lower() == "content-length"), "0")
    if not (length.isascii() and length.isdigit()):
        return None
    return _Head(method, target, version, parsed)


def _parse_fast_head(head: _Head) -> tuple[str, str, str, dict[str, str], int] | None:
    """(method, path, query, headers by lower-case name, body length) of a request the fast lane serves,
    or None: the request goes to aiohttp."""
    method, target, version = head.method, head.target, head.version
    if version != "HTTP/1.1":
        return None
    path, _, query = target.partition("?")
    if (method, path) not in _FAST_ROUTES:
        return None
    headers: dict[str, str] = {}
    for name, value in head.lines:
        key = name.lower()
        if key in headers or key in _HAND_OVER_HEADERS:
            return None
        headers[key] = value
    connection = headers.get("connection")
    if connection is not None and connection.lower() != "keep-alive":
        return None
    length_text = headers.get("content-length")
    if length_text is None:
        length = 0
    elif not (length_text.isascii() and length_text.isdigit()) or len(length_text) > 9:
        return None
    else:
        length = int(length_text)
    if length > BODY_BYTES_MAX or (method == "GET" and length):
        return None
    return method, path, query, headers, length


def _first_values(query: str) -> dict[str, str]:
    """Query parameters, the first value of each (what aiohttp's request.query.get gives)."""
    values: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        values.setdefault(name, value)
    return values


class _FastLane(asyncio.Protocol):
    """One client connection: serves fast-lane requests in order, one at a time, or hands over to aiohttp."""

    __slots__ = (
        "_buf",
        "_busy",
        "_done",
        "_idle_since_s",
        "_long_poll",
        "_paused",
        "_server",
        "_task",
        "_transport",
    )

    def __init__(self, server: _RailServer) -> None:
        self._server = server
        self._transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._busy = False  # a request is being served: answers must leave in request order
        self._paused = False
        self._done = False  # closed, or handed over to aiohttp
        self._task: asyncio.Task | None = None
        self._long_poll = (
            False  # the request in flight only reads (an inbox poll): shutdown need not wait for it
        )
        self._idle_since_s = time.monotonic()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        tcp_nodelay(transport, True)  # type: ignore[arg-type]
        self._server.fast_connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._done = True
        self._server.fast_connections.discard(self)
        self._buf.clear()

    def data_received(self, data: bytes) -> None:
        if self._done:
            return
        self._buf += data
        if not self._busy:
            self._next_request()
        elif len(self._buf) > FAST_PIPELINE_BYTES_MAX and not self._paused:
            self._paused = True
            self._transport.pause_reading()

    def eof_received(self) -> bool | None:
        if not self._busy:
            self.close()
        return True  # half-close: the answer in progress can still be written

    def close(self) -> None:
        self._done = True
        if self._transport is not None:
            self._transport.close()

    def idle_for_s(self, now_s: float) -> float:
        return 0.0 if self._busy else now_s - self._idle_since_s

    def _next_request(self) -> None:
        buf = self._buf
        if not buf:
            return
        end = buf.find(b"\r\n\r\n", 0, FAST_HEAD_BYTES_MAX + 4)
        if end < 0:
            if len(buf) > FAST_HEAD_BYTES_MAX:
                self._refuse(431, "header_too_large", f"request head above {FAST_HEAD_BYTES_MAX} bytes")
            return
        head = _read_head(bytes(buf[:end]))
        if head is None:
            self._refuse(400, "bad_request", "malformed request head (HTTP/1.1, ASCII header lines)")
            return
        parsed = _parse_fast_head(head)
        if parsed is None:
            self._hand_over(head, end + 4)
            return
        _method, path, query, headers, length = parsed
        total = end + 4 + length
        if len(buf) < total:
            return  # the body is still arriving
        body = bytes(buf[end + 4 : total])
        del buf[:total]
        self._busy = True
        self._long_poll = path == "/v1/inbox"
        self._task = asyncio.get_running_loop().create_task(self._serve(path, query, headers, body))

    async def _serve(self, path: str, query: str, headers: dict[str, str], body: bytes) -> None:
        service = self._server.service
        try:
            bic = _participant_bic(service, headers.get("authorization", ""))
            if path == "/v1/messages":
                reply = await service.submit(
                    bic, body, headers.get("content-type", ""), prefer_wait_s(headers.get("prefer"))
                )
                answer = _reply_parts(reply)
            else:
                answer = _json_parts(await _inbox_page(service, bic, _first_values(query)))
        except (_Refusal, CoreStopped, Overloaded) as error:
            refusal = error if isinstance(error, _Refusal) else _unavailable(error)
            answer = _json_parts(
                {"error": refusal.code, "detail": refusal.text}, refusal.status, refusal.headers
            )
        except asyncio.CancelledError:
            self.close()
            raise
        except Exception:
            log.exception("unexpected error on %s", path)
            answer = _json_parts(
                {
                    "error": "internal",
                    "detail": "the rail could not process this request; it has been logged",
                },
                500,
            )
        self._task = None
        self._busy = False
        if self._done:
            return
        self._transport.write(_http_response(*answer))
        self._idle_since_s = time.monotonic()
        if self._paused:
            self._paused = False
            self._transport.resume_reading()
        if self._transport.is_closing():
            self._done = True
            return
        self._next_request()

    def _refuse(self, status: int, code: str, text: str) -> None:
        """Answer a request head the rail will not read (nothing of it is echoed) and close the connection."""
        self._done = True
        self._server.fast_connections.discard(self)
        self._buf.clear()
        error = _json_parts({"error": code, "detail": text}, status, {"Connection": "close"})
        self._transport.write(_http_response(*error))
        self._transport.close()

    def _hand_over(self, head: _Head, head_bytes: int) -> None:
        """aiohttp serves this connection's next request (the bytes not yet answered, that request marked
        `Connection: close`), then closes it."""
        transport = self._transport
        self._done = True
        self._server.fast_connections.discard(self)
        if self._paused:
            self._paused = False
            transport.resume_reading()
        pending, self._buf = head.handed_over() + bytes(self._buf[head_bytes:]), bytearray()
        handler = self._server.aiohttp_protocol()
        transport.set_protocol(handler)
        handler.connection_made(transport)
        if pending:
            handler.data_received(pending)

    async def shutdown(self, grace_s: float) -> None:
        task = self._task
        if task is not None and not task.done():
            if self._long_poll:
                task.cancel()  # a waiting poll has nothing to finish; its messages stay in the inbox
            else:
                try:
                    await asyncio.wait_for(asyncio.shield(task), grace_s)
                except (TimeoutError, asyncio.CancelledError):
                    task.cancel()
        self.close()


class _RailServer(web.Server):
    """aiohttp's server, whose connections start in the fast lane (see above)."""

    def __init__(self, *args, service: RailService, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.service = service
        self.fast_connections: set[_FastLane] = set()
        self._idle_sweeper: asyncio.TimerHandle | None = None

    def __call__(self) -> asyncio.Protocol:
        if self._idle_sweeper is None:
            self._idle_sweeper = self._loop.call_later(FAST_IDLE_CLOSE_S / 3, self._close_idle)
        return _FastLane(self)

    def aiohttp_protocol(self) -> asyncio.Protocol:
        return super().__call__()

    def _close_idle(self) -> None:
        now_s = time.monotonic()
        for connection in list(self.fast_connections):
            if connection.idle_for_s(now_s) > FAST_IDLE_CLOSE_S:
                connection.close()
        self._idle_sweeper = self._loop.call_later(FAST_IDLE_CLOSE_S / 3, self._close_idle)

    def pre_shutdown(self) -> None:
        super().pre_shutdown()
        for connection in list(self.fast_connections):
            if not connection._busy:
                connection.close()

    async def shutdown(self, timeout: float | None = None) -> None:
        if self._idle_sweeper is not None:
            self._idle_sweeper.cancel()
        grace_s = FAST_SHUTDOWN_GRACE_S if timeout is None else min(timeout, FAST_SHUTDOWN_GRACE_S)
        connections = list(self.fast_connections)
        self.fast_connections.clear()
        await asyncio.gather(*(c.shutdown(grace_s) for c in connections), return_exceptions=True)
        await super().shutdown(timeout)


with warnings.catch_warnings():
    # aiohttp discourages subclassing Application in general; this subclass changes one thing only, the server
    # its runners build (every route, middleware and setting is the plain Application's).
    warnings.simplefilter("ignore", DeprecationWarning)

    class RailApplication(web.Application):
        """The rail's aiohttp application; its server starts each connection in the fast lane.

        The fast lane serves POST /v1/messages and GET /v1/inbox itself, calling the object stored under
        SERVICE_KEY: `authenticate(token) -> bic | None`, `rate_limit(bic) -> seconds to wait (0.0: go)`,
        `await submit(bic, body, content_type, wait_s) -> Reply`, `await ack(bic, upto)` and
        `await inbox(bic, wait_s, max_n, rendering) -> dict`. RailService is one; rail/cluster/edge.py's
        EdgeFastLaneService (which hands messages to a core over NATS) is the other. Anything else, or anything
        unusual, goes to the aiohttp routes."""

        def _make_handler(self, *, loop: asyncio.AbstractEventLoop | None = None, **kwargs) -> web.Server:
            server = super()._make_handler(loop=loop, **kwargs)
            try:
                return _RailServer(
                    server.request_handler,
                    request_factory=server.request_factory,
                    handler_cancellation=server.handler_cancellation,
                    loop=server._loop,
                    service=self[SERVICE_KEY],
                    **server._kwargs,
                )
            except (AttributeError, TypeError) as exc:
                # These are aiohttp internals: if a future aiohttp moves them, serve everything through plain
                # aiohttp (correct, only slower) rather than fail to start.
                log.warning("fast lane disabled, aiohttp %s internals differ (%s)", aiohttp_version, exc)
                return server


def create_app(service: RailService) -> web.Application:
    app = RailApplication(client_max_size=BODY_BYTES_MAX, middlewares=[_errors_as_json])
    app[SERVICE_KEY] = service
    app.router.add_post("/v1/messages", post_message)
    app.router.add_get("/v1/inbox", get_inbox)
    app.router.add_post("/v1/inbox/ack", post_ack)
    app.router.add_get("/v1/payments/{uetr}", get_payment)
    app.router.add_get("/v1/balance", get_own_balance)
    app.router.add_post("/v1/aliases", post_alias)
    app.router.add_delete("/v1/aliases/{alias}", delete_alias)
    app.router.add_post("/admin/participants", post_participant)
    app.router.add_post("/admin/liquidity", post_liquidity)
    app.router.add_get("/admin/balances", get_balances)
    app.router.add_get("/metrics", get_metrics)
    app.router.add_get("/healthz", get_healthz)
    app.router.add_get("/openapi.json", get_openapi)
    return app
