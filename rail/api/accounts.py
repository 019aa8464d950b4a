"""What a participant reads of its own business (a payment's status and history, its settlement account) and
how it keeps its customers' Raast IDs (aliases) in the directory. Every read goes through the core's `query`
(in the core's order, answered once durable); every change is a journaled command.
"""

from __future__ import annotations

from rail import iso20022
from rail.api.dispatch import alias_key
from rail.api.payment_list import iso_time, payment_summary
from rail.settlement.commands import AliasDelete, AliasRegister
from rail.settlement.core import SettlementCore
from rail.settlement.payments import OutcomeKind, Payment, Settlement

HOLDER_NAME_CHARS_MAX = 140


def payment_view(p: Payment, currency: str) -> dict:
    """GET /v1/payments/{uetr}'s answer: a payment's status, amounts, returns, recalls and history (what a list
    shows of it, and more)."""
    summary = payment_summary(p, currency)
    return {
        **summary,
        "tx_id": p.tx_id,
        "msg_id": p.msg_id,
        "debtor_iban": p.debtor_iban,
        "creditor_iban": p.creditor_iban,
        "returned_paisa": p.returned_paisa,
        "received_at": summary["accepted_at"],
        "returns": [
            {"return_id": r.return_id, "amount_paisa": r.amount_paisa, "reason": r.reason, "at": iso_time(r.at_ns)}
            for r in p.returns
        ],
        "recalls": [
            {"cancellation_id": r.cancellation_id, "reason": r.reason, "state": r.state, "at": iso_time(r.at_ns)}
            for r in p.recalls
        ],
        "history": [{"at": iso_time(at), "event": event, "detail": detail} for at, event, detail in p.history],
    }


class Accounts:
    """A participant's payments, balance and aliases."""

    def __init__(self, core: SettlementCore) -> None:
        self.core = core

    async def payment(self, bic: str, uetr: str) -> dict | None:
        """A payment's view, only for its two agents (None for anyone else, or when there is none)."""

        def view(s: Settlement) -> dict | None:
            p = s.payments.get(uetr)
            if p is None or bic not in (p.debtor_agent, p.creditor_agent):
                return None
            return payment_view(p, s.scheme.currency)

        return await self.core.query(view)

    async def balance(self, bic: str) -> dict:
        """`bic`'s own settlement account, as of the last durable batch."""
        balance = (await self.core.query(Settlement.balances))["accounts"].get(bic)
        return {"bic": bic, **(balance or {})}

    async def register_alias(self, bic: str, alias: str, iban: str, holder_name: str) -> dict:
        """Link a Raast ID (mobile number, any Pakistani form; stored as +92...) to one of `bic`'s IBANs."""
        normalised = alias_key(alias)
        if normalised is None:
            text = "alias must be a Pakistani mobile number (+92 3XX...)"
            return {"ok": False, "reason": "AC01", "text": text}
        if not isinstance(iban, str) or not iso20022.iban_is_valid(iban) or not iban.startswith("PK"):
            return {"ok": False, "reason": "AC01", "text": "iban is not a valid Pakistani IBAN"}
        if iban[4:8] != bic[:4]:
            return {
                "ok": False,
                "reason": "AGNT",
                "text": "a participant links aliases to its own IBANs only",
            }
        name = str(holder_name)[:HOLDER_NAME_CHARS_MAX]
        outcome = await self.core.execute(AliasRegister(sender=bic, alias=normalised, iban=iban, name=name))
        if outcome.kind != OutcomeKind.DONE:
            return {"ok": False, "reason": outcome.reason, "text": outcome.text}
        return {"ok": True, "alias": normalised, "iban": iban, "agent": bic}

    async def delete_alias(self, bic: str, alias: str) -> dict:
        normalised = alias_key(alias) or str(alias)
        outcome = await self.core.execute(AliasDelete(sender=bic, alias=normalised))
        if outcome.kind != OutcomeKind.DONE:
            return {"ok": False, "reason": outcome.reason, "text": outcome.text}
        return {"ok": True, "alias": normalised}
