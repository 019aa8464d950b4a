"""The official ISO 20022 XSDs shipped in ``rail/iso20022/xsd``, loaded from the package once per message type.

Two things come out of each XSD:
  - libxml2 validators (lxml ``XMLSchema``): the namespaced schema as published, and the same schema with its
    target namespace removed, for the decoder's fast path that parses a default-namespace document without
    its declaration (the two are equivalent for such a document: every element is in the one namespace);
  - a small model of the message's element tree (``Complex`` / ``Child`` / ``Simple``: names, order, choices,
    occurrences, simple types with their facets), from which the JSON rendering and the lossless XML <-> JSON
    mapping are derived, so neither restates the schema by hand.

The ISO XSDs use few shapes, and ``_load`` refuses any other: a complex type is a sequence of elements, a
choice of elements, a sequence holding one wildcard (``SupplementaryData/Envlp``, the AppHdr signature), or
an amount (decimal content with a ``Ccy`` attribute); every simple type restricts an XSD built-in directly.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

from lxml import etree

from ._values import (
    base64_checker,
    check_bool,
    check_date,
    check_datetime,
    check_time,
    check_year_month,
    decimal_checker,
)

XS = "{http://www.w3.org/2001/XMLSchema}"
NS_PREFIX = "urn:iso:std:iso:20022:tech:xsd:"
SEQUENCE, CHOICE, AMOUNT, ANY = "sequence", "choice", "amount", "any"
_XSD_FILE_RE = re.compile(r"([a-z]{4}\.[0-9]{3}\.[0-9]{3}\.[0-9]{2})\.xsd\Z")
_TEXT_MAX = 350  # admi.002 RsnDesc / ErrLctn are Max350Text


@dataclass(frozen=True, slots=True)
class Simple:
    """A simple type: its XSD built-in base and the facets, plus ``check`` (None when a text is valid)."""

    name: str
    base: str
    check: Callable[[str], str | None]
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    enumeration: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Child:
    """One element declaration inside a complex type."""

    name: str
    type: Simple | Complex
    min_occurs: int
    max_occurs: int | None  # None: unbounded

    @property
    def repeats(self) -> bool:
        return self.max_occurs != 1


@dataclass(eq=False, slots=True)
class Complex:
    """A complex type: ``kind`` SEQUENCE / CHOICE of ``children``, AMOUNT (``value`` + ``ccy``), or ANY (one
    element of any content, in ``any_namespace``, checked laxly)."""

    name: str
    kind: str = SEQUENCE
    children: tuple[Child, ...] = ()
    value: Simple | None = None
    ccy: Simple | None = None
    any_namespace: str | None = None  # ANY: "##any", or the one namespace its element must be in
    by_name: dict[str, Child] = field(default_factory=dict)


@dataclass(eq=False, slots=True)
class MessageSchema:
    msg_type: str
    namespace: str
    top: str  # the schema's global element: "Document", or "AppHdr" for head.001
    root: Child  # the Document's one child (e.g. FIToFICstmrCdtTrf); for head.001, AppHdr itself
    xsd: etree.XMLSchema
    local_xsd: etree.XMLSchema  # the same schema without target namespace (the decoder's fast path)


def supported_types() -> tuple[str, ...]:
    """Every message identifier with a schema in the package (``pacs.008.001.08`` ...)."""
    names = (entry.name for entry in resources.files(__package__).joinpath("xsd").iterdir())
    return tuple(sorted(m.group(1) for m in map(_XSD_FILE_RE.match, names) if m))


def _xsd_bytes(msg_type: str) -> bytes:
    return resources.files(__package__).joinpath("xsd", f"{msg_type}.xsd").read_bytes()


@cache
def message_schema(msg_type: str) -> MessageSchema:
    """The validators and the model of one message type (KeyError when the rail has no schema for it)."""
    if msg_type not in supported_types():
        raise KeyError(msg_type)
    text = _xsd_bytes(msg_type)
    namespace = NS_PREFIX + msg_type
    # The XSD's own default namespace is its target namespace (type references resolve in it): dropping both
    # declarations moves every declaration and reference to no namespace, and nothing else changes.
    local = text.replace(f' targetNamespace="{namespace}"'.encode(), b"", 1).replace(
        f' xmlns="{namespace}"'.encode(), b"", 1
    )
    root = etree.fromstring(text)
    top = _load(root)
    return MessageSchema(
        msg_type,
        namespace,
        top.name,
        top.type.children[0] if top.name == "Document" else top,
        etree.XMLSchema(root),
        etree.XMLSchema(etree.fromstring(local)),
    )


def _load(xsd: etree._Element) -> Child:
    """The model of the schema's one global element: ``Document`` (holding the message's root element) or
    ``AppHdr``."""
    declarations = {el.get("name"): el for el in xsd if el.tag in (XS + "complexType", XS + "simpleType")}
    types: dict[str, Simple | Complex] = {}

    def resolve(name: str) -> Simple | Complex:
        known = types.get(name)
        if known is not None:
            return known
        el = declarations[name]
        if el.tag == XS + "simpleType":
            types[name] = _simple(name, el)
            return types[name]
        complex_type = types[name] = Complex(name)  # registered before its children: recursion-safe
        _fill_complex(complex_type, el, resolve)
        return complex_type

    (top,) = [el for el in xsd if el.tag == XS + "element"]
    result = resolve(top.get("type"))
    assert isinstance(result, Complex), "the global element is complex"
    assert top.get("name") != "Document" or len(result.children) == 1, "a Document holds one element"
    return Child(top.get("name"), result, 1, 1)


def _fill_complex(target: Complex, el: etree._Element, resolve) -> None:
    (body,) = [child for child in el if isinstance(child.tag, str)]
    if body.tag == XS + "simpleContent":
        (extension,) = body
        value = resolve(extension.get("base"))
        (attribute,) = extension
        assert attribute.get("name") == "Ccy", f"{target.name}: only Ccy attributes are modelled"
        target.kind, target.value, target.ccy = AMOUNT, value, resolve(attribute.get("type"))
        return
    assert body.tag in (XS + "sequence", XS + "choice"), f"{target.name}: unexpected {body.tag}"
    items = [child for child in body if isinstance(child.tag, str)]
    if items and items[0].tag == XS + "any":
        (wildcard,) = items
        assert wildcard.get("minOccurs", "1") == wildcard.get("maxOccurs", "1") == "1", "one element"
        target.kind, target.any_namespace = ANY, wildcard.get("namespace")
        return
    target.kind = CHOICE if body.tag == XS + "choice" else SEQUENCE
    children = []
    for item in items:
        assert item.tag == XS + "element", f"{target.name}: unexpected {item.tag}"
        max_occurs = item.get("maxOccurs", "1")
        children.append(
            Child(
                item.get("name"),
                resolve(item.get("type")),
                int(item.get("minOccurs", "1")),
                None if max_occurs == "unbounded" else int(max_occurs),
            )
        )
    target.children = tuple(children)
    target.by_name = {child.name: child for child in children}


def _simple(name: str, el: etree._Element) -> Simple:
    (restriction,) = [child for child in el if isinstance(child.tag, str)]
    base = restriction.get("base").removeprefix("xs:")
    facets: dict[str, list[str]] = {}
    for facet in restriction:
        if isinstance(facet.tag, str):
            facets.setdefault(facet.tag.removeprefix(XS), []).append(facet.get("value"))

    def one(facet: str) -> str | None:
        values = facets.get(facet)
        return values[0] if values else None

    def number(facet: str) -> int | None:
        value = one(facet)
        return None if value is None else int(value)

    enumeration = tuple(facets["enumeration"]) if "enumeration" in facets else None
    pattern = one("pattern")
    min_length, max_length = number("minLength"), number("maxLength")
    if base == "string":
        check = _string_checker(min_length, max_length, pattern, enumeration)
    elif base == "decimal":
        check = decimal_checker(number("totalDigits"), number("fractionDigits"), one("minInclusive"))
    elif base == "base64Binary":
        check = base64_checker(min_length, max_length)
    else:
        check = _BUILT_IN_CHECKS[base]
    return Simple(name, base, check, min_length, max_length, pattern, enumeration)


_BUILT_IN_CHECKS = {
    "date": check_date,
    "dateTime": check_datetime,
    "time": check_time,
    "gYearMonth": check_year_month,
    "boolean": check_bool,
}


def _string_checker(min_length, max_length, pattern, enumeration):
    # XSD patterns are anchored at both ends; these use only classes and counts, read alike by Python's re.
    matcher = re.compile(f"(?:{pattern})\\Z").match if pattern else None
    allowed = frozenset(enumeration) if enumeration is not None else None

    def check(text: str) -> str | None:
        if allowed is not None:
            return None if text in allowed else "not one of the codes the schema lists"
        if min_length is not None and len(text) < min_length:
            return "empty" if min_length == 1 else f"shorter than {min_length} characters"
        if max_length is not None and len(text) > max_length:
            return f"longer than {max_length} characters ({len(text)})"
        if matcher is not None and matcher(text) is None:
            return f"does not match the pattern {pattern}"
        return None

    return check


# --------------------------------------------------------------------------- validation


def xsd_error(validator: etree.XMLSchema, element: etree._Element, namespace: str) -> tuple[str, str] | None:
    """None when ``element`` (a Document or an AppHdr) is valid, else the first error as (element path, text):
    the path names elements by local name from ``element`` down (``FIToFICstmrCdtTrf/CdtTrfTxInf/ChrgBr``,
    with ``[n]`` among same-name siblings); the text is libxml2's, with the schema's own namespace left out."""
    if validator.validate(element):
        return None
    error = validator.error_log[0]
    # libxml2 names the node by a path from the validated element (lxml validates an element as the root
    # of a stand-in document): its first step is that element.
    steps = (error.path or "").split("/")
    found = element.xpath("./" + "/".join(steps[2:])) if len(steps) > 2 else []
    node = found[0] if found and isinstance(found[0], etree._Element) else element
    text = error.message.replace("{" + namespace + "}", "")
    return _readable_path(node, element), f"schema: {text}"[:_TEXT_MAX]


def _readable_path(node: etree._Element, top: etree._Element) -> str:
    parts: list[str] = []
    while node is not None and node is not top:
        name = etree.QName(node).localname
        parent = node.getparent()
        if parent is not None:
            same = [sibling for sibling in parent if sibling.tag == node.tag]
            if len(same) > 1:
                name += f"[{same.index(node) + 1}]"
        parts.append(name)
        node = parent
    if top.tag.endswith("AppHdr"):
        parts.append("AppHdr")
    return "/".join(reversed(parts))[:_TEXT_MAX] or etree.QName(top).localname
