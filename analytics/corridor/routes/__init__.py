"""The routes a remittance can take into Pakistan, one module per kind; each is a simulated actor with cited
parameters (analytics.corridor.model.Route)."""

from __future__ import annotations

from analytics.corridor.model import Route
from analytics.corridor.params import LabData
from analytics.corridor.routes.central_asia import CORRIDOR as CENTRAL_ASIA_CORRIDOR
from analytics.corridor.routes.central_asia import CentralAsiaLink
from analytics.corridor.routes.correspondent import Correspondent
from analytics.corridor.routes.instant_link import InstantLink
from analytics.corridor.routes.mto import Mto
from analytics.corridor.routes.stablecoin import Stablecoin
from analytics.corridor.scenario import Scenario

__all__ = ["CENTRAL_ASIA_CORRIDOR", "build_routes", "participants_of"]


def build_routes(lab: LabData, scenario: Scenario) -> list[Route]:
    """The scenario's routes, in the order the report shows them."""
    out: list[Route] = []
    for kind in scenario.routes:
        if kind == "correspondent":
            out.append(Correspondent(lab, scenario.foreign_leg_failure_pct))
        elif kind == "mto":
            out.append(Mto(lab, scenario.foreign_leg_failure_pct))
        elif kind == "instant_link":
            out.append(InstantLink(lab, scenario.instant_link.sources))
        elif kind == "stablecoin":
            out += [Stablecoin(lab, scenario.stablecoin, offramp) for offramp in scenario.stablecoin.offramps]
        elif kind == "central_asia":
            out.append(CentralAsiaLink(lab))
    return out


def participants_of(routes: list[Route]) -> list[tuple[str, str]]:
    """The RAAST participants the routes pay out from beside the banks (FX providers, an exchange)."""
    seen: dict[str, str] = {}
    for route in routes:
        if isinstance(route, Stablecoin):
            seen.update(route.participants)
        elif isinstance(route, InstantLink):
            seen[route.bic] = route.participant_name
    return list(seen.items())
