"""The load model: what Pakistan's RAAST traffic looks like, as a seeded open-model arrival process.

Three kinds of payment reach the rail:

* **remittance**: the domestic leg of an inbound workers' remittance. A Pakistani bank that received
  the money from abroad (the debtor agent) pushes it over RAAST to the beneficiary's bank. Corridors and
  their weights come from SBP's FY2025 workers' remittances by source country, shipped in
  ``analytics/data/flows_pakistan.csv`` (the project's one copy of ``shared/data/flows_pakistan.csv``, every
  source column kept, so each figure carries its own citation).
* **p2p** and **merchant**: domestic RAAST background traffic.

Ticket sizes are log-normal, calibrated so that their MEAN equals a documented average:

* remittances: **USD 465** per transaction, the midpoint of the ~USD 340-590 per transaction bound that
  COSTS.md §3 DERIVES from the PRI TT-charges scheme spend (~Rs170bn at SAR 20-35 per transaction of
  USD 100+, over USD 38.3bn of FY2025 flows). SBP publishes no average ticket; that bound is the best
  documented figure we have. Per-corridor factors (Gulf workers send smaller, more frequent amounts
  than senders in the UK/US/EU) are an ASSUMPTION, and are renormalised so that the count-weighted mean
  over corridors stays at the documented USD 465. Converted at PKR 280/USD, the rate COSTS.md uses.
* p2p: **Rs 21,121**, SBP Q1 FY26 RAAST P2P value / count (Rs11.3trn / 535M, RAILS.md §2.7).
* merchant: **Rs 3,953**, SBP Q1 FY26 RAAST P2M value / count (Rs17.0bn / 4.3M, RAILS.md §2.7).

Shape (multiplies each kind's intensity at a simulated calendar moment, see :class:`Calendar`):

* seasonal: remittances follow SBP's FY2025 monthly series (month / mean month; March 2025 = Ramadan and
  Eid-ul-Fitr, May 2025 = pre Eid-ul-Adha), plus an extra uplift in the days before each Eid (COSTS.md:
  ~+25-30% on the month is a reasonable seasonal parameter);
* month-end salaries: remittances and P2P rise on the last days and first days of a month;
* daily: an hour-of-day profile in Pakistan time (ASSUMPTION: quiet nights, late-morning and evening peaks).

Arrivals are an **open model**: a non-homogeneous Poisson process whose intensity is the sum of the
kinds' intensities, sampled exactly by inverting the cumulative intensity (piecewise constant per second
of the run). The same seed gives the same payments, byte for byte, UETRs included.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from pathlib import Path

import msgspec

from analytics.datasets import FlowRow, read_flows

PKT = dt.timezone(dt.timedelta(hours=5), "PKT")
PAISA_PER_RUPEE = 100
KINDS = ("remittance", "p2p", "merchant")
DOMESTIC_CORRIDOR = "PAK domestic"

# Documented averages (see the module docstring for the sources).
REMITTANCE_MEAN_USD = 465.0
PKR_PER_USD = 280.0
P2P_MEAN_PKR = 21_121.0
MERCHANT_MEAN_PKR = 3_953.0

# A ticket is never below Rs 100 (RAAST's practical minimum for these flows) nor above the scheme cap a
# bank may set (no SBP cap since 2022; banks must allow >= Rs 200,000, and remittance legs are larger).
TICKET_MIN_PAISA = 100 * PAISA_PER_RUPEE
TICKET_MAX_PAISA = 5_000_000 * PAISA_PER_RUPEE

# How flows_pakistan.csv names each FY2025 source, and our corridor code for it.
FLOW_SERIES_TO_CODE = {
    "Saudi Arabia": "SAU",
    "United Arab Emirates": "ARE",
    "United Kingdom": "GBR",
    "EU countries": "EUR",
    "United States": "USA",
    "Other GCC (Kuwait, Qatar, Oman, Bahrain)": "GCC",
    "All other countries (AUS, CAN, MYS, NOR, etc.)": "ROW",
}

# ASSUMPTION (see docstring): relative ticket size by corridor before renormalisation.
DEFAULT_CORRIDOR_TICKET_FACTOR = {
    "SAU": 0.8, "ARE": 0.85, "GCC": 0.8, "GBR": 1.4, "EUR": 1.3, "USA": 1.5, "ROW": 1.1,
}

# ASSUMPTION: relative intensity by hour of day (PKT), mean ~1. Quiet 01-06, peaks late morning and evening.
HOUR_PROFILE = (
    0.45, 0.30, 0.20, 0.15, 0.15, 0.20, 0.35, 0.60, 0.90, 1.20, 1.40, 1.50,
    1.45, 1.35, 1.30, 1.30, 1.35, 1.40, 1.50, 1.60, 1.55, 1.35, 1.05, 0.70,
)

# Bound on one plan (the harness keeps every planned payment and its outcome in memory, ~0.5 KB each, and
# the run report reads payments.csv whole): 5,000/s for over 15 minutes, or 1,000/s for over an hour.
MAX_PAYMENTS_PER_RUN = 5_000_000


class Calendar(msgspec.Struct, frozen=True):
    """Maps run time to a simulated moment: t=0 is `start` (PKT), `speed` simulated seconds pass per real
    second (1 = real time; 1440 = one simulated day per real minute). `rate_is` says what --rate means:
    "mean" (the run's average offered rate, shape only redistributes it) or "base" (the rate at shape 1.0:
    peaks exceed it, e.g. to stress a rail with Eid traffic)."""

    start: str = "2025-02-12T14:00:00+05:00"
    speed: float = 1.0
    rate_is: str = "mean"


class Seasonal(msgspec.Struct, frozen=True):
    eid_dates: list[str] = msgspec.field(default_factory=lambda: ["2025-03-31", "2025-06-07"])
    eid_window_days: int = 10
    eid_remittance_uplift: float = 0.30
    eid_merchant_uplift: float = 0.40
    month_end_days: int = 3  # last N days of a month and first N days of the next
    month_end_remittance_uplift: float = 0.25
    month_end_p2p_uplift: float = 0.20
    use_monthly_series: bool = True


class Tickets(msgspec.Struct, frozen=True):
    remittance_mean_usd: float = REMITTANCE_MEAN_USD
    remittance_sigma: float = 0.75
    pkr_per_usd: float = PKR_PER_USD
    p2p_mean_pkr: float = P2P_MEAN_PKR
    p2p_sigma: float = 1.1
    merchant_mean_pkr: float = MERCHANT_MEAN_PKR
    merchant_sigma: float = 1.0
    corridor_ticket_factor: dict[str, float] = msgspec.field(
        default_factory=lambda: dict(DEFAULT_CORRIDOR_TICKET_FACTOR)
    )


class LoadModel(msgspec.Struct, frozen=True):
    """The load part of a scenario file (see docs/load.md)."""

    name: str = "default"
    description: str = "Remittance legs with domestic P2P and merchant background, weekday afternoon"
    mix: dict[str, float] = msgspec.field(
        default_factory=lambda: {"remittance": 0.6, "p2p": 0.3, "merchant": 0.1}
    )
    calendar: Calendar = Calendar()
    seasonal: Seasonal = Seasonal()
    tickets: Tickets = Tickets()
    # Banks' relative sizes (as debtor and creditor of domestic payments): 1 / rank ** exponent, largest first.
    # 0.5 spreads traffic; 1.0 is Zipf's law, closer to a banking sector where a few banks hold most accounts.
    bank_size_exponent: float = 0.5


class Corridor(msgspec.Struct, frozen=True):
    code: str
    label: str
    flow_usd_bn: float
    mean_ticket_usd: float
    count_share: float


class PlannedPayment(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """One payment the harness will offer. Bank and customer choices are indices, mapped to real BICs and
    accounts by the harness (the model does not know the scheme). Untracked by the garbage collector
    (gc=False: it holds only strings and numbers), so a plan of millions costs no collection pauses, which
    would otherwise show up as late sends."""

    seq: int
    intended_s: float
    kind: str
    corridor: str
    debtor_bank: int
    creditor_bank: int
    debtor_customer: int
    creditor_customer: int
    amount_paisa: int
    uetr: str


def load_flows(path: Path | None = None) -> tuple[FlowRow, ...]:
    """Rows of flows_pakistan.csv: the copy the analytics ship (one copy of the data), or `path`."""
    return read_flows(path)


def fy2025_corridor_flows(rows: Sequence[FlowRow]) -> dict[str, float]:
    """USD bn by corridor code, FY2025, from the source-country rows."""
    flows = {}
    for row in rows:
        code = FLOW_SERIES_TO_CODE.get(row.series)
        if row.period == "FY2025" and code is not None and row.value_usd_bn:
            flows[code] = float(row.value_usd_bn)
    if not flows:
        raise ValueError("flows_pakistan.csv has no FY2025 rows by source country")
    return flows


def fy2025_month_factors(rows: Sequence[FlowRow]) -> dict[int, float]:
    """Month number -> that month's FY2025 remittances / the mean month."""
    months = {}
    for row in rows:
        if row.series == "monthly workers remittances" and len(row.period) == 7 and row.value_usd_bn:
            months[int(row.period[5:7])] = float(row.value_usd_bn)
    if len(months) != 12:
        return {m: 1.0 for m in range(1, 13)}
    mean = sum(months.values()) / 12
    return {m: v / mean for m, v in months.items()}


def build_corridors(tickets: Tickets, rows: Sequence[FlowRow]) -> list[Corridor]:
    """Corridors with mean tickets renormalised so the count-weighted mean is the documented average.

    Count of corridor c is flow_c / ticket_c with ticket_c = k * factor_c; the count-weighted mean ticket
    is sum(flow) / sum(flow_c / ticket_c) = k * sum(flow) / sum(flow_c / factor_c); solve for k."""
    flows = fy2025_corridor_flows(rows)
    factors = {code: tickets.corridor_ticket_factor.get(code, 1.0) for code in flows}
    total_flow = sum(flows.values())
    k = tickets.remittance_mean_usd * sum(flows[c] / factors[c] for c in flows) / total_flow
    counts = {c: flows[c] / (k * factors[c]) for c in flows}
    total_count = sum(counts.values())
    return [
        Corridor(
            code=c,
            label=f"{c}->PAK",
            flow_usd_bn=flows[c],
            mean_ticket_usd=k * factors[c],
            count_share=counts[c] / total_count,
        )
        for c in sorted(flows, key=lambda c: -flows[c])
    ]


def lognormal_mu(mean: float, sigma: float) -> float:
    """mu such that a log-normal(mu, sigma) has the given mean: E = exp(mu + sigma^2 / 2)."""
    return math.log(mean) - sigma * sigma / 2


def _to_paisa(rupees: float) -> int:
    # Whole rupees, as customers send them; clipped to the scheme's bounds.
    paisa = int(round(rupees)) * PAISA_PER_RUPEE
    return max(TICKET_MIN_PAISA, min(TICKET_MAX_PAISA, paisa))


def _eid_days(seasonal: Seasonal) -> list[dt.date]:
    return [dt.date.fromisoformat(d) for d in seasonal.eid_dates]


class Shape:
    """Intensity multipliers per kind at a simulated moment."""

    def __init__(self, model: LoadModel, month_factors: dict[int, float]):
        self.model = model
        self.month_factors = month_factors if model.seasonal.use_monthly_series else {}
        self.eids = _eid_days(model.seasonal)

    def _before_eid(self, day: dt.date) -> bool:
        window = self.model.seasonal.eid_window_days
        return any(0 <= (eid - day).days < window for eid in self.eids)

    def _month_end(self, day: dt.date) -> bool:
        n = self.model.seasonal.month_end_days
        next_day = day + dt.timedelta(days=n)
        return day.day <= n or next_day.month != day.month

    def factors(self, moment: dt.datetime) -> dict[str, float]:
        s = self.model.seasonal
        local = moment.astimezone(PKT)
        hour = HOUR_PROFILE[local.hour]
        day = local.date()
        eid = self._before_eid(day)
        month_end = self._month_end(day)
        remit = hour * self.month_factors.get(local.month, 1.0)
        remit *= (1 + s.eid_remittance_uplift) if eid else 1.0
        remit *= (1 + s.month_end_remittance_uplift) if month_end else 1.0
        p2p = hour * ((1 + s.month_end_p2p_uplift) if month_end else 1.0)
        merchant = hour * ((1 + s.eid_merchant_uplift) if eid else 1.0)
        return {"remittance": remit, "p2p": p2p, "merchant": merchant}


def bank_weights(n_banks: int, exponent: float = 0.5) -> list[float]:
    """Relative size of banks by index: the scheme lists banks largest first (ASSUMPTION: a power law)."""
    return [1.0 / (i + 1) ** exponent for i in range(n_banks)]


# ASSUMPTION: inbound remittances are paid out by fewer, larger banks (those with exchange-house and
# correspondent relationships abroad) than hold the beneficiaries' accounts, so remittance legs drain the
# big banks' settlement accounts towards the rest: their treasuries need top-ups on a peak day.
REMITTANCE_DEBTOR_EXPONENT = 1.0


class RemittanceLoad:
    """Plans the payments of one run: `plan(rate_per_s, duration_s, n_banks)` yields PlannedPayment in
    intended-time order. Reproducible: same model, seed and arguments give the same sequence."""

    def __init__(self, model: LoadModel | None = None, seed: int = 1, flows_path: Path | None = None):
        self.model = model or LoadModel()
        unknown = set(self.model.mix) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown payment kinds in mix: {sorted(unknown)} (known: {', '.join(KINDS)})")
        if sum(self.model.mix.values()) <= 0:
            raise ValueError("mix weights must sum to more than zero")
        self.seed = seed
        rows = load_flows(flows_path)
        self.corridors = build_corridors(self.model.tickets, rows)
        self.shape = Shape(self.model, fy2025_month_factors(rows))
        self.start = dt.datetime.fromisoformat(self.model.calendar.start)
        if self.start.tzinfo is None:
            self.start = self.start.replace(tzinfo=PKT)

    def per_second_intensity(self, rate_per_s: float, duration_s: float) -> list[dict[str, float]]:
        """Each kind's intensity (payments/s) for each whole second of the run."""
        n_seconds = max(1, math.ceil(duration_s))
        mix_total = sum(self.model.mix.values())
        raw = []
        for second in range(n_seconds):
            moment = self.start + dt.timedelta(seconds=(second + 0.5) * self.model.calendar.speed)
            f = self.shape.factors(moment)
            raw.append({k: self.model.mix.get(k, 0.0) / mix_total * f[k] for k in KINDS})
        if self.model.calendar.rate_is == "base":
            # Shape 1.0 means the hour profile's mean; peaks exceed --rate.
            scale = rate_per_s / (sum(HOUR_PROFILE) / len(HOUR_PROFILE))
        else:
            mean_total = sum(sum(r.values()) for r in raw) / len(raw)
            scale = rate_per_s / mean_total if mean_total > 0 else 0.0
        return [{k: v * scale for k, v in r.items()} for r in raw]

    def plan(self, rate_per_s: float, duration_s: float, n_banks: int,
             max_payments: int = MAX_PAYMENTS_PER_RUN) -> Iterator[PlannedPayment]:
        if n_banks < 2:
            raise ValueError("a load needs at least 2 banks (payments go between two different agents)")
        if rate_per_s <= 0 or duration_s <= 0:
            return
        rng = random.Random(self.seed)
        intensity = self.per_second_intensity(rate_per_s, duration_s)
        totals = [sum(r.values()) for r in intensity]
        cum_bank = _cumulative(bank_weights(n_banks, self.model.bank_size_exponent))
        cum_remit_debtor = _cumulative(bank_weights(n_banks, REMITTANCE_DEBTOR_EXPONENT))
        cum_corr = _cumulative([c.count_share for c in self.corridors])
        tk = self.model.tickets
        remit_mu = {
            c.code: lognormal_mu(c.mean_ticket_usd * tk.pkr_per_usd, tk.remittance_sigma) for c in self.corridors
        }
        p2p_mu = lognormal_mu(tk.p2p_mean_pkr, tk.p2p_sigma)
        merchant_mu = lognormal_mu(tk.merchant_mean_pkr, tk.merchant_sigma)
        t = 0.0
        second = 0
        seq = 0
        while seq < max_payments:
            # Exact sampling of a piecewise-constant-rate Poisson process: walk unit-rate exponential
            # "work" through the seconds, each consuming work at that second's rate.
            work = rng.expovariate(1.0)
            while second < len(totals):
                end = second + 1.0
                if end > duration_s:
                    end = duration_s
                lam = totals[second]
                if lam > 0 and work <= lam * (end - t):
                    t += work / lam
                    break
                work -= lam * (end - t)
                t = end
                second += 1
            if second >= len(totals) or t >= duration_s:
                return
            kinds = intensity[second]
            kind = _choose_kind(rng, kinds, totals[second])
            if kind == "remittance":
                corridor = self.corridors[_pick(rng, cum_corr)]
                label = corridor.label
                amount = _to_paisa(rng.lognormvariate(remit_mu[corridor.code], tk.remittance_sigma))
            elif kind == "p2p":
                label = DOMESTIC_CORRIDOR
                amount = _to_paisa(rng.lognormvariate(p2p_mu, tk.p2p_sigma))
            else:
                label = DOMESTIC_CORRIDOR
                amount = _to_paisa(rng.lognormvariate(merchant_mu, tk.merchant_sigma))
            debtor = _pick(rng, cum_remit_debtor if kind == "remittance" else cum_bank)
            creditor = _pick(rng, cum_bank)
            while creditor == debtor:
                creditor = _pick(rng, cum_bank)
            yield PlannedPayment(
                seq=seq,
                intended_s=t,
                kind=kind,
                corridor=label,
                debtor_bank=debtor,
                creditor_bank=creditor,
                debtor_customer=rng.getrandbits(31),
                creditor_customer=rng.getrandbits(31),
                amount_paisa=amount,
                uetr=uuid4_text(rng.getrandbits(128)),
            )
            seq += 1


def uuid4_text(bits: int) -> str:
    """str(uuid.UUID(int=bits, version=4)), in half the time (a day's plan makes millions of them)."""
    bits = (bits & ~(0xC000 << 48) | 0x8000 << 48) & ~(0xF000 << 64) | 4 << 76
    text = "%032x" % bits
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _cumulative(weights: list[float]) -> list[float]:
    out, acc = [], 0.0
    for w in weights:
        acc += w
        out.append(acc)
    return out


def _pick(rng: random.Random, cumulative: list[float]) -> int:
    i = bisect_right(cumulative, rng.random() * cumulative[-1])
    return min(i, len(cumulative) - 1)


def _choose_kind(rng: random.Random, kinds: dict[str, float], total: float) -> str:
    x = rng.random() * total
    for kind in KINDS:
        x -= kinds[kind]
        if x < 0:
            return kind
    return next(k for k in reversed(KINDS) if kinds[k] > 0)


class SampledRemittance(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """One remittance of a fixed-size population (the corridor lab): when it is sent (seconds after the
    calendar start), its corridor code, its ticket and the beneficiary's bank (an index, largest bank first)."""

    seq: int
    offset_s: float
    corridor: str
    amount_paisa: int
    creditor_bank: int


def sample_remittances(n: int, seed: int, days: float, n_banks: int, model: LoadModel | None = None,
                       codes: Sequence[str] | None = None,
                       extra: dict[str, tuple[float, float]] | None = None) -> list[SampledRemittance]:
    """``n`` remittances over ``days`` from the model's calendar start, in send order: corridors weighted by
    SBP's FY2025 flows (count shares, restricted to ``codes``), tickets and the hour-of-day shape from the load
    model. ``extra`` adds corridors the SBP data lacks: code -> (share of the population, mean ticket USD)."""
    load = RemittanceLoad(model, seed=seed)
    corridors = [c for c in load.corridors if codes is None or c.code in codes]
    if not corridors:
        raise ValueError(f"none of the corridors {list(codes or [])} is in the FY2025 flows")
    extra = extra or {}
    base = 1.0 - sum(share for share, _ in extra.values())
    total = sum(c.count_share for c in corridors)
    weights = [c.count_share / total * base for c in corridors] + [share for share, _ in extra.values()]
    means = [c.mean_ticket_usd for c in corridors] + [mean for _, mean in extra.values()]
    labels = [c.code for c in corridors] + list(extra)
    tickets = load.model.tickets
    mus = [lognormal_mu(mean * tickets.pkr_per_usd, tickets.remittance_sigma) for mean in means]
    hours = max(1, math.ceil(days * 24))
    shape = [load.shape.factors(load.start + dt.timedelta(hours=h + 0.5))["remittance"] for h in range(hours)]
    cum_hours, cum_corridors = _cumulative(shape), _cumulative(weights)
    cum_banks = _cumulative(bank_weights(n_banks))
    rng = random.Random(seed)
    offsets = sorted(min((_pick(rng, cum_hours) + rng.random()) * 3600, days * 86_400) for _ in range(n))
    out = []
    for seq, offset in enumerate(offsets):
        k = _pick(rng, cum_corridors)
        amount = _to_paisa(rng.lognormvariate(mus[k], tickets.remittance_sigma))
        out.append(SampledRemittance(seq, offset, labels[k], amount, _pick(rng, cum_banks)))
    return out
