"""End to end over real sockets: the sandbox endpoint with two participants and the default simulated banks.

Every test ends with the rail's books checked: the conservation check holds, and every payment the rail
acknowledged (202/200 to a pacs.008) still exists with the status the participant was told or a later one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from participants.sandbox import start_sandbox_banks
from rail import iso20022
from rail.api.listener import Listener
from rail.api.routes import RailApi
from rail.api.service import RailService
from rail.iso20022 import (
    Acmt023,
    Camt029,
    Camt056,
    CdtTrfTxInf,
    CxlTxInf,
    CxlTxInfAndSts,
    OrgnlPmtInfAndSts,
    Pacs002,
    Pacs004,
    Pacs008,
    Pacs028,
    Pain013,
    Pain014,
    PmtInf,
    PmtRtrTxInf,
    StsReqTxInf,
    TxInfAndSts,
    Vrfctn,
)

BANK_A = "TESTPKKA"
BANK_B = "DEMOPKKA"
A_IBAN = iso20022.make_pk_iban("TEST", "0000001234567890")
B_IBAN = iso20022.make_pk_iban("DEMO", "0000009876543210")
B_SILENT_IBAN = iso20022.make_pk_iban("DEMO", "0000009876540090")
PREFUND_PAISA = 50_000_000  # Rs 500,000 each
FAST = {
    "creditor_timeout_ms": 600,
    "hard_stop_ms": 1_400,
    "sandbox_accept_delay_ms_min": 5,
    "sandbox_accept_delay_ms_max": 20,
    "alias_lookups_per_s": 1.0,
    "alias_lookups_burst": 4,
}
XML = "application/xml"
JSON = "application/json"


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def credit_transfer(
    debtor_agent: str,
    creditor_agent: str,
    debtor_iban: str,
    creditor_iban: str,
    amount_paisa: int = 250_000,
    tx_id: str | None = None,
    uetr: str | None = None,
) -> Pacs008:
    tx_id = tx_id or uuid.uuid4().hex[:24].upper()
    at = now()
    return Pacs008(
        msg_id="MSG" + tx_id,
        cre_dt_tm=at,
        nb_of_txs="1",
        sttlm_mtd="CLRG",
        clr_sys_prtry="RAAST",
        cdt_trf_tx_inf=[
            CdtTrfTxInf(
                instr_id=tx_id,
                end_to_end_id="E2E" + tx_id,
                tx_id=tx_id,
                uetr=uetr or str(uuid.uuid4()),
                svc_lvl_prtry="RAAST",
                lcl_instrm_prtry="P2P",
                amount_paisa=amount_paisa,
                currency="PKR",
                intr_bk_sttlm_dt=at.date(),
                accptnc_dt_tm=at,
                chrg_br="SLEV",
                instg_agt_bicfi=debtor_agent,
                instd_agt_bicfi=creditor_agent,
                dbtr_nm="Ali Raza",
                dbtr_acct_iban=debtor_iban,
                dbtr_agt_bicfi=debtor_agent,
                cdtr_agt_bicfi=creditor_agent,
                cdtr_nm="Ayesha Khan",
                cdtr_acct_iban=creditor_iban,
            )
        ],
    )


def creditor_answer(payment: Pacs008, creditor_agent: str, status: str, reason: str | None = None) -> Pacs002:
    tx = payment.tx
    return Pacs002(
        msg_id="ANS" + uuid.uuid4().hex[:20],
        cre_dt_tm=now(),
        tx_inf_and_sts=[
            TxInfAndSts(
                orgnl_msg_id=payment.msg_id,
                orgnl_msg_nm_id="pacs.008.001.08",
                orgnl_end_to_end_id=tx.end_to_end_id,
                orgnl_tx_id=tx.tx_id,
                orgnl_uetr=tx.uetr,
                tx_sts=status,
                sts_rsn_cd=reason,
                instg_agt_bicfi=creditor_agent,
                instd_agt_bicfi=tx.dbtr_agt_bicfi,
            )
        ],
    )


def decode(body: bytes, content_type: str):
    return iso20022.decode(body, content_type).message


class Rail:
    """The running sandbox plus the bookkeeping every test's final checks need."""

    def __init__(self, service: RailService, server: Listener, session: aiohttp.ClientSession) -> None:
        self.service = service
        self.server = server
        self.session = session
        self.url = server.url
        self.tokens: dict[str, str] = {}
        self.acknowledged: dict[str, tuple[str, str]] = {}  # uetr -> (debtor agent, status told)

    def auth(self, bic: str) -> dict:
        return {"Authorization": f"Bearer {self.tokens[bic]}"}

    def admin(self) -> dict:
        return {"Authorization": f"Bearer {self.service.admin_token}"}

    async def send(self, bic: str, message, rendering: str = "xml", wait_s: float | None = None):
        content_type = XML if rendering == "xml" else JSON
        headers = {**self.auth(bic), "Content-Type": content_type}
        if wait_s is not None:
            headers["Prefer"] = f"wait={wait_s}"
        async with self.session.post(
            f"{self.url}/v1/messages", data=iso20022.encode(message, rendering), headers=headers
        ) as response:
            body = await response.read()
            answer = decode(body, response.headers["Content-Type"])
            if isinstance(message, Pacs008) and response.status in (200, 202) and isinstance(answer, Pacs002):
                self.acknowledged[message.tx.uetr] = (bic, answer.tx.tx_sts)
            return response.status, answer, response.headers

    async def inbox(self, bic: str, wait_s: float = 2.0, max_n: int = 100, until: int = 1) -> list[dict]:
        """Long-poll until at least `until` messages are waiting (or the wait runs out)."""
        deadline = asyncio.get_running_loop().time() + wait_s
        while True:
            left = max(0.0, deadline - asyncio.get_running_loop().time())
            async with self.session.get(
                f"{self.url}/v1/inbox", params={"wait": f"{left:.2f}", "max": max_n}, headers=self.auth(bic)
            ) as response:
                assert response.status == 200
                page = await response.json()
            if len(page["messages"]) >= until or left <= 0:
                return page["messages"]
            await asyncio.sleep(0.02)

    async def ack(self, bic: str, upto: int) -> None:
        async with self.session.post(
            f"{self.url}/v1/inbox/ack", json={"upto": upto}, headers=self.auth(bic)
        ) as response:
            assert response.status == 200

    async def payment(self, bic: str, uetr: str) -> tuple[int, dict]:
        async with self.session.get(f"{self.url}/v1/payments/{uetr}", headers=self.auth(bic)) as response:
            return response.status, await response.json()

    async def balances(self) -> dict:
        async with self.session.get(f"{self.url}/admin/balances", headers=self.admin()) as response:
            assert response.status == 200
            return await response.json()

    async def check_books(self) -> None:
        """Conservation, and nothing acknowledged lost (final statuses never go back)."""
        balances = await self.balances()
        assert balances["conserved"] is True
        assert sum(a["posted_paisa"] for a in balances["accounts"].values()) == 0
        for uetr, (debtor, told) in self.acknowledged.items():
            status, view = await self.payment(debtor, uetr)
            assert status == 200, f"acknowledged payment {uetr} lost"
            if told in ("ACSC", "RJCT"):
                assert view["status"] == told, (uetr, told, view["status"])


def parse_inbox_message(item: dict):
    message = item["message"]
    if isinstance(message, str):
        return iso20022.decode(message.encode(), XML).message
    import orjson

    return iso20022.decode(orjson.dumps(message), JSON).message


@pytest.fixture
async def rail(tmp_path, request):
    # indirect parametrisation `[1]`: the same test with submitted bodies decoded by a worker process
    decode_workers = getattr(request, "param", 0)
    service = await RailService.open(tmp_path / "data", decode_workers=decode_workers, **FAST)
    if decode_workers:
        while service.acceptor.decode_pool.ready_workers < decode_workers:
            await asyncio.sleep(0.05)
    await start_sandbox_banks(service)
    server = Listener(RailApi(service))
    await server.start()
    session = aiohttp.ClientSession()
    env = Rail(service, server, session)
    for bic, name in ((BANK_A, "Test Bank A"), (BANK_B, "Demo Bank B")):
        async with session.post(
            f"{env.url}/admin/participants", json={"bic": bic, "name": name}, headers=env.admin()
        ) as response:
            assert response.status == 201
            env.tokens[bic] = (await response.json())["token"]
        async with session.post(
            f"{env.url}/admin/liquidity",
            json={"bic": bic, "amount": PREFUND_PAISA, "direction": "in"},
            headers=env.admin(),
        ) as response:
            assert response.status == 200
    try:
        yield env
        await env.check_books()
        if decode_workers:  # the bodies really went through a worker (not all decoded here as a fallback)
            pool = service.acceptor.decode_pool
            assert pool.taken > 0 and pool.declined == pool.handed_back == 0
    finally:
        await session.close()
        await server.close()
        await service.close()


def bank(service: RailService, bic: str):
    return service.scheme.bank(bic)


def customer_with_suffix(service: RailService, bic: str, suffix: str) -> str:
    return next(c.iban for c in bank(service, bic).customers if c.iban.endswith(suffix))


# ---- the happy path -------------------------------------------------------------------------------------------


async def test_payment_to_simulated_bank_settles_with_acsc_to_both_agents(rail: Rail):
    creditor_iban = bank(rail.service, "MEZNPKKA").customers[0].iban
    message = credit_transfer(BANK_A, "MEZNPKKA", A_IBAN, creditor_iban, 250_000)
    status, answer, headers = await rail.send(BANK_A, message, wait_s=5)
    assert status == 200 and answer.tx.tx_sts == "ACSC"
    assert headers["Preference-Applied"] == "wait=5"
    balances = (await rail.balances())["accounts"]
    assert balances[BANK_A]["posted_paisa"] == PREFUND_PAISA - 250_000
    inbox = await rail.inbox(BANK_A)
    assert [m["msg_type"] for m in inbox] == ["pacs.002.001.10"]
    assert parse_inbox_message(inbox[0]).tx.tx_sts == "ACSC"
    status, view = await rail.payment(BANK_A, message.tx.uetr)
    assert status == 200 and view["status"] == "ACSC" and view["creditor_status"] == "ACSP"
    assert [h["event"] for h in view["history"]][:2] == ["received", "reserved"]


@pytest.mark.parametrize("rail", [0, 1], indirect=True, ids=["in_process", "decode_worker"])
async def test_payment_between_two_participants_json_full_lifecycle(rail: Rail):
    message = credit_transfer(BANK_A, BANK_B, A_IBAN, B_IBAN, 123_456)
    status, answer, _ = await rail.send(BANK_A, message, rendering="json")
    assert status == 202 and answer.tx.tx_sts == "ACTC"
    # Money is reserved, not moved, while the creditor agent decides.
    accounts = (await rail.balances())["accounts"]
    assert accounts[BANK_A]["pending_debits_paisa"] == 123_456
    assert accounts[BANK_A]["posted_paisa"] == PREFUND_PAISA
    # pacs.028 while in flight: PDNG.
    request = Pacs028(
        msg_id="SR1",
        cre_dt_tm=now(),
        tx_inf=[StsReqTxInf(orgnl_uetr=message.tx.uetr, orgnl_end_to_end_id=message.tx.end_to_end_id)],
    )
    status, answer, _ = await rail.send(BANK_A, request)
    assert status == 200 and answer.tx.tx_sts == "PDNG"
    inbox = await rail.inbox(BANK_B)
    assert inbox[0]["msg_type"] == "pacs.008.001.08"
    forwarded = parse_inbox_message(inbox[0])
    assert forwarded.tx.uetr == message.tx.uetr and forwarded.tx.amount_paisa == 123_456
    await rail.ack(BANK_B, inbox[0]["seq"])
    status, answer, _ = await rail.send(BANK_B, creditor_answer(forwarded, BANK_B, "ACSP"), rendering="json")
    assert status == 200 and answer.tx.tx_sts == "ACSC"
    for bic in (BANK_A, BANK_B):
        messages = await rail.inbox(bic)
        assert [parse_inbox_message(m).tx.tx_sts for m in messages] == ["ACSC"]
    accounts = (await rail.balances())["accounts"]
    assert accounts[BANK_B]["posted_paisa"] == PREFUND_PAISA + 123_456
    assert accounts[BANK_A]["pending_debits_paisa"] == 0
    status, answer, _ = await rail.send(BANK_A, request)
    assert answer.tx.tx_sts == "ACSC"


# ---- rejects ---------------------------------------------------------------------------------------------------


async def test_each_test_account_reject_reaches_the_debtor_agent(rail: Rail):
    for suffix, reason in (
        ("0001", "AC01"),
        ("0004", "AC04"),
        ("0006", "AC06"),
        ("0011", "AG01"),
        ("0021", "BE01"),
        ("0044", "RR04"),
    ):
        iban = customer_with_suffix(rail.service, "HABBPKKA", suffix)
        status, answer, _ = await rail.send(
            BANK_A, credit_transfer(BANK_A, "HABBPKKA", A_IBAN, iban), wait_s=5
        )
        assert (status, answer.tx.tx_sts, answer.tx.sts_rsn_cd) == (200, "RJCT", reason)
    accounts = (await rail.balances())["accounts"]
    assert accounts[BANK_A]["posted_paisa"] == PREFUND_PAISA and accounts[BANK_A]["pending_debits_paisa"] == 0


@pytest.mark.parametrize("rail", [0, 1], indirect=True, ids=["in_process", "decode_worker"])
async def test_profile_failure_is_pacs002_rjct_and_garbage_is_admi002(rail: Rail):
    bad = credit_transfer(BANK_A, BANK_B, A_IBAN, B_IBAN[:-1] + ("0" if B_IBAN[-1] != "0" else "1"))
    status, answer, _ = await rail.send(BANK_A, bad)
    assert status == 422 and answer.tx.tx_sts == "RJCT" and answer.tx.sts_rsn_cd
    async with rail.session.post(
        f"{rail.url}/v1/messages", data=b"<Document><oops", headers={**rail.auth(BANK_A), "Content-Type": XML}
    ) as response:
        assert response.status == 400
        reject = decode(await response.read(), response.headers["Content-Type"])
        assert type(reject).__name__ == "Admi002" and reject.rjctg_pty_rsn == "FF01"


async def test_creditor_silence_times_out_with_ab05_to_both_agents(rail: Rail):
    message = credit_transfer(BANK_A, BANK_B, A_IBAN, B_SILENT_IBAN, 10_000)
    status, answer, _ = await rail.send(BANK_A, message, wait_s=5)
    assert (status, answer.tx.tx_sts, answer.tx.sts_rsn_cd) == (200, "RJCT", "AB05")
    b_messages = [parse_inbox_message(m) for m in await rail.inbox(BANK_B, until=2)]
    assert type(b_messages[0]).__name__ == "Pacs008"
    assert (b_messages[1].tx.tx_sts, b_messages[1].tx.sts_rsn_cd) == ("RJCT", "AB05")  # told: do not credit
    # The creditor's late acceptance cannot settle it: it is told the final RJCT.
    status, late, _ = await rail.send(BANK_B, creditor_answer(message, BANK_B, "ACSP"))
    assert (status, late.tx.tx_sts, late.tx.sts_rsn_cd) == (200, "RJCT", "AB05")
    accounts = (await rail.balances())["accounts"]
    assert accounts[BANK_A]["posted_paisa"] == PREFUND_PAISA and accounts[BANK_A]["pending_debits_paisa"] == 0


async def test_simulated_bank_late_and_silent_accounts_time_out(rail: Rail):
    for suffix in ("0080", "0090"):
        iban = customer_with_suffix(rail.service, "UNILPKKA", suffix)
        _status, answer, _ = await rail.send(
            BANK_A, credit_transfer(BANK_A, "UNILPKKA", A_IBAN, iban), wait_s=5
        )
        assert (answer.tx.tx_sts, answer.tx.sts_rsn_cd) == ("RJCT", "AB05")
    await asyncio.sleep(0.4)  # the 'late' bank answers after the timeout; its answer changes nothing


async def test_needs_more_time_extends_to_the_hard_stop_only(rail: Rail):
    message = credit_transfer(BANK_A, BANK_B, A_IBAN, B_IBAN, 5_000)
    await rail.send(BANK_A, message)
    status, answer, _ = await rail.send(BANK_B, creditor_answer(message, BANK_B, "ACWP"))
    assert status == 202 and answer.tx.tx_sts == "PDNG"
    await asyncio.sleep(0.75)  # past the 600 ms creditor timeout, before the 1,400 ms hard stop
    status, answer, _ = await rail.send(BANK_B, creditor_answer(message, BANK_B, "ACCP"))
    assert (status, answer.tx.tx_sts) == (200, "ACSC")


@pytest.mark.parametrize("rail", [0, 1], indirect=True, ids=["in_process", "decode_worker"])
async def test_duplicate_gets_original_answer_and_reused_id_gets_am05(rail: Rail):
    iban = bank(rail.service, "ALFHPKKA").customers[1].iban
    message = credit_transfer(BANK_A, "ALFHPKKA", A_IBAN, iban, 70_000)
    first = await rail.send(BANK_A, message, wait_s=5)
    again = await rail.send(BANK_A, message, wait_s=5)
    assert first[1].tx.tx_sts == again[1].tx.tx_sts == "ACSC"
    assert (await rail.balances())["accounts"][BANK_A]["posted_paisa"] == PREFUND_PAISA - 70_000  # once
    other = credit_transfer(BANK_A, "ALFHPKKA", A_IBAN, iban, 71_000, tx_id=message.tx.tx_id)
    status, answer, _ = await rail.send(BANK_A, other)
    assert (status, answer.tx.tx_sts, answer.tx.sts_rsn_cd) == (422, "RJCT", "AM05")
    same_uetr = credit_transfer(BANK_A, "ALFHPKKA", A_IBAN, iban, 70_000, uetr=message.tx.uetr)
    status, answer, _ = await rail.send(BANK_A, same_uetr)
    assert (status, answer.tx.sts_rsn_cd) == (422, "AM05")


async def test_uncovered_payment_is_rejected_am04_and_nothing_moves(rail: Rail):
    message = credit_transfer(BANK_A, BANK_B, A_IBAN, B_IBAN, PREFUND_PAISA + 1)
    status, answer, _ = await rail.send(BANK_A, message)
    assert (status, answer.tx.tx_sts, answer.tx.sts_rsn_cd) == (422, "RJCT", "AM04")
    assert await rail.inbox(BANK_B, wait_s=0.2) == []
    again = await rail.send(BANK_A, message)
    assert again[1].tx.sts_rsn_cd == "AM04"  # the resend gets the original answer


# ---- returns and recalls -----------------------------------------------------------------------------------


def payment_return(
    original: Pacs008, creditor_agent: str, amount_paisa: int, reason: str = "AC04"
) -> Pacs004:
    tx = original.tx
    return Pacs004(
        msg_id="RTR" + uuid.uuid4().hex[:20],
        cre_dt_tm=now(),
        nb_of_txs="1",
        sttlm_mtd="CLRG",
        clr_sys_prtry="RAAST",
        tx_inf=[
            PmtRtrTxInf(
                rtr_id="R" + uuid.uuid4().hex[:20],
                orgnl_msg_id=original.msg_id,
                orgnl_msg_nm_id="pacs.008.001.08",
                orgnl_end_to_end_id=tx.end_to_end_id,
                orgnl_tx_id=tx.tx_id,
                orgnl_uetr=tx.uetr,
                orgnl_amount_paisa=tx.amount_paisa,
                orgnl_currency="PKR",
                amount_paisa=amount_paisa,
                currency="PKR",
                intr_bk_sttlm_dt=now().date(),
                chrg_br="SLEV",
                instg_agt_bicfi=creditor_agent,
                instd_agt_bicfi=tx.dbtr_agt_bicfi,
                rtr_rsn_cd=reason,
            )
        ],
    )


async def _settled_a_to_b(rail: Rail, amount_paisa: int) -> Pacs008:
    message = credit_transfer(BANK_A, BANK_B, A_IBAN, B_IBAN, amount_paisa)
    await rail.send(BANK_A, message)
    _status, answer, _ = await rail.send(BANK_B, creditor_answer(message, BANK_B, "ACSP"))
    assert answer.tx.tx_sts == "ACSC"
    for bic in (BANK_A, BANK_B):
        messages = await rail.inbox(bic, until=1)
        await rail.ack(bic, messages[-1]["seq"])
    return message


async def test_the_operator_redelivers_a_payment_and_a_second_answer_shows_in_its_history(rail: Rail):
    message = await _settled_a_to_b(rail, 6_000)
    uetr = message.tx.uetr
    url = f"{rail.url}/admin/redeliver"
    async with rail.session.post(url, json={"uetr": uetr}, headers=rail.auth(BANK_A)) as response:
        assert response.status == 401  # the operator's, not a participant's
    async with rail.session.post(url, json={"uetr": str(uuid.uuid4())}, headers=rail.admin()) as response:
        assert response.status == 404 and (await response.json())["reason"] == "NOOR"
    async with rail.session.post(url, json={"uetr": uetr}, headers=rail.admin()) as response:
        assert response.status == 200 and (await response.json())["creditor_agent"] == BANK_B
    again = parse_inbox_message((await rail.inbox(BANK_B))[0])
    assert isinstance(again, Pacs008) and again.tx.uetr == uetr and again.msg_id == message.msg_id
    status, answer, _ = await rail.send(BANK_B, creditor_answer(message, BANK_B, "ACSP"))
    assert (status, answer.tx.tx_sts) == (200, "ACSC")  # the final status stands
    _, view = await rail.payment(BANK_A, uetr)
    events = [event["event"] for event in view["history"]]
    assert "redelivered" in events and events[-1] == "creditor ACSP after final"
    assert events.count("creditor ACSP") == 1


async def test_return_settles_back_and_cannot_exceed_the_original(rail: Rail):
    message = await _settled_a_to_b(rail, 40_000)
    status, answer, _ = await rail.send(BANK_B, payment_return(message, BANK_B, 30_000))
    assert (status, answer.tx.tx_sts) == (200, "ACSC")
    inbox = await rail.inbox(BANK_A)
    returned = parse_inbox_message(inbox[0])
    assert type(returned).__name__ == "Pacs004" and returned.tx.amount_paisa == 30_000
    status, answer, _ = await rail.send(BANK_B, payment_return(message, BANK_B, 20_000))
    assert (status, answer.tx.sts_rsn_cd) == (422, "AM09")
    status, answer, _ = await rail.send(BANK_A, payment_return(message, BANK_A, 1_000))
    assert status == 403  # only the creditor agent returns
    accounts = (await rail.balances())["accounts"]
    assert accounts[BANK_A]["posted_paisa"] == PREFUND_PAISA - 10_000


def recall(original: Pacs008, debtor_agent: str, creditor_agent: str) -> Camt056:
    tx = original.tx
    return Camt056(
        assgnmt_id="CXL" + uuid.uuid4().hex[:20],
        assgnr_bicfi=debtor_agent,
        assgne_bicfi=creditor_agent,
        cre_dt_tm=now(),
        tx_inf=[
            CxlTxInf(
                cxl_id="C" + uuid.uuid4().hex[:20],
                orgnl_msg_id=original.msg_id,
                orgnl_msg_nm_id="pacs.008.001.08",
                orgnl_end_to_end_id=tx.end_to_end_id,
                orgnl_tx_id=tx.tx_id,
                orgnl_uetr=tx.uetr,
                orgnl_amount_paisa=tx.amount_paisa,
                orgnl_currency="PKR",
                cxl_rsn_cd="DUPL",
            )
        ],
    )


async def test_recall_accepted_by_simulated_bank_returns_funds_focr(rail: Rail):
    iban = bank(rail.service, "NBPAPKKA").customers[2].iban
    message = credit_transfer(BANK_A, "NBPAPKKA", A_IBAN, iban, 90_000)
    status, answer, _ = await rail.send(BANK_A, message, wait_s=5)
    assert answer.tx.tx_sts == "ACSC"
    await rail.ack(BANK_A, (await rail.inbox(BANK_A))[-1]["seq"])
    status, answer, _ = await rail.send(BANK_A, recall(message, BANK_A, "NBPAPKKA"))
    assert (status, answer.tx.tx_sts) == (202, "ACTC")
    returned = parse_inbox_message((await rail.inbox(BANK_A, wait_s=3))[0])
    assert type(returned).__name__ == "Pacs004" and returned.tx.rtr_rsn_cd == "FOCR"
    _, view = await rail.payment(BANK_A, message.tx.uetr)
    assert view["returned_paisa"] == 90_000 and view["recalls"][0]["state"] == "ACCR"
    assert (await rail.balances())["accounts"][BANK_A]["posted_paisa"] == PREFUND_PAISA


async def test_recall_refused_by_camt029(rail: Rail):
    iban = customer_with_suffix(rail.service, "MUCBPKKA", "0070")
    message = credit_transfer(BANK_A, "MUCBPKKA", A_IBAN, iban, 15_000)
    await rail.send(BANK_A, message, wait_s=5)
    await rail.ack(BANK_A, (await rail.inbox(BANK_A))[-1]["seq"])
    await rail.send(BANK_A, recall(message, BANK_A, "MUCBPKKA"))
    refusal = parse_inbox_message((await rail.inbox(BANK_A, wait_s=3))[0])
    assert type(refusal).__name__ == "Camt029" and refusal.tx.tx_cxl_sts == "RJCR"
    assert refusal.tx.cxl_sts_rsn_cd == "CUST"
    _, view = await rail.payment(BANK_A, message.tx.uetr)
    assert view["recalls"][0]["state"] == "RJCR" and view["returned_paisa"] == 0


@pytest.mark.parametrize("rail", [0, 1], indirect=True, ids=["in_process", "decode_worker"])
async def test_recall_between_participants_refused_and_unknown(rail: Rail):
    message = await _settled_a_to_b(rail, 8_000)
    await rail.send(BANK_A, recall(message, BANK_A, BANK_B))
    forwarded = parse_inbox_message((await rail.inbox(BANK_B))[0])
    assert type(forwarded).__name__ == "Camt056"
    answer = Camt029(
        assgnmt_id="A" + uuid.uuid4().hex[:20],
        assgnr_bicfi=BANK_B,
        assgne_bicfi=BANK_A,
        cre_dt_tm=now(),
        sts_conf="RJCR",
        tx_inf_and_sts=[
            CxlTxInfAndSts(
                orgnl_uetr=message.tx.uetr,
                orgnl_end_to_end_id=message.tx.end_to_end_id,
                tx_cxl_sts="RJCR",
                cxl_sts_rsn_cd="LEGL",
            )
        ],
    )
    status, _, _ = await rail.send(BANK_B, answer)
    assert status == 202
    relayed = parse_inbox_message((await rail.inbox(BANK_A))[0])
    assert relayed.tx.cxl_sts_rsn_cd == "LEGL"
    unknown = recall(credit_transfer(BANK_A, BANK_B, A_IBAN, B_IBAN), BANK_A, BANK_B)
    status, answer, _ = await rail.send(BANK_A, unknown)
    assert status == 422 and answer.tx.tx_cxl_sts == "RJCR" and answer.tx.cxl_sts_rsn_cd == "NOOR"


# ---- aliases and request to pay ------------------------------------------------------------------------------


def alias_lookup(bic: str, alias: str) -> Acmt023:
    return Acmt023(
        msg_id="AL" + uuid.uuid4().hex[:20],
        cre_dt_tm=now(),
        assgnr_bicfi=bic,
        assgne_bicfi="SBPPPKKA",
        vrfctn=[Vrfctn(id="V1", acct_prxy_tp_cd="MBNO", acct_prxy_id=alias)],
    )


async def test_alias_lookup_found_unknown_registered_and_rate_limited(rail: Rail):
    customer = bank(rail.service, "HABBPKKA").customers[0]
    status, report, _ = await rail.send(BANK_A, alias_lookup(BANK_A, customer.raast_id))
    assert status == 200 and report.tx.vrfctn is True
    assert (report.tx.updtd_acct_iban, report.tx.updtd_agt_bicfi) == (customer.iban, "HABBPKKA")
    status, report, _ = await rail.send(BANK_A, alias_lookup(BANK_A, "+923339999999"))
    assert status == 200 and report.tx.vrfctn is False and report.tx.rsn_cd == "AC01"
    # B registers an alias for its customer; A's bank cannot take it over; A resolves it to B.
    async with rail.session.post(
        f"{rail.url}/v1/aliases",
        headers=rail.auth(BANK_B),
        json={"alias": "0345 1234567", "iban": B_IBAN, "name": "Bilal"},
    ) as response:
        assert response.status == 201 and (await response.json())["alias"] == "+923451234567"
    async with rail.session.post(
        f"{rail.url}/v1/aliases",
        headers=rail.auth(BANK_A),
        json={"alias": "+923451234567", "iban": A_IBAN, "name": "X"},
    ) as response:
        assert response.status == 422 and (await response.json())["reason"] == "DUPL"
    status, report, _ = await rail.send(BANK_A, alias_lookup(BANK_A, "+923451234567"))
    assert report.tx.updtd_agt_bicfi == BANK_B and report.tx.updtd_pty_nm == "Bilal"
    # Anti-scanning: a burst of 4 lookups, then 1 a second: a scan is refused with Retry-After.
    statuses = []
    for _ in range(10):  # the burst is nearly spent; a slow machine may refill a token or two meanwhile
        status, reject, headers = await rail.send(BANK_A, alias_lookup(BANK_A, "+923001111111"))
        statuses.append(status)
        if status == 429:
            break
    assert statuses[-1] == 429 and len(statuses) <= 6 and int(headers["Retry-After"]) >= 1
    assert type(reject).__name__ == "Admi002"


async def test_request_to_pay_is_answered_and_paid_by_the_simulated_payer_bank(rail: Rail):
    payer = bank(rail.service, "BAHLPKKA").customers[1]
    at = now()
    request = Pain013(
        msg_id="RTP" + uuid.uuid4().hex[:20],
        cre_dt_tm=at,
        nb_of_txs="1",
        initg_pty_nm="Shop",
        pmt_inf=[
            PmtInf(
                pmt_inf_id="P1",
                pmt_mtd="TRF",
                reqd_exctn_dt=at.date(),
                dbtr_nm=payer.name,
                dbtr_acct_iban=payer.iban,
                dbtr_agt_bicfi="BAHLPKKA",
                end_to_end_id="INV-2026-0001",
                uetr=str(uuid.uuid4()),
                amount_paisa=45_000,
                currency="PKR",
                chrg_br="SLEV",
                cdtr_agt_bicfi=BANK_A,
                cdtr_nm="Shop",
                cdtr_acct_iban=A_IBAN,
            )
        ],
    )
    status, answer, _ = await rail.send(BANK_A, request)
    assert (status, answer.tx.tx_sts) == (202, "ACTC"), answer
    messages = [parse_inbox_message(m) for m in await rail.inbox(BANK_A, wait_s=3, until=2)]
    kinds = [type(m).__name__ for m in messages]
    assert kinds == ["Pain014", "Pacs008"]
    assert messages[0].tx.tx_sts == "ACCP"
    payment = messages[1]
    assert payment.tx.end_to_end_id == "INV-2026-0001" and payment.tx.amount_paisa == 45_000
    status, answer, _ = await rail.send(BANK_A, creditor_answer(payment, BANK_A, "ACSP"))
    assert answer.tx.tx_sts == "ACSC"
    assert (await rail.balances())["accounts"][BANK_A]["posted_paisa"] == PREFUND_PAISA + 45_000


def request_to_pay(
    payee: str, payer: str, amount_paisa: int, msg_id: str | None = None, end_to_end_id: str = "INV-9",
    payee_iban: str = A_IBAN, payer_iban: str = B_IBAN,
) -> Pain013:  # fmt: skip
    at = now()
    return Pain013(
        msg_id=msg_id or "RTP" + uuid.uuid4().hex[:20],
        cre_dt_tm=at,
        nb_of_txs="1",
        pmt_inf=[
            PmtInf(
                pmt_mtd="TRF",
                reqd_exctn_dt=at.date(),
                dbtr_acct_iban=payer_iban,
                dbtr_agt_bicfi=payer,
                end_to_end_id=end_to_end_id,
                uetr=str(uuid.uuid4()),
                amount_paisa=amount_paisa,
                currency="PKR",
                chrg_br="SLEV",
                cdtr_agt_bicfi=payee,
                cdtr_acct_iban=payee_iban,
                dbtr_nm="Payer",
                cdtr_nm="Payee",
            )
        ],
    )


async def test_request_to_pay_between_participants_is_relayed_both_ways(rail: Rail):
    request = request_to_pay(BANK_A, BANK_B, 1_000)
    await rail.send(BANK_A, request, rendering="json")
    relayed = parse_inbox_message((await rail.inbox(BANK_B))[0])
    assert type(relayed).__name__ == "Pain013" and relayed.msg_id == request.msg_id
    refusal = Pain014(
        msg_id="S" + uuid.uuid4().hex[:20],
        cre_dt_tm=now(),
        dbtr_agt_bicfi=BANK_B,
        cdtr_agt_bicfi=BANK_A,
        orgnl_msg_id=request.msg_id,
        orgnl_msg_nm_id="pain.013.001.07",
        orgnl_pmt_inf_and_sts=[
            OrgnlPmtInfAndSts(
                orgnl_pmt_inf_id="P", orgnl_end_to_end_id="INV-9", tx_sts="RJCT", sts_rsn_cd="AM04"
            )
        ],
    )
    status, _, _ = await rail.send(BANK_B, refusal)
    assert status == 202
    answer = parse_inbox_message((await rail.inbox(BANK_A))[0])
    assert type(answer).__name__ == "Pain014" and answer.tx.tx_sts == "RJCT"


# ---- security and limits -------------------------------------------------------------------------------------


async def test_participant_cannot_send_as_another_or_read_another(rail: Rail):
    spoofed = credit_transfer(BANK_B, "HABBPKKA", B_IBAN, bank(rail.service, "HABBPKKA").customers[0].iban)
    before = await rail.balances()
    status, reject, _ = await rail.send(BANK_A, spoofed)
    assert status == 403 and type(reject).__name__ == "Admi002"
    assert await rail.balances() == before  # nothing moved
    message = await _settled_a_to_b(rail, 1_000)
    status, _ = await rail.payment(BANK_A, message.tx.uetr)
    assert status == 200
    third = bank(rail.service, "HABBPKKA")
    rail.tokens["HABBPKKA"] = await rail.service.add_participant(third.bic, third.name)
    status, _ = await rail.payment("HABBPKKA", message.tx.uetr)
    assert status == 404  # not one of its two agents
    # B answering a payment it is not the creditor agent of is forbidden.
    other = credit_transfer(BANK_A, "HABBPKKA", A_IBAN, third.customers[0].iban)
    await rail.send(BANK_A, other)
    status, _, _ = await rail.send(BANK_B, creditor_answer(other, BANK_B, "ACSP"))
    assert status == 403
    async with rail.session.get(f"{rail.url}/v1/inbox", headers={"Authorization": "Bearer nope"}) as response:
        assert response.status == 401
    async with rail.session.get(f"{rail.url}/admin/balances", headers=rail.auth(BANK_A)) as response:
        assert response.status == 401  # a participant never sees others' balances
    # Take the payment to HABB to its end so the books close.
    messages = await rail.inbox("HABBPKKA", until=1)
    await rail.send("HABBPKKA", creditor_answer(parse_inbox_message(messages[0]), "HABBPKKA", "ACSP"))


async def test_rate_limit_answers_429_with_retry_after(rail: Rail):
    async with rail.session.post(
        f"{rail.url}/admin/participants",
        headers=rail.admin(),
        json={"bic": "SLOWPKKA", "name": "Slow", "requests_per_s": 1, "requests_burst": 2},
    ) as response:
        assert response.status == 201
        rail.tokens["SLOWPKKA"] = (await response.json())["token"]
    statuses = []
    for _ in range(4):
        async with rail.session.get(f"{rail.url}/v1/inbox", headers=rail.auth("SLOWPKKA")) as response:
            statuses.append(response.status)
            retry_after = response.headers.get("Retry-After")
    assert statuses[:2] == [200, 200] and statuses[-1] == 429 and int(retry_after) >= 1


async def test_operational_endpoints(rail: Rail):
    await rail.send(
        BANK_A,
        credit_transfer(BANK_A, "MEZNPKKA", A_IBAN, bank(rail.service, "MEZNPKKA").customers[0].iban),
        wait_s=5,
    )
    async with rail.session.get(f"{rail.url}/metrics") as response:
        text = await response.text()
        assert response.status == 200 and 'rail_payments_final_total{reason="",status="ACSC"}' in text
    async with rail.session.get(f"{rail.url}/healthz") as response:
        assert response.status == 200 and (await response.json())["ok"] is True
    async with rail.session.get(f"{rail.url}/openapi.json") as response:
        document = await response.json()
        assert document["openapi"].startswith("3.") and "/v1/messages" in document["paths"]
    async with rail.session.post(
        f"{rail.url}/v1/messages",
        data=b"x" * (1 << 20 + 1),
        headers={**rail.auth(BANK_A), "Content-Type": XML},
    ) as response:
        assert response.status == 413


async def test_webhook_delivery_retries_then_acknowledges(rail: Rail):
    from aiohttp import web

    received: list[dict] = []
    attempts = []

    async def callback(request: web.Request) -> web.Response:
        attempts.append(1)
        if len(attempts) == 1:
            return web.Response(status=500)  # the first delivery fails: the rail must retry
        received.append(await request.json())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", callback)
    hook = TestServer(app, host="127.0.0.1", port=0)
    await hook.start_server()
    try:
        token = await rail.service.add_participant("HOOKPKKA", "Webhook Bank", str(hook.make_url("/hook")))
        rail.tokens["HOOKPKKA"] = token
        message = credit_transfer(
            BANK_A, "HOOKPKKA", A_IBAN, iso20022.make_pk_iban("HOOK", "0000001111111111")
        )
        await rail.send(BANK_A, message)
        for _ in range(100):
            if received:
                break
            await asyncio.sleep(0.02)
        assert len(attempts) >= 2
        delivered = received[0]["messages"]
        assert delivered[0]["msg_type"] == "pacs.008.001.08"
        forwarded = parse_inbox_message(delivered[0])
        assert forwarded.tx.uetr == message.tx.uetr
        # Delivered by webhook and acknowledged: the inbox no longer holds it.
        for _ in range(50):
            if not await rail.inbox("HOOKPKKA", wait_s=0):
                break
            await asyncio.sleep(0.02)
        assert await rail.inbox("HOOKPKKA", wait_s=0) == []
        _status, answer, _ = await rail.send("HOOKPKKA", creditor_answer(forwarded, "HOOKPKKA", "ACSP"))
        assert answer.tx.tx_sts == "ACSC"
    finally:
        await hook.close()


async def test_bad_requests_get_clear_json_answers_never_a_traceback(rail: Rail):
    admin = rail.admin()
    cases = [
        ("POST", "/admin/participants", {"data": b"{not json"}, admin, 400, "bad_json"),
        (
            "POST",
            "/admin/participants",
            {"json": {"bic": "nope", "name": "x"}},
            admin,
            422,
            "bad_participant",
        ),
        (
            "POST",
            "/admin/participants",
            {"json": {"bic": "SBPPPKKA", "name": "x"}},
            admin,
            422,
            "bad_participant",
        ),
        (
            "POST",
            "/admin/liquidity",
            {"json": {"bic": BANK_A, "amount": "10", "direction": "in"}},
            admin,
            422,
            "bad_liquidity",
        ),
        (
            "POST",
            "/admin/liquidity",
            {"json": {"bic": BANK_A, "amount": 10**12, "direction": "out"}},
            admin,
            422,
            None,
        ),
        ("POST", "/v1/inbox/ack", {"json": {"upto": "7"}}, rail.auth(BANK_A), 400, "bad_ack"),
        ("POST", "/v1/inbox/ack", {"json": [1]}, rail.auth(BANK_A), 400, "bad_json"),
        ("GET", "/v1/inbox?wait=abc", {}, rail.auth(BANK_A), 400, "bad_query"),
        ("GET", "/v1/payments/not-a-uetr", {}, rail.auth(BANK_A), 404, "not_found"),
        ("GET", "/v1/nowhere", {}, rail.auth(BANK_A), 404, "not_found"),
        ("DELETE", "/v1/messages", {}, rail.auth(BANK_A), 405, "method_not_allowed"),
    ]
    for method, path, kwargs, headers, status, code in cases:
        async with rail.session.request(method, rail.url + path, headers=headers, **kwargs) as response:
            body = await response.json()
            assert response.status == status, (path, body)
            if code:
                assert body["error"] == code, (path, body)
    # Liquidity out beyond the balance is refused with AM04 and moves nothing.
    balances = await rail.balances()
    assert balances["accounts"][BANK_A]["posted_paisa"] == PREFUND_PAISA
    # A message in neither XML nor JSON is an admi.002, in XML by default.
    async with rail.session.post(
        rail.url + "/v1/messages", data=b"hello", headers=rail.auth(BANK_A)
    ) as response:
        assert response.status == 400
        assert type(decode(await response.read(), response.headers["Content-Type"])).__name__ == "Admi002"
