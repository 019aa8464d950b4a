"""Interop: ISO 20022 messages published by other projects (FedNow, TCH RTP, CBPR+ examples), run through the rail.

The samples, their sources and licences, the adaptations allowed and the outcome each must get are in
manifest.toml (read it first). For every sample sent, every message the rail writes (its answer, what the
counterparty receives) is checked against the official XSDs, and an XSD-valid sample in a version the rail
speaks is never answered admi.002.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
import uuid
from pathlib import Path

import msgspec
import pytest
from iso_checks import assert_schema_valid, xsd
from lxml import etree
from test_rail_fidelity import CREDITOR, DEBTOR, Rail

from rail import iso20022
from rail.iso20022 import convert

HERE = Path(__file__).resolve().parent
MANIFEST = tomllib.loads((HERE / "manifest.toml").read_text())
SAMPLES = MANIFEST["sample"]
XML = "application/xml"
ALLOWED_LICENCES = {"MIT", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "CC0-1.0", "CC-BY-4.0", "public domain"}


def adapted(sample: dict) -> bytes:
    text = (HERE / "data" / sample["file"]).read_text(encoding="utf-8")
    for name in sample["adapt"]:
        changes = 0
        for pattern, replacement in MANIFEST["adaptation"][name]["replace"]:
            text, count = re.subn(pattern, replacement, text)
            changes += count
        assert changes, f"{sample['file']}: adaptation {name} changes nothing"
    return text.encode()


def _document(body: bytes) -> etree._Element:
    root = etree.fromstring(body)
    return root if etree.QName(root).localname == "Document" else [c for c in root if isinstance(c.tag, str)][-1]


def _xsd_valid(body: bytes) -> bool:
    """XSD validity in a message version the rail speaks (False for any other version or envelope)."""
    document = _document(body)
    msg_type = (etree.QName(document).namespace or "").rsplit(":", 1)[-1]
    try:
        return xsd(msg_type).validate(document)
    except OSError:  # no schema: a message or version the rail does not speak
        return False


def _message(item: dict) -> bytes:
    body = item["message"]
    return body.encode() if isinstance(body, str) else msgspec.json.encode(body)


def _content(body: bytes, msg_type: str) -> dict:
    if body[:1] == b"{":
        top = msgspec.json.decode(body)
        root = next(key for key in top if key not in ("MsgDefIdr", "AppHdr"))
        element = etree.fromstring(convert.json_to_xml(top[root], msg_type).encode())[0]
    else:
        element = _document(body)[0]
    return convert.element_to_json(element, msg_type)


# --------------------------------------------------------------------------- set-ups


def _payment(rail: Rail, ids: dict, settle: bool) -> iso20022.Pacs008:
    """A payment from the debtor agent carrying ``ids`` (the sample's original ids), forwarded to the creditor
    agent and, when ``settle``, accepted by it."""
    service = rail.service
    tx_id = uuid.uuid4().hex[:24].upper()
    now = dt.datetime.now(dt.UTC)
    message = iso20022.Pacs008(
        msg_id=ids.get("msg_id") or "MSG" + tx_id, cre_dt_tm=now, nb_of_txs="1", sttlm_mtd="CLRG",
        clr_sys_prtry="RAAST",
        cdt_trf_tx_inf=[
            iso20022.CdtTrfTxInf(
                instr_id=ids.get("instr_id"), end_to_end_id=ids.get("end_to_end_id") or "E2E" + tx_id,
                tx_id=tx_id, uetr=ids["uetr"], amount_paisa=5_174, currency="PKR", intr_bk_sttlm_dt=now.date(),
                accptnc_dt_tm=now, chrg_br="SLEV", instg_agt_bicfi=DEBTOR, instd_agt_bicfi=CREDITOR,
                dbtr_nm="Individual A", dbtr_acct_iban=service.scheme.bank(DEBTOR).customers[0].iban,
                dbtr_agt_bicfi=DEBTOR, cdtr_agt_bicfi=CREDITOR, cdtr_nm="Corporation B",
                cdtr_acct_iban=service.scheme.bank(CREDITOR).customers[0].iban,
            )
        ],
    )
    assert rail.submit(DEBTOR, iso20022.encode(message, "xml"), "xml").status == 202
    rail.inbox(CREDITOR)
    if settle:
        answer = iso20022.status_report_for(
            message, msg_id="ANS" + tx_id, tx_sts="ACSP", instg_agt_bicfi=CREDITOR, instd_agt_bicfi=DEBTOR
        )
        assert rail.submit(CREDITOR, iso20022.encode(answer, "xml"), "xml").status == 200
        for agent in (DEBTOR, CREDITOR):
            rail.inbox(agent)
    return message


def _original_ids(message) -> dict:
    tx = message.tx
    return {
        "msg_id": tx.orgnl_msg_id, "instr_id": tx.orgnl_instr_id, "end_to_end_id": tx.orgnl_end_to_end_id,
        "uetr": tx.orgnl_uetr,
    }


def _set_up(rail: Rail, scenario: str, body: bytes) -> None:
    if scenario in ("payment", "request-to-pay", "library"):
        return
    message = iso20022.decode(body, XML).message
    if scenario == "rtp-answer":
        _request_to_pay(rail, message.orgnl_msg_id)
        return
    payment = _payment(rail, _original_ids(message), settle=scenario != "creditor-answer")
    if scenario == "recall-answer":
        recall = iso20022.recall_request(payment, assgnmt_id="CXL" + uuid.uuid4().hex[:20], rsn_cd="DUPL")
        assert rail.submit(DEBTOR, iso20022.encode(recall, "xml"), "xml").status == 202
        rail.inbox(CREDITOR)


def _request_to_pay(rail: Rail, msg_id: str) -> None:
    service = rail.service
    now = dt.datetime.now(dt.UTC)
    request = iso20022.Pain013(
        msg_id=msg_id, cre_dt_tm=now, nb_of_txs="1",
        pmt_inf=[
            iso20022.PmtInf(
                pmt_mtd="TRF", reqd_exctn_dt=now.date(), dbtr_nm="Individual B",
                dbtr_acct_iban=service.scheme.bank(CREDITOR).customers[0].iban, dbtr_agt_bicfi=CREDITOR,
                end_to_end_id="RFPSc01Step1EndToEndId001", uetr=str(uuid.uuid4()), amount_paisa=50_000,
                currency="PKR", chrg_br="SLEV", cdtr_agt_bicfi=DEBTOR, cdtr_nm="Corporation A",
                cdtr_acct_iban=service.scheme.bank(DEBTOR).customers[0].iban,
            )
        ],
    )
    assert rail.submit(DEBTOR, iso20022.encode(request, "xml"), "xml").status == 202
    rail.inbox(CREDITOR)


# --------------------------------------------------------------------------- checks per outcome


def _check_library(body: bytes) -> None:
    decoded = iso20022.decode(body, XML)
    assert decoded.msg_type == "camt.054.001.08"
    entry = decoded.message.tx
    assert (entry.bk_tx_cd_domn_cd, entry.bk_tx_cd_prtry_cd) == (None, "DBIT")
    assert (entry.amount_paisa, entry.currency, entry.sts_cd) == (5_174, "USD", "BOOK")


def _check_answer(rail: Rail, sample: dict, body: bytes, reply) -> None:
    expect = sample["expect"]
    if expect == "unreadable":
        assert reply.status == 400, reply.body
        reject = iso20022.decode(reply.body, XML).message
        assert reject.rjctg_pty_rsn == "FF01" and sample["text"] in reject.rsn_desc, reject
        return
    report = iso20022.decode(reply.body, XML).message
    assert isinstance(report, iso20022.Pacs002), report  # never admi.002
    status = report.tx.tx_sts
    if expect == "refused":
        assert (reply.status, status, report.tx.sts_rsn_cd) == (422, "RJCT", sample["code"]), report
        assert sample["at"] in report.tx.sts_rsn_addtl_inf, report.tx.sts_rsn_addtl_inf
    elif expect == "interim":
        assert (reply.status, status) == (202, "PDNG") and "ACSP/ACCP" in report.tx.sts_rsn_addtl_inf
    elif expect == "settles":
        assert (reply.status, status) == (200, "ACSC"), report
        for agent in (DEBTOR, CREDITOR):
            finals = [iso20022.decode(_message(x), XML).message for _, x, _ in rail.inbox(agent)]
            assert [final.tx.tx_sts for final in finals] == ["ACSC"]
    elif expect == "answered":
        assert (reply.status, status) == (200, "ACSC"), report
    elif expect == "relayed":
        assert (reply.status, status) == (202, "ACTC"), report
        _check_relayed(rail, sample, body)
        if sample["scenario"] == "recall-answer":  # Sts/Conf IPAY: FedNow's "the return is paid"
            view = rail.run(rail.service.payment(DEBTOR, report.tx.orgnl_uetr))
            assert view["recalls"][-1]["state"] == "ACCR", view["recalls"]
    else:
        raise AssertionError(f"unknown outcome {expect}")


def _check_relayed(rail: Rail, sample: dict, body: bytes) -> None:
    """The counterparty receives the whole message, in both renderings."""
    msg_type = iso20022.decode(body, XML).msg_type
    recipient = CREDITOR if sample["sender"] == DEBTOR else DEBTOR
    [(_, as_xml, as_json)] = [item for item in rail.inbox(recipient) if item[1]["msg_type"] == msg_type]
    sent = convert.element_to_json(_document(body)[0], msg_type)
    for item in (as_xml, as_json):
        received = _message(item)
        assert_schema_valid(received)
        assert _content(received, msg_type) == sent


@pytest.mark.parametrize("sample", SAMPLES, ids=[sample["file"] for sample in SAMPLES])
def test_sample_gets_its_expected_outcome(sample, tmp_path):
    assert sample["licence"] in ALLOWED_LICENCES, sample["licence"]
    assert re.fullmatch(r"[0-9a-f]{40}", sample["commit"]) and sample["repository"].count("/") == 1
    body = adapted(sample)
    if sample["scenario"] == "library":
        assert _xsd_valid(body)
        _check_library(body)
        return
    rail = Rail(tmp_path)
    try:
        _set_up(rail, sample["scenario"], body)
        reply = rail.submit(sample["sender"], body, "xml")
        assert_schema_valid(reply.body)  # every answer validates, admi.002 included
        if _xsd_valid(body):
            assert b"admi.002" not in reply.body[:400], reply.body[:600]
        _check_answer(rail, sample, body, reply)
        for agent in (DEBTOR, CREDITOR):  # and so does everything left for the agents
            for _, as_xml, as_json in rail.inbox(agent):
                assert_schema_valid(_message(as_xml))
                assert_schema_valid(_message(as_json))
    finally:
        rail.close()


def test_the_manifest_names_every_file_and_every_file_is_named():
    files = {path.name for path in (HERE / "data").glob("*.xml")}
    assert files == {sample["file"] for sample in SAMPLES}
    outcomes = {sample["expect"] for sample in SAMPLES}
    assert {"settles", "refused", "relayed", "unreadable", "decodes"} <= outcomes
