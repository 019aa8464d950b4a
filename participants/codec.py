"""The messages a simulated bank exchanges: built as rail.iso20022 structs, read back from any transport.

A bank builds every message as a struct (:class:`Iso20022Codec`'s builders) and hands it to its transport:
the in-process transport passes the struct itself to the rail, HTTP sends ``codec.encode(message)`` in the
bank's rendering. Reading is the reverse: the in-process inbox carries the rail's structs, HTTP carries
XML (or JSON) text, and :meth:`Iso20022Codec.read` turns either into a :class:`Parsed` view.

:class:`BankCodec` is the seam: the participants' unit tests use a tiny JSON stand-in for it, against a fake
rail that speaks only that.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

import msgspec
import orjson

from rail import iso20022
from rail.clock import REAL_CLOCK, Clock
from rail.iso20022 import structs as s

PACS008_NAME = "pacs.008.001.08"
PAIN013_NAME = "pain.013.001.07"
RTP_LOCAL_INSTRUMENT = "RTP"


def now_utc(clock: Clock = REAL_CLOCK) -> dt.datetime:
    return dt.datetime.fromtimestamp(clock.now_ns() / 1e9, dt.UTC)


class Parsed(msgspec.Struct, frozen=True, gc=False):
    """What a bank needs from a message: its kind, the payment it concerns, and the message to answer."""

    msg_type: str
    uetr: str
    status: str = ""
    reason: str = ""
    amount_paisa: int = 0
    creditor_iban: str = ""
    debtor_bic: str = ""
    creditor_bic: str = ""
    original: Any = None  # the decoded message (or its peeked ids), for building an answer


class BankCodec(Protocol):
    """Building and reading the messages of a bank's hot path (pacs.008 out, pacs.002 answers)."""

    content_type: str
    rendering: str  # xml | json: what `encode` produces

    def pacs008(self, *, uetr: str, msg_id: str, amount_paisa: int, debtor_bic: str, debtor_name: str,
                debtor_iban: str, creditor_bic: str, creditor_name: str, creditor_iban: str) -> Any: ...

    def pacs002_answer(self, original: Any, *, from_bic: str, status: str, reason: str | None) -> Any: ...

    def encode(self, message: Any) -> bytes: ...

    def read(self, message: Any, msg_type: str | None = None, content_type: str | None = None) -> Parsed: ...


class PeekedPacs008(msgspec.Struct, frozen=True, gc=False):
    """The ids of an inbound pacs.008 that a creditor agent's answer must quote."""

    msg_id: str
    instr_id: str
    end_to_end_id: str
    tx_id: str
    uetr: str
    debtor_bic: str


class Iso20022Codec:
    """BankCodec over rail.iso20022 (the project's one ISO 20022 layer), plus the builders of a bank's rarer
    messages (returns, recall answers, requests to pay and their answers, status requests)."""

    def __init__(self, rendering: str = "xml", clock: Clock = REAL_CLOCK):
        if rendering not in ("xml", "json"):
            raise ValueError(f"rendering must be xml or json, not {rendering!r}")
        self.rendering = rendering
        self.content_type = iso20022.CONTENT_TYPES[rendering]
        self.clock = clock  # stamps CreDtTm/AccptncDtTm: simulated time in `rail simulate`
        self._now: tuple[int, dt.datetime] = (-1, dt.datetime.min)  # the last stamp, by clock reading

    def now(self) -> dt.datetime:
        # A simulated clock moves in ticks: the messages of one tick share a stamp, built once.
        now_ns = self.clock.now_ns()
        if now_ns != self._now[0]:
            self._now = (now_ns, dt.datetime.fromtimestamp(now_ns / 1e9, dt.UTC))
        return self._now[1]

    def encode(self, message: Any) -> bytes:
        return iso20022.encode(message, self.rendering)

    # ---- the hot path

    def pacs008(self, *, uetr: str, msg_id: str, amount_paisa: int, debtor_bic: str, debtor_name: str,
                debtor_iban: str, creditor_bic: str, creditor_name: str, creditor_iban: str,
                end_to_end_id: str | None = None, local_instrument: str = "P2P") -> s.Pacs008:
        return iso20022.credit_transfer(
            msg_id=msg_id, tx_id=msg_id, uetr=uetr, amount_paisa=amount_paisa, debtor_agent=debtor_bic,
            debtor_name=debtor_name, debtor_iban=debtor_iban, creditor_agent=creditor_bic,
            creditor_name=creditor_name, creditor_iban=creditor_iban, end_to_end_id=end_to_end_id,
            local_instrument=local_instrument, at=self.now(),
        )

    def pacs002_answer(self, original: Any, *, from_bic: str, status: str, reason: str | None) -> s.Pacs002:
        """The creditor agent's pacs.002 (InstgAgt = itself) to the debtor agent, through the rail."""
        if isinstance(original, PeekedPacs008):
            p = original
            return iso20022.status_report(
                msg_id=_answer_id(from_bic, p.tx_id or p.end_to_end_id), tx_sts=status, rsn_cd=reason,
                orgnl_msg_id=p.msg_id, orgnl_end_to_end_id=p.end_to_end_id, orgnl_tx_id=p.tx_id or None,
                orgnl_uetr=p.uetr, orgnl_instr_id=p.instr_id or None, instg_agt_bicfi=from_bic,
                instd_agt_bicfi=p.debtor_bic, msg_instg_agt_bicfi=from_bic,
            )
        tx = original.tx
        at = self.now()
        return iso20022.status_report_for(
            original, msg_id=_answer_id(from_bic, tx.tx_id or tx.end_to_end_id), tx_sts=status, rsn_cd=reason,
            instg_agt_bicfi=from_bic, instd_agt_bicfi=tx.dbtr_agt_bicfi, msg_instg_agt_bicfi=from_bic,
            accptnc_dt_tm=at, cre_dt_tm=at,
        )

    # ---- a creditor agent's answers to a recall (camt.056)

    def payment_return(self, payment: dict, *, msg_id: str, from_bic: str, amount_paisa: int,
                       reason: str = "FOCR") -> s.Pacs004:
        """pacs.004 returning `amount_paisa` of a payment, built from the rail's view of it
        (GET /v1/payments/{uetr}): what the bank knows of it whatever transport brought the pacs.008."""
        at = self.now()
        return s.Pacs004(
            msg_id=msg_id, cre_dt_tm=at, nb_of_txs="1", sttlm_mtd="CLRG", clr_sys_prtry="RAAST",
            tx_inf=[s.PmtRtrTxInf(
                rtr_id=msg_id, orgnl_msg_id=payment["msg_id"], orgnl_msg_nm_id=PACS008_NAME,
                orgnl_end_to_end_id=payment["end_to_end_id"], orgnl_tx_id=payment["tx_id"],
                orgnl_uetr=payment["uetr"], orgnl_amount_paisa=payment["amount_paisa"], orgnl_currency="PKR",
                amount_paisa=amount_paisa, currency="PKR", intr_bk_sttlm_dt=at.date(), chrg_br="SLEV",
                instg_agt_bicfi=from_bic, instd_agt_bicfi=payment["debtor_agent"], rtr_rsn_cd=reason,
                orgnl_tx_ref_dbtr_acct_iban=payment["debtor_iban"],
                orgnl_tx_ref_dbtr_agt_bicfi=payment["debtor_agent"], orgnl_tx_ref_cdtr_agt_bicfi=from_bic,
                orgnl_tx_ref_cdtr_acct_iban=payment["creditor_iban"],
            )],
        )

    def recall_refusal(self, recall: s.Camt056, *, msg_id: str, from_bic: str, reason: str) -> s.Camt029:
        return iso20022.resolution(recall, assgnmt_id=msg_id, rsn_cd=reason, cre_dt_tm=self.now(),
                                   assgnr_bicfi=from_bic)

    # ---- the payer's agent's answers to a request to pay (pain.013)

    def request_to_pay_answer(self, request: s.Pain013, *, msg_id: str, from_bic: str,
                              reason: str | None) -> s.Pain014:
        """pain.014: ACCP (the payment follows) or RJCT with `reason`."""
        answer = iso20022.rtp_status(request, msg_id=msg_id, tx_sts="RJCT" if reason else "ACCP", rsn_cd=reason,
                                     cre_dt_tm=self.now())
        return msgspec.structs.replace(answer, dbtr_agt_bicfi=from_bic)

    def payment_for_request(self, request: s.Pain013, *, msg_id: str, uetr: str, from_bic: str) -> s.Pacs008:
        """The pacs.008 paying a request to pay: EndToEndId repeats the request's (ISO20022.md §1.2)."""
        tx = request.tx
        return iso20022.credit_transfer(
            msg_id=msg_id, tx_id=msg_id, end_to_end_id=tx.end_to_end_id, uetr=uetr,
            local_instrument=RTP_LOCAL_INSTRUMENT, amount_paisa=tx.amount_paisa, currency=tx.currency,
            debtor_agent=from_bic, debtor_name=tx.dbtr_nm or "Payer", debtor_iban=tx.dbtr_acct_iban or "",
            creditor_agent=tx.cdtr_agt_bicfi or "", creditor_name=tx.cdtr_nm or "Payee",
            creditor_iban=tx.cdtr_acct_iban or "", remittance_info=tx.rmt_inf_ustrd, at=self.now(),
        )

    # ---- what a debtor agent starts besides payments

    def status_request(self, original: s.Pacs008, *, msg_id: str, from_bic: str) -> s.Pacs028:
        return iso20022.status_request(original, msg_id=msg_id, sender=from_bic, cre_dt_tm=self.now())

    def recall(self, original: s.Pacs008, *, msg_id: str, reason: str = "CUST") -> s.Camt056:
        return iso20022.recall_request(original, assgnmt_id=msg_id, rsn_cd=reason, cre_dt_tm=self.now())

    def request_to_pay(self, *, msg_id: str, end_to_end_id: str, uetr: str, amount_paisa: int, payee_bic: str,
                       payee_name: str, payee_iban: str, payer_bic: str, payer_name: str,
                       payer_iban: str) -> s.Pain013:
        return iso20022.request_to_pay(
            msg_id=msg_id, end_to_end_id=end_to_end_id, uetr=uetr, amount_paisa=amount_paisa,
            payee_agent=payee_bic, payee_name=payee_name, payee_iban=payee_iban, payer_agent=payer_bic,
            payer_name=payer_name, payer_iban=payer_iban, at=self.now(),
        )

    # ---- reading

    def read(self, message: Any, msg_type: str | None = None, content_type: str | None = None) -> Parsed:
        view = _VIEWS.get(type(message))
        if view is not None:  # in-process inbox: the rail's struct, no rendering at all
            return view(msg_type or "", message)
        if isinstance(message, str) and msg_type:
            peeked = peek(message, msg_type)
            if peeked is not None:
                return peeked
        if isinstance(message, str):
            body = message.encode("utf-8")
        elif isinstance(message, (bytes, bytearray)):
            body = bytes(message)
        else:  # a JSON rendering embedded as an object in the inbox document
            body = orjson.dumps(message)
            content_type = iso20022.CONTENT_TYPES["json"]
        decoded = iso20022.decode(body, content_type)  # no content type: iso20022.rendering_of reads the body
        return parsed_struct(decoded.msg_type, decoded.message)


def _answer_id(bic: str, tx_id: str) -> str:
    # One answer per payment: the id is derived from the payment's own (a repeated answer repeats it).
    return f"{bic}A{tx_id[-26:]}"[:35]


def parsed_struct(msg_type: str, msg: Any) -> Parsed:
    """The Parsed view of a decoded message."""
    view = _VIEWS.get(type(msg))
    return Parsed(msg_type, "", original=msg) if view is None else view(msg_type, msg)


def _pacs008_view(msg_type: str, msg: s.Pacs008) -> Parsed:
    tx = msg.tx
    return Parsed(msg_type, tx.uetr or "", amount_paisa=tx.amount_paisa, creditor_iban=tx.cdtr_acct_iban or "",
                  debtor_bic=tx.dbtr_agt_bicfi or "", creditor_bic=tx.cdtr_agt_bicfi or "", original=msg)


def _pacs002_view(msg_type: str, msg: s.Pacs002) -> Parsed:
    if not msg.tx_inf_and_sts:
        return Parsed(msg_type, "", original=msg)
    tx = msg.tx
    return Parsed(msg_type, tx.orgnl_uetr or "", status=tx.tx_sts or "",
                  reason=tx.sts_rsn_cd or tx.sts_rsn_prtry or "", original=msg)


def _admi002_view(msg_type: str, msg: s.Admi002) -> Parsed:
    return Parsed(msg_type, "", status="RJCT", reason=msg.rjctg_pty_rsn or "", original=msg)


def _recall_view(msg_type: str, msg: s.Camt056) -> Parsed:
    tx = msg.tx if msg.tx_inf else None
    return Parsed(msg_type, (tx.orgnl_uetr if tx else None) or "",
                  amount_paisa=(tx.orgnl_amount_paisa if tx else 0) or 0, original=msg)


def _return_view(msg_type: str, msg: s.Pacs004) -> Parsed:
    tx = msg.tx if msg.tx_inf else None
    return Parsed(msg_type, (tx.orgnl_uetr if tx else None) or "", amount_paisa=tx.amount_paisa if tx else 0,
                  original=msg)


def _resolution_view(msg_type: str, msg: s.Camt029) -> Parsed:
    tx = msg.tx if msg.tx_inf_and_sts else None
    return Parsed(msg_type, (tx.orgnl_uetr if tx else None) or "", status=(tx.tx_cxl_sts if tx else "") or "",
                  reason=(tx.cxl_sts_rsn_cd if tx else "") or "", original=msg)


def _request_to_pay_view(msg_type: str, msg: s.Pain013) -> Parsed:
    tx = msg.tx
    return Parsed(msg_type, tx.uetr or "", amount_paisa=tx.amount_paisa, creditor_bic=tx.cdtr_agt_bicfi or "",
                  original=msg)


def _request_to_pay_status_view(msg_type: str, msg: s.Pain014) -> Parsed:
    tx = msg.tx if msg.orgnl_pmt_inf_and_sts else None
    return Parsed(msg_type, (tx.orgnl_uetr if tx else None) or "", status=(tx.tx_sts if tx else "") or "",
                  reason=(tx.sts_rsn_cd if tx else "") or "", original=msg)


# By exact type: one dictionary lookup per message on the in-process path.
_VIEWS: dict[type, Any] = {
    s.Pacs008: _pacs008_view,
    s.Pacs002: _pacs002_view,
    s.Admi002: _admi002_view,
    s.Camt056: _recall_view,
    s.Pacs004: _return_view,
    s.Camt029: _resolution_view,
    s.Pain013: _request_to_pay_view,
    s.Pain014: _request_to_pay_status_view,
}


# ---- fast path for the rail's own inbox messages ------------------------------------------------------
#
# A simulated bank reads thousands of messages a second; a full hardened decode costs ~60 µs for a pacs.002
# and ~150 µs for a pacs.008 (measured), which would make the load generator, not the rail, the limit of a
# measurement. Messages in an inbox were produced (and validated) by the rail itself, so the bank only peeks
# at the few elements it needs. Any message the peek does not fully recognise (another rail's prefixes,
# an unexpected shape, two transactions) takes the full decode path instead.

def peek(xml: str, msg_type: str) -> Parsed | None:
    """The Parsed view of an unprefixed, single-transaction pacs.002 or pacs.008 (what this project's rail
    emits), or None: the caller decodes it in full."""
    if not xml.startswith("<") or "<Document xmlns=" not in xml[:200]:
        return None
    kind = msg_type[:8]
    if kind == "pacs.002":
        if xml.count("<TxInfAndSts>") != 1:
            return None
        uetr, status, reason = _texts(xml, _PACS002_FIELDS)
        if not uetr or not status:
            return None
        return Parsed(msg_type, uetr, status=status, reason=reason or "")
    if kind == "pacs.008":
        return _peek_pacs008(xml, msg_type)
    return None


# What a debtor or creditor agent reads of a pacs.002: the payment, its status and the reason of a rejection.
_PACS002_FIELDS = (("", "<OrgnlUETR>"), ("", "<TxSts>"), ("<StsRsnInf>", "<Cd>"))
# What a creditor agent reads of a pacs.008: (anchor, tag) is the text of the first <tag> after the first <anchor>
# ("" = from the start), in this order: MsgId, EndToEndId, UETR, amount, debtor agent, creditor agent, creditor
# account, InstrId, TxId (the last two optional).
_PACS008_FIELDS = (
    ("", "<MsgId>"), ("", "<EndToEndId>"), ("", "<UETR>"), ("", '<IntrBkSttlmAmt Ccy="PKR">'),
    ("<DbtrAgt>", "<BICFI>"), ("<CdtrAgt>", "<BICFI>"), ("<CdtrAcct>", "<IBAN>"), ("", "<InstrId>"), ("", "<TxId>"),
)


def _texts(xml: str, fields: tuple[tuple[str, str], ...]) -> list[str | None]:
    """The text of each (anchor, tag) field: from the first <tag> after the first <anchor> to the next closing
    tag; None when either is missing. One loop for all fields: thousands of messages are read a second."""
    find = xml.find
    out: list[str | None] = []
    for anchor, tag in fields:
        start = find(anchor) if anchor else 0
        i = find(tag, start) if start >= 0 else -1
        if i < 0:
            out.append(None)
            continue
        i += len(tag)
        j = find("</", i)
        out.append(xml[i:j] if j >= 0 else None)
    return out


def _peek_pacs008(xml: str, msg_type: str) -> Parsed | None:
    if xml.count("<CdtTrfTxInf>") != 1:
        return None
    msg_id, e2e, uetr, amount, debtor_bic, creditor_bic, creditor_iban, instr_id, tx_id = _texts(xml, _PACS008_FIELDS)
    if not (msg_id and e2e and uetr and amount and debtor_bic and creditor_bic and creditor_iban):
        return None
    rupees, _, paisa = amount.partition(".")
    if not rupees.isdigit() or (paisa and (not paisa.isdigit() or len(paisa) > 2)):
        return None
    amount_paisa = int(rupees) * 100 + int((paisa + "00")[:2])
    original = PeekedPacs008(msg_id, instr_id or "", e2e, tx_id or "", uetr, debtor_bic)
    return Parsed(msg_type, uetr, amount_paisa=amount_paisa, creditor_iban=creditor_iban,
                  debtor_bic=debtor_bic, creditor_bic=creditor_bic, original=original)
