"""The settlement core: one task owns the books and applies everything in journaled batches.

Why one writer: the ledger, the payment table, the alias directory and the inbox sequence numbers must change
together and in one order, and that order must be the journal's order, so that replay rebuilds the same state.
A single task needs no locks and lets every tick be one group commit:

    each event-loop tick: take up to BATCH_COMMANDS_MAX commands from the bounded queue (plus due timers)
        -> apply each to the state machine (rail/settlement/payments.py; pure, microseconds)
        -> journal.append([now_ns, command, command, ...])   # ONE fdatasync for the whole tick
        -> only then: publish inbox entries, resolve the submitters' futures, wake Prefer: wait requests

While the append is syncing, new commands queue up, so the batch size grows with the load and the fsync cost
is amortised over it (TigerBeetle's 'run at your own pace'). The next batch is applied while the previous one
syncs (at most PIPELINE_BATCHES_MAX in flight); batches become durable, and are answered, strictly in order.

Commands are pre-encoded (msgpack) by the caller, at the edge: the core journals bytes it never re-encodes.
The batch carries one timestamp, so replay applies every command with the time it had the first time.

Timers: every in-flight payment has a deadline (creditor timeout, or the hard stop after an ACWP); a heap of
(deadline_ns, uetr) is checked each tick, and a due payment becomes a journaled Timeout command. Deadlines are
wall-clock, so after a restart (snapshot + replay) an in-flight payment either still gets its creditor's answer
or times out at the right moment; if the rail was down past the deadline it times out at the first tick.

Time: the core reads its `Clock` (rail/clock.py), never the time module: the real clock in `rail serve`, simulated
time in `rail simulate` (rail/sim/), where deadlines fall due as simulated time reaches them.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections import deque
from typing import NamedTuple, Protocol

import msgspec

from rail.clock import REAL_CLOCK, Clock
from rail.scheme import Scheme
from rail.settlement.commands import COMMAND_DECODER, Command, Genesis, Timeout, apply_command, encode_command
from rail.settlement.delivery import Inbox
from rail.settlement.journal import Journal
from rail.settlement.payments import (
    IN_FLIGHT,
    Outcome,
    Payment,
    Settlement,
    SettlementState,
    settlement_from_state,
    settlement_to_state,
)

log = logging.getLogger(__name__)

BATCH_COMMANDS_MAX = 8_192  # commands applied in one tick (one journal frame)
QUEUE_COMMANDS_MAX = 100_000  # waiting commands; beyond it submitters get 'overloaded' (HTTP 503)
# Snapshot after this many journaled commands (replay runs at ~80k commands/s: a restart replays < ~15 s) or
# after SNAPSHOT_EVERY_S with any change, whichever comes first.
SNAPSHOT_EVERY_COMMANDS = 1_000_000
SNAPSHOT_EVERY_S = 300.0
# Batches applied in memory whose journal append is still in flight: the next batch is applied while the previous
# one syncs (TigerBeetle pipelines its prepares the same way). Answers still leave only after their own batch
# and every earlier one are durable; 2 hides one fdatasync behind the next batch's work.
PIPELINE_BATCHES_MAX = 2
# Group commit: with `group_commit_s` > 0 the core starts a batch at most that long after the previous one, unless
# this many commands already wait. At moderate load (800-2,000 payments/s) commands otherwise arrive one or two per
# tick, and every batch pays an fdatasync (~80 µs of CPU here), a hand-off to the writer thread and the inbox
# readers' wake-ups: `rail serve`'s 5 ms window makes batches 3-5 times larger at 800/s (bench/payment_path.py
# --pace) for at most 5 ms more per answer. 0 (the library's default, the simulator's) applies what is queued at
# once.
GROUP_COMMIT_FULL = 64


class CoreMetrics(Protocol):
    """What the core reports about its work (rail/api/metrics.py's RailMetrics is one; the core knows no
    Prometheus)."""

    def batch_durable(
        self, commands: int, transfers: int, apply_s: float, journal_s: float, queue_depth: int
    ) -> None:
        """One batch applied and made durable: its size, its two stages' latency, the queue behind it."""
        ...

    def payment_final(self, status: str, reason: str, accepted_to_final_s: float | None) -> None:
        """A payment's final status is durable (`accepted_to_final_s` None: it never reached the ledger)."""
        ...


_ENCODER = msgspec.msgpack.Encoder()
_STATE_DECODER = msgspec.msgpack.Decoder(SettlementState)


def load_settlement(journal: Journal, scheme: Scheme) -> tuple[Settlement, int, int]:
    """The books as of the journal's end: newest snapshot plus every batch after it.

    Returns (settlement, snapshot sequence, commands replayed).
    """
    snapshot = journal.latest_snapshot()
    if snapshot is None:
        settlement = Settlement(scheme)
        after_seq = 0
    else:
        after_seq, state_bytes = snapshot
        # The books come from the snapshot, parameters included: a start with other ones journals SetParams.
        settlement = settlement_from_state(_STATE_DECODER.decode(state_bytes))
    replayed = 0
    for _seq, records in journal.replay(after_seq):
        replayed += replay_batch(settlement, records)
    if settlement.genesis_done and replayed:
        settlement.ledger.check_conservation()  # assert in pairs: before journaling, and after replay
    return settlement, after_seq, replayed


def replay_batch(settlement: Settlement, records: list) -> int:
    """Apply one journaled batch ([now_ns, command, ...]) as replay does; returns the commands applied."""
    now_ns = records[0]
    settlement.begin_batch(now_ns)
    for raw in records[1:]:
        apply_command(settlement, COMMAND_DECODER.decode(raw), now_ns)
    settlement.touched_inboxes.clear()
    settlement.finalised.clear()
    settlement.armed.clear()
    return len(records) - 1


class Overloaded(Exception):
    """The core's queue is full: the caller answers 503 and the client retries later."""


class CoreStopped(Exception):
    """The core is not running (closed, or its journal failed): nothing more can be accepted."""


class _Batch(NamedTuple):
    """One tick's work between being applied and being durable."""

    answers: list  # (submitter's future, outcome or exception)
    finalised: list[Payment]
    # (inbox, seq, acked): entries up to seq become visible, those up to acked leave, once the batch is durable
    published: list
    append: asyncio.Future | None  # the journal append (None: nothing to journal, e.g. only queries)
    commands: int
    transfers: int
    started_s: float
    applied_s: float

    def is_durable(self) -> bool:
        return self.append is None or self.append.done()


class CoreHealth(msgspec.Struct, frozen=True):
    """The core as an operator sees it (GET /healthz, /metrics), read without touching the books' contents."""

    serving: bool
    problem: str | None  # why it is not serving: stopping, or the failure that stopped it
    journal_seq: int  # the last batch appended
    queue_depth: int
    payments_whole: int  # payments remembered in full (in flight, or final a moment ago)
    payments_packed: int  # final payments packed for the retention window
    payments_forgotten: int  # payments that left the retention window since this start


class SettlementCore:
    """The single writer. Create with `SettlementCore.open(...)`, then `start()`.

    The books (rail/settlement/payments.py's Settlement) are private: the API layer changes them only by
    `execute(command)` and reads them only by `query(function)` (in the core's order, answered once durable),
    except for reads that are safe at any moment and sit on the hot path: `inbox(bic)` (whose readers see only
    durable entries), `payment_record(uetr)` (for a message about a payment an inbox already shows),
    `rendering_of(bic)` and `health()`."""

    def __init__(
        self,
        journal: Journal,
        settlement: Settlement,
        metrics: CoreMetrics,
        clock: Clock = REAL_CLOCK,
        snapshots: bool = True,
        group_commit_s: float = 0.0,
    ) -> None:
        self.journal = journal
        self._settlement = settlement
        self.metrics = metrics
        self.clock = clock
        # False: never snapshot (the simulator keeps every segment from the genesis, for its digest and replay).
        self.snapshots = snapshots
        self.group_commit_s = group_commit_s
        self._last_batch_s = 0.0  # clock.monotonic() when the last batch was applied
        # (command or None, encoded command, future, query function or None)
        self._queue: deque[tuple] = deque()
        self._wakeup = asyncio.Event()
        self._timers: list[tuple[int, str]] = []
        self._final_waiters: dict[str, list[asyncio.Future]] = {}
        self._unreleased: set[str] = set()  # final in memory, batch not yet durable
        self._task: asyncio.Task | None = None
        self._failure: BaseException | None = None
        self._stopping = False
        self.batches = 0
        self.commands_applied = 0
        self._batches_since_snapshot = 0
        self._commands_since_snapshot = 0
        self._last_snapshot_s = clock.monotonic()
        self._snapshot: asyncio.Future | None = None  # the snapshot being written in the background
        self.replayed_commands = 0

    # ---- opening and recovery

    @classmethod
    def open(
        cls,
        journal: Journal,
        scheme: Scheme,
        metrics: CoreMetrics,
        settlement: Settlement | None = None,
        clock: Clock = REAL_CLOCK,
        snapshots: bool = True,
        group_commit_s: float = 0.0,
    ) -> SettlementCore:
        """Recover from the newest snapshot plus the journal after it; a fresh journal gets the genesis.

        `settlement`: books already rebuilt from this journal by the caller (a standby core taking over,
        rail/cluster/failover.py); then nothing is replayed here. `group_commit_s`: see GROUP_COMMIT_FULL.
        """
        replayed = 0
        if settlement is None:
            settlement, _after_seq, replayed = load_settlement(journal, scheme)
        core = cls(journal, settlement, metrics, clock, snapshots, group_commit_s)
        core.replayed_commands = replayed
        if not settlement.genesis_done:
            now_ns = clock.now_ns()
            genesis = Genesis(scheme=settlement.scheme)
            settlement.begin_batch(now_ns)
            apply_command(settlement, genesis, now_ns)
            journal.append_blocking([now_ns, encode_command(genesis)])
            settlement.touched_inboxes.clear()
            settlement.finalised.clear()
            settlement.armed.clear()
        for payment in settlement.payments.live_payments():
            if payment.status == IN_FLIGHT:
                core._timers.append((payment.deadline_ns, payment.uetr))
        heapq.heapify(core._timers)
        for inbox in settlement.inboxes.values():
            inbox.publish()  # everything replayed is durable
        return core

    def start(self) -> None:
        assert self._task is None
        self._task = asyncio.create_task(self._run(), name="settlement-core")

    async def stop(self) -> None:
        """Finish what is queued, then stop; a final snapshot makes the next start fast."""
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            try:
                await self._task
            except Exception as error:  # noqa: BLE001 - already recorded in _failure and logged by _run
                log.debug("settlement core ended with %r", error)
            self._task = None
        if self._snapshot is not None:  # let the background one finish (its file would otherwise be half made)
            await asyncio.wait((self._snapshot,))
        if self._failure is None and self.batches and self.snapshots:
            try:
                self._snapshot_now()
            except Exception as error:  # noqa: BLE001 - a snapshot only shortens the next replay
                # Every batch is already in the journal: skipping this snapshot loses nothing, and a stop
                # must not fail because the journal's store (e.g. a NATS cluster mid-election) is slow.
                log.warning(
                    "final snapshot skipped (%r); the next start replays the journal from the last one", error
                )

    # ---- submitting

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    def health(self) -> CoreHealth:
        problem = None
        if self._failure is not None:
            problem = f"the settlement core stopped: {self._failure!r}"
        elif self._stopping:
            problem = "the settlement core is stopping"
        book = self._settlement.payments
        return CoreHealth(
            problem is None and self._task is not None,
            problem,
            self.journal.last_seq,
            len(self._queue),
            len(book.live),
            len(book.final),
            book.forgotten,
        )

    def inbox(self, bic: str) -> Inbox | None:
        """`bic`'s inbox, for reading (its `visible`, `wait` and `durable_acked_upto` show only durable state) and
        for its length (what the state machine counts); None when `bic` has none."""
        return self._settlement.inboxes.get(bic)

    def rendering_of(self, bic: str) -> str:
        """The rendering `bic` last sent a payment in ('xml' until it has): what its inbox is read in unless
        it asks for another."""
        participant = self._settlement.participants.get(bic)
        return participant.rendering if participant is not None else "xml"

    def payment_record(self, uetr: str) -> Payment | None:
        """A payment, to render a message about it that an inbox already shows (a final pacs.002): what such a
        message reads of it (ids, acceptance, the final time, the original message) never changes once the
        inbox entry is visible."""
        return self._settlement.payments.get(uetr)

    def _check_open(self) -> None:
        if self._failure is not None or self._stopping:
            raise CoreStopped(
                f"settlement core is not running: {self._failure!r}"
                if self._failure
                else "settlement core is stopping"
            )
        if len(self._queue) >= QUEUE_COMMANDS_MAX:
            raise Overloaded("settlement core queue is full")

    def execute(self, command: Command, encoded: bytes | None = None) -> asyncio.Future[Outcome]:
        """Apply one command in the next batch: await the result for its outcome, once the batch is durable.

        A plain function returning the future (not a coroutine): one frame less per command on the hot path;
        a refusal (stopped, overloaded, not replayable) raises here, before anything is queued."""
        self._check_open()
        try:
            encoded = encoded or encode_command(command)
            # What cannot be decoded could never be replayed: refuse it before it reaches the journal.
            COMMAND_DECODER.decode(encoded)
        except (msgspec.ValidationError, OverflowError, TypeError) as error:
            raise ValueError(f"invalid {type(command).__name__}: {error}") from None
        future = asyncio.get_running_loop().create_future()
        self._queue.append((command, encoded, future, None))
        self._wakeup.set()
        return future

    def query(self, function) -> asyncio.Future:
        """Run a read-only function of the settlement in the core's order (await the result); answered after the
        batch is durable, so a reader never sees a state the rail could still forget."""
        self._check_open()
        future = asyncio.get_running_loop().create_future()
        self._queue.append((None, None, future, function))
        self._wakeup.set()
        return future

    async def wait_final(self, payment: Payment, timeout_s: float) -> tuple | None:
        """Wait until `payment` has a durable final status: (status, reason, text), or None on timeout."""
        if payment.status != IN_FLIGHT and payment.uetr not in self._unreleased:
            return payment.status, payment.reason, payment.reason_text  # final and durable: it never changes
        future = asyncio.get_running_loop().create_future()
        self._final_waiters.setdefault(payment.uetr, []).append(future)
        try:
            return await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            return None
        finally:
            waiters = self._final_waiters.get(payment.uetr)
            if waiters is not None:
                if future in waiters:
                    waiters.remove(future)
                if not waiters:
                    del self._final_waiters[payment.uetr]

    # ---- the loop

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        queue = self._queue
        pipeline: deque[_Batch] = deque()
        wakeup = self._wakeup
        try:
            while True:
                while pipeline and pipeline[0].is_durable():
                    self._retire(pipeline.popleft())
                work = bool(queue) or self._due_timers()
                if work and len(pipeline) < PIPELINE_BATCHES_MAX:
                    window_s = self._group_commit_wait_s()
                    if window_s > 0:  # gather more for this batch; an append completing wakes us to retire it
                        handle = loop.call_later(window_s, wakeup.set)
                        wakeup.clear()
                        await wakeup.wait()
                        handle.cancel()
                        continue
                    pipeline.append(self._apply_batch())
                elif pipeline:
                    # The pipeline is full, or there is nothing new to apply: sleep until an append completes
                    # (its done-callback sets the wakeup) or, if there is room, new work arrives.
                    wakeup.clear()
                    await wakeup.wait()
                    continue
                else:  # idle: nothing queued, nothing in flight
                    if self._stopping:
                        return
                    handle = None
                    if self._timers:
                        delay_s = max(0.0, (self._timers[0][0] - self.clock.now_ns()) / 1e9)
                        handle = loop.call_later(delay_s, wakeup.set)
                    wakeup.clear()
                    await wakeup.wait()
                    if handle is not None:
                        handle.cancel()
                    continue
                if self._snapshot_due():
                    while pipeline:  # a snapshot holds only durable state
                        oldest = pipeline[0]
                        if oldest.append is not None:
                            await asyncio.wait((oldest.append,))
                        self._retire(pipeline.popleft())
                    self._start_snapshot()
                # Let submitters, inbox readers and HTTP handlers run between batches.
                await asyncio.sleep(0)
        except BaseException as error:
            self._failure = error
            log.exception("settlement core stopped")
            stopped = CoreStopped(f"settlement core failed: {error!r}")
            for batch in pipeline:  # applied in memory, never durable: none of it may be answered as done
                if batch.append is not None and not batch.append.done():
                    batch.append.cancel()
                for future, _ in batch.answers:
                    if not future.done():
                        future.set_exception(stopped)
            for _, _, future, _ in queue:
                if not future.done():
                    future.set_exception(stopped)
            queue.clear()
            for waiters in self._final_waiters.values():  # no final status will become durable any more
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(None)
            raise

    def _group_commit_wait_s(self) -> float:
        """How much longer the next batch should gather commands (<= 0: apply now)."""
        if not self.group_commit_s or len(self._queue) >= GROUP_COMMIT_FULL:
            return 0.0
        return self._last_batch_s + self.group_commit_s - self.clock.monotonic()

    def _due_timers(self) -> bool:
        return bool(self._timers) and self._timers[0][0] <= self.clock.now_ns()

    def _apply_batch(self) -> _Batch:
        """Apply what is queued (and due timers) to the books and start its journal append; nothing of it is
        answered or made visible until `_retire` has seen the append durable."""
        started_s = time.perf_counter()
        self._last_batch_s = self.clock.monotonic()
        s = self._settlement
        transfers_before = s.next_transfer_id  # ids are a counter: transfers submitted to the ledger
        now_ns = self.clock.now_ns()
        records: list = [now_ns]
        answers: list[tuple[asyncio.Future, object]] = []
        self._apply_due_timers(now_ns, records)
        timers = self._timers
        queue = self._queue
        count = min(len(queue), BATCH_COMMANDS_MAX)
        for _ in range(count):
            command, encoded, future, function = queue.popleft()
            if function is not None:
                try:
                    answers.append((future, function(s)))
                except Exception as exc:  # noqa: BLE001 - a query bug must not stop settlement
                    answers.append((future, exc))
                continue
            if len(records) == 1:
                s.begin_batch(now_ns)
            answers.append((future, apply_command(s, command, now_ns)))
            records.append(encoded)
        for payment in s.armed:
            heapq.heappush(timers, (payment.deadline_ns, payment.uetr))
        s.armed.clear()
        finalised = s.finalised
        s.finalised = []
        for payment in finalised:
            self._unreleased.add(payment.uetr)
        inboxes = s.inboxes
        # Sorted: a set's order follows string hashing, which differs per process; readers must wake in one order.
        published = [
            (inboxes[bic], inboxes[bic].next_seq - 1, inboxes[bic].acked_upto) for bic in sorted(s.touched_inboxes)
        ]
        s.touched_inboxes.clear()
        append = None
        if len(records) > 1:
            try:
                # Runtime conservation check, paired with the one after replay: O(accounts), once per batch.
                # A failure is a bug: the batch is neither journaled nor answered, and the core stops.
                s.ledger.check_totals()
                # Appends keep call order (the Journal contract): batches become durable in the order applied.
                append = asyncio.ensure_future(self.journal.append(records))
                append.add_done_callback(self._wake)
            except BaseException as error:
                for future, _ in answers:
                    if not future.done():
                        future.set_exception(CoreStopped(f"batch refused before the journal: {error!r}"))
                raise
        return _Batch(
            answers,
            finalised,
            published,
            append,
            len(records) - 1,
            s.next_transfer_id - transfers_before,
            started_s,
            time.perf_counter(),
        )

    def _apply_due_timers(self, now_ns: int, records: list) -> None:
        """Every payment whose deadline has passed times out (a journaled Timeout, first in the batch)."""
        s, timers = self._settlement, self._timers
        while timers and timers[0][0] <= now_ns:
            _deadline, uetr = heapq.heappop(timers)
            payment = s.payments.in_flight(uetr)
            if payment is None:
                continue
            if payment.deadline_ns > now_ns:  # extended (ACWP): re-arm
                heapq.heappush(timers, (payment.deadline_ns, uetr))
                continue
            timeout = Timeout(uetr=uetr)
            if len(records) == 1:
                s.begin_batch(now_ns)  # before the batch's first journaled command, as replay does
            apply_command(s, timeout, now_ns)
            records.append(encode_command(timeout))

    def _retire(self, batch: _Batch) -> None:
        """`batch` is durable (its append completed): make it visible, i.e. inbox entries, answers, final-status
        waiters. If the append failed, its submitters are told the core stopped and the error stops the core."""
        if batch.append is not None:
            error = batch.append.exception()
            if error is not None:
                for future, _ in batch.answers:
                    if not future.done():
                        future.set_exception(CoreStopped(f"journal append failed: {error!r}"))
                raise error
            self.batches += 1
            self._batches_since_snapshot += 1
            self._commands_since_snapshot += batch.commands
            self.commands_applied += batch.commands
        durable_s = time.perf_counter()
        for inbox, upto, acked_upto in batch.published:
            inbox.publish(upto, acked_upto)
        self._release(batch.answers, batch.finalised)
        self.metrics.batch_durable(
            batch.commands,
            batch.transfers,
            batch.applied_s - batch.started_s,
            durable_s - batch.applied_s,
            len(self._queue),
        )

    def _wake(self, _append: asyncio.Future) -> None:
        self._wakeup.set()

    def _snapshot_due(self) -> bool:
        return self.snapshots and self._snapshot is None and (
            self._commands_since_snapshot >= SNAPSHOT_EVERY_COMMANDS
            or (
                self._batches_since_snapshot > 0
                and self.clock.monotonic() - self._last_snapshot_s > SNAPSHOT_EVERY_S
            )
        )

    def _start_snapshot(self) -> None:
        """Snapshot the state as of the last (durable) batch without waiting for it: the journal writes it in the
        background (rail/settlement/snapshot_child.py), and the core goes on settling at once."""
        seq = self.journal.last_seq
        self._snapshot_taken()
        started_s = time.perf_counter()
        try:
            snapshot = asyncio.ensure_future(self.journal.start_snapshot(self._encoded_state, seq))
            self._snapshot = snapshot
        except Exception:  # a failed snapshot only makes the next recovery longer: keep settling
            log.exception("snapshot at batch %d failed", seq)
            return
        snapshot.add_done_callback(lambda done: self._snapshot_ended(done, seq, started_s))

    def _snapshot_ended(self, done: asyncio.Future, seq: int, started_s: float) -> None:
        self._snapshot = None
        if done.cancelled():
            return
        if done.exception() is not None:
            log.error("snapshot at batch %d failed: %s", seq, done.exception())
        else:
            log.info("snapshot at batch %d written in %.1f s", seq, time.perf_counter() - started_s)

    def _release(self, answers: list, finalised: list[Payment]) -> None:
        payment_final = self.metrics.payment_final
        for payment in finalised:
            self._unreleased.discard(payment.uetr)
            settled_s = (payment.final_ns - payment.received_ns) / 1e9 if payment.transfer_id else None
            payment_final(payment.status, payment.reason or "", settled_s)
            waiters = self._final_waiters.pop(payment.uetr, None)
            if waiters:
                final = (payment.status, payment.reason, payment.reason_text)  # final: never changes again
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(final)
        for future, result in answers:
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)

    def _snapshot_now(self) -> None:
        """Snapshot the whole state at the last durable batch; replay then starts after it."""
        seq = self.journal.last_seq
        if seq <= self.journal.snapshot_seq:
            return
        self.journal.write_snapshot(self._encoded_state(), seq)
        self._snapshot_taken()

    def _encoded_state(self) -> bytes:
        """The whole state as a snapshot holds it (called here, or in the snapshot writer's image of the process)."""
        return _ENCODER.encode(settlement_to_state(self._settlement))

    def _snapshot_taken(self) -> None:
        self._batches_since_snapshot = 0
        self._commands_since_snapshot = 0
        self._last_snapshot_s = self.clock.monotonic()
