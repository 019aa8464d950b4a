"""The OpenAPI 3 description of the sandbox endpoint (served at GET /openapi.json)."""

from __future__ import annotations

from functools import lru_cache

_ISO_BODY = {
    "application/xml": {
        "schema": {
            "type": "string",
            "description": "an ISO 20022 Document (optionally in a head.001 AppHdr envelope)",
        }
    },
    "application/json": {
        "schema": {"type": "object", "description": "the JSON rendering, ISO element names"}
    },
}


def _iso_response(text: str) -> dict:
    return {"description": text, "content": _ISO_BODY}


def _json_response(text: str, schema: dict | None = None) -> dict:
    return {"description": text, "content": {"application/json": {"schema": schema or {"type": "object"}}}}


_ERROR = {"type": "object", "properties": {"error": {"type": "string"}, "detail": {"type": "string"}}}
_BEARER = [{"participantToken": []}]
_ADMIN = [{"adminToken": []}]


@lru_cache(maxsize=1)
def openapi_document() -> dict:
    inbox_message = {
        "type": "object",
        "properties": {
            "seq": {"type": "integer", "description": "per-participant sequence number, increasing by 1"},
            "msg_type": {"type": "string", "example": "pacs.008.001.08"},
            "message": {
                "description": "the message in the participant's rendering: XML as a string, or a JSON object"
            },
        },
        "required": ["seq", "msg_type", "message"],
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "RAAST-like rail sandbox",
            "version": "1.0",
            "description": (
                "A RAAST-like instant payment rail. Participants send one ISO 20022 message per POST "
                "/v1/messages (pacs.008, pacs.002, pacs.028, pacs.004, camt.056, camt.029, pain.013, pain.014, "
                "acmt.023) in XML or JSON, and receive messages addressed to them (forwarded pacs.008, final "
                "pacs.002, pacs.004, camt.056, camt.029, pain.013, pain.014) in order, at least once, by "
                "long-poll GET /v1/inbox or by webhook to their callback_url. Amounts in JSON admin bodies are "
                "integer paisa. See docs/sandbox.md for the test-account table."
            ),
        },
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
                    "description": "--admin-token / RAIL_ADMIN_TOKEN, or printed at start",
                },
            },
            "schemas": {"Error": _ERROR, "InboxMessage": inbox_message},
        },
        "paths": {
            "/v1/messages": {
                "post": {
                    "summary": "Submit one ISO 20022 message",
                    "security": _BEARER,
                    "parameters": [
                        {
                            "name": "Prefer",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string"},
                            "example": "wait=10",
                            "description": "RFC 7240: hold the answer to a pacs.008 until its final status (ACSC or "
                            "RJCT), up to N seconds; answered with Preference-Applied",
                        }
                    ],
                    "requestBody": {"required": True, "content": _ISO_BODY},
                    "responses": {
                        "200": _iso_response(
                            "final pacs.002 (ACSC/RJCT), pacs.002 for pacs.028, acmt.024 for acmt.023"
                        ),
                        "202": _iso_response("pacs.002 ACTC: accepted and in flight, or relayed"),
                        "400": _iso_response("admi.002: unreadable message"),
                        "401": _json_response("missing or unknown token", _ERROR),
                        "403": _iso_response("admi.002: the message names another participant as sender"),
                        "404": _iso_response("pacs.002 RJCT NOOR: no such payment for this participant"),
                        "413": _iso_response("admi.002: body too large"),
                        "422": _iso_response(
                            "pacs.002 RJCT (or camt.029 RJCR for a recall) with the ISO reason"
                        ),
                        "429": _json_response("rate limited; see Retry-After", _ERROR),
                        "503": _iso_response("admi.002: overloaded; see Retry-After"),
                    },
                }
            },
            "/v1/inbox": {
                "get": {
                    "summary": "Long-poll the participant's inbox",
                    "security": _BEARER,
                    "parameters": [
                        {
                            "name": "wait",
                            "in": "query",
                            "schema": {"type": "number", "maximum": 30},
                            "description": "seconds to wait for a message when the inbox is empty",
                        },
                        {"name": "max", "in": "query", "schema": {"type": "integer", "maximum": 1000}},
                        {
                            "name": "rendering",
                            "in": "query",
                            "schema": {"type": "string", "enum": ["xml", "json"]},
                            "description": "default: the rendering of the participant's last message",
                        },
                        {
                            "name": "ack",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 0},
                            "description": "acknowledge every message up to this seq (inclusive) before the page "
                            "is read: the same journaled ack as POST /v1/inbox/ack, saving a request per page",
                        },
                    ],
                    "responses": {
                        "200": _json_response(
                            "waiting messages in order",
                            {
                                "type": "object",
                                "properties": {
                                    "messages": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/InboxMessage"},
                                    },
                                    "acked_upto": {"type": "integer"},
                                    "rendering": {"type": "string"},
                                },
                            },
                        )
                    },
                }
            },
            "/v1/inbox/ack": {
                "post": {
                    "summary": "Acknowledge inbox messages up to a sequence number (inclusive)",
                    "security": _BEARER,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"upto": {"type": "integer"}},
                                    "required": ["upto"],
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _json_response("acknowledged"),
                        "400": _json_response("bad body", _ERROR),
                    },
                }
            },
            "/v1/payments/{uetr}": {
                "get": {
                    "summary": "A payment's status and history (visible to its two agents only)",
                    "security": _BEARER,
                    "parameters": [
                        {"name": "uetr", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {
                        "200": _json_response("the payment"),
                        "404": _json_response("not found", _ERROR),
                    },
                }
            },
            "/v1/balance": {
                "get": {
                    "summary": "The participant's own settlement account (posted, pending, available, paisa)",
                    "security": _BEARER,
                    "responses": {"200": _json_response("balance")},
                }
            },
            "/v1/aliases": {
                "post": {
                    "summary": "Register or move a Raast ID (mobile number) to one of the participant's IBANs",
                    "security": _BEARER,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["alias", "iban"],
                                    "properties": {
                                        "alias": {"type": "string", "example": "+923001234567"},
                                        "iban": {"type": "string"},
                                        "name": {"type": "string"},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": _json_response("linked"),
                        "422": _json_response("refused (e.g. DUPL: the alias is linked elsewhere)"),
                    },
                }
            },
            "/v1/aliases/{alias}": {
                "delete": {
                    "summary": "De-link a Raast ID",
                    "security": _BEARER,
                    "parameters": [
                        {"name": "alias", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {
                        "200": _json_response("deleted"),
                        "404": _json_response("unknown alias"),
                        "422": _json_response("linked at another participant"),
                    },
                }
            },
            "/admin/participants": {
                "post": {
                    "summary": "Add a participant (or issue a fresh token for an existing one)",
                    "security": _ADMIN,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["bic", "name"],
                                    "properties": {
                                        "bic": {"type": "string"},
                                        "name": {"type": "string"},
                                        "callback_url": {"type": "string", "format": "uri"},
                                        "requests_per_s": {
                                            "type": "number",
                                            "description": "this participant's request rate limit "
                                            "(default: the scheme's); journaled, so it survives restarts",
                                        },
                                        "requests_burst": {"type": "number"},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": _json_response(
                            "the token (shown once)",
                            {
                                "type": "object",
                                "properties": {"bic": {"type": "string"}, "token": {"type": "string"}},
                            },
                        ),
                        "422": _json_response("invalid", _ERROR),
                    },
                }
            },
            "/admin/liquidity": {
                "post": {
                    "summary": "Move central-bank money into or out of a settlement account",
                    "security": _ADMIN,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["bic", "amount", "direction"],
                                    "properties": {
                                        "bic": {"type": "string"},
                                        "amount": {"type": "integer", "description": "paisa"},
                                        "direction": {"type": "string", "enum": ["in", "out"]},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {"200": _json_response("moved"), "422": _json_response("refused (AM04...)")},
                }
            },
            "/admin/balances": {
                "get": {
                    "summary": "Every settlement account's posted and pending amounts, and the conservation check",
                    "security": _ADMIN,
                    "responses": {
                        "200": _json_response(
                            "balances",
                            {
                                "type": "object",
                                "properties": {
                                    "accounts": {"type": "object"},
                                    "conserved": {"type": "boolean"},
                                },
                            },
                        )
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {"200": {"description": "text exposition format"}},
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Liveness",
                    "responses": {"200": _json_response("ok"), "503": _json_response("not running")},
                }
            },
            "/openapi.json": {
                "get": {"summary": "This document", "responses": {"200": _json_response("OpenAPI")}}
            },
        },
    }
