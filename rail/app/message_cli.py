"""`rail message TYPE`: print a ready-to-send ISO 20022 message, with fresh ids and today's dates.

    rail message pacs008 --from TESTPKKA --to MEZNPKKA --amount 1500.00 > pacs008.xml
    rail message pacs002 --answer inbox.json --status ACSP              # a creditor agent's answer
    rail message camt056 --original pacs008.xml --reason DUPL           # recall what pacs008.xml paid

Every message is made by the rail's own builders (rail/iso20022/builders.py) and encoder, so what this prints
is what the rail itself would accept: XML (pretty-printed) or, with --json, the JSON rendering. An answer
(pacs.002, pacs.004, camt.029, pain.014 ...) is built from the message it answers, read from a file: the
message itself (XML or JSON) or an inbox page saved from GET /v1/inbox (the first message of the right type,
or the one --seq names). docs/examples/ holds one of each, made by this module with a fixed clock
(rail/app/examples.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import textwrap
import uuid
from collections.abc import Callable
from pathlib import Path

import orjson

from rail import iso20022 as iso
from rail.iso20022 import codes
from rail.iso20022._values import parse_amount_general
from rail.scheme import CENTRAL_BANK_BIC, default_scheme

PROG = "rail message"
# The account a participant's customer pays from when --debtor-iban is not given (any 16 characters do:
# the rail checks the IBAN's form and check digits, the participant's own books are its own business).
DEFAULT_CUSTOMER_ACCOUNT = "0000001234567890"
DEFAULT_CUSTOMER_NAME = "Ali Raza"
DEFAULT_PAYER_NAME = "Customer"
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'


class MessageError(Exception):
    """What the user asked cannot make a valid message; the text says what to change."""


# ---- ids and amounts -----------------------------------------------------------------------------------------


class Ids:
    """Fresh message ids and UETRs: random for `rail message`, seeded for docs/examples (reproducible)."""

    def __init__(self, seed: int | None = None) -> None:
        self._random = random.Random(seed) if seed is not None else random.SystemRandom()

    def uetr(self) -> str:
        return str(uuid.UUID(int=self._random.getrandbits(128), version=4))

    def message_id(self, bic: str, at: dt.datetime) -> str:
        """BIC8 + yyyymmddHHMMSS + 6 hex characters: 28 characters, within Max35Text, unique enough to never
        collide with the rail's duplicate checks on (InstgAgt, TxId) and MsgId."""
        return f"{bic[:8]}{at:%Y%m%d%H%M%S}{self._random.getrandbits(24):06X}"


def parse_amount(text: str) -> int:
    """'1500.00' or '1500' -> 150000 paisa. Decimal text only (never a float); at most 2 decimals, positive,
    within the scheme's per-payment maximum."""
    try:
        paisa, below_paisa = parse_amount_general(text)
    except ValueError:
        raise MessageError(f"--amount {text!r}: write rupees as digits with at most 2 decimals, e.g. 1500.00 "
                           "(no commas, no currency)") from None
    if below_paisa:
        raise MessageError(f"--amount {text!r}: PKR has 2 decimals (paisa)")
    if paisa <= 0:
        raise MessageError(f"--amount {text!r}: must be more than zero")
    limit = iso.RAAST_PROFILE.amount_paisa_max
    if paisa > limit:
        raise MessageError(f"--amount {text!r}: above the scheme's limit of {limit // 100:,}.{limit % 100:02d}")
    return paisa


def _bic(text: str, option: str) -> str:
    bic = text.strip().upper()
    if not iso.bic_is_valid(bic):
        raise MessageError(f"{option} {text!r} is not a BIC (8 or 11 characters, e.g. MEZNPKKA)")
    return bic


def _iban(text: str, option: str) -> str:
    iban = text.replace(" ", "").upper()
    if not iso.pk_iban_is_valid(iban):
        raise MessageError(f"{option} {text!r} is not a valid PK IBAN; 'rail iban --check {iban}' says why")
    return iban


# ---- reading the message an answer answers -------------------------------------------------------------------


def read_original(path: str, wanted: type, seq: int | None = None):
    """The message of type ``wanted`` in ``path`` ('-' = stdin): an ISO message, or an inbox page."""
    try:
        raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise MessageError(f"cannot read {path}: {exc.strerror}") from None
    for body in _candidates(raw, seq):
        try:
            message = iso.decode(body, None).message
        except iso.MessageRejected as exc:
            raise MessageError(f"{path}: not a readable ISO 20022 message ({exc})") from None
        if isinstance(message, wanted):
            return message
    which = f" with seq {seq}" if seq is not None else ""
    raise MessageError(f"{path}: no {_type_name(wanted)} message{which} in it")


def _candidates(raw: bytes, seq: int | None) -> list[bytes]:
    """The message bodies in a file: itself, or each message of an inbox page ({"messages": [...]})."""
    stripped = raw.lstrip()
    if not stripped.startswith(b"{"):
        return [raw]
    try:
        page = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return [raw]  # decode() names what is wrong with it
    if not isinstance(page, dict) or not isinstance(page.get("messages"), list):
        return [raw]
    bodies = []
    for entry in page["messages"]:
        if not isinstance(entry, dict) or (seq is not None and entry.get("seq") != seq):
            continue
        message = entry.get("message")
        bodies.append(message.encode() if isinstance(message, str) else orjson.dumps(message))
    return bodies


def _type_name(kind: type) -> str:
    return next(name for name, k in _ORIGINAL_TYPES.items() if k is kind)


_ORIGINAL_TYPES = {"pacs.008": iso.Pacs008, "camt.056": iso.Camt056, "pain.013": iso.Pain013}


# ---- one function per message type ---------------------------------------------------------------------------


def _scheme_customer(bic: str, iban: str | None = None):
    """A default-scheme customer of ``bic`` (the one holding ``iban``, else its first ordinary one)."""
    bank = default_scheme().bank(bic)
    if bank is None:
        return None
    if iban is not None:
        return next((c for c in bank.customers if c.iban == iban), None)
    return next(c for c in bank.customers if c.behaviour == "accept")


def _party(bic: str, iban_text: str | None, name: str | None, option: str, fallback_name: str) -> tuple[str, str]:
    """(IBAN, name) of a party at ``bic``: as given, else a default-scheme customer, else a made-up account."""
    iban = _iban(iban_text, option) if iban_text else None
    if iban is not None and iban[4:8] != bic[:4]:
        raise MessageError(f"{option} {iban} is not an account of {bic} (its bank code is {iban[4:8]})")
    customer = _scheme_customer(bic, iban)
    if iban is None:
        iban = customer.iban if customer is not None else iso.make_pk_iban(bic[:4], DEFAULT_CUSTOMER_ACCOUNT)
    return iban, name or (customer.name if customer is not None else fallback_name)


def make_pacs008(a: argparse.Namespace, ids: Ids, at: dt.datetime):
    debtor, creditor = _bic(a.sender, "--from"), _bic(a.to, "--to")
    if a.creditor_iban is None and default_scheme().bank(creditor) is None:
        raise MessageError(f"--to {creditor} is not a default-scheme bank: give --creditor-iban")
    debtor_iban, debtor_name = _party(debtor, a.debtor_iban, a.debtor_name, "--debtor-iban", DEFAULT_CUSTOMER_NAME)
    creditor_iban, creditor_name = _party(creditor, a.creditor_iban, a.creditor_name, "--creditor-iban",
                                          DEFAULT_PAYER_NAME)
    tx_id = ids.message_id(debtor, at)
    return iso.credit_transfer(
        msg_id=ids.message_id(debtor, at), tx_id=tx_id, end_to_end_id=a.end_to_end_id, uetr=ids.uetr(),
        amount_paisa=parse_amount(a.amount), debtor_agent=debtor, debtor_name=debtor_name,
        debtor_iban=debtor_iban, creditor_agent=creditor, creditor_name=creditor_name,
        creditor_iban=creditor_iban, remittance_info=a.remittance, at=at,
    )


def make_pacs002(a: argparse.Namespace, ids: Ids, at: dt.datetime):
    original = read_original(a.answer, iso.Pacs008, a.seq)
    creditor = original.tx.cdtr_agt_bicfi or ""
    reason = _reason(a.status, a.reason, codes.RJCT, codes.STATUS_REASONS, "ExternalStatusReason1Code")
    return iso.status_report_for(
        original, msg_id=ids.message_id(creditor, at), tx_sts=a.status, rsn_cd=reason, addtl_inf=a.info,
        rsn_orgtr_bic=creditor, instg_agt_bicfi=creditor, instd_agt_bicfi=original.tx.dbtr_agt_bicfi,
        msg_instg_agt_bicfi=creditor, cre_dt_tm=at,
        accptnc_dt_tm=at if a.status != codes.RJCT else None,
    )


def make_pacs004(a: argparse.Namespace, ids: Ids, at: dt.datetime):
    original = read_original(a.original, iso.Pacs008, a.seq)
    creditor = original.tx.cdtr_agt_bicfi or ""
    _code(a.reason, codes.RETURN_REASONS, "--reason", "ExternalReturnReason1Code")
    amount = parse_amount(a.amount) if a.amount else None
    return iso.payment_return(
        original, msg_id=ids.message_id(creditor, at), rtr_id=ids.message_id(creditor, at), rsn_cd=a.reason,
        intr_bk_sttlm_dt=at.date(), amount_paisa=amount, addtl_inf=a.info, cre_dt_tm=at,
    )


def make_pacs028(a: argparse.Namespace, ids: Ids, at: dt.datetime):
    original = read_original(a.original, iso.Pacs008, a.seq)
    sender = _bic(a.sender, "--from") if a.sender else original.tx.dbtr_agt_bicfi or ""
    return iso.status_request(original, msg_id=ids.message_id(sender, at), sender=sender, cre_dt_tm=at)


def make_camt056(a: argparse.Namespace, ids: Ids, at: dt.datetime):
    original = read_original(a.original, iso.Pacs008, a.seq)
    _code(a.reason, codes.CANCELLATION_REASONS, "--reason", "ExternalCancellationReason1Code")
    return iso.recall_request(
        original, assgnmt_id=ids.message_id(original.tx.dbtr_agt_bicfi or "", at), rsn_cd=a.reason,
        addtl_inf=a.info, cre_dt_tm=at,
    )


def make_camt029(a: argparse.Namespace, ids: Ids, at: dt.datetime):
    recall = read_original(a.answer, iso.Camt056, a.seq)
    _code(a.reason, codes.CANCELLATION_REJECTIONS, "--reason", "ExternalPaymentCancellationRejection1Code")
    return iso.resolution(
        recall, assgnmt_id=ids.message_id(recall.assgne_bicfi, at), rsn_cd=a.reason, addtl_inf=a.info,
        cre_dt_tm=at,
    )


def make_acmt023(a: argparse.Namespace, ids: Ids, at: dt.datetime):
    sender = _bic(a.sender, "--from")
    try:
        alias = iso.normalise_pk_mobile(a.alias)
    except ValueError:
        raise MessageError(f"--alias {a.alias!r}: a Raast ID is a Pakistani mobile number, e.g. +923001234567")
    return iso.verification_request(
        msg_id=ids.message_id(sender, at), assigner=sender, assignee=CENTRAL_BANK_BIC, alias=alias, cre_dt_tm=at
    )


def make_pain013(a: argparse.Namespace, ids: Ids, at: dt.datetime):
    payee_agent, payer_agent = _bic(a.sender, "--from"), _bic(a.to, "--to")
    if a.payer_iban is None and default_scheme().bank(payer_agent) is None:
        raise MessageError(f"--to {payer_agent} is not a default-scheme bank: give --payer-iban")
    payee_iban, payee_name = _party(payee_agent, a.payee_iban, a.payee_name, "--payee-iban", "Merchant")
    payer_iban, payer_name = _party(payer_agent, a.payer_iban, a.payer_name, "--payer-iban", DEFAULT_PAYER_NAME)
    msg_id = ids.message_id(payee_agent, at)
    return iso.request_to_pay(
        msg_id=msg_id, end_to_end_id=a.end_to_end_id or msg_id, uetr=ids.uetr(),
        amount_paisa=parse_amount(a.amount), payee_agent=payee_agent, payee_name=payee_name,
        payee_iban=payee_iban, payer_agent=payer_agent, payer_name=payer_name, payer_iban=payer_iban,
        remittance_info=a.remittance, at=at,
    )


def make_pain014(a: argparse.Namespace, ids: Ids, at: dt.datetime):
    request = read_original(a.answer, iso.Pain013, a.seq)
    reason = _reason(a.status, a.reason, codes.RJCT, codes.STATUS_REASONS, "ExternalStatusReason1Code")
    return iso.rtp_status(
        request, msg_id=ids.message_id(request.tx.dbtr_agt_bicfi or "", at), tx_sts=a.status, rsn_cd=reason,
        addtl_inf=a.info, accptnc_dt_tm=at if a.status == codes.ACCP else None, cre_dt_tm=at,
    )


def _reason(status: str, reason: str | None, reject: str, code_set: dict, set_name: str) -> str | None:
    if status == reject and reason is None:
        raise MessageError(f"--status {reject} needs --reason (an {set_name}, e.g. AC04)")
    if reason is not None:
        _code(reason, code_set, "--reason", set_name)
    return reason


def _code(value: str, code_set: dict, option: str, set_name: str) -> None:
    if value not in code_set:
        raise MessageError(f"{option} {value!r} is not an {set_name}")


# ---- the command ---------------------------------------------------------------------------------------------

Maker = Callable[[argparse.Namespace, Ids, dt.datetime], object]


def _answer_file(p: argparse.ArgumentParser, option: str, what: str) -> None:
    p.add_argument(option, required=True, metavar="FILE",
                   help=f"the {what} to answer: the message (XML or JSON) or a saved GET /v1/inbox page; '-' = stdin")
    p.add_argument("--seq", type=int, default=None, help="in an inbox page, the message with this seq")


def _info(p: argparse.ArgumentParser) -> None:
    p.add_argument("--info", default=None, metavar="TEXT", help="AddtlInf: a short text (at most 105 characters)")


def _add_pacs008(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="sender", required=True, metavar="BIC", help="your bank: the debtor agent")
    p.add_argument("--to", required=True, metavar="BIC", help="the creditor agent, e.g. MEZNPKKA")
    p.add_argument("--amount", required=True, help="rupees, e.g. 1500.00")
    p.add_argument("--creditor-iban", default=None,
                   help="default: the first ordinary customer of --to ('rail scheme --bank BIC' lists test accounts)")
    p.add_argument("--creditor-name", default=None)
    p.add_argument("--debtor-iban", default=None, help=f"default: account {DEFAULT_CUSTOMER_ACCOUNT} at --from")
    p.add_argument("--debtor-name", default=None)
    p.add_argument("--end-to-end-id", default=None, help="default: the transaction id")
    p.add_argument("--remittance", default=None, metavar="TEXT", help="RmtInf/Ustrd")


def _add_status(p: argparse.ArgumentParser, statuses: tuple[str, ...], what: str) -> None:
    _answer_file(p, "--answer", what)
    p.add_argument("--status", required=True, choices=statuses)
    p.add_argument("--reason", default=None, help="ISO reason code, required with RJCT (e.g. AC04)")
    _info(p)


def _add_pacs002(p: argparse.ArgumentParser) -> None:
    _add_status(p, (codes.ACSP, codes.ACCP, "ACWP", codes.RJCT), "pacs.008 (your inbox's)")


def _add_pacs004(p: argparse.ArgumentParser) -> None:
    _answer_file(p, "--original", "settled pacs.008 to return")
    p.add_argument("--reason", default=codes.FOCR, help="ExternalReturnReason1Code (default FOCR)")
    p.add_argument("--amount", default=None, help="rupees returned (default: all of it)")
    _info(p)


def _add_pacs028(p: argparse.ArgumentParser) -> None:
    _answer_file(p, "--original", "pacs.008 to ask about")
    p.add_argument("--from", dest="sender", default=None, metavar="BIC",
                   help="who asks (default: the debtor agent; the creditor agent may ask too)")


def _add_camt056(p: argparse.ArgumentParser) -> None:
    _answer_file(p, "--original", "settled pacs.008 to recall")
    p.add_argument("--reason", default=codes.DUPL, help="ExternalCancellationReason1Code (default DUPL)")
    _info(p)


def _add_camt029(p: argparse.ArgumentParser) -> None:
    _answer_file(p, "--answer", "camt.056 recall to refuse")
    p.add_argument("--reason", default=codes.CUST, help="ExternalPaymentCancellationRejection1Code (default CUST)")
    _info(p)


def _add_acmt023(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="sender", required=True, metavar="BIC", help="your bank")
    p.add_argument("--alias", required=True, help="the Raast ID (mobile number) to look up, e.g. +923041004000")


def _add_pain013(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="sender", required=True, metavar="BIC", help="your bank: the payee's agent")
    p.add_argument("--to", required=True, metavar="BIC", help="the payer's agent, e.g. BAHLPKKA")
    p.add_argument("--amount", required=True, help="rupees, e.g. 450.00")
    p.add_argument("--payer-iban", default=None, help="default: the first ordinary customer of --to")
    p.add_argument("--payer-name", default=None)
    p.add_argument("--payee-iban", default=None, help=f"default: account {DEFAULT_CUSTOMER_ACCOUNT} at --from")
    p.add_argument("--payee-name", default=None)
    p.add_argument("--end-to-end-id", default=None, help="your reference (e.g. an invoice number); default MsgId")
    p.add_argument("--remittance", default=None, metavar="TEXT")


def _add_pain014(p: argparse.ArgumentParser) -> None:
    _add_status(p, (codes.ACCP, codes.RJCT), "pain.013 request to pay")


# type -> (ISO message type, what it is, options, builder)
MESSAGE_TYPES: dict[str, tuple[str, str, Callable[[argparse.ArgumentParser], None], Maker]] = {
    "pacs008": ("pacs.008.001.08", "a credit transfer (you are the debtor agent)", _add_pacs008, make_pacs008),
    "pacs002": ("pacs.002.001.10", "a creditor agent's answer to a pacs.008: ACSP, or RJCT with a reason",
                _add_pacs002, make_pacs002),
    "pacs004": ("pacs.004.001.09", "return a settled payment (you are its creditor agent)", _add_pacs004,
                make_pacs004),
    "pacs028": ("pacs.028.001.03", "ask the rail for a payment's status", _add_pacs028, make_pacs028),
    "camt056": ("camt.056.001.08", "recall a settled payment (you are its debtor agent)", _add_camt056,
                make_camt056),
    "camt029": ("camt.029.001.09", "refuse a recall (RJCR with a reason)", _add_camt029, make_camt029),
    "acmt023": ("acmt.023.001.03", "look up a Raast ID (answered with acmt.024)", _add_acmt023, make_acmt023),
    "pain013": ("pain.013.001.07", "a request to pay (you are the payee's agent)", _add_pain013, make_pain013),
    "pain014": ("pain.014.001.07", "answer a request to pay: ACCP, or RJCT with a reason", _add_pain014,
                make_pain014),
}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    examples = textwrap.indent(textwrap.dedent(__doc__.split("\n\n")[1]).strip(), "  ")
    parser.epilog = (f"examples:\n{examples}\n\nRun 'rail message TYPE --help' for a type's options; "
                     "docs/examples/ has one of each.")
    sub = parser.add_subparsers(dest="message_type", metavar="TYPE", required=True, title="message types")
    for name, (msg_type, what, add_options, _) in MESSAGE_TYPES.items():
        p = sub.add_parser(name, help=f"{msg_type}: {what}", description=f"{msg_type}: {what}")
        add_options(p)
        p.add_argument("--json", action="store_true", help="the JSON rendering instead of XML")
        p.add_argument("--header", action="store_true",
                       help=f"wrap it in a head.001 business application header addressed to {CENTRAL_BANK_BIC}")


def build(args: argparse.Namespace, ids: Ids, at: dt.datetime) -> bytes:
    """The message ``args`` describe, encoded (pretty-printed) as it would be sent; MessageError if not."""
    msg_type, _, _, make = MESSAGE_TYPES[args.message_type]
    message = make(args, ids, at)
    header = None
    if args.header:
        sender = _sender_of(message)
        header = iso.application_header(
            msg_type, sender=sender, receiver=CENTRAL_BANK_BIC, biz_msg_idr=ids.message_id(sender, at), cre_dt=at
        )
    return pretty(iso.encode(message, iso.JSON if args.json else iso.XML, header))


def _sender_of(message) -> str:
    for name in ("instg_agt_bicfi", "assgnr_bicfi"):
        value = getattr(message, name, None)
        if value:
            return value
    tx = message.tx
    return (getattr(tx, "instg_agt_bicfi", None) or getattr(tx, "dbtr_agt_bicfi", None)
            or getattr(tx, "cdtr_agt_bicfi", None) or CENTRAL_BANK_BIC)


def pretty(body: bytes) -> bytes:
    """Indented XML or JSON, for people (the rail reads either form)."""
    if body.startswith(b"{"):
        return orjson.dumps(orjson.loads(body), option=orjson.OPT_INDENT_2) + b"\n"
    from lxml import etree

    root = etree.fromstring(body)
    etree.indent(root, space="  ")
    return XML_DECLARATION + etree.tostring(root, encoding="unicode").encode() + b"\n"


def run(args: argparse.Namespace) -> int:
    try:
        body = build(args, Ids(), iso.now_pkt())
    except MessageError as exc:
        print(f"{PROG} {args.message_type}: {exc}", file=sys.stderr)
        return 2
    sys.stdout.buffer.write(body)
    sys.stdout.flush()
    return 0
