"""ISO 20022 codecs: every sample decodes, every message type round-trips in XML and JSON, outbound XML is
valid against the official XSDs, and the builders produce what the rail sends."""

from __future__ import annotations

import datetime as dt
import re
from functools import cache
from pathlib import Path

import msgspec
import pytest
from lxml import etree

import rail.iso20022 as iso
from conftest import SAMPLES_DIR, XSD_DIR
from rail.iso20022 import structs as s

SAMPLES = sorted(SAMPLES_DIR.glob("*.xml"))
PKT = dt.timezone(dt.timedelta(hours=5))
T0 = dt.datetime(2025, 1, 15, 10, 30, 0, 123000, tzinfo=PKT)


@cache
def schema(msg_type: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD_DIR / f"{msg_type}.xsd")))


def assert_xsd_valid(body: bytes, msg_type: str) -> None:
    """Validate the Document (unwrapping the AppHdr envelope if there is one) and the AppHdr."""
    root = etree.fromstring(body)
    if not root.tag.endswith("}Document"):
        header, root = root[0], root[1]
        head_schema = schema("head.001.001.02")
        assert head_schema.validate(etree.ElementTree(header)), head_schema.error_log
    xsd = schema(msg_type)
    assert xsd.validate(etree.ElementTree(root)), f"{msg_type}: {xsd.error_log}"


def sample(name_prefix: str) -> bytes:
    return next(p for p in SAMPLES if p.name.startswith(name_prefix)).read_bytes()


def sample_pacs008() -> s.Pacs008:
    return iso.decode(sample("pacs.008"), "application/xml").message


def example_messages() -> list:
    """One fully populated struct per supported message type (from samples and the builders)."""
    p008 = sample_pacs008()
    recall = iso.recall_request(p008, assgnmt_id="HABBCXL0001", rsn_cd="DUPL", cre_dt_tm=T0)
    lookup = iso.decode(sample("acmt.023"), "application/xml").message
    rtp = s.Pain013(
        msg_id="MEZNRTP0001",
        cre_dt_tm=T0,
        nb_of_txs="1",
        initg_pty_nm="Ayesha Khan",
        pmt_inf=[
            s.PmtInf(
                pmt_inf_id="PMTINF-1",
                pmt_mtd="TRF",
                reqd_exctn_dt=dt.date(2025, 1, 15),
                xpry_dt=dt.date(2025, 1, 16),
                dbtr_nm="Ali Raza",
                dbtr_acct_iban="PK66HABB0000001234567890",
                dbtr_acct_prxy_tp_cd="MBNO",
                dbtr_acct_prxy_id="+923001234567",
                dbtr_agt_bicfi="HABBPKKA",
                instr_id="RTP-1",
                end_to_end_id="E2E-RTP-1",
                uetr="3f2b7c9e-8a41-4d6b-9c3e-1a2b3c4d5e6f",
                amount_paisa=150_000,
                currency="PKR",
                chrg_br="SLEV",
                cdtr_agt_bicfi="MEZNPKKA",
                cdtr_nm="Ayesha Khan",
                cdtr_acct_iban="PK93MEZN0000001234567890",
                rmt_inf_ustrd="Invoice 42",
            )
        ],
    )
    return [
        p008,
        iso.status_report_for(
            p008,
            msg_id="RAAST0001",
            tx_sts="RJCT",
            rsn_cd="AC03",
            addtl_inf="Creditor account number invalid or missing",
            rsn_orgtr_bic="MEZNPKKA",
            msg_instg_agt_bicfi="SBPPPKKA",
            msg_instd_agt_bicfi="HABBPKKA",
            accptnc_dt_tm=T0,
            fctv_intr_bk_sttlm_dt=dt.date(2025, 1, 15),
            clr_sys_ref="RAAST0000000001",
            cre_dt_tm=T0,
        ),
        iso.payment_return(
            p008,
            msg_id="MEZNRTR0001",
            rtr_id="RTR-1",
            intr_bk_sttlm_dt=dt.date(2025, 1, 16),
            addtl_inf="recall accepted",
            cre_dt_tm=T0,
        ),
        iso.decode(sample("pacs.028"), "application/xml").message,
        recall,
        iso.resolution(
            recall, assgnmt_id="MEZNROI0001", rsn_cd="CUST", addtl_inf="beneficiary refused", cre_dt_tm=T0
        ),
        lookup,
        iso.verification_report(
            lookup,
            msg_id="RAASTIDV0001",
            verified=True,
            pty_nm="Ayesha Khan",
            iban="PK93MEZN0000001234567890",
            acct_nm="AYE*** KH**",
            agt_bicfi="MEZNPKKA",
            cre_dt_tm=T0,
        ),
        rtp,
        iso.rtp_status(
            rtp,
            msg_id="HABBRTPS0001",
            tx_sts="RJCT",
            rsn_cd="AM04",
            addtl_inf="no funds",
            accptnc_dt_tm=T0,
            cre_dt_tm=T0,
        ),
        iso.message_reject(
            rltd_ref="HABBPKKA0001",
            reason_code="FF01",
            description="bad",
            error_location="x",
            rjctn_dt_tm=T0,
            addtl_data="<raw/>",
        ),
        iso.decode(sample("admi.004"), "application/xml").message,
        iso.account_notification(
            msg_id="RAASTNTF0001",
            ntfctn_id="NTF-1",
            acct_iban="PK66HABB0000001234567890",
            amount_paisa=250_000,
            credit=False,
            booking_date=dt.date(2025, 1, 15),
            end_to_end_id="E2E-HBL-000000000001",
            uetr="3f2b7c9e-8a41-4d6b-9c3e-1a2b3c4d5e6f",
            tx_id="HABB1",
            clr_sys_ref="RAAST1",
            cre_dt_tm=T0,
        ),
    ]


HEADER = s.AppHdr(
    fr_bicfi="HABBPKKA",
    to_bicfi="SBPPPKKA",
    biz_msg_idr="HABBPKKA20250115103000000001",
    msg_def_idr="pacs.008.001.08",
    biz_svc="RAAST.P2P",
    cre_dt=dt.datetime(2025, 1, 15, 5, 30, tzinfo=dt.UTC),
)


def test_example_messages_cover_every_supported_type():
    assert sorted({iso._spec.SPEC_BY_CLASS[m.__class__].msg_type for m in example_messages()}) == sorted(
        iso.MSG_TYPES
    )
    assert len(iso.MSG_TYPES) == 13


@pytest.mark.parametrize("path", [p for p in SAMPLES if not p.name.startswith("head.")], ids=lambda p: p.name)
def test_every_sample_decodes_and_passes_the_profile(path: Path):
    decoded = iso.decode(path.read_bytes(), "application/xml")
    assert decoded.rendering == "xml"
    assert path.name.startswith(decoded.msg_type)
    assert iso.validate(decoded.message, iso.RAAST_PROFILE) == []


def test_header_sample_decodes_inside_an_envelope_with_the_pacs008_sample():
    header = sample("head.001").split(b"?>", 1)[1]
    document = sample("pacs.008").split(b"?>", 1)[1]
    body = b"<RequestPayload>" + header + document + b"</RequestPayload>"
    decoded = iso.decode(body, "application/xml")
    assert decoded.header.biz_msg_idr == "HABBPKKA20250115103000000001"
    assert decoded.header.cre_dt == dt.datetime(2025, 1, 15, 5, 30, 0, 123000, tzinfo=dt.UTC)
    assert decoded.message == sample_pacs008()


def test_pacs008_sample_fields_are_decoded_to_paisa_and_aware_datetimes():
    m = sample_pacs008()
    tx = m.tx
    assert (m.msg_id, m.nb_of_txs, m.sttlm_mtd, m.clr_sys_prtry) == (
        "HABBPKKA20250115103000000001",
        "1",
        "CLRG",
        "RAAST",
    )
    assert (tx.amount_paisa, tx.currency) == (250_000, "PKR")
    assert m.cre_dt_tm == dt.datetime(2025, 1, 15, 10, 30, 0, 123000, tzinfo=PKT)
    assert tx.accptnc_dt_tm.utcoffset() == dt.timedelta(hours=5)
    assert (tx.dbtr_agt_bicfi, tx.cdtr_agt_bicfi, tx.cdtr_acct_prxy_id) == (
        "HABBPKKA",
        "MEZNPKKA",
        "+923001234567",
    )
    assert tx.dbtr_prvt_id_othr_id == "3520112345671" and tx.dbtr_prvt_id_othr_schme_nm_cd == "NIDN"


@pytest.mark.parametrize("msg", example_messages(), ids=lambda m: type(m).__name__)
@pytest.mark.parametrize("rendering", ["xml", "json"])
def test_every_message_type_round_trips(msg, rendering: str):
    body = iso.encode(msg, rendering)
    decoded = iso.decode(body, iso.CONTENT_TYPES[rendering])
    assert decoded.message == msg
    assert decoded.rendering == rendering and decoded.header is None
    assert iso.validate(decoded.message) == []


@pytest.mark.parametrize("msg", example_messages(), ids=lambda m: type(m).__name__)
def test_every_outbound_type_is_xsd_valid(msg):
    msg_type = iso._spec.SPEC_BY_CLASS[msg.__class__].msg_type
    assert_xsd_valid(iso.encode(msg, "xml"), msg_type)


@pytest.mark.parametrize("rendering", ["xml", "json"])
def test_header_round_trips_and_envelope_is_xsd_valid(rendering: str):
    msg = sample_pacs008()
    body = iso.encode(msg, rendering, header=HEADER)
    decoded = iso.decode(body, None)
    assert decoded.header == HEADER and decoded.message == msg and decoded.rendering == rendering
    if rendering == "xml":
        assert_xsd_valid(body, "pacs.008.001.08")


def test_xml_with_prefixes_and_odd_whitespace_decodes_like_the_sample():
    text = sample("pacs.008").decode()
    body = text.replace(
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08">',
        '<p:Document xmlns:p="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08">\r\n\t',
    )
    body = body.replace("</Document>", "</p:Document>")
    body = re.sub(r"<(/?)(?!p:|\?|!)([A-Za-z])", r"<\1p:\2", body)
    body = body.replace("\n      ", "\n \t ")
    decoded = iso.decode(body.encode(), "text/xml; charset=utf-8")
    assert decoded.message == sample_pacs008()


@pytest.mark.parametrize(
    "head",
    [
        (
            b'\xef\xbb\xbf<?xml version="1.0" encoding="UTF-8"?>\n<!-- a -->\n<!-- b -->\n'
            b'<Document xmlns="{ns}">'
        ),
        b'<Document\n  xmlns = "{ns}"\n>',
        (
            b'<Document xmlns="{ns}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            b'xsi:schemaLocation="{ns} pacs.008.001.08.xsd">'
        ),
    ],
)
def test_document_start_variants_decode_alike(head: bytes):
    ns = b"urn:iso:std:iso:20022:tech:xsd:pacs.008.001.08"
    body = head.replace(b"{ns}", ns) + sample("pacs.008").split(b'<Document xmlns="' + ns + b'">', 1)[1]
    assert iso.decode(body, "application/xml").message == sample_pacs008()


def test_text_with_markup_characters_is_escaped_and_survives_both_renderings():
    msg = sample_pacs008()
    tricky = "A & B <Ltd> \"quoted\" 'x' \u0645\u06cc\u0632\u0627\u0646"
    tx = msgspec.structs.replace(msg.tx, cdtr_nm=tricky, rmt_inf_ustrd="a\r\nb")
    msg = msgspec.structs.replace(msg, cdt_trf_tx_inf=[tx])
    for rendering in ("xml", "json"):
        assert iso.decode(iso.encode(msg, rendering), None).message == msg
    assert_xsd_valid(iso.encode(msg, "xml"), "pacs.008.001.08")


def test_forwarded_pacs008_keeps_the_payment_and_switches_rendering():
    original = sample_pacs008()
    forwarded = iso.forward_credit_transfer(original, msg_id="RAASTFWD0001", instg_agt_bicfi="SBPPPKKA")
    assert forwarded.msg_id == "RAASTFWD0001" and forwarded.tx.instg_agt_bicfi == "SBPPPKKA"
    assert forwarded.tx.amount_paisa == original.tx.amount_paisa and forwarded.tx.uetr == original.tx.uetr
    body = iso.encode(forwarded, "json")
    assert iso.decode(body, "application/json").message == forwarded
    assert iso.validate(forwarded) == []


def test_status_report_carries_original_ids_and_reason():
    p002 = iso.status_report_for(
        sample_pacs008(), msg_id="RAAST0002", tx_sts="RJCT", rsn_cd="AM04", addtl_inf="x" * 300
    )
    tx = p002.tx
    assert (tx.orgnl_msg_id, tx.orgnl_end_to_end_id, tx.orgnl_tx_id, tx.orgnl_uetr) == (
        "HABBPKKA20250115103000000001",
        "E2E-HBL-000000000001",
        "HABB2025011510300000000001",
        "3f2b7c9e-8a41-4d6b-9c3e-1a2b3c4d5e6f",
    )
    assert tx.tx_sts == "RJCT" and tx.sts_rsn_cd == "AM04" and len(tx.sts_rsn_addtl_inf) == 105
    assert p002.cre_dt_tm.utcoffset() == dt.timedelta(hours=5)
    assert_xsd_valid(iso.encode(p002, "xml"), "pacs.002.001.10")


def test_message_reject_from_a_decode_error_names_code_location_and_reference():
    body = sample("pacs.008").replace(b"<ChrgBr>SLEV</ChrgBr>", b"")
    with pytest.raises(iso.MessageRejected) as caught:
        iso.decode(body, "application/xml")
    reject = iso.message_reject_for(caught.value)
    assert reject.rjctg_pty_rsn == "FF01"
    assert reject.rltd_ref == "HABBPKKA20250115103000000001"
    # The schema reports where it stopped (the element found instead of ChrgBr) and what it expected.
    assert reject.err_lctn == "FIToFICstmrCdtTrf/CdtTrfTxInf/InstgAgt"
    assert "ChrgBr )" in reject.rsn_desc
    assert_xsd_valid(iso.encode(reject, "xml"), "admi.002.001.01")


def test_json_rendering_uses_iso_element_names_and_names_its_type():
    doc = msgspec.json.decode(iso.encode(sample_pacs008(), "json"))
    assert doc["MsgDefIdr"] == "pacs.008.001.08"
    tx = doc["FIToFICstmrCdtTrf"]["CdtTrfTxInf"][0]
    assert tx["IntrBkSttlmAmt"] == {"Ccy": "PKR", "Amt": "2500.00"}
    assert tx["CdtrAcct"]["Prxy"] == {"Tp": {"Cd": "MBNO"}, "Id": "+923001234567"}
    assert doc["FIToFICstmrCdtTrf"]["GrpHdr"]["NbOfTxs"] == "1"


def test_json_without_msgdefidr_is_detected_from_its_root_key():
    doc = msgspec.json.decode(iso.encode(sample_pacs008(), "json"))
    del doc["MsgDefIdr"]
    decoded = iso.decode(msgspec.json.encode(doc), "application/json")
    assert decoded.msg_type == "pacs.008.001.08" and decoded.message == sample_pacs008()


def test_optional_elements_the_structs_do_not_read_are_accepted():
    body = sample("pacs.008").replace(
        b"<ChrgBr>SLEV</ChrgBr>",
        b'<ChrgBr>SLEV</ChrgBr><ChrgsInf><Amt Ccy="PKR">0</Amt><Agt><FinInstnId><BICFI>HABBPKKA</BICFI>'
        b"</FinInstnId></Agt></ChrgsInf>",
    )
    assert iso.decode(body, "application/xml").message == sample_pacs008()


def test_amount_decimal_forms_convert_exactly_to_paisa():
    for text, paisa in (
        ("2500", 250_000),
        ("2500.5", 250_050),
        ("0.01", 1),
        ("2500.10000", 250_010),
        ("000123.45", 12_345),
    ):
        body = sample("pacs.008").replace(b">2500.00<", f">{text}<".encode())
        assert iso.decode(body, "application/xml").message.tx.amount_paisa == paisa


def test_product_code_never_reads_the_shared_reference_pack():
    package = Path(iso.__file__).parent
    for source in package.glob("*.py"):
        text = source.read_text()
        assert "../shared" not in text and "/shared/" not in text, source.name
    assert (package / "codes.json").is_file()


def test_reason_codes_used_by_the_profile_carry_their_iso_definitions():
    for code in (
        "FF01",
        "FF08",
        "MINF",
        "AM01",
        "AM02",
        "AM03",
        "AM18",
        "AM19",
        "CH20",
        "AC01",
        "AC02",
        "AC03",
        "RC01",
        "RC02",
        "RC03",
        "RC04",
        "DT01",
        "BE08",
        "BE16",
        "BE19",
        "BE22",
        "BE23",
    ):
        assert iso.codes.definition(code), code
    assert iso.codes.definition("AM01") == "Specified message amount is equal to zero"
    assert iso.codes.definition("FOCR", "ExternalReturnReason1Code")
