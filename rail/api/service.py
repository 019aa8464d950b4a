"""RailService: opens a rail (journal, settlement core, the API layer's parts), closes it, and is the library face
that tests, benchmarks and in-process participants call.

The parts, one job each:
    identity.py   tokens, the operator's token, who takes part, rate limits
    accept.py     decode + RAAST profile + a type the rail takes (the edge half of a message; edges run it too)
    dispatch.py   an accepted message -> a core command -> its outcome -> the reply
    replies.py    the messages the rail answers with, and the caches behind a payment's final pacs.002
    outbox.py     inbox references -> messages, inbox pages
    accounts.py   a participant's payment views, balance and aliases
    payment_list.py  pages of payments, filtered, newest first (participants their own, the operator all)
    traces.py     every message in and out, kept per payment by a background writer (trace_store.py), read
                  back by trace_views.py
    overview.py   the rail live for the workbench page, from its own metrics and books
    admin.py      the operator's actions, webhooks, what runs beside the rail
Transports drive them through the route table (rail/api/routes.py), never around it, except the in-process
struct lane (`dispatch`, `inbox_structs`) that a participant in this process uses for messages it built itself.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec

from rail.api.accept import Accepted, Acceptor
from rail.api.accounts import Accounts
from rail.api.admin import Admin, Companion
from rail.api.dispatch import Dispatcher
from rail.api.identity import Identity
from rail.api.metrics import DecodePoolFigures, RailMetrics
from rail.api.outbox import WAIT_S_MAX, ForwardedStructs, InboxItem, Outbox
from rail.api.overview import Overview
from rail.api.payment_list import PaymentList
from rail.api.replies import Replies, Reply
from rail.clock import REAL_CLOCK, Clock
from rail.api.simulated import SimulatedBanks
from rail.api.trace_store import TraceSettings
from rail.api.trace_views import TraceViews
from rail.api.traces import IN_PROCESS, REQUEST, Tracer
from rail.iso20022 import rendering_of
from rail.iso20022.decode_pool import DecodePool
from rail.scheme import Scheme, SchemeParams, check_scheme, default_scheme
from rail.settlement.commands import SetAdminToken, SetParams
from rail.settlement.core import SettlementCore
from rail.settlement.journal import FileJournal, Journal
from rail.settlement.payments import Participant, Settlement

__all__ = ["WAIT_S_MAX", "Accepted", "Companion", "RailService", "Reply"]

Takeover = Callable[[Scheme], Awaitable[Settlement]]


class RailService:
    """The rail as a library. Create with `await RailService.open(...)`; `close()` when done."""

    def __init__(
        self,
        scheme: Scheme,
        journal: Journal,
        core: SettlementCore,
        metrics: RailMetrics,
        temp_dir: str | None,
        tracer: Tracer,
    ) -> None:
        self.scheme = scheme
        self.journal = journal
        self.core = core
        self.metrics = metrics
        self._temp_dir = temp_dir
        self._closed = False
        rail_bic = scheme.central_bank_bic
        self.tracer = tracer
        self.identity = Identity(rail_bic, scheme.params, metrics, core.clock)
        self.replies = Replies(rail_bic, metrics, clock=core.clock)
        self.acceptor = Acceptor(rail_bic, self.identity.known_bics, self.replies, metrics)
        forwarded = ForwardedStructs()
        self.outbox = Outbox(core, rail_bic, self.replies, metrics, forwarded, tracer)
        self.dispatcher = Dispatcher(core, scheme, self.replies, self.identity, forwarded)
        self.accounts = Accounts(core)
        self.payment_list = PaymentList(core, scheme.currency)
        self.traces = TraceViews(tracer, core, scheme.currency, rail_bic)
        self.overview = Overview(core, metrics)
        self.admin = Admin(core, scheme, self.identity, self.outbox, tracer)

    # ---- opening and closing

    @classmethod
    async def open(
        cls,
        data_dir: Path | None,
        *,
        scheme: Scheme | None = None,
        fsync: bool = True,
        admin_token: str | None = None,
        journal: Journal | None = None,
        takeover: Takeover | None = None,
        clock: Clock = REAL_CLOCK,
        snapshots: bool = True,
        traces: TraceSettings | None = None,
        group_commit_s: float = 0.0,
        decode_workers: int = 0,
        **params: object,
    ) -> RailService:
        """Open (recovering) the rail whose journal is in `data_dir` (None: a temporary directory).

        `params` override SchemeParams fields, e.g. `creditor_timeout_ms=300` for fast tests.
        `journal`: a Journal to use instead of the file journal in `data_dir` (the replicated one,
        rail/cluster/nats_journal.py). `takeover`: the books of a standby core that has just become the leader
        (rail/cluster/failover.py): the core starts from them instead of replaying. `clock`, `snapshots`: the
        core's (rail/settlement/core.py), and so is `group_commit_s` (`rail serve` sets it); `rail simulate` runs
        the rail in simulated time (rail/sim/).
        `traces`: how much of the message traces to keep in `data_dir`/traces (default: 256 MiB, 7 days;
        bytes_max=0: none). `decode_workers`: processes that decode submitted messages off the event loop
        (rail/iso20022/decode_pool.py; 0: decode in this process).
        """
        base = _with_params(scheme or default_scheme(), params)
        temp_dir = None
        if data_dir is None:
            temp_dir = tempfile.mkdtemp(prefix="rail-")
            data_dir = Path(temp_dir)
        data_dir = Path(data_dir)
        if journal is None:
            # journal.id beside the journal: a journal that vanished is refused, not replaced by a new rail.
            journal = FileJournal.open(
                data_dir / "journal", fsync=fsync, identity_file=data_dir / "journal.id"
            )
        settlement = await takeover(base) if takeover is not None else None
        metrics = RailMetrics()
        core = SettlementCore.open(journal, base, metrics, settlement=settlement, clock=clock, snapshots=snapshots,
                                    group_commit_s=group_commit_s)
        core.start()
        recovered_scheme, recovered_params, participants, admin_hash = await core.query(_recovered)
        tracer = Tracer.open(base.central_bank_bic, data_dir / "traces", traces)
        tracer.start()
        rail = cls(
            msgspec.structs.replace(recovered_scheme, params=base.params), journal, core, metrics, temp_dir,
            tracer,
        )
        for participant in participants:
            rail.admin.recovered(participant)
        if clock is REAL_CLOCK:  # a sampler waking every second would only slow a simulated day (rail/sim/)
            rail.overview.start()
        if decode_workers:
            pool = rail.acceptor.decode_pool = DecodePool(decode_workers)
            await pool.start()
            metrics.registry.register(DecodePoolFigures(pool))
        if recovered_params != base.params:  # this start's parameters, journaled (replay applies them too)
            await core.execute(SetParams(params=base.params))
        new_hash = rail.identity.admin_token_to_journal(admin_token, admin_hash)
        if new_hash is not None:
            await core.execute(SetAdminToken(token_hash=new_hash))
        return rail

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.admin.stop()
        await self.overview.stop()
        if self.acceptor.decode_pool is not None:
            await self.acceptor.decode_pool.close()
        await self.core.stop()
        await self.tracer.stop()
        self.journal.close()
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)

    # ---- the library face: each a call to the part that does it

    @property
    def admin_token(self) -> str | None:
        return self.identity.admin_token

    @property
    def admin_token_generated(self) -> bool:
        return self.identity.admin_token_generated

    @property
    def participants(self) -> list[str]:
        return self.identity.participants

    def authenticate(self, token: str) -> str | None:
        return self.identity.authenticate(token)

    def is_admin(self, token: str) -> bool:
        return self.identity.is_admin(token)

    def rate_limit(self, bic: str) -> float:
        return self.identity.rate_limit(bic)

    async def submit(self, bic: str, body: bytes, content_type: str, wait_s: float | None = None) -> Reply:
        """POST /v1/messages: one ISO 20022 message from participant `bic` (already authenticated)."""
        started_ns = time.time_ns()
        accepted = await self.acceptor.accept_pooled(bic, body, content_type)
        if isinstance(accepted, Reply):
            rendering = rendering_of(content_type, default="xml")
            self.tracer.exchange(bic, REQUEST, body, None, None, rendering, accepted, started_ns)
            return accepted
        reply = await self.dispatcher.dispatch(bic, accepted, wait_s)
        self.tracer.exchange(
            bic, REQUEST, body, accepted.message, accepted.msg_type, accepted.rendering, reply, started_ns
        )
        return reply

    def accept(self, bic: str, body: bytes, content_type: str) -> Reply | Accepted:
        return self.acceptor.accept(bic, body, content_type)

    async def dispatch(self, bic: str, accepted: Accepted, wait_s: float | None = None) -> Reply:
        """An accepted message from `bic`: an edge's (with the sender's bytes) or one an in-process participant
        handed over as a struct (no bytes)."""
        started_ns = time.time_ns()
        reply = await self.dispatcher.dispatch(bic, accepted, wait_s)
        raw = accepted.raw_body
        channel = REQUEST if raw is not None else IN_PROCESS
        self.tracer.exchange(
            bic, channel, raw, accepted.message, accepted.msg_type, accepted.rendering, reply, started_ns
        )
        return reply

    async def submit_many(self, bic: str, bodies: list[bytes], content_type: str) -> list[Reply]:
        started_ns = time.time_ns()
        replies, accepted = await self.dispatcher.submit_many(self.acceptor, bic, bodies, content_type)
        exchange = self.tracer.exchange
        rendering = None
        for body, reply, taken in zip(bodies, replies, accepted):
            if taken is not None:
                exchange(bic, REQUEST, body, taken.message, taken.msg_type, taken.rendering, reply, started_ns)
            else:
                rendering = rendering or rendering_of(content_type, default="xml")
                exchange(bic, REQUEST, body, None, None, rendering, reply, started_ns)
        return replies

    async def inbox(self, bic: str, wait_s: float, max_n: int, rendering: str | None = None) -> dict:
        return await self.outbox.inbox(bic, wait_s, max_n, rendering)

    def inbox_page(self, bic: str, max_n: int, rendering: str | None = None) -> dict:
        return self.outbox.inbox_page(bic, max_n, rendering)

    async def inbox_structs(self, bic: str, wait_s: float, max_n: int) -> list[InboxItem]:
        return await self.outbox.inbox_structs(bic, wait_s, max_n)

    async def ack(self, bic: str, upto: int) -> int:
        return await self.outbox.ack(bic, upto)

    async def payment(self, bic: str, uetr: str) -> dict | None:
        return await self.accounts.payment(bic, uetr)

    async def register_alias(self, bic: str, alias: str, iban: str, holder_name: str) -> dict:
        return await self.accounts.register_alias(bic, alias, iban, holder_name)

    async def delete_alias(self, bic: str, alias: str) -> dict:
        return await self.accounts.delete_alias(bic, alias)

    async def add_participant(
        self,
        bic: str,
        name: str,
        callback_url: str | None = None,
        requests_per_s: float | None = None,
        requests_burst: float | None = None,
    ) -> str:
        registration = await self.admin.add_participant(bic, name, callback_url, requests_per_s, requests_burst)
        return registration.token

    async def liquidity(self, bic: str, amount_paisa: int, direction: str) -> dict:
        return await self.admin.liquidity(bic, amount_paisa, direction)

    async def balances(self) -> dict:
        return await self.admin.balances()

    async def redeliver(self, uetr: str) -> dict:
        return await self.admin.redeliver(uetr)

    def add_companion(self, companion: Companion) -> None:
        self.admin.add_companion(companion)

    def add_simulator(self, simulator: SimulatedBanks) -> None:
        """Run the sandbox's simulated banks beside the rail (a companion the workbench can steer)."""
        self.admin.add_companion(simulator)
        self.admin.simulator = simulator

    async def simulated_participants(self) -> list[str]:
        """The default-scheme banks no external client has taken over (the sandbox simulates them)."""
        return await self.core.query(lambda s: [p.bic for p in s.participants.values() if p.simulated])

    async def wait_idle(self, timeout_s: float = 5.0) -> None:
        """Wait until the core has applied everything queued (tests and benchmarks)."""
        await asyncio.wait_for(self.core.query(lambda s: None), timeout_s)


def _with_params(scheme: Scheme, params: dict[str, object]) -> Scheme:
    """`scheme` with some SchemeParams fields overridden, checked."""
    if params:
        unknown = set(params) - set(SchemeParams.__struct_fields__)
        if unknown:
            raise TypeError(f"unknown scheme parameters: {sorted(unknown)}")
        scheme = msgspec.structs.replace(scheme, params=msgspec.structs.replace(scheme.params, **params))
    check_scheme(scheme)
    return scheme


def _recovered(s: Settlement) -> tuple[Scheme, SchemeParams, list[Participant], str | None]:
    """What a start needs of the recovered books: the journaled scheme and parameters, the participants, the
    operator's token hash."""
    return s.scheme, s.params, list(s.participants.values()), s.admin_token_hash
