"""Admin: what the operator does (admit or re-key a participant, move central-bank liquidity, read every
balance and participant, make a simulated bank misbehave for a while), and what follows an admission: the
participant's webhook, and the companions the application runs beside the rail (the sandbox's simulated banks)
told that an external client now drives a BIC.
"""

from __future__ import annotations

import re
import time
from typing import NamedTuple, Protocol

from rail import iso20022
from rail.api.auth import new_token, token_hash
from rail.api.identity import Identity, canonical, rate_limit_problem
from rail.api.outbox import Outbox
from rail.api.replies import utc
from rail.api.simulated import Behaviour, SimulatedBanks, behaviour_from_request
from rail.api.traces import Tracer
from rail.api.webhook_admin import Webhooks
from rail.api.webhook_signature import new_secret
from rail.money import amount_problem
from rail.scheme import Scheme
from rail.settlement.commands import AddParticipant, Liquidity, Redeliver, Reset
from rail.settlement.core import SettlementCore
from rail.settlement.payments import OutcomeKind, Participant, Settlement

CALLBACK_URL_CHARS_MAX = 2_048
PARTICIPANT_NAME_CHARS_MAX = 140


class Companion(Protocol):
    """Something the application runs beside the rail (the sandbox's simulated banks): told when a participant
    is admitted from outside, stopped before the rail closes."""

    async def participant_admitted(self, bic: str) -> None: ...

    async def stop(self) -> None: ...


class Registration(NamedTuple):
    """What POST /admin/participants answers, shown once: the bearer token and the webhook signing secret."""

    token: str
    webhook_secret: str


RESET_CONFIRMATION = "RESET"


class Admin:
    """The operator's actions, and the webhooks and companions they affect."""

    def __init__(
        self, core: SettlementCore, scheme: Scheme, identity: Identity, outbox: Outbox, tracer: Tracer
    ) -> None:
        self.core = core
        self.scheme = scheme
        self.identity = identity
        self.tracer = tracer
        self._companions: list[Companion] = []
        self.webhooks = Webhooks(core, outbox, tracer)
        self.simulator: SimulatedBanks | None = None

    def recovered(self, participant: Participant) -> None:
        """A participant as a start recovered it: it takes part, and its webhook pushes again."""
        self.identity.admit(participant)
        self.webhooks.know(participant)
        if participant.callback_url:
            self.webhooks.start(participant.bic, participant.callback_url)

    async def add_participant(
        self,
        bic: str,
        name: str,
        callback_url: str | None = None,
        requests_per_s: float | None = None,
        requests_burst: float | None = None,
    ) -> Registration:
        """Admit (or re-key) a participant; returns its new bearer token (stored hashed) and webhook signing
        secret. `requests_per_s` / `requests_burst`: its own rate limit instead of the scheme's default,
        journaled with it. ValueError says what is wrong with a request."""
        bic = self._checked_bic(bic)
        _check_callback_url(callback_url)
        problem = rate_limit_problem(requests_per_s, requests_burst)
        if problem is not None:
            raise ValueError(problem)
        token, secret = new_token(), new_secret()
        if requests_per_s is not None or requests_burst is not None:
            params = self.scheme.params
            requests_per_s = float(requests_per_s or params.requests_per_s)
            requests_burst = float(requests_burst or max(1.0, requests_per_s))
        outcome = await self.core.execute(
            AddParticipant(
                bic=bic,
                name=str(name or bic)[:PARTICIPANT_NAME_CHARS_MAX],
                token_hash=token_hash(token),
                callback_url=callback_url,
                requests_per_s=requests_per_s,
                requests_burst=requests_burst,
                webhook_secret=secret,
            )
        )
        self.identity.admit(outcome.detail)
        self.webhooks.know(outcome.detail)
        for companion in self._companions:
            await companion.participant_admitted(bic)  # e.g. the simulator of a default bank stands down
        await self.webhooks.stop(bic)
        if callback_url:
            self.webhooks.start(bic, callback_url)
        return Registration(token, secret)

    def _checked_bic(self, bic: object) -> str:
        if not isinstance(bic, str) or not iso20022.bic_is_valid(bic):
            raise ValueError("bic must be a BIC (8 or 11 characters, e.g. TESTPKKA)")
        bic = canonical(bic)
        if bic == self.scheme.central_bank_bic:
            raise ValueError("the central bank is the operator, not a participant")
        return bic

    async def liquidity(self, bic: str, amount_paisa: int, direction: str) -> dict:
        if not isinstance(bic, str) or not isinstance(direction, str):
            raise ValueError("bic and direction must be strings")  # noqa: TRY004 - shown as HTTP 422
        bic = canonical(bic)
        problem = amount_problem(amount_paisa)
        if problem is not None:
            raise ValueError(problem)
        outcome = await self.core.execute(Liquidity(bic=bic, amount_paisa=amount_paisa, direction=direction))
        ok = outcome.kind == OutcomeKind.DONE
        result = {"bic": bic, "direction": direction, "amount": amount_paisa, "ok": ok}
        if ok:
            result["posted_paisa"] = outcome.detail  # as of this transfer, which is durable now
        else:
            result.update(reason=outcome.reason, text=outcome.text)
        return result

    async def redeliver(self, uetr: str) -> dict:
        """Deliver a forwarded pacs.008 to its creditor agent once more (sandbox: testing duplicate handling)."""
        if not isinstance(uetr, str) or not uetr:
            raise ValueError("uetr must be the UETR of a forwarded payment")  # noqa: TRY004 - shown as HTTP 422
        outcome = await self.core.execute(Redeliver(uetr=uetr))
        if outcome.kind != OutcomeKind.DONE:
            return {"ok": False, "uetr": uetr, "reason": outcome.reason, "text": outcome.text}
        return {"ok": True, "uetr": uetr, "creditor_agent": outcome.payment.creditor_agent}

    async def balances(self) -> dict:
        """Every settlement account, as of the last durable batch (read in the core's order)."""
        return await self.core.query(Settlement.balances)

    async def participants(self) -> list[dict]:
        """GET /admin/participants: every participant with its settlement account, whether a simulated bank
        answers for it and how, and its webhook (the central bank, the operator, is not one)."""
        central = self.scheme.central_bank_bic

        def read(s: Settlement) -> list[tuple]:
            accounts = s.balances()["accounts"]
            return [
                (p.bic, p.name, p.callback_url, accounts.get(p.bic, {}), len(s.inboxes[p.bic]))
                for p in s.participants.values()
                if p.bic != central
            ]

        out = []
        for bic, name, callback_url, account, inbox_depth in sorted(await self.core.query(read)):
            behaviour = self.simulator.behaviour(bic) if self.simulator is not None else None
            out.append({
                "bic": bic, "name": name, "simulated": behaviour is not None,
                "posted_paisa": account.get("posted_paisa", 0),
                "reserved_paisa": account.get("pending_debits_paisa", 0),
                "available_paisa": account.get("available_paisa", 0),
                "behaviour": None if behaviour is None else behaviour_view(behaviour),
                "callback_url": callback_url, "webhook": self.webhooks.running(bic), "inbox_depth": inbox_depth,
            })  # fmt: skip
        return out

    def set_behaviour(self, bic: str, data: dict) -> dict:
        """Make simulated bank `bic` misbehave for a while (rail/api/simulated.py). LookupError: no such
        participant; ValueError: not simulated, or a bad field."""
        bic = canonical(bic) or ""
        if not self.identity.is_participant(bic):
            raise LookupError(f"{bic} is not a participant")
        if self.simulator is None or not self.simulator.simulates(bic):
            raise ValueError(f"{bic} is not answered by a simulated bank of this rail (registered from outside, "
                             "or rail serve runs with --no-simulated-banks)")
        self.simulator.set_behaviour(bic, behaviour_from_request(data, time.time()))
        return behaviour_view(self.simulator.behaviour(bic))

    async def reset(self, data: dict) -> dict:
        """POST /admin/reset: the sandbox back to the default scheme (rail/settlement/reset.py says what goes
        and what stays), then what runs beside the books follows: tokens, webhooks, simulated banks, traces.
        ValueError: not confirmed, or a bad field; RuntimeError: payments are in flight."""
        if data.get("confirm") != RESET_CONFIRMATION:
            raise ValueError(f'say "confirm": "{RESET_CONFIRMATION}": a reset discards every payment and balance')
        keep_tokens = data.get("keep_tokens", False)
        if not isinstance(keep_tokens, bool):
            raise ValueError("keep_tokens must be true or false")  # noqa: TRY004 - shown as HTTP 422
        outcome = await self.core.execute(Reset(keep_tokens=keep_tokens))
        if outcome.kind != OutcomeKind.DONE:
            raise RuntimeError(outcome.text)
        participants = await self.core.query(lambda s: list(s.participants.values()))
        self.identity.reset()
        for participant in participants:
            self.identity.admit(participant)
            self.webhooks.know(participant)
        # A kept participant keeps its inbox (numbering goes on), so its pusher goes on; the others' stop.
        pushing = {p.bic for p in participants if p.callback_url}
        for bic in self.webhooks.bics():
            if bic not in pushing:
                await self.webhooks.stop(bic)
        if self.simulator is not None:
            await self.simulator.restart(sorted(p.bic for p in participants if p.simulated))
        await self.tracer.clear()
        return {"ok": True, **outcome.detail, "journal_seq": self.core.health().journal_seq}

    # ---- what runs beside the rail

    def add_companion(self, companion: Companion) -> None:
        """Run `companion` beside the rail: told of admissions, stopped (first) by close()."""
        self._companions.append(companion)

    async def stop(self) -> None:
        """Companions first (they may still answer through the rail), then the webhooks."""
        companions, self._companions = self._companions, []
        for companion in companions:
            await companion.stop()
        await self.webhooks.stop_all()


def behaviour_view(behaviour: Behaviour) -> dict:
    until = behaviour.until_s
    return {
        "mode": behaviour.mode.value,
        "until": None if until is None else utc(int(until * 1e9)).isoformat(),
        "reason": behaviour.reason,
        "delay_ms": behaviour.delay_ms,
    }


def _check_callback_url(callback_url: object) -> None:
    if callback_url is not None and (
        not isinstance(callback_url, str)
        or len(callback_url) > CALLBACK_URL_CHARS_MAX
        or not re.match(r"https?://[^\s]+\Z", callback_url)
    ):
        raise ValueError(
            f"callback_url must be an http(s) URL of at most {CALLBACK_URL_CHARS_MAX} characters"
        )
