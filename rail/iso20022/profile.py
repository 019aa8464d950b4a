"""RAAST profile: the business rules a scheme adds on top of the ISO 20022 schemas.

``validate(msg, profile, known_bics)`` returns every violation it finds (empty list = accepted), each with the
ISO external status reason code a real scheme would send, the element path and a text naming the element.
Checks are pure and cheap (no I/O); ``Profile`` holds what a scheme would vary. The rule -> code table is in
docs/iso20022.md; keep the two in step.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from . import codes as c
from . import structs as s
from .errors import Violation
from .identifiers import cnic_is_valid, pk_mobile_is_e164, uetr_is_valid
from .profile_checks import (  # noqa: F401 - ADDTL_INF_MAX and reason_text: the profile's public face
    ADDTL_INF_MAX,
    MAX35,
    MAX105,
    MAX140,
    MAX350,
    RAAST_PROFILE,
    Checker,
    Profile,
    bic_ok,
    bic_verdicts,
    pk_iban_ok,
    reason_text,
    said,
)

# --------------------------------------------------------------------------- rules per message type


def _known(bic: str | None, known_bics: Collection[str] | None) -> bool:
    return (
        bic is not None
        and bic_ok(bic)
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
        if not (bic_verdicts.get(bic) or bic_ok(bic)):
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
        and pk_iban_ok(t.dbtr_acct_iban)
        and t.cdtr_acct_iban is not None
        and t.cdtr_acct_iban.startswith(p.iban_country)
        and pk_iban_ok(t.cdtr_acct_iban)
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


def _pacs008(m: s.Pacs008, k: Checker, gate: bool = True) -> None:
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
                said("CdtTrfTxInf/ChrgBr", t.chrg_br, f"must be {p.charge_bearer}"),
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


def _original_ids(t, base: str, k: Checker, *, uetr: bool = True) -> None:
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


def _pacs002(m: s.Pacs002, k: Checker) -> None:
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


def _pacs004(m: s.Pacs004, k: Checker) -> None:
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
            k.add(c.BE19, b + "ChrgBr", said(f"{b}ChrgBr", t.chrg_br, f"must be {k.profile.charge_bearer}"))
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


def _pacs028(m: s.Pacs028, k: Checker) -> None:
    k.text(m.msg_id, "GrpHdr/MsgId", MAX35)
    if not m.tx_inf:
        k.add(c.FF01, "TxInf", "TxInf is missing: the transaction to report on is expected")
    k.tx_count(len(m.tx_inf), "TxInf")
    for t in m.tx_inf:
        _original_ids(t, "TxInf/", k)


def _assignment(m, k: Checker, assigner_code: str, assignee_code: str) -> None:
    """Assgnmt/Assgnr and Assgne (Party40Choice): the scheme needs both agents by BICFI."""
    k.agent(m, "assgnr", "Assgnmt/Assgnr/Agt/FinInstnId/BICFI", assigner_code)
    k.agent(m, "assgne", "Assgnmt/Assgne/Agt/FinInstnId/BICFI", assignee_code)


def _camt056(m: s.Camt056, k: Checker) -> None:
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


def _camt029(m: s.Camt029, k: Checker) -> None:
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


def _acmt023(m: s.Acmt023, k: Checker) -> None:
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


def _acmt024(m: s.Acmt024, k: Checker) -> None:
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


def _pain013(m: s.Pain013, k: Checker) -> None:
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
            k.add(c.BE19, b + "ChrgBr", said(f"{b}ChrgBr", p.chrg_br, f"must be {k.profile.charge_bearer}"))
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


def _pain014(m: s.Pain014, k: Checker) -> None:
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


def _admi002(m: s.Admi002, k: Checker) -> None:
    k.text(m.rltd_ref, "RltdRef/Ref", MAX35)
    k.text(m.rjctg_pty_rsn, "Rsn/RjctgPtyRsn", MAX35)
    k.text(m.err_lctn, "Rsn/ErrLctn", MAX350)
    k.text(m.rsn_desc, "Rsn/RsnDesc", MAX350)


def _admi004(m: s.Admi004, k: Checker) -> None:
    k.text(m.evt_cd, "EvtInf/EvtCd", 4)


def _camt054(m: s.Camt054, k: Checker) -> None:
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
    checker = Checker(profile, known_bics)
    checker.dates_in_range(msg)
    _RULES[msg.__class__](msg, checker)
    return checker.out


# Fast gates of the messages on every payment's path: stricter than the rules, never more lenient.
_CLEAN_GATES = {s.Pacs008: _pacs008_clean, s.Pacs002: _pacs002_clean}
