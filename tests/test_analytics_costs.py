"""The pricing model: arithmetic that adds up, reproduces the published figures, moves the right way and
follows the fairness rules (like for like, no premium by default, routes only behind a licensed ramp)."""

from __future__ import annotations

import csv
import hashlib
from decimal import Decimal

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from analytics import costs, datasets
from analytics.pricing import flows, premium, pri, routes, scorecard, services
from analytics.pricing.provenance import USD_QUANTUM

DATA = datasets.load()  # frozen: shared by the property tests, which would otherwise reload it per example


@pytest.fixture(scope="module")
def data() -> datasets.Datasets:
    return DATA


def test_packaged_data_is_a_verbatim_copy_of_the_reference_pack():
    """SHA256SUMS holds the reference pack's checksums of the files copied from it (recorded at the copy);
    the files the analytics package added (parameters, per-service quotes, ramps, ...) are cited per row."""
    packaged = datasets.packaged_data_dir()
    sums = dict(reversed(line.split(None, 1)) for line in (packaged / "SHA256SUMS").read_text().splitlines())
    assert set(sums) == set(datasets.PACK_FILES)
    for name in datasets.PACK_FILES:
        assert hashlib.sha256((packaged / name).read_bytes()).hexdigest() == sums[name], name
    licence = (packaged / "LICENSE-DATA.md").read_text(encoding="utf-8")
    for name in datasets.ADDED_FILES:
        assert name in licence, f"{name} is not documented in LICENSE-DATA.md"


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
        if r.corridor == corridor and r.firm_class == firm_class and r.basket_usd == basket and r.period == period
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
    at_200 = flows.annual_summary(data, 200)
    at_500 = flows.annual_summary(data, 500)
    assert at_200.weighted_pct == Decimal("3.187") and at_500.weighted_pct == Decimal("1.952")
    assert at_200.covered_flow_usd == Decimal("30.41") * costs.USD_PER_BN


def test_residual_flow_is_the_total_less_the_listed_sources(data):
    groups = {g.series: g for g in flows.fy2025_flow_groups(data)}
    residual = groups[flows.RESIDUAL_SERIES]
    assert residual.flow_usd == Decimal("3.39") * costs.USD_PER_BN  # 38.3 - 34.91, not the CSV's rounded 3.3
    assert "3.3" in residual.note
    assert sum(g.flow_usd for g in groups.values()) == Decimal("38.3") * costs.USD_PER_BN


def test_pri_rebate_goes_only_to_fee_free_transactions_from_200(data):
    """FY2026 rule (the 2025 Q3 quotes): SAR 20 on transactions of USD 200+ that charge no fee, so a
    channel's expected rebate is SAR 20 times the share of its corridor's services charging no fee."""
    rebate = Decimal(20) / Decimal("3.75")
    at_199 = costs.cost(data, "GBR->PAK", "rpw_average", 199)
    at_200 = costs.cost(data, "GBR->PAK", "rpw_average", 200)
    gbr = [q for q in data.services if q.corridor == "GBR->PAK" and q.amount_usd == 200]
    fee_free = Decimal(sum(1 for q in gbr if q.fee_pct == 0)) / len(gbr)
    assert at_199.subsidy_usd == 0
    assert at_200.subsidy_usd == costs.usd(rebate * fee_free) and 0 < fee_free < 1
    assert at_200.total_usd == sum(at_200.components_usd.values(), Decimal(0))  # rebate never netted
    saudi_banks = costs.cost(data, "SAU->PAK", "rpw_average", 200)
    assert saudi_banks.subsidy_usd < rebate  # Saudi banks' flat 10% fee: not rebate-eligible
    route = costs.cost(data, "GBR->PAK", "stablecoin:Tron:bank", 500)
    assert route.subsidy_usd == 0 and not route.pri_eligible


def test_pri_economics_reconcile_with_the_reported_spend(data):
    r = pri.reconcile(data)
    spend_usd = Decimal(170) * 10**9 / 280
    assert r.spend_usd == spend_usd
    # FY2025 rule: SAR 20 (base) to SAR 35 (with add-ons) per transaction, at 280/3.75 PKR per SAR.
    tx_at_20 = Decimal(170) * 10**9 / (20 * Decimal(280) / Decimal("3.75"))
    assert r.rebated_transactions_high == tx_at_20
    assert round(r.implied_ticket_usd_low) == 336 and round(r.implied_ticket_usd_high) == 589
    # The earlier model applied FY2026's rule to FY2025's covered flows at USD 200 tickets: USD 811m.
    assert round(r.fy2026_rule_on_fy2025_at_200_usd / 10**6) == 811


def test_raising_any_fee_raises_the_total(data):
    for field in ("withdrawal_fee_level", "onramp_level"):
        low = costs.cost(data, "GBR->PAK", "stablecoin:Ethereum L1:bank", 200, costs.Assumptions(**{field: "low"}))
        high = costs.cost(data, "GBR->PAK", "stablecoin:Ethereum L1:bank", 200, costs.Assumptions(**{field: "high"}))
        assert high.total_usd > low.total_usd, field


@given(
    fee=st.decimals(min_value=0, max_value=20, places=3),
    bump=st.decimals(min_value=Decimal("0.001"), max_value=5, places=3),
)
def test_cost_is_monotonic_in_the_rpw_fee(fee, bump):
    """Edit a corridor row's fee (keeping the row consistent) and the modelled total must follow."""

    def with_fee(value: Decimal) -> datasets.Datasets:
        rows = []
        for row in DATA.corridors:
            if row.corridor == "GBR->PAK" and row.firm_class == "all" and row.period == "2025_3Q":
                assert row.fx_margin_pct is not None
                row = msgspec.structs.replace(row, fee_pct=value, total_cost_pct=value + row.fx_margin_pct)
            rows.append(row)
        return msgspec.structs.replace(DATA, corridors=tuple(rows))

    for amount in (100, 200, 350, 500, 1500):
        low = costs.cost(with_fee(fee), "GBR->PAK", "rpw_average", amount)
        high = costs.cost(with_fee(fee + bump), "GBR->PAK", "rpw_average", amount)
        assert high.total_usd >= low.total_usd
        if 200 <= amount <= 500:
            assert high.total_usd > low.total_usd


@given(st.integers(min_value=1, max_value=20000), st.integers(min_value=1, max_value=20000))
def test_percent_cost_falls_with_ticket_size_where_fees_are_flat(a, b):
    """Exchange-routed stablecoin transfers: percentage parts plus a flat withdrawal fee -> % cost falls."""
    small, large = sorted((Decimal(a) / 10, Decimal(b) / 10))
    if small == large or small < costs.AMOUNT_USD_MIN:
        return
    for key in ("stablecoin:Tron:bank", "stablecoin:Ethereum L1:bank", "stablecoin:BNB Smart Chain:bank"):
        s = costs.cost(DATA, "GBR->PAK", key, small)
        lg = costs.cost(DATA, "GBR->PAK", key, large)
        # Each of the 7 components is rounded to 1/100 cent: allow that rounding, nothing more.
        rounding = 7 * USD_QUANTUM / 2
        assert (lg.total_usd / large) <= (s.total_usd / small) + rounding / small + rounding / large


def test_percent_cost_falls_with_ticket_size_for_a_flat_fee_bank_corridor(data):
    """Saudi banks charge a flat SAR fee (10% of $200, 4% of $500): the model keeps that shape."""
    points = [costs.cost(data, "SAU->PAK", "bank", a).total_pct for a in costs.SWEEP_AMOUNTS_USD]
    assert points == sorted(points, reverse=True)
    assert points[0] > 20 > points[-1]


def test_routes_exist_only_behind_a_documented_licensed_on_ramp(data):
    licensed = {"ARE->PAK", "GBR->PAK", "USA->PAK", "BHR->PAK"}
    for corridor in services.service_corridors(data):
        chains = {ch.chain for ch in costs.route_channels(data, corridor)}
        if corridor in licensed:
            assert chains == set(routes.ROUTE_CHAINS) and "BNB Smart Chain" in chains, corridor
        else:
            assert not chains, corridor  # SAU, KWT, QAT: prohibited; OMN: registration only; others: unknown
    with pytest.raises(KeyError, match="not available"):
        costs.cost(data, "SAU->PAK", "stablecoin:Tron:bank", 200)
    assert not costs.route_channels(data, "GCC->PAK") and not costs.route_channels(data, "EUR->PAK")


def test_no_premium_by_default_and_the_premium_is_signed_and_separate(data):
    default = costs.cost(data, "ARE->PAK", "stablecoin:Tron:bank", 200)
    assert default.p2p_premium_usd == 0 and default.components_usd["offramp"] == 0
    assert default.total_pct > 0
    with_premium = costs.cost(data, "ARE->PAK", "stablecoin:Tron:bank", 200, costs.Assumptions(Decimal(4)))
    with_discount = costs.cost(data, "ARE->PAK", "stablecoin:Tron:bank", 200, costs.Assumptions(Decimal(-2)))
    assert with_premium.components_usd["offramp"] == Decimal("-8.0000")
    assert with_discount.components_usd["offramp"] == Decimal("4.0000")
    assert with_premium.total_ex_premium_pct == default.total_pct == with_discount.total_ex_premium_pct


def test_a_route_prices_the_sending_currency_ramp_of_its_corridor(data):
    """GBR uses Kraken's schedule, ARE Binance's: the same chain costs differently per corridor."""
    gbr = costs.cost(data, "GBR->PAK", "stablecoin:Tron:bank", 200, costs.Assumptions.at("low"))
    are = costs.cost(data, "ARE->PAK", "stablecoin:Tron:bank", 200, costs.Assumptions.at("low"))
    assert gbr.components_usd["onramp"] == Decimal("0.4000")  # Kraken Pro stablecoin/FX 0.20% of 200
    assert are.components_usd["onramp"] == Decimal("0.2000")  # Binance spot 0.1%
    for r in (gbr, are):  # the exchange pays the network fee out of its flat withdrawal fee
        assert r.components_usd["network_fee"] == 0 and r.components_usd["withdrawal_fee"] == Decimal("1.0000")
    assert "PROXY" in gbr.flags  # Binance's withdrawal schedule stands in for Kraken's


def test_time_to_funds_covers_every_step(data):
    usa = costs.cost(data, "USA->PAK", "stablecoin:Solana:bank", 200)
    gbr = costs.cost(data, "GBR->PAK", "stablecoin:Ethereum L1:bank", 200)
    assert usa.time_low_s >= 3 * 86400  # ACH into the exchange: 3-5 business days
    # GBR on Ethereum: FPS 10 s + withdrawal 10 min + 12 s inclusion + P2P 15 min + RAAST 20 s at best.
    assert gbr.time_low_s == Decimal(10 + 600 + 12 + 900 + 20)
    assert gbr.time_high_s == Decimal(86400 + 1800 + 768 + 1800 + 20)
    assert costs.cost(data, "GBR->PAK", "rpw_average", 200).time_low_s is None  # RPW speed: not in the export


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


def test_like_for_like_tiers_are_the_cheapest_and_median_service(data):
    gbr = costs.compare_like_for_like(data, "GBR->PAK", 200)
    digital = [
        q.total_cost_pct
        for q in data.services
        if q.corridor == "GBR->PAK" and q.amount_usd == 200 and q.access_point in ("Internet", "Mobile phone")
        and q.payment_instrument != "Cash"
    ]
    assert gbr.digital is not None and gbr.digital.n_services == len(digital) == 25
    assert gbr.digital.best_pct == min(digital) == Decimal("0.46")  # UBL, bank account, internet
    assert gbr.every is not None and gbr.every.n_services == 29 and gbr.every.mean_pct == Decimal("2.392")
    # The cheapest of all services is Western Union by card over a call centre at -1.43%: shown as 0, +1.43.
    assert gbr.every.best_pct == 0 and gbr.every.best_rate_advantage_pct == Decimal("1.43")
    assert gbr.route is not None and gbr.route.n_routes == len(routes.ROUTE_CHAINS)
    best = min(costs.cost(data, "GBR->PAK", ch, 200, costs.Assumptions.at("low")).total_pct
               for ch in costs.route_channels(data, "GBR->PAK"))
    assert gbr.route.best_pct == best
    oman = costs.compare_like_for_like(data, "OMN->PAK", 200)
    assert oman.digital is None and oman.formal is oman.every  # no digital service: all services, said so
    assert costs.compare_like_for_like(data, "GBR->PAK", 350).formal is None  # RPW quotes two baskets only


def test_scorecard_covers_every_corridor_through_the_latest_quarter(data):
    lines, summary = scorecard.scorecard(data)
    assert {ln.corridor for ln in lines} == {f"{c}->PAK" for c in ("ARE", "AUS", "BHR", "CAN", "GBR", "IND", "KWT",
                                                                     "NOR", "OMN", "QAT", "SAU", "SGP", "USA")}
    assert summary.corridors_above_cap == ("SAU->PAK",)
    sau = next(ln for ln in lines if ln.corridor == "SAU->PAK")
    quotes = [q.total_cost_pct for q in data.services if q.corridor == "SAU->PAK" and q.amount_usd == 200]
    assert sau.latest_period == "2025_3Q" and sau.n_services_200 == len(quotes) == 12
    assert sau.share_le_5_200_pct == services.share(sum(1 for t in quotes if t <= 5), 12)
    assert sau.period_2018 == "2018_1Q" and sau.change_since_2018_pp is not None
    trend = scorecard.trend(data)
    assert all(points[-1][0] == "2025_3Q" for c, points in trend.items() if c != "IND->PAK")


def test_premium_break_even_is_the_route_cost_less_the_formal_cost(data):
    comparisons = costs.compare_all(data, ["ARE->PAK", "SAU->PAK"], [Decimal(200)])
    (are,) = premium.break_even(comparisons)  # SAU has no route: no break-even
    c = comparisons[0]
    assert are.best_pp == c.route.best_pct - c.formal.best_pct
    assert are.typical_pp == c.route.typical_pct - c.formal.typical_pct
    # At that premium the best route costs exactly the best formal service.
    channel = costs.channel_by_key(data, "ARE->PAK", f"stablecoin:{c.route.best_chain}:bank")
    at_break_even = costs.cost(data, "ARE->PAK", channel, 200, costs.Assumptions.at("low", are.best_pp))
    assert at_break_even.total_pct == c.formal.best_pct


def test_premium_depth_caps_what_the_premium_can_earn(data):
    points = premium.evidence(data)
    assert points[0].premium_pct == Decimal("0.562")  # 282.60 / 281.02 - 1 on 2025-10-24
    lines, with_route, depth, _ = premium.depth_cap(data, points, Decimal(1))
    assert with_route == Decimal("17.4") * costs.USD_PER_BN  # UAE + UK + US: the FY2025 sources with a route
    assert depth == 6 * costs.USD_PER_BN
    for ln in lines:
        assert ln.earning_usd == depth < ln.shifted_usd  # moving everything: the cap binds
        assert ln.transfer_usd == depth * ln.premium_pct / 100


def test_user_data_dir_with_same_shape_is_used(tmp_path, data):
    for name in datasets.ALL_FILES:
        (tmp_path / name).write_bytes((datasets.packaged_data_dir() / name).read_bytes())
    path = tmp_path / datasets.CORRIDORS_CSV
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        if row["corridor"] == "GBR->PAK" and row["firm_class"] == "all" and row["period"] == "2025_3Q":
            row["fee_pct"], row["total_cost_pct"] = ("2.532", str(Decimal("2.532") + Decimal(row["fx_margin_pct"])))
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    mine = datasets.load(tmp_path)
    assert costs.cost(mine, "GBR->PAK", "rpw_average", 200).total_pct == Decimal("3.392")
