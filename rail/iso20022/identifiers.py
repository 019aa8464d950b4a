"""Pakistani and ISO identifiers: IBAN (MOD 97-10), BIC, UETR, +92 mobile numbers (Raast ID), CNIC.

Pure functions, no I/O; all cheap enough for the per-message profile check.
"""

from __future__ import annotations

import re
import string

PK_IBAN_LENGTH = 24
PK_ACCOUNT_NUMBER_LENGTH = 16

_IBAN_RE = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{1,30}\Z")
_PK_IBAN_RE = re.compile(r"PK[0-9]{2}[A-Z]{4}[A-Z0-9]{16}\Z")
_BANK_CODE_RE = re.compile(r"[A-Z]{4}\Z")
_ACCOUNT_RE = re.compile(r"[A-Z0-9]{1,16}\Z")
# BICFIDec2014Identifier from the XSD.
_BIC_RE = re.compile(r"[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?\Z")
# UUIDv4Identifier from the XSD: lower case only.
_UETR_RE = re.compile(r"[a-f0-9]{8}-[a-f0-9]{4}-4[a-f0-9]{3}-[89ab][a-f0-9]{3}-[a-f0-9]{12}\Z")
# E.164 Pakistani mobile: +92 3NN NNNNNNN (N a digit).
_PK_MOBILE_E164_RE = re.compile(r"\+923[0-9]{9}\Z")
_CNIC_RE = re.compile(r"([1-7][0-9]{4})-?([0-9]{7})-?([0-9])\Z")
_MOBILE_SEPARATORS = str.maketrans("", "", " -()")
_LETTER_DIGITS = {ord(letter): str(10 + index) for index, letter in enumerate(string.ascii_uppercase)}


def _mod97(text: str) -> int:
    """ISO 7064 MOD 97-10 over an IBAN rearranged (first four characters moved to the end)."""
    rearranged = text[4:] + text[:4]
    return int(rearranged.translate(_LETTER_DIGITS)) % 97


def _check_digits_ok(iban: str) -> bool:
    """ISO 13616 computes check digits as 98 - (n mod 97): always 02..98, so 00, 01 and 99 never occur (a
    string with them can still pass MOD 97-10, e.g. an account number shifted into them)."""
    return "02" <= iban[2:4] <= "98"


def iban_is_valid(iban: str) -> bool:
    """Any country's IBAN: ISO 13616 shape, check digits 02-98 and MOD 97-10 (no per-country length table)."""
    return _IBAN_RE.match(iban) is not None and _check_digits_ok(iban) and _mod97(iban) == 1


def pk_iban_is_valid(iban: str) -> bool:
    """A Pakistani IBAN: PK, 24 characters (4-letter bank code + 16 alphanumerics), check digits 02-98,
    MOD 97-10."""
    return _PK_IBAN_RE.match(iban) is not None and _check_digits_ok(iban) and _mod97(iban) == 1


def make_pk_iban(bank_code: str, account_number: str) -> str:
    """IBAN for a 4-letter bank code (first 4 letters of the BIC) and an account number (zero-padded to 16).

    >>> make_pk_iban("SCBL", "1123456702")
    'PK36SCBL0000001123456702'
    """
    bank_code = bank_code.upper()
    account_number = account_number.upper()
    if _BANK_CODE_RE.match(bank_code) is None:
        raise ValueError(f"bank code must be 4 letters: {bank_code!r}")
    if _ACCOUNT_RE.match(account_number) is None:
        raise ValueError(f"account number must be 1-16 letters or digits: {account_number!r}")
    bban = bank_code + account_number.rjust(PK_ACCOUNT_NUMBER_LENGTH, "0")
    check = 98 - _mod97("PK00" + bban)
    return f"PK{check:02d}{bban}"


def bic_is_valid(bic: str) -> bool:
    """BICFIDec2014Identifier: 8 or 11 characters, country letters in positions 5-6."""
    return _BIC_RE.match(bic) is not None


def canonical_bic(bic: str) -> str:
    """A BIC in the one form the rail stores: a BIC11 with the primary office's branch code XXX is the same
    institution as its BIC8 (SONEPKKAXXX is SONEPKKA); any other branch code is kept."""
    return bic[:8] if len(bic) == 11 and bic.endswith("XXX") else bic


def uetr_is_valid(uetr: str) -> bool:
    """UUIDv4Identifier as the XSD defines it (lower-case hexadecimal, version 4, RFC 4122 variant)."""
    return _UETR_RE.match(uetr) is not None


def pk_mobile_is_e164(number: str) -> bool:
    return _PK_MOBILE_E164_RE.match(number) is not None


def normalise_pk_mobile(number: str) -> str:
    """A Pakistani mobile number (Raast ID) to E.164: '0300 1234567', '3001234567', '923001234567',
    '+92 300 1234567', '0092...' -> '+923001234567'. ValueError if it is not a Pakistani mobile number."""
    digits = number.strip().translate(_MOBILE_SEPARATORS)
    if digits.startswith("+"):
        digits = digits[1:]
    elif digits.startswith("00"):
        digits = digits[2:]
    if digits.startswith("92") and len(digits) == 12:
        digits = digits[2:]
    elif digits.startswith("0") and len(digits) == 11:
        digits = digits[1:]
    if len(digits) != 10 or not digits.isdigit() or not digits.isascii() or digits[0] != "3":
        raise ValueError(f"not a Pakistani mobile number: {number!r}")
    return "+92" + digits


def cnic_is_valid(cnic: str) -> bool:
    """13-digit CNIC (with or without dashes): province digit 1-7; no public checksum exists."""
    return _CNIC_RE.match(cnic) is not None


def format_cnic(cnic: str) -> str:
    """'3520112345671' -> '35201-1234567-1'."""
    match = _CNIC_RE.match(cnic)
    if match is None:
        raise ValueError(f"not a CNIC: {cnic!r}")
    return "-".join(match.groups())


def pk_iban_problems(iban: str) -> list[str]:
    """What is wrong with ``iban`` as a Pakistani IBAN, in words ([] when it is valid). Checks in the order a
    person would fix them: characters, country, length, bank code, account number, then the check digits
    (naming the right ones, so a typo in them is found at once)."""
    problems = []
    if iban != iban.strip() or " " in iban:
        problems.append("it contains spaces: write the 24 characters together (the rail refuses spaces)")
    if iban != iban.upper():
        problems.append("it has lower-case letters: IBANs are written in capitals")
    text = iban.replace(" ", "").upper()
    if not text.isascii() or not text.isalnum():
        problems.append("it may contain only letters A-Z and digits 0-9")
        return problems
    if not text.startswith("PK"):
        problems.append(f"it starts with {text[:2]!r}: a Pakistani IBAN starts with PK")
    if len(text) != 24:
        problems.append(f"it has {len(text)} characters: a Pakistani IBAN has 24 (PK, 2 check digits, "
                        "4-letter bank code, 16-character account number)")
    if not text[2:4].isdigit():
        problems.append(f"characters 3-4 {text[2:4]!r} must be the two check digits")
    if _BANK_CODE_RE.match(text[4:8]) is None:
        problems.append(f"characters 5-8 {text[4:8]!r} must be the bank code: 4 letters (the BIC's first four)")
    if problems:
        return problems
    if _mod97(text) != 1:
        right = make_pk_iban(text[4:8], text[8:])
        problems.append(f"the check digits {text[2:4]} do not match the rest (MOD 97-10): for bank code "
                        f"{text[4:8]} and account {text[8:]} they are {right[2:4]}, i.e. {right}")
    return problems
