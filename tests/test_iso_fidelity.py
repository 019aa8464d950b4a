"""ISO 20022 fidelity of the message layer: it accepts what the official XSDs accept (choices, optional elements,
every lexical form) and refuses what they refuse, in both renderings, and converts a whole message between the
renderings without losing an element.

The XSD is the judge throughout: messages are checked with libxml2 against the schema files themselves
(tests/iso_checks.py), never with the code under test.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from lxml import etree

import rail.iso20022 as iso
from conftest import REPO, SAMPLES_DIR
from iso_checks import NoXml, loose_json_to_xml, xsd, xsd_value
from rail.iso20022 import _spec, _values, convert, json_codec, schema

P008 = (SAMPLES_DIR / "pacs.008.001.08_raast_p2p.xml").read_bytes()
CAMT056 = (SAMPLES_DIR / "camt.056.001.08_recall_DUPL.xml").read_bytes()
XML, JSON = "application/xml", "application/json"
KNOWN_BICS = frozenset({"HABBPKKA", "MEZNPKKA", "SBPPPKKA"})


def p008_json() -> dict:
    return convert.element_to_json(etree.fromstring(P008)[0], "pacs.008.001.08")


def as_json(root: str, content: dict, **extra) -> bytes:
    return msgspec.json.encode({**extra, root: content})


# --------------------------------------------------------------------------- the tables follow the XSD


def _declared(ctype: schema.Complex, path: str) -> tuple[list[schema.Child], list[schema.Complex]]:
    chain, parents = [], []
    for name in path.split("/"):
        assert name in ctype.by_name, f"{path}: no element {name} in {ctype.name}"
        parents.append(ctype)
        chain.append(ctype.by_name[name])
        ctype = chain[-1].type
    return chain, parents


def _check_items(items: tuple, ctype: schema.Complex, where: str) -> None:
    for item in items:
        chain, parents = _declared(ctype, item.path)
        if isinstance(item, _spec.B):
            _check_items(item.items, chain[-1].type, f"{where}/{item.path}")
        elif item.req:  # mandatory all the way down: never under an optional element or a choice
            assert all(child.min_occurs > 0 for child in chain), f"{where}/{item.path} is optional in the XSD"
            assert all(parent.kind != schema.CHOICE for parent in parents), f"{where}/{item.path} is a choice"


def _check_order(node: _spec.Tree, ctype: schema.Complex, where: str) -> None:
    names = [child.name for child in ctype.children]
    positions = [names.index(name) for name in node.children]
    assert positions == sorted(positions), f"{where}: {list(node.children)} not in XSD order"
    for name, child in node.children.items():
        inner = ctype.by_name[name].type
        if isinstance(child, _spec.Tree):
            _check_order(child, inner, f"{where}/{name}")
        elif isinstance(child, _spec.B):
            _check_order(_spec.element_tree(child.items), inner, f"{where}/{name}")


@pytest.mark.parametrize("spec", [*_spec.MESSAGE_SPECS, _spec.HEAD001], ids=lambda spec: spec.msg_type)
def test_tables_follow_the_xsd(spec):
    """Every table path exists, mandatory leaves are mandatory in the XSD (never inside a choice), and the
    encoders' order is the XSD's sequence order."""
    root = schema.message_schema(spec.msg_type).root.type
    _check_items(spec.items, root, spec.root)
    _check_order(_spec.element_tree(spec.items), root, spec.root)


# --------------------------------------------------------------------------- lexical forms: ours vs libxml2

_PROBE_XSD = b"""<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
<xs:simpleType name="Amount"><xs:restriction base="xs:decimal"><xs:fractionDigits value="5"/>
<xs:totalDigits value="18"/><xs:minInclusive value="0"/></xs:restriction></xs:simpleType>
<xs:simpleType name="Rate"><xs:restriction base="xs:decimal"><xs:fractionDigits value="10"/>
<xs:totalDigits value="11"/></xs:restriction></xs:simpleType>
<xs:simpleType name="Number"><xs:restriction base="xs:decimal"><xs:fractionDigits value="0"/>
<xs:totalDigits value="18"/></xs:restriction></xs:simpleType>
<xs:simpleType name="Binary"><xs:restriction base="xs:base64Binary"><xs:minLength value="1"/>
<xs:maxLength value="6"/></xs:restriction></xs:simpleType>
<xs:element name="r"><xs:complexType><xs:choice>
<xs:element name="Amount" type="Amount"/><xs:element name="Rate" type="Rate"/><xs:element name="Number" type="Number"/>
<xs:element name="Binary" type="Binary"/><xs:element name="date" type="xs:date"/>
<xs:element name="dateTime" type="xs:dateTime"/><xs:element name="time" type="xs:time"/>
<xs:element name="gYearMonth" type="xs:gYearMonth"/><xs:element name="boolean" type="xs:boolean"/>
</xs:choice></xs:complexType></xs:element></xs:schema>"""
_PROBE = etree.XMLSchema(etree.fromstring(_PROBE_XSD))
CHECKS = {
    "Amount": _values.check_amount,
    "Rate": _values.decimal_checker(11, 10, None),
    "Number": _values.decimal_checker(18, 0, None),
    "Binary": _values.base64_checker(1, 6),
    "date": _values.check_date,
    "dateTime": _values.check_datetime,
    "time": _values.check_time,
    "gYearMonth": _values.check_year_month,
    "boolean": _values.check_bool,
}
SEEDS = {
    "Amount": ["2500.00", "+51.74", ".50", "5.", "-0.00", "0000000000000000001.5", "1.500000", "1e3"],
    "Rate": ["0.1234567891", "12.5", "-3.25", "123456789012"],
    "Number": ["1", "1.0", "-5", "+0", "1.5"],
    "Binary": ["QQ==", "QR==", "QUJD", "QUJ D", "QUJDRA", "", "AAAAAAAA"],
    "date": ["2026-12-07", "2026-12-07+05:00", "-0001-02-28", "10000-01-01", "2024-02-29", "0000-01-01"],
    "dateTime": ["2026-12-07T24:00:00", "2026-12-07T10:00:00.123456789Z", "2026-12-07T10:00:00+14:00"],
    "time": ["10:00:00", " 24:00:00", "10:00:00.5+05:00", "10:00:00 "],
    "gYearMonth": ["2026-12", "-2026-01Z", "0000-12"],
    "boolean": ["true", " 0 ", "TRUE", "yes"],
}
EDIT_CHARS = "0123456789-+:.TZ eE\t\n"


@st.composite
def lexical_candidates(draw):
    """A seed of a type, edited a little: near the edges of the lexical space, valid or not."""
    kind = draw(st.sampled_from(sorted(SEEDS)))
    text = draw(st.sampled_from(SEEDS[kind]))
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        char = draw(st.sampled_from(EDIT_CHARS))
        if action == "insert":
            text = text[:at] + char + text[at:]
        elif action == "delete":
            text = text[:at] + text[at + 1 :]
        else:
            text = text[:at] + char + text[at + 1 :]
    return kind, text


@settings(max_examples=300)
@given(lexical_candidates())
# libxml2 takes blanks after a dateTime's time zone, nowhere else in it (found by this test: pinned).
@example(("dateTime", "2026-12-07T10:00:00.123456789Z\t"))
@example(("dateTime", "2026-12-07T10:00:00+05:00\n"))
@example(("dateTime", "2026-12-07T10:00:00 "))
@example(("dateTime", " 2026-12-07T10:00:00Z"))
def test_lexical_checks_agree_with_libxml2(candidate):
    kind, text = candidate
    document = etree.fromstring(f"<r><{kind}>{text}</{kind}></r>".encode())
    assert (CHECKS[kind](text) is None) == _PROBE.validate(document), (kind, text, _PROBE.error_log)


@pytest.mark.parametrize(
    ("text", "paisa", "below"),
    [("+51.74", 5174, False), (".50", 50, False), ("5.", 500, False), ("-0.00", 0, False),
     ("0000000000000000001.5", 150, False), ("1.500000", 150, False), ("2500.125", 250012, True), (" 7 ", 700, False)],
)
def test_every_amount_form_reads_its_value(text, paisa, below):
    assert _values.parse_amount(text) == (paisa, below)


def test_dates_and_times_in_every_form_read_their_value():
    import datetime as dt

    assert _values.parse_date("2026-12-07+05:00") == dt.date(2026, 12, 7)
    assert _values.parse_datetime("2026-12-07T24:00:00") == dt.datetime(2026, 12, 8, tzinfo=_values.PKT)
    nine = _values.parse_datetime("2026-12-07T10:00:00.123456789Z")
    assert nine == dt.datetime(2026, 12, 7, 10, 0, 0, 123456, tzinfo=dt.UTC)
    with pytest.raises(_values.OutOfRange) as caught:
        _values.parse_date("10000-01-01")
    assert caught.value.clamped == dt.date.max


# --------------------------------------------------------------------------- JSON verdict = XSD verdict

FIDELITY_TYPES = ["pacs.008.001.08", "pacs.002.001.10", "camt.056.001.08", "pain.013.001.07", "camt.029.001.09"]
EDGE_LEAVES = [
    "", " ", "x" * 36, "x" * 141, "PKR", "pkr", "2500.00", "+51.74", ".5", "-1", "1.123456", "2026-12-07+05:00",
    "2026-02-30", "2026-12-07T24:00:00", "2026-12-07T10:00:00", "SLEV", "CLRG", "HABBPKKA", "HABB1",
    "3f2b7c9e-8a41-4d6b-9c3e-1a2b3c4d5e6f", "<Foo/>", "<a/><b/>", "not <xml", 12, 1.5, None, True, [], {},
]


def _nodes(value, path=()) -> list[tuple]:
    """(container, key) of every value in a JSON tree, the tree's own keys first."""
    out = []
    if isinstance(value, dict):
        for key, item in value.items():
            out.append((value, key))
            out.extend(_nodes(item, (*path, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out.append((value, index))
            out.extend(_nodes(item, (*path, index)))
    return out


@st.composite
def mutated(draw, msg_type: str):
    ctype = schema.message_schema(msg_type).root.type
    doc = draw(xsd_value(ctype, optional_pct=25))
    for _ in range(draw(st.integers(0, 3))):
        nodes = _nodes(doc)
        dicts = [doc] + [c[k] for c, k in nodes if isinstance(c[k], dict)]
        action = draw(st.sampled_from(["leaf", "delete", "unknown", "list", "twice", "edge", "branch"]))
        if action == "unknown":
            draw(st.sampled_from(dicts))[draw(st.sampled_from(["Foo", "Nm", "Id", "Cd", "Prtry", "Amt"]))] = "X"
            continue
        if not nodes:
            continue
        container, key = draw(st.sampled_from(nodes))
        if action == "delete":
            del container[key]
        elif action == "list":
            container[key] = [container[key]]
        elif action == "twice":
            container[key] = [copy.deepcopy(container[key]), copy.deepcopy(container[key])]
        elif action == "branch" and isinstance(container, dict):
            container.update(draw(xsd_value(ctype, optional_pct=10)) if container is doc else {})
            for sibling in ("Cd", "Prtry", "IBAN", "Othr", "Dt", "DtTm", "Agt", "Pty"):
                if sibling not in container and draw(st.booleans()):
                    container[sibling] = copy.deepcopy(container[key])
                    break
        else:
            container[key] = draw(st.sampled_from(EDGE_LEAVES))
    return doc


def _xsd_verdict(doc: dict, msg_type: str) -> bool:
    try:
        return xsd(msg_type).validate(etree.fromstring(loose_json_to_xml(doc, msg_type)))
    except (NoXml, etree.XMLSyntaxError):
        return False


def _json_verdict(doc: dict, msg_type: str) -> bool:
    root = _spec.SPEC_BY_TYPE[msg_type].root
    try:
        iso.decode(as_json(root, doc), JSON)
    except iso.MessageRejected:
        return False
    return True


@settings(max_examples=100, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(FIDELITY_TYPES).flatmap(lambda msg_type: st.tuples(st.just(msg_type), mutated(msg_type))))
def test_json_is_accepted_exactly_when_its_xml_mapping_is_xsd_valid(case):
    msg_type, doc = case
    assert _json_verdict(doc, msg_type) == _xsd_verdict(doc, msg_type), msgspec.json.encode(doc)[:3000]


@settings(max_examples=40, suppress_health_check=list(HealthCheck))
@given(mutated("head.001.001.02"))
def test_json_header_is_accepted_exactly_when_its_xml_mapping_is_xsd_valid(doc):
    try:
        json_codec.decode_header_json(msgspec.json.encode(doc))
        accepted = True
    except iso.MessageRejected:
        accepted = False
    assert accepted == _xsd_verdict(doc, "head.001.001.02"), msgspec.json.encode(doc)[:3000]


def _valid_message(msg_type: str):
    return st.tuples(st.just(msg_type), xsd_value(schema.message_schema(msg_type).root.type))


@settings(max_examples=50, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(FIDELITY_TYPES).flatmap(_valid_message))
def test_a_whole_message_goes_between_the_renderings_without_loss(case):
    """Any schema-valid message (random optional elements included): its XML and JSON renderings decode to the
    same struct, the conversion is XSD-valid and comes back unchanged."""
    msg_type, doc = case
    root = _spec.SPEC_BY_TYPE[msg_type].root
    xml = convert.json_to_xml(doc, msg_type)
    element = etree.fromstring(xml.encode())
    assert xsd(msg_type).validate(element), xsd(msg_type).error_log
    back = convert.element_to_json(element[0], msg_type)
    assert convert.json_to_xml(back, msg_type) == xml
    from_xml = iso.decode(xml.encode(), XML).message
    assert iso.decode(as_json(root, back), JSON).message == from_xml
    assert iso.decode(as_json(root, doc), JSON).message == from_xml


# --------------------------------------------------------------------------- what the XSD allows is read


def _amount_and_dates(body: bytes) -> tuple:
    tx = iso.decode(body, XML).message.tx
    return tx.amount_paisa, tx.intr_bk_sttlm_dt, tx.accptnc_dt_tm


def test_xsd_valid_lexical_forms_are_read_in_both_renderings():
    import datetime as dt

    body = (
        P008.replace(b">2500.00<", b">+51.74<")
        .replace(b"<IntrBkSttlmDt>2025-01-15<", b"<IntrBkSttlmDt>2025-01-15+05:00<")
        .replace(b"2025-01-15T10:30:00.100+05:00", b"2025-01-15T24:00:00")
    )
    amount, settlement_date, accepted = _amount_and_dates(body)
    assert (amount, settlement_date) == (5174, dt.date(2025, 1, 15))
    assert accepted == dt.datetime(2025, 1, 16, tzinfo=_values.PKT)
    message = iso.decode(body, XML).message
    assert iso.validate(message, iso.RAAST_PROFILE, KNOWN_BICS) == []
    doc = convert.element_to_json(etree.fromstring(body)[0], "pacs.008.001.08")
    assert iso.decode(as_json("FIToFICstmrCdtTrf", doc), JSON).message == message
    assert _amount_and_dates(P008.replace(b">2500.00<", b">.50<"))[0] == 50


def test_blanks_after_a_time_zone_that_libxml2_accepts_are_read():
    import datetime as dt

    body = P008.replace(b"2025-01-15T10:30:00.100+05:00", b"2025-01-15T10:30:00.100+05:00\t ")
    accepted = _amount_and_dates(body)[2]
    assert accepted == dt.datetime(2025, 1, 15, 10, 30, 0, 100000, tzinfo=dt.timezone(dt.timedelta(hours=5)))


def test_a_date_beyond_year_9999_is_a_profile_refusal_not_an_unreadable_message():
    body = P008.replace(b"<IntrBkSttlmDt>2025-01-15<", b"<IntrBkSttlmDt>10000-01-15<")
    [violation] = iso.validate(iso.decode(body, XML).message, iso.RAAST_PROFILE, KNOWN_BICS)
    assert (violation.code, violation.path) == ("DT01", "CdtTrfTxInf/IntrBkSttlmDt")


def _camt056(assigner: bytes) -> bytes:
    return re.sub(rb"<Assgnr>.*?</Assgnr>", b"<Assgnr>" + assigner + b"</Assgnr>", CAMT056, flags=re.S)


@pytest.mark.parametrize(
    ("assigner", "words"),
    [
        (b"<Pty><Nm>Habib Bank</Nm></Pty>", "is a Pty, RAAST needs an Agt"),
        (b"<Agt><FinInstnId><ClrSysMmbId><MmbId>HABB</MmbId></ClrSysMmbId></FinInstnId></Agt>", "ClrSysMmbId"),
    ],
)
def test_a_choice_branch_the_scheme_does_not_use_is_a_profile_code(assigner, words):
    body = _camt056(assigner)
    assert xsd("camt.056.001.08").validate(etree.fromstring(body))
    message = iso.decode(body, XML).message  # decodes: a valid choice is never "mandatory element missing"
    [violation] = iso.validate(message, iso.RAAST_PROFILE, KNOWN_BICS)
    assert violation.code == "RC03" and words in violation.text


def test_choices_are_read_as_choices():
    import datetime as dt

    rtp = iso.encode(_rtp(), "xml").replace(
        b"<ReqdExctnDt><Dt>2025-01-15</Dt></ReqdExctnDt>",
        b"<ReqdExctnDt><DtTm>2025-01-15T10:00:00+05:00</DtTm></ReqdExctnDt>",
    ).replace(b"<XpryDt><Dt>2025-01-16</Dt></XpryDt>", b"<XpryDt><DtTm>2025-01-16T10:00:00Z</DtTm></XpryDt>")
    assert xsd("pain.013.001.07").validate(etree.fromstring(rtp))
    tx = iso.decode(rtp, XML).message.tx
    assert tx.reqd_exctn_dt is None and tx.reqd_exctn_dt_tm == dt.datetime(2025, 1, 15, 10, tzinfo=_values.PKT)
    assert tx.xpry_dt_tm == dt.datetime(2025, 1, 16, 10, tzinfo=dt.UTC)
    notification = iso.encode(
        iso.account_notification(
            msg_id="N1", ntfctn_id="N1", acct_iban="PK66HABB0000001234567890", amount_paisa=100, credit=True,
            booking_date=dt.date(2025, 1, 15),
        ),
        "xml",
    ).replace(b"<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>DMCT</SubFmlyCd></Fmly></Domn>",
              b"<BkTxCd><Prtry><Cd>RAAST-IN</Cd><Issr>SBP</Issr></Prtry>")
    ntfctn = iso.decode(notification, XML).message.tx
    assert (ntfctn.bk_tx_cd_domn_cd, ntfctn.bk_tx_cd_prtry_cd, ntfctn.bk_tx_cd_prtry_issr) == (None, "RAAST-IN", "SBP")
    answer = iso.encode(iso.resolution(iso.decode(CAMT056, XML).message, assgnmt_id="R1"), "xml")
    confirmed = re.sub(rb"<Sts>.*?</Sts>", b"<Sts><AssgnmtCxlConf>true</AssgnmtCxlConf></Sts>", answer, flags=re.S)
    assert iso.decode(confirmed, XML).message.sts_assgnmt_cxl_conf is True


def _rtp() -> iso.Pain013:
    from test_iso_codec import example_messages

    return next(message for message in example_messages() if isinstance(message, iso.Pain013))


def test_a_header_naming_its_sender_by_member_id_is_read():
    import datetime as dt

    header = iso.AppHdr(
        fr_clr_sys_prtry="RAAST", fr_mmb_id="HABB", to_bicfi="SBPPPKKA", biz_msg_idr="B1",
        msg_def_idr="pacs.008.001.08", cre_dt=dt.datetime(2025, 1, 15, tzinfo=dt.UTC),
    )
    message = iso.decode(P008, XML).message
    for rendering in ("xml", "json"):
        decoded = iso.decode(iso.encode(message, rendering, header), None)
        assert decoded.header == header and decoded.message == message
    assert iso.bah.sender_problem(header, "HABBPKKA") is None
    assert "HABB is not MEZNPKKA" in iso.bah.sender_problem(header, "MEZNPKKA")


# --------------------------------------------------------------------------- refusals that say what to do


def test_a_wrong_namespace_child_is_named_with_both_namespaces():
    status = (SAMPLES_DIR / "pacs.002.001.10_ACSC.xml").read_bytes()
    body = status.replace(b"<FIToFIPmtStsRpt>", b'<FIToFIPmtStsRpt xmlns="urn:example:other">', 1)
    with pytest.raises(iso.MessageRejected) as caught:
        iso.decode(body, XML)
    text = caught.value.description
    assert "found FIToFIPmtStsRpt in namespace urn:example:other" in text
    assert "urn:iso:std:iso:20022:tech:xsd:pacs.002.001.10" in text


def test_another_version_is_refused_naming_the_version_the_rail_speaks():
    body = P008.replace(b"pacs.008.001.08", b"pacs.008.001.10")
    with pytest.raises(iso.MessageRejected) as caught:
        iso.decode(body, XML)
    assert "pacs.008.001.10 is not supported: this rail speaks pacs.008.001.08" in caught.value.description
    header = (SAMPLES_DIR / "head.001.001.02_bah_for_pacs008.xml").read_bytes().split(b"?>", 1)[1]
    envelope = b"<RequestPayload>" + header.replace(b"head.001.001.02", b"head.001.001.03") + P008.split(
        b"?>", 1
    )[1] + b"</RequestPayload>"
    with pytest.raises(iso.MessageRejected) as caught:
        iso.decode(envelope, XML)
    assert "head.001.001.03 is not supported: this rail speaks head.001.001.02" in caught.value.description


def test_the_fast_path_and_the_namespaced_path_give_the_same_verdicts():
    """The decoder validates a default-namespace Document without its declaration against the schema with its
    target namespace removed: same verdict and same first error as the published schema on the full tree."""
    variants = [
        P008,
        P008.replace(b"<ChrgBr>SLEV</ChrgBr>", b"<ChrgBr>SLEV</ChrgBr><Foo/>"),
        P008.replace(b">2500.00<", b">2500.123456<"),
        P008.replace(b"<UETR>3f2b", b"<UETR>3F2B"),
        P008.replace(b"<NbOfTxs>1</NbOfTxs>", b""),
    ]
    for body in variants:
        # A second namespace declaration sends the same tree down the general, namespaced path.
        general = body.replace(b'<Document xmlns="', b'<Document xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns="')
        outcomes = []
        for candidate in (body, general):
            try:
                outcomes.append(("ok", iso.decode(candidate, XML).message))
            except iso.MessageRejected as exc:
                outcomes.append(("refused", exc.error_location, exc.description))
        assert outcomes[0] == outcomes[1], outcomes


def test_docs_never_offer_a_clearing_system_code_the_xsd_refuses():
    """ClrSys/Cd is an ExternalCashClearingSystem1Code (at most 3 characters): RAAST goes in Prtry."""
    for doc in [*(REPO / "docs").glob("**/*.md"), REPO / "README.md"]:
        text = Path(doc).read_text()
        assert not re.search(r'ClrSys/Cd`?\s*(=|:|is)\s*`?"?RAAST', text), doc
        assert '"Cd": "RAAST"' not in text.replace(" ", "").replace('"Cd":"RAAST"', '"Cd": "RAAST"'), doc
