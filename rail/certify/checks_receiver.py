"""Receiver checks: the examiner pays the participant and watches what the rail makes of its answers."""

from __future__ import annotations

import asyncio
import time

from rail import iso20022
from rail.certify.context import CaseFailed, Context, answer_ms, creditor_answers, percentile

AMOUNT_PAISA = 10_000  # Rs 100 a payment


async def _pay_and_settle(ctx: Context, iban: str, amount_paisa: int = AMOUNT_PAISA) -> tuple[str, dict]:
    """Pay the participant's `iban`; (UETR, the payment's view once final or when the wait ran out)."""
    uetr = await ctx.examiner.pay(ctx.participant, iban, amount_paisa)
    return uetr, await ctx.examiner.final(uetr, ctx.options.final_wait_s)


def _answered_in_time(ctx: Context, uetr: str, view: dict, status: str, reason: str | None = None) -> float:
    """The participant's answer made the payment final with `status` (and `reason`), in time; its answer time."""
    final, got_reason = view.get("status"), view.get("reason")
    if final not in ("ACSC", "RJCT"):
        raise CaseFailed(f"payment {uetr} still not final after {ctx.options.final_wait_s:g} s (status {final})")
    if final == "RJCT" and got_reason in ("AB05", "AB06"):
        raise CaseFailed(f"payment {uetr} timed out at the rail ({got_reason}): no answer before the scheme "
                         f"timeout (answers: {', '.join(creditor_answers(view)) or 'none'})")
    if (final, got_reason if final == "RJCT" else None) != (status, reason):
        expected = status if reason is None else f"{status} {reason}"
        raise CaseFailed(f"payment {uetr} ended {final} {got_reason or ''}".rstrip() + f", expected {expected}")
    took_ms = answer_ms(view)
    if took_ms is None:
        raise CaseFailed(f"payment {uetr}: the rail's history shows no answer from the participant")
    limit = ctx.options.answer_within_ms
    if limit is not None and took_ms > limit:
        raise CaseFailed(f"payment {uetr} answered after {took_ms:.0f} ms, more than --answer-within-ms {limit}")
    return took_ms


async def answers_in_time(ctx: Context) -> None:
    iban = ctx.declaration.accounts.accept
    results = await asyncio.gather(*(_pay_and_settle(ctx, iban) for _ in range(int(ctx.params["payments"]))))
    times = [_answered_in_time(ctx, uetr, view, "ACSC") for uetr, view in results]
    ctx.timings.update(answer_ms_max=max(times), answer_ms_median=percentile(times, 0.5))
    ctx.note(f"{len(times)} payments to {iban} settled on the participant's ACSP; answers in "
             f"{min(times):.0f}-{max(times):.0f} ms")


async def _rejects(ctx: Context, iban: str, reason: str) -> None:
    uetr, view = await _pay_and_settle(ctx, iban)
    ctx.timings["answer_ms"] = _answered_in_time(ctx, uetr, view, "RJCT", reason)
    ctx.note(f"payment to {iban} rejected {reason} by the participant in {ctx.timings['answer_ms']:.0f} ms")


async def rejects_invalid(ctx: Context) -> None:
    await _rejects(ctx, ctx.declaration.accounts.invalid, "AC01")


async def rejects_closed(ctx: Context) -> None:
    await _rejects(ctx, ctx.declaration.accounts.closed, "AC04")


async def rejects_blocked(ctx: Context) -> None:
    await _rejects(ctx, ctx.declaration.accounts.blocked, "AC06")


async def _settled_first(ctx: Context, what: str) -> tuple[str, dict]:
    """A payment the participant accepted, that the case then works on (its failure fails the case)."""
    uetr, view = await _pay_and_settle(ctx, ctx.declaration.accounts.accept)
    try:
        _answered_in_time(ctx, uetr, view, "ACSC")
    except CaseFailed as exc:
        raise CaseFailed(f"precondition: {what} was not settled: {exc}") from None
    return uetr, view


async def duplicate_answered_once(ctx: Context) -> None:
    uetr, _ = await _settled_first(ctx, "the first delivery")
    redelivered = await ctx.examiner.admin.redeliver(uetr)
    if not redelivered.get("ok"):
        raise CaseFailed(f"the rail would not redeliver {uetr}: {redelivered}")
    ctx.note(f"payment {uetr} settled, then delivered to the participant a second time")
    await asyncio.sleep(float(ctx.params["quiet_s"]))
    answers = creditor_answers(await ctx.examiner.payment(uetr))
    if len(answers) != 1:
        raise CaseFailed(f"the participant answered payment {uetr} {len(answers)} times: {', '.join(answers)}")
    ctx.note(f"no second answer within {ctx.params['quiet_s']} s of the redelivery")


async def answers_recall(ctx: Context) -> None:
    uetr, view = await _settled_first(ctx, "the payment to recall")
    started = time.monotonic()
    reply = await ctx.examiner.bank.recall(uetr)
    if reply.http_status != 202:
        raise CaseFailed(f"the rail refused the examiner's camt.056 (HTTP {reply.http_status} {reply.reason})")
    answer = await ctx.examiner.expect(uetr, ("pacs.004", "camt.029"), float(ctx.params["answer_s"]))
    if answer is None:
        raise CaseFailed(f"no pacs.004 or camt.029 for the recall of {uetr} within {ctx.params['answer_s']} s")
    ctx.timings["answer_ms"] = (time.monotonic() - started) * 1000
    msg_type, message, _ = answer
    tx = message.tx
    if msg_type.startswith("pacs.004"):
        if not 0 < tx.amount_paisa <= view["amount_paisa"]:
            raise CaseFailed(f"pacs.004 returns {tx.amount_paisa} paisa of a {view['amount_paisa']} paisa payment")
        ctx.note(f"recall answered with pacs.004, {tx.amount_paisa} paisa returned, reason "
                 f"{tx.rtr_rsn_cd or tx.rtr_rsn_prtry}")
    else:
        if tx.tx_cxl_sts != "RJCR" or not (tx.cxl_sts_rsn_cd or tx.cxl_sts_rsn_prtry):
            raise CaseFailed(f"camt.029 must refuse (RJCR) with a reason, got {tx.tx_cxl_sts} {tx.cxl_sts_rsn_cd}")
        ctx.note(f"recall refused with camt.029 RJCR {tx.cxl_sts_rsn_cd or tx.cxl_sts_rsn_prtry}")


async def alias_lookup(ctx: Context) -> None:
    examiner = ctx.examiner
    for declared in ctx.declaration.aliases:
        lookup = iso20022.verification_request(msg_id=examiner.bank.next_msg_id(), assigner=examiner.bic,
                                               alias=declared.alias, assignee="SBPPPKKA")
        status, content_type, body = await examiner.transport.send(iso20022.encode(lookup, "xml"))
        report = iso20022.decode(body, content_type).message if status == 200 else None
        rpt = report.tx if report is not None and getattr(report, "rpt", None) else None
        if rpt is None or not rpt.vrfctn:
            raise CaseFailed(f"{declared.alias} does not resolve at the rail (HTTP {status})")
        if (rpt.updtd_agt_bicfi, rpt.updtd_acct_iban) != (ctx.participant, declared.iban):
            raise CaseFailed(f"{declared.alias} resolves to {rpt.updtd_agt_bicfi} {rpt.updtd_acct_iban}, "
                             f"declared {ctx.participant} {declared.iban}")
        ctx.note(f"{declared.alias} resolves to {declared.iban} at {ctx.participant}")


async def survives_restart(ctx: Context) -> None:
    iban, p = ctx.declaration.accounts.accept, ctx.params
    sent = [await ctx.examiner.pay(ctx.participant, iban, AMOUNT_PAISA) for _ in range(int(p["before"]))]
    restarting = asyncio.ensure_future(ctx.restart())
    started = time.monotonic()
    while not restarting.done() and len(sent) < int(p["before"]) + int(p["during_max"]):
        sent.append(await ctx.examiner.pay(ctx.participant, iban, AMOUNT_PAISA))
        await asyncio.wait([restarting], timeout=float(p["during_every_s"]))
    await restarting  # a failed restart command fails the case with its own message
    ctx.timings["restart_s"] = time.monotonic() - started
    sent += [await ctx.examiner.pay(ctx.participant, iban, AMOUNT_PAISA) for _ in range(int(p["after"]))]
    views = await asyncio.gather(*(ctx.examiner.final(uetr, ctx.options.final_wait_s) for uetr in sent))
    lost = [uetr for uetr, view in zip(sent, views) if view.get("status") != "ACSC"]
    if lost:
        reasons = sorted({f"{v.get('status')} {v.get('reason') or ''}".strip() for v in views
                          if v.get("status") != "ACSC"})
        raise CaseFailed(f"{len(lost)} of {len(sent)} payments sent around the restart were not settled "
                         f"({', '.join(reasons)}), e.g. {lost[0]}")
    ctx.note(f"{len(sent)} payments (before, during a {ctx.timings['restart_s']:.1f} s restart, after) all "
             f"settled on the participant's answers")


async def burst(ctx: Context) -> None:
    rate, seconds = float(ctx.params["rate_per_s"]), float(ctx.params["seconds"])
    count = max(1, int(rate * seconds))
    iban = ctx.declaration.accounts.accept
    start = time.monotonic()

    async def one(index: int) -> tuple[str, dict]:
        await asyncio.sleep(max(0.0, start + index / rate - time.monotonic()))  # open loop: on schedule
        return await _pay_and_settle(ctx, iban)

    results = await asyncio.gather(*(one(i) for i in range(count)))
    failures: list[str] = []
    times = []
    for uetr, view in results:
        try:
            times.append(_answered_in_time(ctx, uetr, view, "ACSC"))
        except CaseFailed as exc:
            failures.append(str(exc))
    if failures:
        raise CaseFailed(f"{len(failures)} of {count} payments failed, e.g. {failures[0]}")
    ctx.timings.update(answer_ms_p50=percentile(times, 0.5), answer_ms_p99=percentile(times, 0.99),
                       answer_ms_max=max(times))
    ctx.note(f"{count} payments at {rate:g}/s over {seconds:g} s all settled on the participant's answers; "
             f"answer p50 {ctx.timings['answer_ms_p50']:.0f} ms, p99 {ctx.timings['answer_ms_p99']:.0f} ms")


async def acknowledges(ctx: Context) -> None:
    from participants.transport import HttpTransport

    within_s = float(ctx.params["within_s"])
    own = HttpTransport(ctx.examiner.target, ctx.need_token())
    try:
        waiting = {m["seq"] for m in (await own.inbox(0, 1000)).get("messages", ())}
        await asyncio.sleep(within_s)
        still = waiting & {m["seq"] for m in (await own.inbox(0, 1000)).get("messages", ())}
    finally:
        await own.close()
    if still:
        raise CaseFailed(f"{len(still)} of the {len(waiting)} messages waiting in its inbox were still not "
                         f"acknowledged {within_s:g} s later")
    ctx.note(f"{len(waiting)} message(s) waiting at the start, all acknowledged within {within_s:g} s")
