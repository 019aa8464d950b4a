"""The seam between the API layer and the sandbox's built-in simulated banks (participants/sandbox.py): what the
workbench asks of them (which BICs they answer for, how each behaves) and tells them (misbehave for a while;
start again after a reset). The API layer knows no simulated bank: the application attaches one
(`RailService.add_simulator`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

import msgspec

from rail.iso20022 import codes

BEHAVIOUR_FOR_S_MAX = 86_400  # a behaviour lasts at most a day, then the bank is normal again
SLOW_DELAY_MS_MAX = 60_000  # beyond the scheme's timers anyway: a 'slow' bank that never makes it is 'down'


class Mode(StrEnum):
    """How a simulated bank answers payments as creditor agent."""

    NORMAL = "normal"  # by the test-account table (README "Test accounts")
    DOWN = "down"  # not at all: the rail's creditor timeout ends each payment RJCT AB05
    SLOW = "slow"  # as normal, `delay_ms` later
    REJECT = "reject"  # RJCT with `reason`, every payment


class Behaviour(msgspec.Struct, frozen=True):
    """A simulated bank's behaviour: `until_s` (wall clock, time.time()) when it reverts to normal."""

    mode: Mode = Mode.NORMAL
    until_s: float | None = None
    delay_ms: int | None = None
    reason: str | None = None


NORMAL = Behaviour()


def behaviour_from_request(data: dict, now_s: float) -> Behaviour:
    """A behaviour from `POST /admin/participants/{bic}/behaviour`'s body; ValueError names what is wrong."""
    try:
        mode = Mode(data.get("mode"))
    except ValueError:
        raise ValueError(f"mode must be one of {', '.join(m.value for m in Mode)}") from None
    if mode is Mode.NORMAL:
        return NORMAL
    for_s = data.get("for_s")
    if isinstance(for_s, bool) or not isinstance(for_s, (int, float)) or not 1 <= for_s <= BEHAVIOUR_FOR_S_MAX:
        raise ValueError(f"for_s must be a number of seconds, 1 to {BEHAVIOUR_FOR_S_MAX}")
    delay_ms = reason = None
    if mode is Mode.SLOW:
        delay_ms = data.get("delay_ms")
        if isinstance(delay_ms, bool) or not isinstance(delay_ms, int) or not 1 <= delay_ms <= SLOW_DELAY_MS_MAX:
            raise ValueError(f"delay_ms must be an integer number of milliseconds, 1 to {SLOW_DELAY_MS_MAX}")
    if mode is Mode.REJECT:
        reason = data.get("reason")
        if not isinstance(reason, str) or reason not in codes.STATUS_REASONS:
            raise ValueError("reason must be an ISO external status reason code (ExternalStatusReason1Code), "
                             "e.g. AC04")
    return Behaviour(mode, now_s + float(for_s), delay_ms, reason)


class SimulatedBanks(Protocol):
    """The running simulated banks of one rail (participants/sandbox.py's SandboxBanks): a companion of the rail
    (rail/api/admin.py's Companion: told of admissions, stopped with it) the workbench steers."""

    async def participant_admitted(self, bic: str) -> None: ...

    async def stop(self) -> None: ...

    def simulates(self, bic: str) -> bool:
        """Whether a simulated bank answers for `bic` now."""
        ...

    def behaviour(self, bic: str) -> Behaviour | None:
        """`bic`'s behaviour now (an expired one has reverted: NORMAL); None when nobody simulates it."""
        ...

    def set_behaviour(self, bic: str, behaviour: Behaviour) -> None:
        """KeyError when nobody simulates `bic`."""
        ...

    async def restart(self, bics: list[str]) -> None:
        """Stop every simulated bank, then simulate exactly `bics` afresh (after a reset)."""
        ...
