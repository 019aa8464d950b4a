"""The OpenAPI schemas of the workbench routes (docs/workbench-api.md): participants, payment lists, message
traces, webhooks, reset and the overview. rail/api/openapi.py adds them to the document's SCHEMAS."""

from __future__ import annotations

from rail.api.openapi_types import BIC as _BIC
from rail.api.openapi_types import CODE as _CODE
from rail.api.openapi_types import PAISA as _PAISA
from rail.api.openapi_types import TIME as _TIME
from rail.api.openapi_types import nullable as _nullable
from rail.api.openapi_types import object_schema as _object
from rail.api.openapi_types import ref as _ref

_COUNT = {"type": "integer", "minimum": 0}
_TEXT = {"type": "string"}


_MODES = ["normal", "down", "slow", "reject"]

WORKBENCH_SCHEMAS: dict[str, dict] = {
    "Behaviour": _object(
        {
            "mode": {"type": "string", "enum": _MODES},
            "until": _nullable(_TIME),
            "reason": _nullable(_CODE),
            "delay_ms": _nullable({"type": "integer"}),
        },
        ("mode", "until", "reason", "delay_ms"),
        "How a simulated bank answers payments; it reverts to normal at `until`",
    ),
    "NewBehaviour": _object(
        {
            "mode": {"type": "string", "enum": _MODES},
            "for_s": {"type": "number", "minimum": 1, "maximum": 86_400},
            "delay_ms": {"type": "integer", "minimum": 1, "maximum": 60_000, "description": "slow only"},
            "reason": {**_CODE, "description": "reject only: an ExternalStatusReason1Code"},
        },
        ("mode",),
    ),
    "ParticipantSummary": _object(
        {
            "bic": _BIC,
            "name": _TEXT,
            "simulated": {"type": "boolean", "description": "a built-in simulated bank answers for it"},
            "posted_paisa": _PAISA,
            "reserved_paisa": {**_PAISA, "description": "reserved by payments in flight"},
            "available_paisa": _PAISA,
            "behaviour": _nullable(_ref("Behaviour")),
            "callback_url": _nullable({"type": "string", "format": "uri"}),
            "webhook": {"type": "boolean"},
            "inbox_depth": _COUNT,
        },
        ("bic", "name", "simulated", "posted_paisa", "reserved_paisa", "available_paisa", "behaviour",
         "callback_url", "webhook"),
    ),
    "ParticipantList": {"type": "array", "items": _ref("ParticipantSummary")},
    "PaymentSummary": _object(
        {
            "uetr": {"type": "string", "format": "uuid"},
            "end_to_end_id": _TEXT,
            "debtor_agent": _BIC,
            "creditor_agent": _BIC,
            "amount_paisa": _PAISA,
            "currency": _TEXT,
            "status": {"type": "string", "enum": ["ACTC", "ACSC", "RJCT"]},
            "creditor_status": _nullable(_TEXT),
            "reason": _nullable(_CODE),
            "reason_text": _nullable(_TEXT),
            "accepted_at": _TIME,
            "final_at": _nullable(_TIME),
        },
        ("uetr", "debtor_agent", "creditor_agent", "amount_paisa", "status", "accepted_at"),
    ),
    "PaymentList": _object(
        {
            "payments": {"type": "array", "items": _ref("PaymentSummary")},
            "next_cursor": _nullable({"type": "string", "description": "opaque: pass it as `cursor`"}),
        },
        ("payments", "next_cursor"),
        "Newest first. A page may hold fewer than `limit` payments while next_cursor is not null (each request "
        "examines a bounded number): follow next_cursor until it is null",
    ),
    "TracedMessage": _object(
        {
            "seq": {"type": "integer", "format": "int64"},
            "at": _TIME,
            "uetr": _nullable(_TEXT),
            "direction": {"type": "string", "enum": ["in", "out"], "description": "in: to the rail"},
            "sender": _BIC,
            "receiver": _BIC,
            "msg_type": {"type": "string", "example": "pacs.008"},
            "rendering": _nullable({"type": "string", "enum": ["xml", "json"]}),
            "http_status": _nullable({"type": "integer"}),
            "status": _nullable(_TEXT),
            "reason": _nullable(_CODE),
            "element_path": _nullable(_TEXT),
            "duration_ms": _nullable({"type": "number"}),
            "channel": {"type": "string", "enum": ["http", "inbox", "webhook", "in-process"]},
            "as_sent": {"type": "boolean", "description": "body is the exact bytes as sent or received"},
            "body": _nullable({"type": "string"}),
        },
        ("seq", "at", "direction", "sender", "receiver", "msg_type", "channel", "body"),
    ),
    "PaymentMessages": _object(
        {
            "uetr": _TEXT,
            "payment": _nullable(_ref("PaymentSummary")),
            "reason_explained": _nullable(_TEXT),
            "messages": {"type": "array", "items": _ref("TracedMessage")},
        },
        ("uetr", "messages"),
    ),
    "UnmatchedMessages": _object({"messages": {"type": "array", "items": _ref("TracedMessage")}}, ("messages",)),
    "WebhookSecret": _object(
        {"webhook_secret": _TEXT, "previous_valid_until": _nullable(_TIME)}, ("webhook_secret",),
        "The new secret, shown once; the previous one also signs until previous_valid_until",
    ),
    "SecretRotation": _object(
        {"grace_s": {"type": "integer", "minimum": 0, "maximum": 604_800, "description": "default 86400"}}
    ),
    "WebhookTestResult": _object(
        {"ok": {"type": "boolean"}, "http_status": _nullable({"type": "integer"}),
         "duration_ms": {"type": "number"}, "error": _nullable(_TEXT)},
        ("ok", "http_status", "duration_ms", "error"),
    ),
    "WebhookDelivery": _object(
        {"at": _TIME, "kind": {"type": "string", "enum": ["messages", "test"]},
         "http_status": _nullable({"type": "integer"}), "duration_ms": {"type": "number"},
         "attempt": {"type": "integer", "minimum": 1}, "error": _nullable(_TEXT), "messages": _COUNT,
         "first_seq": _nullable({"type": "integer"}), "last_seq": _nullable({"type": "integer"})},
        ("at", "kind", "http_status", "duration_ms", "attempt", "error"),
    ),
    "WebhookDeliveries": _object(
        {"deliveries": {"type": "array", "items": _ref("WebhookDelivery")}}, ("deliveries",), "Newest first"
    ),
    "Reset": _object(
        {"confirm": {"type": "string", "enum": ["RESET"]}, "keep_tokens": {"type": "boolean"}}, ("confirm",)
    ),
    "ResetResult": _object(
        {"ok": {"type": "boolean"}, "payments_discarded": _COUNT, "inbox_messages_discarded": _COUNT,
         "participants_kept": {"type": "array", "items": _BIC}, "journal_seq": {"type": "integer"}},
        ("ok",),
    ),
    "Overview": _object(
        {
            "at": _TIME,
            "serving": {"type": "boolean"},
            "payments_per_s": _object({"10s": {"type": "number"}, "60s": {"type": "number"}}),
            "latency_ms": _object({"p50": _nullable({"type": "number"}), "p99": _nullable({"type": "number"}),
                                   "window_s": {"type": "integer"}, "samples": _COUNT}),
            "queue_depth": _COUNT,
            "in_flight": _COUNT,
            "journal_seq": {"type": "integer"},
            "finals": {"type": "object", "additionalProperties": _COUNT, "description": "since start, by status"},
            "participants": {"type": "array", "items": _object(
                {"bic": _BIC, "posted_paisa": _PAISA, "reserved_paisa": _PAISA, "available_paisa": _PAISA,
                 "inbox_depth": _COUNT})},
        },
        ("at", "payments_per_s", "latency_ms", "queue_depth", "in_flight", "participants"),
    ),
}  # fmt: skip
