"""What a check works with: the examiner, the participant's declaration, the hooks, and how it reports."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from rail.certify.declaration import Declaration
from rail.certify.examiner import Examiner, Recorded
from rail.certify.hooks import SenderHook

RAIL_BUILT = ("pacs.002", "acmt.024", "admi.002")  # what the rail writes itself rather than forwards


class CaseFailed(Exception):
    """The participant did not do what the case asks: the message says what, for the report."""


class NotRun(Exception):
    """The case could not be run (a hook or the token it needs was not given): the message says what to give."""


FINAL_WAIT_S = 30.0  # longest wait for a payment's final status (the scheme's hard stop is 20 s)
HOOK_TIMEOUT_S = 30.0  # longest a sender hook call or the restart command may take


class Options(msgspec.Struct, frozen=True):
    """How a run examines (CLI options; docs/certify.md)."""

    final_wait_s: float = FINAL_WAIT_S
    answer_within_ms: int | None = None  # stricter than the rail's own timeout, when given
    hook_timeout_s: float = HOOK_TIMEOUT_S
    params: dict[str, dict[str, float]] = {}  # case id -> its params to override (--param R09.rate_per_s=50)


Restart = Callable[[], Awaitable[None]]


class Context:
    """One case's view of the run."""

    def __init__(self, *, examiner: Examiner, participant: str, token: str | None, declaration: Declaration,
                 options: Options, params: dict[str, Any], restart: Restart | None,
                 sender_hook: SenderHook | None, accounts: itertools.count, earlier: list[Recorded]):
        self.examiner = examiner
        self.participant = participant
        self.token = token
        self.declaration = declaration
        self.options = options
        self.params = params
        self.restart = restart
        self.sender_hook = sender_hook
        self._accounts = accounts
        self._earlier = earlier  # what the earlier cases of the run recorded
        self.details: list[str] = []
        self.timings: dict[str, float] = {}

    def note(self, text: str) -> None:
        self.details.append(text)

    def examiner_account(self) -> str:
        """A fresh examiner IBAN (its payments can be held apart from every other case's)."""
        return self.examiner.iban(next(self._accounts))

    def run_messages(self) -> list[Recorded]:
        """Every message of the run so far that the participant wrote: what reached the examiner from it (not
        the rail's own reports) and what its sender hook reported sending."""
        recorded = self._earlier + self.examiner.transport.transcript
        return [m for m in recorded if m.direction == "participant sent"
                or (m.direction == "received" and not m.msg_type.startswith(RAIL_BUILT))]

    def need_hook(self) -> SenderHook:
        if self.sender_hook is None:
            raise NotRun("no sender hook: give --sender-hook URL or COMMAND (docs/certify.md)")
        return self.sender_hook

    def need_token(self) -> str:
        if not self.token:
            raise NotRun("needs the participant's own token: give --token")
        return self.token


def answer_ms(view: dict) -> float | None:
    """Milliseconds from the rail receiving a payment to the creditor agent's first answer (its history)."""
    received = answered = None
    for event in view.get("history", ()):
        name = event["event"]
        if name == "received" and received is None:
            received = dt.datetime.fromisoformat(event["at"])
        elif name.startswith("creditor ") and not name.endswith("after final") and answered is None:
            answered = dt.datetime.fromisoformat(event["at"])
    if received is None or answered is None:
        return None
    return (answered - received).total_seconds() * 1000


def creditor_answers(view: dict) -> list[str]:
    """Every answer the creditor agent sent about the payment, late and repeated ones included."""
    return [e["event"] for e in view.get("history", ()) if e["event"].startswith("creditor ")]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
