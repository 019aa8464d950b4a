"""What a recipient gets of a message the rail forwards: the sender's Document whole, in the recipient's
rendering, under the rail's own header when the sender used one (``bah.py`` says why).

The rail keeps the sender's bytes as they came (schema-valid: they passed the edge). For a recipient that
reads the same rendering and needs no header they go out unchanged; otherwise the Document is taken out of
its envelope as it is (XML) or converted element by element (``convert.py``): nothing is dropped, nothing is
rebuilt from the rail's structs.
"""

from __future__ import annotations

import msgspec
from lxml import etree

from . import _spec, convert
from .json_codec import HEADER_KEY, MSG_DEF_KEY, decode_header_json, header_json
from .structs import AppHdr
from .xml_decode import parse, read_header
from .xml_encode import envelope

XML, JSON = "xml", "json"
_top = msgspec.json.Decoder(dict[str, msgspec.Raw])
_encoder = msgspec.json.Encoder()
_DOCUMENT_SUFFIX = "}Document"


def _document_of(root: etree._Element) -> etree._Element:
    """The Document of a bare Document or of an AppHdr + Document envelope."""
    if isinstance(root.tag, str) and root.tag.endswith(_DOCUMENT_SUFFIX):
        return root
    return [child for child in root if isinstance(child.tag, str)][1]


def _msg_type(document: etree._Element) -> str:
    return document.tag[1 : document.tag.index("}")].rsplit(":", 1)[-1]


def sender_header(original: bytes, rendering: str) -> AppHdr | None:
    """The header the sender put on ``original`` (None: it sent a bare Document). Cheap for a bare Document:
    a byte search first (the name can only be missing from a message without a header)."""
    if rendering == XML:
        if original.find(b"AppHdr") < 0:
            return None
        root = parse(original)
        if root.tag.endswith(_DOCUMENT_SUFFIX):
            return None
        return read_header([child for child in root if isinstance(child.tag, str)][0])
    if original.find(b'"AppHdr"') < 0:
        return None
    top = _top.decode(original)
    return decode_header_json(top[HEADER_KEY]) if HEADER_KEY in top else None


def forwarded(original: bytes, rendering: str, to_rendering: str, header: AppHdr | None = None) -> bytes:
    """``original`` (in ``rendering``) as the recipient reads it: in ``to_rendering``, with ``header`` (the
    rail's) in place of the sender's, or bare when ``header`` is None."""
    if rendering == XML:
        root = parse(original)
        document = _document_of(root)
        if to_rendering == XML:
            if header is None and document is root:
                return original
            return envelope(etree.tostring(document, encoding="unicode"), header)
        msg_type = _msg_type(document)
        content = convert.element_to_json(document[0], msg_type)
        return _json_message(msg_type, content, header)
    top = _top.decode(original)
    (root_key,) = [key for key in top if key not in (MSG_DEF_KEY, HEADER_KEY)]
    msg_type = _spec.SPEC_BY_ROOT[root_key].msg_type
    if to_rendering == JSON:
        if header is None and HEADER_KEY not in top:
            return original
        return _json_message(msg_type, top[root_key], header, root_key)
    content = msgspec.json.decode(top[root_key])
    return envelope(convert.json_to_xml(content, msg_type), header)


def _json_message(msg_type: str, content, header: AppHdr | None, root_key: str | None = None) -> bytes:
    out: dict = {MSG_DEF_KEY: msg_type}
    if header is not None:
        out[HEADER_KEY] = header_json(header)
    out[root_key or _spec.SPEC_BY_TYPE[msg_type].root] = content
    return _encoder.encode(out)


def with_header(body: bytes, rendering: str, header: AppHdr) -> bytes:
    """A message the rail wrote (a bare Document, e.g. a cached status report) with ``header`` added."""
    if rendering == XML:
        start = body.index(b"<Document")
        return envelope(body[start:].decode(), header)
    top = _top.decode(body)
    out: dict = {MSG_DEF_KEY: top[MSG_DEF_KEY], HEADER_KEY: header_json(header)}
    out.update((key, value) for key, value in top.items() if key not in out)
    return _encoder.encode(out)


_NS_MARK = b"urn:iso:std:iso:20022:tech:xsd:"


def msg_type_of(body: bytes, rendering: str) -> str:
    """The message identifier of a message the rail wrote (its Document namespace, or JSON MsgDefIdr)."""
    if rendering == XML:
        start = body.find(_NS_MARK, body.find(b"<Document"))
        return body[start + len(_NS_MARK) : start + len(_NS_MARK) + 15].decode()
    return msgspec.json.decode(_top.decode(body)[MSG_DEF_KEY])

