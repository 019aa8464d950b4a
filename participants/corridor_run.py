"""One corridor-lab run: the population (the load model's remittances), the routes, the rail, the results.

The population is the load model's (participants/remittance.py): corridors weighted by SBP's FY2025 flows,
tickets log-normal around the documented USD 465 mean with the model's per-corridor factors, send times
following its hour-of-day shape over the scenario's simulated days. "Other GCC" is split equally between
Kuwait, Qatar, Oman and Bahrain (SBP's split is not in the data, as in the cost report); the hypothetical
Uzbekistan corridor is added on top (corridor_lab.csv ca_share_pct, an ASSUMPTION). A share of beneficiaries
hold accounts their bank rejects (corridor_lab.csv beneficiary_account_reject_pct, an ASSUMPTION): the same
beneficiaries on every route.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import Callable
from decimal import Decimal

from analytics.corridor.lab import LabProgress, run_lab
from analytics.corridor.model import Remittance
from analytics.corridor.params import LabData
from analytics.corridor.routes import CENTRAL_ASIA_CORRIDOR, build_routes, participants_of
from analytics.corridor.runfile import CorridorRun
from analytics.corridor.scenario import Scenario
from analytics.datasets import Datasets
from analytics.pricing.rpw import COMPOSITE_CORRIDORS
from participants.corridor_rail import RaastLeg
from participants.creditor import DEFAULT_REJECT_REASONS
from participants.remittance import Calendar, LoadModel, sample_remittances
from rail.scheme import DEFAULT_BANKS

GCC_MEMBERS = COMPOSITE_CORRIDORS["GCC->PAK"]
ACCOUNT_REASONS = ("AC01", "AC04", "AC06")  # what a beneficiary's bank answers for a closed/blocked/invalid account


def population(scenario: Scenario, lab: LabData, seed: int) -> list[Remittance]:
    spec = scenario.population
    extra = {}
    if spec.central_asia and "central_asia" in scenario.routes:
        share = lab.param("ca_share_pct").value / 100
        extra[CENTRAL_ASIA_CORRIDOR.split("->")[0]] = (share, lab.param("ca_mean_ticket_usd").value)
    model = LoadModel(calendar=Calendar(start=spec.start))
    sampled = sample_remittances(spec.remittances, seed, spec.days, len(DEFAULT_BANKS), model, spec.sources, extra)
    reject_pct = scenario.beneficiary_account_reject_pct
    if reject_pct is None:
        reject_pct = lab.param("beneficiary_account_reject_pct").value
    weights = [DEFAULT_REJECT_REASONS[r] for r in ACCOUNT_REASONS]
    rng = random.Random(f"{seed}:population")
    start = scenario.start
    out = []
    for s in sampled:
        source = rng.choice(GCC_MEMBERS).split("->")[0] if s.corridor == "GCC" else s.corridor
        account = rng.choices(ACCOUNT_REASONS, weights)[0] if rng.random() * 100 < reject_pct else "ok"
        amount_usd = (Decimal(s.amount_paisa) / 100 / lab.pkr_per_usd).quantize(Decimal("0.01"))
        out.append(Remittance(s.seq, f"{source}->PAK", amount_usd, s.amount_paisa,
                              start + dt.timedelta(seconds=s.offset_s), s.creditor_bank, account))
    return out


async def run_corridor_lab(scenario: Scenario, seed: int, data: Datasets,
                           on_progress: Callable[[LabProgress], None] | None = None,
                           stop: asyncio.Event | None = None) -> CorridorRun:
    """Send the scenario's population over its routes; the domestic legs through a rail opened for the run."""
    lab = LabData(data)
    routes = build_routes(lab, scenario)
    remittances = population(scenario, lab, seed)
    started_at = dt.datetime.now(dt.UTC)
    rail = await RaastLeg.open(participants_of(routes))
    try:
        run = await run_lab(remittances, routes, rail, seed, on_progress, stop)
        check = await rail.check()
    finally:
        await rail.close()
    return CorridorRun(scenario, seed, lab, routes, remittances, run, check, started_at)
