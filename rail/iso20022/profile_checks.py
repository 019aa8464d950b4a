"""The RAAST profile's vocabulary: what a scheme varies (Profile), the reason text a refusal carries, and the
Checker that collects violations for one message (its helpers keep each rule one line in rail/iso20022/profile.py).
"""

from __future__ import annotations

from collections.abc import Collection

import msgspec

from ..money import AMOUNT_MAX_PAISA
from . import codes as c
from . import structs as s
from .errors import Violation
from .identifiers import bic_is_valid, pk_iban_is_valid, pk_mobile_is_e164, uetr_is_valid

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
iban_verdicts: dict[str, bool] = {}
bic_verdicts: dict[str, bool] = {}


def pk_iban_ok(iban: str) -> bool:
    verdict = iban_verdicts.get(iban)
    if verdict is None:
        if len(iban_verdicts) >= _VERDICTS_MAX:
            iban_verdicts.clear()
        verdict = iban_verdicts[iban] = pk_iban_is_valid(iban)
    return verdict


def bic_ok(bic: str) -> bool:
    verdict = bic_verdicts.get(bic)
    if verdict is None:
        if len(bic_verdicts) >= _VERDICTS_MAX:
            bic_verdicts.clear()
        verdict = bic_verdicts[bic] = bic_is_valid(bic)
    return verdict


ADDTL_INF_MAX = 105  # StsRsnInf/AddtlInf (Max105Text): where a violation's text reaches the sender


def said(path: str, value: object, rest: str) -> str:
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


class Checker:
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
                self.add(missing_code, path, said(path, member_id, "is a ClrSysMmbId: RAAST needs the BICFI"))
            elif party:
                agent = path.split("/Agt/", 1)[0]
                self.add(missing_code, path, f"{path} is missing: {agent} is a Pty, RAAST needs an Agt")
            else:
                self.add(missing_code, path, f"{path} is missing")
        elif not bic_ok(value):
            self.add(c.RC01, path, said(path, value, "is not a well-formed BIC"))
        elif (
            self.known_bics is not None and value not in self.known_bics and value[:8] not in self.known_bics
        ):
            self.add(unknown_code, path, said(path, value, "is not a participant of the scheme"))

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
            self.add(c.AC01, path, said(path, value, f"is not a {self.profile.iban_country} IBAN"))
        elif not pk_iban_ok(value):
            self.add(
                c.AC01,
                path,
                said(
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
            self.add(c.FF01, path, said(path, value, "is not a lower-case UUIDv4"))

    def amount(
        self, msg: s._Msg, paisa: int | None, currency: str | None, path: str, *, check_limit: bool = True
    ) -> None:
        if paisa is None:
            return
        if currency != self.profile.currency:
            self.add(
                c.AM03, f"{path}/@Ccy", said(f"{path}/@Ccy", currency, f"is not {self.profile.currency}")
            )
        if msg.sub_paisa_amounts and any(p.endswith(path) for p in msg.sub_paisa_amounts):
            self.add(c.CH20, path, f"{path} has more than 2 decimals")
        if paisa <= 0:
            self.add(c.AM01, path, f"{path} is zero" if paisa == 0 else f"{path} is negative")
        elif paisa > AMOUNT_MAX_PAISA:  # the rail's one maximum, whatever the field (rail/money.py)
            self.add(
                c.AM02, path, said(path, paisa, f"paisa exceeds the rail's maximum, {AMOUNT_MAX_PAISA} paisa")
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
                c.BE23, f"{path}/Tp/Cd", said(f"{path}/Tp/Cd", tp, "is not an ExternalProxyAccountType1Code")
            )
        elif tp == c.MBNO and not pk_mobile_is_e164(proxy_id):
            self.add(
                c.BE23,
                f"{path}/Id",
                said(
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
            self.add(c.FF01, path, said(path, value, f"is not a valid {what}"))

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
                c.AM19, path, said(path, value, f"does not match the {count} transaction(s) in the message")
            )

    def settlement(self, method: str, cd: str | None, prtry: str | None, base: str) -> None:
        if method != self.profile.settlement_method:
            self.add(
                c.FF01,
                f"{base}/SttlmMtd",
                said(f"{base}/SttlmMtd", method, f"must be {self.profile.settlement_method}"),
            )
        wanted = self.profile.clearing_system
        if wanted is not None and prtry != wanted:
            # ClrSys/Cd is an ExternalCashClearingSystem1Code (at most 3 characters): RAAST has none.
            self.add(c.FF01, f"{base}/ClrSys/Prtry", f"{base}/ClrSys/Prtry must be {wanted} (the clearing system)")
