"""Corpus of bad inputs, each with the exact ISO reason code the rail must answer.

Stage "decode": ``decode`` raises MessageRejected with that code (the rail answers admi.002).
Stage "profile": the message decodes and ``validate`` reports exactly that set of codes (pacs.002 RJCT).
Hostile inputs (entity bombs, external entities, 20 MB, 10,000-deep nesting, element floods) must also be
refused cheaply.
"""

from __future__ import annotations

import gc
import time
from pathlib import Path

import msgspec
import pytest

import rail.iso20022 as iso
from conftest import SAMPLES_DIR

SAMPLES = SAMPLES_DIR
P008 = (SAMPLES / "pacs.008.001.08_raast_p2p.xml").read_bytes()
P002 = (SAMPLES / "pacs.002.001.10_RJCT_AC03.xml").read_bytes()
A023 = (SAMPLES / "acmt.023.001.03_alias_lookup.xml").read_bytes()
NS008 = b"urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08"
KNOWN_BICS = frozenset({"HABBPKKA", "MEZNPKKA", "SBPPPKKA"})
XML, JSON = "application/xml", "application/json"
HOSTILE_BUDGET_S = 0.25  # CPU seconds (thread time, so a loaded box does not make it flaky); typical: < 5 ms


def sub(old: bytes, new: bytes, body: bytes = P008) -> bytes:
    assert old in body, old
    return body.replace(old, new, 1)


def p008_json() -> dict:
    return msgspec.json.decode(iso.encode(iso.decode(P008, XML).message, "json"))


def json_with(edit) -> bytes:
    doc = p008_json()
    edit(doc)
    return msgspec.json.encode(doc)


def tx(doc: dict) -> dict:
    return doc["FIToFICstmrCdtTrf"]["CdtTrfTxInf"][0]


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08">
<FIToFICstmrCdtTrf><GrpHdr><MsgId>&lol9;</MsgId>
</GrpHdr></FIToFICstmrCdtTrf></Document>"""
EXTERNAL_ENTITY = sub(
    b'<?xml version="1.0" encoding="UTF-8"?>',
    b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
)
EXTERNAL_ENTITY = sub(b"<Nm>Ali Raza</Nm>", b"<Nm>&xxe;</Nm>", EXTERNAL_ENTITY)
EXTERNAL_DTD = sub(
    b'<?xml version="1.0" encoding="UTF-8"?>',
    b'<?xml version="1.0"?><!DOCTYPE Document SYSTEM "http://127.0.0.1:9/evil.dtd">',
)
UNDECLARED_ENTITY = sub(b"<Nm>Ali Raza</Nm>", b"<Nm>&xxe;</Nm>")
DEEP = (
    b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08">'
    + b"<a>" * 10_000
    + b"</a>" * 10_000
    + b"</Document>"
)
HUGE = sub(b"<Ustrd>Family support January</Ustrd>", b"<Ustrd>" + b"x" * (20 << 20) + b"</Ustrd>")
ELEMENT_FLOOD = sub(b"<Purp>", b"<Flood>" + b"<x/>" * 30_000 + b"</Flood><Purp>")
TWO_TXS = sub(b"<NbOfTxs>1</NbOfTxs>", b"<NbOfTxs>2</NbOfTxs>").replace(
    b"</CdtTrfTxInf>", b"</CdtTrfTxInf>" + P008.split(b"</GrpHdr>")[1].split(b"</FIToFICstmrCdtTrf>")[0], 1
)
# A well-formed GB IBAN (valid check digits) in a PK-only scheme.
GB_IBAN = b"GB82WEST12345698765432"

# (id, body, content type, stage, expected code(s))
CASES: list[tuple[str, bytes, str | None, str, set[str] | str]] = [
    # --- unreadable: admi.002 FF01
    ("truncated", P008[: len(P008) // 2], XML, "decode", "FF01"),
    ("empty-body", b"", XML, "decode", "FF01"),
    ("not-xml-or-json", b"hello", None, "decode", "FF01"),
    ("unsupported-content-type", P008, "text/html", "decode", "FF01"),
    (
        "wrong-namespace-version",
        P008.replace(NS008, b"urn:iso:std:iso:20022:tech:xsd:pacs.008.001.07"),
        XML,
        "decode",
        "FF01",
    ),
    ("foreign-namespace", P008.replace(NS008, b"urn:example:payments"), XML, "decode", "FF01"),
    ("no-namespace", P008.replace(b' xmlns="' + NS008 + b'"', b""), XML, "decode", "FF01"),
    (
        "namespace-only-in-a-comment",
        P008.replace(
            b'<Document xmlns="' + NS008 + b'">', b'<!-- <Document xmlns="' + NS008 + b'"> --><Document>'
        ),
        XML,
        "decode",
        "FF01",
    ),
    (
        "inner-default-namespace-redeclared",
        sub(b"<FIToFICstmrCdtTrf>", b'<FIToFICstmrCdtTrf xmlns="urn:other">'),
        XML,
        "decode",
        "FF01",
    ),
    ("wrong-root", P008.replace(b"FIToFICstmrCdtTrf>", b"FIToFIPmtStsRpt>"), XML, "decode", "FF01"),
    (
        "document-with-two-roots",
        sub(b"</FIToFICstmrCdtTrf>", b"</FIToFICstmrCdtTrf><FIToFICstmrCdtTrf/>"),
        XML,
        "decode",
        "FF01",
    ),
    ("missing-msgid", sub(b"<MsgId>HABBPKKA20250115103000000001</MsgId>", b""), XML, "decode", "FF01"),
    ("missing-endtoendid", sub(b"<EndToEndId>E2E-HBL-000000000001</EndToEndId>", b""), XML, "decode", "FF01"),
    (
        "missing-amount",
        sub(b'<IntrBkSttlmAmt Ccy="PKR">2500.00</IntrBkSttlmAmt>', b""),
        XML,
        "decode",
        "FF01",
    ),
    ("missing-currency-attribute", sub(b' Ccy="PKR"', b""), XML, "decode", "FF01"),
    ("missing-chrgbr", sub(b"<ChrgBr>SLEV</ChrgBr>", b""), XML, "decode", "FF01"),
    (
        "missing-transaction",
        P008.split(b"<CdtTrfTxInf>")[0] + b"</FIToFICstmrCdtTrf></Document>",
        XML,
        "decode",
        "FF01",
    ),
    ("negative-amount", sub(b">2500.00<", b">-2500.00<"), XML, "decode", "FF01"),
    ("amount-with-comma", sub(b">2500.00<", b">2,500.00<"), XML, "decode", "FF01"),
    ("amount-19-digits", sub(b">2500.00<", b">12345678901234567.89<"), XML, "decode", "FF01"),
    ("amount-6-decimals", sub(b">2500.00<", b">2500.000001<"), XML, "decode", "FF01"),
    ("lowercase-currency", sub(b'Ccy="PKR"', b'Ccy="pkr"'), XML, "decode", "FF01"),
    ("bad-datetime", sub(b"2025-01-15T10:30:00.123+05:00", b"2025-13-45T10:30:00"), XML, "decode", "FF01"),
    ("bad-date", sub(b"<IntrBkSttlmDt>2025-01-15<", b"<IntrBkSttlmDt>15/01/2025<"), XML, "decode", "FF01"),
    ("billion-laughs", BILLION_LAUGHS, XML, "decode", "FF01"),
    ("external-entity-etc-passwd", EXTERNAL_ENTITY, XML, "decode", "FF01"),
    ("external-dtd-network", EXTERNAL_DTD, XML, "decode", "FF01"),
    ("undeclared-entity", UNDECLARED_ENTITY, XML, "decode", "FF01"),
    ("body-20-mb", HUGE, XML, "decode", "FF01"),
    ("nesting-10000-deep", DEEP, XML, "decode", "FF01"),
    ("element-flood-30000", ELEMENT_FLOOD, XML, "decode", "FF01"),
    ("invalid-utf8", sub(b"Ali Raza", b"Ali \xff\xfe Raza"), XML, "decode", "FF01"),
    (
        "latin1-declared",
        sub(b'encoding="UTF-8"', b'encoding="ISO-8859-1"').replace(b"Ali Raza", b"Al\xed Raza"),
        XML,
        "decode",
        "FF01",
    ),
    (
        "utf16-body",
        P008.decode().replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16"),
        XML,
        "decode",
        "FF01",
    ),
    (
        "header-msgdefidr-mismatch",
        b"<RequestPayload>"
        + (SAMPLES / "head.001.001.02_bah_for_pacs008.xml")
        .read_bytes()
        .split(b"?>", 1)[1]
        .replace(b"pacs.008.001.08", b"pacs.009.001.08")
        + P008.split(b"?>", 1)[1]
        + b"</RequestPayload>",
        XML,
        "decode",
        "FF01",
    ),
    ("bare-header", (SAMPLES / "head.001.001.02_bah_for_pacs008.xml").read_bytes(), XML, "decode", "FF01"),
    # --- JSON unreadable: FF01
    ("json-truncated", iso.encode(iso.decode(P008, XML).message, "json")[:200], JSON, "decode", "FF01"),
    ("json-top-level-array", b"[1, 2]", JSON, "decode", "FF01"),
    (
        "json-msgid-number",
        json_with(lambda d: d["FIToFICstmrCdtTrf"]["GrpHdr"].update(MsgId=12345)),
        JSON,
        "decode",
        "FF01",
    ),
    (
        "json-amount-as-number",
        json_with(lambda d: tx(d)["IntrBkSttlmAmt"].update(Amt=2500.0)),
        JSON,
        "decode",
        "FF01",
    ),
    (
        "json-unknown-key",
        json_with(lambda d: tx(d).update(Foo="bar")),
        JSON,
        "decode",
        "FF01",
    ),
    (
        "json-choice-both-branches",
        json_with(lambda d: d["FIToFICstmrCdtTrf"]["GrpHdr"]["SttlmInf"]["ClrSys"].update(Cd="ABC")),
        JSON,
        "decode",
        "FF01",
    ),
    (
        "json-date-feb-30",
        json_with(lambda d: tx(d).update(IntrBkSttlmDt="2025-02-30")),
        JSON,
        "decode",
        "FF01",
    ),
    (
        "json-name-too-long",
        json_with(lambda d: tx(d)["Dbtr"].update(Nm="x" * 141)),
        JSON,
        "decode",
        "FF01",
    ),
    (
        "json-element-not-repeatable-as-array",
        json_with(lambda d: tx(d).update(ChrgBr=["SLEV", "SLEV"])),
        JSON,
        "decode",
        "FF01",
    ),
    (
        "json-missing-endtoendid",
        json_with(lambda d: tx(d)["PmtId"].pop("EndToEndId")),
        JSON,
        "decode",
        "FF01",
    ),
    (
        "json-null-group-header",
        json_with(lambda d: d["FIToFICstmrCdtTrf"].update(GrpHdr=None)),
        JSON,
        "decode",
        "FF01",
    ),
    ("json-boolean-name", json_with(lambda d: tx(d)["Dbtr"].update(Nm=True)), JSON, "decode", "FF01"),
    (
        "json-nul-character",
        json_with(lambda d: tx(d)["Dbtr"].update(Nm="Ali\u0000Raza")),
        JSON,
        "decode",
        "FF01",
    ),
    (
        "json-lone-surrogate",
        json_with(lambda d: None).replace(b"Ali Raza", b"Ali \\ud800 Raza"),
        JSON,
        "decode",
        "FF01",
    ),
    (
        "json-u-ffff",
        json_with(lambda d: None).replace(b"Ali Raza", b"Ali \\uffff Raza"),
        JSON,
        "decode",
        "FF01",
    ),
    (
        "json-two-roots",
        json_with(lambda d: d.update(FIToFIPmtStsRpt=d["FIToFICstmrCdtTrf"])),
        JSON,
        "decode",
        "FF01",
    ),
    (
        "json-msgdefidr-mismatch",
        json_with(lambda d: d.update(MsgDefIdr="pacs.002.001.10")),
        JSON,
        "decode",
        "FF01",
    ),
    ("json-nesting-10000-deep", b"[" * 10_000 + b"]" * 10_000, JSON, "decode", "FF01"),
    (
        "json-invalid-utf8",
        json_with(lambda d: None).replace(b"Ali Raza", b"Ali \xff Raza"),
        JSON,
        "decode",
        "FF01",
    ),
    ("json-body-20-mb", b'{"x": "' + b"y" * (20 << 20) + b'"}', JSON, "decode", "FF01"),
    # --- readable but against the RAAST profile: pacs.002 RJCT with these codes
    (
        "bad-iban-check-digits",
        sub(b"PK93MEZN0000001234567890", b"PK94MEZN0000001234567890"),
        XML,
        "profile",
        {"AC01"},
    ),
    (
        "iban-wrong-length",
        sub(b"PK93MEZN0000001234567890", b"PK93MEZN000000123456789"),
        XML,
        "profile",
        {"AC01"},
    ),
    ("foreign-iban", sub(b"PK93MEZN0000001234567890", GB_IBAN), XML, "profile", {"AC01"}),
    (
        "debtor-iban-missing",
        sub(
            b"<DbtrAcct><Id><IBAN>PK66HABB0000001234567890</IBAN></Id></DbtrAcct>",
            b"",
            P008.replace(b"\n", b"").replace(b"  ", b""),
        ),
        XML,
        "profile",
        {"AC02"},
    ),
    (
        "creditor-account-missing",
        P008.split(b"<CdtrAcct>")[0] + P008.split(b"</CdtrAcct>")[1],
        XML,
        "profile",
        {"AC03"},
    ),
    (
        "creditor-account-without-id",  # CashAccount38/Id is mandatory: the XSD refuses, admi.002
        sub(
            b"<Id><IBAN>PK93MEZN0000001234567890</IBAN></Id>",
            b"",
            P008.replace(b"\n", b"").replace(b"  ", b""),
        ),
        XML,
        "decode",
        "FF01",
    ),
    (
        "unknown-element-after-chrgbr",
        sub(b"<ChrgBr>SLEV</ChrgBr>", b"<ChrgBr>SLEV</ChrgBr><Foo>x</Foo>"),
        XML,
        "decode",
        "FF01",
    ),
    (
        "creditor-agent-by-member-id",
        P008.replace(
            b"<BICFI>MEZNPKKA</BICFI>",
            b"<ClrSysMmbId><MmbId>MEZN</MmbId></ClrSysMmbId>",
        ),
        XML,
        "profile",
        {"RC04", "RC02"},
    ),
    ("three-decimals", sub(b">2500.00<", b">2500.125<"), XML, "profile", {"CH20"}),
    ("zero-amount", sub(b">2500.00<", b">0.00<"), XML, "profile", {"AM01"}),
    ("huge-amount", sub(b">2500.00<", b">999999999999.00<"), XML, "profile", {"AM02"}),
    ("wrong-currency", sub(b'Ccy="PKR"', b'Ccy="USD"'), XML, "profile", {"AM03"}),
    (
        "malformed-debtor-agent-bic",  # BICFIDec2014Identifier's pattern: the XSD refuses, admi.002
        P008.replace(
            b"<BICFI>HABBPKKA</BICFI>\n        </FinInstnId>\n      </DbtrAgt>",
            b"<BICFI>HABB1</BICFI></FinInstnId></DbtrAgt>",
        ),
        XML,
        "decode",
        "FF01",
    ),
    (
        "unknown-creditor-agent",
        P008.replace(b"MEZNPKKA", b"ZZZZPKKA"),
        XML,
        "profile-known",
        {"RC04", "RC02"},
    ),
    (
        "unknown-debtor-agent",
        P008.replace(b"HABBPKKA</BICFI>", b"YYYYPKKA</BICFI>"),
        XML,
        "profile-known",
        {"RC03", "RC02"},
    ),
    ("nboftxs-mismatch", sub(b"<NbOfTxs>1</NbOfTxs>", b"<NbOfTxs>2</NbOfTxs>"), XML, "profile", {"AM19"}),
    ("two-transactions", TWO_TXS, XML, "profile", {"AM18"}),
    (
        "settlement-method-inda",
        sub(b"<SttlmMtd>CLRG</SttlmMtd>", b"<SttlmMtd>INDA</SttlmMtd>"),
        XML,
        "profile",
        {"FF01"},
    ),
    (
        "clearing-system-missing",
        sub(b"<ClrSys>\n          <Prtry>RAAST</Prtry>\n        </ClrSys>", b""),
        XML,
        "profile",
        {"FF01"},
    ),
    ("charge-bearer-debt", sub(b"<ChrgBr>SLEV</ChrgBr>", b"<ChrgBr>DEBT</ChrgBr>"), XML, "profile", {"BE19"}),
    (
        "uetr-uppercase",  # UUIDv4Identifier's pattern
        sub(b"3f2b7c9e-8a41-4d6b-9c3e-1a2b3c4d5e6f", b"3F2B7C9E-8A41-4D6B-9C3E-1A2B3C4D5E6F"),
        XML,
        "decode",
        "FF01",
    ),
    (
        "uetr-missing",
        sub(b"<UETR>3f2b7c9e-8a41-4d6b-9c3e-1a2b3c4d5e6f</UETR>", b""),
        XML,
        "profile",
        {"MINF"},
    ),
    ("txid-missing", sub(b"<TxId>HABB2025011510300000000001</TxId>", b""), XML, "profile", {"MINF"}),
    ("debtor-name-missing", sub(b"<Nm>Ali Raza</Nm>", b""), XML, "profile", {"BE08"}),
    ("debtor-name-blank", sub(b"<Nm>Ali Raza</Nm>", b"<Nm> </Nm>"), XML, "profile", {"BE08"}),
    ("creditor-name-missing", sub(b"<Nm>Ayesha Khan</Nm>", b""), XML, "profile", {"BE22"}),
    (
        "settlement-date-missing",
        sub(b"<IntrBkSttlmDt>2025-01-15</IntrBkSttlmDt>", b""),
        XML,
        "profile",
        {"DT01"},
    ),
    (
        "acceptance-time-missing",
        sub(b"<AccptncDtTm>2025-01-15T10:30:00.100+05:00</AccptncDtTm>", b""),
        XML,
        "profile",
        {"DT01"},
    ),
    ("proxy-not-e164", sub(b"<Id>+923001234567</Id>", b"<Id>03001234567</Id>"), XML, "profile", {"BE23"}),
    ("endtoendid-36-chars", sub(b"E2E-HBL-000000000001", b"E" * 36), XML, "decode", "FF01"),
    (
        "msgid-36-chars",
        sub(b"<MsgId>HABBPKKA20250115103000000001</MsgId>", b"<MsgId>" + b"M" * 36 + b"</MsgId>"),
        XML,
        "decode",
        "FF01",
    ),
    (
        "settlement-date-year-10000",  # XSD-valid, beyond what the rail settles: the profile answers
        sub(b"<IntrBkSttlmDt>2025-01-15<", b"<IntrBkSttlmDt>10000-01-15<"),
        XML,
        "profile",
        {"DT01"},
    ),
    ("cnic-wrong-length", sub(b"3520112345671", b"352011234567"), XML, "profile", {"BE16"}),
    (
        "json-zero-amount",
        json_with(lambda d: tx(d)["IntrBkSttlmAmt"].update(Amt="0")),
        JSON,
        "profile",
        {"AM01"},
    ),
    ("json-usd", json_with(lambda d: tx(d)["IntrBkSttlmAmt"].update(Ccy="USD")), JSON, "profile", {"AM03"}),
    (
        "json-three-decimals",
        json_with(lambda d: tx(d)["IntrBkSttlmAmt"].update(Amt="1.001")),
        JSON,
        "profile",
        {"CH20"},
    ),
    (
        "pacs002-rjct-without-reason",
        P002.replace(b"<Cd>AC03</Cd>", b"").replace(b"<Rsn>\n          \n        </Rsn>", b""),
        XML,
        "profile",
        {"FF01"},
    ),
    (
        "pacs002-unknown-status",
        P002.replace(b"<TxSts>RJCT</TxSts>", b"<TxSts>DONE</TxSts>"),
        XML,
        "profile",
        {"FF01"},
    ),
    ("acmt023-proxy-not-e164", A023.replace(b"+923001234567", b"+14155550100"), XML, "profile", {"BE23"}),
]


def _rejects(body: bytes, content_type: str | None) -> None:
    try:
        iso.decode(body, content_type)
    except iso.MessageRejected:
        return
    raise AssertionError("expected MessageRejected")


def assert_cheap(action) -> None:
    """Refusing a bad input costs little CPU (thread time: another process's load does not count; the cycle
    collector is paused so an unrelated full collection does not either)."""
    gc.disable()
    try:
        started = time.thread_time()
        action()
        spent = time.thread_time() - started
    finally:
        gc.enable()
    assert spent < HOSTILE_BUDGET_S, f"{spent:.3f} s of CPU"


def test_corpus_is_large_and_ids_unique():
    assert len(CASES) >= 40
    assert len({case[0] for case in CASES}) == len(CASES)


@pytest.mark.parametrize(
    ("body", "content_type", "stage", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_bad_input_gets_its_iso_code(body: bytes, content_type: str | None, stage: str, expected):
    if stage == "decode":
        assert_cheap(lambda: _rejects(body, content_type))
        with pytest.raises(iso.MessageRejected) as caught:
            iso.decode(body, content_type)
        assert caught.value.reason_code == expected, caught.value
        assert caught.value.description
        reject = iso.message_reject_for(caught.value)
        iso.decode(iso.encode(reject, "xml"), XML)  # the admi.002 itself is readable
    else:
        decoded = iso.decode(body, content_type)
        known = KNOWN_BICS if stage == "profile-known" else None
        violations = iso.validate(decoded.message, iso.RAAST_PROFILE, known)
        assert {v.code for v in violations} == expected, violations
        for violation in violations:
            assert violation.path and violation.path.split("/")[-1].split("@")[-1] in violation.text


def test_billion_laughs_is_refused_before_parsing():
    def hundred() -> None:
        for _ in range(100):
            _rejects(BILLION_LAUGHS, XML)

    assert_cheap(hundred)  # 100 refusals within the budget of one


def test_json_surrogate_pairs_and_escaped_backslashes_are_accepted():
    body = json_with(lambda d: tx(d)["Dbtr"].update(Nm="Ali \U0001f600 \\u0001 Raza"))
    message = iso.decode(body, JSON).message
    assert message.tx.dbtr_nm == "Ali \U0001f600 \\u0001 Raza"
    assert iso.decode(iso.encode(message, "xml"), XML).message == message
    escaped = body.replace("\U0001f600".encode(), b"\\ud83d\\ude00")
    assert escaped != body and iso.decode(escaped, JSON).message == message


def test_external_entity_content_never_appears():
    with pytest.raises(iso.MessageRejected) as caught:
        iso.decode(EXTERNAL_ENTITY, XML)
    assert "root:" not in str(caught.value)


def test_profile_violation_text_names_the_element():
    body = sub(b"PK93MEZN0000001234567890", b"PK94MEZN0000001234567890")
    [violation] = iso.validate(iso.decode(body, XML).message)
    assert violation == iso.Violation("AC01", "CdtTrfTxInf/CdtrAcct/Id/IBAN", violation.text)
    assert "CdtTrfTxInf/CdtrAcct/Id/IBAN" in violation.text and "MOD 97-10" in violation.text


def test_profile_is_configurable():
    body = sub(b">2500.00<", b">2500000.00<")
    message = iso.decode(body, XML).message
    assert {v.code for v in iso.validate(message, iso.Profile(amount_paisa_max=100_000_00))} == {"AM02"}
    assert iso.validate(message, iso.Profile(amount_paisa_max=10_000_000_00)) == []
    relaxed = iso.Profile(require_uetr=False, clearing_system=None)
    no_uetr = iso.decode(sub(b"<UETR>3f2b7c9e-8a41-4d6b-9c3e-1a2b3c4d5e6f</UETR>", b""), XML).message
    assert iso.validate(no_uetr, relaxed) == []


def test_known_bics_accept_participants_and_branch_bics():
    message = iso.decode(P008, XML).message
    assert iso.validate(message, iso.RAAST_PROFILE, KNOWN_BICS) == []
    branch = iso.decode(P008.replace(b"MEZNPKKA<", b"MEZNPKKA036<"), XML).message
    assert iso.validate(branch, iso.RAAST_PROFILE, KNOWN_BICS) == []
