"""The banks' treasury desk: keeps each simulated bank's settlement account above a threshold.

Run by the load harness with the operator's transport: it reads the rail's balance report
(`GET /admin/balances`) and asks the central bank for a top-up (`POST /admin/liquidity`) when a bank's
available balance falls below its threshold, and records each bank's liquidity over the run.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from participants.transport import TransportError


class Treasury(msgspec.Struct, frozen=True):
    """Liquidity policy: when a bank's available settlement balance falls below `threshold_paisa`, ask the
    central bank for `topup_paisa`. `opening_balance_paisa` (optional) first moves each bank's balance to
    that level (excess back to the central bank, shortfall from it), so a run starts from a known position."""

    threshold_paisa: int = 2_000_000_000 * 100
    topup_paisa: int = 3_000_000_000 * 100
    opening_balance_paisa: int | None = None
    check_interval_ms: int = 250


def settlement_balance_paisa(balances: dict, bic: str) -> int | None:
    """A bank's available settlement balance (posted minus pending debits) from the rail's balance report.

    Accepts the report either keyed by BIC at the top level or under "accounts"/"balances"; each entry with
    "posted" and "pending" (ints) or "available"."""
    for container in (balances.get("accounts"), balances.get("balances"), balances):
        if isinstance(container, dict) and isinstance(container.get(bic), dict):
            entry = container[bic]
            for key in ("available_paisa", "available"):
                if key in entry:
                    return int(entry[key])
            posted = entry.get("posted_paisa", entry.get("posted", 0))
            pending = entry.get("pending_debits_paisa", entry.get("pending", 0))
            return int(posted) - int(pending)
        if isinstance(container, list):
            for entry in container:
                if isinstance(entry, dict) and entry.get("bic") == bic:
                    if "available" in entry:
                        return int(entry["available"])
                    return int(entry.get("posted", 0)) - int(entry.get("pending", 0))
    return None


def posted_balance_paisa(balances: dict, bic: str) -> int | None:
    for container in (balances.get("accounts"), balances.get("balances"), balances):
        if isinstance(container, dict) and isinstance(container.get(bic), dict):
            entry = container[bic]
            return int(entry.get("posted_paisa", entry.get("posted", 0)))
        if isinstance(container, list):
            for entry in container:
                if isinstance(entry, dict) and entry.get("bic") == bic:
                    return int(entry.get("posted", 0))
    return None


class TreasuryRecord(msgspec.Struct):
    opening_balance_paisa: int = 0
    topups_count: int = 0
    topups_paisa: int = 0
    withdrawn_paisa: int = 0
    min_balance_paisa: int = 0
    closing_balance_paisa: int = 0


class TreasuryDesk:
    """The banks' treasury, run by the harness with the operator's transport (admin liquidity/balances)."""

    def __init__(self, admin_transport: Any, bics: list[str], policy: Treasury):
        self.admin = admin_transport
        self.bics = list(bics)
        self.policy = policy
        self.records = {bic: TreasuryRecord() for bic in self.bics}
        self.conserved: bool | None = None
        self._task: asyncio.Task | None = None
        self.errors = 0

    async def open(self) -> dict:
        """Read opening balances and, when the policy says so, move each bank to its opening level."""
        balances = await self.admin.balances()
        target = self.policy.opening_balance_paisa
        if target is not None:
            for bic in self.bics:
                current = posted_balance_paisa(balances, bic) or 0
                delta = target - current
                if delta > 0:
                    await self.admin.liquidity(bic, delta, "in")
                elif delta < 0:
                    await self.admin.liquidity(bic, -delta, "out")
            balances = await self.admin.balances()
        for bic in self.bics:
            opening = posted_balance_paisa(balances, bic) or 0
            rec = self.records[bic]
            rec.opening_balance_paisa = rec.min_balance_paisa = rec.closing_balance_paisa = opening
        return balances

    async def check_once(self) -> dict:
        balances = await self.admin.balances()
        if "conserved" in balances:
            self.conserved = bool(balances["conserved"])
        for bic in self.bics:
            available = settlement_balance_paisa(balances, bic)
            if available is None:
                continue
            rec = self.records[bic]
            rec.min_balance_paisa = min(rec.min_balance_paisa, available)
            if available < self.policy.threshold_paisa and self.policy.topup_paisa > 0:
                answer = await self.admin.liquidity(bic, self.policy.topup_paisa, "in")
                if isinstance(answer, dict) and answer.get("ok") is False:
                    self.errors += 1  # refused by the central bank: nothing moved, nothing to record
                    continue
                rec.topups_count += 1
                rec.topups_paisa += self.policy.topup_paisa
        return balances

    async def _run(self) -> None:
        interval_s = max(0.01, self.policy.check_interval_ms / 1000.0)
        while True:
            try:
                await self.check_once()
            except asyncio.CancelledError:
                raise
            except TransportError:
                self.errors += 1  # the rail is away (restart): the next tick tries again
            await asyncio.sleep(interval_s)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="treasury")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, TransportError):
                pass
            self._task = None

    async def close(self) -> dict:
        """Final balances (also recorded as closing balances)."""
        balances = await self.admin.balances()
        if "conserved" in balances:
            self.conserved = bool(balances["conserved"])
        for bic in self.bics:
            posted = posted_balance_paisa(balances, bic)
            if posted is not None:
                rec = self.records[bic]
                rec.closing_balance_paisa = posted
                rec.min_balance_paisa = min(rec.min_balance_paisa, posted)
        return balances
