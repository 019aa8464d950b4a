"""The remittance cost report: the answer first, then one section per question, each ending in its chart
and its CSV files.

Sections: like for like (``comparison``), time to funds (``timing``), the SDG/G20 scorecard
(``scorecard``), FY2025 flows and the PRI rebate (``flows``), the P2P premium scenario (``scenario``),
sources and sensitivity (``sources``). The one-screen summary is ``summary``. Built with the HTML toolkit
(``analytics.htmlkit``) from the pricing model (``analytics.pricing``).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from analytics import costs
from analytics.corridor.summary import Summary
from analytics.cost_report.comparison import comparison_section
from analytics.cost_report.corridor import corridor_finding, corridor_section
from analytics.cost_report.flows import flows_section
from analytics.cost_report.scenario import scenario_section
from analytics.cost_report.scorecard import scorecard_section
from analytics.cost_report.sources import sources_section
from analytics.cost_report.summary import summary_figure, summary_findings
from analytics.cost_report.timing import timing_section
from analytics.datasets import Datasets
from analytics.htmlkit import Report, utc_now, write_report
from analytics.pricing.rpw import COMPOSITE_CORRIDORS
from analytics.pricing.services import service_corridors

DEFAULT_AMOUNTS_USD = (Decimal(200), Decimal(500))
SHIFT_SHARE_DEFAULT = Decimal("0.10")
TITLE = "Remittances into Pakistan: what each channel costs, like for like"

__all__ = ["DEFAULT_AMOUNTS_USD", "SHIFT_SHARE_DEFAULT", "build_cost_report", "default_corridors", "report_corridors", "write_report"]


def report_corridors(data: Datasets, corridors: Sequence[str]) -> list[str]:
    """Corridors as priced service by service: a composite (other GCC) stands for its member corridors."""
    out: list[str] = []
    for corridor in corridors:
        out.extend(COMPOSITE_CORRIDORS.get(corridor, (corridor,)))
    known = set(service_corridors(data))
    return [c for c in dict.fromkeys(out) if c in known]


def default_corridors(data: Datasets) -> list[str]:
    """The FY2025 sources RPW covers (Saudi Arabia, UAE, UK, USA and the other GCC countries)."""
    available = costs.available_corridors(data)
    return [g.corridor for g in costs.fy2025_flow_groups(data) if g.corridor in available]


def build_cost_report(
    data: Datasets,
    corridors: Sequence[str] | None = None,
    amounts: Sequence[Decimal] | None = None,
    premium_pct: Decimal | None = None,
    shift_share: Decimal = SHIFT_SHARE_DEFAULT,
    corridor_lab: Summary | None = None,
    corridor_run: str = "",
) -> Report:
    """The report for ``corridors`` at ``amounts``. ``premium_pct`` and ``shift_share`` only feed the P2P
    scenario section: no headline figure or default chart includes a premium. ``corridor_lab``: a `rail
    corridor` run's summary (from ``corridor_run``), shown in its own section (in the headline only when its
    scenario switches no contested assumption on)."""
    chosen = report_corridors(data, corridors or default_corridors(data))
    if not chosen:
        raise ValueError("none of the corridors has RPW per-service quotes")
    amounts = list(dict.fromkeys(Decimal(str(a)) for a in amounts)) if amounts else list(DEFAULT_AMOUNTS_USD)
    comparisons = costs.compare_all(data, chosen, amounts)
    meta = {
        "Corridors": ", ".join(chosen),
        "Amounts (USD)": ", ".join(str(a) for a in amounts),
        "P2P premium": "excluded (scenario section only)",
        "Data": f"{data.data_dir} (see LICENSE-DATA.md)",
    }
    sections = [
        comparison_section(data, comparisons, amounts),
        timing_section(data, chosen),
        *([corridor_section(corridor_lab, corridor_run)] if corridor_lab is not None else []),
        scorecard_section(data),
        flows_section(data, chosen),
        scenario_section(data, comparisons, shift_share, premium_pct),
        sources_section(data, chosen, amounts),
    ]
    findings = summary_findings(data, comparisons, amounts)
    lab_finding = corridor_finding(corridor_lab)
    if lab_finding:
        findings.append(lab_finding)
    return Report(
        title=TITLE,
        generated_at=utc_now(),
        meta=meta,
        findings=findings,
        summary_figure=summary_figure(comparisons, amounts[0]),
        sections=sections,
        attribution=costs.ATTRIBUTION,
    )
