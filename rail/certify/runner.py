"""A certification run: preflight, the examiner, each selected case in order, and the verdict."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import logging
import time
from collections.abc import Callable
from enum import StrEnum

import msgspec

from participants.transport import HttpTransport, TransportError
from rail.certify import checks_receiver, checks_security, checks_sender
from rail.certify.context import CaseFailed, Context, NotRun, Options, Restart
from rail.certify.declaration import Declaration
from rail.certify.examiner import EXAMINER_BIC, Examiner, Recorded
from rail.certify.hooks import HookFailed, SenderHook
from rail.certify.suite import Case, Condition, Suite

log = logging.getLogger(__name__)

CASE_MARGIN_S = 30.0  # a case is abandoned this long after its own waits could have ended

CHECKS = {
    name: getattr(module, name)
    for module in (checks_receiver, checks_sender, checks_security)
    for name in dir(module)
    if not name.startswith("_") and asyncio.iscoroutinefunction(getattr(module, name))
    and getattr(module, name).__module__ == module.__name__
}


class Outcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    NOT_APPLICABLE = "not applicable"  # a conditional case whose condition does not hold
    NOT_RUN = "not run"  # it applies, but what it needs was not given (a hook, the token)
    ERROR = "error"  # the certifier itself failed on this case (a bug to report): it did not pass


class CaseResult(msgspec.Struct):
    id: str
    slug: str
    role: str
    title: str
    requirement: str
    condition: str | None
    required: bool  # mandatory, or conditional with its condition holding: it counts for the verdict
    outcome: Outcome
    reason: str
    details: list[str]
    seconds: float
    timings: dict[str, float]
    iso_basis: str
    rule: str
    messages: list[Recorded]


class Certification(msgspec.Struct):
    suite_version: str
    target: str
    participant: str
    examiner: str
    started_at: str
    seconds: float
    results: list[CaseResult]
    interrupted: bool = False  # stopped (Ctrl-C) before every selected case ran: never a pass

    @property
    def passed(self) -> bool:
        """Every required case passed: the exit code's 0."""
        return not self.interrupted and all(r.outcome is Outcome.PASSED for r in self.results if r.required)


class CertifyError(Exception):
    """The run cannot start (the rail, the participant or the examiner is not there): the message says why."""


class Run(msgspec.Struct, frozen=True):
    """What a run needs beyond the cases (the CLI's options; tests build it directly)."""

    target: str
    participant: str
    admin_token: str
    declaration: Declaration
    token: str | None = None
    options: Options = Options()
    examiner_bic: str = EXAMINER_BIC
    sender_hook: str | None = None


def applies(case: Case, declaration: Declaration, restart: Restart | None) -> bool:
    condition = case.condition
    if condition is None:
        return True
    return {
        Condition.ALIASES: bool(declaration.aliases),
        Condition.RESTART_HOOK: restart is not None,
        Condition.REQUEST_TO_PAY: declaration.features.request_to_pay,
        Condition.WEBHOOK: declaration.features.webhook_url is not None,
    }[condition]


async def preflight(run: Run) -> None:
    """The rail answers, the participant is one of its participants, and its token (if given) is its own."""
    admin = HttpTransport(run.target, admin_token=run.admin_token)
    try:
        if not await admin.healthz():
            raise CertifyError(f"the rail at {run.target} says it is not serving (GET /healthz)")
        accounts = (await admin.balances()).get("accounts", {})
        if run.participant not in accounts:
            raise CertifyError(f"{run.participant} is not a participant of the rail at {run.target}")
        if run.token:
            own = await admin.with_token(run.token).own_balance()
            if own.get("bic") != run.participant:
                raise CertifyError(f"--token is {own.get('bic')}'s, not {run.participant}'s")
    except TransportError as exc:
        raise CertifyError(f"cannot use the rail at {run.target}: {exc}") from None
    finally:
        await admin.close()


async def certify(run: Run, suite: Suite, cases: list[Case], restart: Restart | None = None,
                  progress: Callable[[Case, CaseResult | None], None] | None = None) -> Certification:
    """Run `cases` against the participant; `progress(case, None)` before each, `(case, result)` after."""
    await preflight(run)
    started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    started = time.monotonic()
    examiner = Examiner(run.target, run.admin_token, run.examiner_bic)
    hook = SenderHook(run.sender_hook, run.options.hook_timeout_s) if run.sender_hook else None
    accounts = itertools.count(10)
    results: list[CaseResult] = []
    try:
        await examiner.open()
    except TransportError as exc:
        await examiner.close()
        raise CertifyError(f"cannot register the examiner {run.examiner_bic}: {exc}") from None
    try:
        for case in cases:
            if progress is not None:
                progress(case, None)
            earlier = [m for r in results for m in r.messages]
            ctx = Context(examiner=examiner, participant=run.participant, token=run.token,
                          declaration=run.declaration, options=run.options,
                          params={**case.params, **run.options.params.get(case.id, {})},
                          restart=restart, sender_hook=hook, accounts=accounts, earlier=earlier)
            result = await _run_case(case, ctx, applies(case, run.declaration, restart))
            results.append(result)
            if progress is not None:
                progress(case, result)
    finally:
        await examiner.close()
    return Certification(suite.version, run.target, run.participant, run.examiner_bic, started_at,
                         round(time.monotonic() - started, 3), results)


async def _run_case(case: Case, ctx: Context, required: bool) -> CaseResult:
    started = time.monotonic()
    if not required:
        outcome, reason = Outcome.NOT_APPLICABLE, f"does not apply: the participant has no {case.condition}"
    else:
        limit_s = 2 * ctx.options.final_wait_s + ctx.options.hook_timeout_s + CASE_MARGIN_S
        try:
            await asyncio.wait_for(CHECKS[case.check](ctx), limit_s)
            outcome, reason = Outcome.PASSED, ""
        except CaseFailed as exc:
            outcome, reason = Outcome.FAILED, str(exc)
        except NotRun as exc:
            outcome, reason = Outcome.NOT_RUN, str(exc)
        except HookFailed as exc:
            outcome, reason = Outcome.FAILED, str(exc)
        except TimeoutError:
            outcome, reason = Outcome.FAILED, f"the case did not finish within {limit_s:g} s"
        except TransportError as exc:
            outcome, reason = Outcome.FAILED, f"the rail could not be used: {exc}"
        except Exception as exc:  # one case's bug must not lose the run's evidence
            log.exception("rail certify: case %s failed inside the certifier", case.id)
            outcome, reason = Outcome.ERROR, f"the certifier failed: {exc!r}"
    return CaseResult(
        id=case.id, slug=case.slug, role=case.role, title=case.title, requirement=str(case.requirement),
        condition=str(case.condition) if case.condition else None,
        required=required, outcome=outcome, reason=reason,
        details=ctx.details, seconds=round(time.monotonic() - started, 3),
        timings={k: round(v, 1) for k, v in ctx.timings.items()}, iso_basis=case.iso_basis, rule=case.rule,
        messages=ctx.examiner.transport.take_transcript(),
    )
