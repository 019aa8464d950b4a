"""The load-test harness: an open-loop scheduler, honest latency figures and an end-of-run reconciliation.

Method (ANCHORS.md §5, Mojaloop's performance method):

* **Open model.** Payments are planned in advance by the load model (Poisson arrivals at the offered rate)
  and each is sent at its *intended* time whatever happened to the previous ones. Every latency is measured
  from the intended time, so a rail (or harness) that stalls shows the full stall in the percentiles instead
  of hiding it (no coordinated omission, as wrk2 does). A payment handed to the rail more than
  ``LATE_SEND_MS`` after its intended time is counted as a **late send**: when that count grows, the harness
  itself is saturated and its figures say so.
* **HDR histograms** (3 significant digits, microsecond resolution) per stage: intended -> the rail's
  synchronous answer (ACTC, or an immediate RJCT), and intended -> final status (ACSC/RJCT) at the debtor agent.
* **Warm-up excluded, steady-state window.** Payments intended before ``warmup_s`` do not count towards the
  percentiles or rates; rates are over the steady window only.
* **Outcomes**: counts by final status and reason; **timeouts** (no final status seen within
  ``payment_timeout_s`` of the intended time, and none found by a status query afterwards) are counted
  separately from the rail's own RJCT AB05.
* **Reconciliation**: every payment seen ACSC must be settled in the rail's balances (per bank, the rail's
  posted movement equals the harness's ACSC flows plus treasury top-ups, no reservation left pending, the
  rail's conservation check true) and credited exactly once in the creditor bank's books, and no bank may
  have credited a payment the harness did not see settle. Any mismatch is listed and fails the run.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
from hdrh.histogram import HdrHistogram

from participants.bank import BankBehaviour, SimulatedBank
from participants.remittance import (
    MAX_PAYMENTS_PER_RUN,
    LoadModel,
    PlannedPayment,
    RemittanceLoad,
    uuid4_text,
)
from participants.transport import InProcessRail, RailUnreachable, TransportError
from participants.treasury import TreasuryDesk, posted_balance_paisa, settlement_balance_paisa
from rail import rundir, scenario_file

TOOL_VERSION = "0.1.0"

LATE_SEND_MS = 10.0  # a send later than this after its intended time is a late send (saturation signal)
LATE_SHARE_WARN = 0.01  # above this share of late sends the run says the generator was saturated
IN_FLIGHT_MAX = 200_000  # payments sent and not final; beyond this new payments are not sent (UNSENT)
LAUNCH_EARLY_S = 0.0005  # a payment due within this is launched now rather than after another timer
LAUNCH_BURST_MAX = 64  # launches in a row (when behind) before the loop gets to process answers
SEND_RETRY_S = 0.1  # a send that could not reach the rail is retried (same UETR: idempotent at the rail)
SEND_RETRY_S_MAX = 1.0
STATUS_QUERIES_CONCURRENT_MAX = 32
STATUS_QUERIES_MAX = 50_000  # payments resolved by GET /v1/payments at the end of a run
BOOKS_SETTLE_S_MAX = 5.0  # after the drain, how long creditor banks get to process ACSCs still in flight
# After an interruption (Ctrl-C, SIGTERM) the run stops offering load at once; payments in flight get this
# long to reach their final status (the simulated banks answer within ~150 ms), the books a moment more.
INTERRUPTED_DRAIN_S = 3.0
INTERRUPTED_BOOKS_SETTLE_S = 1.0
WEBHOOK_BODY_BYTES_MAX = 64 * 1024 * 1024  # one delivery holds at most the rail's page of messages
HDR_LOWEST_US = 1
HDR_HIGHEST_US = 3_600_000_000  # one hour
HDR_DIGITS = 3

SCENARIOS_DIR = Path(__file__).with_name("scenarios")


class Scenario(msgspec.Struct, frozen=True):
    """A scenario file: the load model plus the banks' behaviour (see docs/load.md)."""

    name: str = "default"
    description: str = ""
    load: LoadModel = LoadModel()
    bank: BankBehaviour = BankBehaviour()


def load_scenario(path: str | Path | None) -> Scenario:
    """Read a scenario TOML file; a bare name ("eid_peak") means a shipped scenario; None means default."""
    path = scenario_file.find(path if path is not None else "default", [SCENARIOS_DIR])
    data = scenario_file.read(path, [SCENARIOS_DIR])
    name = data.get("name", path.stem)
    data.setdefault("name", name)
    load = dict(data.get("load", {}))
    load.setdefault("name", name)
    if "description" in data:
        load.setdefault("description", data["description"])
    data["load"] = load
    try:
        return msgspec.convert(data, Scenario, strict=False)
    except msgspec.ValidationError as exc:
        raise ValueError(f"scenario {path}: {exc}") from None


class LoadConfig(msgspec.Struct, frozen=True):
    rate_per_s: float
    duration_s: float
    warmup_s: float = 0.0
    seed: int = 1
    banks: int = 8
    payment_timeout_s: float = 30.0  # > the scheme's 20 s hard stop: the rail always answers first
    scenario: Scenario = Scenario()
    rendering: str = "xml"
    # Non-zero: UETRs are re-derived from this salt, so a rerun with the same seed against a rail that
    # remembers earlier payments is not answered as a resend (same amounts, banks and timing; new ids).
    uetr_salt: int = 0
    # Which of the target's banks this process simulates (default: the first `banks`). Disjoint lists let a
    # fleet be split over several processes or machines against one rail; payments stay within each list.
    bank_bics: list[str] | None = None
    # After the drain, how long creditor banks get to process ACSCs still in flight before reconciling.
    books_settle_s: float = BOOKS_SETTLE_S_MAX


class Hdr:
    """An HDR histogram of latencies in microseconds, summarised in milliseconds.

    Recording is on the hot path (twice a payment): hdrh's `record_value` is pure Python (~5 us), so values are
    counted here at the histogram's own resolution (HDR_DIGITS significant digits: a value's lowest equivalent
    value, which is what the histogram keeps of it) and handed over in `stats()`, one `record_value(value,
    count)` per distinct value: the same histogram, built at a fraction of the cost. The mean is exact (the sum
    of what was recorded), not walked over the buckets (hdrh's `get_mean_value` iterates all of them: ~0.1 s)."""

    # Values below 2 ** SUB_BUCKET_BITS are kept exactly; above, to 2 ** (bit_length - SUB_BUCKET_BITS): HDR's
    # sub-bucket count for HDR_DIGITS digits is the power of two above 2 * 10 ** HDR_DIGITS.
    SUB_BUCKET_BITS = (2 * 10**HDR_DIGITS - 1).bit_length()

    __slots__ = ("counts", "sum_us")

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.sum_us = 0

    def record_s(self, seconds: float) -> None:
        us = min(max(int(seconds * 1_000_000), HDR_LOWEST_US), HDR_HIGHEST_US)
        self.sum_us += us
        shift = us.bit_length() - self.SUB_BUCKET_BITS
        if shift > 0:
            us = us >> shift << shift
        counts = self.counts
        counts[us] = counts.get(us, 0) + 1

    def histogram(self) -> HdrHistogram:
        h = HdrHistogram(HDR_LOWEST_US, HDR_HIGHEST_US, HDR_DIGITS)
        for value, count in self.counts.items():
            h.record_value(value, count)
        return h

    def stats(self) -> rundir.LatencyStats:
        n = sum(self.counts.values())
        if n == 0:
            return rundir.LatencyStats(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        h = self.histogram()
        p = h.get_percentile_to_value_dict([50.0, 90.0, 99.0, 99.9])
        return rundir.LatencyStats(
            count=n,
            p50_ms=p[50.0] / 1000, p90_ms=p[90.0] / 1000, p99_ms=p[99.0] / 1000, p999_ms=p[99.9] / 1000,
            max_ms=h.get_max_value() / 1000, mean_ms=round(self.sum_us / n / 1000, 3),
        )


class Target:
    """Where the rail is and how to talk to it as operator and as each participant."""

    kind = "abstract"
    label = ""

    def __init__(self, admin: Any, participant_factory: Callable[[str, str], Any], scheme: Any, label: str,
                 kind: str):
        self.admin = admin
        self._participant = participant_factory
        self.scheme = scheme
        self.label = label
        self.kind = kind

    def participant(self, bic: str, token: str) -> Any:
        return self._participant(bic, token)


def http_target(url: str, admin_token: str | None, scheme: Any | None = None, client: str = "lean") -> Target:
    """A rail over HTTP. `scheme` defaults to the default scheme (its banks and customers are deterministic,
    so the harness knows them without asking the rail)."""
    from participants.transport import HttpTransport

    if scheme is None:
        from rail.scheme import default_scheme

        scheme = default_scheme()
    admin = HttpTransport(url, admin_token=admin_token, client=client)
    return Target(admin, lambda bic, token: HttpTransport(url, token, client=client), scheme, url, "http")


def inprocess_target(rail: InProcessRail) -> Target:
    """The rail in this process (rail/api/routes.py's RailApi, or a test double), as the operator and its banks."""
    from participants.transport import InProcessTransport

    admin = InProcessTransport(rail)
    return Target(admin, lambda bic, token: InProcessTransport(rail, bic), rail.scheme, "in-process", "inprocess")


class Progress(msgspec.Struct):
    """A live snapshot for the progress display."""

    elapsed_s: float
    duration_s: float
    offered: int
    sent: int
    in_flight: int
    acsc: int
    rjct: int
    timeouts: int
    late: int
    p99_ms_last_s: float | None
    phase: str


class LoadResult(msgspec.Struct):
    summary: rundir.RunSummary
    payments: list[rundir.PaymentRow]
    timeseries: list[rundir.TimeseriesRow]
    liquidity: dict[str, rundir.LiquidityRecord]
    metrics_text: str | None = None

    @property
    def ok(self) -> bool:
        return self.summary.reconciliation.ok


class _Second:
    __slots__ = ("offered", "sent", "acsc", "rjct", "timeouts", "late", "latencies_ms")

    def __init__(self) -> None:
        self.offered = self.sent = self.acsc = self.rjct = self.timeouts = self.late = 0
        self.latencies_ms: list[float] = []


def checked_config(config: LoadConfig, available: list[str]) -> LoadConfig:
    """``config`` checked against the target's banks (``available`` BICs), before anything starts: ValueError
    with the option to change. With --bank-bics, ``banks`` becomes their number."""
    expected = config.rate_per_s * config.duration_s
    if expected > MAX_PAYMENTS_PER_RUN * 0.95:
        raise ValueError(f"--rate x --duration plans ~{expected:,.0f} payments, more than one run holds "
                         f"({MAX_PAYMENTS_PER_RUN:,}): split it into shorter runs or several processes")
    if config.bank_bics:
        unknown = [bic for bic in config.bank_bics if bic not in available]
        if unknown:
            raise ValueError(f"--bank-bics: {', '.join(unknown)} not in the target's scheme ({', '.join(available)})")
        if len(set(config.bank_bics)) < 2:
            raise ValueError("--bank-bics needs at least 2 different banks")
        config = msgspec.structs.replace(config, banks=len(config.bank_bics))
    if config.banks < 2:
        raise ValueError(f"--banks {config.banks}: a payment needs two banks, give at least 2")
    if config.banks > len(available):
        raise ValueError(f"--banks {config.banks}: the target's scheme has {len(available)} simulated banks")
    return config


class LoadRun:
    """One run of the harness against one target. Use `await LoadRun(...).run()`."""

    def __init__(self, target: Target, config: LoadConfig, codec_factory: Callable[[], Any],
                 on_progress: Callable[[Progress], None] | None = None, progress_interval_s: float = 0.5,
                 on_ready: Callable[[], None] | None = None):
        config = checked_config(config, [b.bic for b in target.scheme.banks])
        self.target = target
        self.config = config
        self.codec_factory = codec_factory
        self.on_progress = on_progress
        self.progress_interval_s = progress_interval_s
        # Called once the plan and the banks are set up, before the first payment: where an application tunes
        # its process for what lives the whole run (rail/runtime.py's freeze_long_lived), if it wants to.
        self.on_ready = on_ready
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]  # set by run()
        self.t0 = 0.0  # loop time of intended offset 0
        self.phase = "setup"
        self.notes: list[str] = []
        self.banks: list[SimulatedBank] = []
        self.plan: list[PlannedPayment] = []
        # Per-payment state, indexed by plan seq (arrays: cheap at thousands of payments per second).
        self.sent_at: list[float | None] = []
        self.answer_at: list[float | None] = []
        self.final_at: list[float | None] = []
        self.final_status: list[str] = []
        self.final_reason: list[str] = []
        self.resolved_by_query: set[int] = set()
        self.seq_by_uetr: dict[str, int] = {}
        self.in_flight = 0
        self.late = 0
        self.unsent = 0
        self.seconds: list[_Second] = []
        self.hdr_answer = Hdr()
        self.hdr_e2e = Hdr()
        self.send_gaps: list[tuple[float, float]] = []
        self._gap_start: float | None = None
        self._final_event = asyncio.Event()
        self._sending: dict[int, asyncio.Task] = {}  # plan seq -> its send, until the rail has answered it
        self._next_launch = 0  # plan index of the next payment to launch
        self._tick_handle: asyncio.Handle | None = None
        self.treasury: TreasuryDesk | None = None
        self._uncredited: list[PlannedPayment] | None = None
        self._webhook_runner: Any = None
        self._schedule_task: asyncio.Task | None = None
        self.interrupted_at_s: float | None = None  # set by interrupt(): load stopped there
        self.interrupted_by = ""

    # ---- clock --------------------------------------------------------------------------------------

    def run_s(self) -> float:
        return self.loop.time() - self.t0 if self.loop is not None else 0.0

    def _second(self, t_s: float) -> _Second:
        i = max(0, int(t_s))
        while len(self.seconds) <= i:
            self.seconds.append(_Second())
        return self.seconds[i]

    # ---- setup --------------------------------------------------------------------------------------

    async def setup(self) -> None:
        cfg = self.config
        model = RemittanceLoad(cfg.scenario.load, seed=cfg.seed)
        self.plan = list(model.plan(cfg.rate_per_s, cfg.duration_s, cfg.banks))
        if cfg.uetr_salt:
            self.plan = [msgspec.structs.replace(p, uetr=_salted_uetr(p.uetr, cfg.uetr_salt)) for p in self.plan]
        n = len(self.plan)
        self.sent_at = [None] * n
        self.answer_at = [None] * n
        self.final_at = [None] * n
        self.final_status = [""] * n
        self.final_reason = [""] * n
        self.seq_by_uetr = {p.uetr: p.seq for p in self.plan}
        if cfg.bank_bics:
            by_bic = {b.bic: b for b in self.target.scheme.banks}
            scheme_banks = [by_bic[bic] for bic in cfg.bank_bics]
        else:
            scheme_banks = self.target.scheme.banks[: cfg.banks]
        admin = self.target.admin
        behaviour = cfg.scenario.bank
        hooks_url = await self._start_webhooks() if behaviour.delivery == "webhook" else None
        for index, sb in enumerate(scheme_banks):
            callback_url = f"{hooks_url}/hooks/{sb.bic}" if hooks_url else None
            registered = await admin.register(sb.bic, f"{sb.name} (simulated by rail load)", callback_url)
            customers = [c for c in sb.customers if c.behaviour == "accept"] or sb.customers
            bank = SimulatedBank(
                sb.bic, sb.name, customers, self.target.participant(sb.bic, registered["token"]),
                self.codec_factory(), behaviour=behaviour, seed=cfg.seed * 1000 + index, run_clock=self.run_s,
                on_final=self._on_final, id_tag=None if cfg.uetr_salt else "",  # --same-uetrs: the same messages
                webhook_secret=registered.get("webhook_secret"),
            )
            self.banks.append(bank)
        self.treasury = TreasuryDesk(admin, [b.bic for b in self.banks], behaviour.treasury)
        self.balances_before = await self.treasury.open()

    async def _start_webhooks(self) -> str:
        """One loopback HTTP server receiving every simulated bank's webhook deliveries (POST /hooks/{bic})."""
        from aiohttp import web

        async def deliver(request: web.Request) -> web.StreamResponse:
            bic = request.match_info["bic"]
            bank = next((b for b in self.banks if b.bic == bic), None)
            if bank is None:
                return web.Response(status=404, text=f"no simulated bank {bic} here")
            return await bank.webhook(request)

        app = web.Application(client_max_size=WEBHOOK_BODY_BYTES_MAX)
        app.router.add_post("/hooks/{bic}", deliver)
        self._webhook_runner = web.AppRunner(app, access_log=None)
        await self._webhook_runner.setup()
        site = web.TCPSite(self._webhook_runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{self._webhook_runner.addresses[0][1]}"

    # ---- sending ------------------------------------------------------------------------------------

    def _on_final(self, uetr: str, status: str, reason: str) -> None:
        seq = self.seq_by_uetr.get(uetr)
        if seq is None or self.final_status[seq]:
            return
        now = self.loop.time()
        self.final_status[seq] = status
        self.final_reason[seq] = reason
        self.final_at[seq] = now
        self.in_flight -= 1
        t_s = now - self.t0
        sec = self._second(t_s)
        if status == "ACSC":
            sec.acsc += 1
        else:
            sec.rjct += 1
        latency_s = now - (self.t0 + self.plan[seq].intended_s)
        sec.latencies_ms.append(latency_s * 1000)
        if self.plan[seq].intended_s >= self.config.warmup_s:
            self.hdr_e2e.record_s(latency_s)
        if self.in_flight == 0:
            self._final_event.set()

    async def _send(self, p: PlannedPayment) -> None:
        try:
            await self._send_until_answered(p)
        finally:
            self._sending.pop(p.seq, None)  # forgotten by itself: no done callback through the loop

    async def _send_until_answered(self, p: PlannedPayment) -> None:
        debtor = self.banks[p.debtor_bank]
        creditor = self.banks[p.creditor_bank]
        intended = self.t0 + p.intended_s
        deadline = intended + self.config.payment_timeout_s
        delay_s = SEND_RETRY_S
        while True:
            try:
                # The answer (ACTC, or a final status reported through on_final by the bank) needs no more.
                await debtor.send_payment(p.uetr, p.amount_paisa, p.debtor_customer, creditor, p.creditor_customer)
                break
            except RailUnreachable:
                now = self.loop.time()
                if self._gap_start is None:
                    self._gap_start = now - self.t0
                if now + delay_s > deadline:
                    return  # stays in flight: a timeout unless a status query finds it later
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, SEND_RETRY_S_MAX)
        if self._gap_start is not None:
            self.send_gaps.append((self._gap_start, self.run_s()))
            self._gap_start = None
        now = self.loop.time()
        self.answer_at[p.seq] = now
        if p.intended_s >= self.config.warmup_s:
            self.hdr_answer.record_s(now - intended)

    def _launch(self, p: PlannedPayment) -> None:
        now = self.loop.time()
        t_s = p.intended_s
        sec = self._second(t_s)
        sec.offered += 1
        if self.in_flight >= IN_FLIGHT_MAX:
            self.unsent += 1
            sec.late += 1
            self.late += 1
            return
        late_ms = (now - (self.t0 + t_s)) * 1000
        if late_ms > LATE_SEND_MS:
            self.late += 1
            sec.late += 1
        self.sent_at[p.seq] = now
        self._second(now - self.t0).sent += 1
        self.in_flight += 1
        self._final_event.clear()
        task = self.loop.create_task(self._send(p))
        if not task.done():
            self._sending[p.seq] = task

    async def _schedule(self) -> None:
        """Launch every planned payment at its intended time. The launches run from one timer callback at a time
        (`_launch_due`), re-armed for the next intended time: no sleeping task, future and timer per payment."""
        self.phase = "load"
        done = self.loop.create_future()
        self._tick_handle = self.loop.call_soon(self._launch_due, done)
        try:
            await done
        finally:
            if self._tick_handle is not None:
                self._tick_handle.cancel()
                self._tick_handle = None

    def _launch_due(self, done: asyncio.Future) -> None:
        """Launch the payments due now (within LAUNCH_EARLY_S), then arm the timer for the next one. When behind,
        hand the loop back every LAUNCH_BURST_MAX launches, so answers and inboxes are processed (the lateness
        that results is measured, not hidden)."""
        self._tick_handle = None
        loop, plan, t0 = self.loop, self.plan, self.t0
        try:
            for burst in range(LAUNCH_BURST_MAX):
                if self._next_launch >= len(plan):
                    done.set_result(None)
                    return
                p = plan[self._next_launch]
                intended = t0 + p.intended_s
                if intended - loop.time() > LAUNCH_EARLY_S:
                    self._tick_handle = loop.call_at(intended, self._launch_due, done)
                    return
                self._next_launch += 1
                self._launch(p)
            self._tick_handle = loop.call_soon(self._launch_due, done)
        except BaseException as exc:  # noqa: BLE001 - in a callback it would only be logged: fail the run
            if not done.done():
                done.set_exception(exc)

    async def _drain(self) -> None:
        self.phase = "drain"
        deadline = self.t0 + self.config.duration_s + self.config.payment_timeout_s
        if self.interrupted_at_s is not None:
            deadline = min(deadline, self.loop.time() + INTERRUPTED_DRAIN_S)
        while self.in_flight > 0 and self.loop.time() < deadline:
            try:
                await asyncio.wait_for(self._final_event.wait(), timeout=min(0.5, deadline - self.loop.time()))
            except asyncio.TimeoutError:
                pass

    async def _resolve_unknown(self) -> None:
        """Ask the rail about payments with no final status (a gap, or a lost message): reconcile what settled."""
        self.phase = "resolve"
        unknown = [p for p in self.plan if self.sent_at[p.seq] is not None and not self.final_status[p.seq]]
        unknown = unknown[:STATUS_QUERIES_MAX]
        if not unknown:
            return
        sem = asyncio.Semaphore(STATUS_QUERIES_CONCURRENT_MAX)

        async def query(p: PlannedPayment) -> None:
            async with sem:
                try:
                    info = await self.banks[p.debtor_bank].transport.payment(p.uetr)
                except TransportError:
                    return
            status, reason = _payment_status(info)
            if status in ("ACSC", "RJCT") and not self.final_status[p.seq]:
                self.final_status[p.seq] = status
                self.final_reason[p.seq] = reason
                self.resolved_by_query.add(p.seq)
                self.in_flight -= 1
                # The debtor bank's books follow the rail's answer too.
                self.banks[p.debtor_bank]._final(p.uetr, status, reason)

        await asyncio.gather(*(query(p) for p in unknown))
        if self.resolved_by_query:
            self.notes.append(f"{len(self.resolved_by_query)} payments had no final pacs.002 by the drain deadline "
                              f"and were resolved by a status query (GET /v1/payments)")

    async def _progress_loop(self) -> None:
        while True:
            await asyncio.sleep(self.progress_interval_s)
            if self.on_progress is not None:
                self.on_progress(self.progress())

    def progress(self) -> Progress:
        elapsed = max(0.0, self.run_s())
        acsc = rjct = timeouts = 0
        for sec in self.seconds:
            acsc += sec.acsc
            rjct += sec.rjct
            timeouts += sec.timeouts
        last = int(elapsed) - 1
        p99 = None
        if 0 <= last < len(self.seconds) and self.seconds[last].latencies_ms:
            p99 = _percentile(sorted(self.seconds[last].latencies_ms), 99.0)
        offered = sum(s.offered for s in self.seconds)
        sent = sum(s.sent for s in self.seconds)
        return Progress(elapsed, self.config.duration_s, offered, sent, self.in_flight, acsc, rjct, timeouts,
                        self.late, p99, self.phase)

    # ---- the run ------------------------------------------------------------------------------------

    def interrupt(self, reason: str) -> None:
        """Stop offering load now (Ctrl-C, SIGTERM): what was sent is drained briefly, resolved, reconciled and
        reported as a partial run (run.json ``interrupted``); payments planned after this moment never were."""
        if self.interrupted_at_s is not None:
            return
        self.interrupted_at_s = max(0.0, self.run_s()) if self.t0 else 0.0
        self.interrupted_by = reason
        if self._schedule_task is not None:
            self._schedule_task.cancel()

    async def _offer_load(self) -> None:
        """The schedule, as a task interrupt() can cancel (an outer cancellation still propagates)."""
        if self.interrupted_at_s is not None:
            return
        self._schedule_task = self.loop.create_task(self._schedule())
        try:
            await self._schedule_task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if self.interrupted_at_s is None or (current is not None and current.cancelling()):
                raise
        if self.interrupted_at_s is not None:
            self.notes.append(f"interrupted by {self.interrupted_by} at {self.interrupted_at_s:.1f} s: the "
                              f"payments planned after it were never offered; figures cover what was measured")

    async def run(self) -> LoadResult:
        self.loop = asyncio.get_running_loop()
        started_at = dt.datetime.now(dt.timezone.utc)
        await self.setup()
        if self.on_ready is not None:
            self.on_ready()
        for bank in self.banks:
            bank.start()
        assert self.treasury is not None
        self.treasury.start()
        self.t0 = self.loop.time() + 0.1  # a short lead so the first payments are not late by setup
        progress_task = self.loop.create_task(self._progress_loop())
        try:
            await self._offer_load()
            await self._drain()
            await self._resolve_unknown()
            await self._wait_books()
        finally:
            progress_task.cancel()
            await self.treasury.stop()
        self.phase = "reconcile"
        try:
            balances_after = await self.treasury.close()
        except TransportError as exc:
            balances_after = None
            self.notes.append(f"could not read the rail's balances at the end: {exc}")
        for bank in self.banks:
            await bank.stop()
        if self._webhook_runner is not None:
            await self._webhook_runner.cleanup()
        metrics_text = None
        try:
            metrics_text = await self.target.admin.metrics()
        except TransportError:
            metrics_text = None
        for task in list(self._sending.values()):
            task.cancel()
        result = self._result(started_at, balances_after, metrics_text)
        for bank in self.banks:
            await bank.transport.close()
        if self.on_progress is not None:
            self.on_progress(self.progress())
        return result

    async def _wait_books(self) -> None:
        """Creditor banks learn of ACSC through their own inbox, a moment after the debtor: let them catch up."""
        settle_s = self.config.books_settle_s
        if self.interrupted_at_s is not None:
            settle_s = min(settle_s, INTERRUPTED_BOOKS_SETTLE_S)
        deadline = self.loop.time() + settle_s
        while self.loop.time() < deadline:
            missing = self._credits_missing()
            if not missing:
                return
            await asyncio.sleep(0.05)

    def _credits_missing(self) -> int:
        """ACSC payments not yet credited by their creditor bank (rescans only those still missing)."""
        if self._uncredited is None:
            self._uncredited = [p for p in self.plan if self.final_status[p.seq] == "ACSC"]
        self._uncredited = [p for p in self._uncredited
                            if p.uetr not in self.banks[p.creditor_bank].credited_uetrs]
        return len(self._uncredited)

    # ---- results ------------------------------------------------------------------------------------

    def _result(self, started_at: dt.datetime, balances_after: dict | None, metrics_text: str | None) -> LoadResult:
        # long: the run summary, field by field in the order of rundir.RunSummary, from the run's counters.
        cfg = self.config
        counts: dict[str, int] = {}
        reasons: dict[str, int] = {}
        timeouts = 0
        payments = []
        offered = self._offered_plan()
        for p in offered:
            status = self.final_status[p.seq]
            if self.sent_at[p.seq] is None:
                status = "UNSENT"
            elif not status:
                status = "TIMEOUT"
                timeouts += 1
                self._second(p.intended_s + cfg.payment_timeout_s).timeouts += 1
            reason = self.final_reason[p.seq]
            # Counted over the whole run (rundir.COUNTS_WHOLE_RUN), like the reconciliation and payments.csv;
            # rates and latency percentiles are over the steady window.
            counts[status] = counts.get(status, 0) + 1
            if status == "RJCT":
                reasons[reason or "none"] = reasons.get(reason or "none", 0) + 1
            final_at = self.final_at[p.seq]
            latency_ms = None
            if final_at is not None and p.seq not in self.resolved_by_query:
                latency_ms = (final_at - (self.t0 + p.intended_s)) * 1000
            payments.append(rundir.PaymentRow(
                uetr=p.uetr, kind=p.kind, corridor=p.corridor, debtor_bic=self.banks[p.debtor_bank].bic,
                creditor_bic=self.banks[p.creditor_bank].bic, amount_paisa=p.amount_paisa,
                intended_at_ms=int(p.intended_s * 1000), final_status=status, reason=reason, latency_ms=latency_ms,
            ))
        end_s = cfg.duration_s if self.interrupted_at_s is None else min(cfg.duration_s, self.interrupted_at_s)
        window = rundir.SteadyWindow(start_s=min(cfg.warmup_s, end_s), end_s=end_s)
        span = max(window.end_s - window.start_s, 1e-9)
        in_window = [p for p in offered if window.start_s <= p.intended_s < window.end_s]
        offered_rate = len(in_window) / span
        finals_in_window = sum(
            1 for at in self.final_at if at is not None and window.start_s <= at - self.t0 < window.end_s
        )
        timeseries = []
        for i, sec in enumerate(self.seconds):
            lat = sorted(sec.latencies_ms)
            timeseries.append(rundir.TimeseriesRow(
                t_s=i, offered=sec.offered, sent=sec.sent, acsc=sec.acsc, rjct=sec.rjct, timeouts=sec.timeouts,
                late=sec.late, p50_ms=_percentile(lat, 50.0) if lat else None,
                p99_ms=_percentile(lat, 99.0) if lat else None,
            ))
        reconciliation = self._reconcile(balances_after)
        sent_n = sum(1 for at in self.sent_at if at is not None)
        if sent_n and self.late / sent_n > LATE_SHARE_WARN:
            self.notes.append(f"{self.late / sent_n:.1%} of payments were sent more than {LATE_SEND_MS:g} ms late: "
                              f"the load generator (or the machine it shares) could not keep up, so the offered "
                              f"load was not what was asked and the latencies include that lateness")
        liquidity = self._liquidity(balances_after)
        summary = rundir.RunSummary(
            schema_version=rundir.RUNDIR_SCHEMA_VERSION,
            tool_version=TOOL_VERSION,
            started_at=started_at.isoformat(timespec="seconds"),
            target=self.target.label,
            seed=cfg.seed,
            scenario=cfg.scenario.name,
            banks=[b.bic for b in self.banks],
            offered_rate_per_s=round(offered_rate, 3),
            achieved_rate_per_s=round(finals_in_window / span, 3),
            duration_s=cfg.duration_s,
            warmup_s=cfg.warmup_s,
            steady_state=window,
            payments_offered=len(offered),
            payments_sent=sum(1 for s in self.sent_at if s is not None),
            counts_base=rundir.COUNTS_WHOLE_RUN,
            counts_by_status=dict(sorted(counts.items())),
            counts_by_reason=dict(sorted(reasons.items())),
            timeouts=timeouts,
            late_sends=self.late,
            latency_ms={rundir.STAGE_SUBMIT_ACTC: self.hdr_answer.stats(), rundir.STAGE_END_TO_END: self.hdr_e2e.stats()},
            reconciliation=reconciliation,
            rail_gaps=[{"start_s": round(a, 3), "end_s": round(b, 3)} for a, b in self.gaps()],
            transport=self.target.kind,
            rendering=cfg.rendering,
            notes=self.notes,
            interrupted=self.interrupted_at_s is not None,
            interrupted_at_s=None if self.interrupted_at_s is None else round(self.interrupted_at_s, 3),
        )
        return LoadResult(summary, payments, timeseries, liquidity, metrics_text)

    def _offered_plan(self) -> list[PlannedPayment]:
        """The payments this run offered: all of the plan, or (interrupted) those intended before the stop."""
        if self.interrupted_at_s is None:
            return self.plan
        return [p for p in self.plan if p.intended_s < self.interrupted_at_s or self.sent_at[p.seq] is not None]

    def gaps(self) -> list[tuple[float, float]]:
        """Periods in which the rail could not be reached (from any bank or the scheduler), merged."""
        spans = sorted(self.send_gaps + [g for b in self.banks for g in b.gaps])
        merged: list[list[float]] = []
        for start, end in spans:
            if merged and start <= merged[-1][1] + 0.05:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        return [(a, b) for a, b in merged]

    def _reconcile(self, balances_after: dict | None) -> rundir.Reconciliation:
        mismatches: list[str] = []
        by_bic = {b.bic: b for b in self.banks}
        expected_delta = {b.bic: 0 for b in self.banks}
        acsc_n = acsc_amount = credited = 0
        for p in self.plan:
            if self.final_status[p.seq] != "ACSC":
                continue
            debtor, creditor = self.banks[p.debtor_bank], self.banks[p.creditor_bank]
            acsc_n += 1
            acsc_amount += p.amount_paisa
            expected_delta[debtor.bic] -= p.amount_paisa
            expected_delta[creditor.bic] += p.amount_paisa
            if p.uetr in creditor.credited_uetrs:
                credited += 1
        if credited != acsc_n:
            mismatches.append(f"{acsc_n - credited} payments seen ACSC are not credited in the creditor bank's books")
        for bank in self.banks:
            extra = [u for u in bank.credited_uetrs
                     if u not in self.seq_by_uetr or self.final_status[self.seq_by_uetr[u]] != "ACSC"]
            if extra:
                mismatches.append(f"{bank.bic} credited {len(extra)} payments the harness did not see settle "
                                  f"(e.g. {extra[0]})")
        timed_out_paisa: dict[str, int] = {}
        for p in self.plan:
            if self.sent_at[p.seq] is not None and not self.final_status[p.seq]:
                bic = self.banks[p.debtor_bank].bic
                timed_out_paisa[bic] = timed_out_paisa.get(bic, 0) + p.amount_paisa
        rail_checked = balances_after is not None and self.treasury is not None
        if not rail_checked:
            mismatches.append("the rail's balances could not be read at the end: settlement could not be checked")
        conserved = None
        if rail_checked:
            assert self.treasury is not None and balances_after is not None
            conserved = balances_after.get("conserved")
            if conserved is False:
                mismatches.append("the rail's conservation check is FALSE")
            for bic in expected_delta:
                before = posted_balance_paisa(self.balances_before, bic)
                after = posted_balance_paisa(balances_after, bic)
                if before is None or after is None:
                    mismatches.append(f"{bic}: the rail's balance report has no settlement account for it")
                    continue
                rec = self.treasury.records[bic]
                want = expected_delta[bic] + rec.topups_paisa - rec.withdrawn_paisa
                if after - before != want:
                    mismatches.append(f"{bic}: rail settlement balance moved {after - before} paisa, harness expected "
                                      f"{want} (ACSC flows {expected_delta[bic]} + top-ups {rec.topups_paisa}); "
                                      f"difference {after - before - want}")
                available = settlement_balance_paisa(balances_after, bic)
                pending = after - available if available is not None else 0
                unresolved = timed_out_paisa.get(bic, 0)
                if pending > unresolved:
                    mismatches.append(f"{bic}: {pending} paisa still reserved (pending) at the rail after the "
                                      f"drain, more than its {unresolved} paisa of timed-out payments")
                elif pending:
                    self.notes.append(f"{bic}: {pending} paisa reserved at the rail for payments the harness timed "
                                      f"out (no final status yet)")
        del by_bic
        return rundir.Reconciliation(
            ok=not mismatches, acsc_payments=acsc_n, acsc_amount_paisa=acsc_amount, credited_in_books=credited,
            rail_conserved=conserved, rail_checked=rail_checked, mismatches=mismatches,
        )

    def _liquidity(self, balances_after: dict | None) -> dict[str, rundir.LiquidityRecord]:
        sent = {b.bic: 0 for b in self.banks}
        received = {b.bic: 0 for b in self.banks}
        for p in self.plan:
            if self.final_status[p.seq] == "ACSC":
                sent[self.banks[p.debtor_bank].bic] += p.amount_paisa
                received[self.banks[p.creditor_bank].bic] += p.amount_paisa
        out = {}
        assert self.treasury is not None
        for bic, rec in self.treasury.records.items():
            out[bic] = rundir.LiquidityRecord(
                opening_balance_paisa=rec.opening_balance_paisa, topups_count=rec.topups_count,
                topups_paisa=rec.topups_paisa, min_balance_paisa=rec.min_balance_paisa,
                closing_balance_paisa=rec.closing_balance_paisa, gross_sent_paisa=sent[bic],
                gross_received_paisa=received[bic],
            )
        return out


def _salted_uetr(uetr: str, salt: int) -> str:
    """str(uuid.UUID(int=UUID(uetr).int ^ salt, version=4)) without building two UUIDs (once a planned payment)."""
    return uuid4_text(int(uetr.replace("-", ""), 16) ^ (salt & ((1 << 128) - 1)))


def _payment_status(info: dict) -> tuple[str, str]:
    """(status, reason) from GET /v1/payments/{uetr}; tolerant of the exact field names."""
    if not isinstance(info, dict):
        return "", ""
    status = info.get("status") or info.get("final_status") or info.get("state") or ""
    reason = info.get("reason") or info.get("reason_code") or ""
    return str(status).upper(), str(reason or "")


def _percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    k = max(0, min(len(sorted_values) - 1, math.ceil(pct / 100.0 * len(sorted_values)) - 1))
    return sorted_values[k]


def default_run_dir(prefix: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return Path("runs") / f"{prefix}-{stamp}-{os.getpid()}"


def write_result(result: LoadResult, out_dir: Path) -> Path:
    return rundir.write_run_dir(out_dir, result.summary, result.payments, result.timeseries, result.liquidity,
                                result.metrics_text)


__all__ = [
    "LoadConfig", "LoadResult", "LoadRun", "Progress", "Scenario", "Target", "http_target", "inprocess_target",
    "load_scenario", "write_result",
]
