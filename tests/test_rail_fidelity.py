"""The rail forwards the whole message and speaks the business application header.

- What the creditor agent (or payer agent) reads, in either rendering, holds every element the sender wrote:
  hypothesis adds random optional elements the rail does not interpret (postal addresses, ultimate parties,
  structured remittance, category purpose, purpose, regulatory reporting, supplementary data ...) to pacs.008
  and pain.013, sent as XML or JSON, with or without a header.
- A request with an AppHdr gets replies with one (Fr the rail, To the requester, Rltd the request's header);
  forwarded messages and final reports carry one; a header naming another sender is refused.
- Every message the rail writes here validates against the official XSDs (the whole message: header too).
- Fresh MsgId on every report; a creditor's interim ACTC is noted, not refused.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import uuid

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from iso_checks import assert_schema_valid, xsd_value
from lxml import etree

from rail import iso20022
from rail.api.service import RailService
from rail.iso20022 import convert, schema

DEBTOR, CREDITOR, RAIL = "HABBPKKA", "MEZNPKKA", "SBPPPKKA"
XML, JSON = "application/xml", "application/json"
CONTENT_TYPES = {"xml": XML, "json": JSON}
P008_TYPE, P013_TYPE = "pacs.008.001.08", "pain.013.001.07"

# Elements the rail does not interpret, by the path of the element that holds them (from the root element).
PACS008_EXTRAS = [
    ("CdtTrfTxInf", "UltmtDbtr"),
    ("CdtTrfTxInf", "InitgPty"),
    ("CdtTrfTxInf", "UltmtCdtr"),
    ("CdtTrfTxInf/Dbtr", "PstlAdr"),
    ("CdtTrfTxInf/Dbtr", "CtryOfRes"),
    ("CdtTrfTxInf/Cdtr", "PstlAdr"),
    ("CdtTrfTxInf/Cdtr", "CtctDtls"),
    ("CdtTrfTxInf/PmtTpInf", "CtgyPurp"),
    ("CdtTrfTxInf/RmtInf", "Strd"),
    ("CdtTrfTxInf", "Purp"),
    ("CdtTrfTxInf", "RgltryRptg"),
    ("CdtTrfTxInf", "InstrForCdtrAgt"),
    ("CdtTrfTxInf", "RltdRmtInf"),
    ("CdtTrfTxInf", "SplmtryData"),
    ("", "SplmtryData"),
]
PAIN013_EXTRAS = [
    ("GrpHdr/InitgPty", "PstlAdr"),
    ("PmtInf", "PmtTpInf"),
    ("PmtInf", "PmtCond"),
    ("PmtInf", "UltmtDbtr"),
    ("PmtInf/Dbtr", "PstlAdr"),
    ("PmtInf/CdtTrfTx", "UltmtCdtr"),
    ("PmtInf/CdtTrfTx", "Purp"),
    ("PmtInf/CdtTrfTx", "RgltryRptg"),
    ("PmtInf/CdtTrfTx", "InstrForCdtrAgt"),
    ("PmtInf/CdtTrfTx", "NclsdFile"),
    ("PmtInf/CdtTrfTx/Cdtr", "PstlAdr"),
    ("PmtInf/CdtTrfTx/RmtInf", "Strd"),
    ("", "SplmtryData"),
]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _declared(msg_type: str, holder: str, name: str) -> schema.Child:
    ctype = schema.message_schema(msg_type).root.type
    for part in filter(None, holder.split("/")):
        ctype = ctype.by_name[part].type
    return ctype.by_name[name]


def _node(doc: dict, holder: str) -> dict:
    for part in filter(None, holder.split("/")):
        value = doc.setdefault(part, {})
        doc = value[0] if isinstance(value, list) else value
    return doc


@st.composite
def with_extras(draw, base: dict, msg_type: str, extras: list[tuple[str, str]]) -> dict:
    """``base`` with a random selection of the optional elements in ``extras``, each schema-valid."""
    doc = copy.deepcopy(base)
    for holder, name in draw(st.lists(st.sampled_from(extras), unique=True, max_size=6)):
        declared = _declared(msg_type, holder, name)
        value = draw(xsd_value(declared.type, depth=1, optional_pct=45))
        node = _node(doc, holder)
        if name == "Strd":  # RmtInf holds Ustrd or Strd: the sample's Ustrd makes way
            node.pop("Ustrd", None)
        node[name] = [value, value] if declared.repeats and draw(st.booleans()) else value
    return doc


def _canonical(doc: dict, msg_type: str) -> dict:
    """A JSON tree through XML and back: arrays and single values as the rail writes them."""
    element = etree.fromstring(convert.json_to_xml(doc, msg_type).encode())
    return convert.element_to_json(element if msg_type.startswith("head") else element[0], msg_type)


def _content(body: bytes | str, msg_type: str) -> tuple[dict, dict | None]:
    """(message content, AppHdr) of a message as a participant received it, as canonical JSON trees."""
    if isinstance(body, str):
        body = body.encode()
    if body.lstrip()[:1] == b"{":
        top = msgspec.json.decode(body)
        root = next(key for key in top if key not in ("MsgDefIdr", "AppHdr"))
        header = top.get("AppHdr")
        return _canonical(top[root], msg_type), header and _canonical(header, "head.001.001.02")
    root = etree.fromstring(body)
    header = None
    if etree.QName(root).localname != "Document":
        header_element, root = [child for child in root if isinstance(child.tag, str)]
        header = convert.element_to_json(header_element, "head.001.001.02")
    return convert.element_to_json(root[0], msg_type), header


def _header(sender: str, msg_type: str, by_member_id: bool = False) -> iso20022.AppHdr:
    who = {"fr_mmb_id": sender[:4], "fr_clr_sys_prtry": "RAAST"} if by_member_id else {"fr_bicfi": sender}
    return iso20022.AppHdr(
        **who, to_bicfi=RAIL, biz_msg_idr="BAH" + uuid.uuid4().hex[:20], msg_def_idr=msg_type,
        biz_svc="RAAST.P2P", cre_dt=_now(),
    )


def _encode(doc: dict, msg_type: str, rendering: str, header: iso20022.AppHdr | None) -> bytes:
    root = schema.message_schema(msg_type).root.name
    if rendering == "json":
        top: dict = {"MsgDefIdr": msg_type}
        if header is not None:
            top["AppHdr"] = iso20022.json_codec.header_json(header)
        top[root] = doc
        return msgspec.json.encode(top)
    return iso20022.xml_encode.envelope(convert.json_to_xml(doc, msg_type), header)


class Rail:
    """A rail in this test's own event loop (hypothesis runs examples synchronously)."""

    def __init__(self, tmp_path) -> None:
        self.loop = asyncio.new_event_loop()
        self.service = self.run(
            RailService.open(tmp_path, fsync=False, creditor_timeout_ms=60_000)
        )
        for bic in (DEBTOR, CREDITOR):
            self.run(self.service.add_participant(bic, bic))
        self.run(self.service.liquidity(DEBTOR, 10**12, "in"))

    def run(self, coroutine):
        return self.loop.run_until_complete(coroutine)

    def submit(self, bic: str, body: bytes, rendering: str, wait_s: float | None = None):
        return self.run(self.service.submit(bic, body, CONTENT_TYPES[rendering], wait_s))

    def inbox(self, bic: str) -> list[tuple[int, dict, dict]]:
        """Every waiting message, read in both renderings: (seq, xml item, json item); acknowledged."""
        xml = self.service.inbox_page(bic, 100, "xml")["messages"]
        json = self.service.inbox_page(bic, 100, "json")["messages"]
        if xml:
            self.run(self.service.ack(bic, xml[-1]["seq"]))
        return [(x["seq"], x, j) for x, j in zip(xml, json)]

    def close(self) -> None:
        self.run(self.service.close())
        self.loop.close()


@pytest.fixture
def rail(tmp_path):
    rail = Rail(tmp_path)
    yield rail
    rail.close()


def _fresh_pacs008(service: RailService) -> dict:
    debtor = service.scheme.bank(DEBTOR).customers[0]
    creditor = service.scheme.bank(CREDITOR).customers[0]
    tx_id = uuid.uuid4().hex[:24].upper()
    message = iso20022.Pacs008(
        msg_id="MSG" + tx_id, cre_dt_tm=_now(), nb_of_txs="1", sttlm_mtd="CLRG", clr_sys_prtry="RAAST",
        cdt_trf_tx_inf=[
            iso20022.CdtTrfTxInf(
                end_to_end_id="E2E" + tx_id[:20], tx_id=tx_id, uetr=str(uuid.uuid4()), amount_paisa=12_345,
                currency="PKR", intr_bk_sttlm_dt=_now().date(), accptnc_dt_tm=_now(), chrg_br="SLEV",
                instg_agt_bicfi=DEBTOR, instd_agt_bicfi=CREDITOR, dbtr_nm=debtor.name, dbtr_acct_iban=debtor.iban,
                dbtr_agt_bicfi=DEBTOR, cdtr_agt_bicfi=CREDITOR, cdtr_nm=creditor.name, cdtr_acct_iban=creditor.iban,
                rmt_inf_ustrd="Family support",
            )
        ],
    )
    return msgspec.json.decode(iso20022.encode(message, "json"))["FIToFICstmrCdtTrf"]


def _fresh_pain013(service: RailService) -> dict:
    payer = service.scheme.bank(DEBTOR).customers[0]
    payee = service.scheme.bank(CREDITOR).customers[0]
    request = iso20022.Pain013(
        msg_id="RTP" + uuid.uuid4().hex[:20], cre_dt_tm=_now(), nb_of_txs="1", initg_pty_nm="Shop",
        pmt_inf=[
            iso20022.PmtInf(
                pmt_mtd="TRF", reqd_exctn_dt=_now().date(), dbtr_nm=payer.name, dbtr_acct_iban=payer.iban,
                dbtr_agt_bicfi=DEBTOR, end_to_end_id="INV-" + uuid.uuid4().hex[:8], uetr=str(uuid.uuid4()),
                amount_paisa=45_000, currency="PKR", chrg_br="SLEV", cdtr_agt_bicfi=CREDITOR, cdtr_nm=payee.name,
                cdtr_acct_iban=payee.iban, rmt_inf_ustrd="Invoice",
            )
        ],
    )
    return msgspec.json.decode(iso20022.encode(request, "json"))["CdtrPmtActvtnReq"]


SHAPES = st.tuples(st.sampled_from(["xml", "json"]), st.sampled_from([None, "bic", "member-id"]))


def _check_forwarded(rail: Rail, sent: dict, msg_type: str, recipient: str, header) -> None:
    [(_, as_xml, as_json)] = [item for item in rail.inbox(recipient) if item[1]["msg_type"] == msg_type]
    expected = _canonical(sent, msg_type)
    for item in (as_xml, as_json):
        body = item["message"] if isinstance(item["message"], str) else msgspec.json.encode(item["message"])
        assert_schema_valid(body)
        content, forwarded_header = _content(body, msg_type)
        assert content == expected  # every element the sender wrote, none added, none lost
        if header is None:
            assert forwarded_header is None
        else:  # point to point: the rail's header, the sender's kept in Rltd
            assert forwarded_header["Fr"] == {"FIId": {"FinInstnId": {"BICFI": RAIL}}}
            assert forwarded_header["To"] == {"FIId": {"FinInstnId": {"BICFI": recipient}}}
            related = forwarded_header["Rltd"][0]
            assert (related["BizMsgIdr"], related["MsgDefIdr"]) == (header.biz_msg_idr, msg_type)
            assert forwarded_header["BizMsgIdr"] != header.biz_msg_idr


# Who sends each message, who receives it, how a fresh one is written, which optional elements to add.
FORWARDS = {
    "pacs.008 to the creditor agent": (P008_TYPE, DEBTOR, CREDITOR, _fresh_pacs008, PACS008_EXTRAS, 25),
    "pain.013 to the payer agent": (P013_TYPE, CREDITOR, DEBTOR, _fresh_pain013, PAIN013_EXTRAS, 20),
}


@pytest.mark.parametrize("case", FORWARDS)
def test_the_recipient_receives_every_element_the_sender_wrote(rail, case):
    msg_type, sender, recipient, fresh, extras, examples = FORWARDS[case]

    @settings(max_examples=examples, suppress_health_check=list(HealthCheck), deadline=None)
    @given(st.data(), SHAPES)
    def run(data, shape):
        rendering, header_kind = shape
        doc = data.draw(with_extras(fresh(rail.service), msg_type, extras))
        header = None if header_kind is None else _header(sender, msg_type, header_kind == "member-id")
        reply = rail.submit(sender, _encode(doc, msg_type, rendering, header), rendering)
        assert reply.status == 202, reply.body
        assert_schema_valid(reply.body)
        _check_forwarded(rail, doc, msg_type, recipient, header)

    run()


# --------------------------------------------------------------------------- headers on replies and reports


def _reply_header(body: bytes) -> dict:
    return _content(body, iso20022.forward.msg_type_of(body, "json" if body[:1] == b"{" else "xml"))[1]


@pytest.mark.parametrize("rendering", ["xml", "json"])
def test_a_request_with_a_header_gets_replies_and_reports_with_headers(rail, rendering):
    doc = _fresh_pacs008(rail.service)
    header = _header(DEBTOR, P008_TYPE, by_member_id=True)
    reply = rail.submit(DEBTOR, _encode(doc, P008_TYPE, rendering, header), rendering)
    assert reply.status == 202
    assert assert_schema_valid(reply.body) == "pacs.002.001.10"
    answer = _reply_header(reply.body)
    assert answer["Fr"] == {"FIId": {"FinInstnId": {"BICFI": RAIL}}}
    # To the requester as it named itself; MsgDefIdr the reply's; Rltd the request's header.
    assert answer["To"]["FIId"]["FinInstnId"]["ClrSysMmbId"]["MmbId"] == "HABB"
    assert answer["MsgDefIdr"] == "pacs.002.001.10" and answer["BizMsgIdr"] != header.biz_msg_idr
    assert answer["Rltd"][0]["BizMsgIdr"] == header.biz_msg_idr
    [(_, forwarded, _)] = rail.inbox(CREDITOR)
    uetr = doc["CdtTrfTxInf"][0]["PmtId"]["UETR"]
    forwarded_struct = iso20022.decode(forwarded["message"].encode(), XML)
    acsp = iso20022.status_report_for(
        forwarded_struct.message, msg_id="ANS" + uuid.uuid4().hex[:20], tx_sts="ACSP",
        instg_agt_bicfi=CREDITOR, instd_agt_bicfi=DEBTOR,
    )
    creditor_header = _header(CREDITOR, "pacs.002.001.10")
    final = rail.submit(CREDITOR, iso20022.encode(acsp, rendering, creditor_header), rendering)
    assert final.status == 200 and assert_schema_valid(final.body) == "pacs.002.001.10"
    assert _reply_header(final.body)["Rltd"][0]["BizMsgIdr"] == creditor_header.biz_msg_idr
    for agent in (DEBTOR, CREDITOR):
        [(_, report, _)] = rail.inbox(agent)
        body = report["message"].encode()
        assert assert_schema_valid(body) == "pacs.002.001.10"
        status = iso20022.decode(body, XML)
        assert (status.message.tx.orgnl_uetr, status.message.tx.tx_sts) == (uetr, "ACSC")
        assert status.header.to_bicfi == agent or status.header.to_mmb_id == agent[:4]
        assert status.header.rltd and status.header.fr_bicfi == RAIL


def test_a_header_naming_another_sender_is_refused(rail):
    doc = _fresh_pacs008(rail.service)
    header = _header(CREDITOR, P008_TYPE)
    reply = rail.submit(DEBTOR, _encode(doc, P008_TYPE, "xml", header), "xml")
    assert reply.status == 403
    assert assert_schema_valid(reply.body) == "admi.002.001.01"
    reject = iso20022.decode(reply.body, XML)
    assert reject.message.rjctg_pty_rsn == "AUTH" and "is not HABBPKKA" in reject.message.rsn_desc
    assert reject.header.to_bicfi == DEBTOR  # answered to the authenticated participant
    assert rail.inbox(CREDITOR) == []


# --------------------------------------------------------------------------- reports, statuses, refusals


def _answer(payment: iso20022.Pacs008, status: str) -> iso20022.Pacs002:
    """The creditor agent's pacs.002 on a forwarded payment."""
    return iso20022.status_report_for(
        payment, msg_id="ANS" + uuid.uuid4().hex[:20], tx_sts=status, instg_agt_bicfi=CREDITOR,
        instd_agt_bicfi=DEBTOR,
    )


def test_the_status_request_is_answered_by_a_new_report(rail):
    doc = _fresh_pacs008(rail.service)
    reply = rail.submit(DEBTOR, _encode(doc, P008_TYPE, "xml", None), "xml")
    assert reply.status == 202
    [(_, forwarded, _)] = rail.inbox(CREDITOR)
    payment = iso20022.decode(forwarded["message"].encode(), XML).message
    acsp = _answer(payment, "ACSP")
    rail.submit(CREDITOR, iso20022.encode(acsp, "xml"), "xml")
    [(_, final, _)] = rail.inbox(DEBTOR)
    final_report = iso20022.decode(final["message"].encode(), XML).message
    request = iso20022.Pacs028(
        msg_id="REQ" + uuid.uuid4().hex[:20], cre_dt_tm=_now(),
        tx_inf=[iso20022.StsReqTxInf(orgnl_end_to_end_id=payment.tx.end_to_end_id, orgnl_uetr=payment.tx.uetr)],
    )
    answers = [rail.submit(DEBTOR, iso20022.encode(request, "xml"), "xml") for _ in range(2)]
    reports = [iso20022.decode(answer.body, XML).message for answer in answers]
    assert all(report.tx.tx_sts == "ACSC" for report in reports)
    ids = {final_report.msg_id, *(report.msg_id for report in reports)}
    assert len(ids) == 3  # the final report and each answer: three messages, three MsgIds
    assert all(report.cre_dt_tm >= final_report.cre_dt_tm for report in reports)


def test_an_interim_actc_from_the_creditor_agent_is_noted_and_the_payment_still_settles(rail):
    doc = _fresh_pacs008(rail.service)
    rail.submit(DEBTOR, _encode(doc, P008_TYPE, "json", None), "json")
    [(_, forwarded, _)] = rail.inbox(CREDITOR)
    payment = iso20022.decode(forwarded["message"].encode(), XML).message
    actc = _answer(payment, "ACTC")
    reply = rail.submit(CREDITOR, iso20022.encode(actc, "json"), "json")
    assert reply.status == 202
    interim = iso20022.decode(reply.body, JSON).message.tx
    assert interim.tx_sts == "PDNG" and "ACSP/ACCP" in interim.sts_rsn_addtl_inf
    reply = rail.submit(CREDITOR, iso20022.encode(_answer(payment, "ACSP"), "json"), "json")
    assert (reply.status, iso20022.decode(reply.body, JSON).message.tx.tx_sts) == (200, "ACSC")


def test_an_xsd_invalid_message_is_refused_and_never_forwarded(rail):
    doc = _fresh_pacs008(rail.service)
    body = _encode(doc, P008_TYPE, "xml", None).replace(b"<ChrgBr>SLEV</ChrgBr>", b"<ChrgBr>SLEV</ChrgBr><Foo>x</Foo>")
    reply = rail.submit(DEBTOR, body, "xml")
    assert reply.status == 400 and assert_schema_valid(reply.body) == "admi.002.001.01"
    reject = iso20022.decode(reply.body, XML).message
    assert reject.err_lctn == "FIToFICstmrCdtTrf/CdtTrfTxInf/Foo" and reject.rltd_ref == doc["GrpHdr"]["MsgId"]
    assert rail.inbox(CREDITOR) == []
