"""The harness against a fake rail: open-loop timing, outcomes, outages, reconciliation, run directory."""

from __future__ import annotations

import msgspec
import pytest
from test_participants_fakes import FakeRail, JsonCodec

from participants.bank import BankBehaviour, Outage
from participants.harness import LoadConfig, LoadRun, Scenario, inprocess_target, write_result
from participants.transport import RailUnreachable
from participants.treasury import Treasury
from rail import rundir

FAST_BANKS = BankBehaviour(accept_latency_ms_median=2.0, accept_latency_sigma=0.3, reject_rate=0.05,
                           inbox_wait_s=0.2)


def config(rate=200.0, duration=2.0, banks=4, behaviour=FAST_BANKS, warmup=0.0, timeout=5.0, seed=3):
    return LoadConfig(rate_per_s=rate, duration_s=duration, warmup_s=warmup, seed=seed, banks=banks,
                      payment_timeout_s=timeout, scenario=Scenario(bank=behaviour), rendering="json")


async def run(rail: FakeRail, cfg: LoadConfig):
    return await LoadRun(inprocess_target(rail), cfg, JsonCodec).run()


async def test_every_payment_reaches_a_final_status_and_reconciles(tmp_path):
    rail = FakeRail(n_banks=4)
    result = await run(rail, config())
    s = result.summary
    assert s.payments_sent == s.payments_offered > 300
    assert set(s.counts_by_status) <= {"ACSC", "RJCT"}
    assert s.counts_by_status["ACSC"] > 0.85 * s.payments_offered
    assert set(s.counts_by_reason) <= {"AC04", "AC06", "AC01", "BE01", "AG01", "RR04"}
    assert s.timeouts == 0
    assert s.reconciliation.ok, s.reconciliation.mismatches
    assert s.reconciliation.credited_in_books == s.counts_by_status["ACSC"]
    e2e = s.latency_ms[rundir.STAGE_END_TO_END]
    assert e2e.count == s.payments_offered and 0 < e2e.p50_ms <= e2e.p99_ms <= e2e.max_ms
    # the run directory round-trips
    write_result(result, tmp_path)
    assert rundir.read_run_summary(tmp_path) == s
    rows = list(rundir.read_payments(tmp_path))
    assert len(rows) == s.payments_offered and {r.final_status for r in rows} <= {"ACSC", "RJCT"}
    series = list(rundir.read_timeseries(tmp_path))
    assert sum(r.offered for r in series) == s.payments_offered
    assert set(rundir.read_liquidity(tmp_path)) == set(s.banks)


async def test_same_seed_same_payments_and_outcomes():
    a = await run(FakeRail(n_banks=3), config(rate=100, duration=1.0, banks=3, seed=9))
    b = await run(FakeRail(n_banks=3), config(rate=100, duration=1.0, banks=3, seed=9))
    key = lambda r: [(p.uetr, p.amount_paisa, p.debtor_bic, p.creditor_bic, p.final_status) for p in r.payments]
    assert key(a) == key(b)


async def test_latency_is_measured_from_the_intended_send_time_when_the_rail_stalls():
    # The fake rail blocks the whole event loop for 0.6 s inside one submit: payments due during the stall go
    # out late. Measured from their intended time their latency includes the stall (no coordinated omission),
    # and the late-send counter shows the harness could not send on time.
    rail = FakeRail(n_banks=4, stall_at_submit=100, stall_s=0.6)
    result = await run(rail, config(rate=300, duration=2.0))
    s = result.summary
    e2e = s.latency_ms[rundir.STAGE_END_TO_END]
    assert e2e.max_ms >= 550
    assert e2e.p99_ms >= 300  # ~30% of payments were due during the stall
    assert s.late_sends >= 0.5 * 300 * 0.6
    answer = s.latency_ms[rundir.STAGE_SUBMIT_ACTC]
    assert answer.max_ms >= 550  # the synchronous answer is measured from the intended time too
    assert any("could not keep up" in note for note in s.notes)  # the run says its generator was saturated
    assert s.reconciliation.ok


async def test_a_bank_that_stops_answering_times_out_with_ab05_and_the_rest_continue():
    silent = "BNK2PKKA"
    behaviour = msgspec.structs.replace(FAST_BANKS, reject_rate=0.0,
                                        outages=[Outage(start_s=0.8, end_s=99, bic=silent, mode="no_answer")])
    rail = FakeRail(n_banks=4, creditor_timeout_s=1.0)
    result = await run(rail, config(rate=200, duration=2.0, behaviour=behaviour))
    late_to_silent = [p for p in result.payments if p.creditor_bic == silent and p.intended_at_ms > 900]
    others = [p for p in result.payments if p.creditor_bic != silent]
    assert late_to_silent and all(p.final_status == "RJCT" and p.reason == "AB05" for p in late_to_silent)
    assert others and all(p.final_status == "ACSC" for p in others)
    s = result.summary
    assert s.counts_by_reason.get("AB05", 0) == sum(1 for p in result.payments if p.reason == "AB05")
    assert s.timeouts == 0  # the rail answered AB05: not a harness timeout
    assert s.reconciliation.ok, s.reconciliation.mismatches


async def test_payments_without_final_status_are_counted_as_timeouts_not_lost():
    # A rail that never times anything out (creditor timeout far away) and a creditor that never answers.
    behaviour = msgspec.structs.replace(FAST_BANKS, no_answer_rate=1.0)
    rail = FakeRail(n_banks=3, creditor_timeout_s=1000)
    result = await run(rail, config(rate=50, duration=0.5, banks=3, behaviour=behaviour, timeout=0.5))
    s = result.summary
    assert s.timeouts == s.payments_offered > 5
    assert s.counts_by_status == {"TIMEOUT": s.payments_offered}
    assert s.reconciliation.ok  # nothing settled, nothing credited: consistent
    assert any("reserved at the rail for payments the harness timed out" in n for n in s.notes)
    for timer in rail.timers.values():
        timer.cancel()


async def test_reconciliation_reports_money_the_harness_did_not_see_move():
    rail = FakeRail(n_banks=3)

    class Tampering(LoadRun):
        async def _wait_books(self):
            await super()._wait_books()
            rail.posted["BNK1PKKA"] += 12_345  # money appears at the rail behind the participants' backs
            rail.posted["SBPPPKKA"] -= 12_345

    result = await Tampering(inprocess_target(rail), config(rate=50, duration=0.5, banks=3), JsonCodec).run()
    rec = result.summary.reconciliation
    assert not rec.ok and not result.ok
    assert any("BNK1PKKA" in m and "12345" in m for m in rec.mismatches)


async def test_treasury_tops_up_a_bank_below_its_threshold():
    treasury = Treasury(opening_balance_paisa=5_000_000_00, threshold_paisa=4_000_000_00, topup_paisa=10_000_000_00,
                        check_interval_ms=50)
    behaviour = msgspec.structs.replace(FAST_BANKS, treasury=treasury, reject_rate=0.0)
    rail = FakeRail(n_banks=2)
    result = await run(rail, config(rate=100, duration=1.5, banks=2, behaviour=behaviour))
    topped = {bic: rec for bic, rec in result.liquidity.items() if rec.topups_count}
    assert topped, result.liquidity
    for bic, rec in topped.items():
        assert rec.topups_paisa == rec.topups_count * 10_000_000_00
        assert rec.min_balance_paisa < 4_000_000_00
    assert all(rec.opening_balance_paisa == 5_000_000_00 for rec in result.liquidity.values())
    assert result.summary.reconciliation.ok, result.summary.reconciliation.mismatches


async def test_warmup_is_excluded_from_rates_and_latencies_and_counts_cover_the_whole_run():
    result = await run(FakeRail(n_banks=3), config(rate=200, duration=2.0, banks=3, warmup=1.0))
    s = result.summary
    assert s.counts_base == rundir.COUNTS_WHOLE_RUN
    assert sum(s.counts_by_status.values()) == len(result.payments) == s.payments_offered
    assert s.counts_by_status.get("ACSC", 0) == s.reconciliation.acsc_payments
    steady = sum(1 for p in result.payments if p.intended_at_ms >= 1000)
    assert s.latency_ms[rundir.STAGE_END_TO_END].count == steady < len(result.payments)
    assert s.steady_state == rundir.SteadyWindow(1.0, 2.0)
    assert 150 < s.offered_rate_per_s < 250


def test_too_many_banks_is_a_clear_error():
    with pytest.raises(ValueError, match="has 3 simulated banks"):
        LoadRun(inprocess_target(FakeRail(n_banks=3)), config(banks=5), JsonCodec)


async def test_a_fleet_split_over_two_harnesses_reconciles_each_half():
    import asyncio

    rail = FakeRail(n_banks=4)
    half_a = msgspec.structs.replace(config(rate=100, duration=1.0), bank_bics=["BNK0PKKA", "BNK1PKKA"])
    half_b = msgspec.structs.replace(config(rate=100, duration=1.0, seed=4), bank_bics=["BNK2PKKA", "BNK3PKKA"])
    a, b = await asyncio.gather(run(rail, half_a), run(rail, half_b))
    for result, bics in ((a, {"BNK0PKKA", "BNK1PKKA"}), (b, {"BNK2PKKA", "BNK3PKKA"})):
        assert result.summary.reconciliation.ok, result.summary.reconciliation.mismatches
        assert {p.debtor_bic for p in result.payments} | {p.creditor_bic for p in result.payments} == bics


def test_a_run_too_large_to_hold_is_refused_clearly():
    with pytest.raises(ValueError, match="split it"):
        LoadRun(inprocess_target(FakeRail(n_banks=3)), config(rate=5000, duration=3600, banks=3), JsonCodec)


async def test_a_rail_gone_at_the_end_fails_the_reconciliation_loudly():
    rail = FakeRail(n_banks=3)

    class RailVanishes(LoadRun):
        async def _wait_books(self):
            await super()._wait_books()

            async def gone():
                raise RailUnreachable("cannot reach the rail at test: connection refused")

            rail.balances = gone

    result = await RailVanishes(inprocess_target(rail), config(rate=50, duration=0.5, banks=3), JsonCodec).run()
    rec = result.summary.reconciliation
    assert not rec.ok and not rec.rail_checked
    assert any("could not be read" in m for m in rec.mismatches)


def test_hdr_counts_give_the_same_histogram_as_recording_each_value():
    """Hdr counts values at the histogram's resolution and hands them over at the end: the percentiles and the
    maximum are exactly those of recording every value into hdrh, the mean is the exact one."""
    import random

    from hdrh.histogram import HdrHistogram

    from participants.harness import HDR_DIGITS, HDR_HIGHEST_US, HDR_LOWEST_US, Hdr

    rng = random.Random(7)
    ours, theirs, total_us = Hdr(), HdrHistogram(HDR_LOWEST_US, HDR_HIGHEST_US, HDR_DIGITS), 0
    for _ in range(50_000):
        seconds = rng.lognormvariate(-3.0, 1.5)
        us = min(max(int(seconds * 1_000_000), HDR_LOWEST_US), HDR_HIGHEST_US)
        ours.record_s(seconds)
        theirs.record_value(us)
        total_us += us
    stats = ours.stats()
    want = theirs.get_percentile_to_value_dict([50.0, 90.0, 99.0, 99.9])
    assert stats.count == 50_000
    assert (stats.p50_ms, stats.p90_ms, stats.p99_ms, stats.p999_ms) == tuple(want[p] / 1000 for p in want)
    assert stats.max_ms == theirs.get_max_value() / 1000
    assert stats.mean_ms == round(total_us / 50_000 / 1000, 3)
