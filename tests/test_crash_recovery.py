"""Durability of the ledger service: group commit, refusals, and recovery after SIGKILL at random points."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bench.ledger_service import (
    BatchTooLarge,
    LedgerBusy,
    LedgerRecord,
    LedgerService,
    LedgerServiceClosed,
    recover_ledger,
)
from rail.settlement.journal import FileJournal
from rail.settlement.ledger import (
    NS_PER_S,
    Account,
    AccountFlags,
    CreateTransferResult,
    Transfer,
    TransferFlags,
)

R = CreateTransferResult
CHILD = Path(__file__).with_name("crash_child.py")
_spec = importlib.util.spec_from_file_location("crash_child", CHILD)
crash_child = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(crash_child)

KILL_ROUNDS = 6
CHILD_TIMEOUT_S = 30.0


def funded_accounts() -> list[Account]:
    return [Account(id=1)] + [
        Account(id=i, flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS) for i in (2, 3)
    ]


def pay(transfer_id: int, amount: int = 10, debit: int = 1, credit: int = 2, **fields) -> Transfer:
    return Transfer(id=transfer_id, debit_account_id=debit, credit_account_id=credit, amount=amount, **fields)


async def test_concurrent_callers_are_group_committed_and_answered(tmp_path: Path) -> None:
    service = await LedgerService.open(tmp_path)
    await service.create_accounts(funded_accounts())
    requests = [[pay(1_000 * caller + i + 1) for i in range(20)] for caller in range(40)]
    answers = await asyncio.gather(*(service.submit_transfers(r) for r in requests))
    assert all(answer == [R.ok] * 20 for answer in answers)
    assert service.batches_committed < 41  # 1 account batch + far fewer than one batch per caller
    assert service.journal.durable_seq == service.journal.last_seq
    await service.close()
    reopened = await LedgerService.open(tmp_path)
    assert reopened.balances()[2].credits_posted == 40 * 20 * 10
    await reopened.close()


async def test_recovery_replays_journal_after_snapshot(tmp_path: Path) -> None:
    service = await LedgerService.open(tmp_path, snapshot_every_batches=3)
    await service.create_accounts(funded_accounts())
    for i in range(10):
        await service.submit_transfers([pay(i + 1, amount=100 + i)])
    expected = service.balances()
    stamped = [service.ledger.lookup_transfer(i + 1) for i in range(10)]
    # Simulate a crash: no close(), so no final snapshot; only what was journaled survives.
    service._writer.cancel()
    service.journal.close()
    with FileJournal.open(tmp_path, record_type=LedgerRecord) as journal:
        assert journal.snapshot_seq > 0
        ledger, batches, _ = recover_ledger(journal)
        assert 0 < batches < 11
    assert ledger.balances() == expected
    # Replay is deterministic down to the timestamps the ledger gave each transfer.
    assert [ledger.lookup_transfer(i + 1) for i in range(10)] == stamped


async def test_pending_expiry_is_journaled_and_replayed(tmp_path: Path) -> None:
    service = await LedgerService.open(tmp_path)
    await service.create_accounts(funded_accounts())
    await service.submit_transfers([pay(1, amount=500, credit=2)])
    assert await service.submit_transfers(
        [pay(2, amount=400, debit=2, credit=3, flags=TransferFlags.PENDING, timeout_s=1)]
    ) == [R.ok]
    assert service.balances()[2].debits_pending == 400
    await asyncio.sleep(1.05)
    # The next batch sweeps the expired reservation before applying its own events.
    assert await service.submit_transfers(
        [pay(3, amount=0, flags=TransferFlags.POST_PENDING_TRANSFER, pending_id=2, debit=0, credit=0)]
    ) == [R.pending_transfer_expired]
    assert service.balances()[2].debits_pending == 0
    expected = service.balances()
    service._writer.cancel()
    service.journal.close()
    with FileJournal.open(tmp_path, record_type=LedgerRecord) as journal:
        ledger, _, _ = recover_ledger(journal)
    assert ledger.balances() == expected
    assert ledger.pending_state(2) == "expired"


async def test_reservation_expires_on_time_without_further_traffic(tmp_path: Path) -> None:
    service = await LedgerService.open(tmp_path)
    await service.create_accounts(funded_accounts())
    await service.submit_transfers([pay(1, amount=500, credit=2)])
    await service.submit_transfers(
        [pay(2, amount=400, debit=2, credit=3, flags=TransferFlags.PENDING, timeout_s=1)]
    )
    deadline = time.monotonic() + 5
    while service.ledger.pending_state(2) == "pending":
        assert time.monotonic() < deadline, "the reservation never expired"
        await asyncio.sleep(0.05)
    assert service.ledger.pending_state(2) == "expired"
    assert service.balances()[2].debits_pending == 0
    await service.close(snapshot=False)
    with FileJournal.open(tmp_path, record_type=LedgerRecord) as journal:
        ledger, _, _ = recover_ledger(journal)  # the expiry was journaled, so replay agrees
    assert ledger.pending_state(2) == "expired"


async def test_full_queue_and_oversized_submission_are_refused_clearly(tmp_path: Path) -> None:
    service = await LedgerService.open(None, batch_events_max=10, queue_events_max=15)
    await service.create_accounts(funded_accounts())
    with pytest.raises(BatchTooLarge, match="batch_events_max=10"):
        await service.submit_transfers([pay(i + 1) for i in range(11)])
    first = asyncio.ensure_future(service.submit_transfers([pay(i + 1) for i in range(10)]))
    await asyncio.sleep(0)  # queued, not yet drained
    with pytest.raises(LedgerBusy, match="queue full"):
        await service.submit_transfers([pay(i + 100) for i in range(10)])
    assert await first == [R.ok] * 10
    await service.close()
    with pytest.raises(LedgerServiceClosed):
        await service.submit_transfers([pay(999)])


async def test_in_memory_service_answers_without_a_journal() -> None:
    service = await LedgerService.open(None)
    assert service.journal is None
    await service.create_accounts(funded_accounts())
    assert await service.submit_transfers([pay(1), pay(1), pay(2, debit=2, credit=3, amount=10**6)]) == [
        R.ok,
        R.exists,
        R.exceeds_credits,
    ]
    await service.close()


def _run_child_and_kill(directory: Path, run_id: int, rng: random.Random) -> set[int]:
    """Start a child, let it acknowledge a random number of requests, SIGKILL it mid-stream."""
    acks_before_kill = rng.randint(3, 40)
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(directory), str(run_id)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[1],
    )
    acked: set[int] = set()
    # A child that hangs without printing would block the read below: the watchdog kills it.
    watchdog = threading.Timer(CHILD_TIMEOUT_S, child.kill)
    watchdog.start()
    try:
        for line in child.stdout:
            assert not line.startswith("BAD"), line
            if line.startswith("ACK"):
                acked.add(int(line.split()[2]))
                if len(acked) >= acks_before_kill:
                    break
        time.sleep(rng.random() * 0.02)  # land the kill anywhere in apply / append / fsync / snapshot
        child.send_signal(signal.SIGKILL)
        # Acks written before the kill but not read yet count too: the child had made them durable.
        rest, _ = child.communicate(timeout=CHILD_TIMEOUT_S)
        for line in rest.splitlines():
            if line.startswith("ACK"):
                acked.add(int(line.split()[2]))
    finally:
        watchdog.cancel()
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL, f"child exited by itself with {child.returncode}"
    return acked


@pytest.mark.slow
def test_sigkill_at_random_points_loses_no_acknowledged_batch(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("CRASH_TEST_SEED", "20260101")))
    acked_by_run: dict[int, set[int]] = {}
    for run_id in range(KILL_ROUNDS):
        acked_by_run[run_id] = _run_child_and_kill(tmp_path, run_id, rng)
        assert acked_by_run[run_id], "the child acknowledged nothing before the kill"
        with FileJournal.open(tmp_path, record_type=LedgerRecord) as journal:
            ledger, _, _ = recover_ledger(journal)  # also checks conservation
        ledger.check_conservation()
        expected = {account.id: 0 for account in crash_child.accounts()}
        for past_run, acked in acked_by_run.items():
            present_indexes = []
            # Requests are numbered from 0; in flight at the kill were at most a few beyond the last ack.
            for index in range(max(acked) + 64):
                transfers = crash_child.request_transfers(past_run, index)
                present = [ledger.lookup_transfer(t.id) is not None for t in transfers]
                assert all(present) or not any(present), f"request {past_run}/{index} is half-applied"
                if index in acked:
                    assert all(present), f"acknowledged request {past_run}/{index} was lost"
                if all(present):
                    present_indexes.append(index)
                    for account_id, delta in crash_child.request_effect(past_run, index).items():
                        expected[account_id] += delta
        balances = ledger.balances()
        assert {i: b.posted_net_paisa for i, b in balances.items()} == expected
        assert all(b.debits_pending == 0 for b in balances.values())


def test_child_requests_always_succeed_in_memory() -> None:
    """Guards the crash test's own premise: every request applies whatever came before."""
    from rail.settlement.ledger import Ledger

    ledger = Ledger()
    ledger.create_accounts(crash_child.accounts())
    for index in range(30):
        assert set(ledger.create_transfers(crash_child.request_transfers(0, index), index * NS_PER_S)) == {
            R.ok
        }


async def test_journal_failure_fails_waiting_callers_and_stops_the_service(tmp_path: Path) -> None:
    service = await LedgerService.open(tmp_path)
    await service.create_accounts(funded_accounts())

    async def disk_gone(records: list) -> int:
        raise OSError(5, "Input/output error")

    service.journal.append = disk_gone
    with pytest.raises(LedgerServiceClosed, match="journal append failed"):
        await service.submit_transfers([pay(1)])
    with pytest.raises(LedgerServiceClosed, match="journal failed"):
        await service.submit_transfers([pay(2)])
    service._writer = None  # the writer already stopped; release the journal
    service.journal.close()


async def test_broken_invariant_fails_the_batch_instead_of_hanging(monkeypatch: pytest.MonkeyPatch) -> None:
    from rail.settlement.ledger import ConservationError, Ledger

    service = await LedgerService.open(None)
    await service.create_accounts(funded_accounts())

    def broken(self: Ledger) -> bool:
        raise ConservationError("simulated bug")

    monkeypatch.setattr(Ledger, "check_totals", broken)
    with pytest.raises(LedgerServiceClosed, match="simulated bug"):
        await asyncio.wait_for(service.submit_transfers([pay(1)]), timeout=5)
    with pytest.raises(ConservationError):
        await service.close()


async def test_close_after_recovery_snapshots_so_the_next_start_replays_nothing(tmp_path: Path) -> None:
    service = await LedgerService.open(tmp_path)
    await service.create_accounts(funded_accounts())
    for i in range(5):
        await service.submit_transfers([pay(i + 1)])
    await service.close(snapshot=False)
    service = await LedgerService.open(tmp_path)
    assert service.recovered_batches == 6
    await service.close()  # snapshots the replayed state
    service = await LedgerService.open(tmp_path)
    assert service.recovered_batches == 0
    assert service.balances()[2].credits_posted == 50
    await service.close()
