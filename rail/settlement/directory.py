"""The Raast ID directory: mobile-number aliases for customers' IBANs, held centrally by the rail.

RAAST's rule (SBP DI&SD Circular No. 1 of 2022): a Raast ID (the customer's mobile number, +92 form) links to
exactly one IBAN system-wide; a customer's bank may move it to another of its accounts, but to move it to another
bank it must first be de-linked. This module is the directory's state and rules only; it is owned by the
settlement core (single writer), which journals every change, and it never does I/O.

Lookups are rate-limited per participant (anti-scanning, as Pix's DICT does) by `LookupLimiter`, which lives at
the edge, not in the journaled state: a rate limit is a property of the running process, not of the books.
"""

from __future__ import annotations

import msgspec

ALIASES_MAX = 5_000_000  # the whole directory; refuse registrations beyond it rather than grow unbounded


class AliasEntry(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """One Raast ID: the account it resolves to, the agent servicing it and the holder's name."""

    alias: str
    iban: str
    agent_bic: str
    holder_name: str


class DirectoryError(Exception):
    """A registration the directory refuses; `code` is an ISO-style reason shown to the participant."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text


class AliasDirectory:
    """alias -> AliasEntry, with the one-alias-one-account rule checked centrally."""

    def __init__(self) -> None:
        self._entries: dict[str, AliasEntry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def resolve(self, alias: str) -> AliasEntry | None:
        return self._entries.get(alias)

    def register(self, agent_bic: str, alias: str, iban: str, holder_name: str) -> AliasEntry:
        """Link `alias` to `iban` at `agent_bic`; re-linking to another account of the same agent is a move.

        A different agent cannot take an alias that is linked elsewhere: the customer's current bank must
        delete it first (the de-link rule), so a participant can never hijack another bank's customer.
        """
        current = self._entries.get(alias)
        if current is not None and current.agent_bic != agent_bic:
            raise DirectoryError(
                "DUPL", f"alias {alias} is linked at another participant; it must be de-linked first"
            )
        if current is None and len(self._entries) >= ALIASES_MAX:
            raise DirectoryError("AG10", "alias directory is full")
        entry = AliasEntry(alias=alias, iban=iban, agent_bic=agent_bic, holder_name=holder_name)
        self._entries[alias] = entry
        return entry

    def delete(self, agent_bic: str, alias: str) -> AliasEntry:
        current = self._entries.get(alias)
        if current is None:
            raise DirectoryError("AC01", f"alias {alias} is not registered")
        if current.agent_bic != agent_bic:
            raise DirectoryError("AGNT", f"alias {alias} is linked at another participant")
        del self._entries[alias]
        return current

    def entries(self) -> list[AliasEntry]:
        return list(self._entries.values())

    def load(self, entries: list[AliasEntry]) -> None:
        self._entries = {e.alias: e for e in entries}
