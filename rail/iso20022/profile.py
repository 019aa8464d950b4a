"""RAAST profile: the business rules a scheme adds on top of the ISO 20022 schemas.

``validate(msg, profile, known_bics)`` returns every violation it finds (empty list = accepted), each with the
ISO external status reason code a real scheme would send, the element path and a text naming the element.
Checks are pure and cheap (no I/O); ``Profile`` holds what a scheme would vary. The rule -> code table is in
docs/iso20022.md; keep the two in step.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import msgspec

from ..money import AMOUNT_MAX_PAISA
from . import codes as c
from . import structs as s
from .errors import Violation
from .identifiers import bic_is_valid, cnic_is_valid, pk_iban_is_valid, pk_mobile_is_e164, uetr_is_valid

MAX35 = 35
MAX140 = 140
MAX105 = 105
MAX350 = 350


class Profile(msgspec.Struct, frozen=True, kw_only=True):
    """Scheme parameters of the profile (RAAST_PROFILE is the default; tests and sandboxes vary it)."""

    currency: str = "PKR"
    # Scheme ceiling per transaction. SBP sets no Raast limit (banks set >= PKR 200,000); the emulator's
    # default ceiling is PKR 10 million, configurable per scheme.
    amount_paisa_max: int = 10_000_000_00
    txs_per_message_max: int = 1
    settlement_method: str = "CLRG"
    # ClrSys/Prtry required to equal this (ClrSys/Cd is a code of at most 3 characters); None = not checked.
    clearing_system: str | None = "RAAST"
    charge_bearer: str = "SLEV"
    # PmtTpInf/SvcLvl/Prtry and LclInstrm/Prtry required to equal these; None = not checked.
    service_level: str | None = None
    local_instruments: frozenset[str] | None = None
    require_uetr: bool = True
    require_tx_id: bool = True
    require_settlement_date: bool = True
    require_acceptance_time: bool = True
    require_instructing_agents: bool = True
    require_names: bool = True
    require_ibans: bool = True
    iban_country: str = "PK"


RAAST_PROFILE = Profile()

# The same few thousand IBANs and a few dozen BICs recur in every message: remember their (pure) verdicts.
# Bounded: the memo is dropped when full, so hostile traffic costs a recomputation, never memory.
_VERDICTS_MAX = 100_000
_iban_verdicts: dict[str, bool] = {}
_bic_verdicts: dict[str, bool] = {}


def _pk_iban_ok(iban: str) -> bool:
    verdict = _iban_verdicts.get(iban)
    if verdict is None:
        if len(_iban_verdicts) >= _VERDICTS_MAX:
            _iban_verdicts.clear()
        verdict = _iban_verdicts[iban] = pk_iban_is_valid(iban)
    return verdict


def _bic_ok(bic: str) -> bool:
    verdict = _bic_verdicts.get(bic)
    if verdict is None:
        if len(_bic_verdicts) >= _VERDICTS_MAX:
            _bic_verdicts.clear()
        verdict = _bic_verdicts[bic] = bic_is_valid(bic)
    return verdict


ADDTL_INF_MAX = 105  # StsRsnInf/AddtlInf (Max105Text): where a violation's text reaches the sender


def _said(path: str, value: object, rest: str) -> str:
    """'PATH 'VALUE' REST', or 'PATH REST' when quoting the value would not fit in AddtlInf: the sentence is
    shortened by leaving out what the sender sent (it has it), never cut."""
    text = f"{path} {value!r} {rest}"
    return text if len(text) <= ADDTL_INF_MAX else f"{path} {rest}"


def reason_text(violations: list[Violation]) -> str:
    """The AddtlInf of a pacs.002 RJCT for these violations: the first one with its element path, and how many
    more there are when that still fits in 105 characters. tests/test_reason_texts.py proves every text fits."""
    first = violations[0]
    text = first.text if first.text.startswith(first.path) else f"{first.path}: {first.text}"
    more = f" (+{len(violations) - 1} more)" if len(violations) > 1 else ""
    return text + more if len(text) + len(more) <= ADDTL_INF_MAX else text


class _Checker:
    """Collects violations for one message; small helpers keep each rule one line in the rule functions."""

    __slots__ = ("known_bics", "out", "profile")

    def __init__(self, profile: Profile, known_bics: Collection[str] | None) -> None:
        self.profile = profile
        self.known_bics = known_bics
        self.out: list[Violation] = []

    def add(self, code: str, path: str, text: str) -> None:
        self.out.append(Violation(code, path, text))

    def text(
        self,
        value: str | None,
        path: str,
        max_len: int,
        *,
        missing_code: str | None = None,
        code: str = c.FF01,
    ) -> None:
        if value is not None and len(value) <= max_len and not value.isspace():
            return  # the common case first: present, short enough, not blank
        if value is None:
            if missing_code is not None:
                self.add(missing_code, path, f"{path} is missing")
        elif len(value) > max_len:
            self.add(code, path, f"{path} is longer than {max_len} characters ({len(value)})")
        else:
            self.add(missing_code or code, path, f"{path} is blank")

    def bic(
        self,
        value: str | None,
        path: str,
        *,
        missing_code: str | None,
        unknown_code: str,
        member_id: str | None = None,
        party: int = 0,
    ) -> None:
        """An agent the scheme needs by BICFI. ``member_id`` / ``party``: what the message gave instead (its
        ClrSysMmbId/MmbId; a Party40Choice's Pty), named in the answer so the sender knows what to change."""
        if value is None:
            if missing_code is None:
                return
            if member_id is not None:
                self.add(missing_code, path, _said(path, member_id, "is a ClrSysMmbId: RAAST needs the BICFI"))
            elif party:
                agent = path.split("/Agt/", 1)[0]
                self.add(missing_code, path, f"{path} is missing: {agent} is a Pty, RAAST needs an Agt")
            else:
                self.add(missing_code, path, f"{path} is missing")
        elif not _bic_ok(value):
            self.add(c.RC01, path, _said(path, value, "is not a well-formed BIC"))
        elif (
            self.known_bics is not None and value not in self.known_bics and value[:8] not in self.known_bics
        ):
            self.add(unknown_code, path, _said(path, value, "is not a participant of the scheme"))

    def agent(self, record, stem: str, path: str, code: str | None, unknown_code: str | None = None) -> None:
        """The agent in ``record``'s ``{stem}_bicfi`` (``{stem}_mmb_id``, ``{stem}_pty``: what was given
        instead), which the scheme needs by BICFI."""
        self.bic(
            getattr(record, f"{stem}_bicfi"),
            path,
            missing_code=code,
            unknown_code=unknown_code or code or c.RC02,
            member_id=getattr(record, f"{stem}_mmb_id", None),
            party=getattr(record, f"{stem}_pty", 0),
        )

    def iban(self, value: str | None, path: str, *, missing_code: str | None) -> None:
        if value is None:
            if missing_code is not None and self.profile.require_ibans:
                self.add(missing_code, path, f"{path} is missing")
        elif not value.startswith(self.profile.iban_country):
            self.add(c.AC01, path, _said(path, value, f"is not a {self.profile.iban_country} IBAN"))
        elif not _pk_iban_ok(value):
            self.add(
                c.AC01,
                path,
                _said(
                    path,
                    value,
                    f"is not a valid {self.profile.iban_country} IBAN (24 characters, MOD 97-10 check digits)",
                ),
            )

    def uetr(self, value: str | None, path: str) -> None:
        if value is None:
            if self.profile.require_uetr:
                self.add(c.MINF, path, f"{path} is missing")
        elif not uetr_is_valid(value):
            self.add(c.FF01, path, _said(path, value, "is not a lower-case UUIDv4"))

    def amount(
        self, msg: s._Msg, paisa: int | None, currency: str | None, path: str, *, check_limit: bool = True
    ) -> None:
        if paisa is None:
            return
        if currency != self.profile.currency:
            self.add(
                c.AM03, f"{path}/@Ccy", _said(f"{path}/@Ccy", currency, f"is not {self.profile.currency}")
            )
        if msg.sub_paisa_amounts and any(p.endswith(path) for p in msg.sub_paisa_amounts):
            self.add(c.CH20, path, f"{path} has more than 2 decimals")
        if paisa <= 0:
            self.add(c.AM01, path, f"{path} is zero" if paisa == 0 else f"{path} is negative")
        elif paisa > AMOUNT_MAX_PAISA:  # the rail's one maximum, whatever the field (rail/money.py)
            self.add(
                c.AM02, path, _said(path, paisa, f"paisa exceeds the rail's maximum, {AMOUNT_MAX_PAISA} paisa")
            )
        elif check_limit and paisa > self.profile.amount_paisa_max:
            self.add(
                c.AM02,
                path,
                f"{path} {paisa} paisa exceeds the scheme limit of {self.profile.amount_paisa_max} paisa",
            )

    def dates_in_range(self, msg: s._Msg) -> None:
        for path in msg.out_of_range:
            short = path.split("/", 1)[-1]
            self.add(c.DT01, short, f"{short}: a year outside 0001-9999 is valid ISO but not a date RAAST settles")

    def proxy(self, tp: str | None, proxy_id: str | None, path: str) -> None:
        if tp is None and proxy_id is None:
            return
        if tp is None or proxy_id is None:
            self.add(c.BE23, path, f"{path} needs both Tp/Cd and Id")
        elif tp not in c.PROXY_TYPES:
            self.add(
                c.BE23, f"{path}/Tp/Cd", _said(f"{path}/Tp/Cd", tp, "is not an ExternalProxyAccountType1Code")
            )
        elif tp == c.MBNO and not pk_mobile_is_e164(proxy_id):
            self.add(
                c.BE23,
                f"{path}/Id",
                _said(
                    f"{path}/Id",
                    proxy_id,
                    "is not a Pakistani mobile number in +92 form (e.g. +923001234567)",
                ),
            )

    def code_in(
        self, value: str | None, allowed: Collection[str], path: str, what: str, *, required: bool = False
    ) -> None:
        if value is None:
            if required:
                self.add(c.FF01, path, f"{path} is missing")
        elif value not in allowed:
            self.add(c.FF01, path, _said(path, value, f"is not a valid {what}"))

    def tx_count(self, count: int, path: str) -> None:
        if count > self.profile.txs_per_message_max:
            self.add(
                c.AM18,
                path,
                f"{count} {path} blocks; the scheme allows {self.profile.txs_per_message_max} per message",
            )

    def nb_of_txs(self, value: str, count: int, path: str) -> None:
        if not value.isdigit() or int(value) != count:
            self.add(
                c.AM19, path, _said(path, value, f"does not match the {count} transaction(s) in the message")
            )

    def settlement(self, method: str, cd: str | None, prtry: str | None, base: str) -> None:
        if method != self.profile.settlement_method:
            self.add(
                c.FF01,
                f"{base}/SttlmMtd",
                _said(f"{base}/SttlmMtd", method, f"must be {self.profile.settlement_method}"),
            )
        wanted = self.profile.clearing_system
        if wanted is not None and prtry != wanted:
            # ClrSys/Cd is an ExternalCashClearingSystem1Code (at most 3 characters): RAAST has none.
            self.add(c.FF01, f"{base}/ClrSys/Prtry", f"{base}/ClrSys/Prtry must be {wanted} (the clearing system)")


# --------------------------------------------------------------------------- rules per message type


def _known(bic: str | None, known_bics: Collection[str] | None) -> bool:
    return (
        bic is not None
        and _bic_ok(bic)
        and (known_bics is None or bic in known_bics or bic[:8] in known_bics)
    )


def _short(value: str | None, max_len: int) -> bool:
    return value is not None and len(value) <= max_len and not value.isspace()


def _all_short(max_len: int, *values: str | None) -> bool:
    """``_short`` for several values in one call (the gates run on every message)."""
    for value in values:
        if value is None or len(value) > max_len or value.isspace():
            return False
    return True


def _all_known(known_bics: Collection[str] | None, *bics: str | None, required: bool = True) -> bool:
    """``_known`` for several agents in one call (the gates run on every message); `required=False`: an
    absent agent passes."""
    for bic in bics:
        if bic is None:
            if required:
                return False
            continue
        if not (_bic_verdicts.get(bic) or _bic_ok(bic)):
            return False
        if known_bics is not None and bic not in known_bics and bic[:8] not in known_bics:
            return False
    return True


def _pacs008_tx_clean(m: s.Pacs008, t: s.CdtTrfTxInf, p: Profile, known_bics: Collection[str] | None) -> bool:
    """Fast gate for the common case: True only when every per-transaction rule in ``_pacs008`` passes
    (it is stricter than the rules: anything unusual answers False and the detailed checks decide). One
    expression instead of some thirty calls; tests prove gate and detailed checks agree."""
    return (
        p.service_level is None
        and p.local_instruments is None
        and _all_short(MAX35, t.end_to_end_id, t.tx_id)
        and (t.instr_id is None or _short(t.instr_id, MAX35))
        and t.uetr is not None
        and uetr_is_valid(t.uetr)
        and t.currency == p.currency
        and not m.sub_paisa_amounts
        and 0 < t.amount_paisa <= p.amount_paisa_max
        and t.intr_bk_sttlm_dt is not None
        and t.accptnc_dt_tm is not None
        and t.chrg_br == p.charge_bearer
        and _all_known(known_bics, t.instg_agt_bicfi, t.instd_agt_bicfi, t.dbtr_agt_bicfi, t.cdtr_agt_bicfi)
        and _all_short(MAX140, t.dbtr_nm, t.cdtr_nm)
        and (
            t.dbtr_prvt_id_othr_schme_nm_cd is None
            or (t.dbtr_prvt_id_othr_schme_nm_cd == c.NIDN and cnic_is_valid(t.dbtr_prvt_id_othr_id or ""))
        )
        and t.dbtr_acct_iban is not None
        and t.dbtr_acct_iban.startswith(p.iban_country)
        and _pk_iban_ok(t.dbtr_acct_iban)
        and t.cdtr_acct_iban is not None
        and t.cdtr_acct_iban.startswith(p.iban_country)
        and _pk_iban_ok(t.cdtr_acct_iban)
        and (
            (t.dbtr_acct_prxy_tp_cd is None and t.dbtr_acct_prxy_id is None)
            or (t.dbtr_acct_prxy_tp_cd == c.MBNO and pk_mobile_is_e164(t.dbtr_acct_prxy_id or ""))
        )
        and (
            (t.cdtr_acct_prxy_tp_cd is None and t.cdtr_acct_prxy_id is None)
            or (t.cdtr_acct_prxy_tp_cd == c.MBNO and pk_mobile_is_e164(t.cdtr_acct_prxy_id or ""))
        )
        and (t.rmt_inf_ustrd is None or len(t.rmt_inf_ustrd) <= MAX140)
    )


def _pacs008_clean(m: s.Pacs008, p: Profile, known_bics: Collection[str] | None) -> bool:
    """Whole-message fast gate: True only when ``_pacs008`` would find nothing (group header rules, then the
    per-transaction gate); lets ``validate`` skip building a checker for the common, clean message."""
    txs = m.cdt_trf_tx_inf
    count = len(txs)
    if not 0 < count <= p.txs_per_message_max or m.nb_of_txs != str(count):
        return False
    if not _short(m.msg_id, MAX35) or m.sttlm_mtd != p.settlement_method:
        return False
    if p.clearing_system is not None and m.clr_sys_prtry != p.clearing_system:
        return False
    for t in txs:
        if not _pacs008_tx_clean(m, t, p, known_bics):
            return False
    return True


def _pacs008(m: s.Pacs008, k: _Checker, gate: bool = True) -> None:
    p = k.profile
    k.text(m.msg_id, "GrpHdr/MsgId", MAX35)
    k.tx_count(len(m.cdt_trf_tx_inf), "CdtTrfTxInf")
    k.nb_of_txs(m.nb_of_txs, len(m.cdt_trf_tx_inf), "GrpHdr/NbOfTxs")
    k.settlement(m.sttlm_mtd, m.clr_sys_cd, m.clr_sys_prtry, "GrpHdr/SttlmInf")
    for t in m.cdt_trf_tx_inf:
        if gate and _pacs008_tx_clean(m, t, p, k.known_bics):
            continue
        k.text(t.end_to_end_id, "CdtTrfTxInf/PmtId/EndToEndId", MAX35, code=c.FF08)
        k.text(t.instr_id, "CdtTrfTxInf/PmtId/InstrId", MAX35)
        k.text(t.tx_id, "CdtTrfTxInf/PmtId/TxId", MAX35, missing_code=c.MINF if p.require_tx_id else None)
        k.uetr(t.uetr, "CdtTrfTxInf/PmtId/UETR")
        if p.service_level is not None and p.service_level not in (t.svc_lvl_prtry, t.svc_lvl_cd):
            k.add(
                c.FF04,
                "CdtTrfTxInf/PmtTpInf/SvcLvl",
                f"CdtTrfTxInf/PmtTpInf/SvcLvl must be {p.service_level}",
            )
        if (
            p.local_instruments is not None
            and (t.lcl_instrm_prtry or t.lcl_instrm_cd) not in p.local_instruments
        ):
            k.add(
                c.FF05,
                "CdtTrfTxInf/PmtTpInf/LclInstrm",
                f"CdtTrfTxInf/PmtTpInf/LclInstrm must be one of {sorted(p.local_instruments)}",
            )
        k.amount(m, t.amount_paisa, t.currency, "CdtTrfTxInf/IntrBkSttlmAmt")
        if t.intr_bk_sttlm_dt is None and p.require_settlement_date:
            k.add(c.DT01, "CdtTrfTxInf/IntrBkSttlmDt", "CdtTrfTxInf/IntrBkSttlmDt is missing")
        if t.accptnc_dt_tm is None and p.require_acceptance_time:
            k.add(c.DT01, "CdtTrfTxInf/AccptncDtTm", "CdtTrfTxInf/AccptncDtTm is missing")
        if t.chrg_br != p.charge_bearer:
            k.add(
                c.BE19,
                "CdtTrfTxInf/ChrgBr",
                _said("CdtTrfTxInf/ChrgBr", t.chrg_br, f"must be {p.charge_bearer}"),
            )
        agents_code = c.RC02 if p.require_instructing_agents else None
        for stem, element, code, unknown in (
            ("instg_agt", "InstgAgt", agents_code, c.RC02),
            ("instd_agt", "InstdAgt", agents_code, c.RC02),
            ("dbtr_agt", "DbtrAgt", c.RC03, c.RC03),
            ("cdtr_agt", "CdtrAgt", c.RC04, c.RC04),
        ):
            k.agent(t, stem, f"CdtTrfTxInf/{element}/FinInstnId/BICFI", code, unknown)
        names_code = (c.BE08, c.BE22) if p.require_names else (None, None)
        k.text(t.dbtr_nm, "CdtTrfTxInf/Dbtr/Nm", MAX140, missing_code=names_code[0])
        k.text(t.cdtr_nm, "CdtTrfTxInf/Cdtr/Nm", MAX140, missing_code=names_code[1])
        if t.dbtr_prvt_id_othr_schme_nm_cd is not None and t.dbtr_prvt_id_othr_id is None:
            k.add(
                c.BE16, "CdtTrfTxInf/Dbtr/Id/PrvtId/Othr/Id", "CdtTrfTxInf/Dbtr/Id/PrvtId/Othr/Id is missing"
            )
        elif t.dbtr_prvt_id_othr_schme_nm_cd == c.NIDN and not cnic_is_valid(t.dbtr_prvt_id_othr_id or ""):
            k.add(
                c.BE16,
                "CdtTrfTxInf/Dbtr/Id/PrvtId/Othr/Id",
                "CdtTrfTxInf/Dbtr/Id/PrvtId/Othr/Id is not a 13-digit CNIC",
            )
        k.iban(t.dbtr_acct_iban, "CdtTrfTxInf/DbtrAcct/Id/IBAN", missing_code=c.AC02)
        k.iban(t.cdtr_acct_iban, "CdtTrfTxInf/CdtrAcct/Id/IBAN", missing_code=c.AC03)
        k.proxy(t.dbtr_acct_prxy_tp_cd, t.dbtr_acct_prxy_id, "CdtTrfTxInf/DbtrAcct/Prxy")
        k.proxy(t.cdtr_acct_prxy_tp_cd, t.cdtr_acct_prxy_id, "CdtTrfTxInf/CdtrAcct/Prxy")
        k.text(t.rmt_inf_ustrd, "CdtTrfTxInf/RmtInf/Ustrd", MAX140)


def _original_ids(t, base: str, k: _Checker, *, uetr: bool = True) -> None:
    if (t.orgnl_msg_id is None) != (t.orgnl_msg_nm_id is None):
        k.add(c.FF01, base + "OrgnlGrpInf", f"{base}OrgnlGrpInf needs both OrgnlMsgId and OrgnlMsgNmId")
    k.text(t.orgnl_msg_id, base + "OrgnlGrpInf/OrgnlMsgId", MAX35)
    k.text(t.orgnl_instr_id, base + "OrgnlInstrId", MAX35)
    k.text(t.orgnl_end_to_end_id, base + "OrgnlEndToEndId", MAX35, missing_code=c.FF08, code=c.FF08)
    k.text(t.orgnl_tx_id, base + "OrgnlTxId", MAX35)
    if uetr:
        k.uetr(t.orgnl_uetr, base + "OrgnlUETR")


def _pacs002_clean(m: s.Pacs002, p: Profile, known_bics: Collection[str] | None) -> bool:
    """Fast gate for the common pacs.002 (one transaction, accepted or rejected with a known code): True only
    when every rule in ``_pacs002`` passes; anything unusual answers False and the detailed checks decide.
    Tests prove gate and detailed checks agree."""
    if len(m.tx_inf_and_sts) != 1:
        return False
    t = m.tx_inf_and_sts[0]
    return (
        p.txs_per_message_max >= 1
        and _all_short(MAX35, m.msg_id, t.orgnl_msg_id, t.orgnl_end_to_end_id)
        and t.orgnl_msg_nm_id is not None
        and (t.orgnl_instr_id is None or _short(t.orgnl_instr_id, MAX35))
        and (t.orgnl_tx_id is None or _short(t.orgnl_tx_id, MAX35))
        and t.orgnl_uetr is not None
        and uetr_is_valid(t.orgnl_uetr)
        and t.tx_sts in c.TX_STATUSES
        and (t.sts_rsn_cd is None or t.sts_rsn_cd in c.STATUS_REASONS)
        and (t.tx_sts != c.RJCT or t.sts_rsn_cd is not None or t.sts_rsn_prtry is not None)
        and (t.sts_rsn_addtl_inf is None or _short(t.sts_rsn_addtl_inf, MAX105))
        and _all_known(
            known_bics,
            m.instg_agt_bicfi,
            m.instd_agt_bicfi,
            t.instg_agt_bicfi,
            t.instd_agt_bicfi,
            required=False,
        )
    )


def _pacs002(m: s.Pacs002, k: _Checker) -> None:
    k.text(m.msg_id, "GrpHdr/MsgId", MAX35)
    k.bic(m.instg_agt_bicfi, "GrpHdr/InstgAgt/FinInstnId/BICFI", missing_code=None, unknown_code=c.RC02)
    k.bic(m.instd_agt_bicfi, "GrpHdr/InstdAgt/FinInstnId/BICFI", missing_code=None, unknown_code=c.RC02)
    if not m.tx_inf_and_sts:
        k.add(c.FF01, "TxInfAndSts", "TxInfAndSts is missing: the status of one transaction is expected")
    k.tx_count(len(m.tx_inf_and_sts), "TxInfAndSts")
    for t in m.tx_inf_and_sts:
        b = "TxInfAndSts/"
        _original_ids(t, b, k)
        k.code_in(
            t.tx_sts, c.TX_STATUSES, b + "TxSts", "ExternalPaymentTransactionStatus1Code", required=True
        )
        k.code_in(t.sts_rsn_cd, c.STATUS_REASONS, b + "StsRsnInf/Rsn/Cd", "ExternalStatusReason1Code")
        if t.tx_sts == c.RJCT and t.sts_rsn_cd is None and t.sts_rsn_prtry is None:
            k.add(c.FF01, b + "StsRsnInf/Rsn/Cd", f"{b}StsRsnInf/Rsn/Cd is required when TxSts is RJCT")
        k.text(t.sts_rsn_addtl_inf, b + "StsRsnInf/AddtlInf", MAX105)
        k.bic(t.instg_agt_bicfi, b + "InstgAgt/FinInstnId/BICFI", missing_code=None, unknown_code=c.RC02)
        k.bic(t.instd_agt_bicfi, b + "InstdAgt/FinInstnId/BICFI", missing_code=None, unknown_code=c.RC02)


def _pacs004(m: s.Pacs004, k: _Checker) -> None:
    k.text(m.msg_id, "GrpHdr/MsgId", MAX35)
    k.tx_count(len(m.tx_inf), "TxInf")
    if not m.tx_inf:
        k.add(c.FF01, "TxInf", "TxInf is missing: one returned transaction is expected")
    k.nb_of_txs(m.nb_of_txs, len(m.tx_inf), "GrpHdr/NbOfTxs")
    k.settlement(m.sttlm_mtd, m.clr_sys_cd, m.clr_sys_prtry, "GrpHdr/SttlmInf")
    for t in m.tx_inf:
        b = "TxInf/"
        k.text(t.rtr_id, b + "RtrId", MAX35, missing_code=c.MINF)
        _original_ids(t, b, k)
        k.amount(m, t.orgnl_amount_paisa, t.orgnl_currency, b + "OrgnlIntrBkSttlmAmt", check_limit=False)
        k.amount(m, t.amount_paisa, t.currency, b + "RtrdIntrBkSttlmAmt")
        if t.orgnl_amount_paisa is not None and t.amount_paisa > t.orgnl_amount_paisa:
            k.add(c.AM02, b + "RtrdIntrBkSttlmAmt", f"{b}RtrdIntrBkSttlmAmt exceeds OrgnlIntrBkSttlmAmt")
        if t.chrg_br is not None and t.chrg_br != k.profile.charge_bearer:
            k.add(c.BE19, b + "ChrgBr", _said(f"{b}ChrgBr", t.chrg_br, f"must be {k.profile.charge_bearer}"))
        k.code_in(
            t.rtr_rsn_cd,
            c.RETURN_REASONS,
            b + "RtrRsnInf/Rsn/Cd",
            "ExternalReturnReason1Code",
            required=t.rtr_rsn_prtry is None,
        )
        k.agent(t, "instg_agt", b + "InstgAgt/FinInstnId/BICFI", c.RC02)
        k.agent(t, "instd_agt", b + "InstdAgt/FinInstnId/BICFI", c.RC02)
        k.iban(t.orgnl_tx_ref_dbtr_acct_iban, b + "OrgnlTxRef/DbtrAcct/Id/IBAN", missing_code=None)
        k.iban(t.orgnl_tx_ref_cdtr_acct_iban, b + "OrgnlTxRef/CdtrAcct/Id/IBAN", missing_code=None)


def _pacs028(m: s.Pacs028, k: _Checker) -> None:
    k.text(m.msg_id, "GrpHdr/MsgId", MAX35)
    if not m.tx_inf:
        k.add(c.FF01, "TxInf", "TxInf is missing: the transaction to report on is expected")
    k.tx_count(len(m.tx_inf), "TxInf")
    for t in m.tx_inf:
        _original_ids(t, "TxInf/", k)


def _assignment(m, k: _Checker, assigner_code: str, assignee_code: str) -> None:
    """Assgnmt/Assgnr and Assgne (Party40Choice): the scheme needs both agents by BICFI."""
    k.agent(m, "assgnr", "Assgnmt/Assgnr/Agt/FinInstnId/BICFI", assigner_code)
    k.agent(m, "assgne", "Assgnmt/Assgne/Agt/FinInstnId/BICFI", assignee_code)


def _camt056(m: s.Camt056, k: _Checker) -> None:
    k.text(m.assgnmt_id, "Assgnmt/Id", MAX35)
    _assignment(m, k, c.RC03, c.RC04)
    if not m.tx_inf:
        k.add(c.FF01, "Undrlyg/TxInf", "Undrlyg/TxInf is missing: the transaction to recall is expected")
    k.tx_count(len(m.tx_inf), "Undrlyg/TxInf")
    for t in m.tx_inf:
        b = "Undrlyg/TxInf/"
        k.text(t.cxl_id, b + "CxlId", MAX35, missing_code=c.MINF)
        _original_ids(t, b, k)
        k.amount(m, t.orgnl_amount_paisa, t.orgnl_currency, b + "OrgnlIntrBkSttlmAmt", check_limit=False)
        k.code_in(
            t.cxl_rsn_cd,
            c.CANCELLATION_REASONS,
            b + "CxlRsnInf/Rsn/Cd",
            "ExternalCancellationReason1Code",
            required=t.cxl_rsn_prtry is None,
        )


def _camt029(m: s.Camt029, k: _Checker) -> None:
    k.text(m.assgnmt_id, "Assgnmt/Id", MAX35)
    _assignment(m, k, c.RC04, c.RC03)  # the answer goes from the creditor agent back to the debtor agent
    k.tx_count(len(m.tx_inf_and_sts), "CxlDtls/TxInfAndSts")
    for t in m.tx_inf_and_sts:
        b = "CxlDtls/TxInfAndSts/"
        _original_ids(t, b, k)
        k.code_in(t.tx_cxl_sts, (c.RJCR, c.ACCR, c.PDCR), b + "TxCxlSts", "CancellationIndividualStatus1Code")
        k.code_in(
            t.cxl_sts_rsn_cd,
            c.CANCELLATION_REJECTIONS,
            b + "CxlStsRsnInf/Rsn/Cd",
            "ExternalPaymentCancellationRejection1Code",
        )


def _acmt023(m: s.Acmt023, k: _Checker) -> None:
    k.text(m.msg_id, "Assgnmt/MsgId", MAX35)
    _assignment(m, k, c.RC02, c.RC02)
    k.tx_count(len(m.vrfctn), "Vrfctn")
    for v in m.vrfctn:
        b = "Vrfctn/PtyAndAcctId/Acct/"
        k.text(v.id, "Vrfctn/Id", MAX35)
        if v.acct_prxy_id is None and v.acct_iban is None:
            k.add(c.MINF, b + "Prxy", f"{b}Prxy (or {b}Id/IBAN) is missing: nothing to verify")
        k.proxy(v.acct_prxy_tp_cd, v.acct_prxy_id, b + "Prxy")
        k.iban(v.acct_iban, b + "Id/IBAN", missing_code=None)
        k.bic(v.agt_bicfi, "Vrfctn/PtyAndAcctId/Agt/FinInstnId/BICFI", missing_code=None, unknown_code=c.RC02)


def _acmt024(m: s.Acmt024, k: _Checker) -> None:
    k.text(m.msg_id, "Assgnmt/MsgId", MAX35)
    _assignment(m, k, c.RC02, c.RC02)
    k.tx_count(len(m.rpt), "Rpt")
    for r in m.rpt:
        k.code_in(r.rsn_cd, c.VERIFICATION_REASONS, "Rpt/Rsn/Cd", "ExternalVerificationReason1Code")
        k.proxy(r.orgnl_acct_prxy_tp_cd, r.orgnl_acct_prxy_id, "Rpt/OrgnlPtyAndAcctId/Acct/Prxy")
        k.iban(r.updtd_acct_iban, "Rpt/UpdtdPtyAndAcctId/Acct/Id/IBAN", missing_code=None)
        k.bic(
            r.updtd_agt_bicfi,
            "Rpt/UpdtdPtyAndAcctId/Agt/FinInstnId/BICFI",
            missing_code=None,
            unknown_code=c.RC04,
        )


def _pain013(m: s.Pain013, k: _Checker) -> None:
    k.text(m.msg_id, "GrpHdr/MsgId", MAX35)
    k.tx_count(len(m.pmt_inf), "PmtInf")
    count = sum(p.cdt_trf_tx_count for p in m.pmt_inf)
    k.nb_of_txs(m.nb_of_txs, count, "GrpHdr/NbOfTxs")
    for p in m.pmt_inf:
        k.tx_count(p.cdt_trf_tx_count, "PmtInf/CdtTrfTx")
        b = "PmtInf/CdtTrfTx/"
        k.text(p.end_to_end_id, b + "PmtId/EndToEndId", MAX35, code=c.FF08)
        k.uetr(p.uetr, b + "PmtId/UETR")
        if p.amount_paisa is None:
            k.add(
                c.AM03,
                b + "Amt/EqvtAmt",
                f"{b}Amt/EqvtAmt: RAAST converts no currency; give Amt/InstdAmt in {k.profile.currency}",
            )
        k.amount(m, p.amount_paisa, p.currency, b + "Amt/InstdAmt")
        if p.chrg_br != k.profile.charge_bearer:
            k.add(c.BE19, b + "ChrgBr", _said(f"{b}ChrgBr", p.chrg_br, f"must be {k.profile.charge_bearer}"))
        k.agent(p, "dbtr_agt", "PmtInf/DbtrAgt/FinInstnId/BICFI", c.RC03)
        k.agent(p, "cdtr_agt", b + "CdtrAgt/FinInstnId/BICFI", c.RC04)
        k.text(p.cdtr_nm, b + "Cdtr/Nm", MAX140, missing_code=c.BE22 if k.profile.require_names else None)
        k.iban(p.dbtr_acct_iban, "PmtInf/DbtrAcct/Id/IBAN", missing_code=None)
        k.proxy(p.dbtr_acct_prxy_tp_cd, p.dbtr_acct_prxy_id, "PmtInf/DbtrAcct/Prxy")
        if p.dbtr_acct_iban is None and p.dbtr_acct_prxy_id is not None:
            # CashAccount38 needs Id whenever the account is given: resolve the Raast ID (acmt.023) first.
            k.add(
                c.AC02,
                "PmtInf/DbtrAcct/Id/IBAN",
                "PmtInf/DbtrAcct/Id/IBAN is missing (a proxy alone is not a valid DbtrAcct)",
            )
        k.iban(p.cdtr_acct_iban, b + "CdtrAcct/Id/IBAN", missing_code=c.AC03)
        k.text(p.rmt_inf_ustrd, b + "RmtInf/Ustrd", MAX140)


def _pain014(m: s.Pain014, k: _Checker) -> None:
    k.text(m.msg_id, "GrpHdr/MsgId", MAX35)
    k.text(m.orgnl_msg_id, "OrgnlGrpInfAndSts/OrgnlMsgId", MAX35)
    k.tx_count(len(m.orgnl_pmt_inf_and_sts), "OrgnlPmtInfAndSts")
    for t in m.orgnl_pmt_inf_and_sts:
        b = "OrgnlPmtInfAndSts/TxInfAndSts/"
        k.text(t.orgnl_end_to_end_id, b + "OrgnlEndToEndId", MAX35, missing_code=c.FF08, code=c.FF08)
        if t.orgnl_uetr is not None:
            k.uetr(t.orgnl_uetr, b + "OrgnlUETR")
        k.code_in(
            t.tx_sts, c.TX_STATUSES, b + "TxSts", "ExternalPaymentTransactionStatus1Code", required=True
        )
        k.code_in(t.sts_rsn_cd, c.STATUS_REASONS, b + "StsRsnInf/Rsn/Cd", "ExternalStatusReason1Code")
        if t.tx_sts == c.RJCT and t.sts_rsn_cd is None and t.sts_rsn_prtry is None:
            k.add(c.FF01, b + "StsRsnInf/Rsn/Cd", f"{b}StsRsnInf/Rsn/Cd is required when TxSts is RJCT")


def _admi002(m: s.Admi002, k: _Checker) -> None:
    k.text(m.rltd_ref, "RltdRef/Ref", MAX35)
    k.text(m.rjctg_pty_rsn, "Rsn/RjctgPtyRsn", MAX35)
    k.text(m.err_lctn, "Rsn/ErrLctn", MAX350)
    k.text(m.rsn_desc, "Rsn/RsnDesc", MAX350)


def _admi004(m: s.Admi004, k: _Checker) -> None:
    k.text(m.evt_cd, "EvtInf/EvtCd", 4)


def _camt054(m: s.Camt054, k: _Checker) -> None:
    k.text(m.msg_id, "GrpHdr/MsgId", MAX35)
    for n in m.ntfctn:
        if n.acct_iban is None and n.acct_othr_id is None:
            k.add(c.AC01, "Ntfctn/Acct/Id", "Ntfctn/Acct/Id (IBAN or Othr/Id) is missing")
        k.iban(n.acct_iban, "Ntfctn/Acct/Id/IBAN", missing_code=None)
        k.amount(m, n.amount_paisa, n.currency, "Ntfctn/Ntry/Amt", check_limit=False)
        k.code_in(n.cdt_dbt_ind, ("CRDT", "DBIT"), "Ntfctn/Ntry/CdtDbtInd", "CreditDebitCode")
        if n.uetr is not None:
            k.uetr(n.uetr, "Ntfctn/Ntry/NtryDtls/TxDtls/Refs/UETR")


_RULES: dict[type, Callable] = {
    s.Pacs008: _pacs008,
    s.Pacs002: _pacs002,
    s.Pacs004: _pacs004,
    s.Pacs028: _pacs028,
    s.Camt056: _camt056,
    s.Camt029: _camt029,
    s.Acmt023: _acmt023,
    s.Acmt024: _acmt024,
    s.Pain013: _pain013,
    s.Pain014: _pain014,
    s.Admi002: _admi002,
    s.Admi004: _admi004,
    s.Camt054: _camt054,
}


def validate(
    msg, profile: Profile = RAAST_PROFILE, known_bics: Collection[str] | None = None
) -> list[Violation]:
    """All profile violations of ``msg`` (a decoded struct); empty when the message is acceptable.

    ``known_bics``: when given (a set is best), agents must be participants of the scheme (BIC8 or BIC11).
    """
    gate = _CLEAN_GATES.get(msg.__class__)
    if gate is not None and not msg.out_of_range and gate(msg, profile, known_bics):
        return []  # the common, clean message: proven (in tests) to be what the detailed rules find
    checker = _Checker(profile, known_bics)
    checker.dates_in_range(msg)
    _RULES[msg.__class__](msg, checker)
    return checker.out


# Fast gates of the messages on every payment's path: stricter than the rules, never more lenient.
_CLEAN_GATES = {s.Pacs008: _pacs008_clean, s.Pacs002: _pacs002_clean}
