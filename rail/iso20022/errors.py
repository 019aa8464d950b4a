"""The two ways a message can be wrong: unreadable (MessageRejected) or against the profile (Violation)."""

from __future__ import annotations

import msgspec


class MessageRejected(Exception):
    """The body cannot be read as a supported ISO 20022 message: answer with admi.002.

    Carries the admi.002 fields: ``reason_code`` (RjctgPtyRsn, e.g. FF01), ``description`` (RsnDesc),
    ``error_location`` (ErrLctn, an element path or "line N") and ``related_ref`` (RltdRef/Ref: the MsgId or
    BizMsgIdr of the rejected message when it could be read, else None).
    """

    def __init__(
        self,
        reason_code: str,
        description: str,
        error_location: str | None = None,
        related_ref: str | None = None,
    ) -> None:
        super().__init__(
            f"{reason_code}: {description}" + (f" at {error_location}" if error_location else "")
        )
        self.reason_code = reason_code
        self.description = description
        self.error_location = error_location
        self.related_ref = related_ref


class Violation(msgspec.Struct, frozen=True):
    """One RAAST profile failure: ISO external status reason ``code``, element ``path``, human ``text``."""

    code: str
    path: str
    text: str
