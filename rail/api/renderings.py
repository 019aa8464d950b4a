"""One ISO 20022 message in both renderings, for reading: `POST /v1/render` (the workbench shows each message of
a payment's trace as XML and JSON side by side, docs/workbench.md).

The other rendering comes from the rail's own lossless converter (rail/iso20022/forward.py: what a participant
reading the other rendering is forwarded), never from a conversion of the page's own. The message is decoded
first, with the same XSD check as at the edge, so a message that cannot be read is answered with why (its
reason code and element), not half converted. Both renderings come back indented for a reader; the bytes as
sent are the trace's own (`GET /v1/payments/{uetr}/messages`).
"""

from __future__ import annotations

import msgspec
from lxml import etree

from rail import iso20022
from rail.api.handlers import json_response
from rail.api.http_types import Request, Response, error_response
from rail.iso20022 import MessageRejected, forward
from rail.iso20022.xml_decode import parse

XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
RENDERINGS_SCHEMA = {
    "type": "object",
    "required": ["msg_type", "sent_as", "xml", "json"],
    "properties": {
        "msg_type": {"type": "string", "example": "pacs.008.001.08"},
        "sent_as": {"type": "string", "enum": ["xml", "json"], "description": "the rendering of the body given"},
        "xml": {"type": "string", "description": "the message as XML (with the sender's AppHdr if it had one)"},
        "json": {"type": "string", "description": "the message as the rail's JSON rendering (docs/iso20022.md)"},
    },
}


def indented_xml(body: bytes) -> str:
    """A schema-valid message's XML, indented (ISO 20022 has no mixed content: only layout changes)."""
    root = parse(body)  # the rail's hardened parser: no entities, no DTD, bounded depth
    etree.indent(root, space="  ")
    return XML_DECLARATION + etree.tostring(root, encoding="unicode")


def indented_json(body: bytes) -> str:
    """JSON indented token by token: every literal (amounts, digits of a big number) stays as written."""
    return msgspec.json.format(body, indent=2).decode("utf-8")


def both_renderings(body: bytes, content_type: str) -> dict:
    """{"msg_type", "sent_as", "xml", "json"} of one message; MessageRejected (with its ISO reason and element
    path) when it cannot be read."""
    decoded = iso20022.decode(body, content_type)
    sent = decoded.rendering
    other = iso20022.JSON if sent == iso20022.XML else iso20022.XML
    converted = forward.forwarded(body, sent, other, forward.sender_header(body, sent))
    xml, json = (body, converted) if sent == iso20022.XML else (converted, body)
    return {"msg_type": decoded.msg_type, "sent_as": sent, "xml": indented_xml(xml), "json": indented_json(json)}


async def post_render(rail: object, request: Request) -> Response:
    """POST /v1/render: the message in the body (its Content-Type says which rendering) in both renderings."""
    try:
        view = both_renderings(request.body, request.head.headers.get("content-type", ""))
    except MessageRejected as exc:
        return error_response(422, "unreadable", f"not a message the rail can read: {exc}")
    return json_response(view)


__all__ = ["MessageRejected", "both_renderings", "indented_json", "indented_xml", "post_render"]
