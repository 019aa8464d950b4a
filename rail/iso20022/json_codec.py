"""The JSON rendering: the same element tree as the XML, with ISO element names as keys.

    {"MsgDefIdr": "pacs.008.001.08",
     "AppHdr": {...},                                   # optional head.001 header
     "FIToFICstmrCdtTrf": {"GrpHdr": {...}, "CdtTrfTxInf": [{...}]}}

Leaves are JSON strings (ISO 8601 dates and date-times; NbOfTxs is a string as in the XSD), booleans are JSON
booleans, an amount is {"Ccy": "PKR", "Amt": "2500.00"} with the amount as a decimal string (never a JSON
number: no binary floats near money), repeated blocks (CdtTrfTxInf, TxInfAndSts, Rpt ...) are arrays, every
other element is an object. Unknown keys are ignored, like unknown optional XML elements.

Speed: from the ``_spec`` tables we derive, once at import, msgspec Struct types mirroring the ISO tree (so
msgspec checks JSON types and mandatory elements in C, with a JSON path in its error) and generated
functions that flatten those into the message structs and back.
"""

from __future__ import annotations

import datetime as dt
import re

import msgspec

from . import _spec
from ._values import PKT, format_amount, format_bool, format_datetime, parse_amount, parse_currency
from .errors import MessageRejected
from .structs import AppHdr

MSG_DEF_KEY = "MsgDefIdr"
HEADER_KEY = "AppHdr"
AMOUNT_KEY = "Amt"
CCY_KEY = "Ccy"
_ERROR_TEXT_MAX = 350
_IDENTIFIER_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Characters XML 1.0 cannot carry, as JSON escapes (an odd number of backslashes before them) or raw UTF-8:
# a JSON message must stay forwardable as XML.
_NOT_XML_CHAR_RE = re.compile(
    rb"(?<!\\)(?:\\\\)*\\(?:u00(?:0[0-8bBcCeEfF]|1[0-9a-fA-F])|u[fF]{3}[eEfF]|[bf])|\xef\xbf[\xbe\xbf]"
)
# (Lone surrogate escapes need no check here: msgspec refuses them as malformed JSON.)


class Amount(msgspec.Struct, frozen=True):
    Ccy: str
    Amt: str


_LEAF_TYPES = {"T": str, "DT": dt.datetime, "D": dt.date, "B": bool, "A": Amount}


def _field(name: str) -> str:
    """Struct field name for an element name ("admi.002.001.01" is not a Python identifier)."""
    return name if _IDENTIFIER_RE.match(name) else "f_" + re.sub(r"\W", "_", name)


def _struct_for(node: _spec.Tree, name: str) -> type:
    """msgspec Struct type mirroring one element of the tree: mandatory children required, others None."""
    fields = []
    rename = {}
    for child_name, child in node.children.items():
        field_name = _field(child_name)
        if field_name != child_name:
            rename[field_name] = child_name
        if isinstance(child, _spec.F):
            typ = _LEAF_TYPES[child.kind]
        elif isinstance(child, _spec.B):
            typ = list[_struct_for(_spec.element_tree(child.items), f"{name}_{child_name}")]
        else:
            typ = _struct_for(child, f"{name}_{child_name}")
        if _spec.is_required(child):
            fields.append((field_name, typ))
        else:
            fields.append((field_name, typ | None, None))
    # gc=False: a decoded tree is transient and acyclic (strings, dates, nested structs, lists of them).
    return msgspec.defstruct(
        name, fields, kw_only=True, omit_defaults=True, rename=rename or None, frozen=True, gc=False
    )


# --------------------------------------------------------------------------- generated flatten / build


def _gen_flatten(
    node: _spec.Tree, src: str, dst: str, base: str, lines: list[str], depth: int, helpers: dict, prefix: str
) -> None:
    pad = "    " * depth
    for name, child in node.children.items():
        path = f"{base}{name}"
        value = f"{src}.{_field(name)}"
        if isinstance(child, _spec.B):
            fn = f"flat_{len(helpers)}"
            helpers[fn] = child
            source = value if _spec.is_required(child) else f"({value} or ())"
            lines.append(f"{pad}{dst}[{child.attr!r}] = [{fn}_cls(**{fn}(it, sub)) for it in {source}]")
        elif isinstance(child, _spec.F):
            _gen_leaf(child, value, dst, path, pad, lines)
        else:
            var = f"g{depth}_{len(lines)}"
            lines.append(f"{pad}{var} = {value}")
            if _spec.is_required(child):
                _gen_flatten(child, var, dst, path + "/", lines, depth, helpers, prefix)
            else:
                lines.append(f"{pad}if {var} is not None:")
                _gen_flatten(child, var, dst, path + "/", lines, depth + 1, helpers, prefix)


def _gen_leaf(item: _spec.F, value: str, dst: str, path: str, pad: str, lines: list[str]) -> None:
    inner = pad if item.req else pad + "    "
    lines.append(f"{pad}v = {value}")
    if not item.req:
        lines.append(f"{pad}if v is not None:")
    if item.kind == "A":
        amount, ccy = _spec.amount_attrs(item.attr)
        lines.append(f"{inner}{dst}[{amount!r}], below = amount(v.Amt, {path + '/' + AMOUNT_KEY!r})")
        lines.append(f"{inner}{dst}[{ccy!r}] = currency(v.Ccy, {path + '/' + CCY_KEY!r})")
        lines.append(f"{inner}if below:")
        lines.append(f"{inner}    sub.append({path!r})")
    elif item.kind == "DT":
        lines.append(f"{inner}{dst}[{item.attr!r}] = v if v.tzinfo is not None else v.replace(tzinfo=PKT)")
    else:
        lines.append(f"{inner}{dst}[{item.attr!r}] = v")


def _compile_flatten(items: tuple, name: str, base: str, namespace: dict) -> str:
    helpers: dict = {}
    lines = [f"def {name}(m, sub):", "    o = {}"]
    _gen_flatten(_spec.element_tree(items), "m", "o", base, lines, 1, helpers, name)
    lines.append("    return o")
    source = "\n".join(lines) + "\n"
    for fn, block in helpers.items():
        full_fn = f"{name}_{fn}"
        source = source.replace(f"{fn}_cls(**{fn}(", f"{full_fn}_cls(**{full_fn}(")
        namespace[f"{full_fn}_cls"] = block.cls
        source += _compile_flatten(block.items, full_fn, f"{base}{block.path}/", namespace)
    return source


def _gen_build(
    node: _spec.Tree,
    src: str,
    dst: str,
    always: frozenset,
    base: str,
    lines: list[str],
    depth: int,
    blocks: dict,
) -> None:
    pad = "    " * depth
    for name, child in node.children.items():
        path = f"{base}{name}"
        if isinstance(child, _spec.B):
            fn = f"build_{len(blocks)}"
            blocks[fn] = child
            lines.append(f"{pad}{dst}[{name!r}] = [{fn}(it) for it in {src}.{child.attr}]")
        elif isinstance(child, _spec.F):
            attr = _spec.amount_attrs(child.attr)[0] if child.kind == "A" else child.attr
            inner = pad if child.req else pad + "    "
            if not child.req:
                lines.append(f"{pad}if {src}.{attr} is not None:")
            if child.kind == "A":
                ccy = _spec.amount_attrs(child.attr)[1]
                expr = f"{{'Ccy': {src}.{ccy}, 'Amt': format_amount({src}.{attr})}}"
            else:
                expr = {"T": "{}", "DT": "format_datetime({})", "D": "{}.isoformat()", "B": "{}"}[child.kind]
                expr = expr.format(f"{src}.{attr}")
            lines.append(f"{inner}{dst}[{name!r}] = {expr}")
        else:
            var = f"d{depth}_{len(lines)}"
            required = _spec.forced(path, always) or _spec.is_required(child)
            inner_pad = pad
            if not required:
                lines.append(f"{pad}if {' or '.join(_spec.presence(child, src))}:")
                inner_pad = pad + "    "
            lines.append(f"{inner_pad}{var} = {dst}[{name!r}] = {{}}")
            _gen_build(child, src, var, always, path + "/", lines, len(inner_pad) // 4, blocks)


def _compile_build(items: tuple, always: frozenset, name: str) -> str:
    blocks: dict = {}
    lines = [f"def {name}(m):", "    o = {}"]
    _gen_build(_spec.element_tree(items), "m", "o", always, "", lines, 1, blocks)
    lines.append("    return o")
    source = "\n".join(lines) + "\n"
    for fn, block in blocks.items():
        full_fn = f"{name}_{fn}"
        source = source.replace(f"[{fn}(it)", f"[{full_fn}(it)")
        source += _compile_build(block.items, block.always, full_fn)
    return source


def _amount(text: str, path: str) -> tuple[int, bool]:
    try:
        return parse_amount(text)
    except ValueError as exc:
        raise _reject(f"{path}: {exc}: {text[:40]!r}", path) from None


def _currency(text: str, path: str) -> str:
    try:
        return parse_currency(text)
    except ValueError as exc:
        raise _reject(f"{path}: {exc}: {text[:40]!r}", path) from None


class _Codec:
    __slots__ = ("build", "flatten", "mandatory_blocks", "spec")

    def __init__(self, spec: _spec.MsgSpec) -> None:
        self.spec = spec
        self.mandatory_blocks = tuple(
            item for item in spec.items if isinstance(item, _spec.B) and item.min_occurs
        )
        tag = spec.msg_type.replace(".", "_")
        namespace = {
            "amount": _amount,
            "currency": _currency,
            "PKT": PKT,
            "format_amount": format_amount,
            "format_datetime": format_datetime,
            "format_bool": format_bool,
        }
        source = _compile_flatten(spec.items, f"flatten_{tag}", spec.root + "/", namespace)
        source += _compile_build(spec.items, spec.always, f"build_{tag}")
        exec(compile(source, f"<json_codec {spec.msg_type}>", "exec"), namespace)  # noqa: S102 - static tables
        self.flatten = namespace[f"flatten_{tag}"]
        self.build = namespace[f"build_{tag}"]


_CODECS = {spec.root: _Codec(spec) for spec in _spec.MESSAGE_SPECS}
_CODECS_BY_CLASS = {codec.spec.cls: codec for codec in _CODECS.values()}
_HEAD_CODEC = _Codec(_spec.HEAD001)

_ROOT_FIELDS = {spec.root: _field(spec.root) for spec in _spec.MESSAGE_SPECS}
_Envelope = msgspec.defstruct(
    "JsonEnvelope",
    [
        (MSG_DEF_KEY, str | None, None),
        (HEADER_KEY, _struct_for(_spec.element_tree(_spec.HEAD001.items), "J_head") | None, None),
    ]
    + [
        (
            _ROOT_FIELDS[spec.root],
            _struct_for(_spec.element_tree(spec.items), "J_" + spec.msg_type.replace(".", "_")) | None,
            None,
        )
        for spec in _spec.MESSAGE_SPECS
    ],
    kw_only=True,
    frozen=True,
    gc=False,
    rename={field: root for root, field in _ROOT_FIELDS.items() if field != root} or None,
)
_ENVELOPE_ROOTS = tuple(spec.root for spec in _spec.MESSAGE_SPECS)
assert _Envelope.__struct_fields__[2:] == tuple(_ROOT_FIELDS[root] for root in _ENVELOPE_ROOTS)
_decoder = msgspec.json.Decoder(_Envelope)
_encoder = msgspec.json.Encoder()


def _reject(description: str, location: str | None, related: str | None = None) -> MessageRejected:
    return MessageRejected(
        "FF01", description[:_ERROR_TEXT_MAX], location and location[:_ERROR_TEXT_MAX], related
    )


def _json_path(message: str) -> str | None:
    """msgspec's '... - at `$.FIToFICstmrCdtTrf.CdtTrfTxInf[0].PmtId`' -> element path
    'FIToFICstmrCdtTrf/CdtTrfTxInf/PmtId'."""
    marker = message.rfind("- at `$")
    if marker < 0:
        return None
    raw = message[marker + 7 :].rstrip("`")
    return re.sub(r"\[\d+\]", "", raw).strip(".").replace(".", "/") or "$"


def decode_json(body: bytes) -> tuple[object, str, AppHdr | None]:
    # Cheap prefilter before the regex: an escape needs a backslash; U+FFFE/U+FFFF need non-ASCII bytes.
    # (bytes.find is several times faster than `in` for these needles.)
    if (
        body.find(b"\\") >= 0 or (not body.isascii() and body.find(b"\xef\xbf") >= 0)
    ) and _NOT_XML_CHAR_RE.search(body):
        raise _reject(
            "JSON string holds a character XML 1.0 cannot carry (control character, U+FFFE/U+FFFF)",
            None,
        )
    try:
        envelope = _decoder.decode(body)
    except msgspec.ValidationError as exc:
        text = str(exc)
        raise _reject(f"wrong JSON type or missing element: {text}", _json_path(text)) from None
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError, ValueError) as exc:
        raise _reject(f"not valid JSON: {str(exc)[:200]}", None) from None
    # The envelope's fields are MsgDefIdr, AppHdr, then one per message root (_ENVELOPE_ROOTS order).
    roots = msgspec.structs.astuple(envelope)[2:]
    found = len(roots) - roots.count(None)
    if found != 1:
        raise _reject(
            f'JSON must hold exactly one message root key (e.g. "FIToFICstmrCdtTrf"), found {found}', "$"
        )
    for root_index, root_obj in enumerate(roots):  # exactly one is present (checked above)
        if root_obj is not None:
            break
    codec = _CODECS[_ENVELOPE_ROOTS[root_index]]
    header = None
    if envelope.AppHdr is not None:
        header = _flat(_HEAD_CODEC, envelope.AppHdr, None)
    related = header.biz_msg_idr if header else None
    declared = envelope.MsgDefIdr
    if declared is not None and declared != codec.spec.msg_type:
        raise _reject(
            f"{MSG_DEF_KEY} {declared!r} does not match root {codec.spec.root} ({codec.spec.msg_type})",
            MSG_DEF_KEY,
            related,
        )
    if header is not None and header.msg_def_idr != codec.spec.msg_type:
        raise _reject(
            f"AppHdr/MsgDefIdr {header.msg_def_idr!r} does not match {codec.spec.msg_type}",
            "AppHdr/MsgDefIdr",
            related,
        )
    message = _flat(codec, root_obj, related)
    return message, codec.spec.msg_type, header


def _flat(codec: _Codec, obj, related: str | None):
    sub: list[str] = []
    try:
        fields = codec.flatten(obj, sub)
    except MessageRejected as exc:
        exc.related_ref = related or _related_ref(obj)
        raise
    for item in codec.mandatory_blocks:
        if not fields.get(item.attr):
            where = f"{codec.spec.root}/{item.path}"
            raise _reject(f"mandatory element missing: {where}", where, related)
    if sub:
        fields["sub_paisa_amounts"] = tuple(sub)
    return codec.spec.cls(**fields)


def _related_ref(obj) -> str | None:
    for group, leaf in (("GrpHdr", "MsgId"), ("Assgnmt", "MsgId"), ("Assgnmt", "Id")):
        value = getattr(getattr(obj, group, None), leaf, None)
        if isinstance(value, str):
            return value[:35]
    return None


def encode_json(msg, header=None) -> bytes:
    codec = _CODECS_BY_CLASS[msg.__class__]
    doc: dict = {MSG_DEF_KEY: codec.spec.msg_type}
    if header is not None:
        doc[HEADER_KEY] = _HEAD_CODEC.build(header)
    doc[codec.spec.root] = codec.build(msg)
    return _encoder.encode(doc)


def generated_source(msg_type: str) -> str:
    spec = _spec.SPEC_BY_TYPE[msg_type]
    tag = spec.msg_type.replace(".", "_")
    return _compile_flatten(spec.items, f"flatten_{tag}", spec.root + "/", {}) + _compile_build(
        spec.items, spec.always, f"build_{tag}"
    )
