"""Sender checks: the participant's system sends on cue (its sender hook); the examiner is the counterparty
and checks what reached the rail and what arrived."""

from __future__ import annotations

import asyncio
import re
import time
import uuid

from rail import iso20022
from rail.certify import conformance
from rail.certify.context import CaseFailed, Context
from rail.certify.hooks import HookFailed, HookReport

ARRIVAL_S = 10.0  # longest wait, after the hook answered, for what it sent to reach the examiner
_PACS028_COUNT = re.compile(r'^rail_messages_received_total\{[^}]*msg_type="pacs\.028"[^}]*\} ([0-9.e+]+)$', re.MULTILINE)


async def _instruct(ctx: Context, case: str, action: str, **fields) -> HookReport:
    instruction = {"case": case, "action": action, **fields}
    try:
        report = await ctx.need_hook().instruct(instruction)
    except HookFailed as exc:
        raise CaseFailed(str(exc)) from None
    ctx.note(f"cue: {action} ({', '.join(f'{k}={v}' for k, v in fields.items() if k != 'creditor_name')})")
    transport = ctx.examiner.transport
    for exchange in report.exchanges:  # as the participant reports them: its side of the conversation
        uetr = fields.get("uetr", "")
        transport.record("participant sent", _kind(exchange.message), uetr, None, "", exchange.message)
        transport.record("participant got", _kind(exchange.answer), uetr, exchange.status, "", exchange.answer)
    return report


def _kind(text: str) -> str:
    match = re.search(r"urn:iso:std:iso:20022:tech:xsd:([a-z]{4}\.[0-9]{3}\.[0-9]{3}\.[0-9]{2})", text[:400])
    return match.group(1) if match else ""


async def _arrived(ctx: Context, keys: list[str], kind: str, what: str):
    """The message of `kind` the participant sent on cue, as it reached the examiner (filed under the first of
    `keys` it carries), checked against the XSD and the profile."""
    deadline = time.monotonic() + ARRIVAL_S
    while True:
        for key in filter(None, keys):
            found = await ctx.examiner.expect(key, (kind,), 0)
            if found is not None:
                _conforms(ctx, what, found[2])
                return found[1]
        if time.monotonic() > deadline:
            raise CaseFailed(f"no {kind} for {keys[0] or keys[-1]} reached the examiner within {ARRIVAL_S:g} s "
                             "of the cue")
        await asyncio.sleep(0.05)


def _conforms(ctx: Context, what: str, text: str) -> None:
    found = conformance.problems(text, {ctx.participant, ctx.examiner.bic})
    if found:
        raise CaseFailed(f"{what} is not valid: {'; '.join(found[:3])}")
    ctx.note(f"{what}: valid against the XSD and the RAAST profile")


async def _cue_payment(ctx: Context, case: str, action: str, amount_paisa: int,
                       hold: bool) -> tuple[str, object, HookReport]:
    """Cue the participant to pay the examiner; (UETR, the pacs.008 as it reached the examiner, the hook's
    report). With `hold` the examiner does not answer it."""
    iban = ctx.examiner_account()
    if hold:
        ctx.examiner.policy.held.add(iban)
    uetr, e2e = str(uuid.uuid4()), f"CERT-{case}-{uuid.uuid4().hex[:10]}"
    report = await _instruct(ctx, case, action, uetr=uetr, end_to_end_id=e2e, amount_paisa=amount_paisa,
                             creditor_agent=ctx.examiner.bic, creditor_iban=iban,
                             creditor_name="Certification Examiner")
    message = await _arrived(ctx, [report.uetr or uetr, f"e2e:{e2e}"], "pacs.008", "the pacs.008 as forwarded")
    tx = message.tx
    if (tx.dbtr_agt_bicfi, tx.cdtr_acct_iban, tx.amount_paisa) != (ctx.participant, iban, amount_paisa):
        raise CaseFailed(f"the pacs.008 is not the payment asked for: debtor agent {tx.dbtr_agt_bicfi}, "
                         f"creditor account {tx.cdtr_acct_iban}, {tx.amount_paisa} paisa")
    return tx.uetr, message, report


async def _settled(ctx: Context, uetr: str) -> None:
    view = await ctx.examiner.final(uetr, ctx.options.final_wait_s)
    if view.get("status") != "ACSC":
        raise CaseFailed(f"payment {uetr} did not settle: {view.get('status')} {view.get('reason') or ''}")


async def valid_credit_transfer(ctx: Context) -> None:
    uetr, _, _ = await _cue_payment(ctx, "S01", "pay", int(ctx.params["amount_paisa"]), hold=False)
    await _settled(ctx, uetr)
    ctx.note(f"payment {uetr} settled on the examiner's ACSP")


async def resend_same_ids(ctx: Context) -> None:
    amount = int(ctx.params["amount_paisa"])
    uetr, original, report = await _cue_payment(ctx, "S02", "pay_and_resend", amount, hold=True)
    sends = [e for e in report.exchanges if _kind(e.message).startswith("pacs.008")]
    if len(sends) < 2:
        raise CaseFailed(f"the hook reported {len(sends)} pacs.008 sent, not a send and a resend")
    first, second = (iso20022.decode(e.message.encode(), _content_type(e.message)).message for e in sends[-2:])

    def ids(m) -> tuple:
        return m.tx.uetr, m.tx.tx_id, m.tx.end_to_end_id, m.tx.amount_paisa

    if ids(first) != ids(second):
        raise CaseFailed(f"the resend is a different payment: {ids(second)} after {ids(first)}")
    answers = [(e.status, _tx_status(e.answer)) for e in sends[-2:]]
    if answers[1][1] == "RJCT" or answers[0] != answers[1]:
        raise CaseFailed(f"the resend did not get the original answer: {answers[1]} after {answers[0]}")
    forwarded = len(ctx.examiner.received(uetr, "pacs.008"))
    if forwarded != 1:
        raise CaseFailed(f"payment {uetr} reached the examiner {forwarded} times")
    ctx.note(f"the resend repeated UETR, TxId and EndToEndId and got the original answer (HTTP {answers[0][0]} "
             f"{answers[0][1]}); the examiner received the payment once")
    await ctx.examiner.bank.answer_payment(original, "ACSP")
    await _settled(ctx, uetr)


async def recall_settled(ctx: Context) -> None:
    uetr, _, _ = await _cue_payment(ctx, "S03", "pay", int(ctx.params["amount_paisa"]), hold=False)
    await _settled(ctx, uetr)
    await _instruct(ctx, "S03", "recall", uetr=uetr)
    message = await _arrived(ctx, [uetr], "camt.056", "the camt.056")
    if message.assgnr_bicfi != ctx.participant or message.tx.orgnl_uetr != uetr:
        raise CaseFailed(f"the camt.056 recalls {message.tx.orgnl_uetr} for {message.assgnr_bicfi}")
    # The examiner returns the payment (pacs.004): wait for it, so that this case's messages end here.
    deadline = time.monotonic() + ARRIVAL_S
    view = await ctx.examiner.payment(uetr)
    while not view.get("returned_paisa") and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        view = await ctx.examiner.payment(uetr)
    ctx.note(f"the examiner returned {view.get('returned_paisa', 0)} paisa (pacs.004) to the participant")


async def status_request(ctx: Context) -> None:
    uetr, original, _ = await _cue_payment(ctx, "S04", "pay", int(ctx.params["amount_paisa"]), hold=True)
    before = await _pacs028_count(ctx)
    report = await _instruct(ctx, "S04", "status_request", uetr=uetr)
    requests = [e for e in report.exchanges if _kind(e.message).startswith("pacs.028")]
    if not requests:
        raise CaseFailed("the hook reported no pacs.028 sent")
    request = requests[-1]
    _conforms(ctx, "the pacs.028", request.message)
    asked = iso20022.decode(request.message.encode(), _content_type(request.message)).message
    if asked.tx.orgnl_uetr not in (uetr, None) or (asked.tx.orgnl_uetr is None and not asked.tx.orgnl_tx_id):
        raise CaseFailed(f"the pacs.028 asks about {asked.tx.orgnl_uetr}, not {uetr}")
    if request.status != 200 or _tx_status(request.answer) not in ("PDNG", "ACTC"):
        raise CaseFailed(f"the rail's answer to the pacs.028 was HTTP {request.status} "
                         f"{_tx_status(request.answer)}, not 200 PDNG: it did not reach the rail as sent")
    after = await _pacs028_count(ctx)
    if before is not None and after is not None and after <= before:
        raise CaseFailed("the rail counted no pacs.028 while the participant said it sent one")
    ctx.note("pacs.028 answered PDNG while the examiner held its answer"
             + ("" if before is None else f"; the rail's pacs.028 count moved {before:g} -> {after:g}"))
    await ctx.examiner.bank.answer_payment(original, "ACSP")
    await _settled(ctx, uetr)


async def request_to_pay(ctx: Context) -> None:
    amount = int(ctx.params["amount_paisa"])
    payer = ctx.examiner_account()
    e2e = f"CERT-S05-{uuid.uuid4().hex[:10]}"
    report = await _instruct(ctx, "S05", "request_to_pay", uetr=str(uuid.uuid4()), end_to_end_id=e2e,
                             amount_paisa=amount, payer_agent=ctx.examiner.bic, payer_iban=payer,
                             payer_name="Certification Examiner")
    message = await _arrived(ctx, [report.uetr or "", f"e2e:{e2e}"], "pain.013", "the pain.013")
    tx = message.tx
    if (tx.cdtr_agt_bicfi, tx.amount_paisa, tx.dbtr_acct_iban) != (ctx.participant, amount, payer):
        raise CaseFailed(f"the pain.013 is not the request asked for: {tx.cdtr_agt_bicfi}, {tx.amount_paisa} "
                         f"paisa from {tx.dbtr_acct_iban}")
    # The examiner, as the payer's bank, answers pain.014 ACCP and pays (participants/bank.py): the payment
    # repeats the request's EndToEndId; the participant must accept it.
    paid = await ctx.examiner.expect(f"e2e:{tx.end_to_end_id}", ("pacs.002",), ctx.options.final_wait_s)
    if paid is None or paid[1].tx.tx_sts != "ACSC":
        state = "no final status" if paid is None else f"{paid[1].tx.tx_sts} {paid[1].tx.sts_rsn_cd or ''}"
        raise CaseFailed(f"the payment answering the request was not settled: {state}")
    ctx.note("the examiner accepted the request (pain.014 ACCP) and paid it; the participant accepted the payment")


async def _pacs028_count(ctx: Context) -> float | None:
    """The rail's count of pacs.028 received (its /metrics), None when it does not publish one."""
    text = await ctx.examiner.admin.metrics()
    if not text:
        return None
    return sum(float(value) for value in _PACS028_COUNT.findall(text))


def _content_type(text: str) -> str:
    return iso20022.CONTENT_TYPES["xml" if text.lstrip()[:1] == "<" else "json"]


def _tx_status(text: str) -> str:
    match = re.search(r"<TxSts>([A-Z]{4})</TxSts>|\"TxSts\":\s*\"([A-Z]{4})\"", text)
    return (match.group(1) or match.group(2)) if match else ""
