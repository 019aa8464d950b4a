"""Dispatch: the core half of a submitted message. An accepted message (rail/api/accept.py) becomes the compact
command the settlement core applies, and the core's Outcome becomes the reply.

The checks here are those a participant's own message must pass whoever built it (a participant acts only as
itself: InstgAgt, DbtrAgt, Assgnr... must be the sender), so they run for messages that came as bytes and for
messages an in-process participant handed over as structs alike. The status a reply states is the one captured
when the command's batch was applied, and a reply leaves only once that batch is durable (the core answers then).

HTTP status of a POST /v1/messages answer (the body is always an ISO 20022 message in the request's rendering):
    400 admi.002          unreadable, wrong namespace/root, malformed (accept)
    403 admi.002          the message names another participant as its sender
    422 pacs.002 RJCT     profile rule failure, or the rail rejected it (AM04, AM05, CNOR, AB06...)
    202 pacs.002 ACTC     accepted, in flight (or relayed to the counterparty: camt.056, camt.029, pain.013/014)
    200 pacs.002          a final status (ACSC/RJCT): with `Prefer: wait=N`, a resend of a finished payment,
                          a creditor's answer, a settled return; or pacs.002 for a pacs.028; acmt.024 for acmt.023
    404 pacs.002 RJCT     pacs.028 / answer for a payment the participant is not party to (or that does not exist)
    429 admi.002          rate limit (Retry-After)
    503 admi.002          the rail is overloaded or stopping (Retry-After)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import ClassVar

import msgspec

from rail import iso20022
from rail.api.accept import Accepted, Acceptor
from rail.api.identity import Identity, canonical, retry_after
from rail.api.outbox import WAIT_S_MAX, ForwardedStructs
from rail.api.replies import InboundMessage, Replies, Reply, original_ids
from rail.iso20022.builders import resolution
from rail.iso20022.structs import (
    Acmt023,
    Acmt024,
    Camt029,
    Camt056,
    Pacs002,
    Pacs004,
    Pacs008,
    Pacs028,
    Pain013,
    Pain014,
    VrfctnRpt,
)
from rail.scheme import Scheme
from rail.settlement.commands import (
    CreditorStatus,
    SubmitCreditTransfer,
    SubmitRecall,
    SubmitRequestToPay,
    SubmitRequestToPayStatus,
    SubmitResolution,
    SubmitReturn,
)
from rail.settlement.core import CoreStopped, Overloaded, SettlementCore
from rail.settlement.directory import AliasEntry
from rail.settlement.payments import (
    IN_FLIGHT,
    SETTLED,
    CreditTransfer,
    MessageFormat,
    Outcome,
    OutcomeKind,
    Payment,
    Settlement,
)

_PACKER = msgspec.msgpack.Encoder()

Handler = Callable[["Dispatcher", str, InboundMessage, str, "float | None", "bytes | None"], Awaitable[Reply]]


def alias_key(alias: str | None) -> str | None:
    """A Raast ID in its one stored form (+92...), or None when it is not a Pakistani mobile number."""
    if not alias or not isinstance(alias, str):
        return None
    try:
        return iso20022.normalise_pk_mobile(alias)
    except ValueError:
        return None


_FORMAT_OF_RENDERING = {"xml": MessageFormat.XML, "json": MessageFormat.JSON}  # a dict: no Enum call per message


def _kept(raw: bytes | None, m: InboundMessage, rendering: str) -> tuple[bytes, MessageFormat]:
    """What the rail keeps of a message it relays: the sender's own bytes, or msgpack of a struct handed over."""
    if raw is not None:
        return raw, _FORMAT_OF_RENDERING[rendering]
    return _PACKER.encode(m), MessageFormat.MSGPACK


class Dispatcher:
    """Accepted messages -> core commands -> replies."""

    def __init__(
        self,
        core: SettlementCore,
        scheme: Scheme,
        replies: Replies,
        identity: Identity,
        forwarded: ForwardedStructs,
    ) -> None:
        self.core = core
        self.scheme = scheme
        self.replies = replies
        self.identity = identity
        self.forwarded = forwarded

    async def dispatch(self, bic: str, accepted: Accepted, wait_s: float | None = None) -> Reply:
        """What the rail does with an accepted message from `bic` (runs beside the core)."""
        msg_type, rendering, message = accepted.msg_type, accepted.rendering, accepted.message
        try:
            reply = await self._handlers[msg_type](self, bic, message, rendering, wait_s, accepted.raw_body)
        except (Overloaded, CoreStopped) as exc:
            reply = self.replies.unavailable(exc, message, rendering)
        return self.replies.with_reply_header(reply, accepted.header)

    async def submit_many(
        self, acceptor: Acceptor, bic: str, bodies: list[bytes], content_type: str
    ) -> tuple[list[Reply], list[Accepted | None]]:
        """Several messages from participant `bic` (in-process), answered in order: what a bank does with a page
        of its inbox. Its status reports on forwarded payments (pacs.002) go to the core together, one future
        each and no task per message, so they land in one batch; any other message takes submit's path.
        Returns the replies and what was accepted of each (None: refused at the edge)."""
        replies: list[Reply | None] = [None] * len(bodies)
        accepted_all: list[Accepted | None] = [None] * len(bodies)
        waiting: list[tuple[int, Pacs002, str, asyncio.Future]] = []
        for index, body in enumerate(bodies):
            accepted = acceptor.accept(bic, body, content_type)
            if isinstance(accepted, Reply):
                replies[index] = accepted
                continue
            accepted_all[index] = accepted
            if accepted.msg_type != "pacs.002" or accepted.header is not None:
                replies[index] = await self.dispatch(bic, accepted)
                continue
            message, rendering = accepted.message, accepted.rendering
            command = self._creditor_status(bic, message, rendering)
            if isinstance(command, Reply):
                replies[index] = command
                continue
            try:
                waiting.append((index, message, rendering, self.core.execute(command)))
            except (Overloaded, CoreStopped) as exc:
                replies[index] = self.replies.unavailable(exc, message, rendering)
        for index, message, rendering, future in waiting:
            try:
                outcome = await future
            except (Overloaded, CoreStopped) as exc:
                replies[index] = self.replies.unavailable(exc, message, rendering)
                continue
            replies[index] = self._outcome_reply(outcome, message, "pacs.002", rendering, bic)
        return replies, accepted_all

    # ---- payments

    async def _on_pacs008(
        self, bic: str, m: Pacs008, rendering: str, wait_s: float | None, raw: bytes | None = None
    ) -> Reply:
        tx = m.tx
        if canonical(tx.instg_agt_bicfi) != bic or canonical(tx.dbtr_agt_bicfi) != bic:
            return self.replies.forbidden(
                rendering,
                m.msg_id,
                f"InstgAgt/DbtrAgt must be {bic}, the authenticated "
                f"participant (got {tx.instg_agt_bicfi}/{tx.dbtr_agt_bicfi})",
            )
        own_inbox = self.core.inbox(bic)
        if own_inbox is not None and len(own_inbox) >= self.scheme.params.inbox_messages_max:
            # Shed load at the edge: a debtor agent that does not take its status reports gets no new payments.
            return self.replies.admi002(
                503,
                rendering,
                m.msg_id,
                "AB10",
                "your inbox is full: read and acknowledge GET /v1/inbox before sending more payments",
                headers={"Retry-After": "1"},
            )
        ct = CreditTransfer(
            uetr=tx.uetr or "",
            tx_id=tx.tx_id or "",
            msg_id=m.msg_id,
            end_to_end_id=tx.end_to_end_id,
            instructing_agent=bic,
            debtor_agent=bic,
            creditor_agent=canonical(tx.cdtr_agt_bicfi) or "",
            amount_paisa=tx.amount_paisa,
            debtor_iban=tx.dbtr_acct_iban or "",
            creditor_iban=tx.cdtr_acct_iban or "",
            acceptance_ns=int(tx.accptnc_dt_tm.timestamp() * 1e9) if tx.accptnc_dt_tm else 0,
        )
        message, message_format = _kept(raw, m, rendering)
        command = SubmitCreditTransfer(
            sender=bic, rendering=rendering, ct=ct, message=message, message_format=message_format
        )
        outcome = await self._execute_credit_transfer(command, m)
        return await self._credit_transfer_reply(outcome, m, bic, rendering, wait_s)

    async def _execute_credit_transfer(self, command: SubmitCreditTransfer, m: Pacs008) -> Outcome:
        """Run the command, with the struct cached for the creditor's in-process read meanwhile."""
        uetr, forwarded = command.ct.uetr, self.forwarded
        fresh = uetr not in forwarded
        if fresh:  # before the core runs: the creditor may read its inbox before this coroutine resumes
            forwarded.keep(uetr, m)
        try:
            outcome = await self.core.execute(command)
        except BaseException:
            if fresh:
                forwarded.drop(uetr)
            raise
        if fresh and outcome.kind != OutcomeKind.ACCEPTED:
            forwarded.drop(uetr)
        return outcome

    async def _credit_transfer_reply(
        self, outcome: Outcome, m: Pacs008, bic: str, rendering: str, wait_s: float | None
    ) -> Reply:
        payment = outcome.payment
        if outcome.kind == OutcomeKind.UNAVAILABLE:  # at its retention limit: nothing recorded, retry later
            return self.replies.admi002(
                503, rendering, m.msg_id, outcome.reason, outcome.text, headers={"Retry-After": "60"}
            )
        if outcome.kind == OutcomeKind.REJECTED:
            if payment is None:  # AM05: a different message under a used id; nothing recorded
                return self.replies.reject(422, m, "pacs.008", rendering, bic, outcome.reason, outcome.text)
            return self.replies.status_reply(422, payment, bic, rendering, outcome)
        # The status as of this command (durable now), never the live payment's: a later batch may have moved
        # it on without being durable yet.
        status = (outcome.status, outcome.reason, outcome.text)
        if wait_s and status[0] == IN_FLIGHT:
            status = await self.core.wait_final(payment, min(wait_s, WAIT_S_MAX)) or status
        http_status = 202 if status[0] == IN_FLIGHT else (422 if payment.transfer_id == 0 else 200)
        reply = self.replies.status_reply(http_status, payment, bic, rendering, status)
        if wait_s is not None:  # RFC 7240: the wait preference is honoured for a credit transfer
            reply.headers = {**reply.headers, "Preference-Applied": f"wait={min(wait_s, WAIT_S_MAX):g}"}
        return reply

    def _creditor_status(self, bic: str, m: Pacs002, rendering: str) -> Reply | CreditorStatus:
        """A creditor agent's pacs.002, checked: the refusal to answer, or the command for the core."""
        if not m.tx_inf_and_sts:
            return self.replies.reject(422, m, "pacs.002", rendering, bic, "FF01", "TxInfAndSts is required")
        tx = m.tx
        sender = canonical(tx.instg_agt_bicfi or m.instg_agt_bicfi) or bic
        if sender != bic:
            return self.replies.forbidden(
                rendering, m.msg_id, f"InstgAgt must be {bic}, the authenticated participant"
            )
        if not tx.orgnl_uetr or not tx.tx_sts:
            text = "OrgnlUETR and TxSts are required"
            return self.replies.reject(422, m, "pacs.002", rendering, bic, "FF01", text)
        return CreditorStatus(
            sender=bic,
            uetr=tx.orgnl_uetr,
            status=tx.tx_sts,
            reason=tx.sts_rsn_cd or tx.sts_rsn_prtry,
            text=tx.sts_rsn_addtl_inf,
        )

    async def _on_pacs002(
        self, bic: str, m: Pacs002, rendering: str, wait_s: float | None, raw: bytes | None = None
    ) -> Reply:
        command = self._creditor_status(bic, m, rendering)
        if isinstance(command, Reply):
            return command
        outcome = await self.core.execute(command)
        return self._outcome_reply(outcome, m, "pacs.002", rendering, bic)

    async def _on_pacs028(
        self, bic: str, m: Pacs028, rendering: str, wait_s: float | None, raw: bytes | None = None
    ) -> Reply:
        if not m.tx_inf:
            return self.replies.reject(422, m, "pacs.028", rendering, bic, "FF01", "TxInf is required")
        uetr, tx_id = m.tx.orgnl_uetr, m.tx.orgnl_tx_id

        def find(s: Settlement) -> tuple[Payment, tuple] | None:
            uetr_found = uetr or s.payments.uetr_of(bic, tx_id or "")
            p = s.payments.get(uetr_found or "")
            if p is None or bic not in (p.debtor_agent, p.creditor_agent):
                return None
            return p, (p.status, p.reason, p.reason_text)  # as of this batch: answered once it is durable

        found = await self.core.query(find)
        if found is None:
            text = "no such payment for this participant"
            return self.replies.reject(404, m, "pacs.028", rendering, bic, "NOOR", text)
        # A new report answering this request (its own MsgId and CreDtTm), never a copy of an earlier one.
        return self.replies.status_reply(
            200, found[0], bic, rendering, found[1], pending_code="PDNG", fresh=True
        )

    # ---- returns, recalls, requests to pay

    async def _on_pacs004(
        self, bic: str, m: Pacs004, rendering: str, wait_s: float | None, raw: bytes | None = None
    ) -> Reply:
        if not m.tx_inf:
            return self.replies.reject(422, m, "pacs.004", rendering, bic, "FF01", "TxInf is required")
        tx = m.tx
        if (canonical(tx.instg_agt_bicfi) or bic) != bic:
            return self.replies.forbidden(
                rendering, m.msg_id, f"InstgAgt must be {bic}, the authenticated participant"
            )
        if not tx.orgnl_uetr:
            return self.replies.reject(422, m, "pacs.004", rendering, bic, "FF01", "OrgnlUETR is required")
        message, message_format = _kept(raw, m, rendering)
        outcome = await self.core.execute(
            SubmitReturn(
                sender=bic,
                rendering=rendering,
                return_id=tx.rtr_id or m.msg_id,
                uetr=tx.orgnl_uetr,
                amount_paisa=tx.amount_paisa,
                reason=tx.rtr_rsn_cd or tx.rtr_rsn_prtry or "MS03",
                message=message,
                message_format=message_format,
            )
        )
        return self._outcome_reply(outcome, m, "pacs.004", rendering, bic)

    async def _on_camt056(
        self, bic: str, m: Camt056, rendering: str, wait_s: float | None, raw: bytes | None = None
    ) -> Reply:
        if canonical(m.assgnr_bicfi) != bic:
            return self.replies.forbidden(
                rendering, m.assgnmt_id, f"Assgnr must be {bic}, the authenticated participant"
            )
        if not m.tx_inf or not m.tx.orgnl_uetr:
            text = "Undrlyg/TxInf/OrgnlUETR is required"
            return self.replies.reject(422, m, "camt.056", rendering, bic, "FF01", text)
        tx = m.tx
        message, message_format = _kept(raw, m, rendering)
        outcome = await self.core.execute(
            SubmitRecall(
                sender=bic,
                rendering=rendering,
                cancellation_id=tx.cxl_id or m.assgnmt_id,
                uetr=tx.orgnl_uetr,
                reason=tx.cxl_rsn_cd or tx.cxl_rsn_prtry or "CUST",
                message=message,
                message_format=message_format,
            )
        )
        if (
            outcome.kind == OutcomeKind.REJECTED
        ):  # the rail itself refuses the recall (camt.029 RJCR to its assigner)
            answer = resolution(
                m,
                assgnmt_id=self.replies.new_msg_id(),
                rsn_cd=outcome.reason,
                addtl_inf=outcome.text,
                cre_dt_tm=self.replies.now(),
                assgnr_bicfi=self.scheme.central_bank_bic,
            )
            return self.replies.encoded(422, answer, rendering)
        return self._outcome_reply(outcome, m, "camt.056", rendering, bic)

    async def _on_camt029(
        self, bic: str, m: Camt029, rendering: str, wait_s: float | None, raw: bytes | None = None
    ) -> Reply:
        if canonical(m.assgnr_bicfi) != bic:
            return self.replies.forbidden(
                rendering, m.assgnmt_id, f"Assgnr must be {bic}, the authenticated participant"
            )
        if not m.tx_inf_and_sts or not m.tx.orgnl_uetr:
            text = "TxInfAndSts/OrgnlUETR is required"
            return self.replies.reject(422, m, "camt.029", rendering, bic, "FF01", text)
        tx = m.tx
        status = tx.tx_cxl_sts or iso20022.codes.RECALL_STATES.get(m.sts_conf or "")
        if status is None:
            text = "say whether the recall is refused, pending or accepted: TxCxlSts RJCR, PDCR or ACCR"
            return self.replies.reject(422, m, "camt.029", rendering, bic, "FF01", text)
        message, message_format = _kept(raw, m, rendering)
        outcome = await self.core.execute(
            SubmitResolution(
                sender=bic,
                rendering=rendering,
                uetr=tx.orgnl_uetr,
                status=status,
                reason=tx.cxl_sts_rsn_cd or tx.cxl_sts_rsn_prtry,
                message=message,
                message_format=message_format,
            )
        )
        return self._outcome_reply(outcome, m, "camt.029", rendering, bic)

    async def _on_pain013(
        self, bic: str, m: Pain013, rendering: str, wait_s: float | None, raw: bytes | None = None
    ) -> Reply:
        tx = m.tx
        if canonical(tx.cdtr_agt_bicfi) != bic:
            text = f"CdtrAgt must be {bic}: a request to pay comes from the payee's agent"
            return self.replies.forbidden(rendering, m.msg_id, text)
        message, message_format = _kept(raw, m, rendering)
        outcome = await self.core.execute(
            SubmitRequestToPay(
                sender=bic,
                rendering=rendering,
                msg_id=m.msg_id,
                payer_agent=canonical(tx.dbtr_agt_bicfi) or "",
                message=message,
                message_format=message_format,
            )
        )
        return self._outcome_reply(outcome, m, "pain.013", rendering, bic)

    async def _on_pain014(
        self, bic: str, m: Pain014, rendering: str, wait_s: float | None, raw: bytes | None = None
    ) -> Reply:
        if (canonical(m.dbtr_agt_bicfi) or bic) != bic:
            text = f"DbtrAgt must be {bic}: the payer's agent answers"
            return self.replies.forbidden(rendering, m.msg_id, text)
        tx = m.tx if m.orgnl_pmt_inf_and_sts else None
        message, message_format = _kept(raw, m, rendering)
        outcome = await self.core.execute(
            SubmitRequestToPayStatus(
                sender=bic,
                rendering=rendering,
                original_msg_id=m.orgnl_msg_id,
                status=(tx.tx_sts if tx else None) or m.grp_sts or "RJCT",
                reason=(tx.sts_rsn_cd or tx.sts_rsn_prtry) if tx else None,
                message=message,
                payee_agent=canonical(m.cdtr_agt_bicfi),
                message_format=message_format,
            )
        )
        return self._outcome_reply(outcome, m, "pain.014", rendering, bic)

    # ---- alias lookup

    async def _on_acmt023(
        self, bic: str, m: Acmt023, rendering: str, wait_s: float | None, raw: bytes | None = None
    ) -> Reply:
        if canonical(m.assgnr_bicfi) != bic:
            return self.replies.forbidden(
                rendering, m.msg_id, f"Assgnr must be {bic}, the authenticated participant"
            )
        retry_s = self.identity.alias_lookup_limit(bic)
        if retry_s:
            return self.replies.admi002(
                429,
                rendering,
                m.msg_id,
                "AM18",
                "alias lookup rate limit reached (anti-scanning); retry later",
                headers={"Retry-After": retry_after(retry_s)},
            )
        lookups = [(v.id, v.acct_prxy_id, v.acct_iban) for v in m.vrfctn]

        def resolve(s: Settlement) -> list[AliasEntry | None]:
            return [
                s.directory.resolve(key) if (key := alias_key(proxy)) else None for _, proxy, _ in lookups
            ]

        entries = await self.core.query(resolve)
        reports = [
            _verification(vid, proxy, iban, entry) for (vid, proxy, iban), entry in zip(lookups, entries)
        ]
        answer = Acmt024(
            msg_id=self.replies.new_msg_id(),
            cre_dt_tm=self.replies.now(),
            assgnr_bicfi=self.scheme.central_bank_bic,
            assgne_bicfi=bic,
            orgnl_msg_id=m.msg_id,
            orgnl_cre_dt_tm=m.cre_dt_tm,
            rpt=reports,
        )
        return self.replies.encoded(200, answer, rendering)

    # ---- outcome -> reply

    def _outcome_reply(
        self, outcome: Outcome, m: InboundMessage, msg_type: str, rendering: str, bic: str
    ) -> Reply:
        kind, replies = outcome.kind, self.replies
        if kind == OutcomeKind.FORBIDDEN:
            return replies.forbidden(rendering, original_ids(m).msg_id, outcome.text or "forbidden")
        if kind == OutcomeKind.NOT_FOUND:
            return replies.reject(404, m, msg_type, rendering, bic, outcome.reason or "NOOR", outcome.text)
        if kind == OutcomeKind.REJECTED:
            return replies.reject(422, m, msg_type, rendering, bic, outcome.reason or "MS03", outcome.text)
        settled = kind in (OutcomeKind.FINAL, OutcomeKind.DUPLICATE) and outcome.payment is not None
        if msg_type == "pacs.004" and settled:
            return replies.acknowledge(200, m, msg_type, rendering, bic, SETTLED)
        if msg_type == "pacs.002" and settled:
            return replies.status_reply(200, outcome.payment, bic, rendering, outcome)
        if msg_type == "pacs.002" and kind == OutcomeKind.ACCEPTED:
            return replies.status_reply(202, outcome.payment, bic, rendering, outcome, pending_code="PDNG")
        return replies.acknowledge(202, m, msg_type, rendering, bic, "ACTC")

    _handlers: ClassVar[dict[str, Handler]] = {
        "pacs.008": _on_pacs008,
        "pacs.002": _on_pacs002,
        "pacs.028": _on_pacs028,
        "pacs.004": _on_pacs004,
        "camt.056": _on_camt056,
        "camt.029": _on_camt029,
        "pain.013": _on_pain013,
        "pain.014": _on_pain014,
        "acmt.023": _on_acmt023,
    }


def _verification(vid: str, proxy: str | None, iban: str | None, entry: AliasEntry | None) -> VrfctnRpt:
    """One acmt.024 report: the alias's holder and account, or AC01 when nobody holds it."""
    if entry is None:
        return VrfctnRpt(
            orgnl_id=vid,
            vrfctn=False,
            rsn_cd="AC01",
            orgnl_acct_prxy_tp_cd="MBNO",
            orgnl_acct_prxy_id=proxy,
            orgnl_acct_iban=iban,
        )
    return VrfctnRpt(
        orgnl_id=vid,
        vrfctn=True,
        orgnl_acct_prxy_tp_cd="MBNO",
        orgnl_acct_prxy_id=proxy,
        updtd_pty_nm=entry.holder_name,
        updtd_acct_iban=entry.iban,
        updtd_acct_nm=entry.holder_name,
        updtd_agt_bicfi=entry.agent_bic,
    )
