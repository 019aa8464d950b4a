"""The OpenAPI 3 description of the sandbox endpoint (served at GET /openapi.json), generated from the one route
table (rail/api/routes.py).

``SCHEMAS`` are the JSON bodies, typed; each route carries its ``Operation`` (operationId, summary, parameters,
request body, what it answers); ``openapi_document(routes)`` assembles them, adding the answers a route's shape
implies (its authentication, its body limit, the settlement core behind it, the listener's limits on a request
head), so every route lists every error status the rail can answer it with. The JSON error body is always
``Error``. tests/test_openapi.py validates the document and generates a client from it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import NamedTuple, Protocol

from rail.api.openapi_types import BIC as _BIC
from rail.api.openapi_types import CODE as _CODE
from rail.api.openapi_types import IBAN as _IBAN
from rail.api.openapi_types import PAISA as _PAISA
from rail.api.openapi_types import TIME as _TIME
from rail.api.openapi_types import nullable as _nullable
from rail.api.openapi_types import object_schema as _object
from rail.api.openapi_types import ref as _ref
from rail.api.openapi_workbench import WORKBENCH_SCHEMAS

_EXAMPLE_AT = dt.datetime(2026, 1, 15, 10, 30, 0, 123000, tzinfo=dt.timezone(dt.timedelta(hours=5)))  # Karachi

SCHEMAS: dict[str, dict] = {
    "Error": _object(
        {
            "error": {"type": "string", "description": "a stable code, e.g. unauthenticated, bad_json, rate_limited"},
            "detail": {"type": "string", "description": "what is wrong and what to send instead"},
        },
        ("error", "detail"),
        "Every JSON error answer (401 says which: no Authorization header, not a Bearer token, unknown token, "
        "or the admin token on a participant route; a token is never repeated)",
    ),
    "InboxMessage": _object(
        {
            "seq": {"type": "integer", "format": "int64", "description": "per-participant sequence, +1 each"},
            "msg_type": {"type": "string", "example": "pacs.008.001.08"},
            "message": {
                "description": "the ISO 20022 message in the page's rendering: XML as a string, or a JSON object",
                "oneOf": [{"type": "string"}, {"type": "object", "additionalProperties": True}],
            },
        },
        ("seq", "msg_type", "message"),
    ),
    "InboxPage": _object(
        {
            "messages": {"type": "array", "items": _ref("InboxMessage")},
            "acked_upto": {"type": "integer", "format": "int64", "description": "acknowledged so far"},
            "rendering": {"type": "string", "enum": ["xml", "json"], "description": "of every message here"},
        },
        ("messages", "acked_upto"),
        "Waiting messages in order, at least once: until acknowledged they come again",
    ),
    "Ack": _object({"upto": {"type": "integer", "format": "int64", "minimum": 0}}, ("upto",)),
    "AckResult": _object(
        {"acked_upto": {"type": "integer", "format": "int64", "description": "the sequence actually acknowledged"}},
        ("acked_upto",),
    ),
    "AccountBalance": _object(
        {
            "posted_paisa": _PAISA,
            "pending_debits_paisa": _PAISA,
            "pending_credits_paisa": _PAISA,
            "available_paisa": _PAISA,
        },
        ("posted_paisa", "pending_debits_paisa", "pending_credits_paisa", "available_paisa"),
        "A settlement account: posted, reserved (pending) and available amounts",
    ),
    "OwnBalance": {
        "allOf": [_object({"bic": _BIC}, ("bic",)), _ref("AccountBalance")],
        "description": "The participant's own settlement account",
    },
    "Balances": _object(
        {
            "currency": {"type": "string", "example": "PKR"},
            "accounts": {"type": "object", "additionalProperties": _ref("AccountBalance"),
                         "description": "by BIC"},
            "conserved": {"type": "boolean", "description": "balances sum to the central bank's funding"},
        },
        ("currency", "accounts", "conserved"),
    ),
    "PaymentEvent": _object({"at": _TIME, "event": {"type": "string"}, "detail": {}}, ("at", "event")),
    "PaymentReturn": _object(
        {"return_id": {"type": "string"}, "amount_paisa": _PAISA, "reason": _CODE, "at": _TIME},
        ("return_id", "amount_paisa", "at"),
    ),
    "PaymentRecall": _object(
        {"cancellation_id": {"type": "string"}, "reason": _CODE, "state": {"type": "string"}, "at": _TIME},
        ("cancellation_id", "state", "at"),
    ),
    "Payment": _object(
        {
            "uetr": {"type": "string", "format": "uuid"},
            "tx_id": {"type": "string"},
            "msg_id": {"type": "string"},
            "end_to_end_id": {"type": "string"},
            "status": {"type": "string", "enum": ["ACTC", "ACSC", "RJCT"], "description": "ACTC while in flight"},
            "reason": _nullable(_CODE),
            "reason_text": _nullable({"type": "string"}),
            "amount_paisa": _PAISA,
            "currency": {"type": "string"},
            "debtor_agent": _BIC,
            "creditor_agent": _BIC,
            "debtor_iban": _nullable(_IBAN),
            "creditor_iban": _nullable(_IBAN),
            "creditor_status": _nullable({"type": "string", "description": "the creditor agent's TxSts"}),
            "returned_paisa": _PAISA,
            "received_at": _TIME,
            "final_at": _nullable(_TIME),
            "returns": {"type": "array", "items": _ref("PaymentReturn")},
            "recalls": {"type": "array", "items": _ref("PaymentRecall")},
            "history": {"type": "array", "items": _ref("PaymentEvent")},
        },
        ("uetr", "status", "amount_paisa", "debtor_agent", "creditor_agent", "history"),
        "A payment as its two agents may see it",
    ),
    "NewParticipant": _object(
        {
            "bic": _BIC,
            "name": {"type": "string"},
            "callback_url": {"type": "string", "format": "uri", "description": "webhook for the inbox"},
            "requests_per_s": {"type": "number", "exclusiveMinimum": True, "minimum": 0,
                               "description": "request rate limit (default: the scheme's); journaled"},
            "requests_burst": {"type": "number", "minimum": 1},
        },
        ("bic", "name"),
    ),
    "ParticipantToken": _object(
        {"bic": _BIC, "token": {"type": "string", "description": "shown once; stored hashed"},
         "webhook_secret": {"type": "string", "description": "signs its webhook pushes (Rail-Signature); shown once"}},
        ("bic", "token", "webhook_secret"),
    ),
    "Redelivery": _object({"uetr": {"type": "string"}}, ("uetr",)),
    "RedeliveryResult": _object(
        {"ok": {"type": "boolean"}, "uetr": {"type": "string"}, "creditor_agent": _BIC, "reason": _CODE,
         "text": {"type": "string"}},
        ("ok", "uetr"),
    ),
    "LiquidityMove": _object(
        {"bic": _BIC, "amount": _PAISA, "direction": {"type": "string", "enum": ["in", "out"]}},
        ("bic", "amount", "direction"),
    ),
    "LiquidityResult": _object(
        {
            "bic": _BIC,
            "direction": {"type": "string", "enum": ["in", "out"]},
            "amount": _PAISA,
            "ok": {"type": "boolean"},
            "reason": _CODE,
            "text": {"type": "string"},
            "posted_paisa": _PAISA,
        },
        ("bic", "direction", "amount", "ok"),
    ),
    "NewAlias": _object(
        {"alias": {"type": "string", "example": "+923001234567"}, "iban": _IBAN, "name": {"type": "string"}},
        ("alias", "iban"),
    ),
    "AliasResult": _object(
        {
            "ok": {"type": "boolean"},
            "alias": {"type": "string"},
            "iban": _IBAN,
            "agent": _BIC,
            "reason": _CODE,
            "text": {"type": "string"},
        },
        ("ok",),
    ),
    "Health": _object(
        {"ok": {"type": "boolean"}, "journal_seq": {"type": "integer", "format": "int64"},
         "queue_depth": {"type": "integer"}},
        ("ok",),
    ),
}

SCHEMAS.update(WORKBENCH_SCHEMAS)

_ISO_TYPES = ("pacs.008.001.08, pacs.002.001.10, pacs.004.001.09, pacs.028.001.03, camt.056.001.08, "
              "camt.029.001.09, acmt.023.001.03, pain.013.001.07, pain.014.001.07")


def _iso_content(examples: dict[str, bytes] | None = None) -> dict:
    """An ISO 20022 message body: XML (a Document, optionally in a head.001 AppHdr envelope) or JSON."""
    xml = {
        "schema": {
            "type": "string",
            "format": "xml",
            "maxLength": 1 << 20,
            "description": f"one ISO 20022 message as the official XSDs define it ({_ISO_TYPES}): a Document "
            "element, or <RequestPayload> holding a head.001.001.02 AppHdr and the Document",
        }
    }
    json = {
        "schema": {
            "type": "object",
            "additionalProperties": True,
            "description": "the JSON rendering: {\"MsgDefIdr\": \"pacs.008.001.08\", <root element>: {...}} "
            "with ISO element names (docs/iso20022.md)",
        }
    }
    if examples:
        xml["example"] = examples["xml"].decode()
        json["example"] = examples["json_object"]
    return {"application/xml": xml, "application/json": json}


def _json_content(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


# Status -> what it means; the same words on every route that can answer it.
_ERROR_TEXT = {
    "400": "unreadable request: bad JSON body or query parameter",
    "401": "no usable token (the detail says which; the token is never repeated)",
    "404": "not found among this participant's own",
    "413": "body above this route's limit (a route without a request body takes none): refused from its "
           "Content-Length, before it is read",
    "414": "request target (path and query) too long",
    "431": "request head too large (too many or too long header lines)",
    "422": "refused (reason code and text in the body)",
    "429": "rate limited: see Retry-After",
    "500": "unexpected failure, logged; the answer never carries a traceback",
    "503": "overloaded, stopping, or its journal failed: see Retry-After",
}


def _error(status: str) -> dict:
    return {"description": _ERROR_TEXT[status], "content": _json_content(_ref("Error"))}


def _iso_answer(text: str) -> dict:
    return {"description": text, "content": _iso_content()}


class Operation(NamedTuple):
    """A route's OpenAPI operation. `answers`: status -> None (the Error body, with the usual words for the
    status), (description, schema name) for a JSON body ((description, None): the Error body in other words),
    or a whole OpenAPI response object."""

    operation_id: str
    summary: str
    answers: dict[str, object]
    parameters: tuple[dict, ...] = ()
    request_body: str | None = None  # "iso": one ISO 20022 message; else the name of the JSON body's schema


class DocumentedRoute(Protocol):
    """What the document reads of a route (rail/api/routes.py's Route)."""

    method: str
    path: str
    auth: str  # "public" | "participant" | "admin" | "either"
    body_bytes_max: int
    operation: Operation


_SECURITY = {
    "participant": [{"participantToken": []}],
    "admin": [{"adminToken": []}],
    "either": [{"participantToken": []}, {"adminToken": []}],  # either token (OpenAPI: any one of the list)
}

MESSAGE_ANSWERS: dict[str, object] = {
    "200": _iso_answer("final pacs.002 (ACSC/RJCT) with Prefer: wait, a resend's original answer, pacs.002 for "
                       "pacs.028, acmt.024 for acmt.023"),
    "202": _iso_answer("pacs.002 ACTC: accepted and in flight, or relayed to the counterparty"),
    "400": _iso_answer("admi.002: unreadable (malformed, wrong namespace or root, bad UTF-8, entity tricks)"),
    "403": _iso_answer("admi.002 reason AUTH: the message names another participant as its sender"),
    "404": _iso_answer("pacs.002 RJCT NOOR: a payment this participant is not an agent of"),
    "413": _iso_answer("admi.002: body above 1 MiB (refused from its Content-Length, before it is read)"),
    "422": _iso_answer("pacs.002 RJCT with the ISO reason and the element path (camt.029 RJCR for a recall)"),
    "429": {
        "description": "rate limited, see Retry-After: the request rate limit answers the Error body; the "
                       "alias-lookup limit (acmt.023, against scanning) answers admi.002 AM18",
        "content": {
            "application/json": {"schema": {"oneOf": [_ref("Error"), _iso_content()["application/json"]["schema"]]}},
            "application/xml": _iso_content()["application/xml"],
        },
    },
    "503": _iso_answer("admi.002 AB10: overloaded, stopping, your own inbox full, or the payment book at its "
                       "retention limit; see Retry-After"),
}  # fmt: skip


def _implied_answers(route: DocumentedRoute) -> dict[str, object]:
    """The error answers a route's shape implies, whatever its handler does."""
    answers: dict[str, object] = {"413": None, "414": None, "431": None, "500": None}
    if route.auth in ("participant", "either"):
        answers.update({"401": None, "429": None, "503": None})
    elif route.auth == "admin":
        answers.update({"401": None, "503": None})
    if route.operation.request_body not in (None, "iso"):
        answers["400"] = None  # an unreadable JSON body
    return answers


def _answer(status: str, answer: object) -> dict:
    if answer is None:
        return _error(status)
    if isinstance(answer, tuple):
        text, schema = answer
        return {"description": text, "content": _json_content(_ref(schema or "Error"))}
    return answer


def _operation(route: DocumentedRoute, examples: dict[str, bytes]) -> dict:
    op = route.operation
    operation: dict = {"operationId": op.operation_id, "summary": op.summary}
    if route.auth in _SECURITY:
        operation["security"] = _SECURITY[route.auth]
    if op.parameters:
        operation["parameters"] = list(op.parameters)
    if op.request_body == "iso":
        operation["requestBody"] = {
            "required": True,
            "description": "one message; the answer comes in the same rendering (Content-Type)",
            "content": _iso_content(examples),
        }
    elif op.request_body is not None:
        operation["requestBody"] = {"required": True, "content": _json_content(_ref(op.request_body))}
    answers = {**_implied_answers(route), **op.answers}
    if route.body_bytes_max == 0:
        answers.setdefault("413", None)
    operation["responses"] = {status: _answer(status, answers[status]) for status in sorted(answers)}
    return operation


def _request_examples() -> dict:
    """A pacs.008 in both renderings: Habib Bank pays Rs 2,500.00 to a Meezan Bank customer (the first of
    docs/examples), fixed ids and clock so the document is the same at every start."""
    import orjson

    from rail import iso20022 as iso
    from rail.scheme import default_scheme

    scheme = default_scheme()
    payer, payee = (
        next(c for c in scheme.bank(bic).customers if c.behaviour == "accept") for bic in ("HABBPKKA", "MEZNPKKA")
    )
    message = iso.credit_transfer(
        msg_id="HABBPKKA20260115103000A1B2C3", tx_id="HABBPKKA20260115103000D4E5F6",
        uetr="4f1d2c3b-5a6e-4f70-8a91-b2c3d4e5f601", amount_paisa=250_000,
        debtor_agent="HABBPKKA", debtor_name=payer.name, debtor_iban=payer.iban,
        creditor_agent="MEZNPKKA", creditor_name=payee.name, creditor_iban=payee.iban,
        remittance_info="Family support January", at=_EXAMPLE_AT,
    )  # fmt: skip
    return {"xml": iso.encode(message, iso.XML), "json_object": orjson.loads(iso.encode(message, iso.JSON))}


def openapi_document(routes: Sequence[DocumentedRoute]) -> dict:
    """The OpenAPI document of `routes` (the rail's: rail/api/routes.py's `openapi_document()`, cached)."""
    examples = _request_examples()
    paths: dict[str, dict] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, examples)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "RAAST-like rail sandbox",
            "version": "1.0",
            "description": (
                "A RAAST-like instant payment rail. Participants send one ISO 20022 message per POST "
                f"/v1/messages ({_ISO_TYPES}) in XML or JSON, and receive the messages addressed to them "
                "(forwarded pacs.008, final pacs.002, pacs.004, camt.056, camt.029, pain.013, pain.014) in order, "
                "at least once, by long-poll GET /v1/inbox or by webhook to their callback_url. Amounts in JSON "
                "admin bodies are integer paisa. docs/sandbox.md has a walk-through and the test-account table; "
                "`rail message` makes ready-to-send messages. Besides each route's own answers, any request may "
                "be refused by the HTTP listener before it reaches a route: 400 (malformed HTTP), 408 (not sent "
                "in time), 505 (not HTTP/1.x), 503 (too many connections); the connection is closed after them."
            ),
        },
        "servers": [
            {"url": "/", "description": "the rail serving this document"},
            {"url": "http://127.0.0.1:8080", "description": "`rail serve` on its default port"},
        ],
        "components": {
            "securitySchemes": {
                "participantToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "issued by POST /admin/participants",
                },
                "adminToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "--admin-token / RAIL_ADMIN_TOKEN, or printed at the first start",
                },
            },
            "schemas": SCHEMAS,
        },
        "paths": paths,
    }
