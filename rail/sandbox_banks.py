"""The default scheme's simulated banks, answering from inside the rail process.

So that an integrator has counterparties from the first minute, each default bank runs as an in-process
participant: it reads its inbox and answers through the same `RailService` an external bank uses, so nothing
about a payment is decided here that the rail would not decide for a real bank. Its answer to a payment (one
per payment: the hot path) goes to `RailService.dispatch` as a struct, the state-machine half of
`RailService.submit`; its rarer messages go through the whole of `submit` as JSON. What it answers follows
the test-account table (rail/scheme.py):

- inbound pacs.008: `sandbox_creditor_decision(creditor IBAN)` -> pacs.002 ACSP after a short delay, RJCT with
  the table's reason, ACSP only after the scheme timeout (the rail has already sent AB05), or silence;
- inbound camt.056 (a recall of a payment it received): pacs.004 FOCR for the full amount, or camt.029 RJCR CUST
  when the creditor account is the 'refuses recall' test account;
- inbound pain.013 (request to pay, it is the payer's bank): pain.014 RJCT with the table's reason when the
  payer's account is a reject test account, otherwise pain.014 ACCP followed by the pacs.008 that pays it.

A load harness can take a default bank over (`add_participant` with its BIC): its simulator then stands down.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from typing import TYPE_CHECKING

from rail.iso20022 import encode
from rail.iso20022.builders import credit_transfer, resolution, status_report_for
from rail.iso20022.structs import (
    Camt056,
    OrgnlPmtInfAndSts,
    Pacs002,
    Pacs004,
    Pacs008,
    Pain013,
    Pain014,
    PmtRtrTxInf,
)
from rail.scheme import TEST_ACCOUNTS, sandbox_creditor_decision
from rail.service import Accepted

if TYPE_CHECKING:
    from rail.service import RailService

log = logging.getLogger(__name__)

INBOX_PAGE_MAX = 500  # messages a simulated bank takes per poll
ANSWERS_SCHEDULED_MAX = 200_000  # delayed answers held per bank; beyond it the bank answers at once
POLL_WAIT_S = 1.0
LATE_ANSWER_MARGIN_MS = 250  # a 'late' test account answers this long after the scheme timeout
_REJECT_BY_SUFFIX = {t.suffix: t.reason for t in TEST_ACCOUNTS if t.kind == "reject"}
_JSON = "application/json"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def creditor_status_report(bic: str, message: Pacs008, status: str, reason: str | None) -> Pacs002:
    """The pacs.002 a creditor agent `bic` answers an inbound pacs.008 with (ACSP, or RJCT with `reason`)."""
    return status_report_for(
        message,
        msg_id=_new_id(bic),
        tx_sts=status,
        rsn_cd=reason,
        instg_agt_bicfi=bic,
        instd_agt_bicfi=message.tx.dbtr_agt_bicfi,
        cre_dt_tm=_now(),
    )


def _new_id(bic: str) -> str:
    # Unique across restarts (the rail deduplicates on these): BIC + 20 hex characters of a random UUID.
    return f"{bic[:4]}{uuid.uuid4().hex[:20].upper()}"


class SimulatedBank:
    """One default-scheme bank, driven by its inbox."""

    def __init__(self, service: RailService, bic: str) -> None:
        self.service = service
        self.bic = bic
        self.params = service.scheme.params
        self._task: asyncio.Task | None = None
        self._scheduled = 0
        self._answer_tasks: set[asyncio.Task] = set()
        self.answered = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"sandbox-bank-{self.bic}")

    async def stop(self) -> None:
        tasks = list(self._answer_tasks)
        if self._task is not None:
            tasks.append(self._task)
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception as error:  # noqa: BLE001 - stopping: a failed answer no longer matters
                log.debug("sandbox bank %s task ended with %r", self.bic, error)
        self._task = None

    async def _run(self) -> None:
        service = self.service
        while True:
            try:
                page = await service.inbox_structs(self.bic, POLL_WAIT_S, INBOX_PAGE_MAX)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("sandbox bank %s could not read its inbox", self.bic)
                await asyncio.sleep(POLL_WAIT_S)
                continue
            if not page:
                continue
            for _seq, msg_type, message in page:
                try:
                    self._handle(msg_type, message)
                except Exception:
                    log.exception("sandbox bank %s failed on a %s", self.bic, msg_type)
            # Let the immediate answers reach the core first, so they share the ack's journal batch instead of
            # waiting behind its fsync (one commit less on the 'accepts immediately' path).
            await asyncio.sleep(0)
            await service.ack(self.bic, page[-1][0])

    def _handle(self, msg_type: str, message) -> None:
        if msg_type.startswith("pacs.008"):
            self._on_credit_transfer(message)
        elif msg_type.startswith("camt.056"):
            self._later(0, self._on_recall(message))
        elif msg_type.startswith("pain.013"):
            self._later(0, self._on_request_to_pay(message))
        # pacs.002, pacs.004, camt.029, pain.014 to a simulated bank need no answer.

    def _later(self, delay_ms: int, coroutine) -> None:
        if self._scheduled >= ANSWERS_SCHEDULED_MAX:
            delay_ms = 0
        task = asyncio.create_task(self._after(delay_ms, coroutine))
        self._answer_tasks.add(task)
        task.add_done_callback(self._answer_tasks.discard)

    async def _after(self, delay_ms: int, coroutine) -> None:
        self._scheduled += 1
        try:
            if delay_ms > 0:
                await asyncio.sleep(delay_ms / 1000)
            await coroutine
            self.answered += 1
        except asyncio.CancelledError:
            coroutine.close()
            raise
        except Exception:
            log.exception("sandbox bank %s could not answer", self.bic)
        finally:
            self._scheduled -= 1

    # ---- creditor agent

    def _on_credit_transfer(self, message: Pacs008) -> None:
        tx = message.tx
        decision = sandbox_creditor_decision(
            tx.cdtr_acct_iban or "",
            accept_delay_ms_min=self.params.sandbox_accept_delay_ms_min,
            accept_delay_ms_max=self.params.sandbox_accept_delay_ms_max,
        )
        if decision.kind == "silent":
            return
        if decision.kind == "late":
            delay_ms = self.params.creditor_timeout_ms + LATE_ANSWER_MARGIN_MS
            self._later(delay_ms, self._answer(message, "ACSP", None))
        elif decision.kind == "reject":
            self._later(decision.delay_ms, self._answer(message, "RJCT", decision.reason))
        else:
            self._later(decision.delay_ms, self._answer(message, "ACSP", None))

    async def _answer(self, message: Pacs008, status: str, reason: str | None) -> None:
        # One answer per payment, the hot path: handed to RailService.dispatch as the struct it is, the
        # state-machine half every participant's message goes through (authorisation against its agents, the
        # payment's state, settlement). What is skipped is only the wire half (JSON encode, decode, profile
        # check of bytes from outside: ~15-20 µs of the core's CPU a payment); tests check these reports pass
        # the RAAST profile (tests/test_sandbox_banks.py).
        report = creditor_status_report(self.bic, message, status, reason)
        await self.service.dispatch(self.bic, Accepted("pacs.002", "json", report, None))

    async def _on_recall(self, recall: Camt056) -> None:
        tx = recall.tx
        payment = await self.service.payment(self.bic, tx.orgnl_uetr or "")
        if payment is None:
            return
        refuses = sandbox_creditor_decision(payment["creditor_iban"]).refuses_recall
        if refuses:
            answer = resolution(
                recall, assgnmt_id=_new_id(self.bic), rsn_cd="CUST", cre_dt_tm=_now(), assgnr_bicfi=self.bic
            )
            await self.service.submit(self.bic, encode(answer, "json"), _JSON)
            return
        remaining = payment["amount_paisa"] - payment["returned_paisa"]
        if remaining <= 0:
            return
        back = Pacs004(
            msg_id=_new_id(self.bic),
            cre_dt_tm=_now(),
            nb_of_txs="1",
            sttlm_mtd="CLRG",
            clr_sys_prtry="RAAST",
            tx_inf=[
                PmtRtrTxInf(
                    rtr_id=_new_id(self.bic),
                    orgnl_msg_id=payment["msg_id"],
                    orgnl_msg_nm_id="pacs.008.001.08",
                    orgnl_end_to_end_id=payment["end_to_end_id"],
                    orgnl_tx_id=payment["tx_id"],
                    orgnl_uetr=payment["uetr"],
                    orgnl_amount_paisa=payment["amount_paisa"],
                    orgnl_currency="PKR",
                    amount_paisa=remaining,
                    currency="PKR",
                    intr_bk_sttlm_dt=_now().date(),
                    chrg_br="SLEV",
                    instg_agt_bicfi=self.bic,
                    instd_agt_bicfi=payment["debtor_agent"],
                    rtr_rsn_cd="FOCR",
                    orgnl_tx_ref_dbtr_acct_iban=payment["debtor_iban"],
                    orgnl_tx_ref_dbtr_agt_bicfi=payment["debtor_agent"],
                    orgnl_tx_ref_cdtr_agt_bicfi=self.bic,
                    orgnl_tx_ref_cdtr_acct_iban=payment["creditor_iban"],
                )
            ],
        )
        await self.service.submit(self.bic, encode(back, "json"), _JSON)

    # ---- payer's agent (request to pay)

    async def _on_request_to_pay(self, request: Pain013) -> None:
        tx = request.tx
        reject_reason = _REJECT_BY_SUFFIX.get((tx.dbtr_acct_iban or "")[-4:])
        status = "RJCT" if reject_reason else "ACCP"
        answer = Pain014(
            msg_id=_new_id(self.bic),
            cre_dt_tm=_now(),
            dbtr_agt_bicfi=self.bic,
            cdtr_agt_bicfi=tx.cdtr_agt_bicfi,
            orgnl_msg_id=request.msg_id,
            orgnl_msg_nm_id="pain.013.001.07",
            orgnl_cre_dt_tm=request.cre_dt_tm,
            orgnl_pmt_inf_and_sts=[
                OrgnlPmtInfAndSts(
                    orgnl_pmt_inf_id=tx.pmt_inf_id or request.msg_id,
                    sts_id=_new_id(self.bic),
                    orgnl_instr_id=tx.instr_id,
                    orgnl_end_to_end_id=tx.end_to_end_id,
                    orgnl_uetr=tx.uetr,
                    tx_sts=status,
                    sts_rsn_cd=reject_reason,
                )
            ],
        )
        await self.service.submit(self.bic, encode(answer, "json"), _JSON)
        if reject_reason is None and tx.cdtr_agt_bicfi and tx.dbtr_acct_iban and tx.cdtr_acct_iban:
            await self.service.submit(self.bic, encode(self._payment_for(request), "json"), _JSON)

    def _payment_for(self, request: Pain013) -> Pacs008:
        tx = request.tx
        tx_id = _new_id(self.bic)
        return credit_transfer(
            msg_id=_new_id(self.bic),
            tx_id=tx_id,
            end_to_end_id=tx.end_to_end_id,  # references the request to pay (ISO20022.md §1.2)
            uetr=str(uuid.uuid4()),
            local_instrument="RTP",
            amount_paisa=tx.amount_paisa,
            currency=tx.currency,
            debtor_agent=self.bic,
            debtor_name=tx.dbtr_nm or "Payer",
            debtor_iban=tx.dbtr_acct_iban,
            creditor_agent=tx.cdtr_agt_bicfi,
            creditor_name=tx.cdtr_nm or "Payee",
            creditor_iban=tx.cdtr_acct_iban,
            remittance_info=tx.rmt_inf_ustrd,
            at=_now(),
        )
