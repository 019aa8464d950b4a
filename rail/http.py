"""The sandbox endpoint: aiohttp handlers as thin wrappers over RailService.

Handlers only do transport work: authentication, body limit, rate limit (429 Retry-After), content negotiation,
`Prefer: wait=N` (RFC 7240, answered with Preference-Applied), JSON framing. Every decision about a payment is
made behind RailService (rail/service.py), the same code path the in-process participants use.
"""

from __future__ import annotations

import logging
import re

import orjson
from aiohttp import web

from rail.core import journal_last_seq
from rail.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from rail.service import WAIT_S_MAX, RailService, Reply

log = logging.getLogger(__name__)

BODY_BYTES_MAX = 1 << 20  # one ISO 20022 message; the codec refuses bigger bodies too
JSON_BODY_BYTES_MAX = 64 * 1024  # admin and ack bodies are tiny
INBOX_MAX_DEFAULT = 100
_PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*\"?(\d+(?:\.\d+)?)\"?", re.IGNORECASE)
SERVICE_KEY = web.AppKey("rail_service", RailService)


def _json(data: object, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(data), status=status, content_type="application/json", headers=headers
    )


def _error(status: int, code: str, text: str, headers: dict | None = None) -> web.Response:
    return _json({"error": code, "detail": text}, status, headers)


class _Refusal(Exception):
    """Raised by the helpers below with a prepared JSON error response; the middleware returns it."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


def _refuse(status: int, code: str, text: str, headers: dict | None = None) -> _Refusal:
    return _Refusal(_error(status, code, text, headers))


def _reply(reply: Reply) -> web.Response:
    response = web.Response(body=reply.body, status=reply.status, headers=reply.headers)
    response.content_type = reply.content_type
    response.charset = "utf-8"
    return response


def _bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _service(request: web.Request) -> RailService:
    return request.app[SERVICE_KEY]


def _participant(request: web.Request) -> str:
    """The authenticated, not rate-limited participant's BIC, or an HTTP error raised."""
    service = _service(request)
    bic = service.authenticate(_bearer(request))
    if bic is None:
        raise _refuse(
            401,
            "unauthenticated",
            "Authorization: Bearer <participant token> required",
            {"WWW-Authenticate": 'Bearer realm="rail"'},
        )
    retry_s = service.rate_limit(bic)
    if retry_s:
        raise _refuse(
            429,
            "rate_limited",
            "request rate limit reached",
            {"Retry-After": str(max(1, int(retry_s + 0.999)))},
        )
    return bic


def _admin(request: web.Request) -> None:
    if not _service(request).is_admin(_bearer(request)):
        raise _refuse(
            401,
            "unauthenticated",
            "Authorization: Bearer <admin token> required",
            {"WWW-Authenticate": 'Bearer realm="rail-admin"'},
        )


async def _json_body(request: web.Request) -> dict:
    if request.content_length is not None and request.content_length > JSON_BODY_BYTES_MAX:
        raise _refuse(413, "too_large", f"JSON body above {JSON_BODY_BYTES_MAX} bytes")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise _refuse(413, "too_large", f"JSON body above {JSON_BODY_BYTES_MAX} bytes") from None
    if len(raw) > JSON_BODY_BYTES_MAX:
        raise _refuse(413, "too_large", f"JSON body above {JSON_BODY_BYTES_MAX} bytes")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _refuse(400, "bad_json", f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise _refuse(400, "bad_json", "body must be a JSON object")
    return data


def _prefer_wait_s(request: web.Request) -> float | None:
    prefer = request.headers.get("Prefer")
    if not prefer:
        return None
    match = _PREFER_WAIT.search(prefer)
    return min(float(match.group(1)), WAIT_S_MAX) if match else None


def _float_arg(request: web.Request, name: str, default: float, high: float) -> float:
    try:
        value = float(request.query.get(name, default))
    except ValueError:
        raise _refuse(400, "bad_query", f"{name} must be a number") from None
    return max(0.0, min(value, high))


# ---- participant endpoints ------------------------------------------------------------------------------------


async def post_message(request: web.Request) -> web.Response:
    bic = _participant(request)
    service = _service(request)
    rendering = "json" if "json" in request.content_type else "xml"
    too_large = (
        service.admi002_reply(413, rendering, None, "FF01", f"body above {BODY_BYTES_MAX} bytes")
        if request.content_length is not None and request.content_length > BODY_BYTES_MAX
        else None
    )
    if too_large is None:
        try:
            body = await request.read()  # bounded by client_max_size (BODY_BYTES_MAX)
        except web.HTTPRequestEntityTooLarge:
            too_large = service.admi002_reply(
                413, rendering, None, "FF01", f"body above {BODY_BYTES_MAX} bytes"
            )
    if too_large is not None:
        return _reply(too_large)
    wait_s = _prefer_wait_s(request)
    reply = await service.submit(bic, body, request.headers.get("Content-Type", ""), wait_s)
    return _reply(reply)


async def get_inbox(request: web.Request) -> web.Response:
    bic = _participant(request)
    wait_s = _float_arg(request, "wait", 0.0, WAIT_S_MAX)
    max_n = int(_float_arg(request, "max", INBOX_MAX_DEFAULT, 1000)) or 1
    rendering = request.query.get("rendering")
    if rendering not in (None, "xml", "json"):
        return _error(400, "bad_query", "rendering must be xml or json")
    return _json(await _service(request).inbox(bic, wait_s, max_n, rendering))


async def post_ack(request: web.Request) -> web.Response:
    bic = _participant(request)
    data = await _json_body(request)
    upto = data.get("upto")
    try:
        await _service(request).ack(bic, upto)
    except ValueError as exc:
        return _error(400, "bad_ack", str(exc))
    return _json({"acked_upto": upto})


async def get_payment(request: web.Request) -> web.Response:
    bic = _participant(request)
    view = await _service(request).payment(bic, request.match_info["uetr"])
    if view is None:
        return _error(404, "not_found", "no such payment among this participant's payments")
    return _json(view)


async def get_own_balance(request: web.Request) -> web.Response:
    bic = _participant(request)
    balance = _service(request).balances()["accounts"].get(bic)
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
    rate, burst = data.get("requests_per_s"), data.get("requests_burst")
    if rate is not None and (not isinstance(rate, (int, float)) or rate <= 0):
        return _error(422, "bad_participant", "requests_per_s must be a positive number")
    if burst is not None and (not isinstance(burst, (int, float)) or burst < 1):
        return _error(422, "bad_participant", "requests_burst must be a number >= 1")
    try:
        token = await service.add_participant(
            data.get("bic"), data.get("name") or "", data.get("callback_url")
        )
    except ValueError as exc:
        return _error(422, "bad_participant", str(exc))
    if rate is not None or burst is not None:
        # A per-participant limit for this process (the scheme default applies again after a restart).
        params = service.scheme.params
        service.configure_rate_limit(
            data["bic"],
            float(rate or params.requests_per_s),
            float(burst or max(1.0, rate or params.requests_burst)),
        )
    return _json({"bic": data["bic"], "token": token}, 201)


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
    return _json(_service(request).balances())


# ---- operations -----------------------------------------------------------------------------------------------


async def get_metrics(request: web.Request) -> web.Response:
    service = _service(request)
    service.metrics.core_queue_depth.set(service.core.queue_depth)
    return web.Response(body=service.metrics.exposition(), headers={"Content-Type": METRICS_CONTENT_TYPE})


async def get_healthz(request: web.Request) -> web.Response:
    service = _service(request)
    ok = service.core._failure is None and not service.core._stopping
    return _json(
        {"ok": ok, "journal_seq": journal_last_seq(service.journal), "queue_depth": service.core.queue_depth},
        200 if ok else 503,
    )


async def get_openapi(request: web.Request) -> web.Response:
    from rail.openapi import openapi_document

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
        return refusal.response
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return _error(500, "internal", "the rail could not process this request; it has been logged")


def create_app(service: RailService) -> web.Application:
    app = web.Application(client_max_size=BODY_BYTES_MAX, middlewares=[_errors_as_json])
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
