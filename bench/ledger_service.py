"""A single writer around the ledger and its journal, for ledger-only use (demo stage 1, bench, crash test).

Callers submit lists of transfers from any task. One writer task drains the input queue, applies up to
`batch_events_max` events to the ledger, journals them as ONE batch (one fdatasync: group commit) and only
then answers every caller in that batch. While one batch syncs on the journal's writer thread, the next
is already being applied (at most BATCHES_IN_FLIGHT_MAX batches in flight); answers still go out strictly
in order, each only once its own batch is durable.

Recovery (`LedgerService.open(directory)`) loads the newest snapshot and replays the journal after it;
the ledger is deterministic given its inputs and timestamps, so replay rebuilds exactly the state that
answered callers before the crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import deque

import msgspec

from rail.settlement.journal import FileJournal, Journal
from rail.settlement.ledger import Account, CreateAccountResult, CreateTransferResult, Ledger, Transfer

#: Events (transfers + accounts) waiting for the writer; beyond this, submissions are refused (LedgerBusy).
QUEUE_EVENTS_MAX = 1_048_576
BATCH_EVENTS_MAX_DEFAULT = 8_192
#: Hard ceiling for batch_events_max: one journal frame stays a few MB.
BATCH_EVENTS_MAX_LIMIT = 65_536
SNAPSHOT_EVERY_BATCHES_DEFAULT = 1_000
#: Batches applied in memory but not yet durable; bounds the work a crash can discard (none acknowledged).
BATCHES_IN_FLIGHT_MAX = 2
#: An idle writer wakes this long after the earliest timeout, so reservations expiring close together are
#: voided in one journaled batch rather than one fsync each.
EXPIRY_SWEEP_SLACK_MS = 10


class TransfersRecord(msgspec.Struct, tag="transfers", array_like=True):
    """One caller's transfers, applied with this `now_ns` (replay applies them identically)."""

    now_ns: int
    transfers: list[Transfer]


class AccountsRecord(msgspec.Struct, tag="accounts", array_like=True):
    now_ns: int
    accounts: list[Account]


class ExpireRecord(msgspec.Struct, tag="expire", array_like=True):
    """expire_pending(now_ns) ran here."""

    now_ns: int


LedgerRecord = TransfersRecord | AccountsRecord | ExpireRecord


def apply_record(ledger: Ledger, record: LedgerRecord) -> list:
    """Apply one journal record to the ledger (live and on replay: the same code path)."""
    if type(record) is TransfersRecord:
        return ledger.create_transfers(record.transfers, record.now_ns)
    if type(record) is AccountsRecord:
        return ledger.create_accounts(record.accounts, record.now_ns)
    return ledger.expire_pending(record.now_ns)


class LedgerServiceError(Exception):
    """Base class for refusals by the ledger service."""


class LedgerBusy(LedgerServiceError):
    """The input queue is full: the caller should back off and retry (nothing was applied)."""


class LedgerServiceClosed(LedgerServiceError):
    """The service is closed or stopped after a journal failure (nothing further is applied)."""


class BatchTooLarge(LedgerServiceError, ValueError):
    """One submission holds more events than a batch may."""


class _Request:
    __slots__ = ("events", "future", "kind")

    def __init__(self, kind: str, events: list, future: asyncio.Future) -> None:
        self.kind = kind
        self.events = events
        self.future = future


_STOP = object()


class LedgerService:
    """Create with `await LedgerService.open(directory or None)`; `await close()` when done."""

    def __init__(
        self,
        ledger: Ledger,
        journal: Journal | None,
        *,
        batch_events_max: int,
        batch_delay_ms: float,
        snapshot_every_batches: int,
        queue_events_max: int,
    ) -> None:
        if not 1 <= batch_events_max <= BATCH_EVENTS_MAX_LIMIT:
            raise ValueError(f"batch_events_max must be 1..{BATCH_EVENTS_MAX_LIMIT}")
        self.ledger = ledger
        self.journal = journal
        self.batch_events_max = batch_events_max
        self.batch_delay_s = batch_delay_ms / 1000.0
        self.snapshot_every_batches = snapshot_every_batches
        self.queue_events_max = queue_events_max
        self._queue: deque = deque()
        self._queued_events = 0
        self._wakeup = asyncio.Event()
        self._in_flight = asyncio.Semaphore(BATCHES_IN_FLIGHT_MAX)
        self._last_commit: asyncio.Task | None = None
        self._batches_since_snapshot = 0
        self._failure: BaseException | None = None
        self._closing = False
        self._snapshot_on_close = True
        self._writer: asyncio.Task | None = None
        # Figures for the demo and the benchmark.
        self.batches_committed = 0
        self.events_committed = 0
        self.recovered_batches = 0
        self.recovered_events = 0
        self.recovery_s = 0.0

    @classmethod
    async def open(
        cls,
        directory: str | os.PathLike | None,
        *,
        fsync: bool = True,
        batch_events_max: int = BATCH_EVENTS_MAX_DEFAULT,
        batch_delay_ms: float = 0.0,
        snapshot_every_batches: int = SNAPSHOT_EVERY_BATCHES_DEFAULT,
        queue_events_max: int = QUEUE_EVENTS_MAX,
        currency: str = "PKR",
    ) -> LedgerService:
        """Open a service; with a directory, recover the ledger from its snapshot + journal first.

        `directory=None` keeps everything in memory (answers without durability). `fsync=False` is the
        benchmark-only mode (acknowledged batches may be lost on a crash).
        """
        started = time.perf_counter()
        journal = None
        ledger = Ledger(currency)
        recovered_batches = recovered_events = 0
        if directory is not None:
            journal = FileJournal.open(directory, fsync=fsync, record_type=LedgerRecord)
            ledger, recovered_batches, recovered_events = recover_ledger(journal, currency)
        service = cls(
            ledger,
            journal,
            batch_events_max=batch_events_max,
            batch_delay_ms=batch_delay_ms,
            snapshot_every_batches=snapshot_every_batches,
            queue_events_max=queue_events_max,
        )
        service.recovered_batches = recovered_batches
        # Replayed batches count toward the next snapshot, or every restart would replay them again.
        service._batches_since_snapshot = recovered_batches
        service.recovered_events = recovered_events
        service.recovery_s = time.perf_counter() - started
        service._writer = asyncio.create_task(service._run(), name="ledger-writer")
        return service

    # ------------------------------------------------------------------ API

    async def submit_transfers(self, transfers: list[Transfer]) -> list[CreateTransferResult]:
        """Apply transfers (one result each, in order); returns once the batch holding them is durable."""
        return await self._submit("transfers", transfers)

    async def create_accounts(self, accounts: list[Account]) -> list[CreateAccountResult]:
        return await self._submit("accounts", accounts)

    def balances(self) -> dict:
        """Balances as applied in memory (may include a batch still syncing; none of it is answered yet)."""
        return self.ledger.balances()

    @property
    def queued_events(self) -> int:
        return self._queued_events

    async def close(self, *, snapshot: bool = True) -> None:
        """Finish what is queued, wait until it is durable, snapshot (unless told not to: the benchmark
        measures replaying a long journal), close the journal. Idempotent."""
        if self._writer is None:
            return
        self._closing = True
        self._snapshot_on_close = snapshot
        self._queue.append(_STOP)
        self._wakeup.set()
        try:
            await self._writer
        finally:
            self._writer = None
            if self.journal is not None:
                self.journal.close()

    # ------------------------------------------------------------------ writer

    async def _submit(self, kind: str, events: list) -> list:
        if self._closing or self._failure is not None:
            raise LedgerServiceClosed(
                "ledger service is closed" if self._failure is None else f"journal failed: {self._failure!r}"
            )
        count = len(events)
        if count > self.batch_events_max:
            raise BatchTooLarge(
                f"{count} events in one submission; at most batch_events_max={self.batch_events_max}"
            )
        if self._queued_events + count > self.queue_events_max:
            raise LedgerBusy(
                f"ledger input queue full ({self._queued_events} events waiting, QUEUE_EVENTS_MAX="
                f"{self.queue_events_max}); retry later"
            )
        future = asyncio.get_running_loop().create_future()
        self._queue.append(_Request(kind, events, future))
        self._queued_events += count
        self._wakeup.set()
        return await future

    async def _run(self) -> None:
        queue = self._queue
        stopping = False
        try:
            while not stopping:
                if not queue:
                    self._wakeup.clear()
                    await self._wait_for_work_or_expiry()
                if self.batch_delay_s > 0:
                    await asyncio.sleep(self.batch_delay_s)  # let more callers join this batch
                await self._in_flight.acquire()
                requests: list[_Request] = []
                events = 0
                while queue:
                    head = queue[0]
                    if head is _STOP:
                        queue.popleft()
                        stopping = True
                        break
                    if requests and events + len(head.events) > self.batch_events_max:
                        break
                    queue.popleft()
                    requests.append(head)
                    events += len(head.events)
                self._queued_events -= events
                if not requests and not self._expiry_due():
                    self._in_flight.release()
                    continue
                try:
                    self._apply_and_commit(requests, events)
                except BaseException as error:  # a broken invariant (a bug): fail its callers, then stop
                    for request in requests:
                        if not request.future.done():
                            request.future.set_exception(
                                LedgerServiceClosed(f"ledger service stopped: {error!r}")
                            )
                    raise
                if self.journal is not None and self._batches_since_snapshot >= self.snapshot_every_batches:
                    await self._snapshot()
            if self._last_commit is not None:
                await self._last_commit
            if (
                self.journal is not None
                and self._batches_since_snapshot
                and self._failure is None
                and self._snapshot_on_close
            ):
                await self._snapshot()
        except BaseException as error:
            self._fail(error)
            raise

    async def _wait_for_work_or_expiry(self) -> None:
        """Sleep until a submission arrives or the earliest reservation times out, whichever is first:
        an expiry is applied (and journaled) on time even when no traffic arrives."""
        next_expiry_ns = self.ledger.next_expiry_ns()
        if next_expiry_ns is None:
            await self._wakeup.wait()
            return
        delay_s = max(0.0, (next_expiry_ns - time.time_ns()) / 1e9) + EXPIRY_SWEEP_SLACK_MS / 1000
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), timeout=delay_s)

    def _expiry_due(self) -> bool:
        next_expiry_ns = self.ledger.next_expiry_ns()
        return next_expiry_ns is not None and next_expiry_ns <= time.time_ns()

    def _apply_and_commit(self, requests: list[_Request], events: int) -> None:
        ledger = self.ledger
        now_ns = time.time_ns()
        records: list = []
        next_expiry_ns = ledger.next_expiry_ns()
        if next_expiry_ns is not None and next_expiry_ns <= now_ns:
            ledger.expire_pending(now_ns)
            records.append(ExpireRecord(now_ns))
        answers = []
        for request in requests:
            if request.kind == "transfers":
                record = TransfersRecord(now_ns, request.events)
                answers.append(ledger.create_transfers(request.events, now_ns))
            else:
                record = AccountsRecord(now_ns, request.events)
                answers.append(ledger.create_accounts(request.events, now_ns))
            records.append(record)
        # Invariant checked before the batch is journaled; recover_ledger checks it again after replay.
        ledger.check_totals()
        if self.journal is None:
            self._in_flight.release()
            self._answer(requests, answers, events)
            return
        self._batches_since_snapshot += 1
        self._last_commit = asyncio.create_task(self._commit(records, requests, answers, events))

    async def _commit(self, records: list, requests: list[_Request], answers: list, events: int) -> None:
        try:
            await self.journal.append(records)
        except BaseException as error:  # noqa: BLE001 - any failure, even cancellation: nobody may be answered
            self._fail(error)
            for request in requests:
                if not request.future.done():
                    request.future.set_exception(LedgerServiceClosed(f"journal append failed: {error!r}"))
            return
        finally:
            self._in_flight.release()
        self._answer(requests, answers, events)

    def _answer(self, requests: list[_Request], answers: list, events: int) -> None:
        self.batches_committed += 1
        self.events_committed += events
        for request, answer in zip(requests, answers):
            if not request.future.done():  # the caller may have been cancelled meanwhile
                request.future.set_result(answer)

    async def _snapshot(self) -> None:
        """Snapshot the ledger as of the last journaled batch, once that batch is durable."""
        if self._last_commit is not None:
            await self._last_commit
        if self._failure is not None:
            return
        seq = self.journal.last_seq
        state = self.ledger.to_snapshot()
        await self.journal.snapshot_async(state, seq)
        self._batches_since_snapshot = 0

    def _fail(self, error: BaseException) -> None:
        if self._failure is None:
            self._failure = error
        # Nothing more is applied: refuse everyone still waiting.
        while self._queue:
            request = self._queue.popleft()
            if request is not _STOP and not request.future.done():
                request.future.set_exception(LedgerServiceClosed(f"ledger service stopped: {error!r}"))
        self._queued_events = 0


def recover_ledger(journal: Journal, currency: str = "PKR") -> tuple[Ledger, int, int]:
    """Rebuild the ledger from the newest snapshot plus every batch after it; checks conservation.

    Returns (ledger, batches replayed, events replayed).
    """
    snapshot = journal.latest_snapshot()
    if snapshot is None:
        ledger, after_seq = Ledger(currency), 0
    else:
        after_seq, state = snapshot
        ledger = Ledger.from_snapshot(state)
    batches = events = 0
    for _seq, records in journal.replay(after_seq=after_seq):
        for record in records:
            apply_record(ledger, record)
            if type(record) is TransfersRecord:
                events += len(record.transfers)
            elif type(record) is AccountsRecord:
                events += len(record.accounts)
        batches += 1
    ledger.check_conservation()  # the pair of the per-batch invariant checks made before journaling
    return ledger, batches, events
