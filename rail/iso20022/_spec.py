"""Declarative map from struct fields to ISO 20022 element paths, one table per message type.

The XML decoder, XML encoder and JSON codec are all derived from these tables, so a field is described once.
Items of a table are listed in XSD sequence order (the encoders emit them in that order).

Field kinds:
  T  text                      DT ISODateTime (aware datetime)   D  ISODate
  A  amount with @Ccy (the field name is a prefix: "" -> amount_paisa / currency)
  B  boolean                   C  count of occurrences of the element (decode only)
``req`` marks XSD-mandatory leaves (never inside a choice or an optional element: tests/test_iso_fidelity.py
checks every table against the XSD). ``always`` lists wrapper elements the XSD requires even
when all their content is optional (the encoder emits them empty).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import structs as s

NS_PREFIX = "urn:iso:std:iso:20022:tech:xsd:"
HEAD_MSG_TYPE = "head.001.001.02"


@dataclass(frozen=True, slots=True)
class F:
    """One leaf: element ``path`` (relative, "/"-separated) -> struct attribute ``attr``."""

    path: str
    attr: str
    kind: str = "T"
    req: bool = False


@dataclass(frozen=True, slots=True)
class B:
    """A repeated block: elements at ``path`` -> list attribute ``attr`` of ``cls`` items."""

    path: str
    attr: str
    cls: type
    items: tuple
    always: frozenset = frozenset()
    min_occurs: int = 0


@dataclass(frozen=True, slots=True)
class MsgSpec:
    msg_type: str
    root: str
    cls: type
    items: tuple
    always: frozenset = frozenset()
    namespace: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "namespace", NS_PREFIX + self.msg_type)


def _agent(prefix: str, attr: str) -> F:
    return F(f"{prefix}/FinInstnId/BICFI", attr)


def _agent_ids(prefix: str, stem: str) -> tuple[F, F]:
    """An agent's BICFI and, for the profile's answer when it is given instead, its ClrSysMmbId/MmbId."""
    return (
        F(f"{prefix}/FinInstnId/BICFI", f"{stem}_bicfi"),
        F(f"{prefix}/FinInstnId/ClrSysMmbId/MmbId", f"{stem}_mmb_id"),
    )


def _party_or_agent(prefix: str, stem: str) -> tuple[F, ...]:
    """A Party40Choice (``Pty`` or ``Agt``): the scheme needs the agent's BICFI; the rest tells the profile
    which other branch was used."""
    return (
        F(f"{prefix}/Pty", f"{stem}_pty", "C"),
        *_agent_ids(f"{prefix}/Agt", stem),
    )


_PACS008_TX = (
    F("PmtId/InstrId", "instr_id"),
    F("PmtId/EndToEndId", "end_to_end_id", req=True),
    F("PmtId/TxId", "tx_id"),
    F("PmtId/UETR", "uetr"),
    F("PmtTpInf/SvcLvl/Cd", "svc_lvl_cd"),
    F("PmtTpInf/SvcLvl/Prtry", "svc_lvl_prtry"),
    F("PmtTpInf/LclInstrm/Cd", "lcl_instrm_cd"),
    F("PmtTpInf/LclInstrm/Prtry", "lcl_instrm_prtry"),
    F("PmtTpInf/CtgyPurp/Cd", "ctgy_purp_cd"),
    F("IntrBkSttlmAmt", "", "A", req=True),
    F("IntrBkSttlmDt", "intr_bk_sttlm_dt", "D"),
    F("AccptncDtTm", "accptnc_dt_tm", "DT"),
    F("ChrgBr", "chrg_br", req=True),
    *_agent_ids("InstgAgt", "instg_agt"),
    *_agent_ids("InstdAgt", "instd_agt"),
    F("Dbtr/Nm", "dbtr_nm"),
    F("Dbtr/Id/PrvtId/Othr/Id", "dbtr_prvt_id_othr_id"),
    F("Dbtr/Id/PrvtId/Othr/SchmeNm/Cd", "dbtr_prvt_id_othr_schme_nm_cd"),
    F("DbtrAcct/Id/IBAN", "dbtr_acct_iban"),
    F("DbtrAcct/Id/Othr/Id", "dbtr_acct_othr_id"),
    F("DbtrAcct/Prxy/Tp/Cd", "dbtr_acct_prxy_tp_cd"),
    F("DbtrAcct/Prxy/Id", "dbtr_acct_prxy_id"),
    *_agent_ids("DbtrAgt", "dbtr_agt"),
    *_agent_ids("CdtrAgt", "cdtr_agt"),
    F("Cdtr/Nm", "cdtr_nm"),
    F("CdtrAcct/Id/IBAN", "cdtr_acct_iban"),
    F("CdtrAcct/Id/Othr/Id", "cdtr_acct_othr_id"),
    F("CdtrAcct/Prxy/Tp/Cd", "cdtr_acct_prxy_tp_cd"),
    F("CdtrAcct/Prxy/Id", "cdtr_acct_prxy_id"),
    F("Purp/Cd", "purp_cd"),
    F("RmtInf/Ustrd", "rmt_inf_ustrd"),
)

PACS008 = MsgSpec(
    "pacs.008.001.08",
    "FIToFICstmrCdtTrf",
    s.Pacs008,
    (
        F("GrpHdr/MsgId", "msg_id", req=True),
        F("GrpHdr/CreDtTm", "cre_dt_tm", "DT", req=True),
        F("GrpHdr/NbOfTxs", "nb_of_txs", req=True),
        F("GrpHdr/SttlmInf/SttlmMtd", "sttlm_mtd", req=True),
        F("GrpHdr/SttlmInf/ClrSys/Cd", "clr_sys_cd"),
        F("GrpHdr/SttlmInf/ClrSys/Prtry", "clr_sys_prtry"),
        B(
            "CdtTrfTxInf",
            "cdt_trf_tx_inf",
            s.CdtTrfTxInf,
            _PACS008_TX,
            frozenset({"PmtId", "Dbtr", "DbtrAgt/FinInstnId", "CdtrAgt/FinInstnId", "Cdtr"}),
            min_occurs=1,
        ),
    ),
)

PACS002 = MsgSpec(
    "pacs.002.001.10",
    "FIToFIPmtStsRpt",
    s.Pacs002,
    (
        F("GrpHdr/MsgId", "msg_id", req=True),
        F("GrpHdr/CreDtTm", "cre_dt_tm", "DT", req=True),
        _agent("GrpHdr/InstgAgt", "instg_agt_bicfi"),
        _agent("GrpHdr/InstdAgt", "instd_agt_bicfi"),
        B(
            "TxInfAndSts",
            "tx_inf_and_sts",
            s.TxInfAndSts,
            (
                F("StsId", "sts_id"),
                F("OrgnlGrpInf/OrgnlMsgId", "orgnl_msg_id"),
                F("OrgnlGrpInf/OrgnlMsgNmId", "orgnl_msg_nm_id"),
                F("OrgnlGrpInf/OrgnlCreDtTm", "orgnl_cre_dt_tm", "DT"),
                F("OrgnlInstrId", "orgnl_instr_id"),
                F("OrgnlEndToEndId", "orgnl_end_to_end_id"),
                F("OrgnlTxId", "orgnl_tx_id"),
                F("OrgnlUETR", "orgnl_uetr"),
                F("TxSts", "tx_sts"),
                F("StsRsnInf/Orgtr/Id/OrgId/AnyBIC", "sts_rsn_orgtr_any_bic"),
                F("StsRsnInf/Rsn/Cd", "sts_rsn_cd"),
                F("StsRsnInf/Rsn/Prtry", "sts_rsn_prtry"),
                F("StsRsnInf/AddtlInf", "sts_rsn_addtl_inf"),
                F("AccptncDtTm", "accptnc_dt_tm", "DT"),
                F("FctvIntrBkSttlmDt/Dt", "fctv_intr_bk_sttlm_dt", "D"),
                F("ClrSysRef", "clr_sys_ref"),
                _agent("InstgAgt", "instg_agt_bicfi"),
                _agent("InstdAgt", "instd_agt_bicfi"),
            ),
        ),
    ),
)

_ORGNL_IDS = (
    F("OrgnlGrpInf/OrgnlMsgId", "orgnl_msg_id"),
    F("OrgnlGrpInf/OrgnlMsgNmId", "orgnl_msg_nm_id"),
    F("OrgnlInstrId", "orgnl_instr_id"),
    F("OrgnlEndToEndId", "orgnl_end_to_end_id"),
    F("OrgnlTxId", "orgnl_tx_id"),
    F("OrgnlUETR", "orgnl_uetr"),
)

PACS004 = MsgSpec(
    "pacs.004.001.09",
    "PmtRtr",
    s.Pacs004,
    (
        F("GrpHdr/MsgId", "msg_id", req=True),
        F("GrpHdr/CreDtTm", "cre_dt_tm", "DT", req=True),
        F("GrpHdr/NbOfTxs", "nb_of_txs", req=True),
        F("GrpHdr/SttlmInf/SttlmMtd", "sttlm_mtd", req=True),
        F("GrpHdr/SttlmInf/ClrSys/Cd", "clr_sys_cd"),
        F("GrpHdr/SttlmInf/ClrSys/Prtry", "clr_sys_prtry"),
        B(
            "TxInf",
            "tx_inf",
            s.PmtRtrTxInf,
            (
                F("RtrId", "rtr_id"),
                *_ORGNL_IDS,
                F("OrgnlIntrBkSttlmAmt", "orgnl_", "A"),
                F("OrgnlIntrBkSttlmDt", "orgnl_intr_bk_sttlm_dt", "D"),
                F("RtrdIntrBkSttlmAmt", "", "A", req=True),
                F("IntrBkSttlmDt", "intr_bk_sttlm_dt", "D"),
                F("ChrgBr", "chrg_br"),
                *_agent_ids("InstgAgt", "instg_agt"),
                *_agent_ids("InstdAgt", "instd_agt"),
                F("RtrRsnInf/Orgtr/Id/OrgId/AnyBIC", "rtr_rsn_orgtr_any_bic"),
                F("RtrRsnInf/Rsn/Cd", "rtr_rsn_cd"),
                F("RtrRsnInf/Rsn/Prtry", "rtr_rsn_prtry"),
                F("RtrRsnInf/AddtlInf", "rtr_rsn_addtl_inf"),
                F("OrgnlTxRef/Dbtr/Pty/Nm", "orgnl_tx_ref_dbtr_nm"),
                F("OrgnlTxRef/DbtrAcct/Id/IBAN", "orgnl_tx_ref_dbtr_acct_iban"),
                _agent("OrgnlTxRef/DbtrAgt", "orgnl_tx_ref_dbtr_agt_bicfi"),
                _agent("OrgnlTxRef/CdtrAgt", "orgnl_tx_ref_cdtr_agt_bicfi"),
                F("OrgnlTxRef/Cdtr/Pty/Nm", "orgnl_tx_ref_cdtr_nm"),
                F("OrgnlTxRef/CdtrAcct/Id/IBAN", "orgnl_tx_ref_cdtr_acct_iban"),
            ),
        ),
    ),
)

PACS028 = MsgSpec(
    "pacs.028.001.03",
    "FIToFIPmtStsReq",
    s.Pacs028,
    (
        F("GrpHdr/MsgId", "msg_id", req=True),
        F("GrpHdr/CreDtTm", "cre_dt_tm", "DT", req=True),
        _agent("GrpHdr/InstgAgt", "instg_agt_bicfi"),
        _agent("GrpHdr/InstdAgt", "instd_agt_bicfi"),
        B("TxInf", "tx_inf", s.StsReqTxInf, (F("StsReqId", "sts_req_id"), *_ORGNL_IDS)),
    ),
)

_ASSGNMT_ID = (
    F("Assgnmt/Id", "assgnmt_id", req=True),
    *_party_or_agent("Assgnmt/Assgnr", "assgnr"),
    *_party_or_agent("Assgnmt/Assgne", "assgne"),
    F("Assgnmt/CreDtTm", "cre_dt_tm", "DT", req=True),
)
# Written even when the struct holds no BIC: the XSD requires Assgnr and Assgne (the rail's own messages
# always name both agents).
_ASSGNMT_ALWAYS = frozenset({"Assgnmt/Assgnr/Agt/FinInstnId", "Assgnmt/Assgne/Agt/FinInstnId"})

CAMT056 = MsgSpec(
    "camt.056.001.08",
    "FIToFIPmtCxlReq",
    s.Camt056,
    (
        *_ASSGNMT_ID,
        B(
            "Undrlyg/TxInf",
            "tx_inf",
            s.CxlTxInf,
            (
                F("CxlId", "cxl_id"),
                *_ORGNL_IDS,
                F("OrgnlIntrBkSttlmAmt", "orgnl_", "A"),
                F("OrgnlIntrBkSttlmDt", "orgnl_intr_bk_sttlm_dt", "D"),
                F("CxlRsnInf/Orgtr/Id/OrgId/AnyBIC", "cxl_rsn_orgtr_any_bic"),
                F("CxlRsnInf/Rsn/Cd", "cxl_rsn_cd"),
                F("CxlRsnInf/Rsn/Prtry", "cxl_rsn_prtry"),
                F("CxlRsnInf/AddtlInf", "cxl_rsn_addtl_inf"),
            ),
        ),
    ),
    always=frozenset({"Undrlyg"}) | _ASSGNMT_ALWAYS,
)

CAMT029 = MsgSpec(
    "camt.029.001.09",
    "RsltnOfInvstgtn",
    s.Camt029,
    (
        *_ASSGNMT_ID,
        F("Sts/Conf", "sts_conf"),
        F("Sts/RjctdMod", "sts_rjctd_mod", "C"),
        F("Sts/DplctOf", "sts_dplct_of", "C"),
        F("Sts/AssgnmtCxlConf", "sts_assgnmt_cxl_conf", "B"),
        B(
            "CxlDtls/TxInfAndSts",
            "tx_inf_and_sts",
            s.CxlTxInfAndSts,
            (
                F("CxlStsId", "cxl_sts_id"),
                *_ORGNL_IDS,
                F("TxCxlSts", "tx_cxl_sts"),
                F("CxlStsRsnInf/Rsn/Cd", "cxl_sts_rsn_cd"),
                F("CxlStsRsnInf/Rsn/Prtry", "cxl_sts_rsn_prtry"),
                F("CxlStsRsnInf/AddtlInf", "cxl_sts_rsn_addtl_inf"),
            ),
        ),
    ),
    always=_ASSGNMT_ALWAYS,
)

_IDV_ASSGNMT = (
    F("Assgnmt/MsgId", "msg_id", req=True),
    F("Assgnmt/CreDtTm", "cre_dt_tm", "DT", req=True),
    _agent("Assgnmt/FrstAgt", "frst_agt_bicfi"),
    *_party_or_agent("Assgnmt/Assgnr", "assgnr"),
    *_party_or_agent("Assgnmt/Assgne", "assgne"),
)

ACMT023 = MsgSpec(
    "acmt.023.001.03",
    "IdVrfctnReq",
    s.Acmt023,
    (
        *_IDV_ASSGNMT,
        B(
            "Vrfctn",
            "vrfctn",
            s.Vrfctn,
            (
                F("Id", "id", req=True),
                F("PtyAndAcctId/Pty/Nm", "pty_nm"),
                F("PtyAndAcctId/Acct/Id/IBAN", "acct_iban"),
                F("PtyAndAcctId/Acct/Prxy/Tp/Cd", "acct_prxy_tp_cd"),
                F("PtyAndAcctId/Acct/Prxy/Id", "acct_prxy_id"),
                _agent("PtyAndAcctId/Agt", "agt_bicfi"),
            ),
            frozenset({"PtyAndAcctId"}),
            min_occurs=1,
        ),
    ),
    always=_ASSGNMT_ALWAYS,
)

ACMT024 = MsgSpec(
    "acmt.024.001.03",
    "IdVrfctnRpt",
    s.Acmt024,
    (
        *_IDV_ASSGNMT,
        F("OrgnlAssgnmt/MsgId", "orgnl_msg_id"),
        F("OrgnlAssgnmt/CreDtTm", "orgnl_cre_dt_tm", "DT"),
        B(
            "Rpt",
            "rpt",
            s.VrfctnRpt,
            (
                F("OrgnlId", "orgnl_id", req=True),
                F("Vrfctn", "vrfctn", "B", req=True),
                F("Rsn/Cd", "rsn_cd"),
                F("Rsn/Prtry", "rsn_prtry"),
                F("OrgnlPtyAndAcctId/Acct/Id/IBAN", "orgnl_acct_iban"),
                F("OrgnlPtyAndAcctId/Acct/Prxy/Tp/Cd", "orgnl_acct_prxy_tp_cd"),
                F("OrgnlPtyAndAcctId/Acct/Prxy/Id", "orgnl_acct_prxy_id"),
                F("UpdtdPtyAndAcctId/Pty/Nm", "updtd_pty_nm"),
                F("UpdtdPtyAndAcctId/Acct/Id/IBAN", "updtd_acct_iban"),
                F("UpdtdPtyAndAcctId/Acct/Nm", "updtd_acct_nm"),
                _agent("UpdtdPtyAndAcctId/Agt", "updtd_agt_bicfi"),
            ),
            min_occurs=1,
        ),
    ),
    always=_ASSGNMT_ALWAYS,
)

PAIN013 = MsgSpec(
    "pain.013.001.07",
    "CdtrPmtActvtnReq",
    s.Pain013,
    (
        F("GrpHdr/MsgId", "msg_id", req=True),
        F("GrpHdr/CreDtTm", "cre_dt_tm", "DT", req=True),
        F("GrpHdr/NbOfTxs", "nb_of_txs", req=True),
        F("GrpHdr/InitgPty/Nm", "initg_pty_nm"),
        B(
            "PmtInf",
            "pmt_inf",
            s.PmtInf,
            (
                F("PmtInfId", "pmt_inf_id"),
                F("PmtMtd", "pmt_mtd", req=True),
                F("ReqdExctnDt/Dt", "reqd_exctn_dt", "D"),
                F("ReqdExctnDt/DtTm", "reqd_exctn_dt_tm", "DT"),
                F("XpryDt/Dt", "xpry_dt", "D"),
                F("XpryDt/DtTm", "xpry_dt_tm", "DT"),
                F("Dbtr/Nm", "dbtr_nm"),
                F("DbtrAcct/Id/IBAN", "dbtr_acct_iban"),
                F("DbtrAcct/Prxy/Tp/Cd", "dbtr_acct_prxy_tp_cd"),
                F("DbtrAcct/Prxy/Id", "dbtr_acct_prxy_id"),
                *_agent_ids("DbtrAgt", "dbtr_agt"),
                F("CdtTrfTx", "cdt_trf_tx_count", "C"),
                F("CdtTrfTx/PmtId/InstrId", "instr_id"),
                F("CdtTrfTx/PmtId/EndToEndId", "end_to_end_id", req=True),
                F("CdtTrfTx/PmtId/UETR", "uetr"),
                F("CdtTrfTx/Amt/InstdAmt", "", "A"),
                F("CdtTrfTx/Amt/EqvtAmt/Amt", "eqvt_", "A"),
                F("CdtTrfTx/ChrgBr", "chrg_br", req=True),
                *_agent_ids("CdtTrfTx/CdtrAgt", "cdtr_agt"),
                F("CdtTrfTx/Cdtr/Nm", "cdtr_nm"),
                F("CdtTrfTx/CdtrAcct/Id/IBAN", "cdtr_acct_iban"),
                F("CdtTrfTx/RmtInf/Ustrd", "rmt_inf_ustrd"),
            ),
            frozenset(
                {"ReqdExctnDt", "Dbtr", "DbtrAgt/FinInstnId", "CdtTrfTx/Amt", "CdtTrfTx/CdtrAgt/FinInstnId",
                 "CdtTrfTx/Cdtr"}
            ),
            min_occurs=1,
        ),
    ),
    always=frozenset({"GrpHdr/InitgPty"}),
)

PAIN014 = MsgSpec(
    "pain.014.001.07",
    "CdtrPmtActvtnReqStsRpt",
    s.Pain014,
    (
        F("GrpHdr/MsgId", "msg_id", req=True),
        F("GrpHdr/CreDtTm", "cre_dt_tm", "DT", req=True),
        F("GrpHdr/InitgPty/Nm", "initg_pty_nm"),
        _agent("GrpHdr/DbtrAgt", "dbtr_agt_bicfi"),
        _agent("GrpHdr/CdtrAgt", "cdtr_agt_bicfi"),
        F("OrgnlGrpInfAndSts/OrgnlMsgId", "orgnl_msg_id", req=True),
        F("OrgnlGrpInfAndSts/OrgnlMsgNmId", "orgnl_msg_nm_id", req=True),
        F("OrgnlGrpInfAndSts/OrgnlCreDtTm", "orgnl_cre_dt_tm", "DT"),
        F("OrgnlGrpInfAndSts/GrpSts", "grp_sts"),
        B(
            "OrgnlPmtInfAndSts",
            "orgnl_pmt_inf_and_sts",
            s.OrgnlPmtInfAndSts,
            (
                F("OrgnlPmtInfId", "orgnl_pmt_inf_id", req=True),
                F("TxInfAndSts/StsId", "sts_id"),
                F("TxInfAndSts/OrgnlInstrId", "orgnl_instr_id"),
                F("TxInfAndSts/OrgnlEndToEndId", "orgnl_end_to_end_id"),
                F("TxInfAndSts/OrgnlUETR", "orgnl_uetr"),
                F("TxInfAndSts/TxSts", "tx_sts"),
                F("TxInfAndSts/StsRsnInf/Rsn/Cd", "sts_rsn_cd"),
                F("TxInfAndSts/StsRsnInf/Rsn/Prtry", "sts_rsn_prtry"),
                F("TxInfAndSts/StsRsnInf/AddtlInf", "sts_rsn_addtl_inf"),
                F("TxInfAndSts/AccptncDtTm", "accptnc_dt_tm", "DT"),
                F("TxInfAndSts/ClrSysRef", "clr_sys_ref"),
            ),
        ),
    ),
    always=frozenset({"GrpHdr/InitgPty"}),
)

ADMI002 = MsgSpec(
    "admi.002.001.01",
    "admi.002.001.01",
    s.Admi002,
    (
        F("RltdRef/Ref", "rltd_ref", req=True),
        F("Rsn/RjctgPtyRsn", "rjctg_pty_rsn", req=True),
        F("Rsn/RjctnDtTm", "rjctn_dt_tm", "DT"),
        F("Rsn/ErrLctn", "err_lctn"),
        F("Rsn/RsnDesc", "rsn_desc"),
        F("Rsn/AddtlData", "addtl_data"),
    ),
)

ADMI004 = MsgSpec(
    "admi.004.001.02",
    "SysEvtNtfctn",
    s.Admi004,
    (
        F("EvtInf/EvtCd", "evt_cd", req=True),
        F("EvtInf/EvtParam", "evt_param"),
        F("EvtInf/EvtDesc", "evt_desc"),
        F("EvtInf/EvtTm", "evt_tm", "DT"),
    ),
)

CAMT054 = MsgSpec(
    "camt.054.001.08",
    "BkToCstmrDbtCdtNtfctn",
    s.Camt054,
    (
        F("GrpHdr/MsgId", "msg_id", req=True),
        F("GrpHdr/CreDtTm", "cre_dt_tm", "DT", req=True),
        B(
            "Ntfctn",
            "ntfctn",
            s.Ntfctn,
            (
                F("Id", "id", req=True),
                F("CreDtTm", "cre_dt_tm", "DT"),
                F("Acct/Id/IBAN", "acct_iban"),
                F("Acct/Id/Othr/Id", "acct_othr_id"),
                F("Ntry/NtryRef", "ntry_ref"),
                F("Ntry/Amt", "", "A"),
                F("Ntry/CdtDbtInd", "cdt_dbt_ind"),
                F("Ntry/Sts/Cd", "sts_cd"),
                F("Ntry/Sts/Prtry", "sts_prtry"),
                F("Ntry/BookgDt/Dt", "bookg_dt", "D"),
                F("Ntry/ValDt/Dt", "val_dt", "D"),
                F("Ntry/BkTxCd/Domn/Cd", "bk_tx_cd_domn_cd"),
                F("Ntry/BkTxCd/Domn/Fmly/Cd", "bk_tx_cd_fmly_cd"),
                F("Ntry/BkTxCd/Domn/Fmly/SubFmlyCd", "bk_tx_cd_sub_fmly_cd"),
                F("Ntry/BkTxCd/Prtry/Cd", "bk_tx_cd_prtry_cd"),
                F("Ntry/BkTxCd/Prtry/Issr", "bk_tx_cd_prtry_issr"),
                F("Ntry/NtryDtls/TxDtls/Refs/MsgId", "msg_id"),
                F("Ntry/NtryDtls/TxDtls/Refs/InstrId", "instr_id"),
                F("Ntry/NtryDtls/TxDtls/Refs/EndToEndId", "end_to_end_id"),
                F("Ntry/NtryDtls/TxDtls/Refs/UETR", "uetr"),
                F("Ntry/NtryDtls/TxDtls/Refs/TxId", "tx_id"),
                F("Ntry/NtryDtls/TxDtls/Refs/ClrSysRef", "clr_sys_ref"),
                F("Ntry/NtryDtls/TxDtls/RmtInf/Ustrd", "rmt_inf_ustrd"),
            ),
            frozenset({"Acct/Id"}),
            min_occurs=1,
        ),
    ),
)

def _bah_party(prefix: str, stem: str) -> tuple[F, ...]:
    """A Party44Choice identifying a financial institution: its BICFI or its clearing-system member id."""
    base = f"{prefix}/FIId/FinInstnId"
    return (
        F(f"{base}/BICFI", f"{stem}_bicfi"),
        F(f"{base}/ClrSysMmbId/ClrSysId/Cd", f"{stem}_clr_sys_cd"),
        F(f"{base}/ClrSysMmbId/ClrSysId/Prtry", f"{stem}_clr_sys_prtry"),
        F(f"{base}/ClrSysMmbId/MmbId", f"{stem}_mmb_id"),
        F(f"{prefix}/OrgId", f"{stem}_org", "C"),
    )


_BAH_COMMON = (
    *_bah_party("Fr", "fr"),
    *_bah_party("To", "to"),
    F("BizMsgIdr", "biz_msg_idr", req=True),
    F("MsgDefIdr", "msg_def_idr", req=True),
    F("BizSvc", "biz_svc"),
)
_BAH_TAIL = (
    F("CpyDplct", "cpy_dplct"),
    F("PssblDplct", "pssbl_dplct", "B"),
    F("Prty", "prty"),
)
_BAH_ALWAYS = frozenset({"Fr/FIId/FinInstnId", "To/FIId/FinInstnId"})

HEAD001 = MsgSpec(
    HEAD_MSG_TYPE,
    "AppHdr",
    s.AppHdr,
    (
        *_BAH_COMMON,
        F("CreDt", "cre_dt", "DT", req=True),
        F("BizPrcgDt", "biz_prcg_dt", "DT"),
        *_BAH_TAIL,
        B(
            "Rltd",
            "rltd",
            s.RelatedHeader,
            (*_BAH_COMMON, F("CreDt", "cre_dt", "DT", req=True), *_BAH_TAIL),
            _BAH_ALWAYS,
        ),
    ),
    always=_BAH_ALWAYS,
)

MESSAGE_SPECS: tuple[MsgSpec, ...] = (
    PACS008,
    PACS002,
    PACS004,
    PACS028,
    CAMT056,
    CAMT029,
    ACMT023,
    ACMT024,
    PAIN013,
    PAIN014,
    ADMI002,
    ADMI004,
    CAMT054,
)
SPEC_BY_TYPE = {spec.msg_type: spec for spec in MESSAGE_SPECS}
SPEC_BY_CLASS = {spec.cls: spec for spec in MESSAGE_SPECS}
SPEC_BY_ROOT = {spec.root: spec for spec in MESSAGE_SPECS}
MSG_TYPES: tuple[str, ...] = tuple(spec.msg_type for spec in MESSAGE_SPECS)

# Fields that identify a message, in order of preference: admi.002 RltdRef/Ref when the rest is unreadable.
REFERENCE_ATTRS = ("msg_id", "assgnmt_id", "rltd_ref", "biz_msg_idr")


class Tree:
    """Ordered element tree of one table: element name -> Tree | F | B (count fields left out)."""

    __slots__ = ("children",)

    def __init__(self) -> None:
        self.children: dict[str, object] = {}


def element_tree(items: tuple) -> Tree:
    root = Tree()
    for item in items:
        if isinstance(item, F) and item.kind == "C":
            continue
        parts = item.path.split("/")
        node = root
        for part in parts[:-1]:
            node = node.children.setdefault(part, Tree())
        node.children[parts[-1]] = item
    return root


def is_required(node: object) -> bool:
    """True when the element must be present: a mandatory leaf, a mandatory block, or a group holding one."""
    if isinstance(node, F):
        return node.req
    if isinstance(node, B):
        return node.min_occurs > 0
    return any(is_required(child) for child in node.children.values())


def forced(path: str, always: frozenset) -> bool:
    """True when ``path`` or an element below it is listed in ``always`` (so it must be emitted)."""
    return path in always or any(a.startswith(path + "/") for a in always)


def presence(node: object, var: str) -> list[str]:
    """Python conditions (over struct ``var``) that are true when something inside ``node`` is present."""
    if isinstance(node, B):
        return [f"{var}.{node.attr}"]
    if isinstance(node, F):
        attr = amount_attrs(node.attr)[0] if node.kind == "A" else node.attr
        return [f"{var}.{attr} is not None"]
    conds: list[str] = []
    for child in node.children.values():
        conds.extend(presence(child, var))
    return conds


def amount_attrs(prefix: str) -> tuple[str, str]:
    return f"{prefix}amount_paisa", f"{prefix}currency"


def _check_tables() -> None:
    """Every table attribute must exist on its struct (a typo here would silently drop a field)."""

    def check(cls: type, items: tuple) -> None:
        fields = set(cls.__struct_fields__)
        for item in items:
            if isinstance(item, B):
                assert item.attr in fields, (cls, item.attr)
                check(item.cls, item.items)
            elif item.kind == "A":
                assert set(amount_attrs(item.attr)) <= fields, (cls, item.attr)
            else:
                assert item.attr in fields, (cls, item.attr)

    for spec in (*MESSAGE_SPECS, HEAD001):
        check(spec.cls, spec.items)


_check_tables()
