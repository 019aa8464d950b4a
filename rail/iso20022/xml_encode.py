"""XML encoding by direct string building: no lxml trees on the hot path.

For each message table in ``_spec`` a specialised Python function is generated once at import: straight-line
appends of literal tags and escaped values, a wrapper element only when something inside it is present (or
when the XSD requires it). Generated code is derived only from the static tables, never from input.
Outbound XSD validity is proven in tests (tests/test_iso_xsd.py), not per message.
"""

from __future__ import annotations

from . import _spec
from ._values import format_amount, format_bool, format_datetime

ENVELOPE_TAG = "RequestPayload"
_XML_DECL = '<?xml version="1.0" encoding="UTF-8"?>\n'


def esc(text: str) -> str:
    """Escape character data (&, <, > and CR so it survives re-parsing unchanged)."""
    if "&" in text or "<" in text or ">" in text or "\r" in text:
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    return text


def esc_attr(text: str) -> str:
    return esc(text).replace('"', "&quot;")


def _emit(
    node: _spec.Tree,
    var: str,
    always: frozenset,
    prefix: str,
    lines: list[str],
    depth: int,
    known: frozenset = frozenset(),
) -> None:
    """Append source lines for ``node``'s children. ``known`` holds presence conditions already true here
    (from an enclosing ``if``), so nested wrappers of the same field are not tested again."""
    pad = "    " * depth
    for name, child in node.children.items():
        path = f"{prefix}{name}"
        if isinstance(child, _spec.B):
            item_var = f"it{depth}"
            lines.append(f"{pad}for {item_var} in {var}.{child.attr}:")
            lines.append(f"{pad}    a(f'<{name}>')")
            _emit(_spec.element_tree(child.items), item_var, child.always, "", lines, depth + 1)
            lines.append(f"{pad}    a(f'</{name}>')")
        elif isinstance(child, _spec.F):
            _emit_leaf(name, child, var, pad, lines, known)
        else:
            conds = _spec.presence(child, var)
            inner_pad, inner_known = pad, known
            if not (_spec.forced(path, always) or _spec.is_required(child) or known.intersection(conds)):
                lines.append(f"{pad}if {' or '.join(conds)}:")
                inner_pad = pad + "    "
                if len(conds) == 1:
                    inner_known = known | {conds[0]}
            lines.append(f"{inner_pad}a(f'<{name}>')")
            _emit(child, var, always, path + "/", lines, len(inner_pad) // 4, inner_known)
            lines.append(f"{inner_pad}a(f'</{name}>')")


def _emit_leaf(name: str, item: _spec.F, var: str, pad: str, lines: list[str], known: frozenset) -> None:
    if item.kind == "A":
        amount, ccy = _spec.amount_attrs(item.attr)
        value = f"f'<{name} Ccy=\"{{esc_attr({var}.{ccy})}}\">{{format_amount({var}.{amount})}}</{name}>'"
        attr = amount
    else:
        attr = item.attr
        raw = f"{var}.{attr}"
        conv = {
            "T": f"esc({raw})",
            "DT": f"format_datetime({raw})",
            "D": f"{raw}.isoformat()",
            "B": f"format_bool({raw})",
        }[item.kind]
        value = f"f'<{name}>{{{conv}}}</{name}>'"
    if item.req or f"{var}.{attr} is not None" in known:
        lines.append(f"{pad}a({value})")
    else:
        lines.append(f"{pad}if {var}.{attr} is not None:")
        lines.append(f"{pad}    a({value})")


def _merge_appends(lines: list[str]) -> list[str]:
    """Fold runs of ``a(f'...')`` statements at the same indentation into one f-string: one call and one
    string build instead of many."""
    merged: list[str] = []
    for line in lines:
        stripped = line.lstrip()
        if merged and stripped.startswith("a(f'") and line.endswith("')"):
            previous = merged[-1]
            indent = len(line) - len(stripped)
            if previous.lstrip().startswith("a(f'") and len(previous) - len(previous.lstrip()) == indent:
                merged[-1] = previous[:-2] + stripped[4:]
                continue
        merged.append(line)
    return merged


def _generate(spec: _spec.MsgSpec) -> str:
    lines = [f"def encode_{spec.msg_type.replace('.', '_')}(m, a):"]
    _emit(_spec.element_tree(spec.items), "m", spec.always, "", lines, 1)
    return "\n".join(_merge_appends(lines)) + "\n"


def _compile(spec: _spec.MsgSpec):
    namespace = {
        "esc": esc,
        "esc_attr": esc_attr,
        "format_amount": format_amount,
        "format_bool": format_bool,
        "format_datetime": format_datetime,
    }
    source = _generate(spec)
    exec(compile(source, f"<xml_encode {spec.msg_type}>", "exec"), namespace)  # noqa: S102 - static tables
    return namespace[f"encode_{spec.msg_type.replace('.', '_')}"]


_BODY_ENCODERS = {spec.cls: (spec, _compile(spec)) for spec in _spec.MESSAGE_SPECS}
_HEAD_ENCODER = _compile(_spec.HEAD001)


def encode_xml(msg, header=None) -> bytes:
    """Struct -> UTF-8 XML bytes: a bare Document, or an envelope with AppHdr + Document when ``header``."""
    spec, body_encoder = _BODY_ENCODERS[msg.__class__]
    parts: list[str] = [_XML_DECL]
    a = parts.append
    if header is not None:
        a(f"<{ENVELOPE_TAG}>")
        a(header_xml(header))
    a(f'<Document xmlns="{spec.namespace}"><{spec.root}>')
    body_encoder(msg, a)
    a(f"</{spec.root}></Document>")
    if header is not None:
        a(f"</{ENVELOPE_TAG}>")
    return "".join(parts).encode()


def header_xml(header) -> str:
    """The ``<AppHdr xmlns="...">`` element of a header struct."""
    parts = [f'<AppHdr xmlns="{_spec.HEAD001.namespace}">']
    _HEAD_ENCODER(header, parts.append)
    parts.append("</AppHdr>")
    return "".join(parts)


def envelope(document_xml: str, header=None) -> bytes:
    """A whole XML message from a Document's text: bare, or with ``header`` in the envelope."""
    if header is None:
        return (_XML_DECL + document_xml).encode()
    return f"{_XML_DECL}<{ENVELOPE_TAG}>{header_xml(header)}{document_xml}</{ENVELOPE_TAG}>".encode()


def generated_source(msg_type: str) -> str:
    """The generated encoder's source, for review and debugging."""
    return _generate(_spec.SPEC_BY_TYPE[msg_type])
