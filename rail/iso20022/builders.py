"""Builders for the messages the rail and the simulated banks send, from what they already hold.

Each builder returns a struct (encode it in the receiver's rendering with ``encode``). They do no I/O and
no validation beyond trimming free text to its ISO maximum length, so they are cheap on the hot path.
``cre_dt_tm`` defaults to now in PKT (UTC+05:00), millisecond precision.
"""

from __future__ import annotations

import datetime as dt

import msgspec

from . import codes as c
from . import structs as s
from ._values import PKT
from .errors import MessageRejected

PACS008_MSG_TYPE = "pacs.008.001.08"
PAIN013_MSG_TYPE = "pain.013.001.07"
NOT_PROVIDED_REF = "NOTPROVIDED"  # admi.002 RltdRef/Ref is mandatory even when nothing could be read
_ADDTL_INF_MAX = 105
_MAX350 = 350
_MAX35 = 35


def now_pkt() -> dt.datetime:
    now = dt.datetime.now(PKT)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _clip(text: str | None, limit: int) -> str | None:
    return None if text is None else text[:limit]


def status_report(
    *,
    msg_id: str,
    tx_sts: str,
    orgnl_msg_id: str,
    orgnl_end_to_end_id: str,
    orgnl_tx_id: str | None = None,
    orgnl_uetr: str | None = None,
    orgnl_instr_id: str | None = None,
    orgnl_cre_dt_tm: dt.datetime | None = None,
    orgnl_msg_nm_id: str = PACS008_MSG_TYPE,
    rsn_cd: str | None = None,
    addtl_inf: str | None = None,
    rsn_orgtr_bic: str | None = None,
    instg_agt_bicfi: str | None = None,
    instd_agt_bicfi: str | None = None,
    msg_instg_agt_bicfi: str | None = None,
    msg_instd_agt_bicfi: str | None = None,
    accptnc_dt_tm: dt.datetime | None = None,
    fctv_intr_bk_sttlm_dt: dt.date | None = None,
    clr_sys_ref: str | None = None,
    cre_dt_tm: dt.datetime | None = None,
) -> s.Pacs002:
    """pacs.002 for one original transaction. ``instg_agt_bicfi``/``instd_agt_bicfi`` go at transaction level
    (CPMI/Nexus practice: the original debtor and creditor agents); ``msg_*`` at group level (who sends the
    report to whom). ``addtl_inf`` is clipped to Max105Text."""
    tx = s.TxInfAndSts(
        orgnl_msg_id=orgnl_msg_id,
        orgnl_msg_nm_id=orgnl_msg_nm_id,
        orgnl_cre_dt_tm=orgnl_cre_dt_tm,
        orgnl_instr_id=orgnl_instr_id,
        orgnl_end_to_end_id=orgnl_end_to_end_id,
        orgnl_tx_id=orgnl_tx_id,
        orgnl_uetr=orgnl_uetr,
        tx_sts=tx_sts,
        sts_rsn_orgtr_any_bic=rsn_orgtr_bic if (rsn_cd or addtl_inf) else None,
        sts_rsn_cd=rsn_cd,
        sts_rsn_addtl_inf=_clip(addtl_inf, _ADDTL_INF_MAX),
        accptnc_dt_tm=accptnc_dt_tm,
        fctv_intr_bk_sttlm_dt=fctv_intr_bk_sttlm_dt,
        clr_sys_ref=clr_sys_ref,
        instg_agt_bicfi=instg_agt_bicfi,
        instd_agt_bicfi=instd_agt_bicfi,
    )
    return s.Pacs002(
        msg_id=msg_id,
        cre_dt_tm=cre_dt_tm or now_pkt(),
        instg_agt_bicfi=msg_instg_agt_bicfi,
        instd_agt_bicfi=msg_instd_agt_bicfi,
        tx_inf_and_sts=[tx],
    )


def _original_ids(original: s.Pacs008) -> dict:
    """The ids of a pacs.008 that every message about it repeats (Orgnl*)."""
    tx = original.tx
    return {
        "orgnl_msg_id": original.msg_id,
        "orgnl_msg_nm_id": PACS008_MSG_TYPE,
        "orgnl_instr_id": tx.instr_id,
        "orgnl_end_to_end_id": tx.end_to_end_id,
        "orgnl_tx_id": tx.tx_id,
        "orgnl_uetr": tx.uetr,
    }


def status_report_for(original: s.Pacs008, *, msg_id: str, tx_sts: str, **kwargs) -> s.Pacs002:
    """``status_report`` with the original ids and agents taken from the original pacs.008."""
    tx = original.tx
    ids = {
        **_original_ids(original),
        "orgnl_cre_dt_tm": original.cre_dt_tm,
        "instg_agt_bicfi": tx.dbtr_agt_bicfi,
        "instd_agt_bicfi": tx.cdtr_agt_bicfi,
    }
    ids.update(kwargs)
    return status_report(msg_id=msg_id, tx_sts=tx_sts, **ids)


def message_reject(
    *,
    rltd_ref: str | None,
    reason_code: str = c.FF01,
    description: str | None = None,
    error_location: str | None = None,
    rjctn_dt_tm: dt.datetime | None = None,
    addtl_data: str | None = None,
) -> s.Admi002:
    """admi.002 for a message that could not be processed; texts clipped to their ISO maximum lengths."""
    return s.Admi002(
        rltd_ref=(rltd_ref or NOT_PROVIDED_REF)[:_MAX35],
        rjctg_pty_rsn=reason_code[:_MAX35],
        rjctn_dt_tm=rjctn_dt_tm or now_pkt(),
        err_lctn=_clip(error_location, _MAX350),
        rsn_desc=_clip(description, _MAX350),
        addtl_data=addtl_data,
    )


def message_reject_for(error: MessageRejected, *, rjctn_dt_tm: dt.datetime | None = None) -> s.Admi002:
    """admi.002 answering a ``MessageRejected`` raised by ``decode``."""
    return message_reject(
        rltd_ref=error.related_ref,
        reason_code=error.reason_code,
        description=error.description,
        error_location=error.error_location,
        rjctn_dt_tm=rjctn_dt_tm,
    )


def forward_credit_transfer(original: s.Pacs008, **changes) -> s.Pacs008:
    """The pacs.008 the rail forwards to the creditor agent: the debtor agent's message, with group-level
    fields (``msg_id``, ``cre_dt_tm``) and transaction-level fields (``instg_agt_bicfi``, ``instd_agt_bicfi``
    ...) replaced where given. Encode it in the creditor agent's rendering."""
    group_fields = set(s.Pacs008.__struct_fields__)
    group = {k: v for k, v in changes.items() if k in group_fields}
    tx_changes = {k: v for k, v in changes.items() if k not in group_fields}
    txs = original.cdt_trf_tx_inf
    if tx_changes:
        txs = [msgspec.structs.replace(tx, **tx_changes) for tx in txs]
    return msgspec.structs.replace(original, cdt_trf_tx_inf=txs, **group)


def payment_return(
    original: s.Pacs008,
    *,
    msg_id: str,
    rtr_id: str,
    rsn_cd: str = c.FOCR,
    intr_bk_sttlm_dt: dt.date,
    amount_paisa: int | None = None,
    addtl_inf: str | None = None,
    clearing_system: str = "RAAST",
    cre_dt_tm: dt.datetime | None = None,
) -> s.Pacs004:
    """pacs.004 returning ``original`` (by default in full) from its creditor agent to its debtor agent."""
    tx = original.tx
    returned = tx.amount_paisa if amount_paisa is None else amount_paisa
    rtr = s.PmtRtrTxInf(
        rtr_id=rtr_id,
        **_original_ids(original),
        orgnl_amount_paisa=tx.amount_paisa,
        orgnl_currency=tx.currency,
        orgnl_intr_bk_sttlm_dt=tx.intr_bk_sttlm_dt,
        amount_paisa=returned,
        currency=tx.currency,
        intr_bk_sttlm_dt=intr_bk_sttlm_dt,
        chrg_br="SLEV",
        instg_agt_bicfi=tx.cdtr_agt_bicfi,
        instd_agt_bicfi=tx.dbtr_agt_bicfi,
        rtr_rsn_orgtr_any_bic=tx.cdtr_agt_bicfi,
        rtr_rsn_cd=rsn_cd,
        rtr_rsn_addtl_inf=_clip(addtl_inf, _ADDTL_INF_MAX),
        orgnl_tx_ref_dbtr_nm=tx.dbtr_nm,
        orgnl_tx_ref_dbtr_acct_iban=tx.dbtr_acct_iban,
        orgnl_tx_ref_dbtr_agt_bicfi=tx.dbtr_agt_bicfi,
        orgnl_tx_ref_cdtr_agt_bicfi=tx.cdtr_agt_bicfi,
        orgnl_tx_ref_cdtr_nm=tx.cdtr_nm,
        orgnl_tx_ref_cdtr_acct_iban=tx.cdtr_acct_iban,
    )
    return s.Pacs004(
        msg_id=msg_id,
        cre_dt_tm=cre_dt_tm or now_pkt(),
        nb_of_txs="1",
        sttlm_mtd="CLRG",
        clr_sys_prtry=clearing_system,
        tx_inf=[rtr],
    )


def recall_request(
    original: s.Pacs008,
    *,
    assgnmt_id: str,
    rsn_cd: str,
    addtl_inf: str | None = None,
    assgne_bicfi: str | None = None,
    cre_dt_tm: dt.datetime | None = None,
) -> s.Camt056:
    """camt.056 from the debtor agent recalling ``original`` (reason e.g. DUPL, TECH, FRAD, CUST)."""
    tx = original.tx
    assgnr = tx.dbtr_agt_bicfi or ""
    return s.Camt056(
        assgnmt_id=assgnmt_id,
        assgnr_bicfi=assgnr,
        assgne_bicfi=assgne_bicfi or tx.cdtr_agt_bicfi or "",
        cre_dt_tm=cre_dt_tm or now_pkt(),
        tx_inf=[
            s.CxlTxInf(
                cxl_id=assgnmt_id,
                **_original_ids(original),
                orgnl_amount_paisa=tx.amount_paisa,
                orgnl_currency=tx.currency,
                orgnl_intr_bk_sttlm_dt=tx.intr_bk_sttlm_dt,
                cxl_rsn_orgtr_any_bic=assgnr or None,
                cxl_rsn_cd=rsn_cd,
                cxl_rsn_addtl_inf=_clip(addtl_inf, _ADDTL_INF_MAX),
            )
        ],
    )


def forward_recall(
    recall: s.Camt056,
    *,
    assgnmt_id: str | None = None,
    assgnr_bicfi: str | None = None,
    assgne_bicfi: str | None = None,
    cre_dt_tm: dt.datetime | None = None,
) -> s.Camt056:
    """The camt.056 the rail forwards to the creditor agent, assignment fields replaced where given."""
    changes = {
        k: v
        for k, v in (
            ("assgnmt_id", assgnmt_id),
            ("assgnr_bicfi", assgnr_bicfi),
            ("assgne_bicfi", assgne_bicfi),
            ("cre_dt_tm", cre_dt_tm),
        )
        if v is not None
    }
    return msgspec.structs.replace(recall, **changes)


def resolution(
    recall: s.Camt056,
    *,
    assgnmt_id: str,
    tx_cxl_sts: str = c.RJCR,
    rsn_cd: str | None = None,
    addtl_inf: str | None = None,
    cre_dt_tm: dt.datetime | None = None,
    assgnr_bicfi: str | None = None,
) -> s.Camt029:
    """camt.029 answering ``recall`` (sent by its assignee back to its assigner; ``assgnr_bicfi``: whoever
    else answers, e.g. the rail itself or the agent a forwarded recall reached). Negative: RJCR with a reason
    (ExternalPaymentCancellationRejection1Code, e.g. CUST, LEGL, AC04, AM04, NOOR, ARDT); a positive answer is
    normally a pacs.004 (``payment_return``), or ACCR here."""
    tx = recall.tx
    conf = c.CNCL if tx_cxl_sts == c.ACCR else tx_cxl_sts
    return s.Camt029(
        assgnmt_id=assgnmt_id,
        assgnr_bicfi=assgnr_bicfi or recall.assgne_bicfi,
        assgne_bicfi=recall.assgnr_bicfi,
        cre_dt_tm=cre_dt_tm or now_pkt(),
        sts_conf=conf,
        tx_inf_and_sts=[
            s.CxlTxInfAndSts(
                cxl_sts_id=assgnmt_id,
                orgnl_msg_id=tx.orgnl_msg_id,
                orgnl_msg_nm_id=tx.orgnl_msg_nm_id,
                orgnl_instr_id=tx.orgnl_instr_id,
                orgnl_end_to_end_id=tx.orgnl_end_to_end_id,
                orgnl_tx_id=tx.orgnl_tx_id,
                orgnl_uetr=tx.orgnl_uetr,
                tx_cxl_sts=tx_cxl_sts,
                cxl_sts_rsn_cd=rsn_cd,
                cxl_sts_rsn_addtl_inf=_clip(addtl_inf, _ADDTL_INF_MAX),
            )
        ],
    )


def verification_report(
    request: s.Acmt023,
    *,
    msg_id: str,
    verified: bool,
    rsn_cd: str | None = None,
    pty_nm: str | None = None,
    iban: str | None = None,
    acct_nm: str | None = None,
    agt_bicfi: str | None = None,
    cre_dt_tm: dt.datetime | None = None,
) -> s.Acmt024:
    """acmt.024 answering a Raast ID lookup: on success the account holder's name, IBAN, (masked) account
    name and bank; on failure ``verified=False`` with a reason (AC01 when the alias is not registered)."""
    v = request.tx
    return s.Acmt024(
        msg_id=msg_id,
        cre_dt_tm=cre_dt_tm or now_pkt(),
        frst_agt_bicfi=request.frst_agt_bicfi,
        assgnr_bicfi=request.assgne_bicfi,
        assgne_bicfi=request.assgnr_bicfi,
        orgnl_msg_id=request.msg_id,
        orgnl_cre_dt_tm=request.cre_dt_tm,
        rpt=[
            s.VrfctnRpt(
                orgnl_id=v.id,
                vrfctn=verified,
                rsn_cd=rsn_cd,
                orgnl_acct_iban=v.acct_iban,
                orgnl_acct_prxy_tp_cd=v.acct_prxy_tp_cd,
                orgnl_acct_prxy_id=v.acct_prxy_id,
                updtd_pty_nm=pty_nm if verified else None,
                updtd_acct_iban=iban if verified else None,
                updtd_acct_nm=acct_nm if verified else None,
                updtd_agt_bicfi=agt_bicfi if verified else None,
            )
        ],
    )


def rtp_status(
    request: s.Pain013,
    *,
    msg_id: str,
    tx_sts: str,
    rsn_cd: str | None = None,
    addtl_inf: str | None = None,
    accptnc_dt_tm: dt.datetime | None = None,
    cre_dt_tm: dt.datetime | None = None,
) -> s.Pain014:
    """pain.014 answering a request to pay (ACTC / ACCP / RJCT with a reason)."""
    p = request.tx
    return s.Pain014(
        msg_id=msg_id,
        cre_dt_tm=cre_dt_tm or now_pkt(),
        initg_pty_nm=request.initg_pty_nm,
        dbtr_agt_bicfi=p.dbtr_agt_bicfi,
        cdtr_agt_bicfi=p.cdtr_agt_bicfi,
        orgnl_msg_id=request.msg_id,
        orgnl_msg_nm_id=PAIN013_MSG_TYPE,
        orgnl_cre_dt_tm=request.cre_dt_tm,
        orgnl_pmt_inf_and_sts=[
            s.OrgnlPmtInfAndSts(
                orgnl_pmt_inf_id=p.pmt_inf_id or request.msg_id,
                orgnl_instr_id=p.instr_id,
                orgnl_end_to_end_id=p.end_to_end_id,
                orgnl_uetr=p.uetr,
                tx_sts=tx_sts,
                sts_rsn_cd=rsn_cd,
                sts_rsn_addtl_inf=_clip(addtl_inf, _ADDTL_INF_MAX),
                accptnc_dt_tm=accptnc_dt_tm,
            )
        ],
    )


def account_notification(
    *,
    msg_id: str,
    ntfctn_id: str,
    acct_iban: str,
    amount_paisa: int,
    credit: bool,
    booking_date: dt.date,
    end_to_end_id: str | None = None,
    uetr: str | None = None,
    tx_id: str | None = None,
    clr_sys_ref: str | None = None,
    currency: str = "PKR",
    cre_dt_tm: dt.datetime | None = None,
) -> s.Camt054:
    """camt.054 for one booked entry on a settlement account (PMNT / RCDT or ICDT / DMCT)."""
    return s.Camt054(
        msg_id=msg_id,
        cre_dt_tm=cre_dt_tm or now_pkt(),
        ntfctn=[
            s.Ntfctn(
                id=ntfctn_id,
                acct_iban=acct_iban,
                amount_paisa=amount_paisa,
                currency=currency,
                cdt_dbt_ind="CRDT" if credit else "DBIT",
                sts_cd="BOOK",
                bookg_dt=booking_date,
                val_dt=booking_date,
                bk_tx_cd_domn_cd="PMNT",
                bk_tx_cd_fmly_cd="RCDT" if credit else "ICDT",
                bk_tx_cd_sub_fmly_cd="DMCT",
                end_to_end_id=end_to_end_id,
                uetr=uetr,
                tx_id=tx_id,
                clr_sys_ref=clr_sys_ref,
            )
        ],
    )


# --------------------------------------------------------------------------- what a participant sends first
# The messages a participant starts (as opposed to answers): used by the simulated banks, `rail message` and
# docs/examples, so there is one way to make each.

RAAST_CLEARING_SYSTEM = "RAAST"


def credit_transfer(
    *,
    msg_id: str,
    tx_id: str,
    uetr: str,
    amount_paisa: int,
    debtor_agent: str,
    debtor_name: str,
    debtor_iban: str,
    creditor_agent: str,
    creditor_name: str,
    creditor_iban: str,
    end_to_end_id: str | None = None,
    local_instrument: str = "P2P",
    creditor_alias: str | None = None,
    remittance_info: str | None = None,
    currency: str = "PKR",
    at: dt.datetime | None = None,
) -> s.Pacs008:
    """pacs.008 from the debtor agent (InstgAgt = DbtrAgt) to the creditor agent (InstdAgt = CdtrAgt), one
    transaction, settled by the clearing system: what the RAAST profile asks for. ``at`` stamps CreDtTm and
    AccptncDtTm (default now in PKT); the settlement date is its date. ``creditor_alias``: the Raast ID the
    creditor was found by (acmt.023), carried as CdtrAcct/Prxy."""
    at = at or now_pkt()
    tx = s.CdtTrfTxInf(
        instr_id=tx_id,
        end_to_end_id=end_to_end_id or tx_id,
        tx_id=tx_id,
        uetr=uetr,
        svc_lvl_prtry=RAAST_CLEARING_SYSTEM,
        lcl_instrm_prtry=local_instrument,
        amount_paisa=amount_paisa,
        currency=currency,
        intr_bk_sttlm_dt=at.date(),
        accptnc_dt_tm=at,
        chrg_br="SLEV",
        instg_agt_bicfi=debtor_agent,
        instd_agt_bicfi=creditor_agent,
        dbtr_nm=debtor_name,
        dbtr_acct_iban=debtor_iban,
        dbtr_agt_bicfi=debtor_agent,
        cdtr_agt_bicfi=creditor_agent,
        cdtr_nm=creditor_name,
        cdtr_acct_iban=creditor_iban,
        cdtr_acct_prxy_tp_cd="MBNO" if creditor_alias else None,
        cdtr_acct_prxy_id=creditor_alias,
        rmt_inf_ustrd=remittance_info,
    )
    return s.Pacs008(
        msg_id=msg_id,
        cre_dt_tm=at,
        nb_of_txs="1",
        sttlm_mtd="CLRG",
        clr_sys_prtry=RAAST_CLEARING_SYSTEM,
        cdt_trf_tx_inf=[tx],
    )


def status_request(
    original: s.Pacs008, *, msg_id: str, sender: str, cre_dt_tm: dt.datetime | None = None
) -> s.Pacs028:
    """pacs.028 from one of the payment's agents (``sender``) to the rail: what became of ``original``?"""
    ids = _original_ids(original)
    return s.Pacs028(
        msg_id=msg_id,
        cre_dt_tm=cre_dt_tm or now_pkt(),
        instg_agt_bicfi=sender,
        tx_inf=[s.StsReqTxInf(sts_req_id=msg_id, **ids)],
    )


def verification_request(
    *,
    msg_id: str,
    assigner: str,
    alias: str,
    assignee: str,
    verification_id: str | None = None,
    cre_dt_tm: dt.datetime | None = None,
) -> s.Acmt023:
    """acmt.023 from a participant (``assigner``) to the rail's directory (``assignee``, the central bank):
    who holds this Raast ID (a +92 mobile number)?"""
    return s.Acmt023(
        msg_id=msg_id,
        cre_dt_tm=cre_dt_tm or now_pkt(),
        assgnr_bicfi=assigner,
        assgne_bicfi=assignee,
        vrfctn=[s.Vrfctn(id=verification_id or msg_id, acct_prxy_tp_cd="MBNO", acct_prxy_id=alias)],
    )


def request_to_pay(
    *,
    msg_id: str,
    end_to_end_id: str,
    uetr: str,
    amount_paisa: int,
    payee_agent: str,
    payee_name: str,
    payee_iban: str,
    payer_agent: str,
    payer_name: str,
    payer_iban: str,
    remittance_info: str | None = None,
    currency: str = "PKR",
    at: dt.datetime | None = None,
) -> s.Pain013:
    """pain.013 from the payee's agent (the creditor agent) to the payer's agent: please pay this. The
    pacs.008 that pays it repeats ``end_to_end_id``."""
    at = at or now_pkt()
    return s.Pain013(
        msg_id=msg_id,
        cre_dt_tm=at,
        nb_of_txs="1",
        initg_pty_nm=payee_name,
        pmt_inf=[
            s.PmtInf(
                pmt_inf_id=msg_id,
                pmt_mtd="TRF",
                reqd_exctn_dt=at.date(),
                dbtr_nm=payer_name,
                dbtr_acct_iban=payer_iban,
                dbtr_agt_bicfi=payer_agent,
                instr_id=end_to_end_id,
                end_to_end_id=end_to_end_id,
                uetr=uetr,
                amount_paisa=amount_paisa,
                currency=currency,
                chrg_br="SLEV",
                cdtr_agt_bicfi=payee_agent,
                cdtr_nm=payee_name,
                cdtr_acct_iban=payee_iban,
                rmt_inf_ustrd=remittance_info,
            )
        ],
    )


def application_header(
    msg_type: str, *, sender: str, receiver: str, biz_msg_idr: str, cre_dt: dt.datetime | None = None
) -> s.AppHdr:
    """head.001 business application header for a message of ``msg_type`` (e.g. pacs.008.001.08)."""
    return s.AppHdr(
        fr_bicfi=sender,
        to_bicfi=receiver,
        biz_msg_idr=biz_msg_idr,
        msg_def_idr=msg_type,
        biz_svc="RAAST",
        cre_dt=cre_dt or now_pkt(),
    )
