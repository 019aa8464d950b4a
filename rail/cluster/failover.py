"""Active/standby settlement cores over the replicated journal: a leader lease in JetStream KV, and a standby
that follows the stream and takes over when the lease expires.

    rail serve --journal nats://h1,h2,h3            # the active core: takes the lease, then serves
    rail serve --journal nats://h1,h2,h3 --standby  # follows the stream; serves once it holds the lease

The lease is one key in a KV bucket (`<NAME>_LEASE`, replicated like the stream, bucket TTL = LEASE_TTL_S):
- taking it is a compare-and-set: `create` (the key must not exist) or `update(last=revision)` of a lease the
  standby has watched stay unchanged for a whole LEASE_TTL_S (its holder stopped renewing);
- the holder renews it every LEASE_RENEW_EVERY_S with `update(last=its revision)`. A renewal refused because
  another core's value is there now fences the holder at once. A renewal that fails for any other reason (a
  NATS node died and the bucket's Raft group is electing a leader: seconds) stops the holder's writes from
  `renewal start + LEASE_TTL_S - LEASE_SAFETY_MARGIN_S` on, before anyone else may take the lease over; writes
  resume if a later renewal proves the lease is still this core's (same revision chain, or the key expired
  and this core re-created it), so a short NATS outage pauses the rail instead of stopping it. The standby
  counts LEASE_TTL_S only over consecutive successful reads of an unchanged lease, so an outage of the
  bucket does not by itself hand the lease over;
- fencing, twice: the journal calls the lease's guard before every publish (a core that cannot prove its lease
  stops writing), and every publish carries Nats-Expected-Last-Sequence, so even a core paused past its lease
  (GC, VM freeze) cannot write after the new leader: the stream refuses it.

The standby rebuilds the books from the newest snapshot and then applies each batch as it arrives (the same
replay code path as a restart, rail/settlement/core.py), so a takeover only reads the last few batches: in-flight
payments then resolve through the normal recovery path (timers re-armed from their deadlines; creditors see
their unacknowledged inbox messages again and answer, or the payment times out with AB05).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from typing import Any

import orjson

from rail.cluster.nats_journal import JournalFenced, JournalUnavailable, NatsJournal, StreamReader, retry_api
from rail.scheme import Scheme
from rail.settlement.journal_format import JournalCorruption
from rail.settlement.payments import Settlement

log = logging.getLogger(__name__)

LEASE_TTL_S = 3.0
LEASE_RENEW_EVERY_S = 1.0
#: The holder stops writing this long before its lease could be taken over (clock-rate drift, scheduling).
LEASE_SAFETY_MARGIN_S = 0.5
#: How often a standby looks at the lease (and hands new batches to its books); a failed renewal retries.
LEASE_POLL_S = 0.2
#: Writes wait at most this long for an unconfirmed lease (renewals failing) before the core gives up.
LEASE_UNCONFIRMED_S_MAX = 20.0
LEASE_GUARD_POLL_S = 0.05
#: An active core starting while another core's lease is live waits this long for it to expire.
LEASE_ACQUIRE_WAIT_S = 2 * LEASE_TTL_S
LEASE_KEY = "leader"
#: A standby that holds the lease reads the last batches within this long, or gives up (with a clear error).
CATCH_UP_S_MAX = 30.0


class LeaseHeld(Exception):
    """Another core holds the lease and keeps renewing it."""


class LeaderLease:
    """The lease of one journal name. Its coroutines run on the journal's NATS thread."""

    def __init__(self, journal: NatsJournal, holder: str | None = None) -> None:
        self.journal = journal
        self.bucket = f"{journal.name}_LEASE"
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.revision = 0
        self.valid_until = 0.0  # monotonic; only meaningful while held
        self.lost = False
        self.lost_reason = ""
        self._kv: Any = None
        self._observed: tuple[int, float] | None = None  # (revision, monotonic when first seen)
        self._renewer: asyncio.Task | None = None
        #: Called on the NATS thread when the lease is lost (see on_lost).
        self._lost_callbacks: list = []

    # ------------------------------------------------------------------ NATS-thread coroutines

    async def _bucket(self) -> Any:
        if self._kv is None:
            from nats.js.errors import BucketNotFoundError, NotFoundError

            js = self.journal.connection.js
            try:
                self._kv = await js.key_value(self.bucket)
            except (BucketNotFoundError, NotFoundError):
                self._kv = await retry_api(
                    lambda: js.create_key_value(
                        bucket=self.bucket,
                        history=1,
                        ttl=LEASE_TTL_S,
                        replicas=self.journal.replicas,
                        description="rail settlement core leader lease",
                    ),
                    "create the lease bucket",
                )
        return self._kv

    def _value(self) -> bytes:
        return orjson.dumps({"holder": self.holder, "at_ns": time.time_ns()})

    async def try_acquire(self) -> bool:
        """One attempt: take a free or expired lease (compare-and-set). True when this core now holds it."""
        from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

        kv = await self._bucket()
        started = time.monotonic()
        try:
            entry = await kv.get(LEASE_KEY)
        except KeyNotFoundError:
            entry = None
        except BaseException:
            self._observed = None  # the TTL counts only over reads that worked: an outage is not expiry
            raise
        try:
            if entry is None:
                revision = await kv.create(LEASE_KEY, self._value())
            else:
                observed = self._observed
                if observed is None or observed[0] != entry.revision:
                    self._observed = (entry.revision, started)  # renewed since last look: wait again
                    return False
                if started - observed[1] < LEASE_TTL_S:
                    return False
                revision = await kv.update(LEASE_KEY, self._value(), last=entry.revision)
        except KeyWrongLastSequenceError:
            return False  # someone else won the race
        self._held(revision, started)
        return True

    def _held(self, revision: int, renewal_started: float) -> None:
        self.revision = revision
        self.journal.lease_revision = revision
        self.valid_until = renewal_started + LEASE_TTL_S - LEASE_SAFETY_MARGIN_S
        self.lost = False
        self.journal.write_guard = self.guard

    async def guard(self) -> None:
        """Awaited by the journal before every publish (NATS thread): passes while the lease is confirmed,
        waits while it is unconfirmed (renewals failing), raises JournalFenced once it is lost."""
        deadline = time.monotonic() + LEASE_UNCONFIRMED_S_MAX
        while True:
            if self.lost:
                raise JournalFenced(f"lease lost: {self.lost_reason}; this core stops writing")
            if time.monotonic() <= self.valid_until:
                return
            if time.monotonic() > deadline:
                self._lose(f"the lease could not be renewed for {LEASE_UNCONFIRMED_S_MAX:.0f} s")
                continue
            await asyncio.sleep(LEASE_GUARD_POLL_S)

    def _lose(self, reason: str) -> None:
        if self.lost:
            return
        self.lost = True
        self.lost_reason = reason
        log.error("leader lease lost: %s", reason)
        for callback in self._lost_callbacks:
            callback()

    async def _renew_forever(self) -> None:
        from nats.js.errors import KeyWrongLastSequenceError

        kv = await self._bucket()
        pause_s = LEASE_RENEW_EVERY_S
        while not self.lost:
            await asyncio.sleep(pause_s)
            started = time.monotonic()
            try:
                try:
                    revision = await asyncio.wait_for(
                        kv.update(LEASE_KEY, self._value(), last=self.revision), LEASE_RENEW_EVERY_S
                    )
                except KeyWrongLastSequenceError:
                    revision = await self._recover_revision(kv)
                    if revision is None:
                        return  # lost
            except Exception as error:  # noqa: BLE001 - transient (election, reconnect): the guard waits
                log.warning("lease renewal failed: %r", error)
                pause_s = LEASE_POLL_S  # retry soon: the writes wait for a confirmed lease
                continue
            self._held(revision, started)
            pause_s = LEASE_RENEW_EVERY_S

    async def _recover_revision(self, kv: Any) -> int | None:
        """The lease moved under a renewal: ours after all (a retried update whose first try landed, or the
        key expired during an outage and nobody took it), or another core's (then the lease is lost)."""
        from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

        try:
            entry = await kv.get(LEASE_KEY)
        except KeyNotFoundError:
            entry = None
        if entry is not None and orjson.loads(entry.value).get("holder") == self.holder:
            return entry.revision
        if entry is None:
            try:
                # Nobody holds it: take it again. Safe even if another core held it meanwhile: this core can
                # only append after the stream's last sequence it knows (Nats-Expected-Last-Sequence).
                return await kv.create(LEASE_KEY, self._value())
            except KeyWrongLastSequenceError:
                pass
        self._lose("another core took the lease")
        return None

    async def _start_renewing(self) -> None:
        self._renewer = asyncio.create_task(self._renew_forever(), name="lease-renewer")

    async def stop_renewing(self) -> None:
        """Stop the renewal task (NATS thread); the lease then expires after LEASE_TTL_S."""
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(BaseException):
                await self._renewer
            self._renewer = None

    async def _release(self) -> None:
        """Give the lease up at a clean stop, so a standby takes over at once instead of after the TTL."""
        await self.stop_renewing()
        if self.revision and not self.lost:
            self.lost = True
            self.lost_reason = "released"
            with contextlib.suppress(Exception):
                await (await self._bucket()).delete(LEASE_KEY, last=self.revision)

    # ------------------------------------------------------------------ caller-side API

    def acquire_blocking(self, wait_s: float = LEASE_ACQUIRE_WAIT_S) -> None:
        """Take the lease (waiting up to `wait_s` for a dead holder's lease to expire), then keep it renewed.

        Raises LeaseHeld when another core keeps renewing it.
        """
        call = self.journal.connection.call
        deadline = time.monotonic() + wait_s
        while not call(self.try_acquire()):
            if time.monotonic() > deadline:
                raise LeaseHeld(
                    f"another settlement core holds the lease of journal {self.journal.name} and keeps it "
                    "renewed: start this one with --standby, or stop the other"
                )
            time.sleep(LEASE_POLL_S)
        call(self._start_renewing())
        self.journal.close_hooks.append(self._release)

    def on_lost(self, callback) -> None:
        """`callback()` runs on the NATS thread when the lease is lost (use loop.call_soon_threadsafe)."""
        self._lost_callbacks.append(callback)


class StandbyFollower:
    """Keeps a Settlement equal to the stream, batch by batch, until this core gets the lease."""

    def __init__(self, journal: NatsJournal, scheme: Scheme, lease: LeaderLease) -> None:
        self.journal = journal
        self.scheme = scheme
        self.lease = lease
        self.settlement: Settlement | None = None
        self.reader: StreamReader | None = None
        self.batches_applied = 0
        self.commands_applied = 0

    def _nats(self, coroutine) -> asyncio.Future:
        return asyncio.wrap_future(self.journal.connection.submit(coroutine))

    async def _load(self) -> None:
        """Books from the newest snapshot (and whatever is in the stream after it, as a restart would)."""
        from rail.settlement.core import load_settlement

        loop = asyncio.get_running_loop()
        settlement, after_seq, _replayed = await loop.run_in_executor(
            None, load_settlement, self.journal, self.scheme
        )
        if self.reader is not None:
            await self._nats(self.reader.stop())
        self.settlement = settlement
        self.reader = StreamReader(self.journal, after_seq)
        self.reader.position = self.reader.batch_end = _stream_position_after_replay(self.journal, after_seq)
        await self._nats(self.reader.follow())

    async def _apply_new_batches(self, wait_s: float, end_seq: int | None = None) -> None:
        from rail.settlement.core import replay_batch

        batches = await self._nats(self.reader.read(end_seq, idle_timeout_s=wait_s))
        for _seq, records in self.journal.decode_batches(batches):
            self.commands_applied += replay_batch(self.settlement, records)
            self.batches_applied += 1

    async def run_until_leader(self) -> Settlement:
        """Follow the stream; once the lease is ours, read to the stream's end and return the books.

        From then on the journal appends after the last batch read, fenced by the lease.
        """
        await self._load()
        while True:
            try:
                await self._apply_new_batches(LEASE_POLL_S)
            except JournalCorruption as error:
                # Purged past this follower (it fell far behind): start again from the newest snapshot.
                log.warning("standby resynchronising from the snapshot: %s", error)
                await self._load()
                continue
            try:
                acquired = await self._nats(self.lease.try_acquire())
            except (JournalUnavailable, TimeoutError, OSError) as error:
                log.warning("lease check failed: %r", error)
                acquired = False
            if acquired:
                break
        await self._nats(self.lease._start_renewing())  # held from now on, even while catching up
        self.journal.close_hooks.append(self.lease._release)
        end_seq = await self._nats(self.journal._stream_last_seq())
        deadline = time.monotonic() + CATCH_UP_S_MAX
        while self.reader.position < end_seq:
            if time.monotonic() > deadline:
                raise JournalUnavailable(
                    f"standby could not read the stream up to {end_seq} within {CATCH_UP_S_MAX:.0f} s "
                    f"(at {self.reader.position})"
                )
            await self._apply_new_batches(LEASE_TTL_S, end_seq)
        await self._nats(self.reader.stop())
        self.journal.adopt_stream_end(self.reader.position)
        return self.settlement


def _stream_position_after_replay(journal: NatsJournal, after_seq: int) -> int:
    """load_settlement replayed the stream up to its end when it ran: continue from there."""
    return max(after_seq, journal.replayed_up_to)


async def open_replicated(url: str, *, standby: bool, on_lost) -> tuple[NatsJournal, Any]:
    """What `rail serve --journal nats://...` needs: (journal, takeover or None).

    Active (standby=False): the lease is taken before returning (LeaseHeld if another core keeps it).
    Standby: `takeover(scheme)` follows the stream until this core holds the lease and returns the books
    (pass it to RailService.open). `on_lost()` is called from the NATS thread if the lease is ever lost.
    Raises ValueError (malformed URL) or JournalError (unreachable cluster) with a one-line message.
    """
    loop = asyncio.get_running_loop()
    journal = await loop.run_in_executor(None, lambda: NatsJournal.open(url))
    lease = LeaderLease(journal)
    lease.on_lost(on_lost)
    if standby:

        async def takeover(scheme: Scheme) -> Settlement:
            settlement = await StandbyFollower(journal, scheme, lease).run_until_leader()
            if settlement.genesis_done:
                settlement.ledger.check_conservation()  # the books the standby built, before serving them
            return settlement

        return journal, takeover
    try:
        await loop.run_in_executor(None, lease.acquire_blocking)
    except BaseException:
        journal.close()
        raise
    return journal, None
