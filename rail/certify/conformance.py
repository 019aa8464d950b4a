"""Is a message what the standard and the scheme spell: the official XSD, then the RAAST profile."""

from __future__ import annotations

from functools import cache
from importlib import resources

from lxml import etree

from rail import iso20022

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


@cache
def _schema(msg_type: str) -> etree.XMLSchema:
    path = resources.files("rail.iso20022").joinpath("xsd", f"{msg_type}.xsd")
    with resources.as_file(path) as file:
        return etree.XMLSchema(etree.parse(str(file), _PARSER))


def problems(text: str, known_bics: set[str]) -> list[str]:
    """What is wrong with the message `text` (XML, or the rail's JSON rendering): [] when nothing is. XML is
    checked against the official XSD of its message type (an AppHdr envelope unwrapped), then, like JSON,
    decoded and checked against the RAAST profile."""
    body = text.encode("utf-8")
    found: list[str] = []
    if text.lstrip()[:1] == "<":
        try:
            root = etree.fromstring(body, _PARSER)
        except etree.XMLSyntaxError as exc:
            return [f"not well-formed XML: {exc}"]
        document = root if root.tag.endswith("}Document") else root[-1]
        msg_type = etree.QName(document).namespace.rsplit(":", 1)[-1]
        try:
            schema = _schema(msg_type)
        except OSError:
            return [f"{msg_type} is not a message type the rail has the XSD of"]
        if not schema.validate(etree.ElementTree(document)):
            found += [f"XSD {msg_type} line {e.line}: {e.message}" for e in list(schema.error_log)[:5]]
    content_type = iso20022.CONTENT_TYPES["xml" if text.lstrip()[:1] == "<" else "json"]
    try:
        decoded = iso20022.decode(body, content_type)
    except iso20022.MessageRejected as exc:
        return found + [f"{exc.reason_code}: {exc.description}"]
    for violation in iso20022.validate(decoded.message, iso20022.RAAST_PROFILE, known_bics):
        found.append(f"RAAST profile {violation.code} at {violation.path}: {violation.text}")
    return found
