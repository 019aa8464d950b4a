"""The JSON rendering: the XML element tree with ISO element names as keys, one to one.

    {"MsgDefIdr": "pacs.008.001.08",
     "AppHdr": {...},                                   # optional head.001 header
     "FIToFICstmrCdtTrf": {"GrpHdr": {...}, "CdtTrfTxInf": [{...}]}}

The mapping to XML (``convert.py`` turns one into the other, losslessly):
  - an element with children is an object, keyed by its children's names (order free: the XSD's applies);
  - a leaf is a JSON string holding the XML text exactly (every lexical form the XSD allows: ``"+51.74"``,
    ``"2026-12-07+05:00"``); an xs:boolean is a JSON boolean;
  - an amount is ``{"Ccy": "PKR", "Amt": "2500.00"}``, the amount a decimal string (a JSON number is refused:
    no binary floats near money);
  - an element the XSD lets repeat is an array of its occurrences, or the one occurrence itself; the rail
    always writes arrays for its repeated blocks (CdtTrfTxInf, TxInfAndSts ...) and a single value elsewhere
    when there is one occurrence;
  - the wildcard content of ``SplmtryData/Envlp`` (any XML) is a string holding that XML.

Validation is the XSD's, applied to the JSON tree: the msgspec types below are derived from the official
schema (``schema.py``), so msgspec checks in C what the XSD checks in XML (unknown or missing elements,
occurrences, lengths, patterns, code lists), and generated ``__post_init__`` hooks check the rest (one branch
of each choice, and the lexical forms of dates, date-times, decimals and binary). tests/test_iso_fidelity.py
proves the two verdicts agree: a JSON message is accepted exactly when its XML mapping is XSD-valid.

The message structs are then filled by flattening code generated from the ``_spec`` tables (the same tables as
the XML decoder), and the rail's own messages are written by generated builders from those tables.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Annotated, Literal

import msgspec
from lxml import etree

from . import _spec, schema
from ._values import (
    PKT,
    OutOfRange,
    format_amount,
    format_bool,
    format_datetime,
    parse_amount,
    parse_bool,
    parse_currency,
    parse_date,
    parse_datetime,
)
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


def field_name(name: str) -> str:
    """Struct field name for an element name ("admi.002.001.01" is not a Python identifier)."""
    return name if _IDENTIFIER_RE.match(name) else "f_" + re.sub(r"\W", "_", name)


# --------------------------------------------------------------------------- types from the XSD


class _TypeBuilder:
    """msgspec types for one message schema, one Struct per complex type (built once, shared)."""

    def __init__(self, message_schema: schema.MessageSchema) -> None:
        self.schema = message_schema
        self.prefix = "J_" + message_schema.msg_type.replace(".", "_")
        self.structs: dict[int, type] = {}

    def element(self, child: schema.Child, in_choice: bool) -> tuple[object, bool]:
        """(type, required) of one element declaration."""
        base = self.leaf(child.type) if isinstance(child.type, schema.Simple) else self.complex(child.type)
        typ = base
        if child.repeats:
            typ = base | Annotated[list[base], msgspec.Meta(min_length=child.min_occurs, max_length=child.max_occurs)]
        return typ, child.min_occurs > 0 and not in_choice

    def leaf(self, simple: schema.Simple) -> object:
        if simple.base == "boolean":
            return bool
        if simple.base != "string":
            return str  # decimals, dates, times, binary: lexical checks in __post_init__
        if simple.enumeration is not None:
            return Literal[simple.enumeration]
        meta = {}
        if simple.min_length is not None:
            meta["min_length"] = simple.min_length
        if simple.max_length is not None:
            meta["max_length"] = simple.max_length
        if simple.pattern is not None:
            meta["pattern"] = f"\\A(?:{simple.pattern})\\Z"
        return Annotated[str, msgspec.Meta(**meta)] if meta else str

    def complex(self, ctype: schema.Complex) -> object:
        if ctype.kind == schema.ANY:
            return str  # the wildcard's XML, checked in the parent's __post_init__
        known = self.structs.get(id(ctype))
        if known is not None:
            return known
        if ctype.kind == schema.AMOUNT:
            fields = [(CCY_KEY, self.leaf(ctype.ccy)), (AMOUNT_KEY, str)]
            checks = [(AMOUNT_KEY, ctype.value.check)]
            made = self._define(ctype, fields, {}, checks, None)
        else:
            fields, rename, checks = [], {}, []
            in_choice = ctype.kind == schema.CHOICE
            for child in ctype.children:
                name = field_name(child.name)
                if name != child.name:
                    rename[name] = child.name
                typ, required = self.element(child, in_choice)
                fields.append((name, typ) if required else (name, typ | None, None))
                check = _post_check(child, self.schema)
                if check is not None:
                    checks.append((name, check))
            choice = tuple(field_name(child.name) for child in ctype.children) if in_choice else None
            made = self._define(ctype, fields, rename, checks, choice)
        return made

    def _define(self, ctype, fields, rename, checks, choice) -> type:
        namespace = {}
        post_init = _post_init(checks, choice)
        if post_init is not None:
            namespace["__post_init__"] = post_init
        made = msgspec.defstruct(
            f"{self.prefix}_{ctype.name}",
            fields,
            kw_only=True,
            forbid_unknown_fields=True,
            gc=False,
            rename=rename or None,
            namespace=namespace,
        )
        self.structs[id(ctype)] = made
        return made


def _post_check(child: schema.Child, message_schema: schema.MessageSchema):
    """The Python check of one element's text, where msgspec's own constraints cannot express the XSD's."""
    if isinstance(child.type, schema.Complex):
        return _wildcard_checker(child.type, message_schema) if child.type.kind == schema.ANY else None
    if child.type.base in ("string", "boolean"):
        return None
    return child.type.check


_fragment_parser = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True
)
_BLANK = " \t\r\n"


def _wildcard_checker(ctype: schema.Complex, message_schema: schema.MessageSchema):
    """The check of an xs:any element's content (SplmtryData/Envlp, AppHdr/Sgntr), given in JSON as the XML it
    stands for: one well-formed element in the allowed namespace (unprefixed names are in the message's
    namespace, as they would be inside its Document), checked against the schema when it declares it (lax)."""
    target = message_schema.namespace

    def check(text: str) -> str | None:
        if "<!DOCTYPE" in text:
            return "DOCTYPE declarations are not allowed"
        try:
            wrapper = etree.fromstring(f'<w xmlns="{target}">{text}</w>'.encode(), _fragment_parser)
        except etree.XMLSyntaxError as exc:
            return f"not well-formed XML: {exc.msg}"
        if (wrapper.text or "").strip(_BLANK) or any((child.tail or "").strip(_BLANK) for child in wrapper):
            return "holds text outside its element"
        elements = [child for child in wrapper if isinstance(child.tag, str)]
        if len(elements) != 1:
            return f"must hold exactly one element (found {len(elements)})"
        name = etree.QName(elements[0])
        if ctype.any_namespace != "##any" and name.namespace != ctype.any_namespace:
            return f"its element must be in namespace {ctype.any_namespace}"
        if name.namespace == target and name.localname == message_schema.top:
            error = schema.xsd_error(message_schema.xsd, elements[0], target)
            if error is not None:
                return error[1]
        return None

    return check


def _post_init(checks: list, choice: tuple | None):
    """A generated ``__post_init__`` (straight-line code: it runs for every decoded struct that has one)."""
    if not checks and choice is None:
        return None
    namespace: dict = {"ValueError": ValueError, "list": list}
    lines = ["def __post_init__(self):"]
    for index, (name, check) in enumerate(checks):
        namespace[f"check{index}"] = check
        lines += [
            f"    v = self.{name}",
            "    if v is not None:",
            f"        for item in (v if v.__class__ is list else (v,)):",
            f"            reason = check{index}(item)",
            "            if reason is not None:",
            f"                raise ValueError(f'{name} {{item[:40]!r}}: {{reason}}')",
        ]
    if choice is not None:
        given = " + ".join(f"(self.{name} is not None)" for name in choice)
        listed = ", ".join(choice)
        lines += [
            f"    if {given} != 1:",
            f"        found = [n for n in {choice!r} if getattr(self, n) is not None]",
            f"        raise ValueError(f'a choice: exactly one of {listed} (found {{\", \".join(found) or \"none\"}})')",
        ]
    exec(compile("\n".join(lines) + "\n", "<json_codec post_init>", "exec"), namespace)  # noqa: S102
    return namespace["__post_init__"]


class _Model:
    """The JSON decoder of one message type (or of head.001), from its XSD."""

    def __init__(self, msg_type: str) -> None:
        message_schema = schema.message_schema(msg_type)
        self.root_type = _TypeBuilder(message_schema).complex(message_schema.root.type)
        self.decoder = msgspec.json.Decoder(self.root_type)


@cache
def _model(msg_type: str) -> _Model:
    return _Model(msg_type)


# --------------------------------------------------------------------------- flattening into message structs


def _first(value):
    """One occurrence of an element the XSD lets repeat (the struct holds the first)."""
    if value.__class__ is list:
        return value[0] if value else None
    return value


def _occurrences(value) -> list:
    if value is None:
        return []
    return value if value.__class__ is list else [value]


def _count(value, names: tuple[str, ...]) -> int:
    """Occurrences of the element at ``names`` below ``value``, over every occurrence of the elements on the way
    (C fields: how many CdtTrfTx, was Pty given), as the XML decoder counts them."""
    items = _occurrences(getattr(value, names[0]))
    if len(names) == 1:
        return len(items)
    return sum(_count(item, names[1:]) for item in items)


class _Notes:
    __slots__ = ("out_of_range", "sub_paisa")

    def __init__(self) -> None:
        self.sub_paisa: list[str] = []
        self.out_of_range: list[str] = []


def _amount(value, path: str, notes: _Notes) -> tuple[int, str]:
    try:
        paisa, below = parse_amount(value.Amt)
        currency = parse_currency(value.Ccy)
    except ValueError as exc:
        raise _reject(f"{path}: {exc}: {value.Amt[:40]!r}", path) from None
    if below:
        notes.sub_paisa.append(path)
    return paisa, currency


def _dated(parse):
    def convert(text: str, path: str, notes: _Notes):
        try:
            return parse(text)
        except OutOfRange as exc:
            notes.out_of_range.append(path)
            return exc.clamped
        except ValueError as exc:
            raise _reject(f"{path}: {exc}: {text[:40]!r}", path) from None

    return convert


_CONVERT = {"D": "to_date", "DT": "to_datetime", "B": "to_bool"}


def _gen_flatten(
    node: _spec.Tree, ctype: schema.Complex, src: str, dst: str, base: str, lines, depth, helpers, looped=False
):
    """Flattening code mirroring the XML decoder's walk: every occurrence of a repeated element is visited (a
    block collects its items from all of them) and a leaf takes its first occurrence in document order."""
    pad = "    " * depth
    for name, child in node.children.items():
        declared = ctype.by_name[name]
        path = f"{base}{name}"
        value = f"{src}.{field_name(name)}"
        if isinstance(child, _spec.B):
            fn = f"flat_{len(helpers)}"
            helpers[fn] = (child, declared.type)
            item = f"{fn}_cls(**{fn}(it, notes))"
            lines.append(f"{pad}{dst}.setdefault({child.attr!r}, []).extend([{item} for it in occurrences({value})])")
            continue
        var = f"v{depth}_{len(lines)}"
        if isinstance(child, _spec.F):
            guard = f" and {child.attr!r} not in {dst}" if looped and child.kind != "A" else ""
            if child.kind == "A":
                guard = f" and {_spec.amount_attrs(child.attr)[0]!r} not in {dst}" if looped else ""
            lines.append(f"{pad}{var} = first({value})" if declared.repeats else f"{pad}{var} = {value}")
            lines.append(f"{pad}if {var} is not None{guard}:")
            lines.append(f"{pad}    {_gen_leaf(child, var, dst, path)}")
        elif declared.repeats:
            lines.append(f"{pad}for {var} in occurrences({value}):")
            _gen_flatten(child, declared.type, var, dst, path + "/", lines, depth + 1, helpers, True)
        else:
            lines.append(f"{pad}{var} = {value}")
            lines.append(f"{pad}if {var} is not None:")
            _gen_flatten(child, declared.type, var, dst, path + "/", lines, depth + 1, helpers, looped)


def _gen_leaf(item: _spec.F, var: str, dst: str, path: str) -> str:
    if item.kind == "A":
        amount, ccy = _spec.amount_attrs(item.attr)
        return f"{dst}[{amount!r}], {dst}[{ccy!r}] = amount({var}, {path!r}, notes)"
    if item.kind == "T":
        return f"{dst}[{item.attr!r}] = {var}"
    if item.kind == "B":
        return f"{dst}[{item.attr!r}] = {var}"
    return f"{dst}[{item.attr!r}] = {_CONVERT[item.kind]}({var}, {path!r}, notes)"


def _compile_flatten(items: tuple, ctype: schema.Complex, name: str, base: str, namespace: dict) -> str:
    helpers: dict = {}
    lines = [f"def {name}(m, notes):", "    o = {}"]
    _gen_flatten(_spec.element_tree(items), ctype, "m", "o", base, lines, 1, helpers)
    for item in items:
        if isinstance(item, _spec.F) and item.kind == "C":
            names = tuple(field_name(part) for part in item.path.split("/"))
            lines.append(f"    o[{item.attr!r}] = count(m, {names!r})")
    lines.append("    return o")
    source = "\n".join(lines) + "\n"
    for fn, (block, block_type) in helpers.items():
        full_fn = f"{name}_{fn}"
        source = source.replace(f"{fn}_cls(**{fn}(", f"{full_fn}_cls(**{full_fn}(")
        namespace[f"{full_fn}_cls"] = block.cls
        source += _compile_flatten(block.items, block_type, full_fn, f"{base}{block.path}/", namespace)
    return source


# --------------------------------------------------------------------------- building the rail's messages


def _gen_build(node: _spec.Tree, src: str, dst: str, always: frozenset, base: str, lines, depth, blocks) -> None:
    pad = "    " * depth
    for name, child in node.children.items():
        path = f"{base}{name}"
        if isinstance(child, _spec.B):
            fn = f"build_{len(blocks)}"
            blocks[fn] = child
            # An absent repetition is left out, as in XML (an empty array is not a rendering of nothing).
            lines.append(f"{pad}if {src}.{child.attr}:")
            lines.append(f"{pad}    {dst}[{name!r}] = [{fn}(it) for it in {src}.{child.attr}]")
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


class _Codec:
    __slots__ = ("build", "spec")

    def __init__(self, spec: _spec.MsgSpec) -> None:
        self.spec = spec
        namespace = {"format_amount": format_amount, "format_datetime": format_datetime, "format_bool": format_bool}
        tag = spec.msg_type.replace(".", "_")
        exec(compile(_compile_build(spec.items, spec.always, f"build_{tag}"), f"<json_codec {spec.msg_type}>", "exec"), namespace)  # noqa: S102 - static tables
        self.build = namespace[f"build_{tag}"]


@cache
def _flattener(msg_type: str):
    """Generated function: a decoded JSON tree of ``msg_type`` -> the fields of its message struct."""
    spec = _spec.HEAD001 if msg_type == _spec.HEAD_MSG_TYPE else _spec.SPEC_BY_TYPE[msg_type]
    ctype = schema.message_schema(msg_type).root.type
    namespace = {
        "first": _first,
        "occurrences": _occurrences,
        "count": _count,
        "amount": _amount,
        "to_date": _dated(parse_date),
        "to_datetime": _dated(parse_datetime),
        "to_bool": parse_bool,
        "PKT": PKT,
    }
    tag = msg_type.replace(".", "_")
    source = _compile_flatten(spec.items, ctype, f"flatten_{tag}", spec.root + "/", namespace)
    exec(compile(source, f"<json_codec flatten {msg_type}>", "exec"), namespace)  # noqa: S102 - static tables
    return namespace[f"flatten_{tag}"]


_CODECS = {spec.root: _Codec(spec) for spec in _spec.MESSAGE_SPECS}
_CODECS_BY_CLASS = {codec.spec.cls: codec for codec in _CODECS.values()}
_HEAD_CODEC = _Codec(_spec.HEAD001)
_top_decoder = msgspec.json.Decoder(dict[str, msgspec.Raw])
_encoder = msgspec.json.Encoder()


def _reject(description: str, location: str | None, related: str | None = None) -> MessageRejected:
    return MessageRejected(
        "FF01", description[:_ERROR_TEXT_MAX], location and location[:_ERROR_TEXT_MAX], related
    )


def _json_path(message: str, root: str) -> str:
    """msgspec's '... - at `$.CdtTrfTxInf[0].PmtId`' -> element path 'FIToFICstmrCdtTrf/CdtTrfTxInf/PmtId'."""
    marker = message.rfind("- at `$")
    if marker < 0:
        return root
    raw = message[marker + 7 :].rstrip("`")
    rest = re.sub(r"\[\d+\]", "", raw).strip(".").replace(".", "/")
    return f"{root}/{rest}" if rest else root


def _reference_in(raw: msgspec.Raw) -> str | None:
    """MsgId (or Assgnmt Id ...) of a JSON message the schema refused, for admi.002 RltdRef: a best effort."""
    try:
        tree = msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError, ValueError):
        return None
    for group, leaf in (("GrpHdr", "MsgId"), ("Assgnmt", "MsgId"), ("Assgnmt", "Id"), ("RltdRef", "Ref")):
        value = tree.get(group) if isinstance(tree, dict) else None
        value = value.get(leaf) if isinstance(value, dict) else None
        if isinstance(value, str):
            return value[:35]
    return None


def _decode_part(msg_type: str, root: str, raw: msgspec.Raw, related: str | None):
    model = _model(msg_type)
    try:
        tree = model.decoder.decode(raw)
    except msgspec.ValidationError as exc:
        text = str(exc)
        where = _json_path(text, root)
        reason = text[: text.rfind(" - at `$")] if " - at `$" in text else text
        raise _reject(f"schema: {where}: {reason}", where, related or _reference_in(raw)) from None
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError, ValueError) as exc:
        raise _reject(f"not valid JSON: {str(exc)[:200]}", None, related) from None
    notes = _Notes()
    fields = _flattener(msg_type)(tree, notes)
    if notes.sub_paisa:
        fields["sub_paisa_amounts"] = tuple(notes.sub_paisa)
    if notes.out_of_range:
        fields["out_of_range"] = tuple(notes.out_of_range)
    spec = _spec.HEAD001 if msg_type == _spec.HEAD_MSG_TYPE else _spec.SPEC_BY_TYPE[msg_type]
    return spec.cls(**fields)


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
        top = _top_decoder.decode(body)
    except msgspec.ValidationError:
        raise _reject('JSON must be an object: {"MsgDefIdr": ..., "FIToFICstmrCdtTrf": {...}}', "$") from None
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError, ValueError) as exc:
        raise _reject(f"not valid JSON: {str(exc)[:200]}", None) from None
    roots = [key for key in top if key not in (MSG_DEF_KEY, HEADER_KEY)]
    if len(roots) != 1:
        raise _reject(
            f'JSON must hold exactly one message root key (e.g. "FIToFICstmrCdtTrf"), found {len(roots)}'
            + (f": {', '.join(roots)[:200]}" if roots else ""),
            "$",
        )
    root = roots[0]
    codec = _CODECS.get(root)
    if codec is None:
        raise _reject(
            f"{root!r} is not the root element of a message this rail takes ({', '.join(_CODECS)})", root
        )
    msg_type = codec.spec.msg_type
    header = None
    if HEADER_KEY in top:
        header = _decode_part(_spec.HEAD_MSG_TYPE, HEADER_KEY, top[HEADER_KEY], None)
    related = header.biz_msg_idr if header else None
    if MSG_DEF_KEY in top:
        declared = msgspec.json.decode(top[MSG_DEF_KEY])
        if declared != msg_type:
            raise _reject(
                f"{MSG_DEF_KEY} {declared!r} does not match root {root} ({msg_type})", MSG_DEF_KEY, related
            )
    if header is not None and header.msg_def_idr != msg_type:
        raise _reject(
            f"AppHdr/MsgDefIdr {header.msg_def_idr!r} does not match {msg_type}", "AppHdr/MsgDefIdr", related
        )
    message = _decode_part(msg_type, root, top[root], related)
    return message, msg_type, header


def encode_json(msg, header=None) -> bytes:
    codec = _CODECS_BY_CLASS[msg.__class__]
    doc: dict = {MSG_DEF_KEY: codec.spec.msg_type}
    if header is not None:
        doc[HEADER_KEY] = _HEAD_CODEC.build(header)
    doc[codec.spec.root] = codec.build(msg)
    return _encoder.encode(doc)


def warm_up(msg_type: str) -> None:
    """Build the decoder and the flattening code of one message type (or head.001) ahead of use."""
    _model(msg_type)
    _flattener(msg_type)


def decode_header_json(raw: msgspec.Raw | bytes) -> AppHdr:
    """The struct of a JSON ``AppHdr`` object (checked against head.001's schema)."""
    return _decode_part(_spec.HEAD_MSG_TYPE, HEADER_KEY, raw, None)


def header_json(header: AppHdr) -> dict:
    """A header as the JSON rendering's ``AppHdr`` object."""
    return _HEAD_CODEC.build(header)


def generated_source(msg_type: str) -> str:
    spec = _spec.SPEC_BY_TYPE[msg_type]
    tag = spec.msg_type.replace(".", "_")
    ctype = schema.message_schema(msg_type).root.type
    return _compile_flatten(spec.items, ctype, f"flatten_{tag}", spec.root + "/", {}) + _compile_build(
        spec.items, spec.always, f"build_{tag}"
    )
