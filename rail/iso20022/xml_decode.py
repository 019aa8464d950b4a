"""Hardened XML decoding: bytes -> schema-valid tree -> message struct.

Hardening, cheapest check first (hostile input must cost little):
  1. size: refuse bodies over BODY_BYTES_MAX before anything else;
  2. DOCTYPE refused by a byte scan before parsing (no DTD, so no entity bombs and no external entities);
  3. element count bounded by counting '<' (ELEMENTS_MAX) before parsing;
  4. libxml2 with entities off, no network, no DTD loading, no huge-tree mode (depth capped at 256 by
     libxml2 itself), and the encoding forced to UTF-8 so invalid UTF-8 is a parse error.
Then the shape (a Document, or an envelope holding AppHdr then Document; a message version the rail speaks;
the one root element in the Document's namespace) and validation against the official XSDs (``schema.py``):
nothing the schema refuses gets further, and the first error names its element path. Every FF01 here is
answered with admi.002.
Extraction walks the parsed tree once, recursively, against a trie compiled from the ``_spec`` tables,
visiting only the elements the tables name (unknown subtrees are skipped unvisited). Tags carry the
namespace, so a wrong namespace is a missing element. Measured alternatives were slower: precompiled XPath
costs ~2 µs per path in libxml2 (vs ~0.4 µs per element walked), ``iterwalk`` events twice the walk.
"""

from __future__ import annotations

import re

from lxml import etree

from . import _spec, schema
from ._values import OutOfRange, parse_amount, parse_bool, parse_currency, parse_date, parse_datetime
from .errors import MessageRejected
from .structs import AppHdr

BODY_BYTES_MAX = 1 << 20
ELEMENTS_MAX = 20_000
# libxml2's own nesting limit without XML_PARSE_HUGE; documented here because decode relies on it.
DEPTH_MAX = 256
_ERROR_TEXT_MAX = 350  # admi.002 RsnDesc / ErrLctn are Max350Text

_HEAD_NS_RE = re.compile(r"\{urn:iso:std:iso:20022:tech:xsd:head\.001\.[0-9]{3}\.[0-9]{2}\}AppHdr\Z")
_DOC_TAG_RE = re.compile(
    r"\{urn:iso:std:iso:20022:tech:xsd:([a-z]{4}\.[0-9]{3}\.[0-9]{3}\.[0-9]{2})\}Document\Z"
)

_CONVERTERS = {"T": None, "DT": parse_datetime, "D": parse_date, "B": parse_bool}


def _new_parser() -> etree.XMLParser:
    return etree.XMLParser(
        encoding="utf-8",
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        # Indentation between elements is not content in ISO 20022 (no mixed content); dropping it makes the
        # tree a quarter smaller, so parsing and walking are cheaper. A blank leaf value (<Nm> </Nm>) is kept
        # by libxml2 (sole content of its element) and refused by the profile.
        remove_blank_text=True,
        collect_ids=False,
    )


class _Leaf:
    __slots__ = ("attr", "ccy_attr", "conv", "kind", "path", "plain")

    def __init__(self, item: _spec.F, path: str) -> None:
        self.kind = item.kind
        self.plain = item.kind == "T"
        self.path = path
        self.conv = _CONVERTERS.get(item.kind)
        if item.kind == "A":
            self.attr, self.ccy_attr = _spec.amount_attrs(item.attr)
        else:
            self.attr, self.ccy_attr = item.attr, None


class _Node:
    __slots__ = ("children", "count_attr")

    def __init__(self) -> None:
        self.children: dict[str, object] = {}
        self.count_attr: str | None = None


class _BlockNode:
    __slots__ = ("block", "node", "path", "required")

    def __init__(self, block: _spec.B, node: _Node, required: frozenset, path: str) -> None:
        self.block, self.node, self.required, self.path = block, node, required, path


def _clark(ns: str, local: str) -> str:
    """lxml's tag for ``local`` in namespace ``ns`` ("" = no namespace)."""
    return f"{{{ns}}}{local}" if ns else local


def _compile(items: tuple, ns: str, base: str) -> tuple[_Node, frozenset]:
    """Trie of Clark-notation tags for one table (message level or block level)."""
    root = _Node()
    required = set()
    for item in items:
        parts = item.path.split("/")
        node = root
        for part in parts[:-1]:
            node = node.children.setdefault(_clark(ns, part), _Node())
        tag = _clark(ns, parts[-1])
        full = f"{base}{item.path}"
        if isinstance(item, _spec.B):
            sub, sub_required = _compile(item.items, ns, full + "/")
            node.children[tag] = _BlockNode(item, sub, sub_required, full)
        elif item.kind == "C":
            node.children.setdefault(tag, _Node()).count_attr = item.attr
        else:
            existing = node.children.get(tag)
            assert existing is None, f"duplicate path {full}"
            leaf = _Leaf(item, full)
            node.children[tag] = leaf
            if item.req:
                required.add(leaf.attr)
                if leaf.ccy_attr:
                    required.add(leaf.ccy_attr)
    return root, frozenset(required)


class _Compiled:
    __slots__ = ("attr_paths", "node", "required", "required_all", "required_blocks", "root_tag", "spec")

    def __init__(self, spec: _spec.MsgSpec, ns: str | None = None) -> None:
        ns = spec.namespace if ns is None else ns
        self.spec = spec
        self.root_tag = _clark(ns, spec.root)
        self.node, self.required = _compile(spec.items, ns, spec.root + "/")
        self.required_blocks = tuple(
            (item.attr, f"{spec.root}/{item.path}")
            for item in spec.items
            if isinstance(item, _spec.B) and item.min_occurs
        )
        self.required_all = self.required | {attr for attr, _ in self.required_blocks}
        self.attr_paths = _attr_paths(spec.items, spec.root + "/")


def _attr_paths(items: tuple, base: str) -> dict[str, str]:
    paths: dict[str, str] = {}
    for item in items:
        if isinstance(item, _spec.B):
            paths.update(_attr_paths(item.items, f"{base}{item.path}/"))
        elif item.kind == "A":
            amount, ccy = _spec.amount_attrs(item.attr)
            paths[amount] = f"{base}{item.path}"
            paths[ccy] = f"{base}{item.path}/@Ccy"
        else:
            paths[item.attr] = f"{base}{item.path}"
    return paths


_COMPILED = {spec.namespace: _Compiled(spec) for spec in _spec.MESSAGE_SPECS}
_COMPILED_BY_DOCUMENT_TAG = {f"{{{ns}}}Document": compiled for ns, compiled in _COMPILED.items()}
# The same tables keyed by bare local names, for the fast path below.
_LOCAL_COMPILED = {spec.namespace: _Compiled(spec, "") for spec in _spec.MESSAGE_SPECS}
# Fast path: a Document whose only namespace declaration is the default one on its own start tag (what every
# sender produces). lxml builds a "{namespace}Tag" string on each .tag access, a large share of the walk; so
# once the namespace is checked here, textually, the body is parsed without that declaration and walked
# with local names. Anything else (prefixes, several declarations, an envelope) takes the general path.
_HEAD_SCAN_BYTES = 2048
_DEFAULT_NS_ROOT_RE = re.compile(
    rb'<Document[ \t\r\n]+(xmlns[ \t\r\n]*=[ \t\r\n]*"'
    rb'(urn:iso:std:iso:20022:tech:xsd:[a-z]{4}\.[0-9]{3}\.[0-9]{3}\.[0-9]{2})")[ \t\r\n]*>'
)


def _default_ns_root(body: bytes) -> re.Match | None:
    """The root start tag ``<Document xmlns="urn:...">`` when only the XML declaration, comments and
    whitespace come before it, so it is the real root and not text inside a comment (and no DOCTYPE can
    precede it). Counting is cheap: before the root, every "<" must open a comment or the declaration, and
    every comment must be closed (XML forbids "--" inside comments, so "-->" only ever ends one)."""
    pos = body.find(b"<Document", 0, _HEAD_SCAN_BYTES)
    if pos < 0:
        return None
    comments = body.count(b"<!--", 0, pos)
    if (
        body.count(b"<", 0, pos) != comments + body.count(b"<?xml", 0, pos)
        or body.count(b"-->", 0, pos) != comments
    ):
        return None
    return _DEFAULT_NS_ROOT_RE.match(body, pos, _HEAD_SCAN_BYTES)


_HEAD_COMPILED = _Compiled(_spec.HEAD001)
_HEAD_TAG = f"{{{_spec.HEAD001.namespace}}}AppHdr"


def _reject(description: str, location: str | None = None, related_ref: str | None = None) -> MessageRejected:
    return MessageRejected(
        "FF01", description[:_ERROR_TEXT_MAX], location and location[:_ERROR_TEXT_MAX], related_ref
    )


class _Notes:
    """What a walk learns besides the fields: paths of amounts below a paisa, of dates out of range."""

    __slots__ = ("out_of_range", "sub_paisa")

    def __init__(self) -> None:
        self.sub_paisa: list[str] = []
        self.out_of_range: list[str] = []


def _walk(top: etree._Element, compiled: _Compiled) -> dict:
    """Converted top-level fields of ``top`` (blocks as lists of structs); only known subtrees are visited,
    so the cost is bounded by the table, not by what the sender put in the message."""
    out: dict = {}
    notes = _Notes()
    try:
        _walk_into(top, compiled.node, out, notes)
    except MessageRejected as exc:
        exc.related_ref = exc.related_ref or _related_ref(out)
        raise
    if notes.sub_paisa:
        out["sub_paisa_amounts"] = tuple(notes.sub_paisa)
    if notes.out_of_range:
        out["out_of_range"] = tuple(notes.out_of_range)
    return out


def _walk_into(el: etree._Element, node: _Node, cur: dict, notes: _Notes) -> None:
    lookup = node.children.get
    for child in el:
        entry = lookup(child.tag)
        if entry is None:
            continue  # an element the tables do not read (it travels on in the forwarded message)
        cls = entry.__class__
        if cls is _Leaf:
            attr = entry.attr
            if attr in cur:
                continue  # a repeated element: the profile uses the first one
            text = child.text
            if text is None:
                continue  # empty: treated as absent (the XSD has refused an empty mandatory text already)
            if entry.plain:
                cur[attr] = text
            elif entry.ccy_attr is not None:
                _convert_amount(entry, child, text, cur, notes)
            else:
                _convert(entry, text, cur, notes)
        elif cls is _Node:
            if entry.count_attr is not None:
                cur[entry.count_attr] = cur.get(entry.count_attr, 0) + 1
            _walk_into(child, entry, cur, notes)
        else:
            item: dict = {}
            _walk_into(child, entry.node, item, notes)
            _close_block(entry, item, cur)


def _convert(entry: _Leaf, text: str, cur: dict, notes: _Notes) -> None:
    try:
        cur[entry.attr] = entry.conv(text)
    except OutOfRange as exc:  # valid for the XSD, beyond what the rail holds: the profile answers DT01
        cur[entry.attr] = exc.clamped
        notes.out_of_range.append(entry.path)
    except ValueError as exc:
        raise _reject(f"{entry.path}: {exc}: {text[:40]!r}", entry.path) from None


def _convert_amount(entry: _Leaf, el: etree._Element, text: str, cur: dict, notes: _Notes) -> None:
    try:
        paisa, below_paisa = parse_amount(text)
        cur[entry.attr] = paisa
        if below_paisa:
            notes.sub_paisa.append(entry.path)
        ccy = el.get("Ccy")
        if ccy is not None:
            cur[entry.ccy_attr] = parse_currency(ccy)
    except ValueError as exc:
        raise _reject(f"{entry.path}: {exc}: {text[:40]!r}", entry.path) from None


def _related_ref(fields: dict) -> str | None:
    for attr in _spec.REFERENCE_ATTRS:
        value = fields.get(attr)
        if isinstance(value, str):
            return value
    return None


def _reference_of(element: etree._Element, compiled: _Compiled) -> str | None:
    """The message's MsgId (or Assgnmt Id ...) read from a tree the schema refused, for admi.002 RltdRef: a
    best effort, the walk stopping at the first thing it cannot read."""
    fields: dict = {}
    try:
        _walk_into(element, compiled.node, fields, _Notes())
    except (MessageRejected, TypeError, ValueError):
        pass
    return _related_ref(fields)


def _close_block(entry: _BlockNode, item: dict, parent: dict) -> None:
    if not item.keys() >= entry.required:
        where = _first_missing_path(entry, entry.required - item.keys())
        raise _reject(f"mandatory element missing: {where}", where)
    parent.setdefault(entry.block.attr, []).append(entry.block.cls(**item))


def _first_missing_path(entry: _BlockNode, missing: frozenset | set) -> str:
    for item in entry.block.items:
        if isinstance(item, _spec.F) and (
            item.attr in missing or _spec.amount_attrs(item.attr)[0] in missing
        ):
            return f"{entry.path}/{item.path}"
    return entry.path


def _build(compiled: _Compiled, fields: dict):
    if fields.keys() >= compiled.required_all:
        return compiled.spec.cls(**fields)
    for attr, path in compiled.required_blocks:
        if attr not in fields:
            raise _reject(f"mandatory element missing: {path}", path, _related_ref(fields))
    path = min((compiled.attr_paths[attr] for attr in compiled.required - fields.keys()), key=len)
    raise _reject(f"mandatory element missing: {path}", path, _related_ref(fields))


def _validate(compiled: _Compiled, element: etree._Element, *, local: bool, related: str | None = None) -> None:
    """The official XSD's verdict on ``element`` (a Document, or an AppHdr); FF01 naming the first error."""
    spec = compiled.spec
    message_schema = schema.message_schema(spec.msg_type)
    validator = message_schema.local_xsd if local else message_schema.xsd
    error = schema.xsd_error(validator, element, message_schema.namespace)
    if error is not None:
        path, text = error
        top = element[0] if spec is not _spec.HEAD001 and len(element) else element
        raise _reject(text, path, related or _reference_of(top, compiled))


def _precheck(body: bytes) -> None:
    if len(body) > BODY_BYTES_MAX:
        raise MessageRejected("FF01", f"body of {len(body)} bytes exceeds the {BODY_BYTES_MAX}-byte limit")
    if body.find(b"<!DOCTYPE") >= 0:  # bytes.find: several times faster than `in` here
        raise MessageRejected(
            "FF01", "DOCTYPE declarations (DTDs, entities) are not allowed in ISO 20022 messages"
        )
    # Every element costs at least 4 bytes ("<a/>"), so only bodies this large can exceed the element limit.
    if len(body) > 4 * ELEMENTS_MAX and body.count(b"<") > ELEMENTS_MAX:
        raise MessageRejected("FF01", f"more than {ELEMENTS_MAX} elements")


_parser = _new_parser()


def parse(body: bytes) -> etree._Element:
    """Hardened parse (pre-checks included); MessageRejected FF01 on anything not well-formed."""
    _precheck(body)
    return _parse_checked(body)


def _parse_checked(body: bytes) -> etree._Element:
    try:
        root = etree.fromstring(body, _parser)
    except etree.XMLSyntaxError as exc:
        line = getattr(exc, "lineno", None)
        raise _reject(f"not well-formed XML: {exc.msg}", f"line {line}" if line else None) from None
    except ValueError as exc:  # e.g. lxml refusing unicode/encoding issues
        raise _reject(f"not well-formed XML: {exc}") from None
    return root


def decode_xml(body: bytes) -> tuple[object, str, AppHdr | None]:
    """Bytes -> (message struct, msg_type, header). Accepts a bare Document or an envelope holding
    AppHdr + Document (any envelope element name, e.g. the SWIFT-style ``RequestPayload``)."""
    head = _default_ns_root(body)
    if head is not None and body.count(b"xmlns") == 1:
        compiled = _LOCAL_COMPILED.get(head.group(2).decode())
        if compiled is not None:
            # No full DOCTYPE scan here: _default_ns_root proved nothing but comments precede the root.
            if len(body) > BODY_BYTES_MAX or (
                len(body) > 4 * ELEMENTS_MAX and body.count(b"<") > ELEMENTS_MAX
            ):
                _precheck(body)
            root = _parse_checked(body.replace(head.group(1), b"", 1))
            if len(root) == 1 and root[0].tag == compiled.root_tag:
                _validate(compiled, root, local=True)
                return _build(compiled, _walk(root[0], compiled)), compiled.spec.msg_type, None
    root = parse(body)
    header, document = _split_envelope(root)
    related = header.biz_msg_idr if header else None
    ns = document.tag[1 : document.tag.index("}")]
    compiled = _COMPILED.get(ns)
    if compiled is None:
        raise _reject(unsupported_namespace_text(ns), "Document", related)
    if header is not None and header.msg_def_idr != compiled.spec.msg_type:
        raise _reject(
            f"AppHdr/MsgDefIdr {header.msg_def_idr!r} does not match the document {compiled.spec.msg_type}",
            "AppHdr/MsgDefIdr",
            related,
        )
    elements = [child for child in document if isinstance(child.tag, str)]
    if len(elements) != 1 or elements[0].tag != compiled.root_tag:
        raise _reject(_root_element_text(elements, compiled, ns), f"Document/{_found(elements)}", related)
    _validate(compiled, document, local=False, related=related)
    return _build(compiled, _walk(elements[0], compiled)), compiled.spec.msg_type, header


def _split_envelope(root: etree._Element) -> tuple[AppHdr | None, etree._Element]:
    """(header, Document) of a bare Document or of an envelope holding AppHdr then Document; the header is
    checked against head.001.001.02's XSD before it is read."""
    tag = root.tag
    if isinstance(tag, str) and _DOC_TAG_RE.match(tag):
        return None, root
    if isinstance(tag, str) and tag.endswith("}Document"):
        return None, root  # a Document in a namespace the rail does not speak: named by the caller
    if tag == "Document":
        raise _reject(
            "Document has no namespace: declare the message's, e.g. "
            f'<Document xmlns="{_spec.PACS008.namespace}">',
            "Document",
        )
    if isinstance(tag, str) and _HEAD_NS_RE.match(tag):
        raise _reject("a bare AppHdr carries no document; wrap AppHdr and Document in an envelope")
    children = [child for child in root if isinstance(child.tag, str)]
    if len(children) != 2 or not _HEAD_NS_RE.match(children[0].tag):
        raise _reject(
            f"root element {_local(tag)!r} is neither an ISO 20022 Document nor an envelope "
            "holding AppHdr then Document",
            _local(tag),
        )
    hdr_el, document = children
    if hdr_el.tag != _HEAD_TAG:
        version = hdr_el.tag[1 : hdr_el.tag.index("}")].removeprefix(schema.NS_PREFIX)
        raise _reject(
            f"AppHdr {version} is not supported: this rail speaks {_spec.HEAD_MSG_TYPE} "
            f"(namespace {_spec.HEAD001.namespace})",
            "AppHdr",
        )
    _validate(_HEAD_COMPILED, hdr_el, local=False)
    header = _build(_HEAD_COMPILED, _walk(hdr_el, _HEAD_COMPILED))
    if not isinstance(document.tag, str) or not document.tag.endswith("}Document"):
        raise _reject(
            "envelope's second element is not an ISO 20022 Document",
            _local(document.tag),
            header.biz_msg_idr,
        )
    return header, document


def read_header(element: etree._Element) -> AppHdr:
    """The struct of an AppHdr element the edge has already found schema-valid (a stored message's)."""
    return _build(_HEAD_COMPILED, _walk(element, _HEAD_COMPILED))


def unsupported_namespace_text(ns: str) -> str:
    """Why a Document namespace is refused, naming the version the rail speaks when it knows the message."""
    if not ns.startswith(schema.NS_PREFIX):
        return f"Document namespace {ns!r} is not an ISO 20022 message namespace ({schema.NS_PREFIX}<message id>)"
    msg_type = ns.removeprefix(schema.NS_PREFIX)
    spoken = [spec.msg_type for spec in _spec.MESSAGE_SPECS if spec.msg_type[:8] == msg_type[:8]]
    if spoken:
        return (
            f"{msg_type} is not supported: this rail speaks {spoken[0]} "
            f"(namespace {schema.NS_PREFIX}{spoken[0]}); send that version"
        )
    return f"{msg_type} is not a message this rail takes; it speaks {', '.join(_spec.MSG_TYPES)}"


def _root_element_text(elements: list, compiled: _Compiled, ns: str) -> str:
    expected = compiled.spec.root
    if len(elements) != 1:
        return f"Document must hold exactly one element, {expected}; found {len(elements)}"
    found = elements[0].tag
    local = _local(found)
    found_ns = found[1 : found.index("}")] if found.startswith("{") else None
    where = f"in namespace {found_ns}" if found_ns else "in no namespace"
    if local == expected:
        return f"found {local} {where}, expected it in namespace {ns} (the Document's)"
    return f"Document must hold {expected} (namespace {ns}); found {local} {where}"


def _found(elements: list) -> str:
    return _local(elements[0].tag) if len(elements) == 1 else "*"


def _local(tag: object) -> str:
    if not isinstance(tag, str):
        return str(tag)
    return tag.rsplit("}", 1)[-1]
