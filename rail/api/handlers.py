"""What each route does, over plain values: an admitted Request in (rail/api/http_types.py), a Response out.

A handler never authenticates (the route table's `head()` did, from the head alone) and never sees a transport:
the HTTP listener, the in-process transport and an edge's hand-off all reach these same functions. Errors a
client can mend are raised as `Refusal` (a JSON `{"error", "detail"}` answer); the settlement core's
Overloaded/CoreStopped become 503 with Retry-After in rail/api/routes.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import parse_qsl

import orjson

from rail.api.http_types import JSON_CONTENT_TYPE, ConstantHeaders, Request, Response, error_response
from rail.api.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from rail.api.outbox import WAIT_S_MAX
from rail.api.payment_list import parse_query
from rail.api.replies import Reply
from rail.api.service import RailService
from rail.iso20022 import bic_is_valid, canonical_bic
from rail.settlement.delivery import INBOX_FETCH_MAX

BODY_BYTES_MAX = 1 << 20  # one ISO 20022 message; the codec refuses bigger bodies too
JSON_BODY_BYTES_MAX = 64 * 1024  # admin and ack bodies are tiny
INBOX_MAX_DEFAULT = 100
ACK_DIGITS_MAX = 19  # an inbox sequence number fits in a signed 64-bit integer
_PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*\"?(\d+(?:\.\d+)?)\"?", re.IGNORECASE)
# Content-Type of an ISO 20022 answer, by media type (with the charset the rail writes in).
_ISO_CONTENT_TYPES = {"application/xml": "application/xml; charset=utf-8",
                      "application/json": "application/json; charset=utf-8"}  # fmt: skip
# The headers of nearly every answer, shared: no dict built per answer, and a transport renders them once.
_JSON_HEADERS = ConstantHeaders({"Content-Type": JSON_CONTENT_TYPE})
_ISO_HEADERS = {media: ConstantHeaders({"Content-Type": value}) for media, value in _ISO_CONTENT_TYPES.items()}


class Refusal(Exception):
    """A request the rail answers with a JSON error (`{"error": code, "detail": ...}`)."""

    def __init__(self, status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers

    def response(self) -> Response:
        return error_response(self.status, self.code, self.detail, self.headers)


def json_response(data: object, status: int = 200) -> Response:
    return Response(status, _JSON_HEADERS, orjson.dumps(data))


def reply_response(reply: Reply) -> Response:
    """An ISO 20022 answer (rail/api/replies.py's Reply) as a Response."""
    if not reply.headers:
        headers = _ISO_HEADERS.get(reply.content_type)
        if headers is not None:
            return Response(reply.status, headers, reply.body)
    content_type = _ISO_CONTENT_TYPES.get(reply.content_type, reply.content_type)
    return Response(reply.status, {"Content-Type": content_type, **reply.headers}, reply.body)


def prefer_wait_s(prefer: str | None) -> float | None:
    """Seconds of an RFC 7240 `Prefer: wait=N` header (capped at WAIT_S_MAX); None when absent."""
    if not prefer:
        return None
    match = _PREFER_WAIT.search(prefer)
    return min(float(match.group(1)), WAIT_S_MAX) if match else None


def query_values(query: str) -> dict[str, str]:
    """Query parameters, the first value of each."""
    values: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        values.setdefault(name, value)
    return values


def _float_arg(query: Mapping[str, str], name: str, default: float, high: float) -> float:
    try:
        value = float(query.get(name, default))
    except ValueError:
        raise Refusal(400, "bad_query", f"{name} must be a number") from None
    return max(0.0, min(value, high))


def _json_body(request: Request) -> dict:
    try:
        data = orjson.loads(request.body)
    except orjson.JSONDecodeError as exc:
        raise Refusal(400, "bad_json", f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise Refusal(400, "bad_json", "body must be a JSON object")
    return data


def _participant(request: Request) -> str:
    bic = request.admit.participant
    assert bic is not None, "a participant route is admitted with its participant"
    return bic


# ---- participant routes ---------------------------------------------------------------------------------------


async def post_message(rail: RailService, request: Request) -> Response:
    headers = request.head.headers
    wait_s = prefer_wait_s(headers.get("prefer"))
    reply = await rail.submit(_participant(request), request.body, headers.get("content-type", ""), wait_s)
    return reply_response(reply)


async def get_inbox(rail: RailService, request: Request) -> Response:
    """GET /v1/inbox: query checks, the optional acknowledgement, then the page."""
    bic, query = _participant(request), query_values(request.head.query)
    wait_s = _float_arg(query, "wait", 0.0, WAIT_S_MAX)
    max_n = int(_float_arg(query, "max", INBOX_MAX_DEFAULT, INBOX_FETCH_MAX)) or 1
    rendering = query.get("rendering")
    if rendering not in (None, "xml", "json"):
        raise Refusal(400, "bad_query", "rendering must be xml or json")
    ack = query.get("ack")
    if ack is not None:
        # `ack=SEQ` acknowledges the previous page in the same request as the next poll (the same journaled
        # acknowledgement as POST /v1/inbox/ack, applied before the page is read): a polling participant makes
        # one request per page instead of two. The page's `acked_upto` shows the rail honoured it.
        if not (ack.isascii() and ack.isdigit()) or len(ack) > ACK_DIGITS_MAX:
            raise Refusal(400, "bad_ack", "ack must be a non-negative integer sequence number")
        await rail.ack(bic, int(ack))
    return json_response(await rail.inbox(bic, wait_s, max_n, rendering))


async def post_ack(rail: RailService, request: Request) -> Response:
    data = _json_body(request)
    try:
        acked_upto = await rail.ack(_participant(request), data.get("upto"))
    except ValueError as exc:
        raise Refusal(400, "bad_ack", str(exc)) from None
    return json_response({"acked_upto": acked_upto})


async def get_payment(rail: RailService, request: Request) -> Response:
    view = await rail.payment(_participant(request), request.admit.params["uetr"])
    if view is None:
        raise Refusal(404, "not_found", "no such payment among this participant's payments")
    return json_response(view)


def _viewer(request: Request) -> str | None:
    """Who reads on a route either token may call: a participant's BIC, or None for the operator."""
    return None if request.admit.operator else _participant(request)


async def get_payments(rail: RailService, request: Request) -> Response:
    try:
        query = parse_query(query_values(request.head.query), rail.identity.known_bics)
    except ValueError as exc:
        raise Refusal(400, "bad_query", str(exc)) from None
    return json_response(await rail.payment_list.page(_viewer(request), query))


async def get_payment_messages(rail: RailService, request: Request) -> Response:
    view = await rail.traces.payment(request.admit.params["uetr"].lower(), _viewer(request))
    if view is None:
        raise Refusal(404, "not_found", "no such payment, and no message about it, among what you may see")
    return json_response(view)


async def get_unmatched(rail: RailService, request: Request) -> Response:
    viewer = _viewer(request)
    wanted = query_values(request.head.query).get("bic")
    if viewer is not None:
        bics = [viewer]
    elif wanted:
        bic = canonical_bic(wanted.upper()) if bic_is_valid(wanted.upper()) else None
        if bic is None or not rail.identity.is_participant(bic):
            raise Refusal(400, "bad_query", "bic must be the BIC of a participant of this rail")
        bics = [bic]
    else:
        bics = rail.identity.participants
    return json_response(await rail.traces.unmatched(bics))


async def post_webhook_secret(rail: RailService, request: Request) -> Response:
    data = _json_body(request) if request.body.strip() else {}
    try:
        return json_response(await rail.admin.webhooks.rotate(_participant(request), data.get("grace_s")))
    except ValueError as exc:
        raise Refusal(422, "bad_rotation", str(exc)) from None


async def post_webhook_test(rail: RailService, request: Request) -> Response:
    try:
        return json_response(await rail.admin.webhooks.test(_participant(request)))
    except LookupError as exc:
        raise Refusal(409, "no_webhook", str(exc)) from None


async def get_webhook_deliveries(rail: RailService, request: Request) -> Response:
    return json_response({"deliveries": rail.admin.webhooks.deliveries(_participant(request))})


async def get_own_balance(rail: RailService, request: Request) -> Response:
    return json_response(await rail.accounts.balance(_participant(request)))


async def post_alias(rail: RailService, request: Request) -> Response:
    data = _json_body(request)
    result = await rail.register_alias(
        _participant(request), data.get("alias"), data.get("iban"), data.get("name") or ""
    )
    return json_response(result, 201 if result["ok"] else 422)


async def delete_alias(rail: RailService, request: Request) -> Response:
    result = await rail.delete_alias(_participant(request), request.admit.params["alias"])
    return json_response(result, 200 if result["ok"] else (404 if result.get("reason") == "AC01" else 422))


# ---- admin routes ---------------------------------------------------------------------------------------------


async def post_participant(rail: RailService, request: Request) -> Response:
    data = _json_body(request)
    try:
        token, secret = await rail.admin.add_participant(
            data.get("bic"),
            data.get("name") or "",
            data.get("callback_url"),
            data.get("requests_per_s"),
            data.get("requests_burst"),
        )
    except ValueError as exc:
        raise Refusal(422, "bad_participant", str(exc)) from None
    answer = {"bic": canonical_bic(data["bic"]), "token": token, "webhook_secret": secret}  # as registered: the 8-character BIC
    return json_response(answer, 201)


async def post_liquidity(rail: RailService, request: Request) -> Response:
    data = _json_body(request)
    try:
        result = await rail.liquidity(data.get("bic"), data.get("amount"), data.get("direction"))
    except ValueError as exc:
        raise Refusal(422, "bad_liquidity", str(exc)) from None
    return json_response(result, 200 if result["ok"] else 422)


async def post_redeliver(rail: RailService, request: Request) -> Response:
    data = _json_body(request)
    try:
        result = await rail.redeliver(data.get("uetr"))
    except ValueError as exc:
        raise Refusal(422, "bad_redelivery", str(exc)) from None
    return json_response(result, 200 if result["ok"] else (404 if result["reason"] == "NOOR" else 422))


async def get_balances(rail: RailService, request: Request) -> Response:
    return json_response(await rail.balances())


async def post_reset(rail: RailService, request: Request) -> Response:
    try:
        return json_response(await rail.admin.reset(_json_body(request)))
    except ValueError as exc:
        raise Refusal(422, "bad_reset", str(exc)) from None
    except RuntimeError as exc:
        raise Refusal(409, "payments_in_flight", str(exc), {"Retry-After": "5"}) from None


async def get_overview(rail: RailService, request: Request) -> Response:
    return json_response(await rail.overview.view())


async def get_participants(rail: RailService, request: Request) -> Response:
    return json_response(await rail.admin.participants())


async def post_behaviour(rail: RailService, request: Request) -> Response:
    data = _json_body(request)
    try:
        return json_response(rail.admin.set_behaviour(request.admit.params["bic"], data))
    except LookupError as exc:
        raise Refusal(404, "not_found", str(exc)) from None
    except ValueError as exc:
        raise Refusal(422, "bad_behaviour", str(exc)) from None


# ---- operations -----------------------------------------------------------------------------------------------


async def get_metrics(rail: RailService, request: Request) -> Response:
    metrics, health = rail.metrics, rail.core.health()
    metrics.core_queue_depth.set(health.queue_depth)
    metrics.payments_retained.labels("whole").set(health.payments_whole)
    metrics.payments_retained.labels("packed").set(health.payments_packed)
    metrics.payments_forgotten.set(health.payments_forgotten)
    metrics.traces.labels("written").set(rail.tracer.written)
    metrics.traces.labels("dropped").set(rail.tracer.dropped)
    return Response(200, {"Content-Type": METRICS_CONTENT_TYPE}, metrics.exposition())


async def get_healthz(rail: RailService, request: Request) -> Response:
    health = rail.core.health()
    view = {"ok": health.serving, "journal_seq": health.journal_seq, "queue_depth": health.queue_depth}
    return json_response(view, 200 if health.serving else 503)
