"""Lossless conversion of a whole message between the XML and JSON renderings, driven by the XSD model.

Every element goes across, the ones the rail's structs read and the ones they do not (postal addresses,
ultimate parties, structured remittance information, supplementary data ...), in the schema's order; a leaf's
text goes across as it was written. This is what lets the rail forward a message whole to a participant that
reads the other rendering (``forward.py``); the JSON rendering's rules are in ``json_codec``.
"""

from __future__ import annotations

from functools import cache

from lxml import etree

from . import _spec, schema
from ._values import format_bool, parse_bool
from .xml_encode import esc, esc_attr

AMOUNT_KEY, CCY_KEY = "Amt", "Ccy"


@cache
def array_paths(msg_type: str) -> frozenset[str]:
    """Element paths (from the message's root element) that the rail always writes as JSON arrays: its
    repeated blocks (CdtTrfTxInf, TxInfAndSts, Rltd ...), whatever their number."""
    spec = _spec.HEAD001 if msg_type == _spec.HEAD_MSG_TYPE else _spec.SPEC_BY_TYPE[msg_type]
    paths: set[str] = set()

    def collect(items: tuple, base: str) -> None:
        for item in items:
            if isinstance(item, _spec.B):
                paths.add(f"{base}{item.path}")
                collect(item.items, f"{base}{item.path}/")

    collect(spec.items, spec.root + "/")
    return frozenset(paths)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def element_to_json(element: etree._Element, msg_type: str) -> dict:
    """The JSON value of a schema-valid message root element (``FIToFICstmrCdtTrf`` ..., or ``AppHdr``)."""
    message_schema = schema.message_schema(msg_type)
    root = message_schema.root
    own = f' xmlns="{message_schema.namespace}"'
    return _complex_json(element, root.type, root.name, array_paths(msg_type), own)


def _wildcard_json(element: etree._Element, own_namespace: str) -> str:
    """A wildcard's one element as XML text. Unprefixed names are read in the message's own namespace (as
    inside its Document), so lxml's declaration of that namespace on the element is left out."""
    (child,) = [child for child in element if isinstance(child.tag, str)]
    text = etree.tostring(child, encoding="unicode", with_tail=False)
    start_tag_end = text.index(">")
    at = text.find(own_namespace, 0, start_tag_end)
    return text if at < 0 else text[:at] + text[at + len(own_namespace) :]


def _complex_json(element, ctype: schema.Complex, path: str, arrays: frozenset, own: str) -> object:
    if ctype.kind == schema.ANY:
        return _wildcard_json(element, own)
    if ctype.kind == schema.AMOUNT:
        return {CCY_KEY: element.get(CCY_KEY), AMOUNT_KEY: element.text or ""}
    out: dict = {}
    for child in element:
        if not isinstance(child.tag, str):
            continue
        name = _local(child.tag)
        declared = ctype.by_name[name]
        if isinstance(declared.type, schema.Simple):
            text = child.text or ""
            value = parse_bool(text) if declared.type.base == "boolean" else text
        else:
            value = _complex_json(child, declared.type, f"{path}/{name}", arrays, own)
        if declared.repeats:
            out.setdefault(name, []).append(value)
        else:
            out[name] = value
    for name, value in out.items():
        if isinstance(value, list) and len(value) == 1 and f"{path}/{name}" not in arrays:
            out[name] = value[0]
    return out


def json_to_xml(value: dict, msg_type: str) -> str:
    """XML text of a schema-valid JSON message root: ``<Document xmlns="..."><FIToFICstmrCdtTrf>...`` (or
    ``<AppHdr xmlns="...">...`` for head.001), children in the schema's order."""
    message_schema = schema.message_schema(msg_type)
    root, namespace = message_schema.root, message_schema.namespace
    if message_schema.top == "Document":
        parts = [f'<Document xmlns="{namespace}"><{root.name}>']
        close = f"</{root.name}></Document>"
    else:
        parts = [f'<{root.name} xmlns="{namespace}">']
        close = f"</{root.name}>"
    _emit(value, root.type, parts)
    parts.append(close)
    return "".join(parts)


def _emit(value, ctype: schema.Complex, parts: list[str]) -> None:
    if ctype.kind == schema.ANY:
        parts.append(value)
        return
    for child in ctype.children:
        given = value.get(child.name)
        if given is None:
            continue
        name = child.name
        for item in given if isinstance(given, list) else (given,):
            if isinstance(child.type, schema.Simple):
                text = format_bool(item) if isinstance(item, bool) else item
                parts.append(f"<{name}>{esc(text)}</{name}>")
            elif child.type.kind == schema.AMOUNT:
                parts.append(f'<{name} Ccy="{esc_attr(item[CCY_KEY])}">{esc(item[AMOUNT_KEY])}</{name}>')
            else:
                parts.append(f"<{name}>")
                _emit(item, child.type, parts)
                parts.append(f"</{name}>")
