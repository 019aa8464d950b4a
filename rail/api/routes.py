"""The API layer's one route table, and the application every transport drives (rail/api/http_types.py's
HttpApplication): the HTTP listener, the in-process transport (participants/transport.py) and an edge worker's
hand-off to the core (rail/cluster/edge_core.py) all call `head()` then `handle()` on a RailApi.

Each route is one row: method, path template, who may call it, its body limit, its handler (rail/api/handlers.py),
its OpenAPI operation (rail/api/openapi.py builds the document from this table) and its metrics label (the path
template: a bounded label set). `head()` decides from a request's head alone, before a body byte is read: the
route (404, 405), the caller (401; a participant's request rate limit, 429) and the body limit; `handle()` runs the
handler. Nothing here knows a socket.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from urllib.parse import unquote

import orjson

from rail import iso20022
from rail.api import handlers, renderings, web
from rail.api.auth import bearer_token, why_unauthenticated
from rail.api.handlers import BODY_BYTES_MAX, JSON_BODY_BYTES_MAX, Refusal, reply_response
from rail.api.http_types import Admit, Request, RequestHead, Response, error_response
from rail.api.identity import retry_after
from rail.api.openapi import MESSAGE_ANSWERS, Operation
from rail.api.openapi import openapi_document as _document
from rail.api.outbox import WAIT_S_MAX
from rail.api.payment_list import LIMIT_MAX
from rail.api.service import RailService
from rail.settlement.core import CoreStopped, Overloaded
from rail.settlement.delivery import INBOX_FETCH_MAX

Handler = Callable[[RailService, Request], Awaitable[Response]]
OPERATOR = "(operator)"  # the trusted in-process caller acting as the operator (never a BIC: has parentheses)


class Auth(StrEnum):
    """Who may call a route."""

    PUBLIC = "public"
    PARTICIPANT = "participant"  # a participant's bearer token; acts as that participant only
    ADMIN = "admin"  # the operator's token
    # Either token: the operator sees everything, a participant only its own (reads the workbench page shares
    # between both sign-ins, e.g. GET /v1/payments): the handler reads `Admit.operator`.
    EITHER = "either"


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str  # template: "/v1/payments/{uetr}/messages"; a parameter is one path segment, at most one a path
    auth: Auth
    body_bytes_max: int  # 0: the route takes no body
    handler: Handler
    operation: Operation

    @property
    def metrics_label(self) -> str:
        return self.path


_UUID = {"type": "string", "format": "uuid"}
_BIC_PARAM = {"type": "string", "example": "MEZNPKKA"}
_PREFER = {
    "name": "Prefer", "in": "header", "required": False, "schema": {"type": "string"}, "example": "wait=15",
    "description": f"RFC 7240: hold a pacs.008's answer until its final status (ACSC or RJCT), at most "
                   f"{WAIT_S_MAX:g} s; answered with Preference-Applied",
}  # fmt: skip
_INBOX_QUERY = (
    {"name": "wait", "in": "query", "schema": {"type": "number", "minimum": 0, "maximum": WAIT_S_MAX},
     "description": f"seconds to wait for a message when none waits (capped at {WAIT_S_MAX:g})"},
    {"name": "max", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": INBOX_FETCH_MAX}},
    {"name": "rendering", "in": "query", "schema": {"type": "string", "enum": ["xml", "json"]},
     "description": "default: the rendering of the participant's last payment"},
    {"name": "ack", "in": "query", "schema": {"type": "integer", "format": "int64", "minimum": 0},
     "description": "first acknowledge every message up to this seq, as POST /v1/inbox/ack would"},
)  # fmt: skip


_LIST_QUERY = (
    {"name": "status", "in": "query", "schema": {"type": "string"}, "example": "RJCT,ACTC",
     "description": "comma-separated TxSts: ACTC (in flight), ACSC, RJCT, or a creditor's answer (ACSP...)"},
    {"name": "counterparty", "in": "query", "schema": {"type": "string"}, "description": "a participant's BIC"},
    {"name": "reason", "in": "query", "schema": {"type": "string"}, "example": "AB05"},
    {"name": "since", "in": "query", "schema": {"type": "string", "format": "date-time"}},
    {"name": "until", "in": "query", "schema": {"type": "string", "format": "date-time"}},
    {"name": "q", "in": "query", "schema": {"type": "string", "maxLength": 64},
     "description": "a UETR, or a prefix of a UETR or EndToEndId"},
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": LIMIT_MAX}},
    {"name": "cursor", "in": "query", "schema": {"type": "string"}, "description": "next_cursor, as it came"},
)  # fmt: skip


def _web_answers(media: str, text: str) -> dict[str, object]:
    ok = {"description": f"{text} (304 without a body when If-None-Match names its ETag)",
          "content": {media: {"schema": {"type": "string"}}}}
    return {"200": ok, "404": None}


async def _get_openapi(rail: RailService, request: Request) -> Response:
    return Response(200, {"Content-Type": "application/json"}, openapi_json())


P, A, PUBLIC, EITHER = Auth.PARTICIPANT, Auth.ADMIN, Auth.PUBLIC, Auth.EITHER
J = JSON_BODY_BYTES_MAX
ROUTES: tuple[Route, ...] = (
    Route("POST", "/v1/messages", P, BODY_BYTES_MAX, handlers.post_message, Operation(
        "submitMessage", "Submit one ISO 20022 message (XML or JSON)", MESSAGE_ANSWERS, (_PREFER,), "iso")),
    Route("GET", "/v1/inbox", P, 0, handlers.get_inbox, Operation(
        "readInbox", "Long-poll the participant's inbox",
        {"200": ("the waiting messages, in order", "InboxPage"), "400": None}, _INBOX_QUERY)),
    Route("POST", "/v1/inbox/ack", P, J, handlers.post_ack, Operation(
        "acknowledgeInbox", "Acknowledge inbox messages up to a sequence (inclusive)",
        {"200": ("the sequence actually acknowledged", "AckResult")}, (), "Ack")),
    Route("GET", "/v1/payments", EITHER, 0, handlers.get_payments, Operation(
        "listPayments", "Payments newest first, filtered and paged (a participant: its own; the admin: all)",
        {"200": ("a page of payments; follow next_cursor until it is null", "PaymentList"),
         "400": ("a bad filter or cursor (the detail names it)", None)}, _LIST_QUERY)),
    Route("GET", "/v1/payments/{uetr}", P, 0, handlers.get_payment, Operation(
        "getPayment", "A payment's status and history (its two agents only)",
        {"200": ("the payment", "Payment"), "404": None},
        ({"name": "uetr", "in": "path", "required": True, "schema": _UUID},))),
    Route("GET", "/v1/payments/{uetr}/messages", EITHER, 0, handlers.get_payment_messages, Operation(
        "getPaymentMessages", "Every message in and out of the rail about a payment (a participant: its own side)",
        {"200": ("the messages, oldest first, and the reason explained", "PaymentMessages"),
         "404": ("neither the payment nor a message about it is visible to the caller", None)},
        ({"name": "uetr", "in": "path", "required": True, "schema": {"type": "string"}},))),
    Route("GET", "/v1/traces/unmatched", EITHER, 0, handlers.get_unmatched, Operation(
        "getUnmatchedMessages", "Messages refused before a UETR could be read from them, newest first",
        {"200": ("the last ones per participant, each with the rail's answer", "UnmatchedMessages"),
         "400": ("bic is not a participant's", None)},
        ({"name": "bic", "in": "query", "schema": _BIC_PARAM,
          "description": "the admin: one participant's (default: all)"},))),
    Route("POST", "/v1/webhook/secret", P, J, handlers.post_webhook_secret, Operation(
        "rotateWebhookSecret", "A new webhook signing secret (shown once); the old one signs on for grace_s",
        {"200": ("the new secret", "WebhookSecret"), "422": ("grace_s out of range", None)}, (),
        "SecretRotation")),
    Route("POST", "/v1/webhook/test", P, J, handlers.post_webhook_test, Operation(
        "testWebhook", "Send a signed test event to the participant's callback_url now",
        {"200": ("how the delivery went", "WebhookTestResult"), "409": ("no callback_url registered", None)})),
    Route("GET", "/v1/webhook/deliveries", P, 0, handlers.get_webhook_deliveries, Operation(
        "getWebhookDeliveries", "The participant's last webhook deliveries, newest first",
        {"200": ("the delivery log", "WebhookDeliveries")})),
    Route("GET", "/v1/balance", P, 0, handlers.get_own_balance, Operation(
        "getOwnBalance", "The participant's own settlement account", {"200": ("the balance", "OwnBalance")})),
    Route("POST", "/v1/aliases", P, J, handlers.post_alias, Operation(
        "registerAlias", "Link (or move) a Raast ID to one of the participant's IBANs",
        {"201": ("linked", "AliasResult"),
         "422": ("refused, e.g. DUPL: linked at another participant", "AliasResult")}, (), "NewAlias")),
    Route("DELETE", "/v1/aliases/{alias}", P, 0, handlers.delete_alias, Operation(
        "deleteAlias", "De-link a Raast ID",
        {"200": ("de-linked", "AliasResult"), "404": ("unknown alias", "AliasResult"),
         "422": ("linked at another participant", "AliasResult")},
        ({"name": "alias", "in": "path", "required": True, "schema": {"type": "string"}},))),
    Route("POST", "/admin/participants", A, J, handlers.post_participant, Operation(
        "addParticipant", "Add a participant (or issue a fresh token for one)",
        {"201": ("its token, shown once", "ParticipantToken"), "422": None}, (), "NewParticipant")),
    Route("POST", "/admin/liquidity", A, J, handlers.post_liquidity, Operation(
        "moveLiquidity", "Move central-bank money into or out of a settlement account",
        {"200": ("moved", "LiquidityResult"), "422": ("refused (AM04, RC01 ...)", "LiquidityResult")}, (),
        "LiquidityMove")),
    Route("GET", "/admin/participants", A, 0, handlers.get_participants, Operation(
        "listParticipants", "Every participant: settlement account, simulated bank and its behaviour, webhook",
        {"200": ("the participants in BIC order (not the central bank)", "ParticipantList")})),
    Route("POST", "/admin/participants/{bic}/behaviour", A, J, handlers.post_behaviour, Operation(
        "setBehaviour", "Make a simulated bank misbehave for a while: down, slow, or reject with a code",
        {"200": ("its behaviour now", "Behaviour"), "404": ("no such participant", None),
         "422": ("not a simulated bank of this rail, or a bad field", None)},
        ({"name": "bic", "in": "path", "required": True, "schema": _BIC_PARAM},), "NewBehaviour")),
    Route("POST", "/admin/reset", A, J, handlers.post_reset, Operation(
        "resetSandbox", "The sandbox back to the default scheme (docs/sandbox.md: what it keeps, what it discards)",
        {"200": ("reset; what it discarded", "ResetResult"),
         "409": ("payments are in flight: retry when they are final", None),
         "422": ("not confirmed (confirm: RESET) or a bad field", None)}, (), "Reset")),
    Route("GET", "/admin/overview", A, 0, handlers.get_overview, Operation(
        "getOverview", "The rail live: throughput, accepted-to-final latency, queue, in flight, balances",
        {"200": ("from the rail's own metrics and books", "Overview")})),
    Route("GET", "/admin/balances", A, 0, handlers.get_balances, Operation(
        "getBalances", "Every settlement account and the conservation check", {"200": ("balances", "Balances")})),
    Route("POST", "/admin/redeliver", A, J, handlers.post_redeliver, Operation(
        "redeliverPayment",
        "Deliver a forwarded pacs.008 to its creditor agent once more (sandbox: test duplicate handling)",
        {"200": ("put in the creditor agent's inbox again", "RedeliveryResult"),
         "404": ("no such forwarded payment", "RedeliveryResult"),
         "422": ("refused (the creditor's inbox is full: AB08)", "RedeliveryResult")}, (), "Redelivery")),
    Route("GET", "/metrics", PUBLIC, 0, handlers.get_metrics, Operation(
        "getMetrics", "Prometheus metrics",
        {"200": {"description": "Prometheus text exposition format",
                 "content": {"text/plain": {"schema": {"type": "string"}}}}})),
    Route("GET", "/healthz", PUBLIC, 0, handlers.get_healthz, Operation(
        "getHealth", "Liveness", {"200": ("running", "Health"), "503": ("not running", "Health")})),
    Route("GET", "/openapi.json", PUBLIC, 0, _get_openapi, Operation(
        "getOpenApi", "This document",
        {"200": {"description": "OpenAPI 3", "content": {"application/json": {"schema": {"type": "object"}}}}})),
    Route("POST", "/v1/render", EITHER, BODY_BYTES_MAX, renderings.post_render, Operation(
        "renderMessage", "One ISO 20022 message in both renderings, XML and JSON, by the rail's own lossless "
        "converter (what the workbench shows side by side); nothing is sent or kept",
        {"200": {"description": "both renderings, indented for reading",
                 "content": {"application/json": {"schema": renderings.RENDERINGS_SCHEMA}}},
         "422": ("not a message the rail can read: the reason code and element, as an admi.002 would say", "Error")},
        (), "iso")),
    Route("GET", "/", PUBLIC, 0, web.get_page, Operation(
        "getWorkbench", "The sandbox workbench: a web page to watch payments, their messages and the scheme "
        "(docs/workbench.md); sign in on it with the admin token or a participant's",
        _web_answers("text/html", "the page"))),
    Route("GET", "/web/{file}", PUBLIC, 0, web.get_file, Operation(
        "getWorkbenchFile", "One of the workbench page's files (an ES module, its stylesheet)",
        _web_answers("text/javascript", "the file"),
        ({"name": "file", "in": "path", "required": True, "schema": {"type": "string"}},))),
)  # fmt: skip


@cache
def openapi_document() -> dict:
    """The OpenAPI document of the rail's route table."""
    return _document(ROUTES)


@cache
def openapi_json() -> bytes:
    return orjson.dumps(openapi_document())


class RouteTable:
    """Routes by method and path: exact paths in a dict (the hot path: one lookup), templates (one parameter, a
    whole segment) by their text before and after it."""

    def __init__(self, routes: tuple[Route, ...]) -> None:
        self.routes = routes
        self._exact: dict[str, dict[str, Route]] = {}
        # (prefix, parameter name, suffix, routes by method), longest suffix first
        self._templated: list[tuple[str, str, str, dict[str, Route]]] = []
        self._by_template: dict[tuple[str, str], Route] = {}
        for route in routes:
            self._by_template[(route.method, route.path)] = route
            if "{" in route.path:
                prefix, _, rest = route.path.partition("{")
                name, _, suffix = rest.partition("}")
                entry = next((e for e in self._templated if e[0] == prefix and e[2] == suffix), None)
                if entry is None:
                    entry = (prefix, name, suffix, {})
                    self._templated.append(entry)
                entry[3][route.method] = route
            else:
                self._exact.setdefault(route.path, {})[route.method] = route
        self._templated.sort(key=lambda entry: -len(entry[2]))

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | Response:
        """The route of a request and its path parameters, or the 404/405 answer."""
        method = "GET" if method == "HEAD" else method
        params: dict[str, str] = {}
        by_method = self._exact.get(path)
        if by_method is None:
            for prefix, name, suffix, candidates in self._templated:
                if not (path.startswith(prefix) and path.endswith(suffix)):
                    continue
                value = path[len(prefix) : len(path) - len(suffix)]
                if value and "/" not in value:
                    by_method, params = candidates, {name: unquote(value)}
                    break
            else:
                return error_response(404, "not_found", f"no route {path} (GET /openapi.json lists them)")
        route = by_method.get(method)
        if route is None:
            allowed = ", ".join(sorted(by_method))
            return error_response(405, "method_not_allowed", f"{path} takes {allowed}", {"Allow": allowed})
        return route, params

    def route_of(self, method: str, template: str) -> Route:
        return self._by_template[("GET" if method == "HEAD" else method, template)]

    def label_of(self, method: str, path: str) -> str:
        """The metrics label of a request: its route template, or "other" (a bounded label set)."""
        found = self.match(method, path)
        return found[0].metrics_label if isinstance(found, tuple) else "other"


TABLE = RouteTable(ROUTES)


class RailApi:
    """The rail's HttpApplication over a RailService: the route table applied to plain request values."""

    def __init__(self, rail: RailService, table: RouteTable = TABLE) -> None:
        self.rail = rail
        self.table = table
        self.scheme = rail.scheme
        # The struct lane of an in-process participant (participants/transport.py's InProcessRail): messages it
        # built itself go to dispatch as structs (traced by the service), its inbox is read (and acknowledged) as
        # plain values. Bound here, not wrapped: the sandbox's hot path pays no extra call.
        self.dispatch = rail.dispatch
        self.inbox_structs = rail.outbox.inbox_structs
        self.ack_inbox = rail.outbox.ack

    def head(self, head: RequestHead) -> Admit | Response:
        return self.admit(head, None)

    def admit(self, head: RequestHead, caller: str | None) -> Admit | Response:
        """Route, caller and body limit of a request. `caller`: None to authenticate its Authorization header;
        a BIC or OPERATOR for a trusted in-process caller (`as_caller`)."""
        found = self.table.match(head.method, head.path)
        if isinstance(found, Response):
            self._count("other", found.status)
            return found
        route, params = found
        participant = None
        refusal = None
        operator = False
        if route.auth == Auth.PARTICIPANT:
            participant, refusal = self._participant(head, caller)
        elif route.auth == Auth.ADMIN and not self._is_operator(head, caller):
            refusal = self._unauthenticated(head, "admin")
        elif route.auth == Auth.EITHER:
            operator = self._is_operator(head, caller)
            if not operator:
                participant, refusal = self._participant(head, caller, "either")
        if refusal is not None:
            self._count(route.metrics_label, refusal.status)
            return refusal
        operator = operator or route.auth == Auth.ADMIN
        return Admit(route.path, route.body_bytes_max, participant, params, operator)

    def _participant(
        self, head: RequestHead, caller: str | None, wanted: str = "participant"
    ) -> tuple[str | None, Response | None]:
        identity = self.rail.identity
        bic = (
            identity.authenticate(bearer_token(head.headers.get("authorization", "")))
            if caller is None
            else caller
        )
        if bic is None or bic == OPERATOR:
            return None, self._unauthenticated(head, wanted)
        wait_s = identity.rate_limit(bic)
        if wait_s:
            refusal = error_response(
                429, "rate_limited", "request rate limit reached", {"Retry-After": retry_after(wait_s)}
            )
            return None, refusal
        return bic, None

    def _is_operator(self, head: RequestHead, caller: str | None) -> bool:
        if caller is not None:
            return caller == OPERATOR
        return self.rail.identity.is_admin(bearer_token(head.headers.get("authorization", "")))

    def _unauthenticated(self, head: RequestHead, wanted: str) -> Response:
        """401, saying which of: no header, not Bearer, the other kind of token, an unknown token."""
        identity = self.rail.identity
        why = why_unauthenticated(
            head.headers.get("authorization", ""),
            wanted=wanted,
            is_admin=identity.is_admin,
            is_participant=lambda token: identity.authenticate(token) is not None,
        )
        realm = "rail-admin" if wanted == "admin" else "rail"
        return error_response(401, "unauthenticated", why, {"WWW-Authenticate": f'Bearer realm="{realm}"'})

    async def handle(self, request: Request) -> Response:
        route = self.table.route_of(request.head.method, request.admit.route)
        try:
            response = await route.handler(self.rail, request)
        except Refusal as refusal:
            response = refusal.response()
        except (CoreStopped, Overloaded) as error:
            response = unavailable(error)
        self._count(route.metrics_label, response.status)
        return response

    def body_too_large(self, head: RequestHead, admit: Admit) -> Response:
        self._count(admit.route, 413)
        if admit.route == "/v1/messages":  # the message's own rendering: an admi.002
            rendering = iso20022.rendering_of(head.headers.get("content-type", ""), default=iso20022.XML)
            return reply_response(self.rail.replies.too_large(rendering, admit.body_bytes_max))
        if admit.body_bytes_max == 0:
            return error_response(413, "too_large", f"{admit.route} takes no request body")
        return error_response(413, "too_large", f"JSON body above {admit.body_bytes_max} bytes")

    def _count(self, label: str, status: int) -> None:
        self.rail.metrics.requests.inc((label, str(status)))

    def as_caller(self, caller: str) -> TrustedCaller:
        """This application for a caller in this process, trusted as `caller` (a BIC, or OPERATOR) without a
        token: what the in-process transport drives (whoever holds the RailService runs the rail)."""
        return TrustedCaller(self, caller)


class TrustedCaller:
    """A RailApi admitting every request as one trusted caller (an HttpApplication)."""

    def __init__(self, api: RailApi, caller: str) -> None:
        self.api = api
        self.caller = caller

    def head(self, head: RequestHead) -> Admit | Response:
        return self.api.admit(head, self.caller)

    async def handle(self, request: Request) -> Response:
        return await self.api.handle(request)

    def body_too_large(self, head: RequestHead, admit: Admit) -> Response:
        return self.api.body_too_large(head, admit)


def unavailable(error: CoreStopped | Overloaded) -> Response:
    """503 for any route when the core sheds load or has stopped (e.g. its journal failed): never a 500."""
    if isinstance(error, Overloaded):
        return error_response(
            503, "overloaded", "the rail is overloaded; retry in a second", {"Retry-After": "1"}
        )
    detail = "the rail is not accepting work (stopping, or its journal failed); retry later"
    return error_response(503, "unavailable", detail, {"Retry-After": "5"})


__all__ = [
    "OPERATOR",
    "ROUTES",
    "TABLE",
    "Auth",
    "RailApi",
    "Route",
    "RouteTable",
    "TrustedCaller",
    "openapi_document",
]
