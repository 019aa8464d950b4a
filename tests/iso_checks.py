"""Checks shared by the ISO 20022 tests: is a whole message (envelope and header included, in either rendering)
valid against the official XSDs, and the reference mapping of any JSON tree to XML."""

from __future__ import annotations

import base64
import datetime as dt
from functools import cache

import msgspec
from hypothesis import strategies as st
from lxml import etree

from conftest import XSD_DIR
from rail.iso20022 import convert, schema
from rail.iso20022.xml_encode import esc, esc_attr

HEAD = "head.001.001.02"


@cache
def xsd(msg_type: str) -> etree.XMLSchema:
    """The official schema, loaded straight from the files (not through the code under test)."""
    return etree.XMLSchema(etree.parse(str(XSD_DIR / f"{msg_type}.xsd")))


def _namespace_type(element: etree._Element) -> str:
    return etree.QName(element).namespace.rsplit(":", 1)[-1]


def assert_schema_valid(body: bytes | str) -> str:
    """Validate a whole message as the rail writes it; returns its message type. XML: the Document, and the
    AppHdr when it is wrapped in an envelope. JSON: its XML mapping (MsgDefIdr names the type), header too."""
    if isinstance(body, str):
        body = body.encode()
    if body.lstrip()[:1] == b"{":
        top = msgspec.json.decode(body)
        msg_type = top["MsgDefIdr"]
        roots = [key for key in top if key not in ("MsgDefIdr", "AppHdr")]
        assert len(roots) == 1, roots
        document = etree.fromstring(convert.json_to_xml(top[roots[0]], msg_type).encode())
        assert xsd(msg_type).validate(document), (msg_type, xsd(msg_type).error_log, body[:1500])
        if "AppHdr" in top:
            header = etree.fromstring(convert.json_to_xml(top["AppHdr"], HEAD).encode())
            assert xsd(HEAD).validate(header), (xsd(HEAD).error_log, body[:1500])
        return msg_type
    root = etree.fromstring(body)
    if etree.QName(root).localname != "Document":
        header, root = [child for child in root if isinstance(child.tag, str)]
        assert _namespace_type(header) == HEAD, header.tag
        assert xsd(HEAD).validate(header), (xsd(HEAD).error_log, body[:1500])
    msg_type = _namespace_type(root)
    assert xsd(msg_type).validate(root), (msg_type, xsd(msg_type).error_log, body[:1500])
    return msg_type


class NoXml(Exception):
    """A JSON tree no XML document maps to (a number, a null inside an array, an array of arrays ...)."""


def loose_json_to_xml(value: dict, msg_type: str) -> bytes:
    """The reference mapping of ANY JSON tree to XML, as the rendering's rules define it (json_codec): keys are
    element names (in the schema's order when it knows them; a key naming no element of its place has no XML),
    arrays are repeated elements, strings are text (objects for elements with children), booleans true/false
    (only for xs:boolean elements, which take only booleans), null is an optional element's absence, an
    amount's Ccy is its attribute and any other key of an amount an attribute too, a wildcard's string is its
    XML. Raises NoXml when nothing maps to it."""
    message_schema = schema.message_schema(msg_type)
    root = message_schema.root
    inner = _element(root.name, value, root)
    if message_schema.top == "Document":
        text = f'<Document xmlns="{message_schema.namespace}">{inner}</Document>'
    else:
        text = inner.replace(f"<{root.name}>", f'<{root.name} xmlns="{message_schema.namespace}">', 1)
    return text.encode()


def _element(name: str, value, child: schema.Child | None) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        if child is not None and not child.repeats:
            raise NoXml("an array stands for an element the schema lets repeat")
        if any(isinstance(item, list) or item is None for item in value):
            raise NoXml("array inside an array, or null inside an array")
        return "".join(_element(name, item, child) for item in value)
    declared = child.type if child is not None else None
    wildcard = isinstance(declared, schema.Complex) and declared.kind == schema.ANY
    if wildcard and not isinstance(value, str):
        raise NoXml("a wildcard's content is a string of XML")
    if isinstance(declared, schema.Simple) and isinstance(value, bool) != (declared.base == "boolean"):
        raise NoXml("an xs:boolean is a JSON boolean, any other leaf a JSON string")
    if isinstance(value, bool):
        return f"<{name}>{'true' if value else 'false'}</{name}>"
    if isinstance(value, str):
        if wildcard:
            return f"<{name}>{value}</{name}>"
        if isinstance(declared, schema.Complex) and declared.kind != schema.AMOUNT:
            # Even "" would be an XSD-valid empty element where every child is optional, but that element is
            # {}: one JSON form for one XML form keeps the mapping 1:1.
            raise NoXml("an element with children is an object")
        return f"<{name}>{esc(value)}</{name}>"
    if not isinstance(value, dict):
        raise NoXml(f"{type(value).__name__} has no XML form")
    if isinstance(declared, schema.Complex) and declared.kind == schema.AMOUNT:
        attributes = "".join(
            f' {key}="{esc_attr(str(item))}"' for key, item in value.items() if key != "Amt" and item is not None
        )
        amount = value.get("Amt")
        if amount is not None and not isinstance(amount, str):
            raise NoXml("an amount is a string")
        if any(not isinstance(item, str) for key, item in value.items() if key != "Amt" and item is not None):
            raise NoXml("an attribute is a string")
        return f"<{name}{attributes}>{esc(amount or '')}</{name}>"
    order = list(declared.by_name) if isinstance(declared, schema.Complex) else []
    if order and any(key not in declared.by_name for key in value):
        raise NoXml("a key names no element of this place, even with a null value")
    keys = [key for key in order if key in value] + [key for key in value if key not in order]
    children = "".join(_element(key, value[key], declared.by_name.get(key) if order else None) for key in keys)
    return f"<{name}>{children}</{name}>"


# --------------------------------------------------------------------------- schema-valid values (hypothesis)

# Text that XML 1.0 carries, with markup characters, whitespace and non-Latin letters.
TEXT_CHARS = list("abcXYZ019 &<>\"'-/.+:\t") + ["\u0639", "\u0644", "\u06cc", "\u00e9", "\U0001f600"]
ZONES = ["", "Z", "+05:00", "-03:30", "+14:00", "-00:00"]


def _text(simple: schema.Simple) -> st.SearchStrategy[str]:
    low = simple.min_length or 0
    high = min(simple.max_length or 40, max(low, 40))
    return st.text(st.sampled_from(TEXT_CHARS), min_size=low, max_size=high)


def _decimal(simple: schema.Simple) -> st.SearchStrategy[str]:
    """Every lexical form of a decimal within its facets: signs, leading and trailing zeros, '.5', '5.'."""
    probe = simple.check
    # The facets live in the checker: derive the bounds by asking it (cheap, exact).
    fraction_max = next((n for n in range(0, 20) if probe("0." + "1" * (n + 1)) is not None), 19)
    total_max = next((n for n in range(1, 40) if probe("1" * (n + 1)) is not None), 39)
    allows_negative = probe("-1") is None

    @st.composite
    def build(draw) -> str:
        fraction_digits = draw(st.integers(0, fraction_max))
        units_digits = draw(st.integers(0 if fraction_digits else 1, max(1, total_max - fraction_digits)))
        units = draw(st.text("0123456789", min_size=units_digits, max_size=units_digits))
        fraction = draw(st.text("0123456789", min_size=fraction_digits, max_size=fraction_digits))
        if not units and not fraction:
            units = "0"
        zeros = draw(st.sampled_from(["", "0", "00"]))
        sign = draw(st.sampled_from(["", "+", "-"] if allows_negative else ["", "+"]))
        text = f"{sign}{zeros}{units}"
        if fraction or draw(st.booleans()):
            text += "." + fraction + draw(st.sampled_from(["", "0", "000"]))
        return text

    return build().filter(lambda text: probe(text) is None)


def _date() -> st.SearchStrategy[str]:
    return st.builds(
        lambda d, zone: d.isoformat() + zone,
        st.dates(min_value=dt.date(1, 1, 1)),
        st.sampled_from(ZONES),
    )


def _datetime() -> st.SearchStrategy[str]:
    @st.composite
    def build(draw) -> str:
        moment = draw(st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30)))
        if draw(st.integers(0, 9)) == 0:
            clock = "24:00:00" + draw(st.sampled_from(["", ".0", ".000"]))
        else:
            clock = moment.strftime("%H:%M:%S")
            digits = draw(st.integers(0, 9))
            if digits:
                clock += "." + draw(st.text("0123456789", min_size=digits, max_size=digits))
        return f"{moment.date().isoformat()}T{clock}{draw(st.sampled_from(ZONES))}"

    return build()


_LEAVES = {
    "date": lambda simple: _date(),
    "dateTime": lambda simple: _datetime(),
    "time": lambda simple: st.builds(
        lambda t, zone: t.strftime("%H:%M:%S") + zone, st.times(), st.sampled_from(ZONES)
    ),
    "gYearMonth": lambda simple: st.builds(
        lambda d, zone: d.strftime("%Y-%m") + zone,
        st.dates(min_value=dt.date(1000, 1, 1)),
        st.sampled_from(ZONES),
    ),
    "boolean": lambda simple: st.booleans(),
    "base64Binary": lambda simple: st.binary(min_size=simple.min_length or 0, max_size=12).map(
        lambda raw: base64.b64encode(raw).decode()
    ),
    "decimal": _decimal,
}
_FRAGMENTS = {
    "##any": ['<Cstm xmlns="urn:example:extension"><Ref>A-1</Ref></Cstm>', "<Note>free &amp; clear</Note>"],
    "http://www.w3.org/2000/09/xmldsig#": [
        '<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignatureValue>AA==</ds:SignatureValue>'
        "</ds:Signature>"
    ],
}


def leaf_value(simple: schema.Simple) -> st.SearchStrategy:
    if simple.enumeration is not None:
        return st.sampled_from(simple.enumeration)
    if simple.base in _LEAVES:
        return _LEAVES[simple.base](simple)
    if simple.pattern is not None:
        return st.from_regex(f"(?:{simple.pattern})", fullmatch=True).filter(lambda text: simple.check(text) is None)
    return _text(simple)


@st.composite
def xsd_value(draw, declared: schema.Simple | schema.Complex, depth: int = 0, optional_pct: int = 35):
    """A schema-valid JSON value of ``declared``: every mandatory element, optional ones at random (fewer the
    deeper), one branch of each choice, repeats now and then."""
    if isinstance(declared, schema.Simple):
        return draw(leaf_value(declared))
    if declared.kind == schema.ANY:
        return draw(st.sampled_from(_FRAGMENTS[declared.any_namespace]))
    if declared.kind == schema.AMOUNT:
        return {"Ccy": draw(leaf_value(declared.ccy)), "Amt": draw(leaf_value(declared.value))}
    chance = max(optional_pct - 12 * depth, 3)
    children = declared.children
    if declared.kind == schema.CHOICE:
        children = [draw(st.sampled_from(children))]
    out: dict = {}
    for child in children:
        present = child.min_occurs > 0 or declared.kind == schema.CHOICE or draw(st.integers(0, 99)) < chance
        if not present:
            continue
        count = max(child.min_occurs, 1)
        if child.repeats and draw(st.integers(0, 9)) == 0:
            count = min(count + 1, child.max_occurs or count + 1)
        values = [draw(xsd_value(child.type, depth + 1, optional_pct)) for _ in range(count)]
        out[child.name] = values if child.repeats and (count > 1 or draw(st.booleans())) else values[0]
    return out
