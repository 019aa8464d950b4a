"""The certification suite as data: versioned case files (rail/certify/cases/*.toml), one per role.

Each case names its ISO 20022 basis and the scheme rule it checks, whether it is mandatory or conditional
(required when its condition holds: the participant declares the feature, or gives the hook the case needs),
the faults it catches (participants/creditor.py's Fault: what the suite's own tests prove it catches), and
the check that runs it (a function of rail/certify/checks_*.py). The markdown list in docs/certify.md is
generated from these files (`rail certify --list-cases --markdown`).
"""

from __future__ import annotations

import tomllib
from enum import StrEnum
from importlib import resources
from typing import Any

import msgspec

SUITE_NAME = "raast-certify"
ROLES = ("receiver", "sender", "security")  # also the order cases run in


class Requirement(StrEnum):
    MANDATORY = "mandatory"
    CONDITIONAL = "conditional"  # required when its condition holds, else not applicable


class Condition(StrEnum):
    """What makes a conditional case apply."""

    ALIASES = "aliases"  # the participant declares Raast IDs it registered
    RESTART_HOOK = "restart_hook"  # the certifier can restart the participant (--restart-cmd)
    REQUEST_TO_PAY = "request_to_pay"  # the participant sends requests to pay as a merchant's bank
    WEBHOOK = "webhook"  # the participant takes deliveries by webhook (declares its webhook_url)


class Case(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: str
    slug: str
    title: str
    requirement: Requirement
    messages: list[str]
    iso_basis: str
    rule: str
    check: str
    catches: list[str]
    condition: Condition | None = None
    params: dict[str, Any] = {}
    role: str = ""  # filled from the file

    @property
    def name(self) -> str:
        return f"{self.id} {self.role}.{self.slug}"


class CaseFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    suite: str
    version: str
    role: str
    case: list[Case]


class Suite(msgspec.Struct, frozen=True):
    version: str
    cases: list[Case]

    def select(self, roles: set[str], ids: set[str] | None = None) -> list[Case]:
        """The cases of `roles` (and, when given, with these ids or slugs), in suite order."""
        chosen = [c for c in self.cases if c.role in roles]
        if ids:
            unknown = ids - {c.id for c in self.cases} - {c.slug for c in self.cases}
            if unknown:
                raise ValueError(f"no such case: {', '.join(sorted(unknown))} (rail certify --list-cases)")
            chosen = [c for c in chosen if c.id in ids or c.slug in ids]
        return chosen


def load_suite() -> Suite:
    """The shipped case files, checked: one suite, one version, unique ids, a requirement that makes sense."""
    files = []
    for role in ROLES:
        text = resources.files("rail.certify").joinpath("cases", f"{role}.toml").read_text("utf-8")
        try:
            data = msgspec.convert(tomllib.loads(text), CaseFile)
        except (tomllib.TOMLDecodeError, msgspec.ValidationError) as exc:
            raise ValueError(f"rail/certify/cases/{role}.toml: {exc}") from None
        if data.role != role or data.suite != SUITE_NAME:
            raise ValueError(f"rail/certify/cases/{role}.toml: suite/role must be {SUITE_NAME}/{role}")
        files.append(data)
    versions = {f.version for f in files}
    if len(versions) != 1:
        raise ValueError(f"the case files disagree on the suite version: {sorted(versions)}")
    cases = [msgspec.structs.replace(c, role=f.role) for f in files for c in f.case]
    ids = [c.id for c in cases]
    if len(ids) != len(set(ids)):
        raise ValueError("case ids must be unique across the suite")
    for case in cases:
        if (case.requirement is Requirement.CONDITIONAL) != (case.condition is not None):
            raise ValueError(f"{case.id}: a conditional case names its condition, a mandatory one none")
    return Suite(version=versions.pop(), cases=cases)


def markdown(suite: Suite) -> str:
    """The list of cases for docs/certify.md (a test keeps the doc equal to this)."""
    lines = [f"Suite `{SUITE_NAME}` version {suite.version}: {len(suite.cases)} cases.", ""]
    for role in ROLES:
        lines += [f"### {role.capitalize()} cases", ""]
        lines += ["| case | what | required | ISO basis | scheme rule | catches |", "|---|---|---|---|---|---|"]
        for case in (c for c in suite.cases if c.role == role):
            required = "mandatory" if case.condition is None else f"when: {case.condition}"
            catches = ", ".join(f"`{f}`" for f in case.catches) or "-"
            lines.append(f"| **{case.id}** `{case.slug}` | {case.title} | {required} | {case.iso_basis} | "
                         f"{case.rule} | {catches} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
