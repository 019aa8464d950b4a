"""What a simulated bank answers: the seam between the one simulated bank and its behaviours.

A :class:`CreditorPolicy` decides, for each message that asks this bank for an answer, what the answer is:
a payment (pacs.008: accept, reject with an ISO reason, or stay silent, after some delay), a recall of a
payment it received (camt.056: return the funds with a pacs.004, or refuse with a camt.029), a request to pay
as the payer's bank (pain.013: pay it, or refuse with a reason). The policies:

* :class:`TestAccountTable`: the scheme's documented test accounts (rail/scheme.py, README "Test accounts"),
  what the sandbox's built-in counterparties and a bank under certification answer by;
* :class:`LoadModel`: the load harness's realistic mix (log-normal latency, a reject rate over weighted ISO
  reasons, silence, outage windows), configured by a scenario's ``[bank]`` table (:class:`BankBehaviour`);
* :class:`Switchable`: another policy with a behaviour the operator sets for a while (down, slow, reject with a
  code: the workbench's `POST /admin/participants/{bic}/behaviour`), for integrators to test their timeouts;
* :class:`Faulty`: another policy with deliberate faults (:class:`Fault`), the broken participants `rail
  certify` must catch. The faults that are not about answers (answering a repeated delivery, forgetting the
  backlog on restart) are the bank's own, see participants/bank.py.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Protocol

import msgspec

from rail.api.simulated import NORMAL, Behaviour, Mode
from rail.scheme import TEST_ACCOUNTS, sandbox_creditor_decision

# Realistic creditor-side reject reasons and their relative frequencies (ISO external status reason codes).
DEFAULT_REJECT_REASONS = {"AC04": 0.25, "AC06": 0.20, "AC01": 0.20, "BE01": 0.15, "AG01": 0.10, "RR04": 0.10}
LATE_ANSWER_MARGIN_S = 0.25  # a 'late' answer comes this long after the scheme timeout
RECALL_RETURN_REASON = "FOCR"  # pacs.004 RtrRsn: following a cancellation request
RECALL_REFUSAL_REASON = "CUST"  # camt.029 RJCR: the customer (the beneficiary) refuses
WRONG_REASON = "MS03"  # what the 'wrong_reason' fault rejects with: "reason not specified"
_REJECT_BY_SUFFIX = {t.suffix: t.reason for t in TEST_ACCOUNTS if t.kind == "reject"}


class Decision(StrEnum):
    ACCEPT = "accept"  # pacs.002 ACSP
    REJECT = "reject"  # pacs.002 RJCT with a reason
    SILENT = "silent"  # no answer: the rail times the payment out (AB05)


class CreditorVerdict(msgspec.Struct, frozen=True, gc=False):
    decision: Decision
    reason: str = ""
    delay_s: float = 0.0


class RecallDecision(StrEnum):
    RETURN = "return"  # pacs.004 for what is left of the payment
    REFUSE = "refuse"  # camt.029 RJCR with a reason
    IGNORE = "ignore"  # no answer (a fault: a recall must be answered)


class RecallVerdict(msgspec.Struct, frozen=True, gc=False):
    decision: RecallDecision
    reason: str = ""


class CreditorPolicy(Protocol):
    """What this bank answers. `now_s` is the bank's run clock (seconds since it started)."""

    def payment(self, creditor_iban: str, now_s: float) -> CreditorVerdict: ...

    def recall(self, creditor_iban: str) -> RecallVerdict: ...

    def request_to_pay(self, payer_iban: str) -> str | None:
        """None: pay it (pain.014 ACCP, then the pacs.008); else the ISO reason of a pain.014 RJCT."""
        ...


class TestAccountTable:
    """The scheme's test-account table as a policy: any IBAN whose last four characters name a test account
    behaves that way (reject with its reason, answer late, stay silent, refuse recalls); every other account
    accepts after a delay in [accept_delay_ms_min, accept_delay_ms_max] that is stable per IBAN."""

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(self, *, accept_delay_ms_min: int = 20, accept_delay_ms_max: int = 150,
                 creditor_timeout_ms: int = 10_000):
        self.accept_delay_ms_min = accept_delay_ms_min
        self.accept_delay_ms_max = accept_delay_ms_max
        self.late_delay_s = creditor_timeout_ms / 1000 + LATE_ANSWER_MARGIN_S

    @classmethod
    def for_scheme(cls, params) -> TestAccountTable:
        """The table with the delays and timeout of a rail.scheme.SchemeParams."""
        return cls(accept_delay_ms_min=params.sandbox_accept_delay_ms_min,
                   accept_delay_ms_max=params.sandbox_accept_delay_ms_max,
                   creditor_timeout_ms=params.creditor_timeout_ms)

    def payment(self, creditor_iban: str, now_s: float) -> CreditorVerdict:
        decision = sandbox_creditor_decision(creditor_iban, accept_delay_ms_min=self.accept_delay_ms_min,
                                             accept_delay_ms_max=self.accept_delay_ms_max)
        if decision.kind == "silent":
            return CreditorVerdict(Decision.SILENT)
        if decision.kind == "late":
            return CreditorVerdict(Decision.ACCEPT, delay_s=self.late_delay_s)
        if decision.kind == "reject":
            return CreditorVerdict(Decision.REJECT, decision.reason or "NARR", decision.delay_ms / 1000)
        return CreditorVerdict(Decision.ACCEPT, delay_s=decision.delay_ms / 1000)

    def recall(self, creditor_iban: str) -> RecallVerdict:
        if sandbox_creditor_decision(creditor_iban).refuses_recall:
            return RecallVerdict(RecallDecision.REFUSE, RECALL_REFUSAL_REASON)
        return RecallVerdict(RecallDecision.RETURN, RECALL_RETURN_REASON)

    def request_to_pay(self, payer_iban: str) -> str | None:
        return _REJECT_BY_SUFFIX.get(payer_iban[-4:])


class Outage(msgspec.Struct, frozen=True):
    """A window (seconds since run start) in which `bic` ("*" = every simulated bank) misbehaves:
    mode "no_answer" (inbound pacs.008s are ignored: the rail times them out, AB05) or "reject"
    (everything is rejected with `reason`)."""

    start_s: float
    end_s: float
    bic: str = "*"
    mode: str = "no_answer"
    reason: str = "NARR"


class LoadModel:
    """The load harness's creditor: a log-normal answer latency, a reject rate over weighted ISO reasons, a
    share of silence, and outage windows (all from a scenario's [bank] table, :class:`BankBehaviour`).
    Recalls are returned in full and requests to pay are paid: the load model does not vary them."""

    def __init__(self, behaviour, bic: str, rng: random.Random):
        self.behaviour = behaviour
        self.bic = bic
        self.rng = rng
        self._latency_mu = math.log(max(behaviour.accept_latency_ms_median, 0.001))
        reasons = behaviour.reject_reasons or {"NARR": 1.0}
        self._reasons = list(reasons)
        self._reason_weights = [max(0.0, w) for w in reasons.values()]

    def payment(self, creditor_iban: str, now_s: float) -> CreditorVerdict:
        behaviour = self.behaviour
        for outage in behaviour.outages:
            if outage.start_s <= now_s < outage.end_s and outage.bic in ("*", self.bic):
                if outage.mode == "no_answer":
                    return CreditorVerdict(Decision.SILENT)
                return CreditorVerdict(Decision.REJECT, outage.reason)
        rng = self.rng
        if behaviour.no_answer_rate and rng.random() < behaviour.no_answer_rate:
            return CreditorVerdict(Decision.SILENT)
        delay_ms = min(rng.lognormvariate(self._latency_mu, behaviour.accept_latency_sigma),
                       behaviour.accept_latency_ms_max)
        if behaviour.reject_rate and rng.random() < behaviour.reject_rate:
            reason = rng.choices(self._reasons, self._reason_weights)[0]
            return CreditorVerdict(Decision.REJECT, reason, delay_ms / 1000.0)
        return CreditorVerdict(Decision.ACCEPT, delay_s=delay_ms / 1000.0)

    def recall(self, creditor_iban: str) -> RecallVerdict:
        return RecallVerdict(RecallDecision.RETURN, RECALL_RETURN_REASON)

    def request_to_pay(self, payer_iban: str) -> str | None:
        return None


class Fault(StrEnum):
    """A deliberate defect of a simulated bank: what `rail certify` must catch (docs/certify.md)."""

    LATE = "late"  # answers every payment after the scheme timeout
    WRONG_REASON = "wrong_reason"  # rejects with MS03 whatever the account's real problem
    ANSWERS_DUPLICATES = "answers_duplicates"  # answers every delivery of a pacs.008, repeats included
    IGNORES_RECALLS = "ignores_recalls"  # never answers a camt.056
    FORGETS_BACKLOG = "forgets_backlog"  # at start, acknowledges what is waiting without reading it


ANSWER_FAULTS = frozenset({Fault.LATE, Fault.WRONG_REASON, Fault.IGNORES_RECALLS})


class Faulty:
    """`policy` with the answer faults among `faults` (the others are the bank's own)."""

    def __init__(self, policy: CreditorPolicy, faults: frozenset[Fault], creditor_timeout_ms: int):
        self.policy = policy
        self.faults = faults
        self.late_delay_s = creditor_timeout_ms / 1000 + LATE_ANSWER_MARGIN_S

    def payment(self, creditor_iban: str, now_s: float) -> CreditorVerdict:
        verdict = self.policy.payment(creditor_iban, now_s)
        if Fault.WRONG_REASON in self.faults and verdict.decision is Decision.REJECT:
            verdict = msgspec.structs.replace(verdict, reason=WRONG_REASON)
        if Fault.LATE in self.faults and verdict.decision is not Decision.SILENT:
            verdict = msgspec.structs.replace(verdict, delay_s=max(verdict.delay_s, self.late_delay_s))
        return verdict

    def recall(self, creditor_iban: str) -> RecallVerdict:
        if Fault.IGNORES_RECALLS in self.faults:
            return RecallVerdict(RecallDecision.IGNORE)
        return self.policy.recall(creditor_iban)

    def request_to_pay(self, payer_iban: str) -> str | None:
        return self.policy.request_to_pay(payer_iban)




class Switchable:
    """`policy`, or for a while the operator's behaviour instead (rail/api/simulated.py): `down` answers no
    payment and no recall (the rail times payments out, AB05), `slow` answers `delay_ms` later, `reject` rejects
    every payment with its reason. An expired behaviour reverts to `policy` by itself."""

    def __init__(self, policy: CreditorPolicy, clock: Callable[[], float] = time.time):
        self.policy = policy
        self.clock = clock
        self._behaviour = NORMAL

    @property
    def behaviour(self) -> Behaviour:
        current = self._behaviour
        if current.until_s is not None and self.clock() >= current.until_s:
            self._behaviour = current = NORMAL
        return current

    @behaviour.setter
    def behaviour(self, behaviour: Behaviour) -> None:
        self._behaviour = behaviour

    def payment(self, creditor_iban: str, now_s: float) -> CreditorVerdict:
        behaviour = self.behaviour
        if behaviour.mode is Mode.DOWN:
            return CreditorVerdict(Decision.SILENT)
        if behaviour.mode is Mode.REJECT:
            return CreditorVerdict(Decision.REJECT, behaviour.reason or "NARR")
        verdict = self.policy.payment(creditor_iban, now_s)
        if behaviour.mode is Mode.SLOW and verdict.decision is not Decision.SILENT:
            verdict = msgspec.structs.replace(verdict, delay_s=verdict.delay_s + (behaviour.delay_ms or 0) / 1000)
        return verdict

    def recall(self, creditor_iban: str) -> RecallVerdict:
        if self.behaviour.mode is Mode.DOWN:
            return RecallVerdict(RecallDecision.IGNORE)
        return self.policy.recall(creditor_iban)

    def request_to_pay(self, payer_iban: str) -> str | None:
        return self.policy.request_to_pay(payer_iban)
