"""ISO 20022 message layer of the rail: decode (checked against the official XSDs), validate against the RAAST
profile, build, encode, forward whole.

    decoded = decode(body, content_type)          # MessageRejected -> answer admi.002 (message_reject_for)
    violations = validate(decoded.message, RAAST_PROFILE, known_bics)   # [] = accepted
    body = encode(status_report(...), "xml")      # or "json"; header=AppHdr(...) wraps it in an envelope
    body = forward.forwarded(original, "xml", "json", header)   # a message whole, in another rendering

Message structs, the JSON rendering and the rule -> reason code table are described in docs/iso20022.md.
"""

from __future__ import annotations

from . import _spec, bah, codes, convert, forward, json_codec, schema
from ._spec import MSG_TYPES
from .builders import (
    account_notification,
    application_header,
    credit_transfer,
    forward_credit_transfer,
    forward_recall,
    message_reject,
    message_reject_for,
    now_pkt,
    payment_return,
    recall_request,
    resolution,
    request_to_pay,
    rtp_status,
    status_report,
    status_report_for,
    status_request,
    verification_report,
    verification_request,
)
from .errors import MessageRejected, Violation
from .identifiers import (
    bic_is_valid,
    canonical_bic,
    cnic_is_valid,
    iban_is_valid,
    make_pk_iban,
    normalise_pk_mobile,
    pk_iban_is_valid,
    uetr_is_valid,
)
from .json_codec import decode_json, encode_json
from .profile import RAAST_PROFILE, Profile, validate
from .structs import (
    Acmt023,
    Acmt024,
    Admi002,
    Admi004,
    AppHdr,
    Camt029,
    Camt054,
    Camt056,
    CdtTrfTxInf,
    CxlTxInf,
    CxlTxInfAndSts,
    Decoded,
    Ntfctn,
    OrgnlPmtInfAndSts,
    Pacs002,
    Pacs004,
    Pacs008,
    Pacs028,
    Pain013,
    Pain014,
    PmtInf,
    PmtRtrTxInf,
    StsReqTxInf,
    TxInfAndSts,
    Vrfctn,
    VrfctnRpt,
)
from .xml_decode import BODY_BYTES_MAX, DEPTH_MAX, ELEMENTS_MAX, decode_xml
from .xml_encode import encode_xml

XML = "xml"
JSON = "json"
RENDERINGS = (XML, JSON)
CONTENT_TYPES = {XML: "application/xml", JSON: "application/json"}


_EXACT_CONTENT_TYPES = {"application/xml": XML, "text/xml": XML, "application/json": JSON}


def rendering_of(content_type: str | None, body: bytes = b"", *, default: str | None = None) -> str:
    """'xml' or 'json' from a Content-Type (``application/xml``, ``text/xml``, ``application/json``,
    ``+xml``/``+json`` suffixes, parameters ignored); without a usable one, sniffed from the first byte. The one
    place that decides: with `default` (the rendering of an answer to a request that may be unreadable), that
    instead of MessageRejected."""
    exact = _EXACT_CONTENT_TYPES.get(content_type)  # type: ignore[arg-type]
    if exact is not None:
        return exact
    if default is not None:
        try:
            return rendering_of(content_type, body)
        except MessageRejected:
            return default
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media.endswith("xml"):
        return XML
    if media.endswith("json"):
        return JSON
    if media and media not in ("application/octet-stream", "text/plain"):
        raise MessageRejected(
            codes.FF01, f"unsupported content type {content_type!r}; use application/xml or application/json"
        )
    first = body[:64].lstrip(b" \t\r\n\xef\xbb\xbf")[:1]
    if first == b"{":
        return JSON
    if first == b"<":
        return XML
    raise MessageRejected(codes.FF01, "body is neither XML nor JSON")


def warm_up() -> None:
    """Load every schema and build every JSON decoder now (about half a second), so that no participant's first
    message pays for it."""
    for msg_type in (*MSG_TYPES, _spec.HEAD_MSG_TYPE):
        schema.message_schema(msg_type)
        json_codec.warm_up(msg_type)


def decode(body: bytes, content_type: str | None) -> Decoded:
    """Bytes -> Decoded(message, rendering, msg_type, header); MessageRejected (FF01) when unreadable."""
    if len(body) > BODY_BYTES_MAX:
        raise MessageRejected(
            codes.FF01, f"body of {len(body)} bytes exceeds the {BODY_BYTES_MAX}-byte limit"
        )
    rendering = rendering_of(content_type, body)
    if rendering == XML:
        message, msg_type, header = decode_xml(body)
    else:
        message, msg_type, header = decode_json(body)
    return Decoded(message, rendering, msg_type, header)


def encode(msg, rendering: str, header: AppHdr | None = None) -> bytes:
    """Struct -> bytes in ``rendering`` ("xml" | "json"), optionally with a head.001 header."""
    if rendering == XML:
        return encode_xml(msg, header)
    if rendering == JSON:
        return encode_json(msg, header)
    raise ValueError(f"unknown rendering {rendering!r}")


__all__ = [
    "BODY_BYTES_MAX",
    "CONTENT_TYPES",
    "DEPTH_MAX",
    "ELEMENTS_MAX",
    "JSON",
    "MSG_TYPES",
    "RAAST_PROFILE",
    "RENDERINGS",
    "XML",
    "Acmt023",
    "Acmt024",
    "Admi002",
    "Admi004",
    "AppHdr",
    "Camt029",
    "Camt054",
    "Camt056",
    "CdtTrfTxInf",
    "CxlTxInf",
    "CxlTxInfAndSts",
    "Decoded",
    "MessageRejected",
    "Ntfctn",
    "OrgnlPmtInfAndSts",
    "Pacs002",
    "Pacs004",
    "Pacs008",
    "Pacs028",
    "Pain013",
    "Pain014",
    "PmtInf",
    "PmtRtrTxInf",
    "Profile",
    "StsReqTxInf",
    "TxInfAndSts",
    "Violation",
    "Vrfctn",
    "VrfctnRpt",
    "account_notification",
    "application_header",
    "credit_transfer",
    "bic_is_valid",
    "canonical_bic",
    "cnic_is_valid",
    "bah",
    "codes",
    "convert",
    "decode",
    "decode_json",
    "decode_xml",
    "encode",
    "encode_json",
    "encode_xml",
    "forward",
    "forward_credit_transfer",
    "forward_recall",
    "iban_is_valid",
    "make_pk_iban",
    "message_reject",
    "message_reject_for",
    "normalise_pk_mobile",
    "now_pkt",
    "payment_return",
    "pk_iban_is_valid",
    "recall_request",
    "rendering_of",
    "request_to_pay",
    "resolution",
    "rtp_status",
    "schema",
    "status_report",
    "status_report_for",
    "status_request",
    "uetr_is_valid",
    "validate",
    "verification_report",
    "verification_request",
    "warm_up",
]
