"""The OpenAPI 3 description of the sandbox endpoint (served at GET /openapi.json).

Plain data, so that one route table can generate it later: ``SCHEMAS`` (the JSON bodies, typed), ``ROUTES``
(path, method, operationId, who may call it, what it answers), and ``openapi_document()`` assembling them.
Every route lists every error status the rail can answer it with; the JSON error body is always ``Error``.
tests/test_openapi.py validates the document and generates a client from it.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

WAIT_S_MAX = 30  # rail/api/service.py WAIT_S_MAX: the cap on Prefer: wait and on the inbox long-poll
INBOX_MAX = 1000
_EXAMPLE_AT = dt.datetime(2026, 1, 15, 10, 30, 0, 123000, tzinfo=dt.timezone(dt.timedelta(hours=5)))  # Karachi

_PAISA = {"type": "integer", "format": "int64", "description": "integer paisa (1/100 rupee)"}
_BIC = {"type": "string", "pattern": "^[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$", "example": "MEZNPKKA"}
_IBAN = {"type": "string", "pattern": "^PK[0-9]{2}[A-Z]{4}[A-Z0-9]{16}$", "example": "PK17MEZN0005000000005000"}
_TIME = {"type": "string", "format": "date-time"}
_CODE = {"type": "string", "description": "ISO 20022 external code (e.g. AC04, AM04)", "example": "AC04"}


def _object(properties: dict, required: tuple[str, ...] = (), description: str = "") -> dict:
    schema = {"type": "object", "properties": properties, "required": list(required) or None}
    if description:
        schema["description"] = description
    return {k: v for k, v in schema.items() if v is not None}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict) -> dict:
    return {**schema, "nullable": True}


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
        {"bic": _BIC, "token": {"type": "string", "description": "shown once; stored hashed"}}, ("bic", "token")
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
    "413": "body too large",
    "422": "refused (reason code and text in the body)",
    "429": "rate limited: see Retry-After",
    "500": "unexpected failure, logged; the answer never carries a traceback",
    "503": "overloaded or stopping: see Retry-After",
}


def _error(status: str) -> dict:
    return {"description": _ERROR_TEXT[status], "content": _json_content(_ref("Error"))}


def _iso_answer(text: str) -> dict:
    return {"description": text, "content": _iso_content()}


_PARTICIPANT = [{"participantToken": []}]
_ADMIN = [{"adminToken": []}]

_MESSAGE_ANSWERS = {
    "200": _iso_answer("final pacs.002 (ACSC/RJCT) with Prefer: wait, a resend's original answer, pacs.002 for "
                       "pacs.028, acmt.024 for acmt.023"),
    "202": _iso_answer("pacs.002 ACTC: accepted and in flight, or relayed to the counterparty"),
    "400": _iso_answer("admi.002: unreadable (malformed, wrong namespace or root, bad UTF-8, entity tricks)"),
    "401": _error("401"),
    "403": _iso_answer("admi.002 reason AUTH: the message names another participant as its sender"),
    "404": _iso_answer("pacs.002 RJCT NOOR: a payment this participant is not an agent of"),
    "413": _iso_answer("admi.002: body above 1 MiB"),
    "422": _iso_answer("pacs.002 RJCT with the ISO reason and the element path (camt.029 RJCR for a recall)"),
    "429": _error("429"),
    "500": _error("500"),
    "503": _iso_answer("admi.002: overloaded or stopping; see Retry-After"),
}

# (path, method, operationId, summary, security, parameters, request body, {status: answer}).
ROUTES: tuple[tuple, ...] = (
    ("/v1/messages", "post", "submitMessage", "Submit one ISO 20022 message (XML or JSON)", _PARTICIPANT,
     [{"name": "Prefer", "in": "header", "required": False, "schema": {"type": "string"}, "example": "wait=15",
       "description": f"RFC 7240: hold a pacs.008's answer until its final status (ACSC or RJCT), at most "
                      f"{WAIT_S_MAX} s; answered with Preference-Applied"}],
     "iso", _MESSAGE_ANSWERS),
    ("/v1/inbox", "get", "readInbox", "Long-poll the participant's inbox", _PARTICIPANT,
     [{"name": "wait", "in": "query", "schema": {"type": "number", "minimum": 0, "maximum": WAIT_S_MAX},
       "description": f"seconds to wait for a message when none waits (capped at {WAIT_S_MAX})"},
      {"name": "max", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": INBOX_MAX}},
      {"name": "rendering", "in": "query", "schema": {"type": "string", "enum": ["xml", "json"]},
       "description": "default: the rendering of the participant's last message"},
      {"name": "ack", "in": "query", "schema": {"type": "integer", "format": "int64", "minimum": 0},
       "description": "first acknowledge every message up to this seq, as POST /v1/inbox/ack would"}],
     None, {"200": ("the waiting messages, in order", "InboxPage"), "400": None, "401": None, "429": None,
            "500": None}),
    ("/v1/inbox/ack", "post", "acknowledgeInbox", "Acknowledge inbox messages up to a sequence (inclusive)",
     _PARTICIPANT, [], "Ack",
     {"200": ("the sequence actually acknowledged", "AckResult"), "400": None, "401": None, "413": None,
      "429": None, "500": None}),
    ("/v1/payments/{uetr}", "get", "getPayment", "A payment's status and history (its two agents only)",
     _PARTICIPANT, [{"name": "uetr", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}],
     None, {"200": ("the payment", "Payment"), "401": None, "404": None, "429": None, "500": None}),
    ("/v1/balance", "get", "getOwnBalance", "The participant's own settlement account", _PARTICIPANT, [], None,
     {"200": ("the balance", "OwnBalance"), "401": None, "429": None, "500": None}),
    ("/v1/aliases", "post", "registerAlias", "Link (or move) a Raast ID to one of the participant's IBANs",
     _PARTICIPANT, [], "NewAlias",
     {"201": ("linked", "AliasResult"), "400": None, "401": None, "413": None,
      "422": ("refused, e.g. DUPL: linked at another participant", "AliasResult"), "429": None, "500": None}),
    ("/v1/aliases/{alias}", "delete", "deleteAlias", "De-link a Raast ID", _PARTICIPANT,
     [{"name": "alias", "in": "path", "required": True, "schema": {"type": "string"}}], None,
     {"200": ("de-linked", "AliasResult"), "401": None, "404": ("unknown alias", "AliasResult"),
      "422": ("linked at another participant", "AliasResult"), "429": None, "500": None}),
    ("/admin/participants", "post", "addParticipant", "Add a participant (or issue a fresh token for one)", _ADMIN,
     [], "NewParticipant",
     {"201": ("its token, shown once", "ParticipantToken"), "400": None, "401": None, "413": None,
      "422": None, "500": None}),
    ("/admin/liquidity", "post", "moveLiquidity", "Move central-bank money into or out of a settlement account",
     _ADMIN, [], "LiquidityMove",
     {"200": ("moved", "LiquidityResult"), "400": None, "401": None, "413": None,
      "422": ("refused (AM04, RC01 ...)", "LiquidityResult"), "500": None}),
    ("/admin/balances", "get", "getBalances", "Every settlement account and the conservation check", _ADMIN, [],
     None, {"200": ("balances", "Balances"), "401": None, "500": None}),
    ("/admin/redeliver", "post", "redeliverPayment",
     "Deliver a forwarded pacs.008 to its creditor agent once more (sandbox: test duplicate handling)", _ADMIN,
     [], "Redelivery",
     {"200": ("put in the creditor agent's inbox again", "RedeliveryResult"), "400": None, "401": None,
      "404": ("no such forwarded payment", "RedeliveryResult"), "413": None,
      "422": ("refused (the creditor's inbox is full: AB08)", "RedeliveryResult"), "500": None}),
    ("/metrics", "get", "getMetrics", "Prometheus metrics", None, [], None,
     {"200": {"description": "Prometheus text exposition format",
              "content": {"text/plain": {"schema": {"type": "string"}}}}, "500": None}),
    ("/healthz", "get", "getHealth", "Liveness", None, [], None,
     {"200": ("running", "Health"), "503": ("not running", "Health"), "500": None}),
    ("/openapi.json", "get", "getOpenApi", "This document", None, [], None,
     {"200": {"description": "OpenAPI 3", "content": _json_content({"type": "object"})}, "500": None}),
)


def _answer(status: str, answer) -> dict:
    if answer is None:
        return _error(status)
    if isinstance(answer, tuple):
        text, schema = answer
        return {"description": text, "content": _json_content(_ref(schema))}
    return answer


def _operation(route: tuple, examples: dict[str, bytes]) -> dict:
    _, _, operation_id, summary, security, parameters, body, answers = route
    operation = {"operationId": operation_id, "summary": summary}
    if security is not None:
        operation["security"] = security
    if parameters:
        operation["parameters"] = parameters
    if body == "iso":
        operation["requestBody"] = {
            "required": True,
            "description": "one message; the answer comes in the same rendering (Content-Type)",
            "content": _iso_content(examples),
        }
    elif body is not None:
        operation["requestBody"] = {"required": True, "content": _json_content(_ref(body))}
    operation["responses"] = {status: _answer(status, answer) for status, answer in answers.items()}
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


@lru_cache(maxsize=1)
def openapi_document() -> dict:
    examples = _request_examples()
    paths: dict[str, dict] = {}
    for route in ROUTES:
        paths.setdefault(route[0], {})[route[1]] = _operation(route, examples)
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
                "`rail message` makes ready-to-send messages."
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
