"""One simulated day of the real rail: `rail simulate`'s engine.

What runs is the rail itself, in simulated time (rail/sim/loop.py):

* RailService, the one API layer, over the real settlement core and payment state machine (the same batches,
  `apply_*` code, timers and journal records as `rail serve`), on the clock of the simulation;
* the default scheme's eight banks, sized by a Zipf-like law and prefunded in proportion, each the one
  simulated bank (participants/bank.py) over the in-process transport: payments and answers travel as structs
  (RailService.dispatch), nothing is rendered or framed, and the creditor answers with the load model's
  latency and reject reasons (participants/creditor.py), slowed down by the scenario's slow windows;
* the load model (participants/remittance.py) over the whole day: hour-of-day profile, salary days, Eid uplift,
  the scenario's mix of P2P, P2M and remittance credits, open-loop arrivals at their intended times;
* the scenario's scripted events: outages, slow creditors, scheduled top-ups (rail/sim/events.py).

The run directory gets the journal (with its SHA-256 digest in simulation.json), payments.csv, balances.csv and
liquidity.json (rail/sim/record.py, rail/sim/books.py); the report and the what-if sweep are rail/sim/cli.py's.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import random
import resource
import signal
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path

import msgspec

from participants.bank import Acknowledge, BankBehaviour, SimulatedBank
from participants.codec import Iso20022Codec
from participants.creditor import LoadModel as CreditorLoadModel
from participants.remittance import Calendar, PlannedPayment, RemittanceLoad, bank_weights
from participants.transport import InProcessTransport, TransportError
from participants.treasury import TreasuryDesk
from rail import rundir
from rail.api.routes import RailApi
from rail.api.trace_store import TraceSettings
from rail.api.service import RailService
from rail.clock import NS_PER_S, VirtualClock
from rail.runtime import thaw, tune_gc_for_long_lived_state
from rail.scheme import Scheme, SchemeParams, default_scheme
from rail.sim.books import BankBooks, BookWatch, fresh_books
from rail.sim.events import ScriptedCreditor, sleep_until, slow_windows, top_up_amounts
from rail.sim.journal import SimJournal, journal_digest, journal_id_for
from rail.sim.loop import run_simulated
from rail.sim.plan_feed import PlanFeed
from rail.sim.record import Recorder
from rail.sim.scenario import (
    PAYMENTS_PER_DAY_MAX,
    SECONDS_PER_DAY,
    SimScenario,
    day_start,
    prefunding_paisa,
    seconds_of_day,
)

TOOL_VERSION = "0.1.0"
NS_PER_MS = 1_000_000
# The simulated banks remember this many recent payments each (exactly-once answers and credits); the rail's
# payment book keeps every payment of the day for the duplicate window regardless.
BANK_REMEMBER_MAX = 100_000
INBOX_WAIT_S = 30.0  # a bank's long poll (the rail's maximum): in simulated time it costs nothing to wait
DRAIN_S = 60.0  # after midnight, payments in flight get this long (the scheme's hard stop is 20 s)
PROGRESS_EVERY_S = 60.0  # simulated seconds between progress reports
RETAINED_HEADROOM = 1.25  # the payment book's bound above the day's expected volume


class SimConfig(msgspec.Struct, frozen=True):
    scenario: SimScenario
    seed: int = 1
    payments: int | None = None  # expected payments of the day (None: the scenario's volume for its day)
    prefund_percent: float = 100.0
    # Each bank's opening balance in paisa, in the scheme's bank order, instead of the scenario's prefunding
    # (the what-if sweep, rail/sim/sweep.py); then `prefund_percent` is not applied.
    prefund_paisa: tuple[int, ...] | None = None
    scripted_topups: bool = True  # False: the scenario's [[sim.topups]] do not happen (the sweep's levels are all)
    # Only the payments intended in [from_s, until_s) of the day are offered (the same payments, UETRs and times
    # as the whole day's): a slice of a day at its full density, e.g. the peak hours.
    from_s: float = 0.0
    until_s: float = float(SECONDS_PER_DAY)


class Progress(msgspec.Struct, frozen=True):
    simulated_s: float
    offered: int
    final: int
    settled: int
    am04: int
    ab05: int
    wall_s: float


def sim_scheme(config: SimConfig) -> Scheme:
    """The default scheme's banks with the scenario's prefunding, and a payment book sized for the day."""
    base = default_scheme()
    prefund = config.prefund_paisa or prefunding_paisa(config.scenario, len(base.banks), config.prefund_percent)
    if len(prefund) != len(base.banks) or min(prefund) < 0:
        raise ValueError(f"give {len(base.banks)} opening balances of at least 0 paisa, one per bank")
    banks = [msgspec.structs.replace(b, prefund_paisa=p) for b, p in zip(base.banks, prefund, strict=True)]
    expected = config.payments or config.scenario.sim.payments_per_day
    retained = max(SchemeParams().payments_retained_max, int(expected * 2 * RETAINED_HEADROOM))
    return msgspec.structs.replace(base, banks=banks, params=SchemeParams(payments_retained_max=retained))


def sim_behaviour(bank: BankBehaviour) -> BankBehaviour:
    """The scenario's bank behaviour as a simulated bank runs it: long polls, no lingering, no status chasing
    (in process nothing is lost: the rail's own timers give every payment its final status)."""
    return msgspec.structs.replace(
        bank, delivery="inbox", inbox_wait_s=INBOX_WAIT_S, inbox_linger_ms=0.0, status_request_after_s=None,
        acknowledge=Acknowledge.ON_RECEIPT, outages=[],
    )


def day_plan(config: SimConfig, n_banks: int) -> Iterator[PlannedPayment]:
    """The day's payments in intended-time order (a generator: a day of millions is never held); a function of
    the configuration alone, so the plan may be drawn in another process (rail/sim/plan_feed.py)."""
    s = config.scenario
    start = day_start(s.sim.day)
    exact = config.payments is not None
    calendar = Calendar(start=start.isoformat(), speed=1.0, rate_is="mean" if exact else "base")
    model = msgspec.structs.replace(s.scenario.load, calendar=calendar)
    per_day = config.payments if exact else s.sim.payments_per_day
    return RemittanceLoad(model, seed=config.seed).plan(
        per_day / SECONDS_PER_DAY, float(SECONDS_PER_DAY), n_banks, max_payments=PAYMENTS_PER_DAY_MAX
    )


class Day:
    """The running day: the rail, the banks, the load and the events, in simulated time."""

    def __init__(self, config: SimConfig, out_dir: Path, clock: VirtualClock,
                 on_progress: Callable[[Progress], None] | None) -> None:
        self.config = config
        self.scenario = config.scenario
        self.out_dir = Path(out_dir)
        self.clock = clock
        self.on_progress = on_progress
        self.scheme = sim_scheme(config)
        self.bics = [b.bic for b in self.scheme.banks]
        self.recorder = Recorder(self.out_dir, self.bics, clock.start_ns, clock.now_ns,
                                 self.scenario.sim.delayed_after_s)
        self.books = fresh_books(self.scheme)
        self.watch = BookWatch(BankBooks(self.books, self.bics), clock.start_ns, self.scenario.sim.sample_every_s,
                               self.recorder.balance, [b.prefund_paisa for b in self.scheme.banks])
        self.service: RailService | None = None
        self.operator: InProcessTransport | None = None  # the operator's calls (top-ups), as over HTTP
        self.journal: SimJournal | None = None
        self.banks: list[SimulatedBank] = []
        self.treasury: TreasuryDesk | None = None
        self.down: dict[str, str] = {}  # bic -> what happens to its customers' payments (hold | drop)
        self.held: dict[str, deque[PlannedPayment]] = {}
        self.interrupted = False
        self.notes: list[str] = []
        self._sends: dict[str, asyncio.Task] = {}  # uetr -> its send, until the rail has answered it
        self._failure: BaseException | None = None
        self._wall0 = time.perf_counter()
        self.first_offer_wall: float | None = None  # perf_counter at the first payment offered (after any skip)

    def now_s(self) -> float:
        return self.clock.monotonic()

    # ---- the run

    async def run(self) -> None:
        self._install_signals()
        await self._open()
        assert self.service is not None
        background = [asyncio.create_task(c) for c in (self._top_ups(), self._progress(), *self._outages())]
        try:
            await self._offer()
            await self._drain()
            await self._resolve_unknown()
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            await self._close()
        if self._failure is not None:
            raise self._failure

    async def _open(self) -> None:
        s, seed = self.scenario, self.config.seed
        self.journal = SimJournal.create(
            self.out_dir / rundir.JOURNAL_DIR, journal_id_for(s.name, s.sim.day, seed, self.config.payments,
                                                              [b.prefund_paisa for b in self.scheme.banks]))
        self.journal.after_batch = self.watch.after_batch

        async def takeover(_scheme: Scheme):
            return self.books

        # The operator's token is derived from the seed: its hash is journaled (SetAdminToken).
        self.service = await RailService.open(
            self.out_dir / rundir.JOURNAL_DIR, scheme=self.scheme, journal=self.journal, takeover=takeover,
            clock=self.clock, snapshots=False, admin_token=f"sim-{s.name}-{seed}",
            traces=TraceSettings(bytes_max=0),  # a day's messages are its journal; no per-message traces
        )
        api = RailApi(self.service)
        self.operator = InProcessTransport(api)
        behaviour = sim_behaviour(s.scenario.bank)
        for index, spec in enumerate(self.scheme.banks):
            rng = random.Random(f"{seed}:{spec.bic}")
            policy = ScriptedCreditor(CreditorLoadModel(behaviour, spec.bic, rng), slow_windows(s, spec.bic), rng)
            customers = [c for c in spec.customers if c.behaviour == "accept"] or spec.customers
            bank = SimulatedBank(
                spec.bic, spec.name, customers, InProcessTransport(api, spec.bic),
                Iso20022Codec("json", self.clock), behaviour, seed=seed * 1000 + index, run_clock=self.now_s,
                on_final=self.recorder.final_payment, id_tag="", policy=policy, remember_max=BANK_REMEMBER_MAX,
                send_structs=True,
            )
            self.banks.append(bank)
            bank.start()
        # The collector tuned as every rail process tunes it (rail/runtime.py): a day builds millions of objects
        # that live to its end; the default threshold would rescan them all the time (measured: 14% of the run).
        tune_gc_for_long_lived_state()
        if s.sim.treasury:
            policy = msgspec.structs.replace(s.scenario.bank.treasury, opening_balance_paisa=None)
            self.treasury = TreasuryDesk(self.operator, self.bics, policy)
            await self.treasury.open()
            self.treasury.start()

    def plan(self) -> Iterator[PlannedPayment]:
        """The day's payments in intended-time order (a generator: a day of millions is never held)."""
        return day_plan(self.config, len(self.banks))

    async def _offer(self) -> None:
        from_s, until_s = self.config.from_s, self.config.until_s
        # Drawn on the other core when this process may start one (same payments, same order: plan_feed.py)
        feed = PlanFeed(partial(day_plan, self.config, len(self.banks)), from_s, until_s)
        try:
            await self._offer_from(feed if PlanFeed.possible() else self.plan())
        finally:
            feed.close()

    async def _offer_from(self, plan: Iterable[PlannedPayment]) -> None:
        now_s = self.now_s
        from_s, until_s = self.config.from_s, self.config.until_s
        for p in plan:
            if self.interrupted or self._failure is not None or p.intended_s >= until_s:
                return
            if p.intended_s < from_s:
                continue
            if self.first_offer_wall is None:
                self.first_offer_wall = time.perf_counter()
            if p.intended_s > now_s():
                await asyncio.sleep(p.intended_s - now_s())
            debtor = self.bics[p.debtor_bank]
            self.recorder.planned(p)
            sends = self.down.get(debtor)
            if sends is None:
                self._launch(p)
            elif sends == "hold":
                self.held.setdefault(debtor, deque()).append(p)
                self.recorder.held += 1
            else:
                self.recorder.unsent_payment(p)

    def _launch(self, p: PlannedPayment) -> None:
        self.recorder.offered_payment(p)
        self._sends[p.uetr] = asyncio.get_running_loop().create_task(self._send(p))

    async def _send(self, p: PlannedPayment) -> None:
        # The bookkeeping of a send inside its task, not in a done callback: one callback fewer through the
        # loop per payment (nothing else runs in between, so the day's order of events is the same); by UETR,
        # not by asyncio.current_task(), which costs more than the dict.
        debtor, creditor = self.banks[p.debtor_bank], self.banks[p.creditor_bank]
        try:
            await debtor.send_payment(p.uetr, p.amount_paisa, p.debtor_customer, creditor, p.creditor_customer)
        except Exception as exc:
            if self._failure is None:
                self._failure = exc  # a bug, not an outcome: the run stops and says so
        finally:
            self._sends.pop(p.uetr, None)

    async def _drain(self) -> None:
        """After the last planned payment: give those in flight until DRAIN_S past midnight (or a moment after an
        interruption) to reach their final status."""
        deadline = max(self.config.until_s, self.now_s()) + (DRAIN_S if not self.interrupted else 30.0)
        while (self.recorder.in_flight or self._sends) and self.now_s() < deadline and self._failure is None:
            await asyncio.sleep(1.0)
        for bic, held in self.held.items():
            for p in held:
                self.recorder.unsent_payment(p)
            if held:
                self.notes.append(f"{bic} was still down at the end: {len(held)} held payments never sent")
        self.held.clear()

    async def _resolve_unknown(self) -> None:
        """Payments whose debtor agent never learnt a final status (it was down at the end): ask the rail."""
        for uetr, p in list(self.recorder.in_flight.items()):
            bank = self.banks[p.debtor_bank]
            try:
                info = await bank.transport.payment(uetr)
            except TransportError:
                info = {}
            status = info.get("status", "")
            if status in ("ACSC", "RJCT"):
                self.recorder.final_payment(uetr, status, info.get("reason") or "")
            else:
                self.recorder.final_payment(uetr, rundir.TIMEOUT, "")  # no final status at the rail either

    async def _close(self) -> None:
        if self.treasury is not None:
            await self.treasury.stop()
        for bank in self.banks:
            if bank.bic not in self.down:
                await bank.stop(graceful=True)
        if self.service is not None:
            await self.service.close()
        if self.journal is not None:
            # The end of the day, after the last batch (what replay can take again from the journal alone)
            self.watch.sample(self.journal.last_seq, self.journal.last_batch_ns)
        self.recorder.close()

    # ---- events

    def _outages(self) -> list:
        return [self._outage(o.bic, seconds_of_day(o.start), seconds_of_day(o.end), o.sends)
                for o in self.scenario.sim.outages]

    async def _outage(self, bic: str, start_s: float, end_s: float, sends: str) -> None:
        bank = self.banks[self.bics.index(bic)]
        await sleep_until(self.now_s, start_s)
        self.down[bic] = sends
        await bank.stop(graceful=True)  # its inbox goes unread: the rail times its payments out (AB05)
        await sleep_until(self.now_s, end_s)
        del self.down[bic]
        bank.start()
        for p in self.held.pop(bic, ()):
            self._launch(p)

    async def _top_ups(self) -> None:
        prefunding = {b.bic: b.prefund_paisa for b in self.scheme.banks}
        topups = self.scenario.sim.topups if self.config.scripted_topups else []
        schedule = [(seconds_of_day(t.at), bic, amount) for t in topups for bic, amount in top_up_amounts(t, prefunding)]
        for at_s, bic, amount in sorted(schedule, key=lambda e: e[0]):
            await sleep_until(self.now_s, at_s)
            assert self.operator is not None
            answer = await self.operator.liquidity(bic, amount, "in")
            if answer["ok"]:
                self.recorder.top_up(bic, amount)

    async def _progress(self) -> None:
        while True:
            await asyncio.sleep(PROGRESS_EVERY_S)
            if self.on_progress is not None:
                self.on_progress(self.progress())

    def progress(self) -> Progress:
        r = self.recorder
        return Progress(self.now_s(), r.offered, r.final, r.by_status.get("ACSC", 0), r.by_reason.get("AM04", 0),
                        r.by_reason.get("AB05", 0), time.perf_counter() - self._wall0)

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self._on_signal, sig, task)

    def _on_signal(self, sig: signal.Signals, task: asyncio.Task | None) -> None:
        if self.interrupted and task is not None:
            task.cancel()  # a second signal stops at once
            return
        self.interrupted = True
        self.notes.append(f"interrupted by {sig.name} at {_clock_text(self.now_s())}: the payments planned after "
                          "it were never offered; every figure covers the part of the day simulated")

    # ---- results

    def liquidity(self) -> dict[str, rundir.LiquidityRecord]:
        closing = BankBooks(self.books, self.bics).balances()
        out = {}
        for index, spec in enumerate(self.scheme.banks):
            counts = self.recorder.banks[spec.bic]
            topups, topups_paisa = counts.topups, counts.topups_paisa
            if self.treasury is not None:
                record = self.treasury.records[spec.bic]
                topups, topups_paisa = topups + record.topups_count, topups_paisa + record.topups_paisa
            lowest = self.watch.lowest_available[index]
            out[spec.bic] = rundir.LiquidityRecord(
                opening_balance_paisa=spec.prefund_paisa, topups_count=topups, topups_paisa=topups_paisa,
                min_balance_paisa=spec.prefund_paisa if lowest is None else lowest,
                closing_balance_paisa=closing[index][0], gross_sent_paisa=counts.sent_settled_paisa,
                gross_received_paisa=counts.received_settled_paisa,
            )
        return out

    def summary(self, started_at: str, wall_s: float) -> rundir.SimSummary:
        s, r = self.scenario, self.recorder
        assert self.journal is not None
        digest, size = journal_digest(self.out_dir / rundir.JOURNAL_DIR)
        weights = bank_weights(len(self.scheme.banks), s.scenario.load.bank_size_exponent)
        simulated_s = self.now_s()
        # From the first payment offered to the end: without the set-up and the plan skipped before --from
        offering_s = wall_s - ((self.first_offer_wall or self._wall0) - self._wall0)
        return rundir.SimSummary(
            schema_version=rundir.SIM_SCHEMA_VERSION, tool_version=TOOL_VERSION, scenario=s.name,
            scenario_file=s.path, description=s.description, seed=self.config.seed, day=s.sim.day,
            tick_ms=s.sim.tick_ms, payments_requested=self.config.payments,
            prefund_percent=self.config.prefund_percent, scripted_topups=self.config.scripted_topups,
            banks=[rundir.SimBank(b.bic, b.name, round(w / sum(weights), 4), b.prefund_paisa)
                   for b, w in zip(self.scheme.banks, weights, strict=True)],
            events=msgspec.to_builtins(s.sim), dns_cycles_per_day=list(s.sim.dns_cycles_per_day),
            delayed_after_s=s.sim.delayed_after_s, payments_offered=r.offered, payments_final=r.final,
            counts_by_status=dict(sorted(r.by_status.items())), counts_by_reason=dict(sorted(r.by_reason.items())),
            payments_delayed=r.delayed, payments_held=r.held, journal_digest=digest, journal_bytes=size,
            journal_batches=self.journal.last_seq, journal_commands=self.journal.commands,
            simulated_s=round(simulated_s, 3), started_at=started_at, wall_s=round(wall_s, 3),
            payments_per_wall_s=round(r.offered / wall_s, 1) if wall_s > 0 else 0.0,
            offering_wall_s=round(offering_s, 3),
            sim_to_real=round(simulated_s / wall_s, 1) if wall_s > 0 else 0.0,
            peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            interrupted=self.interrupted, notes=self.notes,
        )


def _clock_text(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def simulate(config: SimConfig, out_dir: Path,
             on_progress: Callable[[Progress], None] | None = None) -> rundir.SimSummary:
    """Simulate one day into `out_dir` (a new directory): journal, payments, balances, liquidity, summary."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = day_start(config.scenario.sim.day)
    clock = VirtualClock(int(start.timestamp()) * NS_PER_S)
    started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    wall0 = time.perf_counter()
    day = Day(config, out_dir, clock, on_progress)
    threshold = gc.get_threshold()
    try:
        run_simulated(day.run(), clock, config.scenario.sim.tick_ms * NS_PER_MS)
    finally:  # the caller's process as it was (a test, a sweep worker running several days)
        thaw()
        gc.set_threshold(*threshold)
    wall_s = time.perf_counter() - wall0
    rundir.write_liquidity(out_dir, day.liquidity())
    summary = day.summary(started_at, wall_s)
    rundir.write_json(out_dir / rundir.SIMULATION_JSON, summary)
    return summary
