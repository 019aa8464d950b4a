"""The seam between transports and the API: plain request and response values, and the two calls an
application answers.

Every transport (the HTTP listener in rail/api/listener.py, the in-process transport, an edge worker's hand-off
to the core) drives the same application object the same way, as httpx's transports drive one client:

    decision = app.head(RequestHead(method, path, query, headers))   # before a single body byte is read
    if isinstance(decision, Response):  answer it; the body is never buffered (discarded, or the connection
                                        closed)
    elif body longer than decision.body_bytes_max:  answer app.body_too_large(head, decision)
    else:  answer await app.handle(Request(head, body, decision))

`respond()` below is that sequence for a transport that holds the whole body at once; the listener runs the
same steps with the body still on the wire, so authentication, the route and the route's body limit are all
decided from the head alone.

The values are msgspec structs: cheap to build on the hot path, and encodable as they are (msgpack) for a
hand-off between processes.

What a transport owns and an application never sees or sets: framing and connection management. Request
headers arrive without the hop-by-hop and framing fields (Connection, Keep-Alive, Content-Length,
Transfer-Encoding, Expect, Upgrade, TE, Trailer, Proxy-Connection); a Response's Content-Length, Date,
Connection and Transfer-Encoding are the transport's to write (an application's are ignored). A HEAD request
reaches the application as method "HEAD": answer it as the GET, the transport sends no body.
"""

from __future__ import annotations

import logging
from typing import Protocol

import msgspec
import orjson

log = logging.getLogger(__name__)

JSON_CONTENT_TYPE = "application/json"


class ConstantHeaders(dict[str, str]):
    """Response headers shared by many answers (one Content-Type, say): never changed once made, so a transport
    may render them once and find them again by identity (rail/api/http_wire.py)."""

    __slots__ = ()

    def _refuse(self, *args: object, **kwargs: object) -> None:
        raise TypeError("ConstantHeaders never change: copy them into a dict of your own")

    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _refuse  # type: ignore


class RequestHead(msgspec.Struct, frozen=True):
    """A request before its body: everything `head()` decides from."""

    method: str  # upper case as sent: "GET", "POST", "HEAD"
    path: str  # as sent, still percent-encoded: decode a path parameter after the route matched, not before
    query: str  # after "?", still percent-encoded; "" when there is none
    # End-to-end headers by lower-case name, values as sent (latin-1); a repeated header's values joined with
    # ", " (RFC 9110 5.3), so a doubled Authorization never authenticates.
    headers: dict[str, str] = {}


class Admit(msgspec.Struct, frozen=True):
    """`head()`'s yes: read the body (up to `body_bytes_max`), then call `handle()` with what was decided here,
    so the route is looked up and the caller authenticated once."""

    route: str  # the route template ("/v1/payments/{uetr}"): a bounded label, for dispatch and metrics
    body_bytes_max: int  # this route's body limit; a longer body gets body_too_large() and is never buffered
    participant: str | None = None  # who the application authenticated (a BIC), None on a public route
    params: dict[str, str] = {}  # path parameters of the route template, percent-decoded
    operator: bool = False  # the operator's token (an admin route, or the operator on a route either may call)


class Request(msgspec.Struct, frozen=True):
    """An admitted request with its whole body."""

    head: RequestHead
    body: bytes
    admit: Admit


class Response(msgspec.Struct, frozen=True):
    """An answer. Content-Type and any other end-to-end header go in `headers` (names as they should appear)."""

    status: int
    headers: dict[str, str] = {}
    body: bytes = b""


class HttpApplication(Protocol):
    """What a transport calls. `head` runs on the transport's own stack as soon as a request's headers are
    complete: it must not block or await (an application that cannot decide yet, e.g. an edge meeting a token
    it has not learnt, admits and decides in `handle`). An exception from either call is answered 500."""

    def head(self, head: RequestHead) -> Admit | Response:
        """Admit the request (route, caller, body limit), or answer it now without its body."""
        ...

    async def handle(self, request: Request) -> Response:
        """Answer an admitted request with its body."""
        ...

    def body_too_large(self, head: RequestHead, admit: Admit) -> Response:
        """The answer to an admitted request whose body is longer than `admit.body_bytes_max` (the rail answers
        POST /v1/messages with an admi.002 in the message's own rendering, other routes with JSON)."""
        ...


def error_response(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> Response:
    """The house error answer: `{"error": code, "detail": detail}` as JSON."""
    all_headers = {"Content-Type": JSON_CONTENT_TYPE}
    if headers:
        all_headers.update(headers)
    return Response(status, all_headers, orjson.dumps({"error": code, "detail": detail}))


def internal_error(head: RequestHead) -> Response:
    """The answer when the application raised: logged here with its traceback, which never reaches a client."""
    log.exception("unexpected error on %s %s", head.method, head.path)
    return error_response(500, "internal", "the rail could not process this request; it has been logged")


async def respond(app: HttpApplication, head: RequestHead, body: bytes) -> Response:
    """One exchange for a transport that holds the whole body (in-process, an edge hand-off): the same steps,
    in the same order, with the same 500 for an exception, as the listener takes with the body on the wire."""
    try:
        decision = app.head(head)
        if isinstance(decision, Response):
            return decision
        if len(body) > decision.body_bytes_max:
            return app.body_too_large(head, decision)
        return await app.handle(Request(head, body, decision))
    except Exception:  # noqa: BLE001 - the application's bug: a logged 500, as the listener answers it
        return internal_error(head)
