"""The corridor lab's routes, without the rail: RPW reproduced service by service, calendars and cut-offs as the
cited rules say, liquidity peaks, scenarios. (tests/test_corridor_lab.py runs them over the real rail.)"""

from __future__ import annotations

import datetime as dt
import math
import random
from decimal import Decimal
from statistics import fmean, pstdev

import pytest

from analytics import datasets
from analytics.corridor.clock import BusinessCalendar, Timeline
from analytics.corridor.liquidity import peak_need, refill_moments
from analytics.corridor.model import DomesticResult, LiquidityUse, Remittance, Status
from analytics.corridor.params import LabData
from analytics.corridor.routes import build_routes
from analytics.corridor.routes.common import InwardWindow
from analytics.corridor.routes.correspondent import Correspondent
from analytics.corridor.routes.mto import Mto
from analytics.corridor.scenario import Scenario, load_scenario, shipped
from analytics.pricing.services import quotes

DATA = datasets.load()
PKT = dt.timezone(dt.timedelta(hours=5))
MONDAY = dt.datetime(2025, 2, 10, 10, 0, tzinfo=PKT)


class InstantRaast:
    """A stand-in for the rail where only a route's own arithmetic is under test (the real rail's leg is
    tests/test_corridor_lab.py's): every payment settles in 100 ms, paying out of the largest bank."""

    def __init__(self) -> None:
        self.paid: list[tuple[str, int]] = []

    async def pay(self, payer_bic, remittance, amount_paisa, uetr):
        self.paid.append((payer_bic, amount_paisa))
        return DomesticResult("ACSC", "", 0.1, uetr)

    def payout_bank(self, remittance, rng):
        return "HABBPKKA"


def remittance(corridor: str, amount_usd: float, seq: int = 0, at: dt.datetime = MONDAY) -> Remittance:
    amount = Decimal(str(amount_usd))
    return Remittance(seq, corridor, amount, int(amount * 280 * 100), at, 1, "ok")


@pytest.fixture()
def lab() -> LabData:
    return LabData(DATA)


def test_bank_and_mto_services_are_corridors_csv_subsets(lab):
    """The name-based split of rpw_services.csv gives corridors.csv's bank and MTO subsets: count and mean."""
    checked = 0
    for row in DATA.corridors:
        if row.firm_class not in ("bank", "mto") or row.period != "2025_3Q":
            continue
        lines = lab.services(row.corridor, bank=row.firm_class == "bank")
        amount = Decimal(row.basket_usd)
        totals = [line.cost(amount).total_pct(amount) for line in lines]
        assert len(lines) == row.n_services, (row.corridor, row.firm_class)
        assert abs(sum(totals) / len(totals) - row.total_cost_pct) <= Decimal("0.006"), (row.corridor, row.firm_class)
        checked += 1
    assert checked >= 20


def test_service_lines_reproduce_every_quote_at_both_baskets(lab):
    for corridor in ("SAU->PAK", "ARE->PAK", "GBR->PAK", "USA->PAK", "KWT->PAK"):
        lines = lab.services(corridor, True) + lab.services(corridor, False)
        for basket in (200, 500):
            amount = Decimal(basket)
            simulated = sorted(line.cost(amount).total_pct(amount) for line in lines)
            published = sorted(q.total_cost_pct for q in quotes(DATA, corridor, basket))
            assert len(simulated) == len(published)
            assert all(abs(a - b) <= Decimal("0.011") for a, b in zip(simulated, published)), corridor


async def _costs(route, corridor: str, amount: float, n: int) -> list[float]:
    rail = InstantRaast()
    out = []
    for seq in range(n):
        result = await route.send(remittance(corridor, amount, seq), random.Random(f"t:{seq}"), rail)
        assert result.status is Status.CREDITED
        out.append(float(result.total_pct))
    return out


@pytest.mark.parametrize("route_class", [Correspondent, Mto])
async def test_simulated_formal_routes_reproduce_rpw_corridor_figures(lab, route_class):
    """At RPW's own baskets, the simulated mean cost of each corridor is RPW's mean over the same services
    (within 3 standard errors of the draw) and inside the quotes' min-max spread."""
    route = route_class(lab)
    bank = route_class is Correspondent
    for corridor in sorted({q.corridor for q in DATA.services}):
        if route.not_offered(corridor):
            continue
        for basket in (200, 500):
            names = {line.provider for line in lab.services(corridor, bank)}
            rpw = [float(q.total_cost_pct) for q in quotes(DATA, corridor, basket) if q.provider in names]
            simulated = await _costs(route, corridor, basket, 400)
            error = 3 * pstdev(rpw) / math.sqrt(len(simulated)) + 0.006  # + the published rounding
            assert abs(fmean(simulated) - fmean(rpw)) <= error, (corridor, basket)
            assert min(rpw) - 0.006 <= fmean(simulated) <= max(rpw) + 0.006


async def test_correspondent_waits_for_cut_offs_and_both_weekends(lab):
    """Sent on a Thursday evening in Riyadh: the Saudi bank's next working day is Sunday (weekend Friday and
    Saturday); Swift lands on a Pakistani Sunday, so the SBP inward window opens on Monday at 09:00 PKT and the
    transfer goes by 11:00; then RAAST."""
    thursday_evening = dt.datetime(2025, 2, 13, 20, 0, tzinfo=dt.timezone(dt.timedelta(hours=3)))
    route = Correspondent(lab)
    result = await route.send(remittance("SAU->PAK", 300, at=thursday_evening), random.Random(3), InstantRaast())
    names = [step.name for step in result.steps]
    assert names[0].startswith("sending bank") and result.steps[0].kind == "wait"
    sunday = thursday_evening + dt.timedelta(seconds=result.steps[0].seconds)
    assert sunday.astimezone(dt.timezone(dt.timedelta(hours=3))).strftime("%a") == "Sun"
    assert any(n.startswith("Pakistani bank: after 15:00 or not a working day") for n in names)
    credited = result.credited_at.astimezone(PKT)
    assert credited.strftime("%a") == "Mon" and 9 <= credited.hour < 11 + 1
    assert result.time_to_credit_s == pytest.approx(sum(s.seconds for s in result.steps))


async def test_sbp_inward_window(lab):
    window = InwardWindow(lab)
    inside = Timeline(dt.datetime(2025, 2, 12, 10, 0, tzinfo=PKT))  # a Wednesday, 10:00 PKT
    await window.process(inside, random.Random(1))
    assert 0 < inside.elapsed_s <= 2 * 3600  # SBP: within two hours
    friday_late = Timeline(dt.datetime(2025, 2, 14, 15, 30, tzinfo=PKT))
    await window.process(friday_late, random.Random(1))
    monday = friday_late.now.astimezone(PKT)
    assert monday.strftime("%a") == "Mon" and (9, 0) <= (monday.hour, monday.minute) <= (11, 0)


def test_calendars_know_each_weekend(lab):
    uae, saudi = lab.calendar("ARE"), lab.calendar("SAU")
    friday = dt.datetime(2025, 2, 14, 12, 0, tzinfo=dt.UTC)
    assert uae.is_working_day(friday) and not saudi.is_working_day(friday)
    assert isinstance(uae, BusinessCalendar) and uae.next_working_day(friday).strftime("%a") == "Mon"


def test_prefunding_is_the_peak_of_outflow_less_refills():
    pk = BusinessCalendar("PAK", 5, frozenset({5, 6}))
    start = dt.datetime(2025, 2, 14, 0, 0, tzinfo=PKT)  # Friday
    uses = [LiquidityUse("fx", "PKR", "PAK", start + dt.timedelta(hours=h), Decimal(100)) for h in (10, 20, 40, 70)]
    refills = refill_moments(pk, 15, start, start + dt.timedelta(days=4))
    assert [r.strftime("%a %H") for r in refills] == ["Fri 15", "Mon 15"]
    peak, at = peak_need(uses, refills)
    assert peak == Decimal(300) and at == start + dt.timedelta(hours=70)  # Friday 20:00 to Monday 15:00, unrefilled


def test_shipped_scenarios_and_contested_assumptions(lab):
    assert {"default", "p2p_premium"} <= set(shipped())
    default, premium = load_scenario("default"), load_scenario("p2p_premium")
    assert default.contested == [] and default.stablecoin.p2p_premium_pct == 0
    assert premium.contested and "2.2%" in premium.contested[0]
    names = [r.name for r in build_routes(lab, default)]
    assert names == ["correspondent", "mto", "instant_link", "stablecoin_exchange", "stablecoin_p2p", "central_asia"]


async def test_the_premium_is_a_negative_cost_only_where_the_scenario_names_it(lab):
    for scenario, expected in ((load_scenario("default"), Decimal(0)), (load_scenario("p2p_premium"), Decimal("-4.40"))):
        p2p = next(r for r in build_routes(lab, scenario) if r.name == "stablecoin_p2p")
        result = await p2p.send(remittance("ARE->PAK", 200), random.Random(1), InstantRaast())
        assert result.cost.premium == expected


def test_routes_exist_only_where_the_data_documents_them(lab):
    routes = {r.name: r for r in build_routes(lab, Scenario())}
    assert routes["stablecoin_exchange"].not_offered("SAU->PAK")  # no licensed on-ramp in Saudi Arabia
    assert routes["stablecoin_exchange"].not_offered("ARE->PAK") is None
    assert routes["correspondent"].not_offered("USA->PAK")  # no bank service in RPW's US quotes
    assert routes["instant_link"].not_offered("USA->PAK") and routes["instant_link"].not_offered("GBR->PAK") is None
    assert routes["central_asia"].not_offered("ARE->PAK") and routes["central_asia"].not_offered("UZB->PAK") is None


@pytest.mark.parametrize("text, message", [
    ('routes = ["teleport"]', "unknown routes"),
    ("bands = [[200, 250, 300]]", "each band must contain its RPW basket"),
    ('[population]\nstart = "2025-02-10T00:00:00"', "needs a UTC offset"),
    ("[population]\nremittances = 0", "population.remittances"),
    ('[population]\nsources = ["DEU"]', "population.sources"),
    ("[stablecoin]\nwings = 2", "unknown field"),
    ("routes = [", "not valid TOML"),
])
def test_a_bad_scenario_is_refused_with_the_reason(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_scenario(path)
    with pytest.raises(ValueError, match="shipped: default"):
        load_scenario("no-such-scenario")
