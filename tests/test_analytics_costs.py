"""The cost model: arithmetic that adds up, reproduces the published figures, and moves the right way."""

from __future__ import annotations

import csv
import hashlib
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from analytics import costs, datasets



@pytest.fixture(scope="module")
def data() -> datasets.Datasets:
    return datasets.load()


def test_packaged_data_is_a_verbatim_copy_of_the_reference_pack():
    """SHA256SUMS holds the reference pack's checksums of the files copied from it (recorded at the copy)."""
    packaged = datasets.packaged_data_dir()
    sums = dict(
        reversed(line.split(None, 1)) for line in (packaged / "SHA256SUMS").read_text().splitlines()
    )
    for name in datasets.ALL_FILES:
        if name == datasets.PARAMETERS_CSV:
            continue  # added by the analytics package, not part of the pack
        assert hashlib.sha256((packaged / name).read_bytes()).hexdigest() == sums[name], name


@pytest.mark.parametrize("amount", [50, 200, 347, 500, 2000])
def test_components_sum_to_total_for_every_corridor_and_channel(data, amount):
    for corridor in costs.available_corridors(data):
        for result in costs.compare(data, corridor, amount):
            assert set(result.components_usd) == set(costs.COMPONENTS)
            assert sum(result.components_usd.values(), Decimal(0)) == result.total_usd
            assert result.social_cost_usd == result.total_usd + result.subsidy_usd
            assert result.total_pct == costs.pct(result.total_usd / result.amount_usd * 100)


def _published(data, corridor: str, firm_class: str, basket: int, period: str = "2025_3Q") -> Decimal:
    rows = [
        r
        for r in data.corridors
        if r.corridor == corridor
        and r.firm_class == firm_class
        and r.basket_usd == basket
        and r.period == period
    ]
    assert len(rows) == 1
    assert rows[0].total_cost_pct is not None
    return rows[0].total_cost_pct


def test_uk_to_pakistan_at_200_reproduces_the_rpw_figure(data):
    result = costs.cost(data, "GBR->PAK", "rpw_average", 200)
    assert result.total_pct == Decimal("2.392") == _published(data, "GBR->PAK", "all", 200)
    assert result.components_usd["sending_fee"] == Decimal("3.0640")  # 1.532% of 200
    assert result.components_usd["fx_margin"] == Decimal("1.7200")  # 0.86% of 200
    assert result.period == "2025_3Q"


def test_every_published_basket_with_a_split_is_reproduced(data):
    checked = 0
    for corridor in costs.rpw_corridors(data):
        for key, firm_class in costs.RPW_CHANNEL_CLASSES.items():
            for basket in datasets.RPW_BASKETS_USD:
                try:
                    result = costs.cost(data, corridor, key, basket)
                except KeyError:
                    continue
                published = _published(data, corridor, firm_class, basket, result.period)
                assert abs(result.total_pct - published) <= Decimal("0.003"), (corridor, key, basket)
                checked += 1
    assert checked >= 40


def test_negative_fx_margins_are_kept_not_clamped(data):
    result = costs.cost(data, "QAT->PAK", "rpw_average", 200, period="2025_1Q")
    assert result.components_usd["fx_margin"] == Decimal("-0.4860")


def test_flow_weighted_costs_reproduce_the_reference_pack_illustration(data):
    """COSTS.md s.6: 3.19% at $200 and 1.95% at $500 over SA, UAE, UK, US and other GCC."""
    _, _, at_200 = costs.annual_totals(data, 200)
    _, _, at_500 = costs.annual_totals(data, 500)
    assert at_200.status_quo_pct_weighted.quantize(Decimal("0.01")) == Decimal("3.19")
    assert at_500.status_quo_pct_weighted.quantize(Decimal("0.01")) == Decimal("1.95")
    assert at_200.covered_flow_usd == Decimal("30.41") * costs.USD_PER_BN


def test_pri_rebate_is_a_separate_line_and_only_from_200(data):
    at_199 = costs.cost(data, "SAU->PAK", "mto", 199)
    at_200 = costs.cost(data, "SAU->PAK", "mto", 200)
    assert at_199.subsidy_usd == 0
    assert at_200.subsidy_usd == costs.usd(Decimal(20) / Decimal("3.75"))
    assert at_200.total_usd == sum(at_200.components_usd.values(), Decimal(0))  # rebate not netted
    crypto = costs.cost(data, "SAU->PAK", "stablecoin:Tron:bank", 500)
    assert crypto.subsidy_usd == 0 and not crypto.pri_eligible


def test_raising_any_fee_raises_the_total(data):
    base = costs.cost(data, "ARE->PAK", "stablecoin:Ethereum L1:card", 200)
    dearer_chain = costs.cost(
        data, "ARE->PAK", "stablecoin:Ethereum L1:card", 200, costs.Assumptions(network_fee_level="high")
    )
    assert dearer_chain.total_usd > base.total_usd
    bank_low = costs.cost(
        data, "ARE->PAK", "stablecoin:Ethereum L1:bank", 200, costs.Assumptions(withdrawal_fee_level="low")
    )
    bank_high = costs.cost(
        data, "ARE->PAK", "stablecoin:Ethereum L1:bank", 200, costs.Assumptions(withdrawal_fee_level="high")
    )
    assert bank_high.total_usd > bank_low.total_usd
    card_low = costs.cost(
        data, "ARE->PAK", "stablecoin:Tron:card", 200, costs.Assumptions(onramp_level="low")
    )
    card_high = costs.cost(
        data, "ARE->PAK", "stablecoin:Tron:card", 200, costs.Assumptions(onramp_level="high")
    )
    assert card_high.total_usd > card_low.total_usd


@given(
    fee=st.decimals(min_value=0, max_value=20, places=3),
    bump=st.decimals(min_value=Decimal("0.001"), max_value=5, places=3),
)
def test_cost_is_monotonic_in_the_rpw_fee(fee, bump):
    """Edit a corridor row's fee (keeping the row consistent) and the modelled total must follow."""
    data = datasets.load()

    def with_fee(value: Decimal) -> datasets.Datasets:
        rows = []
        for row in data.corridors:
            if row.corridor == "GBR->PAK" and row.firm_class == "all" and row.period == "2025_3Q":
                assert row.fx_margin_pct is not None
                row = msgspec.structs.replace(row, fee_pct=value, total_cost_pct=value + row.fx_margin_pct)
            rows.append(row)
        return msgspec.structs.replace(data, corridors=tuple(rows))

    for amount in (100, 200, 350, 500, 1500):
        low = costs.cost(with_fee(fee), "GBR->PAK", "rpw_average", amount)
        high = costs.cost(with_fee(fee + bump), "GBR->PAK", "rpw_average", amount)
        assert high.total_usd >= low.total_usd
        if 200 <= amount <= 500:
            assert high.total_usd > low.total_usd


@given(st.integers(min_value=1, max_value=20000), st.integers(min_value=1, max_value=20000))
def test_percent_cost_falls_with_ticket_size_where_fees_are_flat(a, b):
    """Exchange-routed stablecoin transfers: percentage parts plus flat withdrawal fee -> % cost falls."""
    data = datasets.load()
    small, large = sorted((Decimal(a) / 10, Decimal(b) / 10))
    if small == large or small < costs.AMOUNT_USD_MIN:
        return
    for key in ("stablecoin:Tron:bank", "stablecoin:Ethereum L1:p2p", "stablecoin:Solana:card"):
        s = costs.cost(data, "SAU->PAK", key, small)
        lg = costs.cost(data, "SAU->PAK", key, large)
        # Each of the 7 components is rounded to 1/100 cent: allow that rounding, nothing more.
        rounding = 7 * costs.USD_QUANTUM / 2
        assert (lg.total_usd / large) <= (s.total_usd / small) + rounding / small + rounding / large


def test_percent_cost_falls_with_ticket_size_for_a_flat_fee_bank_corridor(data):
    """Saudi banks charge a flat SAR fee (10% of $200, 4% of $500): the model keeps that shape."""
    points = [costs.cost(data, "SAU->PAK", "bank", a).total_pct for a in costs.SWEEP_AMOUNTS_USD]
    assert points == sorted(points, reverse=True)
    assert points[0] > 20 > points[-1]


def test_p2p_premium_is_signed_and_shown_separately(data):
    at_zero = costs.cost(
        data, "SAU->PAK", "stablecoin:Tron:bank", 200, costs.Assumptions(p2p_premium_pct=Decimal(0))
    )
    with_premium = costs.cost(
        data, "SAU->PAK", "stablecoin:Tron:bank", 200, costs.Assumptions(p2p_premium_pct=Decimal(4))
    )
    with_discount = costs.cost(
        data, "SAU->PAK", "stablecoin:Tron:bank", 200, costs.Assumptions(p2p_premium_pct=Decimal(-2))
    )
    assert with_premium.components_usd["offramp"] == Decimal("-8.0000")
    assert with_discount.components_usd["offramp"] == Decimal("4.0000")
    assert with_premium.total_ex_premium_pct == at_zero.total_pct == with_discount.total_ex_premium_pct


def test_exchange_routes_do_not_count_the_network_fee_twice(data):
    bank = costs.cost(data, "ARE->PAK", "stablecoin:Tron:bank", 200)
    card = costs.cost(data, "ARE->PAK", "stablecoin:Tron:card", 200)
    assert bank.components_usd["network_fee"] == 0 and bank.components_usd["withdrawal_fee"] == Decimal(
        "1.0000"
    )
    assert card.components_usd["withdrawal_fee"] == 0 and card.components_usd["network_fee"] == Decimal(
        "1.9000"
    )


def test_low_confidence_inputs_are_flagged(data):
    stellar = costs.cost(data, "ARE->PAK", "stablecoin:Stellar:bank", 200)
    assert stellar.confidence == "low"
    assert "UNVERIFIED" in stellar.flags and "PROXY" in stellar.flags
    rpw = costs.cost(data, "GBR->PAK", "rpw_average", 200)
    assert rpw.confidence == "high" and rpw.flags == ()
    bank = costs.cost(data, "GBR->PAK", "bank", 200)
    assert "UNVERIFIED" in bank.flags  # the bank/MTO split is name-based


def test_composite_gcc_is_the_equal_weight_mean_of_its_members(data):
    members = [costs.cost(data, c, "rpw_average", 200) for c in costs.COMPOSITE_CORRIDORS["GCC->PAK"]]
    gcc = costs.cost(data, "GCC->PAK", "rpw_average", 200)
    mean_pct = sum((m.total_pct for m in members), Decimal(0)) / len(members)
    assert abs(gcc.total_pct - mean_pct) < Decimal("0.001")
    assert "DERIVED" in gcc.flags


def test_corridor_without_data_for_a_channel_is_a_clear_key_error(data):
    with pytest.raises(KeyError, match="not available"):
        costs.cost(data, "USA->PAK", "bank", 200)
    with pytest.raises(ValueError, match="outside"):
        costs.cost(data, "USA->PAK", "rpw_average", 0)


def test_shift_savings_equal_share_times_cost_gap(data):
    lines, alternatives, summary = costs.annual_totals(data, 200, Decimal("0.25"))
    mto = next(a for a in alternatives if a.channel_key == "mto")
    expected = Decimal("0.25") * (mto.status_quo_paid_usd - mto.paid_if_all_usd)
    assert abs(mto.consumer_saving_usd - expected) < Decimal("0.01")
    assert mto.subsidy_change_usd == 0  # stays in PRI channels
    tron = next(a for a in alternatives if a.channel_key == "stablecoin:Tron:bank")
    assert tron.subsidy_change_usd == costs.usd(-Decimal("0.25") * summary.subsidy_usd)
    assert {ln.series for ln in lines if ln.corridor is None} == {
        "EU countries",
        "All other countries (AUS, CAN, MYS, NOR, etc.)",
    }


def test_targets_flag_saudi_arabia_above_the_five_percent_cap(data):
    lines, summary = costs.targets(data)
    assert summary.corridors_above_cap == ("SAU->PAK",)
    assert summary.average_target_pct == 3 and summary.corridor_cap_pct == 5
    assert {ln.corridor for ln in lines} >= {"SAU->PAK", "ARE->PAK", "GBR->PAK", "USA->PAK"}


def test_user_data_dir_with_same_shape_is_used(tmp_path, data):
    for name in datasets.ALL_FILES:
        (tmp_path / name).write_bytes((datasets.packaged_data_dir() / name).read_bytes())
    path = tmp_path / datasets.CORRIDORS_CSV
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        if row["corridor"] == "GBR->PAK" and row["firm_class"] == "all" and row["period"] == "2025_3Q":
            row["fee_pct"], row["total_cost_pct"] = (
                "2.532",
                str(Decimal("2.532") + Decimal(row["fx_margin_pct"])),
            )
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    mine = datasets.load(tmp_path)
    assert costs.cost(mine, "GBR->PAK", "rpw_average", 200).total_pct == Decimal("3.392")
