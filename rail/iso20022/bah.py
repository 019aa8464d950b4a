"""The business application header (head.001.001.02) on the rail's side: who may send one, what the rail
writes in its own.

The BAH is point to point (ISO 20022 BAH usage guide: an application in the middle is the receiver of the
first message and the sender of the second), so:
  - a participant's header must name it as the sender: ``Fr/FIId/FinInstnId`` with its ``BICFI`` (its BIC8,
    or a BIC11 branch of it) or ``ClrSysMmbId/MmbId`` (its BIC, or its four-letter bank code, the one in its
    IBANs; ``ClrSysId``, if given, ``Prtry`` RAAST). ``To`` names the rail; the rail does not route by it;
  - a reply to a request that had a header has one: ``Fr`` the rail, ``To`` the requester named as it named
    itself, a fresh ``BizMsgIdr``, the reply's ``MsgDefIdr``, ``CreDt`` now, ``BizSvc`` echoed, and ``Rltd``
    holding the request's header (what the standard defines Rltd for: the message this one answers);
  - a message the rail forwards (pacs.008 to the creditor agent, camt.056, camt.029, pain.013 ...) has one when
    its sender's had one: ``Fr`` the rail, ``To`` the recipient, the original's ``MsgDefIdr`` and ``BizSvc``,
    and ``Rltd`` holding the sender's header, so the recipient still sees everything the sender wrote.
"""

from __future__ import annotations

import datetime as dt

from .structs import AppHdr, RelatedHeader

RAAST_CLEARING_SYSTEM = "RAAST"
_RELATED_FIELDS = tuple(RelatedHeader.__struct_fields__)


def sender_problem(header: AppHdr, bic: str) -> str | None:
    """None when the header's ``Fr`` identifies participant ``bic``; else what is wrong, in words."""
    if header.fr_bicfi is not None:
        if header.fr_bicfi == bic or header.fr_bicfi[:8] == bic[:8]:
            return None
        return f"AppHdr/Fr/FIId/FinInstnId/BICFI {header.fr_bicfi} is not {bic}, the authenticated participant"
    if header.fr_mmb_id is not None:
        clearing = header.fr_clr_sys_prtry or header.fr_clr_sys_cd
        if clearing is not None and header.fr_clr_sys_prtry != RAAST_CLEARING_SYSTEM:
            return (
                f"AppHdr/Fr/FIId/FinInstnId/ClrSysMmbId/ClrSysId {clearing!r} is not this scheme: "
                f"give Prtry {RAAST_CLEARING_SYSTEM} or leave ClrSysId out"
            )
        if header.fr_mmb_id in (bic, bic[:8], bic[:4]):
            return None
        return (
            f"AppHdr/Fr/FIId/FinInstnId/ClrSysMmbId/MmbId {header.fr_mmb_id} is not {bic} "
            f"(your member id is your BIC or its bank code {bic[:4]})"
        )
    return "AppHdr/Fr must identify you by FIId/FinInstnId/BICFI or ClrSysMmbId/MmbId"


def related(header: AppHdr) -> RelatedHeader:
    """A header as the ``Rltd`` entry of another one (BusinessApplicationHeader5 holds its main fields)."""
    return RelatedHeader(**{name: getattr(header, name) for name in _RELATED_FIELDS})


def rail_header(
    *,
    rail_bic: str,
    to: AppHdr | str,
    msg_def_idr: str,
    biz_msg_idr: str,
    cre_dt: dt.datetime,
    about: AppHdr | None = None,
) -> AppHdr:
    """A header the rail writes: ``Fr`` the rail, ``To`` a participant (its BIC, or a header whose sender is
    addressed as it named itself), ``Rltd`` the header of the message this one answers or carries (``about``)."""
    if isinstance(to, str):
        addressee = {"to_bicfi": to}
    else:
        addressee = {
            "to_bicfi": to.fr_bicfi,
            "to_clr_sys_cd": to.fr_clr_sys_cd,
            "to_clr_sys_prtry": to.fr_clr_sys_prtry,
            "to_mmb_id": to.fr_mmb_id,
        }
    return AppHdr(
        fr_bicfi=rail_bic,
        **addressee,
        biz_msg_idr=biz_msg_idr,
        msg_def_idr=msg_def_idr,
        biz_svc=about.biz_svc if about is not None else None,
        cre_dt=cre_dt,
        rltd=[related(about)] if about is not None else [],
    )


def reply_header(
    request: AppHdr, *, rail_bic: str, msg_def_idr: str, biz_msg_idr: str, cre_dt: dt.datetime, to: str | None = None
) -> AppHdr:
    """The header of the rail's answer to a request that carried ``request`` (``to``: address the answer to
    this BIC rather than to the request's ``Fr``, when that named someone else)."""
    return rail_header(
        rail_bic=rail_bic,
        to=to or request,
        msg_def_idr=msg_def_idr,
        biz_msg_idr=biz_msg_idr,
        cre_dt=cre_dt,
        about=request,
    )


def forward_header(
    original: AppHdr, *, rail_bic: str, to_bic: str, biz_msg_idr: str, cre_dt: dt.datetime
) -> AppHdr:
    """The header of a message the rail forwards to ``to_bic``, whose sender wrote ``original``."""
    return rail_header(
        rail_bic=rail_bic,
        to=to_bic,
        msg_def_idr=original.msg_def_idr,
        biz_msg_idr=biz_msg_idr,
        cre_dt=cre_dt,
        about=original,
    )
