"""The remittance load model: reproducible, Poisson, calibrated, shaped."""

from __future__ import annotations

import csv
import statistics
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from participants.harness import load_scenario
from participants.remittance import (
    DOMESTIC_CORRIDOR,
    P2P_MEAN_PKR,
    PKR_PER_USD,
    REMITTANCE_MEAN_USD,
    LoadModel,
    RemittanceLoad,
)

SHIPPED_FLOWS = Path(__file__).resolve().parents[1] / "analytics" / "data" / "flows_pakistan.csv"


def test_same_seed_gives_the_same_payments_and_another_seed_does_not():
    a = list(RemittanceLoad(seed=42).plan(300, 5, 6))
    b = list(RemittanceLoad(seed=42).plan(300, 5, 6))
    c = list(RemittanceLoad(seed=43).plan(300, 5, 6))
    assert a == b
    assert [p.uetr for p in a] != [p.uetr for p in c]


@settings(max_examples=15)
@given(seed=st.integers(0, 2**31), banks=st.integers(2, 8))
def test_every_payment_is_between_two_different_banks_with_a_valid_amount(seed, banks):
    for p in RemittanceLoad(seed=seed).plan(200, 2, banks):
        assert p.debtor_bank != p.creditor_bank
        assert 0 <= p.debtor_bank < banks and 0 <= p.creditor_bank < banks
        assert isinstance(p.amount_paisa, int) and p.amount_paisa > 0 and p.amount_paisa % 100 == 0
        assert 0 <= p.intended_s < 2
        assert len(p.uetr) == 36 and p.uetr == p.uetr.lower() and p.uetr[14] == "4"


def test_arrivals_are_poisson_at_the_offered_rate():
    rate, duration = 2000.0, 20.0
    plan = list(RemittanceLoad(seed=7).plan(rate, duration, 8))
    expected = rate * duration
    # Poisson count: sd = sqrt(40,000) = 200; 4 sd is a bound a correct generator never misses in practice.
    assert abs(len(plan) - expected) < 4 * expected**0.5
    gaps = [b.intended_s - a.intended_s for a, b in zip(plan, plan[1:])]
    mean = statistics.fmean(gaps)
    cv = statistics.pstdev(gaps) / mean
    assert abs(mean - 1 / rate) < 0.02 / rate
    assert 0.97 < cv < 1.03  # exponential gaps have a coefficient of variation of 1 (a fixed pacing has 0)
    assert all(g >= 0 for g in gaps)


def test_ticket_sizes_are_calibrated_to_the_documented_averages():
    plan = list(RemittanceLoad(seed=11).plan(5000, 20, 8))
    remit = [p.amount_paisa / 100 for p in plan if p.kind == "remittance"]
    p2p = [p.amount_paisa / 100 for p in plan if p.kind == "p2p"]
    assert abs(statistics.fmean(remit) / (REMITTANCE_MEAN_USD * PKR_PER_USD) - 1) < 0.03
    assert abs(statistics.fmean(p2p) / P2P_MEAN_PKR - 1) < 0.08  # heavier tail (sigma 1.1): wider bound
    assert all(p.corridor == DOMESTIC_CORRIDOR for p in plan if p.kind != "remittance")


def test_corridor_shares_follow_fy2025_flows():
    model = RemittanceLoad(seed=1)
    by_code = {c.code: c for c in model.corridors}
    assert by_code["SAU"].flow_usd_bn == 9.3 and by_code["ARE"].flow_usd_bn == 7.8
    plan = [p for p in model.plan(5000, 20, 8) if p.kind == "remittance"]
    share_sau = sum(p.corridor == "SAU->PAK" for p in plan) / len(plan)
    assert abs(share_sau - by_code["SAU"].count_share) < 0.02
    # count-weighted mean ticket over corridors is the documented average
    weighted = sum(c.count_share * c.mean_ticket_usd for c in model.corridors)
    assert abs(weighted - REMITTANCE_MEAN_USD) < 1e-6


def test_shipped_flows_keep_every_column_of_the_reference_data():
    header = next(csv.reader(SHIPPED_FLOWS.open()))
    assert header == ["period", "series", "value_usd_bn", "source", "source_url", "date_published", "status", "notes"]


def test_eid_scenario_raises_remittance_intensity_above_an_ordinary_day():
    eid = load_scenario("eid_peak").load
    ordinary = msgspec_replace_calendar(eid, "2025-02-12T12:00:00+05:00")
    peak = RemittanceLoad(eid, seed=1).per_second_intensity(100, 30)
    base = RemittanceLoad(ordinary, seed=1).per_second_intensity(100, 30)
    assert sum(s["remittance"] for s in peak) > 1.4 * sum(s["remittance"] for s in base)


def test_month_end_raises_p2p_and_mean_rate_is_preserved():
    model = load_scenario("month_end").load
    load = RemittanceLoad(model, seed=1)
    seconds = load.per_second_intensity(100, 54)
    assert abs(sum(sum(s.values()) for s in seconds) / len(seconds) - 100) < 1e-6  # rate_is = "mean"
    # same hour of day (4 h per real second): 27 Jan 02:00 (ordinary) vs 30 Jan 02:00 (month end)
    ordinary, month_end = seconds[0], seconds[18]
    assert month_end["p2p"] > ordinary["p2p"] * 1.15


def msgspec_replace_calendar(model: LoadModel, start: str) -> LoadModel:
    import msgspec

    return msgspec.structs.replace(model, calendar=msgspec.structs.replace(model.calendar, start=start))
