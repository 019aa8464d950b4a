"""The simulated bank: one real client of the rail, acting only as itself, over either transport.

The same bank is the sandbox's built-in counterparty (participants/sandbox.py: the default scheme's banks, in
process, answering by the scheme's test-account table), the load harness's participant (participants/harness.py:
over HTTP or in process, answering by the load model) and the participant a `rail certify` run examines
(rail/app/bank_cli.py). What it answers is its :class:`~participants.creditor.CreditorPolicy`; how it talks
to the rail is its transport (participants/transport.py); messages are built and read by its codec
(participants/codec.py).

Every message a bank receives is handled:

* **pacs.008** (it is the creditor agent): answered once per payment with a pacs.002 (ACSP, or RJCT with an ISO
  reason) after the policy's delay, or not at all (the rail then times it out, AB05). Delivery is at least
  once: a repeated delivery of a payment is not answered again.
* **pacs.002**: the final status of a payment it sent (RJCT gives the customer's money back) or received (ACSC
  credits the beneficiary, exactly once however often it is delivered).
* **camt.056** (a recall of a payment it received): a pacs.004 returning what is left of it, or a camt.029
  refusing (policy); **pacs.004** and **camt.029** (answers to its own recalls): the books follow a return.
* **pain.013** (it is the payer's bank): a pain.014 (ACCP, or RJCT with a reason), then the pacs.008 that pays
  it; **pain.014** (answers to its own requests to pay): counted.

As debtor agent it keeps the exact bytes of each payment until it is final, so a resend after a connection
failure is the same message (the rail answers a resend with the original outcome), and it asks the rail
(pacs.028) about a payment still without a final status `status_request_after_s` after sending it.

Core banking is its customers' books: what the harness reconciles. Delivery is a long-poll inbox (many
messages per poll, acknowledged through the next poll) or a webhook (the rail POSTs the same document).
"""

from __future__ import annotations

import asyncio
import collections
import collections.abc
import itertools
import random
import secrets
import time
import uuid
from collections.abc import Callable
from enum import StrEnum
from typing import Any

import msgspec

from participants.codec import BankCodec, Parsed
from participants.creditor import (
    DEFAULT_REJECT_REASONS,
    CreditorPolicy,
    CreditorVerdict,
    Decision,
    Fault,
    LoadModel,
    Outage,
    RecallDecision,
)
from participants.transport import RailRefused, RailUnreachable, TransportError
from participants.treasury import Treasury
from rail.recent import RecentDict
from rail.api.webhook_signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify

# Bounds (STYLE: a limit on everything).
ANSWERS_PENDING_MAX = 200_000  # creditor answers scheduled but not yet sent
INBOX_BACKOFF_S_MIN = 0.05
INBOX_BACKOFF_S_MAX = 2.0
ANSWER_SEND_ATTEMPTS_MAX = 5  # an answer is idempotent at the rail; retry a few times across a blip
ANSWER_RETRY_S = 0.2
RETRYABLE_HTTP = frozenset({429, 503})  # the rail shed load with a clear answer: nothing happened, try again
# Payments remembered per bank (as creditor, for exactly-once credits and answers; the oldest are forgotten
# beyond it): at least a load run's maximum, so the harness can reconcile every payment of a run.
PAYMENTS_REMEMBERED_MAX = 5_000_000
BOOK_ACCOUNTS_MAX = 100_000  # accounts with their own line in the books; others share OTHER_ACCOUNTS
OTHER_ACCOUNTS = "*"
STATUS_REQUESTS_PER_PAYMENT_MAX = 3  # pacs.028 sent about one payment before the bank stops asking
STATUS_SWEEP_S = 1.0
# Settled payments whose message is kept so the bank can still recall them (camt.056 repeats its ids); older
# ones keep only what the books need.
RECALLABLE_MAX = 10_000

__all__ = ["DEFAULT_REJECT_REASONS", "Acknowledge", "BankBehaviour", "Outage", "SendResult", "SimulatedBank",
           "Treasury"]


class Acknowledge(StrEnum):
    """When the bank acknowledges inbox messages (the acknowledgement rides on its next poll)."""

    # As soon as a page is handled, answers possibly still scheduled: the fewest requests, for banks that are
    # not restarted mid-run (the load model); a bank killed meanwhile loses those answers (the rail: AB05).
    ON_RECEIPT = "on_receipt"
    # Only up to the first message whose answer has not been sent: a bank killed and restarted gets again
    # whatever it had not finished (what a certified participant must survive).
    AFTER_ANSWER = "after_answer"


class BankBehaviour(msgspec.Struct, frozen=True):
    """How every simulated bank behaves (scenario `[bank]` table, see docs/load.md): the load model's creditor
    answers (participants/creditor.py's LoadModel reads them), delivery, and the treasury."""

    accept_latency_ms_median: float = 15.0
    accept_latency_sigma: float = 0.6
    accept_latency_ms_max: float = 3_000.0
    reject_rate: float = 0.01
    reject_reasons: dict[str, float] = msgspec.field(default_factory=lambda: dict(DEFAULT_REJECT_REASONS))
    no_answer_rate: float = 0.0
    outages: list[Outage] = msgspec.field(default_factory=list)
    delivery: str = "inbox"  # inbox | webhook
    inbox_wait_s: float = 1.0
    inbox_batch_max: int = 1_000
    # Over HTTP, after a non-empty poll, wait this long before the next one so that each poll carries a batch.
    # Every request costs the rail ~50-100 us of CPU: 8 banks polling every 40 ms make ~0.1-0.2 polls per
    # payment at 1,000 payments/s (each poll also carries the previous batch's acknowledgement), for at most
    # 40 ms more latency on the two inbox hops of a payment.
    inbox_linger_ms: float = 40.0
    acknowledge: Acknowledge = Acknowledge.ON_RECEIPT
    # A payment sent with no final status this long after: ask the rail (pacs.028). After the scheme's 20 s hard
    # stop every payment has one, so this only finds a final pacs.002 that never arrived. None: never ask.
    status_request_after_s: float | None = 25.0
    treasury: Treasury = Treasury()


class Inbound(msgspec.Struct, gc=False):
    """A payment this bank is creditor agent for."""

    creditor_iban: str
    amount_paisa: int
    answered: str = ""  # ACSP | RJCT | "" (not yet / never)
    credited: bool = False
    returned_paisa: int = 0


class Outgoing(msgspec.Struct, gc=False):
    debtor_iban: str
    amount_paisa: int
    final: str = ""
    # The exact bytes sent (and the message they render), kept until the final status: a resend after a
    # connection failure must be the same message (same MsgId/TxId/timestamps), which the rail answers with the
    # original outcome; a new message under the same UETR would be a different message under a used id (AM05).
    body: bytes | None = None
    message: Any = None
    status_requests: int = 0
    returned_paisa: int = 0


class SendResult(msgspec.Struct, frozen=True, gc=False):
    """The rail's synchronous answer to a message this bank started (a pacs.008: ACTC, accepted and the final
    status later, or RJCT now), with the bytes sent and the answer's (what a certification hook reports)."""

    status: str  # ACTC | RJCT | ACSC (when the rail answered with the final status already) | PDNG (pacs.028)
    reason: str = ""
    http_status: int = 0
    sent: bytes = b""
    answer: bytes = b""


FinalListener = Callable[[str, str, str], None]  # (uetr, status, reason)


class SimulatedBank:
    """One bank. `customers` are its customers (objects with name/iban attributes); `policy` what it answers
    (default: the load model of `behaviour`); `faults` the defects of its own that `rail certify` must catch
    (the answer faults are its policy's, participants/creditor.py's Faulty)."""

    def __init__(
        self,
        bic: str,
        name: str,
        customers: list[Any],
        transport: Any,
        codec: BankCodec,
        behaviour: BankBehaviour | None = None,
        seed: int = 0,
        run_clock: Callable[[], float] | None = None,
        on_final: FinalListener | None = None,
        id_tag: str | None = None,
        policy: CreditorPolicy | None = None,
        faults: frozenset[Fault] = frozenset(),
        remember_max: int = PAYMENTS_REMEMBERED_MAX,
        send_structs: bool = False,
        webhook_secret: str | None = None,
    ):
        if not customers:
            raise ValueError(f"bank {bic} has no customers to pay from or to")
        self.bic = bic
        self.name = name
        self.customers = list(customers)
        self.transport = transport
        self.codec = codec
        self.behaviour = behaviour or BankBehaviour()
        self.rng = random.Random(f"{seed}:{bic}")
        self.policy = policy or LoadModel(self.behaviour, bic, self.rng)
        self.faults = faults
        self.remember_max = remember_max
        # Payments go to the rail as structs (transport.post), not as encoded bytes: for the in-process transport
        # when what is measured is settlement, not the rail's decoding (rail simulate, rail/sim/).
        self.send_structs = send_structs
        self.webhook_secret = webhook_secret  # its webhook takes only pushes the rail signed with it
        self.run_clock = run_clock or _monotonic_clock()
        self.on_final = on_final
        self.books: dict[str, int] = {c.iban: 0 for c in self.customers}
        # The last `remember_max` payments (a payment not final yet is never forgotten)
        self.outgoing: RecentDict = RecentDict(remember_max, must_stay=_not_final)  # uetr -> Outgoing
        self.inbound: RecentDict = RecentDict(remember_max)  # uetr -> Inbound
        self._credited: RecentDict = RecentDict(remember_max)  # uetr -> None, the oldest forgotten first
        self.answers_pending = 0
        self.counters = collections.Counter({
            "sent": 0, "inbound": 0, "answered_accept": 0, "answered_reject": 0, "not_answered": 0,
            "answer_failures": 0, "duplicates": 0, "inbox_polls": 0, "inbox_messages": 0, "unknown_messages": 0,
        })
        self.gaps: list[tuple[float, float]] = []  # (start_s, end_s) the rail was unreachable from this bank
        self._gap_start: float | None = None
        self._running = False
        self._tasks: set[asyncio.Task] = set()
        self._seen_upto = 0  # highest inbox seq handled by this instance (a restart starts again from 0)
        self._acked_upto = 0
        self._unfinished: dict[int, None] = {}  # seqs whose answer is not sent yet (Acknowledge.AFTER_ANSWER)
        self._tracks_answers = self.behaviour.acknowledge is Acknowledge.AFTER_ANSWER
        self._timers: dict[int, asyncio.TimerHandle] = {}  # answers waiting for their delay
        # Answers running as their own task, by the same keys: each removes itself when it ends (one dict pop:
        # no done callback through the loop, no asyncio.current_task() lookup on the load's hot path)
        self._answering: dict[int, asyncio.Task] = {}
        self._timer_ids = itertools.count()
        self._status_due: collections.deque[tuple[float, str]] = collections.deque()
        self._recallable: collections.deque[str] = collections.deque()
        self._msg_seq = 0
        # The rail deduplicates on (InstgAgt, TxId): ids must not repeat across runs or restarts, so each
        # bank instance tags them; a caller replaying the very same messages on purpose passes id_tag="".
        self._msg_id_prefix = f"{bic}{secrets.token_hex(3).upper() if id_tag is None else id_tag}"

    @property
    def credited_uetrs(self) -> collections.abc.KeysView[str]:
        """The payments credited to a beneficiary (the last `remember_max`): what the harness reconciles."""
        return self._credited.keys()

    # ---- debtor agent -------------------------------------------------------------------------------

    def customer(self, index: int) -> Any:
        return self.customers[index % len(self.customers)]

    async def send_payment(self, uetr: str, amount_paisa: int, debtor_index: int, creditor: SimulatedBank,
                           creditor_index: int) -> SendResult:
        """Submit one pacs.008 to another simulated bank (see `pay`)."""
        beneficiary = creditor.customer(creditor_index)
        return await self.pay(uetr, amount_paisa, debtor_index, creditor.bic, beneficiary.name, beneficiary.iban)

    async def pay(self, uetr: str, amount_paisa: int, debtor_index: int, creditor_bic: str, creditor_name: str,
                  creditor_iban: str, end_to_end_id: str | None = None) -> SendResult:
        """Submit one pacs.008 as debtor agent; the same `uetr` again resends the same bytes. Raises
        RailUnreachable when the rail cannot be reached (the caller may resend: the rail answers a resent
        UETR with its original outcome)."""
        out = self.outgoing.get(uetr)
        if out is None:
            debtor = self.customer(debtor_index)
            fields = {"end_to_end_id": end_to_end_id} if end_to_end_id else {}
            message = self.codec.pacs008(
                uetr=uetr, msg_id=self.next_msg_id(), amount_paisa=amount_paisa,
                debtor_bic=self.bic, debtor_name=debtor.name, debtor_iban=debtor.iban,
                creditor_bic=creditor_bic, creditor_name=creditor_name, creditor_iban=creditor_iban, **fields,
            )
            body = None if self.send_structs else self.codec.encode(message)
            out = self._remember_outgoing(uetr, debtor.iban, amount_paisa, message, body)
        elif out.final:
            return SendResult(out.final)  # already final (e.g. through the inbox while a resend waited)
        body = out.body
        try:
            if body is None:  # the struct itself, as the bank's answers go (an acceptance renders nothing)
                answer = await self.transport.post("pacs.008", out.message, self.codec)
                status, content_type, body = answer.status, answer.content_type, b""
                reply = b"" if status == 202 else answer.body
            else:
                status, content_type, reply = await self.transport.send(body, self.codec.content_type)
        except RailUnreachable:
            self._mark_unreachable()
            raise
        self._mark_reachable()
        result = self._read_reply(status, content_type, reply, body)
        if result.status in ("RJCT", "ACSC"):
            self._final(uetr, result.status, result.reason)
        return result

    def _remember_outgoing(self, uetr: str, debtor_iban: str, amount_paisa: int, message: Any,
                           body: bytes | None) -> Outgoing:
        out = Outgoing(debtor_iban, amount_paisa, body=body, message=message)
        self.outgoing.remember(uetr, out)
        self._book(debtor_iban, -amount_paisa)  # core banking holds the customer's funds
        self.counters["sent"] += 1
        after_s = self.behaviour.status_request_after_s
        if after_s is not None:
            self._status_due.append((self.run_clock() + after_s, uetr))
        return out

    def _read_reply(self, http_status: int, content_type: str, body: bytes, sent: bytes = b"") -> SendResult:
        if http_status == 202:
            return SendResult("ACTC", http_status=http_status, sent=sent, answer=body)
        if http_status in RETRYABLE_HTTP:
            # The rail shed load with a clear answer; nothing moved (the rail's own contract).
            return SendResult("RJCT", f"HTTP{http_status}", http_status, sent, body)
        try:
            head = body[:200]
            msg_type = "pacs.002.001.10" if b"pacs.002.001" in head else ("admi.002.001.01" if b"admi.002" in head
                                                                            else None)
            parsed = self.codec.read(body.decode("utf-8", "replace") if msg_type else body, msg_type=msg_type,
                                     content_type=content_type)
        except Exception:  # the rail answered with something unreadable: record it, do not crash the run
            return SendResult("RJCT", f"HTTP{http_status}", http_status, sent, body)
        if parsed.msg_type.startswith("admi.002"):
            return SendResult("RJCT", parsed.reason or "FF01", http_status, sent, body)
        status = parsed.status or ("ACTC" if http_status < 300 else "RJCT")
        reason = parsed.reason if status == "RJCT" else ""
        return SendResult(status, reason or ("" if status != "RJCT" else f"HTTP{http_status}"), http_status, sent,
                          body)

    def _final(self, uetr: str, status: str, reason: str) -> None:
        out = self.outgoing.get(uetr)
        if out is None or out.final:
            return
        out.final = status
        out.body = None
        if status == "RJCT":
            out.message = None
            self._book(out.debtor_iban, out.amount_paisa)  # give the customer's money back
        else:
            self._keep_recallable(uetr)
        if self.on_final is not None:
            self.on_final(uetr, status, reason)

    def _keep_recallable(self, uetr: str) -> None:
        """Keep a settled payment's message for a recall; the oldest of RECALLABLE_MAX let theirs go."""
        if len(self._recallable) >= RECALLABLE_MAX:
            oldest = self.outgoing.get(self._recallable.popleft())
            if oldest is not None:
                oldest.message = None
        self._recallable.append(uetr)

    def next_msg_id(self) -> str:
        self._msg_seq += 1
        return f"{self._msg_id_prefix}{self._msg_seq:015d}"[:35]

    async def status_request(self, uetr: str) -> SendResult:
        """pacs.028 about a payment this bank sent: the rail answers with its status (a final one is applied)."""
        out = self.outgoing[uetr]
        out.status_requests += 1
        message = self.codec.status_request(out.message, msg_id=self.next_msg_id(), from_bic=self.bic)
        result = await self.originate("pacs.028", message)
        if result.status in ("RJCT", "ACSC") and result.http_status < 400:
            self._final(uetr, result.status, result.reason)
        return result

    async def recall(self, uetr: str, reason: str = "CUST") -> SendResult:
        """camt.056 recalling a payment this bank sent (its creditor answers with a pacs.004 or a camt.029).
        KeyError for a payment it did not send, or one settled too long ago (RECALLABLE_MAX)."""
        original = self.outgoing[uetr].message
        if original is None:
            raise KeyError(f"{uetr}: no longer kept for a recall")
        return await self.originate("camt.056", self.codec.recall(original, msg_id=self.next_msg_id(), reason=reason))

    async def request_to_pay(self, uetr: str, end_to_end_id: str, amount_paisa: int, payer_bic: str,
                             payer_name: str, payer_iban: str, payee_index: int = 0) -> SendResult:
        """pain.013 as the payee's (a merchant's) bank: ask `payer_iban` at `payer_bic` to pay a customer."""
        payee = self.customer(payee_index)
        message = self.codec.request_to_pay(
            msg_id=self.next_msg_id(), end_to_end_id=end_to_end_id, uetr=uetr, amount_paisa=amount_paisa,
            payee_bic=self.bic, payee_name=payee.name, payee_iban=payee.iban, payer_bic=payer_bic,
            payer_name=payer_name, payer_iban=payer_iban,
        )
        return await self.originate("pain.013", message)

    async def originate(self, msg_type: str, message: Any) -> SendResult:
        """Send a message this bank starts (not an answer); the rail's reply, with both sides' bytes."""
        answer = await self.transport.post(msg_type, message, self.codec)
        return self._read_reply(answer.status, answer.content_type, answer.body, self.codec.encode(message))

    async def _chase_late_payments(self) -> None:
        """Ask the rail (pacs.028) about payments still without a final status when they are due."""
        due = self._status_due
        while self._running:
            await asyncio.sleep(STATUS_SWEEP_S)
            now_s = self.run_clock()
            while due and due[0][0] <= now_s:
                _, uetr = due.popleft()
                out = self.outgoing.get(uetr)
                if out is None or out.final or out.message is None:
                    continue
                try:
                    await self.status_request(uetr)
                except TransportError:
                    self._mark_unreachable()
                if not out.final and out.status_requests < STATUS_REQUESTS_PER_PAYMENT_MAX:
                    due.append((now_s + (self.behaviour.status_request_after_s or STATUS_SWEEP_S), uetr))

    # ---- inbound messages ---------------------------------------------------------------------------

    def handle_batch(self, batch: dict) -> int:
        """Process one inbox/webhook document; returns the highest seq seen (0 when none). A message this
        instance has already handled (redelivered before its acknowledgement reached the rail) is skipped."""
        upto = 0
        seen_upto = self._seen_upto
        read = self.codec.read
        messages = batch.get("messages", ())
        for entry in messages:
            seq = int(entry.get("seq", 0))
            upto = max(upto, seq)
            if seq and seq <= seen_upto:
                continue
            try:
                parsed = read(entry["message"], msg_type=entry.get("msg_type"))
            except Exception:  # an unreadable message must not stop the bank; count it
                self.counters["unknown_messages"] += 1
                continue
            self._dispatch(parsed, seq)
        self.counters["inbox_messages"] += len(messages)
        self._seen_upto = max(seen_upto, upto)
        return upto

    def _dispatch(self, msg: Parsed, seq: int) -> None:
        kind = msg.msg_type[:8]
        if kind == "pacs.008":
            self._on_inbound_payment(msg, seq)
        elif kind == "pacs.002":
            self._on_status(msg)
        elif kind == "camt.056":
            self._spawn(self._on_recall(msg), seq)
        elif kind == "pain.013":
            self._spawn(self._on_request_to_pay(msg), seq)
        elif kind == "pacs.004":
            self._on_return(msg)
        elif kind in ("camt.029", "pain.014"):
            self.counters[f"received_{kind}"] += 1  # answers to its own recalls / requests to pay
        else:
            self.counters["unknown_messages"] += 1

    def _on_status(self, msg: Parsed) -> None:
        if msg.uetr in self.outgoing and msg.status in ("ACSC", "RJCT"):
            self._final(msg.uetr, msg.status, msg.reason)
        inbound = self.inbound.get(msg.uetr)
        if inbound is not None and msg.status == "ACSC" and not inbound.credited:
            inbound.credited = True
            iban = inbound.creditor_iban
            if iban in self.books:
                self.books[iban] += inbound.amount_paisa
            else:
                self._book(iban, inbound.amount_paisa)
            self._credited.remember(msg.uetr, None)

    def _on_inbound_payment(self, msg: Parsed, seq: int) -> None:
        if msg.uetr in self.inbound and Fault.ANSWERS_DUPLICATES not in self.faults:
            self.counters["duplicates"] += 1  # at-least-once delivery: answer once
            return
        if msg.uetr not in self.inbound:
            self.inbound.remember(msg.uetr, Inbound(msg.creditor_iban, msg.amount_paisa))
            self.counters["inbound"] += 1
        verdict = self.policy.payment(msg.creditor_iban, self.run_clock())
        if verdict.decision is Decision.SILENT or self.answers_pending >= ANSWERS_PENDING_MAX:
            self.counters["not_answered"] += 1
            return
        self.answers_pending += 1
        if verdict.delay_s <= 0:
            self._spawn(self._answer(msg, verdict), seq)
            return
        if self._tracks_answers:
            self._unfinished[seq] = None
        key = next(self._timer_ids)
        self._timers[key] = asyncio.get_running_loop().call_later(
            verdict.delay_s, self._spawn_answer, key, msg, verdict, seq
        )

    def _spawn_answer(self, key: int, msg: Parsed, verdict: CreditorVerdict, seq: int) -> None:
        del self._timers[key]
        if self._tracks_answers:
            self._spawn(self._answer(msg, verdict), seq)
        else:  # the load's hot path: the answer's task forgets itself (`_answer`), no wrapping coroutine
            self._answering[key] = asyncio.get_running_loop().create_task(self._answer(msg, verdict, key))

    def _spawn(self, coroutine, seq: int) -> None:
        """Run `coroutine` (an answer); with Acknowledge.AFTER_ANSWER, `seq` stays unacknowledged until it ends."""
        if self._tracks_answers:
            task = asyncio.get_running_loop().create_task(coroutine)
            self._unfinished[seq] = None
            task.add_done_callback(lambda done: self._finished(done, seq))
            self._tasks.add(task)
        else:  # one answer per payment: forgotten by the task itself, no done callback through the loop
            key = next(self._timer_ids)
            task = asyncio.get_running_loop().create_task(self._forgotten_when_done(coroutine, key))
            self._answering[key] = task

    async def _forgotten_when_done(self, coroutine, key: int) -> None:
        try:
            await coroutine
        finally:
            self._answering.pop(key, None)

    def _finished(self, task: asyncio.Task, seq: int) -> None:
        self._tasks.discard(task)
        self._unfinished.pop(seq, None)

    async def _answer(self, msg: Parsed, verdict: CreditorVerdict, key: int | None = None) -> None:
        status = "ACSP" if verdict.decision is Decision.ACCEPT else "RJCT"
        try:
            if not await self.answer_payment(msg.original, status, verdict.reason if status == "RJCT" else None):
                return
            inbound = self.inbound.get(msg.uetr)
            if inbound is not None:
                inbound.answered = status
            self.counters["answered_accept" if status == "ACSP" else "answered_reject"] += 1
        finally:
            self.answers_pending -= 1
            if key is not None:  # it runs as its own task (_spawn_answer)
                self._answering.pop(key, None)

    async def answer_payment(self, original: Any, status: str, reason: str | None = None) -> bool:
        """Send the creditor agent's pacs.002 (ACSP, or RJCT with `reason`) for a payment it received, the
        pacs.008 as read (`Parsed.original`); False when it could not be sent."""
        message = self.codec.pacs002_answer(original, from_bic=self.bic, status=status, reason=reason)
        try:  # the hot path, one answer per payment: one attempt, and the retries only when it failed
            answer = await self.transport.post("pacs.002", message, self.codec)
            if answer.status not in RETRYABLE_HTTP:
                return True
        except RailUnreachable:
            pass
        return await self._post_answer("pacs.002", message)

    async def _post_answer(self, msg_type: str, message: Any) -> bool:
        """Send an answer (idempotent at the rail), retrying across a blip; False when it could not be sent."""
        for attempt in range(ANSWER_SEND_ATTEMPTS_MAX):
            try:
                answer = await self.transport.post(msg_type, message, self.codec)
            except RailUnreachable:
                self._mark_unreachable()
            else:
                self._mark_reachable()
                if answer.status not in RETRYABLE_HTTP:
                    return True
            if attempt + 1 < ANSWER_SEND_ATTEMPTS_MAX:
                await asyncio.sleep(ANSWER_RETRY_S * (attempt + 1))
        self.counters["answer_failures"] += 1
        return False

    async def _on_recall(self, msg: Parsed) -> None:
        """camt.056 for a payment this bank received: return what is left of it, or refuse (its policy)."""
        try:
            payment = await self.transport.payment(msg.uetr)
        except RailRefused:
            payment = None  # not a payment of ours (404): nothing to answer about
        if not payment:
            return
        verdict = self.policy.recall(payment["creditor_iban"])
        if verdict.decision is RecallDecision.IGNORE:
            return
        if verdict.decision is RecallDecision.REFUSE:
            answer = self.codec.recall_refusal(msg.original, msg_id=self.next_msg_id(), from_bic=self.bic,
                                               reason=verdict.reason)
            await self._post_answer("camt.029", answer)
            return
        remaining = payment["amount_paisa"] - payment["returned_paisa"]
        if remaining <= 0:
            return
        back = self.codec.payment_return(payment, msg_id=self.next_msg_id(), from_bic=self.bic,
                                         amount_paisa=remaining, reason=verdict.reason)
        if await self._post_answer("pacs.004", back):
            inbound = self.inbound.get(msg.uetr)
            if inbound is not None and inbound.credited:
                self._book(inbound.creditor_iban, -remaining)  # the beneficiary's money goes back
                inbound.returned_paisa += remaining

    def _on_return(self, msg: Parsed) -> None:
        """pacs.004 for a payment this bank sent (an answer to its recall): the customer gets it back."""
        out = self.outgoing.get(msg.uetr)
        if out is None or out.final != "ACSC":
            return
        amount = min(msg.amount_paisa, out.amount_paisa - out.returned_paisa)
        if amount > 0:
            out.returned_paisa += amount
            self._book(out.debtor_iban, amount)
        self.counters["received_pacs.004"] += 1

    async def _on_request_to_pay(self, msg: Parsed) -> None:
        """pain.013 (this bank is the payer's): pain.014 ACCP then the pacs.008 paying it, or pain.014 RJCT."""
        request = msg.original
        tx = request.tx
        reason = self.policy.request_to_pay(tx.dbtr_acct_iban or "")
        answer = self.codec.request_to_pay_answer(request, msg_id=self.next_msg_id(), from_bic=self.bic,
                                                  reason=reason)
        if not await self._post_answer("pain.014", answer) or reason is not None:
            return
        if not (tx.cdtr_agt_bicfi and tx.dbtr_acct_iban and tx.cdtr_acct_iban):
            return
        uetr = str(uuid.uuid4())
        payment = self.codec.payment_for_request(request, msg_id=self.next_msg_id(), uetr=uetr, from_bic=self.bic)
        self._remember_outgoing(uetr, tx.dbtr_acct_iban, tx.amount_paisa, payment, None)
        answer = await self.transport.post("pacs.008", payment, self.codec)
        result = self._read_reply(answer.status, answer.content_type, answer.body)
        if result.status in ("RJCT", "ACSC"):
            self._final(uetr, result.status, result.reason)

    def _book(self, iban: str, delta_paisa: int) -> None:
        if iban not in self.books and len(self.books) >= BOOK_ACCOUNTS_MAX:
            iban = OTHER_ACCOUNTS
        self.books[iban] = self.books.get(iban, 0) + delta_paisa

    # ---- delivery -----------------------------------------------------------------------------------

    def _ackable(self) -> int:
        """The highest inbox seq this bank may acknowledge now (see Acknowledge)."""
        if self.behaviour.acknowledge is Acknowledge.AFTER_ANSWER and self._unfinished:
            return min(self._seen_upto, min(self._unfinished) - 1)
        return self._seen_upto

    async def poll_inbox(self) -> None:
        """Long-poll loop: fetch a batch, process it, acknowledge it; back off while the rail is away.

        The acknowledgement rides on the next poll (`ack=`), one request per batch instead of two, when the
        rail shows it honours that (its page reports `acked_upto`); otherwise a separate POST /v1/inbox/ack
        is sent, as the contract's baseline."""
        backoff = INBOX_BACKOFF_S_MIN
        piggyback = True  # until a page shows the rail does not acknowledge through the poll
        if Fault.FORGETS_BACKLOG in self.faults:
            await self._drop_backlog()
        while self._running:
            try:
                ackable = self._ackable()
                pending = ackable if ackable > self._acked_upto else 0
                if pending and not piggyback:
                    await self.transport.ack(pending)
                    self._acked_upto, pending = pending, 0
                batch = await self.transport.inbox(self.behaviour.inbox_wait_s, self.behaviour.inbox_batch_max,
                                                   ack_upto=pending or None)
                self._mark_reachable()
                self.counters["inbox_polls"] += 1
                acked_upto = batch.get("acked_upto")
                if pending:
                    if not isinstance(acked_upto, int) or acked_upto < pending:
                        piggyback = False  # the rail ignored the piggy-backed ack: send it on its own
                        await self.transport.ack(pending)
                    self._acked_upto = pending
                upto = self.handle_batch(batch)
                if upto and not (piggyback and isinstance(acked_upto, int)):
                    ackable = self._ackable()
                    if ackable > self._acked_upto:
                        await self.transport.ack(ackable)
                        self._acked_upto = ackable
                backoff = INBOX_BACKOFF_S_MIN
                await self._linger(batch, upto)
            except asyncio.CancelledError:
                raise
            except (RailUnreachable, RailRefused):
                self._mark_unreachable()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, INBOX_BACKOFF_S_MAX)

    async def _linger(self, batch: dict, upto: int) -> None:
        """Wait before the next poll so it carries a batch (HTTP), and so that messages left unacknowledged
        while their answers are pending (Acknowledge.AFTER_ANSWER) are not fetched again in a tight loop."""
        linger_s = self.behaviour.inbox_linger_ms / 1000.0
        if self.transport.kind == "http":
            if upto and linger_s > 0 and len(batch.get("messages", ())) < self.behaviour.inbox_batch_max:
                await asyncio.sleep(linger_s)
        elif self._unfinished and self.behaviour.acknowledge is Acknowledge.AFTER_ANSWER:
            await asyncio.sleep(max(linger_s, 0.001))

    async def _drop_backlog(self) -> None:
        """The FORGETS_BACKLOG fault: acknowledge whatever waits at start, unread (a bank that 'starts fresh')."""
        try:
            page = await self.transport.inbox(0, self.behaviour.inbox_batch_max)
            messages = page.get("messages", ())
            if messages:
                await self.transport.ack(int(messages[-1]["seq"]))
        except TransportError:
            pass

    # ---- webhook delivery ---------------------------------------------------------------------------

    async def webhook(self, request: Any) -> Any:
        """aiohttp handler for the bank's callback_url: the rail POSTs {"messages": [...]}; 204 acks them. With
        a webhook secret, a push without the rail's valid signature is refused (401) and not acted on."""
        from aiohttp import web

        if self.webhook_secret is not None:
            problem = verify(self.webhook_secret, request.headers.get(TIMESTAMP_HEADER, ""),
                             request.headers.get(SIGNATURE_HEADER, ""), await request.read())  # fmt: skip
            if problem is not None:
                return web.Response(status=401, text=f"not a push from the rail: {problem}")
        try:
            batch = await request.json()
        except Exception:
            return web.Response(status=400, text="expected a JSON inbox document")
        self.handle_batch(batch)
        return web.Response(status=204)

    # ---- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> None:
        self._running = True
        loop = asyncio.get_running_loop()
        if self.behaviour.delivery == "inbox":
            self._keep(loop.create_task(self.poll_inbox(), name=f"inbox-{self.bic}"))
        if self.behaviour.status_request_after_s is not None:
            self._keep(loop.create_task(self._chase_late_payments(), name=f"status-{self.bic}"))

    def _keep(self, task: asyncio.Task) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self, graceful: bool = True) -> None:
        """Stop polling and answering. `graceful`: first acknowledge what was processed, so the rail does not
        redeliver it; False is a crash (what a restart test needs): the rail redelivers every unacknowledged
        message to the next instance."""
        self._running = False
        for timer in self._timers.values():
            timer.cancel()
        self.answers_pending -= len(self._timers)
        self._timers.clear()
        tasks = [*self._tasks, *self._answering.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except (asyncio.CancelledError, TransportError):
                pass
        self._tasks.clear()
        self._answering.clear()
        ackable = self._ackable()
        if graceful and ackable > self._acked_upto:
            try:
                await self.transport.ack(ackable)
                self._acked_upto = ackable
            except TransportError:
                pass  # best effort: unacknowledged messages are only redelivered

    def _mark_unreachable(self) -> None:
        if self._gap_start is None:
            self._gap_start = self.run_clock()

    def _mark_reachable(self) -> None:
        if self._gap_start is not None:
            self.gaps.append((self._gap_start, self.run_clock()))
            self._gap_start = None

    def books_total_paisa(self) -> int:
        return sum(self.books.values())


def _not_final(out: Outgoing) -> bool:
    return not out.final


def _monotonic_clock() -> Callable[[], float]:
    start = time.monotonic()
    return lambda: time.monotonic() - start
