"""`rail simulate` and `rail replay`: the virtual clock, determinism, replay (and its refusal of a tampered run),
the liquidity bounds and net settlement against hand-computed cases, the report, and the commands' --help."""

from __future__ import annotations

import asyncio
import csv
import shutil
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import msgspec
import pytest
from conftest import REPO

from analytics.liquidity import BoundsTracker
from analytics.netting import NettingTracker
from analytics.sim_report import build_sim_report
from participants.codec import Iso20022Codec
from participants.transport import InProcessTransport
from rail import rundir
from rail.api.identity import RateLimiter
from rail.api.routes import RailApi
from rail.api.service import RailService
from rail.clock import NS_PER_S, VirtualClock
from rail.scheme import SchemeParams
from rail.sim.journal import SimJournal, journal_id_for
from rail.sim.loop import run_simulated
from rail.sim.plan_feed import PlanFeed
from rail.sim.replay import ReplayError, replay
from rail.sim.run import SimConfig, day_plan, simulate
from rail.sim.scenario import day_start, load_sim_scenario

PAYMENTS = 1_500  # a small day: every hour has traffic, the outage and the slow creditor have payments to hit
SEED = 7
RAIL = [sys.executable, "-m", "rail"]


def _config(seed: int = SEED) -> SimConfig:
    return SimConfig(load_sim_scenario("raast_day"), seed=seed, payments=PAYMENTS)


@pytest.fixture(scope="module")
def day(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "day"
    simulate(_config(), out)
    return out


def _copy(run_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(run_dir, target)
    return target


# ---- the clock


def _customer(service: RailService, bic: str):
    bank = next(b for b in service.scheme.banks if b.bic == bic)
    return next(c for c in bank.customers if c.behaviour == "accept")


def test_a_silent_creditor_times_out_by_the_clock_not_by_sleeping(tmp_path):
    """The scheme's creditor timeout passes in simulated time: the rail answers AB05 at the deadline, and the
    wall clock barely moves."""
    clock = VirtualClock(int(day_start("2025-09-17").timestamp()) * NS_PER_S)
    timeout_ns = SchemeParams().creditor_timeout_ms * 1_000_000

    async def main():
        journal = SimJournal.create(tmp_path / "journal", journal_id_for("clock-test"))
        service = await RailService.open(tmp_path, journal=journal, clock=clock, snapshots=False)
        try:
            debtor = InProcessTransport(RailApi(service), "HABBPKKA")
            codec = Iso20022Codec("json", clock)
            payer, payee = (_customer(service, bic) for bic in ("HABBPKKA", "MEZNPKKA"))
            message = codec.pacs008(
                uetr="0b7e3b4e-9f0e-4d7a-8c1e-2f1a3b4c5d6e", msg_id="CLOCKTEST1", amount_paisa=150_000,
                debtor_bic="HABBPKKA", debtor_name=payer.name, debtor_iban=payer.iban,
                creditor_bic="MEZNPKKA", creditor_name=payee.name, creditor_iban=payee.iban)
            sent_ns = clock.now_ns()
            answer = await debtor.post("pacs.008", message, codec)
            assert answer.status in (200, 202), answer
            while (info := await debtor.payment(message.tx.uetr))["status"] not in ("ACSC", "RJCT"):
                await asyncio.sleep(0.25)  # nobody reads MEZNPKKA's inbox: only the clock can end this
            return info, clock.now_ns() - sent_ns
        finally:
            await service.close()

    wall = time.perf_counter()
    info, waited_ns = run_simulated(main(), clock, tick_ns=1_000_000)
    assert (info["status"], info["reason"]) == ("RJCT", "AB05")
    assert timeout_ns <= waited_ns <= timeout_ns + NS_PER_S
    assert time.perf_counter() - wall < timeout_ns / NS_PER_S / 2


def test_the_loop_runs_timers_in_time_then_scheduling_order_and_survives_a_failing_callback():
    clock = VirtualClock(0)
    ran: list[str] = []
    failures: list[str] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, context: failures.append(str(context["exception"])))
        loop.call_later(0.5, ran.append, "b1")
        dropped = loop.call_later(0.2, ran.append, "cancelled")
        loop.call_later(0.5, ran.append, "b2")
        loop.call_later(0.1, ran.append, "a")
        loop.call_later(0.3, _fail)
        for _ in range(150):  # enough cancelled timers that the heap is compacted
            loop.call_later(5.0, ran.append, "never").cancel()
        dropped.cancel()
        loop.set_debug(True)  # refused quietly: the lean handles have no debug mode
        assert not loop.get_debug()
        await asyncio.sleep(1.0)

    def _fail() -> None:
        raise RuntimeError("a callback failed")

    run_simulated(main(), clock, tick_ns=1_000_000)
    assert ran == ["a", "b1", "b2"]  # equal times: in the order they were scheduled
    assert failures == ["a callback failed"]
    assert clock.now_ns() == NS_PER_S


def test_rate_limits_refill_by_the_rails_clock():
    clock = VirtualClock(0)
    limiter = RateLimiter(1.0, 1.0, clock)
    assert limiter.take("HABBPKKA") == 0.0
    time.sleep(0.01)
    assert limiter.take("HABBPKKA") == pytest.approx(1.0)  # no simulated time passed: still a second to wait
    clock.advance_to(NS_PER_S)
    assert limiter.take("HABBPKKA") == 0.0


# ---- determinism and replay


def test_the_same_scenario_and_seed_write_the_same_journal_byte_for_byte(day, tmp_path):
    again = simulate(_config(), tmp_path / "again")
    first = rundir.read_sim_summary(day)
    assert again.journal_digest == first.journal_digest
    assert (tmp_path / "again" / rundir.PAYMENTS_CSV).read_bytes() == (day / rundir.PAYMENTS_CSV).read_bytes()
    assert (tmp_path / "again" / rundir.BALANCES_CSV).read_bytes() == (day / rundir.BALANCES_CSV).read_bytes()
    # ... and the day is a real one: traffic all day, settled, refused by creditors, timed out in the outage
    assert first.payments_offered > PAYMENTS * 0.9 and first.payments_final == first.payments_offered
    assert first.counts_by_status["ACSC"] > PAYMENTS * 0.9
    assert first.counts_by_reason.get("AB05", 0) > 0 and first.payments_held > 0


def test_the_plan_drawn_on_the_other_core_is_the_plan_drawn_inline(day, tmp_path, monkeypatch):
    config = msgspec.structs.replace(_config(), from_s=8 * 3600.0, until_s=9 * 3600.0)
    feed = PlanFeed(partial(day_plan, config, 8), config.from_s, config.until_s)
    try:
        fed = list(feed)
    finally:
        feed.close()
    inline = [p for p in day_plan(config, 8) if config.from_s <= p.intended_s < config.until_s]
    assert fed == inline and len(inline) > 10
    # ... and a day drawn inline (a process that may not start one, e.g. a Pool worker) is the same day
    monkeypatch.setattr(PlanFeed, "possible", staticmethod(lambda: False))
    inline_day = simulate(_config(), tmp_path / "inline")
    assert inline_day.journal_digest == rundir.read_sim_summary(day).journal_digest


def test_another_seed_writes_another_day(day, tmp_path):
    other = simulate(SimConfig(load_sim_scenario("raast_day"), seed=SEED + 1, payments=200), tmp_path / "other")
    assert other.journal_digest != rundir.read_sim_summary(day).journal_digest


def test_payments_are_recorded_in_intended_time_order(day):
    times = [row.intended_at_ms for row in rundir.read_payments(day)]
    assert times == sorted(times) and len(times) == rundir.read_sim_summary(day).payments_offered


def test_replay_of_a_recorded_day_passes(day):
    result = replay(day)
    summary = rundir.read_sim_summary(day)
    assert result.ok, result.shown
    assert (result.batches, result.commands) == (summary.journal_batches, summary.journal_commands)
    assert result.payments_checked == summary.payments_offered
    assert result.samples_checked > 24 * 8


def test_replay_fails_when_an_outcome_was_changed(day, tmp_path):
    run_dir = _copy(day, tmp_path)
    path = run_dir / rundir.PAYMENTS_CSV
    rows = list(csv.reader(path.open()))
    victim = next(r for r in rows[1:] if r[7] == "ACSC")
    victim[7], victim[8] = "RJCT", "AM04"
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    result = replay(run_dir)
    assert not result.ok and result.digest_matches
    assert any(victim[0] in line and "replay gives ACSC" in line for line in result.shown), result.shown


def test_replay_fails_when_a_balance_was_changed(day, tmp_path):
    run_dir = _copy(day, tmp_path)
    path = run_dir / rundir.BALANCES_CSV
    rows = list(csv.reader(path.open()))
    rows[len(rows) // 2][3] = str(int(rows[len(rows) // 2][3]) + 100)  # one rupee more, posted
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    result = replay(run_dir)
    assert not result.ok and any("posted_paisa recorded" in line for line in result.shown), result.shown


def test_replay_refuses_a_damaged_journal_naming_the_damage(day, tmp_path):
    run_dir = _copy(day, tmp_path)
    segment = sorted((run_dir / rundir.JOURNAL_DIR).glob("wal-*.log"))[0]
    data = bytearray(segment.read_bytes())
    data[len(data) // 2] ^= 0x01
    segment.write_bytes(bytes(data))
    with pytest.raises(ReplayError, match=r"journal is damaged: wal-\d+\.log at byte \d+"):
        replay(run_dir)
    cli = subprocess.run([*RAIL, "replay", str(run_dir)], capture_output=True, text=True, timeout=120)
    assert cli.returncode == 2 and "FAILED: the journal is damaged" in cli.stderr


def test_replay_cli_passes_and_says_so(day):
    cli = subprocess.run([*RAIL, "replay", str(day), "--json"], capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    assert '"ok": true' in cli.stdout and rundir.read_sim_summary(day).journal_digest in cli.stdout


# ---- liquidity: hand-computed


def test_bounds_and_net_settlement_of_a_tiny_day_by_hand():
    # 00:10 A pays B 100; 00:20 B pays C 60; 00:40 C pays A 30; 01:10 B pays A 50 (ms since midnight).
    payments = [("A", "B", 100, 600_000), ("B", "C", 60, 1_200_000), ("C", "A", 30, 2_400_000),
                ("B", "A", 50, 4_200_000)]
    bounds = BoundsTracker(["A", "B", "C"])
    hourly = NettingTracker(24, ["A", "B", "C"])
    daily = NettingTracker(1, ["A", "B", "C"])
    for p in payments:
        bounds.add(*p)
        hourly.add(*p)
        daily.add(*p)
    system = bounds.result()
    a, b, c = system.banks
    # A: -100, -70, then -20 at the end: UB 100, LB 20. B: +100, +40, -10: UB 10, LB 10. C: +60, +30: 0, 0.
    assert [(x.upper_bound_paisa, x.lower_bound_paisa) for x in (a, b, c)] == [(100, 20), (10, 10), (0, 0)]
    assert (system.upper_bound_paisa, system.lower_bound_paisa) == (110, 30)
    # Hourly cycles settle at 01:00 (A -70, B +40, C +30) and 02:00 (A -20, B -10, C +30): A needs 70, B 10.
    h = hourly.result(system.upper_bound_paisa)
    assert h.per_bank_needed_paisa == {"A": 70, "B": 10, "C": 0} and h.liquidity_saved_paisa == 30
    # In the first hour A ran up 100 of net debit before anything settled: the largest exposure.
    assert (h.largest_exposure_paisa, h.largest_exposure_bic, h.peak_pending_paisa) == (100, "A", 190)
    # Value-weighted wait: 100*50 + 60*40 + 30*20 + 50*50 = 10,500 paisa-minutes over 240 paisa.
    assert h.mean_delay_min == round(10_500 / 240, 2)
    # One cycle a day is the lower bound.
    d = daily.result(system.upper_bound_paisa)
    assert d.per_bank_needed_paisa == {"A": 20, "B": 10, "C": 0} and d.liquidity_needed_paisa == 30


def test_bounds_refuse_payments_out_of_time_order():
    bounds = BoundsTracker()
    bounds.add("A", "B", 1, 10)
    with pytest.raises(ValueError, match="out of time order"):
        bounds.add("A", "B", 1, 9)


# ---- the report and the commands


def test_the_report_shows_curves_bounds_refusals_and_net_settlement(day):
    report = build_sim_report(day)
    titles = [s.title for s in report.sections]
    assert any("intraday balances" in t for t in titles) and any("net settlement" in t for t in titles)
    tables = {t.name: t for t in report.tables()}
    assert len(tables["liquidity_by_bank"].rows) == 8
    assert [r["mode"] for r in tables["netting"].rows][0] == "RTGS (RAAST)"
    assert sum(r["planned"] for r in tables["outcomes_by_hour"].rows) == rundir.read_sim_summary(day).payments_offered
    assert any("Available settlement balance per bank" in f.title for f in report.figures())
    assert any("Liquidity drawn per bank" in f.title for f in report.figures())


@pytest.mark.parametrize("command", ["simulate", "replay"])
def test_help_explains_the_command(command):
    cli = subprocess.run([*RAIL, command, "--help"], capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0
    words = {"simulate": ["--scenario", "--day", "--payments", "--seed", "--sweep", "deterministic"],
             "replay": ["RUN_DIR", "balance", "Exit status"]}[command]
    for word in words:
        assert word.lower() in cli.stdout.lower(), word


def test_simulate_refuses_bad_options_clearly(tmp_path):
    for argv, message in ((["--day", "2025-02-30"], "YYYY-MM-DD"), (["--payments", "0"], "--payments"),
                          (["--scenario", "nope"], "scenario not found"), (["--sweep", "x"], "--sweep")):
        cli = subprocess.run([*RAIL, "simulate", "--out", str(tmp_path / "x"), *argv], capture_output=True,
                             text=True, timeout=60)
        assert cli.returncode == 2 and message in cli.stderr, (argv, cli.stderr)
    assert REPO.exists()


@pytest.mark.slow
def test_ctrl_c_keeps_the_part_of_the_day_simulated_and_it_replays(tmp_path):
    out = tmp_path / "cut"
    proc = subprocess.Popen([*RAIL, "simulate", "--payments", "200000", "--seed", "3", "--out", str(out),
                             "--no-report"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (out / rundir.PAYMENTS_CSV).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # some of the day simulated
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    summary = rundir.read_sim_summary(out)
    assert summary.interrupted and summary.payments_final == summary.payments_offered > 0
    assert any("interrupted by SIGINT" in note for note in summary.notes)
    assert "INTERRUPTED" in stdout
    assert replay(out).ok
