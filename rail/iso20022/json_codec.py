"""The JSON rendering: the same element tree as the XML, with ISO element names as keys.

    {"MsgDefIdr": "pacs.008.001.08",
     "AppHdr": {...},                                   # optional head.001 header
     "FIToFICstmrCdtTrf": {"GrpHdr": {...}, "CdtTrfTxInf": [{...}]}}

Rules (docs/iso20022.md has the full description): leaves are JSON strings (dates and date-times in ISO 8601,
NbOfTxs as a string as in the XSD), booleans are JSON booleans, an amount is {"Ccy": "PKR", "Amt": "2500.00"}
with the amount as a decimal string (never a JSON number: no binary floats near money), repeated blocks
(CdtTrfTxInf, TxInfAndSts, Rpt ...) are arrays, every other element is an object. Unknown keys are ignored,
like unknown optional XML elements. The message type is detected from the root key (or MsgDefIdr).
"""

from __future__ import annotations

import re

import msgspec

from . import _spec
from ._values import (
    format_amount, format_datetime, parse_amount, parse_bool, parse_currency, parse_date,
    parse_datetime,
)
from .errors import MessageRejected
from .structs import AppHdr

MSG_DEF_KEY = "MsgDefIdr"
HEADER_KEY = "AppHdr"
AMOUNT_KEY = "Amt"
CCY_KEY = "Ccy"
_ERROR_TEXT_MAX = 350
# Characters XML 1.0 cannot carry: a JSON message must stay forwardable as XML.
_NOT_XML_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

_json_decoder = msgspec.json.Decoder()
_json_encoder = msgspec.json.Encoder()


class _Leaf:
    __slots__ = ("attr", "kind", "path", "ccy_attr")

    def __init__(self, item: _spec.F, path: str) -> None:
        self.kind, self.path = item.kind, path
        if item.kind == "A":
            self.attr, self.ccy_attr = _spec.amount_attrs(item.attr)
        else:
            self.attr, self.ccy_attr = item.attr, None


class _Block:
    __slots__ = ("block", "node", "required", "path")

    def __init__(self, block: _spec.B, node: dict, required: frozenset, path: str) -> None:
        self.block, self.node, self.required, self.path = block, node, required, path


def _compile(items: tuple, base: str) -> tuple[dict, frozenset]:
    """Trie keyed by element names: value is a sub-trie dict, a _Leaf or a _Block."""
    root: dict = {}
    required = set()
    for item in items:
        if isinstance(item, _spec.F) and item.kind == "C":
            continue
        parts = item.path.split("/")
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        full = f"{base}{item.path}"
        if isinstance(item, _spec.B):
            sub, sub_required = _compile(item.items, full + "/")
            node[parts[-1]] = _Block(item, sub, sub_required, full)
        else:
            leaf = _Leaf(item, full)
            node[parts[-1]] = leaf
            if item.req:
                required.add(leaf.attr)
                if leaf.ccy_attr:
                    required.add(leaf.ccy_attr)
    return root, frozenset(required)


class _Compiled:
    __slots__ = ("spec", "node", "required", "attr_paths", "tree")

    def __init__(self, spec: _spec.MsgSpec) -> None:
        self.spec = spec
        self.node, self.required = _compile(spec.items, spec.root + "/")
        self.attr_paths = {}
        _collect_paths(spec.items, spec.root + "/", self.attr_paths)


def _collect_paths(items: tuple, base: str, out: dict) -> None:
    for item in items:
        if isinstance(item, _spec.B):
            _collect_paths(item.items, f"{base}{item.path}/", out)
        elif item.kind == "A":
            amount, ccy = _spec.amount_attrs(item.attr)
            out[amount], out[ccy] = f"{base}{item.path}/{AMOUNT_KEY}", f"{base}{item.path}/{CCY_KEY}"
        elif item.kind != "C":
            out[item.attr] = f"{base}{item.path}"


_COMPILED = {spec.root: _Compiled(spec) for spec in _spec.MESSAGE_SPECS}
_HEAD = _Compiled(_spec.HEAD001)


def _reject(description: str, location: str | None, related: str | None = None) -> MessageRejected:
    return MessageRejected("FF01", description[:_ERROR_TEXT_MAX], location and location[:_ERROR_TEXT_MAX], related)


def _text(value: object, path: str) -> str:
    if value.__class__ is not str:
        raise _reject(f"{path}: expected a JSON string, got {_json_type(value)}", path)
    if _NOT_XML_CHAR.search(value):
        raise _reject(f"{path}: control character not allowed", path)
    return value


def _json_type(value: object) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number",
            type(None): "null"}.get(value.__class__, value.__class__.__name__)


def _walk(obj: object, node: dict, out: dict, path: str, sub_paisa: list[str]) -> None:
    if obj.__class__ is not dict:
        raise _reject(f"{path}: expected a JSON object, got {_json_type(obj)}", path)
    for key, value in obj.items():
        entry = node.get(key)
        if entry is None:
            continue
        cls = entry.__class__
        if cls is dict:
            _walk(value, entry, out, f"{path}/{key}", sub_paisa)
        elif cls is _Leaf:
            _leaf(entry, value, out, sub_paisa)
        else:
            if value.__class__ is not list:
                raise _reject(f"{entry.path}: expected a JSON array, got {_json_type(value)}", entry.path)
            items = out[entry.block.attr] = []
            for element in value:
                item: dict = {}
                _walk(element, entry.node, item, entry.path, sub_paisa)
                missing = entry.required - item.keys()
                if missing:
                    where = _missing_path(entry.block.items, entry.path + "/", missing)
                    raise _reject(f"mandatory element missing: {where}", where)
                items.append(entry.block.cls(**item))


def _leaf(entry: _Leaf, value: object, out: dict, sub_paisa: list[str]) -> None:
    kind = entry.kind
    try:
        if kind == "T":
            out[entry.attr] = _text(value, entry.path)
        elif kind == "B":
            if value.__class__ is not bool:
                raise _reject(f"{entry.path}: expected a JSON boolean, got {_json_type(value)}", entry.path)
            out[entry.attr] = value
        elif kind == "A":
            if value.__class__ is not dict:
                raise _reject(f"{entry.path}: expected an object {{\"Ccy\", \"Amt\"}}, got {_json_type(value)}",
                              entry.path)
            amount = value.get(AMOUNT_KEY)
            if amount is not None:
                paisa, below_paisa = parse_amount(_text(amount, f"{entry.path}/{AMOUNT_KEY}"))
                out[entry.attr] = paisa
                if below_paisa:
                    sub_paisa.append(entry.path)
            ccy = value.get(CCY_KEY)
            if ccy is not None:
                out[entry.ccy_attr] = parse_currency(_text(ccy, f"{entry.path}/{CCY_KEY}"))
        elif kind == "DT":
            out[entry.attr] = parse_datetime(_text(value, entry.path))
        elif kind == "D":
            out[entry.attr] = parse_date(_text(value, entry.path))
        else:
            out[entry.attr] = parse_bool(_text(value, entry.path))
    except ValueError as exc:
        raise _reject(f"{entry.path}: {exc}", entry.path) from None


def _missing_path(items: tuple, base: str, missing: frozenset | set) -> str:
    for item in items:
        if isinstance(item, _spec.F) and item.kind != "C":
            attrs = _spec.amount_attrs(item.attr) if item.kind == "A" else (item.attr,)
            if missing.intersection(attrs):
                return f"{base}{item.path}"
    return base.rstrip("/")


def _build(compiled: _Compiled, obj: object, related: str | None):
    out: dict = {}
    sub_paisa: list[str] = []
    try:
        _walk(obj, compiled.node, out, compiled.spec.root, sub_paisa)
        missing = compiled.required - out.keys()
        if missing:
            where = _missing_path(compiled.spec.items, compiled.spec.root + "/", missing)
            raise _reject(f"mandatory element missing: {where}", where)
        for item in compiled.spec.items:
            if isinstance(item, _spec.B) and item.min_occurs and not out.get(item.attr):
                where = f"{compiled.spec.root}/{item.path}"
                raise _reject(f"mandatory element missing: {where}", where)
    except MessageRejected as exc:
        exc.related_ref = exc.related_ref or related or _related_ref(out)
        raise
    if sub_paisa:
        out["sub_paisa_amounts"] = tuple(sub_paisa)
    return compiled.spec.cls(**out)


def _related_ref(fields: dict) -> str | None:
    for attr in ("msg_id", "assgnmt_id", "biz_msg_idr"):
        value = fields.get(attr)
        if value is not None:
            return value
    return None


def decode_json(body: bytes) -> tuple[object, str, AppHdr | None]:
    try:
        doc = _json_decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise _reject(f"not valid JSON: {exc}", None) from None
    if doc.__class__ is not dict:
        raise _reject(f"top level must be a JSON object, got {_json_type(doc)}", "$")
    roots = [key for key in doc if key in _COMPILED]
    if len(roots) != 1:
        raise _reject("JSON must hold exactly one message root key (e.g. \"FIToFICstmrCdtTrf\"), found "
                      f"{len(roots)}", "$")
    compiled = _COMPILED[roots[0]]
    header = None
    if HEADER_KEY in doc:
        header = _build(_HEAD, doc[HEADER_KEY], None)
    related = header.biz_msg_idr if header else None
    declared = doc.get(MSG_DEF_KEY)
    if declared is not None and declared != compiled.spec.msg_type:
        raise _reject(f"{MSG_DEF_KEY} {declared!r} does not match root {compiled.spec.root} "
                      f"({compiled.spec.msg_type})", MSG_DEF_KEY, related)
    if header is not None and header.msg_def_idr != compiled.spec.msg_type:
        raise _reject(f"AppHdr/MsgDefIdr {header.msg_def_idr!r} does not match {compiled.spec.msg_type}",
                      "AppHdr/MsgDefIdr", related)
    return _build(compiled, doc[roots[0]], related), compiled.spec.msg_type, header


# --------------------------------------------------------------------------- encoding


def _to_tree(msg, items: tuple, always: frozenset, prefix: str) -> dict:
    out: dict = {}
    for item in items:
        if isinstance(item, _spec.B):
            values = getattr(msg, item.attr)
            parts = item.path.split("/")
            target = _ensure(out, parts[:-1])
            target[parts[-1]] = [_to_tree(v, item.items, item.always, "") for v in values]
            continue
        if item.kind == "C":
            continue
        if item.kind == "A":
            amount_attr, ccy_attr = _spec.amount_attrs(item.attr)
            paisa = getattr(msg, amount_attr)
            if paisa is None:
                continue
            value: object = {CCY_KEY: getattr(msg, ccy_attr), AMOUNT_KEY: format_amount(paisa)}
        else:
            value = getattr(msg, item.attr)
            if value is None:
                continue
            if item.kind == "DT":
                value = format_datetime(value)
            elif item.kind == "D":
                value = value.isoformat()
        parts = item.path.split("/")
        _ensure(out, parts[:-1])[parts[-1]] = value
    for path in always:
        _ensure(out, path.split("/"))
    return out


def _ensure(out: dict, parts: list[str]) -> dict:
    node = out
    for part in parts:
        node = node.setdefault(part, {})
    return node


def encode_json(msg, header=None) -> bytes:
    spec = _spec.SPEC_BY_CLASS[msg.__class__]
    doc: dict = {MSG_DEF_KEY: spec.msg_type}
    if header is not None:
        doc[HEADER_KEY] = _to_tree(header, _spec.HEAD001.items, _spec.HEAD001.always, "")
    doc[spec.root] = _to_tree(msg, spec.items, spec.always, "")
    return _json_encoder.encode(doc)


__all__ = ["decode_json", "encode_json"]
