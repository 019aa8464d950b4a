"""Compact msgspec structs for the RAAST message set.

One struct per message type, flattened: a field name is the snake_case of the ISO element path below the
message's root (or below its repeated block), e.g. ``CdtTrfTxInf/DbtrAgt/FinInstnId/BICFI`` ->
``dbtr_agt_bicfi``. Amounts are integer paisa (``amount_paisa``) plus ``currency``; timestamps are aware
datetimes; ISO dates are ``datetime.date``. Repeated ISO blocks (``CdtTrfTxInf``, ``TxInfAndSts`` ...) are
lists of sub-structs, so a message with two transactions decodes faithfully and the profile can refuse it;
``.tx`` gives the first (for instant payments, the only) one.

The mapping from each field to its element path lives in ``_spec.py``; only what the rail, the simulated
banks and the profile use is modelled. Elements outside this set are not lost: the rail forwards the message
it received whole (``forward.py``), so the structs are a reading of a message, never its only copy.
"""

from __future__ import annotations

import datetime as dt

import msgspec


class _Msg(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """Base of every message struct: immutable values, keyword construction.

    ``sub_paisa_amounts`` lists the element paths of amounts written with more than two significant decimals
    (the XSD allows five): the value is kept truncated to paisa and the profile refuses it (CH20).
    ``out_of_range`` lists the paths of XSD-valid dates and date-times outside the years 0001-9999: the field
    holds the nearest representable value and the profile refuses the message (DT01).

    ``gc=False``: messages hold only strings, numbers, datetimes and lists of blocks, never reference cycles,
    so the cycle collector need not track them (fewer collector passes at high message rates).
    """

    sub_paisa_amounts: tuple[str, ...] = ()
    out_of_range: tuple[str, ...] = ()


class _Block(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """Base of a repeated block inside a message (one transaction, one report ...)."""


class _Assigned(_Msg, kw_only=True, frozen=True, gc=False):
    """A message with an assignment (``Assgnr`` and ``Assgne``, camt.056/029 and acmt.023/024): each is a party
    (``*_pty`` counts a ``Pty`` given, which the rail does not take) or an agent by BICFI or by clearing-system
    member id (``*_mmb_id``)."""

    assgnr_pty: int = 0
    assgnr_bicfi: str | None = None
    assgnr_mmb_id: str | None = None
    assgne_pty: int = 0
    assgne_bicfi: str | None = None
    assgne_mmb_id: str | None = None


# --------------------------------------------------------------------------- head.001.001.02


class _Header(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    """What a business application header and the header of a related message share. ``Fr`` and ``To``
    identify a financial institution by BICFI or by clearing-system member id (``*_mmb_id``, with
    ``*_clr_sys_*``); ``*_org`` counts an ``OrgId`` given instead, which the rail does not take."""

    fr_bicfi: str | None = None
    fr_clr_sys_cd: str | None = None
    fr_clr_sys_prtry: str | None = None
    fr_mmb_id: str | None = None
    fr_org: int = 0
    to_bicfi: str | None = None
    to_clr_sys_cd: str | None = None
    to_clr_sys_prtry: str | None = None
    to_mmb_id: str | None = None
    to_org: int = 0
    biz_msg_idr: str
    msg_def_idr: str
    biz_svc: str | None = None
    cre_dt: dt.datetime
    cpy_dplct: str | None = None
    pssbl_dplct: bool | None = None
    prty: str | None = None


class RelatedHeader(_Header, kw_only=True, frozen=True, gc=False):
    """The header of a related message (``AppHdr/Rltd``, BusinessApplicationHeader5): on a reply, the header of
    the request; on a forwarded message, the header its sender put on it."""


class AppHdr(_Header, kw_only=True, frozen=True, gc=False):
    """Business application header (head.001.001.02) that may wrap any document (``_Msg``'s notes included)."""

    sub_paisa_amounts: tuple[str, ...] = ()
    out_of_range: tuple[str, ...] = ()
    biz_prcg_dt: dt.datetime | None = None
    rltd: list[RelatedHeader] = []


# --------------------------------------------------------------------------- pacs.008.001.08


class CdtTrfTxInf(_Block, kw_only=True, frozen=True, gc=False):
    """One credit transfer transaction (pacs.008 ``CdtTrfTxInf``)."""

    instr_id: str | None = None
    end_to_end_id: str
    tx_id: str | None = None
    uetr: str | None = None
    svc_lvl_cd: str | None = None
    svc_lvl_prtry: str | None = None
    lcl_instrm_cd: str | None = None
    lcl_instrm_prtry: str | None = None
    ctgy_purp_cd: str | None = None
    amount_paisa: int
    currency: str
    intr_bk_sttlm_dt: dt.date | None = None
    accptnc_dt_tm: dt.datetime | None = None
    chrg_br: str
    instg_agt_bicfi: str | None = None
    instg_agt_mmb_id: str | None = None
    instd_agt_bicfi: str | None = None
    instd_agt_mmb_id: str | None = None
    dbtr_nm: str | None = None
    dbtr_prvt_id_othr_id: str | None = None
    dbtr_prvt_id_othr_schme_nm_cd: str | None = None
    dbtr_acct_iban: str | None = None
    dbtr_acct_othr_id: str | None = None
    dbtr_acct_prxy_tp_cd: str | None = None
    dbtr_acct_prxy_id: str | None = None
    dbtr_agt_bicfi: str | None = None
    dbtr_agt_mmb_id: str | None = None
    cdtr_agt_bicfi: str | None = None
    cdtr_agt_mmb_id: str | None = None
    cdtr_nm: str | None = None
    cdtr_acct_iban: str | None = None
    cdtr_acct_othr_id: str | None = None
    cdtr_acct_prxy_tp_cd: str | None = None
    cdtr_acct_prxy_id: str | None = None
    purp_cd: str | None = None
    rmt_inf_ustrd: str | None = None


class Pacs008(_Msg, kw_only=True, frozen=True, gc=False):
    """FIToFICustomerCreditTransfer (pacs.008.001.08)."""

    msg_id: str
    cre_dt_tm: dt.datetime
    nb_of_txs: str
    sttlm_mtd: str
    clr_sys_cd: str | None = None
    clr_sys_prtry: str | None = None
    cdt_trf_tx_inf: list[CdtTrfTxInf]

    @property
    def tx(self) -> CdtTrfTxInf:
        return self.cdt_trf_tx_inf[0]


# --------------------------------------------------------------------------- pacs.002.001.10


class TxInfAndSts(_Block, kw_only=True, frozen=True, gc=False):
    """One transaction status (pacs.002 ``TxInfAndSts``)."""

    sts_id: str | None = None
    orgnl_msg_id: str | None = None
    orgnl_msg_nm_id: str | None = None
    orgnl_cre_dt_tm: dt.datetime | None = None
    orgnl_instr_id: str | None = None
    orgnl_end_to_end_id: str | None = None
    orgnl_tx_id: str | None = None
    orgnl_uetr: str | None = None
    tx_sts: str | None = None
    sts_rsn_orgtr_any_bic: str | None = None
    sts_rsn_cd: str | None = None
    sts_rsn_prtry: str | None = None
    sts_rsn_addtl_inf: str | None = None
    accptnc_dt_tm: dt.datetime | None = None
    fctv_intr_bk_sttlm_dt: dt.date | None = None
    clr_sys_ref: str | None = None
    instg_agt_bicfi: str | None = None
    instd_agt_bicfi: str | None = None


class Pacs002(_Msg, kw_only=True, frozen=True, gc=False):
    """FIToFIPaymentStatusReport (pacs.002.001.10)."""

    msg_id: str
    cre_dt_tm: dt.datetime
    instg_agt_bicfi: str | None = None
    instd_agt_bicfi: str | None = None
    tx_inf_and_sts: list[TxInfAndSts] = []

    @property
    def tx(self) -> TxInfAndSts:
        return self.tx_inf_and_sts[0]


# --------------------------------------------------------------------------- pacs.004.001.09


class PmtRtrTxInf(_Block, kw_only=True, frozen=True, gc=False):
    """One returned transaction (pacs.004 ``TxInf``), with the original parties in ``OrgnlTxRef``."""

    rtr_id: str | None = None
    orgnl_msg_id: str | None = None
    orgnl_msg_nm_id: str | None = None
    orgnl_instr_id: str | None = None
    orgnl_end_to_end_id: str | None = None
    orgnl_tx_id: str | None = None
    orgnl_uetr: str | None = None
    orgnl_amount_paisa: int | None = None
    orgnl_currency: str | None = None
    orgnl_intr_bk_sttlm_dt: dt.date | None = None
    amount_paisa: int
    currency: str
    intr_bk_sttlm_dt: dt.date | None = None
    chrg_br: str | None = None
    instg_agt_bicfi: str | None = None
    instg_agt_mmb_id: str | None = None
    instd_agt_bicfi: str | None = None
    instd_agt_mmb_id: str | None = None
    rtr_rsn_orgtr_any_bic: str | None = None
    rtr_rsn_cd: str | None = None
    rtr_rsn_prtry: str | None = None
    rtr_rsn_addtl_inf: str | None = None
    orgnl_tx_ref_dbtr_nm: str | None = None
    orgnl_tx_ref_dbtr_acct_iban: str | None = None
    orgnl_tx_ref_dbtr_agt_bicfi: str | None = None
    orgnl_tx_ref_cdtr_agt_bicfi: str | None = None
    orgnl_tx_ref_cdtr_nm: str | None = None
    orgnl_tx_ref_cdtr_acct_iban: str | None = None


class Pacs004(_Msg, kw_only=True, frozen=True, gc=False):
    """PaymentReturn (pacs.004.001.09)."""

    msg_id: str
    cre_dt_tm: dt.datetime
    nb_of_txs: str
    sttlm_mtd: str
    clr_sys_cd: str | None = None
    clr_sys_prtry: str | None = None
    tx_inf: list[PmtRtrTxInf] = []

    @property
    def tx(self) -> PmtRtrTxInf:
        return self.tx_inf[0]


# --------------------------------------------------------------------------- pacs.028.001.03


class StsReqTxInf(_Block, kw_only=True, frozen=True, gc=False):
    """One transaction whose status is asked (pacs.028 ``TxInf``)."""

    sts_req_id: str | None = None
    orgnl_msg_id: str | None = None
    orgnl_msg_nm_id: str | None = None
    orgnl_instr_id: str | None = None
    orgnl_end_to_end_id: str | None = None
    orgnl_tx_id: str | None = None
    orgnl_uetr: str | None = None


class Pacs028(_Msg, kw_only=True, frozen=True, gc=False):
    """FIToFIPaymentStatusRequest (pacs.028.001.03)."""

    msg_id: str
    cre_dt_tm: dt.datetime
    instg_agt_bicfi: str | None = None
    instd_agt_bicfi: str | None = None
    tx_inf: list[StsReqTxInf] = []

    @property
    def tx(self) -> StsReqTxInf:
        return self.tx_inf[0]


# --------------------------------------------------------------------------- camt.056.001.08


class CxlTxInf(_Block, kw_only=True, frozen=True, gc=False):
    """One transaction to recall (camt.056 ``Undrlyg/TxInf``)."""

    cxl_id: str | None = None
    orgnl_msg_id: str | None = None
    orgnl_msg_nm_id: str | None = None
    orgnl_instr_id: str | None = None
    orgnl_end_to_end_id: str | None = None
    orgnl_tx_id: str | None = None
    orgnl_uetr: str | None = None
    orgnl_amount_paisa: int | None = None
    orgnl_currency: str | None = None
    orgnl_intr_bk_sttlm_dt: dt.date | None = None
    cxl_rsn_orgtr_any_bic: str | None = None
    cxl_rsn_cd: str | None = None
    cxl_rsn_prtry: str | None = None
    cxl_rsn_addtl_inf: str | None = None


class Camt056(_Assigned, kw_only=True, frozen=True, gc=False):
    """FIToFIPaymentCancellationRequest (camt.056.001.08): a recall."""

    assgnmt_id: str
    cre_dt_tm: dt.datetime
    tx_inf: list[CxlTxInf] = []

    @property
    def tx(self) -> CxlTxInf:
        return self.tx_inf[0]


# --------------------------------------------------------------------------- camt.029.001.09


class CxlTxInfAndSts(_Block, kw_only=True, frozen=True, gc=False):
    """One answer to a recall (camt.029 ``CxlDtls/TxInfAndSts``)."""

    cxl_sts_id: str | None = None
    orgnl_msg_id: str | None = None
    orgnl_msg_nm_id: str | None = None
    orgnl_instr_id: str | None = None
    orgnl_end_to_end_id: str | None = None
    orgnl_tx_id: str | None = None
    orgnl_uetr: str | None = None
    tx_cxl_sts: str | None = None
    cxl_sts_rsn_cd: str | None = None
    cxl_sts_rsn_prtry: str | None = None
    cxl_sts_rsn_addtl_inf: str | None = None


class Camt029(_Assigned, kw_only=True, frozen=True, gc=False):
    """ResolutionOfInvestigation (camt.029.001.09): the answer to a recall."""

    assgnmt_id: str
    cre_dt_tm: dt.datetime
    sts_conf: str | None = None
    sts_rjctd_mod: int = 0
    sts_dplct_of: int = 0
    sts_assgnmt_cxl_conf: bool | None = None
    tx_inf_and_sts: list[CxlTxInfAndSts] = []

    @property
    def tx(self) -> CxlTxInfAndSts:
        return self.tx_inf_and_sts[0]


# --------------------------------------------------------------------------- acmt.023 / acmt.024


class Vrfctn(_Block, kw_only=True, frozen=True, gc=False):
    """One identification to verify (acmt.023 ``Vrfctn``): here a Raast ID (proxy) or an IBAN."""

    id: str
    pty_nm: str | None = None
    acct_iban: str | None = None
    acct_prxy_tp_cd: str | None = None
    acct_prxy_id: str | None = None
    agt_bicfi: str | None = None


class Acmt023(_Assigned, kw_only=True, frozen=True, gc=False):
    """IdentificationVerificationRequest (acmt.023.001.03): Raast ID lookup."""

    msg_id: str
    cre_dt_tm: dt.datetime
    frst_agt_bicfi: str | None = None
    vrfctn: list[Vrfctn]

    @property
    def tx(self) -> Vrfctn:
        return self.vrfctn[0]


class VrfctnRpt(_Block, kw_only=True, frozen=True, gc=False):
    """One verification answer (acmt.024 ``Rpt``)."""

    orgnl_id: str
    vrfctn: bool
    rsn_cd: str | None = None
    rsn_prtry: str | None = None
    orgnl_acct_iban: str | None = None
    orgnl_acct_prxy_tp_cd: str | None = None
    orgnl_acct_prxy_id: str | None = None
    updtd_pty_nm: str | None = None
    updtd_acct_iban: str | None = None
    updtd_acct_nm: str | None = None
    updtd_agt_bicfi: str | None = None


class Acmt024(_Assigned, kw_only=True, frozen=True, gc=False):
    """IdentificationVerificationReport (acmt.024.001.03): Raast ID resolution answer."""

    msg_id: str
    cre_dt_tm: dt.datetime
    frst_agt_bicfi: str | None = None
    orgnl_msg_id: str | None = None
    orgnl_cre_dt_tm: dt.datetime | None = None
    rpt: list[VrfctnRpt]

    @property
    def tx(self) -> VrfctnRpt:
        return self.rpt[0]


# --------------------------------------------------------------------------- pain.013 / pain.014


class PmtInf(_Block, kw_only=True, frozen=True, gc=False):
    """One request-to-pay instruction with its (first) transaction (pain.013 ``PmtInf`` + ``CdtTrfTx``)."""

    pmt_inf_id: str | None = None
    pmt_mtd: str
    reqd_exctn_dt: dt.date | None = None
    reqd_exctn_dt_tm: dt.datetime | None = None
    xpry_dt: dt.date | None = None
    xpry_dt_tm: dt.datetime | None = None
    dbtr_nm: str | None = None
    dbtr_acct_iban: str | None = None
    dbtr_acct_prxy_tp_cd: str | None = None
    dbtr_acct_prxy_id: str | None = None
    dbtr_agt_bicfi: str | None = None
    dbtr_agt_mmb_id: str | None = None
    instr_id: str | None = None
    end_to_end_id: str
    uetr: str | None = None
    amount_paisa: int | None = None  # InstdAmt; None when EqvtAmt was given instead (the profile refuses it)
    currency: str | None = None
    eqvt_amount_paisa: int | None = None
    eqvt_currency: str | None = None
    chrg_br: str
    cdtr_agt_bicfi: str | None = None
    cdtr_agt_mmb_id: str | None = None
    cdtr_nm: str | None = None
    cdtr_acct_iban: str | None = None
    rmt_inf_ustrd: str | None = None
    cdt_trf_tx_count: int = 1


class Pain013(_Msg, kw_only=True, frozen=True, gc=False):
    """CreditorPaymentActivationRequest (pain.013.001.07): request to pay."""

    msg_id: str
    cre_dt_tm: dt.datetime
    nb_of_txs: str
    initg_pty_nm: str | None = None
    pmt_inf: list[PmtInf]

    @property
    def tx(self) -> PmtInf:
        return self.pmt_inf[0]


class OrgnlPmtInfAndSts(_Block, kw_only=True, frozen=True, gc=False):
    """Status of one request-to-pay instruction (pain.014 ``OrgnlPmtInfAndSts`` + first ``TxInfAndSts``)."""

    orgnl_pmt_inf_id: str
    sts_id: str | None = None
    orgnl_instr_id: str | None = None
    orgnl_end_to_end_id: str | None = None
    orgnl_uetr: str | None = None
    tx_sts: str | None = None
    sts_rsn_cd: str | None = None
    sts_rsn_prtry: str | None = None
    sts_rsn_addtl_inf: str | None = None
    accptnc_dt_tm: dt.datetime | None = None
    clr_sys_ref: str | None = None


class Pain014(_Msg, kw_only=True, frozen=True, gc=False):
    """CreditorPaymentActivationRequestStatusReport (pain.014.001.07): answer to a request to pay."""

    msg_id: str
    cre_dt_tm: dt.datetime
    initg_pty_nm: str | None = None
    dbtr_agt_bicfi: str | None = None
    cdtr_agt_bicfi: str | None = None
    orgnl_msg_id: str
    orgnl_msg_nm_id: str
    orgnl_cre_dt_tm: dt.datetime | None = None
    grp_sts: str | None = None
    orgnl_pmt_inf_and_sts: list[OrgnlPmtInfAndSts] = []

    @property
    def tx(self) -> OrgnlPmtInfAndSts:
        return self.orgnl_pmt_inf_and_sts[0]


# --------------------------------------------------------------------------- admi.002 / admi.004


class Admi002(_Msg, kw_only=True, frozen=True, gc=False):
    """MessageReject (admi.002.001.01): technical reject of an unprocessable message."""

    rltd_ref: str
    rjctg_pty_rsn: str
    rjctn_dt_tm: dt.datetime | None = None
    err_lctn: str | None = None
    rsn_desc: str | None = None
    addtl_data: str | None = None


class Admi004(_Msg, kw_only=True, frozen=True, gc=False):
    """SystemEventNotification (admi.004.001.02): participant (un)available and other broadcasts."""

    evt_cd: str
    evt_param: str | None = None
    evt_desc: str | None = None
    evt_tm: dt.datetime | None = None


# --------------------------------------------------------------------------- camt.054.001.08


class Ntfctn(_Block, kw_only=True, frozen=True, gc=False):
    """One account notification with its entry (camt.054 ``Ntfctn`` + its one ``Ntry``)."""

    id: str
    cre_dt_tm: dt.datetime | None = None
    acct_iban: str | None = None
    acct_othr_id: str | None = None
    ntry_ref: str | None = None
    amount_paisa: int | None = None  # the first entry's (a notification may hold none)
    currency: str | None = None
    cdt_dbt_ind: str | None = None
    sts_cd: str | None = None
    sts_prtry: str | None = None
    bookg_dt: dt.date | None = None
    val_dt: dt.date | None = None
    bk_tx_cd_domn_cd: str | None = None
    bk_tx_cd_fmly_cd: str | None = None
    bk_tx_cd_sub_fmly_cd: str | None = None
    bk_tx_cd_prtry_cd: str | None = None
    bk_tx_cd_prtry_issr: str | None = None
    msg_id: str | None = None
    instr_id: str | None = None
    end_to_end_id: str | None = None
    uetr: str | None = None
    tx_id: str | None = None
    clr_sys_ref: str | None = None
    rmt_inf_ustrd: str | None = None


class Camt054(_Msg, kw_only=True, frozen=True, gc=False):
    """BankToCustomerDebitCreditNotification (camt.054.001.08): per-entry notification."""

    msg_id: str
    cre_dt_tm: dt.datetime
    ntfctn: list[Ntfctn]

    @property
    def tx(self) -> Ntfctn:
        return self.ntfctn[0]


Message = (
    Pacs008
    | Pacs002
    | Pacs004
    | Pacs028
    | Camt056
    | Camt029
    | Acmt023
    | Acmt024
    | Pain013
    | Pain014
    | Admi002
    | Admi004
    | Camt054
)


class Decoded(msgspec.Struct, frozen=True):
    """What ``decode`` returns: the message struct, how it was rendered, its type and optional header."""

    message: Message
    rendering: str
    msg_type: str
    header: AppHdr | None = None
