"""ISO 20022 external codes the rail sends or checks, with their ISO definitions.

Definitions are loaded from ``codes.json`` shipped inside this package (a copy of the ISO External Code Sets
publication); nothing is read from outside the package at run time. The constants below name the codes the
RAAST profile and the rail use, so a typo is an AttributeError rather than a wrong code on the wire.
"""

from __future__ import annotations

import json
from importlib import resources

_DATA = json.loads(resources.files(__package__).joinpath("codes.json").read_text(encoding="utf-8"))
CODE_SETS: dict[str, dict[str, str]] = _DATA["sets"]
CODE_SETS_SOURCE: str = _DATA["source"]

STATUS_REASONS = CODE_SETS["ExternalStatusReason1Code"]
TX_STATUSES = CODE_SETS["ExternalPaymentTransactionStatus1Code"]
RETURN_REASONS = CODE_SETS["ExternalReturnReason1Code"]
CANCELLATION_REASONS = CODE_SETS["ExternalCancellationReason1Code"]
CANCELLATION_REJECTIONS = CODE_SETS["ExternalPaymentCancellationRejection1Code"]
VERIFICATION_REASONS = CODE_SETS["ExternalVerificationReason1Code"]
PROXY_TYPES = CODE_SETS["ExternalProxyAccountType1Code"]
PERSON_ID_SCHEMES = CODE_SETS["ExternalPersonIdentification1Code"]

# --- ExternalStatusReason1Code: the codes the profile and the rail emit.
FF01 = "FF01"  # File Format incomplete or invalid
FF04 = "FF04"  # Service Level code is missing or invalid
FF05 = "FF05"  # Local Instrument code is missing or invalid
FF08 = "FF08"  # End to End Id missing or invalid
MINF = "MINF"  # Information missing for the field or cannot be empty.
AM01 = "AM01"  # Specified message amount is equal to zero
AM02 = "AM02"  # Specific transaction/message amount is greater than allowed maximum
AM03 = "AM03"  # Specified message amount is an non processable currency outside of existing agreement
AM04 = "AM04"  # Amount of funds available to cover specified message amount is insufficient.
AM05 = "AM05"  # Duplication
AM18 = "AM18"  # Number of transactions is invalid or missing.
AM19 = "AM19"  # Number of transactions at the Group level is invalid or missing
CH20 = "CH20"  # Number of decimal points not compatible with the currency
AC01 = "AC01"  # Account number is invalid or missing.
AC02 = "AC02"  # Debtor account number invalid or missing
AC03 = "AC03"  # Creditor account number invalid or missing
RC01 = "RC01"  # Bank identifier code specified in the message has an incorrect format
RC02 = "RC02"  # Bank identifier is invalid or missing (generic)
RC03 = "RC03"  # Debtor bank identifier is invalid or missing
RC04 = "RC04"  # Creditor bank identifier is invalid or missing
DNOR = "DNOR"  # Debtor bank is not registered under this BIC in the CSM
CNOR = "CNOR"  # Creditor bank is not registered under this BIC in the CSM
DT01 = "DT01"  # Invalid date (eg, wrong or missing settlement date)
BE08 = "BE08"  # Debtor name is missing
BE16 = "BE16"  # Debtor or Ultimate Debtor identification code missing or invalid
BE19 = "BE19"  # Charge bearer code for transaction type is invalid
BE22 = "BE22"  # Creditor name is missing
BE23 = "BE23"  # Phone number or email address, or any other proxy, used as the account proxy is unknown ...
AB05 = "AB05"  # Transaction stopped due to timeout at the Creditor Agent.
AB06 = "AB06"  # Transaction stopped due to timeout at the Instructed Agent.
AB08 = "AB08"  # Creditor Agent is not online.
TM01 = "TM01"  # received after agreed processing cut-off time
RR04 = "RR04"  # Regulatory Reason
NARR = "NARR"  # Reason is provided as narrative information in the additional reason information.

# --- ExternalPaymentTransactionStatus1Code
ACTC, ACCP, ACSP, ACSC, ACCC, PDNG, RJCT, RCVD = (
    "ACTC",
    "ACCP",
    "ACSP",
    "ACSC",
    "ACCC",
    "PDNG",
    "RJCT",
    "RCVD",
)

# --- recall / return
FOCR = "FOCR"  # Return following a cancellation request.
DUPL = "DUPL"  # Payment is a duplicate of another payment.
CUST = "CUST"
RJCR, ACCR, PDCR = "RJCR", "ACCR", "PDCR"  # CancellationIndividualStatus1Code (XSD enumeration)
CNCL = "CNCL"  # ExternalInvestigationExecutionConfirmation1Code: cancelled as per request
# camt.029 Sts/Conf (ExternalInvestigationExecutionConfirmation1Code) -> the recall's state, for an answer that
# gives no CxlDtls/TxInfAndSts/TxCxlSts: cancelled (CNCL), payment initiated (IPAY: FedNow's "the return is
# paid") and cancellation will follow (CWFW) accept the recall; PDCR and RJCR are the states themselves.
RECALL_STATES = {"CNCL": ACCR, "IPAY": ACCR, "CWFW": ACCR, PDCR: PDCR, RJCR: RJCR}

# --- proxies and identification schemes
MBNO = "MBNO"  # Mobile phone number (E.164)
NIDN = "NIDN"  # National identity number


def definition(code: str, code_set: str = "ExternalStatusReason1Code") -> str:
    """The ISO definition of ``code`` in ``code_set`` ('' if the set does not define it)."""
    return CODE_SETS[code_set].get(code, "")


def _check_constants() -> None:
    for name, value in list(globals().items()):
        if name.isupper() and len(name) == 4 and isinstance(value, str) and name == value:
            if value in ("RJCR", "ACCR", "PDCR", "CNCL"):
                continue  # XSD enumerations, not external codes
            assert any(value in codes for codes in CODE_SETS.values()), value


_check_constants()
