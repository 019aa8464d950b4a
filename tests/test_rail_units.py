"""The rail's pieces on their own: scheme and test accounts, alias directory, replay determinism, edge cases of
the state machine that the end-to-end tests do not reach (AB06, TM01, AM09, load shedding)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_rail_e2e import A_IBAN, BANK_A, credit_transfer, creditor_answer, payment_return

import rail.settlement.commands as commands_module
import rail.settlement.core as core_module
from participants.sandbox import start_sandbox_banks
from rail import iso20022
from rail.api.identity import TokenBucket
from rail.api.metrics import RailMetrics
from rail.api.service import RailService
from rail.scheme import TEST_ACCOUNTS, default_scheme, sandbox_creditor_decision
from rail.settlement.commands import apply_command
from rail.settlement.core import SettlementCore
from rail.settlement.directory import AliasDirectory, DirectoryError
from rail.settlement.journal import FileJournal
from rail.settlement.payments import Settlement, settlement_from_state, settlement_to_state


def test_default_scheme_customers_have_valid_ibans_and_raast_ids():
    scheme = default_scheme()
    assert scheme.central_bank_bic == "SBPPPKKA" and len(scheme.banks) == 8
    seen_ibans, seen_aliases = set(), set()
    for bank in scheme.banks:
        assert bank.prefund_paisa > 0
        for customer in bank.customers:
            assert iso20022.pk_iban_is_valid(customer.iban), customer.iban
            assert customer.iban[4:8] == bank.bic[:4]
            assert customer.iban not in seen_ibans
            seen_ibans.add(customer.iban)
            if customer.raast_id:
                assert iso20022.normalise_pk_mobile(customer.raast_id) == customer.raast_id
                assert customer.raast_id not in seen_aliases
                seen_aliases.add(customer.raast_id)
        suffixes = {c.iban[-4:] for c in bank.customers}
        assert {t.suffix for t in TEST_ACCOUNTS} <= suffixes


def test_sandbox_creditor_decision_follows_the_test_account_table():
    iban = iso20022.make_pk_iban("MEZN", "0005000000000000")
    assert sandbox_creditor_decision(iban).kind == "accept"
    for test in TEST_ACCOUNTS:
        decision = sandbox_creditor_decision(iban[:-4] + test.suffix)
        if test.kind == "reject":
            assert (decision.kind, decision.reason) == ("reject", test.reason)
        elif test.kind in ("late", "silent"):
            assert decision.kind == test.kind
        else:
            assert decision.kind == "accept"
    assert sandbox_creditor_decision(iban[:-4] + "0070").refuses_recall


@given(st.text(alphabet="0123456789", min_size=16, max_size=16))
def test_ordinary_accounts_accept_within_the_delay_range(account):
    decision = sandbox_creditor_decision(
        iso20022.make_pk_iban("HABB", account), accept_delay_ms_min=20, accept_delay_ms_max=150
    )
    if account[-4:] in {t.suffix for t in TEST_ACCOUNTS}:
        return
    assert decision.kind == "accept" and 20 <= decision.delay_ms <= 150
    assert decision == sandbox_creditor_decision(
        iso20022.make_pk_iban("HABB", account), accept_delay_ms_min=20, accept_delay_ms_max=150
    )  # pure: same IBAN, same answer


def test_alias_directory_one_alias_one_account_and_de_link_rule():
    directory = AliasDirectory()
    directory.register("HABBPKKA", "+923001234567", "PK1", "Ali")
    directory.register("HABBPKKA", "+923001234567", "PK2", "Ali")  # a move within the same bank
    assert directory.resolve("+923001234567").iban == "PK2"
    with pytest.raises(DirectoryError) as refused:
        directory.register("MEZNPKKA", "+923001234567", "PK3", "Ali")
    assert refused.value.code == "DUPL"
    with pytest.raises(DirectoryError):
        directory.delete("MEZNPKKA", "+923001234567")
    directory.delete("HABBPKKA", "+923001234567")
    directory.register("MEZNPKKA", "+923001234567", "PK3", "Ali")  # de-linked first: now it may move
    assert directory.resolve("+923001234567").agent_bic == "MEZNPKKA"


def test_token_bucket_refills_at_its_rate():
    bucket = TokenBucket(rate_per_s=10.0, burst=2, now_s=100.0)
    assert bucket.take(100.0) == 0.0 and bucket.take(100.0) == 0.0
    assert bucket.take(100.0) == pytest.approx(0.1)
    assert bucket.take(100.11) == 0.0


def _replay(journal_dir, scheme) -> Settlement:
    journal = FileJournal.open(journal_dir, fsync=False)
    try:
        return SettlementCore.open(journal, scheme, RailMetrics())._settlement
    finally:
        journal.close()


async def test_replay_rebuilds_exactly_the_same_state_and_snapshot_round_trips(tmp_path):
    service = await RailService.open(
        tmp_path,
        fsync=False,
        creditor_timeout_ms=200,
        sandbox_accept_delay_ms_min=1,
        sandbox_accept_delay_ms_max=2,
    )
    await start_sandbox_banks(service)
    await service.add_participant(BANK_A, "A")
    await service.liquidity(BANK_A, 1_000_000, "in")
    for suffix in ("5000", "0001", "0090"):
        iban = iso20022.make_pk_iban("HABB", "000100000000" + suffix)
        await service.submit(
            BANK_A,
            iso20022.encode(credit_transfer(BANK_A, "HABBPKKA", A_IBAN, iban), "json"),
            "application/json",
            wait_s=2,
        )
    scheme = service.scheme
    await service.close()  # the final snapshot is the live state at close
    live = msgspec.msgpack.encode(settlement_to_state(_replay(tmp_path / "journal", scheme)))
    assert b"AC01" in live and b"AB05" in live  # the scenario really reached its outcomes
    # From the log alone (snapshot removed), replay rebuilds exactly the same state, byte for byte.
    for snapshot in (tmp_path / "journal").glob("snapshot-*"):
        snapshot.unlink()
    assert msgspec.msgpack.encode(settlement_to_state(_replay(tmp_path / "journal", scheme))) == live
    state = msgspec.msgpack.decode(live, type=core_module.SettlementState)
    assert msgspec.msgpack.encode(settlement_to_state(settlement_from_state(state))) == live


async def test_late_arrival_ab06_return_window_tm01_and_over_return_am09(tmp_path):
    service = await RailService.open(tmp_path, fsync=False, return_window_s=0)
    try:
        await service.add_participant(BANK_A, "A")
        await service.add_participant("MEZNPKKA", "M")
        await service.liquidity(BANK_A, 1_000_000, "in")
        creditor_iban = iso20022.make_pk_iban("MEZN", "0005000000005000")
        stale = credit_transfer(BANK_A, "MEZNPKKA", A_IBAN, creditor_iban)
        old_tx = msgspec.structs.replace(
            stale.tx, accptnc_dt_tm=stale.tx.accptnc_dt_tm - dt.timedelta(seconds=60)
        )
        stale = msgspec.structs.replace(stale, cdt_trf_tx_inf=[old_tx])
        reply = await service.submit(BANK_A, iso20022.encode(stale, "xml"), "application/xml")
        answer = iso20022.decode(reply.body, reply.content_type).message
        assert (reply.status, answer.tx.sts_rsn_cd) == (422, "AB06")
        message = credit_transfer(BANK_A, "MEZNPKKA", A_IBAN, creditor_iban, 5_000)
        await service.submit(BANK_A, iso20022.encode(message, "xml"), "application/xml")
        reply = await service.submit(
            "MEZNPKKA",
            iso20022.encode(creditor_answer(message, "MEZNPKKA", "ACSP"), "xml"),
            "application/xml",
        )
        assert reply.status == 200
        reply = await service.submit(
            "MEZNPKKA", iso20022.encode(payment_return(message, "MEZNPKKA", 5_000), "xml"), "application/xml"
        )
        assert iso20022.decode(reply.body, reply.content_type).message.tx.sts_rsn_cd == "TM01"
    finally:
        await service.close()


async def test_full_core_queue_sheds_load_with_503(tmp_path, monkeypatch):
    service = await RailService.open(tmp_path, fsync=False)
    try:
        await service.add_participant(BANK_A, "A")
        monkeypatch.setattr(core_module, "QUEUE_COMMANDS_MAX", 0)
        message = credit_transfer(
            BANK_A, "MEZNPKKA", A_IBAN, iso20022.make_pk_iban("MEZN", "0005000000005000")
        )
        reply = await service.submit(BANK_A, iso20022.encode(message, "xml"), "application/xml")
        assert reply.status == 503 and reply.headers["Retry-After"] == "1"
        assert type(iso20022.decode(reply.body, reply.content_type).message).__name__ == "Admi002"
    finally:
        monkeypatch.setattr(core_module, "QUEUE_COMMANDS_MAX", 100_000)
        await service.close()


@pytest.mark.parametrize("group_commit_s, batches", [(0.0, 2), (0.5, 1)])
async def test_group_commit_gathers_what_arrives_within_the_window(tmp_path, group_commit_s, batches):
    # Two commands 20 ms apart, the first just after a batch: at once, two batches (two fdatasyncs); with a window,
    # one, and still each answered only once its batch is durable.
    service = await RailService.open(tmp_path, fsync=False, group_commit_s=group_commit_s)
    try:
        await service.add_participant(BANK_A, "A")
        before = service.core.batches
        first = asyncio.ensure_future(service.liquidity(BANK_A, 1_000, "in"))
        await asyncio.sleep(0.02)
        second = asyncio.ensure_future(service.liquidity(BANK_A, 2_000, "in"))
        answers = await asyncio.gather(first, second)
        assert service.core.batches - before == batches
        assert [answer["posted_paisa"] for answer in answers] == [1_000, 3_000]
        assert service.journal.durable_seq == service.journal.last_seq
    finally:
        await service.close()


def test_apply_command_is_the_only_dispatch_for_every_command_type():
    # Every journaled command type is handled (an unknown one would be a silent replay gap).
    names = {cls.__name__ for cls in commands_module.AnyCommand.__args__}
    settlement = Settlement(default_scheme())
    apply_command(settlement, commands_module.Genesis(), 1)
    assert "Genesis" in names and len(names) == 19


def test_readme_test_account_table_matches_the_simulated_banks():
    from conftest import REPO

    text = (REPO / "README.md").read_text()
    for test in TEST_ACCOUNTS:
        row = next((line for line in text.splitlines() if line.startswith(f"| `{test.suffix}` |")), None)
        assert row is not None, f"README.md has no row for test account suffix {test.suffix}"
        if test.reason:
            assert test.reason in row
    for iban in ("PK17MEZN0005000000005000", "PK63MEZN0005000000000001", "PK85MEZN0005000000000090"):
        assert iban in text and iso20022.pk_iban_is_valid(iban)
        assert any(c.iban == iban for b in default_scheme().banks for c in b.customers)


async def test_every_message_the_rail_builds_is_valid_against_the_official_xsd(tmp_path):
    from iso_checks import assert_schema_valid as assert_valid

    service = await RailService.open(
        tmp_path,
        fsync=False,
        creditor_timeout_ms=300,
        sandbox_accept_delay_ms_min=1,
        sandbox_accept_delay_ms_max=2,
    )
    await start_sandbox_banks(service)
    try:
        await service.add_participant(BANK_A, "A")
        await service.liquidity(BANK_A, 1_000_000, "in")
        xml = "application/xml"
        bodies = []
        ok = credit_transfer(BANK_A, "HABBPKKA", A_IBAN, iso20022.make_pk_iban("HABB", "0001000000005000"))
        bodies.append((await service.submit(BANK_A, iso20022.encode(ok, "xml"), xml)).body)  # ACTC
        bodies.append((await service.submit(BANK_A, iso20022.encode(ok, "xml"), xml, wait_s=2)).body)  # ACSC
        rejected = credit_transfer(
            BANK_A, "HABBPKKA", A_IBAN, iso20022.make_pk_iban("HABB", "0001000000000044")
        )
        bodies.append((await service.submit(BANK_A, iso20022.encode(rejected, "xml"), xml, wait_s=2)).body)
        broke = credit_transfer(BANK_A, "HABBPKKA", A_IBAN, A_IBAN, 10**15)
        bodies.append((await service.submit(BANK_A, iso20022.encode(broke, "xml"), xml)).body)  # AM04 / limit
        bodies.append((await service.submit(BANK_A, b"<Document/>", xml)).body)  # admi.002
        from test_rail_e2e import alias_lookup, recall

        customer = service.scheme.bank("MEZNPKKA").customers[0]
        for alias in (customer.raast_id, "+923339999999"):
            bodies.append(
                (await service.submit(BANK_A, iso20022.encode(alias_lookup(BANK_A, alias), "xml"), xml)).body
            )
        unknown = recall(credit_transfer(BANK_A, "HABBPKKA", A_IBAN, A_IBAN), BANK_A, "HABBPKKA")
        bodies.append((await service.submit(BANK_A, iso20022.encode(unknown, "xml"), xml)).body)  # camt.029
        page = await service.inbox(BANK_A, 1.0, 10, "xml")
        bodies += [m["message"].encode() for m in page["messages"]]
        assert len(bodies) >= 10
        for body in bodies:
            assert_valid(body)
    finally:
        await service.close()


async def test_periodic_snapshot_is_taken_while_running_and_recovery_starts_from_it(tmp_path, monkeypatch):
    monkeypatch.setattr(core_module, "SNAPSHOT_EVERY_COMMANDS", 5)
    service = await RailService.open(tmp_path, fsync=False)
    try:
        await service.add_participant(BANK_A, "A")
        for _ in range(6):
            await service.liquidity(BANK_A, 1_000, "in")
        await service.wait_idle()
        for _ in range(200):  # written in the background (a forked child): the core does not wait for it
            if service.journal.snapshot_seq:
                break
            await asyncio.sleep(0.025)
        assert service.journal.snapshot_seq > 0  # taken by the core, not at close
        posted = (await service.balances())["accounts"][BANK_A]["posted_paisa"]
    finally:
        await service.close()
    reopened = await RailService.open(tmp_path, fsync=False)
    try:
        assert (await reopened.balances())["accounts"][BANK_A]["posted_paisa"] == posted == 6_000
        assert reopened.core.replayed_commands < 7
    finally:
        await reopened.close()


def test_hot_path_tallies_are_exposed_as_prometheus_counters():
    metrics = RailMetrics()
    metrics.messages_received.inc(("pacs.008", "json"))
    metrics.messages_received.inc(("pacs.008", "json"))
    metrics.payments_final.inc(("RJCT", "AB05"), 3)
    text = metrics.exposition().decode()
    assert "# TYPE rail_messages_received_total counter" in text
    assert 'rail_messages_received_total{msg_type="pacs.008",rendering="json"} 2.0' in text
    assert 'rail_payments_final_total{reason="AB05",status="RJCT"} 3.0' in text
    assert metrics.payments_final.value(("ACSC", "")) == 0


async def test_each_agent_reads_its_own_final_status_report(tmp_path):
    service = await RailService.open(tmp_path, fsync=False)
    try:
        debtor, creditor = "HABBPKKA", "MEZNPKKA"
        await service.add_participant(debtor, "debtor")
        await service.add_participant(creditor, "creditor")
        message = credit_transfer(
            debtor,
            creditor,
            service.scheme.bank(debtor).customers[0].iban,
            service.scheme.bank(creditor).customers[0].iban,
        )
        reply = await service.submit(debtor, iso20022.encode(message, "json"), "application/json")
        assert reply.status == 202, reply.body
        [(seq, _, forwarded)] = await service.inbox_structs(creditor, 1.0, 10)
        await service.ack(creditor, seq)
        answer = creditor_answer(forwarded, creditor, "ACSP")
        reply = await service.submit(creditor, iso20022.encode(answer, "json"), "application/json")
        assert reply.status == 200, reply.body
        [(_, _, to_debtor)] = await service.inbox_structs(debtor, 1.0, 10)
        [(_, _, to_creditor)] = await service.inbox_structs(creditor, 1.0, 10)
        assert to_debtor.tx.tx_sts == to_creditor.tx.tx_sts == "ACSC"
        assert to_debtor.tx.orgnl_uetr == to_creditor.tx.orgnl_uetr == message.tx.uetr
        # Two messages, one to each agent: each its own MsgId.
        assert to_debtor.msg_id != to_creditor.msg_id
        assert msgspec.structs.replace(to_debtor, msg_id=to_creditor.msg_id) == to_creditor
        # The creditor's answer is its copy of the report (a resend gets the same message).
        assert iso20022.decode(reply.body, "application/json").message == to_creditor
    finally:
        await service.close()


async def test_a_batch_that_breaks_conservation_is_neither_journaled_nor_answered(tmp_path):
    # The runtime half of the conservation invariant (the other half runs after replay): a bug that
    # creates money must stop the core before the batch is made durable or anyone is told it settled.
    service = await RailService.open(tmp_path, fsync=False)
    try:
        await service.add_participant(BANK_A, "A")
        await service.liquidity(BANK_A, 1_000_000, "in")
        settlement = service.core._settlement
        account_id = settlement.participants[BANK_A].account_id
        settlement.ledger._accounts[account_id].credits_posted += 1  # money from nowhere
        durable_before = service.journal.durable_seq
        creditor_iban = iso20022.make_pk_iban("MEZN", "0005000000005000")
        message = credit_transfer(BANK_A, "MEZNPKKA", A_IBAN, creditor_iban)
        reply = await service.submit(BANK_A, iso20022.encode(message, "xml"), "application/xml")
        assert reply.status == 503
        assert "ConservationError" in iso20022.decode(reply.body, reply.content_type).message.rsn_desc
        assert service.journal.durable_seq == durable_before
    finally:
        await service.close()


class _GatedJournal:
    """Wraps a journal so the test decides when each append completes (or fails): the pipeline made visible."""

    def __init__(self, journal) -> None:
        self.journal = journal
        self.appends = 0
        self.gates: list[asyncio.Future] = []
        self._append = journal.append
        journal.append = self.append

    async def append(self, records: list) -> int:
        self.appends += 1
        gate = asyncio.get_running_loop().create_future()
        self.gates.append(gate)
        await gate  # the test sets a result (go on) or an exception (the disk failed)
        return await self._append(records)


@contextlib.asynccontextmanager
async def _two_batches_in_flight(tmp_path):
    """A rail whose journal appends wait for the test: yields (service, gated journal, first and second
    submitter's pending answer), both batches applied and appending, neither durable."""
    service = await RailService.open(tmp_path, fsync=False)
    gated = None
    try:
        await service.add_participant(BANK_A, "A")
        await service.liquidity(BANK_A, 10_000_000, "in")
        gated = _GatedJournal(service.core.journal)
        creditor_iban = iso20022.make_pk_iban("MEZN", "0005000000005000")
        answers = []
        for batches in (1, 2):
            body = iso20022.encode(credit_transfer(BANK_A, "MEZNPKKA", A_IBAN, creditor_iban), "xml")
            answers.append(asyncio.ensure_future(service.submit(BANK_A, body, "application/xml")))
            await _until(lambda batches=batches: gated.appends == batches)
        yield service, gated, answers[0], answers[1]
    finally:
        for gate in gated.gates if gated else ():
            if not gate.done():
                gate.set_result(None)
        await service.close()


async def _until(condition) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached")


async def test_the_next_batch_is_applied_while_one_syncs_and_answers_wait_for_their_own_batch(tmp_path):
    async with _two_batches_in_flight(tmp_path) as (service, gated, first, second):
        inbox = service.core._settlement.inboxes["MEZNPKKA"]
        assert len(service.core._settlement.payments) == 2  # both applied while the first is not durable
        assert not first.done() and not second.done()
        assert inbox.visible(10) == []  # nothing durable yet
        gated.gates[0].set_result(None)
        await _until(first.done)
        assert first.result().status == 202
        assert not second.done()
        assert len(inbox.visible(10)) == 1  # only the durable batch
        gated.gates[1].set_result(None)
        await _until(second.done)
        assert second.result().status == 202
        assert len(inbox.visible(10)) == 2


async def test_a_failed_append_fails_its_batch_and_every_later_one_in_flight(tmp_path):
    async with _two_batches_in_flight(tmp_path) as (service, gated, first, second):
        gated.gates[0].set_exception(OSError("disk gone"))
        await _until(lambda: first.done() and second.done())
        for answer in (first, second):
            assert answer.result().status == 503
        assert service.core._settlement.inboxes["MEZNPKKA"].visible(10) == []


async def test_submit_many_answers_a_page_in_order_with_the_same_rules_as_submit(tmp_path):
    service = await RailService.open(tmp_path, fsync=False)
    try:
        await service.add_participant(BANK_A, "A")
        await service.add_participant("MEZNPKKA", "creditor taken over from the default scheme")
        await service.liquidity(BANK_A, 10_000_000, "in")
        creditor_iban = iso20022.make_pk_iban("MEZN", "0005000000005000")
        sent = [
            credit_transfer(BANK_A, "MEZNPKKA", A_IBAN, creditor_iban, amount_paisa=100_000) for _ in range(3)
        ]
        for message in sent:
            assert (
                await service.submit(BANK_A, iso20022.encode(message, "json"), "application/json")
            ).status == 202
        assert len(await service.inbox_structs("MEZNPKKA", 1.0, 10)) == 3
        unknown = credit_transfer(BANK_A, "MEZNPKKA", A_IBAN, creditor_iban)  # never sent: no such payment
        page = [
            iso20022.encode(creditor_answer(sent[0], "MEZNPKKA", "ACSP"), "json"),
            b"{not json",
            iso20022.encode(creditor_answer(sent[1], "MEZNPKKA", "RJCT", "AC04"), "json"),
            iso20022.encode(creditor_answer(unknown, "MEZNPKKA", "ACSP"), "json"),
            iso20022.encode(
                creditor_answer(sent[2], "TESTPKKA", "ACSP"), "json"
            ),  # not its payment to answer
            iso20022.encode(
                creditor_answer(sent[0], "MEZNPKKA", "ACSP"), "json"
            ),  # resent: the original answer
        ]
        replies = await service.submit_many("MEZNPKKA", page, "application/json")
        assert [reply.status for reply in replies] == [200, 400, 200, 404, 403, 200]
        one_by_one = [await service.submit("MEZNPKKA", page[i], "application/json") for i in (1, 3, 4, 5)]
        assert [r.status for r in one_by_one] == [replies[i].status for i in (1, 3, 4, 5)]
        statuses = [
            iso20022.decode(replies[i].body, replies[i].content_type).message.tx.tx_sts for i in (0, 2, 5)
        ]
        assert statuses == ["ACSC", "RJCT", "ACSC"]
        payments = service.core._settlement.payments
        assert [payments[m.tx.uetr].status for m in sent] == ["ACSC", "RJCT", "ACTC"]
        debtor_inbox = await service.inbox_structs(BANK_A, 1.0, 10)
        assert sorted(m.tx.tx_sts for _, _, m in debtor_inbox) == ["ACSC", "RJCT"]
        assert (await service.balances())["conserved"] is True
    finally:
        await service.close()


@pytest.mark.parametrize("from_snapshot", [True, False])
async def test_a_participants_own_rate_limit_survives_a_restart(tmp_path, from_snapshot):
    service = await RailService.open(tmp_path, fsync=False)
    try:
        await service.add_participant("SLOWPKKA", "Slow", requests_per_s=1, requests_burst=2)
        await service.add_participant("SLOWPKKA", "Slow, re-keyed")  # a new token keeps the limit
        assert [service.rate_limit("SLOWPKKA") > 0 for _ in range(3)] == [False, False, True]
    finally:
        await service.close()
    if not from_snapshot:  # rebuilt from the journal alone
        for snapshot in (tmp_path / "journal").glob("snapshot-*"):
            snapshot.unlink()
    service = await RailService.open(tmp_path, fsync=False)
    try:
        participant = service.core._settlement.participants["SLOWPKKA"]
        assert (participant.requests_per_s, participant.requests_burst) == (1.0, 2.0)
        assert [service.rate_limit("SLOWPKKA") > 0 for _ in range(3)] == [False, False, True]
        assert service.rate_limit(BANK_A) == 0.0  # others keep the scheme default
    finally:
        await service.close()


async def test_the_admin_token_survives_restarts_and_a_given_one_replaces_it(tmp_path):
    async def start(given: str | None = None) -> RailService:
        return await RailService.open(tmp_path, fsync=False, admin_token=given)

    service = await start()
    generated = service.admin_token
    assert service.admin_token_generated and service.is_admin(generated) and not service.is_admin("guess")
    await service.close()
    service = await start()  # no token given: the generated one still works, and is not shown again
    assert service.admin_token is None and not service.admin_token_generated and service.is_admin(generated)
    await service.close()
    service = await start("operator-chosen-token")  # a given token replaces it for good
    assert service.is_admin("operator-chosen-token") and not service.is_admin(generated)
    await service.close()
    for snapshot in (tmp_path / "journal").glob("snapshot-*"):
        snapshot.unlink()  # the journal alone carries it too
    service = await start()
    try:
        assert service.is_admin("operator-chosen-token") and not service.is_admin(generated)
        stored = b"".join(f.read_bytes() for f in (tmp_path / "journal").iterdir() if f.is_file())
        assert b"operator-chosen-token" not in stored and generated.encode() not in stored  # hashes only
    finally:
        await service.close()
