"""POST /v1/render: a message in both renderings by the rail's own lossless converter (what the workbench shows
side by side). Every element goes across, literals as written; what cannot be read is answered with why."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest
from lxml import etree

from rail import iso20022 as iso
from rail.api.http_types import RequestHead, respond
from rail.api.renderings import both_renderings
from rail.api.routes import RailApi
from rail.api.service import RailService

ADMIN = "render-admin"


def pacs008(remittance: str | None = "Family support <January> & more") -> object:
    return iso.credit_transfer(
        msg_id="TESTPKKA20260115103000A1B2C3", tx_id="TESTPKKA20260115103000D4E5F6",
        uetr="4f1d2c3b-5a6e-4f70-8a91-b2c3d4e5f601", amount_paisa=250_050, debtor_agent="TESTPKKA",
        debtor_name="Ali Raza", debtor_iban=iso.make_pk_iban("TEST", "0000001234567890"),
        creditor_agent="MEZNPKKA", creditor_name="Sana Khan", creditor_iban=iso.make_pk_iban("MEZN", "0005000000005000"),
        remittance_info=remittance, at=dt.datetime(2026, 1, 15, 10, 30, tzinfo=dt.UTC),
    )  # fmt: skip


def test_xml_and_json_come_out_the_same_message_whichever_was_sent():
    xml = iso.encode(pacs008(), iso.XML)
    from_xml = both_renderings(xml, "application/xml")
    assert from_xml["msg_type"] == "pacs.008.001.08" and from_xml["sent_as"] == "xml"
    from_json = both_renderings(from_xml["json"].encode(), "application/json")
    assert from_json["sent_as"] == "json"
    assert from_json["xml"] == from_xml["xml"] and from_json["json"] == from_xml["json"]
    # the same message as the rail decodes it, from either rendering
    assert iso.decode(from_xml["json"].encode(), "application/json").message == iso.decode(xml, None).message
    assert iso.decode(from_xml["xml"].encode(), "application/xml").message == iso.decode(xml, None).message


def test_the_renderings_are_indented_and_keep_every_literal_and_character_as_text():
    both = both_renderings(iso.encode(pacs008(), iso.XML), "application/xml")
    assert both["xml"].startswith('<?xml version="1.0" encoding="UTF-8"?>\n<Document')
    assert "\n    <GrpHdr>" in both["xml"]
    assert "<Ustrd>Family support &lt;January&gt; &amp; more</Ustrd>" in both["xml"]
    assert '\n  "FIToFICstmrCdtTrf": {' in both["json"]
    assert '"Amt": "2500.50"' in both["json"]
    assert orjson.loads(both["json"])["FIToFICstmrCdtTrf"]["CdtTrfTxInf"][0]["RmtInf"]["Ustrd"] == (
        "Family support <January> & more")
    etree.fromstring(both["xml"].encode())  # well-formed


@pytest.fixture
async def api():
    rail = await RailService.open(None, admin_token=ADMIN)
    try:
        token = await rail.add_participant("TESTPKKA", "Test Bank")
        yield RailApi(rail), token
    finally:
        await rail.close()


async def post(api: RailApi, body: bytes, content_type: str, token: str | None):
    headers = {"content-type": content_type, **({"authorization": f"Bearer {token}"} if token else {})}
    return await respond(api, RequestHead("POST", "/v1/render", "", headers), body)


async def test_either_token_renders_a_message_and_no_token_is_refused(api):
    rail_api, token = api
    body = iso.encode(pacs008(), iso.JSON)
    for who in (ADMIN, token):
        answer = await post(rail_api, body, "application/json", who)
        assert answer.status == 200, answer.body
        assert orjson.loads(answer.body)["sent_as"] == "json"
    assert (await post(rail_api, body, "application/json", None)).status == 401


@pytest.mark.parametrize(("body", "words"), [
    (b"<Document>not closed", "FF01"),
    (b'{"FIToFICstmrCdtTrf": 1}', "FF01"),
    (b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.99"/>', "namespace"),
])  # fmt: skip
async def test_what_cannot_be_read_is_answered_422_with_why(api, body, words):
    rail_api, token = api
    answer = await post(rail_api, body, "application/xml" if body.startswith(b"<") else "application/json", token)
    assert answer.status == 422
    error = orjson.loads(answer.body)
    assert error["error"] == "unreadable" and words in error["detail"]
