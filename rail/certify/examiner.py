"""The examiner: the certifier's own participant, the counterparty of the participant under test.

It is the one simulated bank (participants/bank.py) over HTTP, registered by the certifier with the operator's
token (`POST /admin/participants` under its own BIC, default XMNRPKKA) and funded from the central bank
(`POST /admin/liquidity`): as debtor agent it pays the participant (receiver cases), as creditor agent it is
paid by it and answers as each case needs (sender cases: accept, or hold the answer), and it answers the
participant's recalls and requests to pay like any bank. Every message it sends and receives is recorded,
with the rail's answers, for the evidence pack.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import msgspec

from participants.bank import BankBehaviour, SimulatedBank
from participants.codec import Iso20022Codec, parsed_struct
from participants.creditor import CreditorVerdict, Decision, RecallDecision, RecallVerdict
from participants.transport import HttpTransport
from participants.treasury import settlement_balance_paisa
from rail import iso20022

EXAMINER_BIC = "XMNRPKKA"
EXAMINER_FUNDING_PAISA = 1_000_000_000 * 100  # Rs 1 billion at the start of a run: its payments, many times over
RECORDED_PER_CASE_MAX = 2_000  # messages kept per case for the evidence pack (a burst sends hundreds)
POLL_S = 0.1


class Recorded(msgspec.Struct, frozen=True):
    """One message of a case, as it went over the wire."""

    at_s: float  # since the run started
    direction: str  # sent (examiner -> rail) | answer (rail's reply to it) | received (examiner's inbox)
    msg_type: str
    uetr: str
    http_status: int | None
    content_type: str
    body: str


class RecordingTransport(HttpTransport):
    """The examiner's HTTP transport: records every message (and the rail's reply) in the current case's
    transcript, and files every inbox message under its UETR for the checks to wait on."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.t0 = time.monotonic()
        self.transcript: list[Recorded] = []
        self.mailbox: dict[str, list[tuple[str, Any, str]]] = {}  # uetr -> [(msg_type, struct, text)]
        self.arrived = asyncio.Event()

    def record(self, direction: str, msg_type: str, uetr: str, status: int | None, content_type: str,
                body: bytes | str) -> None:
        if len(self.transcript) < RECORDED_PER_CASE_MAX:
            text = body if isinstance(body, str) else body.decode("utf-8", "replace")
            self.transcript.append(Recorded(round(time.monotonic() - self.t0, 4), direction, msg_type, uetr,
                                            status, content_type, text))

    async def send(self, body: bytes, content_type: str = "application/xml", wait_s: float | None = None):
        status, reply_type, reply = await super().send(body, content_type, wait_s)
        msg_type, uetr = _identify(body, content_type)
        self.record("sent", msg_type, uetr, None, content_type, body)
        answer_type, _ = _identify(reply, reply_type)
        self.record("answer", answer_type, uetr, status, reply_type, reply)
        return status, reply_type, reply

    async def inbox(self, wait_s: float = 1.0, max_n: int = 1000, ack_upto: int | None = None) -> dict:
        page = await super().inbox(wait_s, max_n, ack_upto)
        for entry in page.get("messages", ()):
            text = entry["message"] if isinstance(entry["message"], str) else msgspec.json.encode(
                entry["message"]).decode()
            try:
                decoded = iso20022.decode(text.encode(), iso20022.CONTENT_TYPES["xml" if text[:1] == "<" else "json"])
            except iso20022.MessageRejected:
                continue
            uetr = parsed_struct(decoded.msg_type, decoded.message).uetr
            self.record("received", decoded.msg_type, uetr, None, "application/xml", text)
            for key in _keys(decoded.message, uetr):
                self.mailbox.setdefault(key, []).append((decoded.msg_type, decoded.message, text))
        if page.get("messages"):
            self.arrived.set()
        return page

    def take_transcript(self) -> list[Recorded]:
        transcript, self.transcript = self.transcript, []
        return transcript


def _keys(message: Any, uetr: str) -> list[str]:
    """Where a received message is filed: its UETR, and also by the EndToEndId it carries or quotes (a request
    to pay and the payment answering it share one)."""
    keys = [uetr] if uetr else []
    tx = getattr(message, "tx", None)
    e2e = getattr(tx, "end_to_end_id", None) or getattr(tx, "orgnl_end_to_end_id", None)
    if e2e:
        keys.append(f"e2e:{e2e}")
    return keys


def _identify(body: bytes, content_type: str) -> tuple[str, str]:
    """(message type, UETR) of a message body, or ("", "") when it does not decode."""
    try:
        decoded = iso20022.decode(body, content_type.split(";")[0] or "application/xml")
    except iso20022.MessageRejected:  # evidence only: an unreadable body is recorded as it is
        return "", ""
    return decoded.msg_type, parsed_struct(decoded.msg_type, decoded.message).uetr


class ExaminerPolicy:
    """What the examiner answers as creditor: accept at once, unless a check holds a payment's answer (it
    then answers by itself, or never). Recalls of payments it received are returned; requests to pay paid."""

    def __init__(self) -> None:
        self.held: set[str] = set()  # creditor IBANs whose payments get no automatic answer

    def payment(self, creditor_iban: str, now_s: float) -> CreditorVerdict:
        if creditor_iban in self.held:
            return CreditorVerdict(Decision.SILENT)
        return CreditorVerdict(Decision.ACCEPT)

    def recall(self, creditor_iban: str) -> RecallVerdict:
        return RecallVerdict(RecallDecision.RETURN, "FOCR")

    def request_to_pay(self, payer_iban: str) -> str | None:
        return None


class Examiner:
    """The certifier's participant on the rail at `target`."""

    def __init__(self, target: str, admin_token: str, bic: str = EXAMINER_BIC):
        if not iso20022.bic_is_valid(bic):
            raise ValueError(f"examiner BIC {bic!r} is not a BIC (e.g. {EXAMINER_BIC})")
        self.target = target
        self.bic = bic
        self.admin = HttpTransport(target, admin_token=admin_token)
        self.transport: RecordingTransport | None = None
        self.bank: SimulatedBank | None = None
        self.policy = ExaminerPolicy()
        self.finals: dict[str, tuple[str, str]] = {}  # uetr -> (status, reason) as its inbox told it

    def iban(self, account: int) -> str:
        """One of the examiner's own customer accounts (distinct per use, so holds never collide)."""
        return iso20022.make_pk_iban(self.bic[:4], f"{account:016d}")

    async def open(self) -> None:
        token = await self.admin.add_participant(self.bic, "rail certify examiner")
        # Topped up to the same level at every run, so runs against a long-lived sandbox do not pile money up.
        posted = settlement_balance_paisa(await self.admin.balances(), self.bic) or 0
        if posted < EXAMINER_FUNDING_PAISA:
            await self.admin.liquidity(self.bic, EXAMINER_FUNDING_PAISA - posted, "in")
        self.transport = RecordingTransport(self.admin.base_urls, token)
        customers = [_Customer("Certification Examiner", self.iban(1))]
        behaviour = BankBehaviour(inbox_wait_s=0.5, inbox_linger_ms=5.0, status_request_after_s=None)
        self.bank = SimulatedBank(self.bic, "rail certify examiner", customers, self.transport,
                                  Iso20022Codec("xml"), behaviour, policy=self.policy, on_final=self._on_final)
        self.bank.start()

    async def close(self) -> None:
        if self.bank is not None:
            await self.bank.stop()
        if self.transport is not None:
            await self.transport.close()
        await self.admin.close()

    def _on_final(self, uetr: str, status: str, reason: str) -> None:
        self.finals[uetr] = (status, reason)

    # ---- what the checks do

    async def pay(self, creditor_bic: str, creditor_iban: str, amount_paisa: int, name: str = "Beneficiary") -> str:
        """Pay `creditor_iban` at `creditor_bic`; the UETR (the answer is the rail's ACTC, or a refusal)."""
        uetr = str(uuid.uuid4())
        result = await self.bank.pay(uetr, amount_paisa, 0, creditor_bic, name, creditor_iban)
        if result.status not in ("ACTC", "ACSC"):
            raise RuntimeError(f"the rail refused the examiner's payment: {result.status} {result.reason}")
        return uetr

    async def payment(self, uetr: str) -> dict:
        """The rail's view of a payment the examiner is party to (status, history)."""
        return await self.transport.payment(uetr)

    async def final(self, uetr: str, timeout_s: float) -> dict:
        """The payment's view once it is final (ACSC or RJCT), or as it stands when `timeout_s` runs out."""
        deadline = time.monotonic() + timeout_s
        view = await self.payment(uetr)
        while view.get("status") not in ("ACSC", "RJCT") and time.monotonic() < deadline:
            await asyncio.sleep(POLL_S)
            view = await self.payment(uetr)
        return view

    async def expect(self, key: str, kinds: tuple[str, ...], timeout_s: float) -> tuple[str, Any, str] | None:
        """The first message filed under `key` (a UETR, or e2e:EndToEndId) whose type starts with one of
        `kinds`, waiting up to `timeout_s`; None if none came."""
        deadline = time.monotonic() + timeout_s
        while True:
            for entry in self.transport.mailbox.get(key, ()):
                if entry[0].startswith(kinds):
                    return entry
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.transport.arrived.clear()
            try:
                await asyncio.wait_for(self.transport.arrived.wait(), min(left, 0.5))
            except TimeoutError:
                pass

    def received(self, key: str, kind: str) -> list[tuple[str, Any, str]]:
        return [entry for entry in self.transport.mailbox.get(key, ()) if entry[0].startswith(kind)]


class _Customer(msgspec.Struct, frozen=True):
    name: str
    iban: str
