"""RailService: the one code path for everything a participant can do, whatever the transport.

HTTP handlers (rail/api/http.py) and in-process participants (participants/transport.py: the load harness's banks
and the sandbox's built-in counterparties, participants/sandbox.py) all call these methods; nothing that
decides what a payment does lives anywhere else.

The edge runs here, *before* the settlement core: hardened decode (admi.002 on failure), RAAST profile
validation (pacs.002 RJCT with the ISO reason and the element path), authorisation (a participant acts only as
itself: 403, nothing enqueued), and the extraction of the compact command the core applies. The core then does
only the microseconds of state-machine work that must be serialised (rail/settlement/core.py). Outbound messages are
built here too, lazily, from the inbox references the core produced, in the recipient's rendering.

HTTP status of a POST /v1/messages answer (the body is always an ISO 20022 message in the request's rendering):
    400 admi.002          unreadable, wrong namespace/root, malformed
    403 admi.002          the message names another participant as its sender
    422 pacs.002 RJCT     profile rule failure, or the rail rejected it (AM04, AM05, CNOR, AB06...)
    202 pacs.002 ACTC     accepted, in flight (or relayed to the counterparty: camt.056, camt.029, pain.013/014)
    200 pacs.002          a final status (ACSC/RJCT): with `Prefer: wait=N`, a resend of a finished payment,
                          a creditor's answer, a settled return; or pacs.002 for a pacs.028; acmt.024 for acmt.023
    404 pacs.002 RJCT     pacs.028 / answer for a payment the participant is not party to (or that does not exist)
    429 admi.002          rate limit (Retry-After)
    503 admi.002          the rail is overloaded or stopping (Retry-After)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import hashlib
import itertools
import logging
import math
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import ClassVar, Protocol

import msgspec
import orjson

from rail import iso20022
from rail.api.auth import TokenTable, admin_token_matches, new_token, token_hash
from rail.api.metrics import RailMetrics
from rail.api.webhooks import WebhookPusher
from rail.clock import REAL_CLOCK, Clock
from rail.iso20022 import MessageRejected, bah, forward
from rail.iso20022.builders import resolution
from rail.iso20022.profile import reason_text
from rail.iso20022.structs import (
    Acmt023,
    Acmt024,
    Admi002,
    AppHdr,
    Camt029,
    Camt056,
    Pacs002,
    Pacs004,
    Pacs008,
    Pacs028,
    Pain013,
    Pain014,
    TxInfAndSts,
    VrfctnRpt,
)
from rail.money import amount_problem
from rail.recent import RecentDict
from rail.scheme import Scheme, SchemeParams, check_scheme, default_scheme
from rail.settlement.core import (
    Ack,
    AddParticipant,
    AliasDelete,
    AliasRegister,
    CoreStopped,
    CreditorStatus,
    Liquidity,
    Overloaded,
    Redeliver,
    SetAdminToken,
    SetParams,
    SettlementCore,
    SubmitCreditTransfer,
    SubmitRecall,
    SubmitRequestToPay,
    SubmitRequestToPayStatus,
    SubmitResolution,
    SubmitReturn,
)
from rail.settlement.delivery import INBOX_FETCH_MAX
from rail.settlement.directory import RateLimiter
from rail.settlement.journal import FileJournal
from rail.settlement.payments import (
    IN_FLIGHT,
    REJECTED,
    SETTLED,
    CreditTransfer,
    Outcome,
    Participant,
    Payment,
    Settlement,
)

log = logging.getLogger(__name__)

WAIT_S_MAX = 30.0  # Prefer: wait=N and long-poll ceiling
# Final pacs.002 kept (as a struct and encoded per rendering) for the debtor, the creditor and resends: both
# agents read it within seconds, so 20,000 (20 s at 1,000 payments/s; ~3 KB each with its struct) is plenty.
FINAL_REPORTS_CACHED_MAX = 20_000
# Decoded pacs.008 kept from the edge until the creditor reads it, so in-process participants (inbox_structs)
# get the struct without a second parse of the debtor's bytes. ~3 KB each: a creditor reads within seconds,
# so 20,000 (20 s at 1,000 payments/s) is plenty and keeps them out of the memory per retained payment.
FORWARDED_STRUCTS_CACHED_MAX = 20_000
# Python's default first-generation GC threshold (700 allocations) makes the collector rescan the rail's
# millions of long-lived objects over and over: measured, half the in-process throughput. A larger threshold
# keeps collection (still needed for the odd cycle) a small share of the work.
GC_GENERATION0_THRESHOLD = 50_000
ADDTL_INF_MAX = 105  # StsRsnInf/AddtlInf is Max105Text
# A participant's own request rate limit: a real limit, neither a lock-out (1e-300/s) nor none at all.
REQUESTS_PER_S_MIN = 0.1
REQUESTS_PER_S_MAX = 1_000_000.0
REQUESTS_BURST_MAX = 10_000_000.0
CALLBACK_URL_CHARS_MAX = 2_048
_CONTENT_TYPES = iso20022.CONTENT_TYPES
_PACKER = msgspec.msgpack.Encoder()
_UNPACKERS = {
    "pacs.008": msgspec.msgpack.Decoder(Pacs008),
    "pacs.004": msgspec.msgpack.Decoder(Pacs004),
    "camt.056": msgspec.msgpack.Decoder(Camt056),
    "camt.029": msgspec.msgpack.Decoder(Camt029),
    "pain.013": msgspec.msgpack.Decoder(Pain013),
    "pain.014": msgspec.msgpack.Decoder(Pain014),
}
# "pacs.008" -> "pacs.008.001.08": the message versions the rail speaks, from the codec's one table.
MSG_NAMES = {msg_type[:8]: msg_type for msg_type in iso20022.MSG_TYPES}


class Reply:
    """One answer of the rail, transport-neutral: HTTP status, content type, body, extra headers.

    The body is rendered on first read: an HTTP edge always reads it, while an in-process participant that
    only needs the status (202 ACTC) never pays for rendering a message it would not look at."""

    __slots__ = ("_body", "_render", "content_type", "headers", "status")

    def __init__(
        self,
        status: int,
        content_type: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        render: Callable[[], bytes] | None = None,
    ) -> None:
        assert (body is None) != (render is None), "a reply has either a body or a way to render it"
        self.status = status
        self.content_type = content_type
        self.headers = headers if headers is not None else {}
        self._body = body
        self._render = render

    @property
    def body(self) -> bytes:
        if self._body is None:
            self._body = self._render()
            self._render = None
        return self._body

    def then(self, change: Callable[[bytes], bytes]) -> None:
        """Apply ``change`` to the body when it is rendered (e.g. add a business application header)."""
        if self._body is not None:
            body, self._body = self._body, None
            self._render = lambda: change(body)
        else:
            render = self._render
            self._render = lambda: change(render())

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.content_type!r}, {self.body[:120]!r}...)"


class Companion(Protocol):
    """Something the application runs beside the rail (the sandbox's simulated banks): told when a participant
    is admitted from outside, stopped before the rail closes."""

    async def participant_admitted(self, bic: str) -> None: ...

    async def stop(self) -> None: ...


class Accepted(msgspec.Struct, frozen=True, gc=False):
    """A message past the edge half of submit (decoded, schema- and profile-valid, a type the rail takes)."""

    msg_type: str
    rendering: str
    message: object
    raw_body: bytes | None  # the sender's bytes as received: kept, and forwarded whole (None: re-rendered)
    header: AppHdr | None = None  # the sender's business application header, if it sent one


def _utc(ns: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC)


_now_cache: list = [0, None]  # [millisecond, its datetime]


def _now_utc() -> dt.datetime:
    """Now, to the millisecond (CreDtTm of the rail's messages): one datetime object per millisecond, so
    the many reports of one core batch share it and its rendering (iso20022 remembers recent ones)."""
    ms = time.time_ns() // 1_000_000
    if ms != _now_cache[0]:
        _now_cache[0] = ms
        _now_cache[1] = dt.datetime.fromtimestamp(ms / 1e3, dt.UTC)
    return _now_cache[1]


def _short(text: str | None, limit: int = ADDTL_INF_MAX) -> str | None:
    return None if text is None else text[:limit]


def _alias_key(alias: str | None) -> str | None:
    """A Raast ID in its one stored form (+92...), or None when it is not a Pakistani mobile number."""
    if not alias or not isinstance(alias, str):
        return None
    try:
        return iso20022.normalise_pk_mobile(alias)
    except ValueError:
        return None


def _stored_format(message: bytes) -> str:
    """How a stored message is kept: the sender's own XML or JSON text, or, for messages the rail took before
    it kept them, msgpack of the decoded struct (a msgpack array or map never starts like text)."""
    head = message.lstrip(b" \t\r\n")
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:].lstrip(b" \t\r\n")
    return {b"<": "xml", b"{": "json"}.get(head[:1], "msgpack")


def _copy_msg_id(shared_msg_id: str, payment: Payment, to_bic: str) -> str:
    """MsgId of an agent's copy of a payment's final report: each copy is a message of its own (Max35Text)."""
    return shared_msg_id + ("D" if to_bic == payment.debtor_agent else "C")


def _inbox_id(bic: str, ref: tuple) -> str:
    """BizMsgIdr of the header on an inbox message: the same each time the message is read (it may be read
    again before it is acknowledged), different for every message and recipient (Max35Text). A forwarded
    pacs.008 is known by its UETR alone: the final reports name it in their Rltd header."""
    kind = ref[0]
    if kind == "pacs.008":
        identity = ref[:2]
    elif kind == "pacs.002":
        identity = ref
    else:  # (kind, key, message, at_ns): a payment may see several returns or recalls
        identity = (kind, ref[1], ref[3], hashlib.blake2b(ref[2], digest_size=16).digest())
    return "RAAST" + hashlib.blake2b(repr((bic, identity)).encode(), digest_size=15).hexdigest()


def _bic(bic: str | None) -> str | None:
    """A BIC from a message or a request, as the rail keeps it (SONEPKKAXXX is SONEPKKA)."""
    return iso20022.canonical_bic(bic) if isinstance(bic, str) else bic


def _rate_limit_problem(requests_per_s: object, requests_burst: object) -> str | None:
    """Why a participant's own rate limit is refused (None: it is fine); bounds keep both a real limit."""
    for name, value, low, high in (
        ("requests_per_s", requests_per_s, REQUESTS_PER_S_MIN, REQUESTS_PER_S_MAX),
        ("requests_burst", requests_burst, 1.0, REQUESTS_BURST_MAX),
    ):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return f"{name} must be a number"
        if not low <= value <= high:
            return f"{name} must be between {low:g} and {high:g} (got {value:g})"
    return None


def _rendering_of(content_type: str) -> str:
    return "json" if "json" in (content_type or "").lower() else "xml"


class RailService:
    """The rail as a library. Create with `await RailService.open(...)`; `close()` when done."""

    def __init__(self) -> None:
        self.scheme: Scheme
        self.metrics = RailMetrics()
        self.core: SettlementCore
        self.journal: FileJournal
        # The operator's token in clear only when given at this start or generated now (None when an earlier
        # start set it: only its hash is kept, journaled); admin_token_generated: print it for the operator.
        self.admin_token: str | None = None
        self.admin_token_generated = False
        self._admin_token_hash: str | None = None
        self._tokens = TokenTable()
        self._known_bics: set[str] = set()
        self._rate: RateLimiter
        self._alias_rate: RateLimiter
        self._companions: list[Companion] = []
        self._webhooks: dict[str, WebhookPusher] = {}
        self._temp_dir: str | None = None
        self._msg_ids = itertools.count(1)
        self._msg_id_prefix = f"RAAST{int(time.time()):010d}"
        self._final_reports: RecentDict = RecentDict(FINAL_REPORTS_CACHED_MAX)  # (uetr, status, rendering)
        self._final_report_structs: RecentDict = RecentDict(FINAL_REPORTS_CACHED_MAX)  # (uetr, status)
        self._forwarded: RecentDict = RecentDict(FORWARDED_STRUCTS_CACHED_MAX)  # uetr -> Pacs008
        self._closed = False

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    async def open(
        cls,
        data_dir: Path | None,
        *,
        scheme: Scheme | None = None,
        fsync: bool = True,
        admin_token: str | None = None,
        journal=None,
        takeover=None,
        clock: Clock = REAL_CLOCK,
        snapshots: bool = True,
        **params,
    ) -> RailService:
        """Open (recovering) the rail whose journal is in `data_dir` (None: a temporary directory).

        `params` override SchemeParams fields, e.g. `creditor_timeout_ms=300` for fast tests.
        `journal`: a Journal to use instead of the file journal in `data_dir` (the replicated one,
        rail/cluster/nats_journal.py). `takeover`: `async (scheme) -> Settlement`, the books of a standby core that
        has just become the leader (rail/cluster/failover.py): the core starts from them instead of replaying.
        `clock`, `snapshots`: the core's (rail/settlement/core.py); `rail simulate` runs the rail in simulated time.
        """
        self = cls()
        base = scheme or default_scheme()
        if params:
            unknown = set(params) - set(SchemeParams.__struct_fields__)
            if unknown:
                raise TypeError(f"unknown scheme parameters: {sorted(unknown)}")
            base = msgspec.structs.replace(base, params=msgspec.structs.replace(base.params, **params))
        check_scheme(base)
        if data_dir is None:
            self._temp_dir = tempfile.mkdtemp(prefix="rail-")
            data_dir = Path(self._temp_dir)
        if journal is None:
            # journal.id beside the journal: a journal that vanished is refused, not replaced by a new rail.
            data_dir = Path(data_dir)
            journal = FileJournal.open(
                data_dir / "journal", fsync=fsync, identity_file=data_dir / "journal.id"
            )
        self.journal = journal
        settlement = await takeover(base) if takeover is not None else None
        self.core = SettlementCore.open(
            self.journal, base, self.metrics, settlement=settlement, clock=clock, snapshots=snapshots
        )
        settlement = self.core.settlement
        self.scheme = msgspec.structs.replace(settlement.scheme, params=base.params)  # as SetParams makes it
        p = base.params
        self._rate = RateLimiter(p.requests_per_s, p.requests_burst)
        self._alias_rate = RateLimiter(p.alias_lookups_per_s, p.alias_lookups_burst)
        for participant in settlement.participants.values():
            self._known_bics.add(participant.bic)
            self._configure_rate_limit(participant)
            if participant.token_hash:
                self._tokens.install(participant.bic, participant.token_hash)
        iso20022.warm_up()  # schemas and JSON decoders: not on a participant's first message
        gc.set_threshold(max(gc.get_threshold()[0], GC_GENERATION0_THRESHOLD), 20, 100)
        gc.collect()  # garbage from recovery must not be frozen with it
        gc.freeze()  # what recovery built is long-lived: never rescan it
        self.core.start()
        if settlement.params != base.params:  # this start's parameters, journaled (replay applies them too)
            await self._execute(SetParams(params=base.params))
        await self._settle_admin_token(admin_token)
        for participant in list(settlement.participants.values()):
            if participant.callback_url:
                self._start_webhook(participant.bic, participant.callback_url)
        return self

    @classmethod
    def for_edge(cls, scheme: Scheme, known_bics: list[str], msg_id_prefix: str) -> RailService:
        """A service that runs only `accept` (and answers refusals), in an edge worker without a core."""
        self = cls()
        self.scheme = scheme
        self._known_bics = set(known_bics)
        self._msg_id_prefix = msg_id_prefix
        iso20022.warm_up()
        return self

    def set_known_bics(self, known_bics: list[str]) -> None:
        """An edge learns participants added at the core."""
        self._known_bics = set(known_bics)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        companions, self._companions = self._companions, []
        for companion in companions:
            await companion.stop()
        for pusher in list(self._webhooks.values()):
            await pusher.stop()
        self._webhooks.clear()
        await self.core.stop()
        self.journal.close()
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)

    def add_companion(self, companion: Companion) -> None:
        """Run `companion` beside the rail: told of admissions, stopped (first) by close()."""
        self._companions.append(companion)

    async def simulated_participants(self) -> list[str]:
        """The default-scheme banks no external client has taken over (the sandbox simulates them)."""
        return await self.core.query(lambda s: [p.bic for p in s.participants.values() if p.simulated])

    def _start_webhook(self, bic: str, url: str) -> None:
        async def page(bic_: str, max_n: int) -> dict:
            return self.inbox_page(bic_, max_n)

        pusher = WebhookPusher(bic, self.core.settlement.inboxes[bic], page, self.ack, url)
        self._webhooks[bic] = pusher
        pusher.start()

    # ------------------------------------------------------------------ identity

    def authenticate(self, token: str) -> str | None:
        return self._tokens.authenticate(token)

    def is_admin(self, token: str) -> bool:
        return admin_token_matches(self._admin_token_hash, token)

    async def _settle_admin_token(self, given: str | None) -> None:
        """The operator's token: the one given, else the one an earlier start set (journaled as its hash, so
        a restart keeps it), else a new one (generated, journaled, and shown once by `rail serve`)."""
        stored = self.core.settlement.admin_token_hash
        if given:
            self.admin_token = given
        elif stored is None:
            self.admin_token = new_token()
            self.admin_token_generated = True
        self._admin_token_hash = token_hash(self.admin_token) if self.admin_token else stored
        if self._admin_token_hash != stored:
            await self._execute(SetAdminToken(token_hash=self._admin_token_hash))

    def rate_limit(self, bic: str) -> float:
        """0.0 when the request may proceed, else seconds to wait (the HTTP layer answers 429 Retry-After)."""
        wait_s = self._rate.take(bic)
        if wait_s:
            self.metrics.rate_limited.labels("requests").inc()
        return wait_s

    def _configure_rate_limit(self, participant: Participant | None) -> None:
        if participant is not None and participant.requests_per_s is not None:
            self._rate.configure(
                participant.bic, participant.requests_per_s, participant.requests_burst or 1.0
            )

    @property
    def participants(self) -> list[str]:
        return sorted(self._known_bics)

    # ------------------------------------------------------------------ admin

    async def add_participant(
        self,
        bic: str,
        name: str,
        callback_url: str | None = None,
        requests_per_s: float | None = None,
        requests_burst: float | None = None,
    ) -> str:
        """Admit (or re-key) a participant; returns its new bearer token, stored hashed. `requests_per_s` /
        `requests_burst`: its own rate limit instead of the scheme's default, journaled with it."""
        if not isinstance(bic, str) or not iso20022.bic_is_valid(bic):
            raise ValueError("bic must be a BIC (8 or 11 characters, e.g. TESTPKKA)")
        bic = _bic(bic)
        if bic == self.scheme.central_bank_bic:
            raise ValueError("the central bank is the operator, not a participant")
        if callback_url is not None and (
            not isinstance(callback_url, str)
            or len(callback_url) > CALLBACK_URL_CHARS_MAX
            or not re.match(r"https?://[^\s]+\Z", callback_url)
        ):
            raise ValueError(
                f"callback_url must be an http(s) URL of at most {CALLBACK_URL_CHARS_MAX} characters"
            )
        problem = _rate_limit_problem(requests_per_s, requests_burst)
        if problem is not None:
            raise ValueError(problem)
        token = new_token()
        hashed = token_hash(token)
        if requests_per_s is not None or requests_burst is not None:
            params = self.scheme.params
            requests_per_s = float(requests_per_s or params.requests_per_s)
            requests_burst = float(requests_burst or max(1.0, requests_per_s))
        outcome = await self._execute(
            AddParticipant(
                bic=bic,
                name=str(name or bic)[:140],
                token_hash=hashed,
                callback_url=callback_url,
                requests_per_s=requests_per_s,
                requests_burst=requests_burst,
            )
        )
        self._configure_rate_limit(outcome.detail)
        self._tokens.install(bic, hashed)
        self._known_bics.add(bic)
        for companion in self._companions:
            await companion.participant_admitted(bic)  # e.g. the simulator of a default bank stands down
        pusher = self._webhooks.pop(bic, None)
        if pusher is not None:
            await pusher.stop()
        if callback_url:
            self._start_webhook(bic, callback_url)
        return token

    async def liquidity(self, bic: str, amount_paisa: int, direction: str) -> dict:
        if not isinstance(bic, str) or not isinstance(direction, str):
            raise ValueError("bic and direction must be strings")  # noqa: TRY004 - shown as HTTP 422
        bic = _bic(bic)
        problem = amount_problem(amount_paisa)
        if problem is not None:
            raise ValueError(problem)
        outcome = await self._execute(Liquidity(bic=bic, amount_paisa=amount_paisa, direction=direction))
        ok = outcome.kind == "done"
        result = {"bic": bic, "direction": direction, "amount": amount_paisa, "ok": ok}
        if ok:
            result["posted_paisa"] = outcome.detail  # as of this transfer, which is durable now
        else:
            result.update(reason=outcome.reason, text=outcome.text)
        return result

    async def balances(self) -> dict:
        """Every settlement account, as of the last durable batch (read in the core's order)."""
        return await self.core.query(Settlement.balances)

    async def redeliver(self, uetr: str) -> dict:
        """Deliver a forwarded pacs.008 to its creditor agent once more (admin; for testing duplicate handling)."""
        if not isinstance(uetr, str) or not uetr:
            raise ValueError("uetr must be the UETR of a forwarded payment")
        outcome = await self._execute(Redeliver(uetr=uetr))
        if outcome.kind != "done":
            return {"ok": False, "uetr": uetr, "reason": outcome.reason, "text": outcome.text}
        return {"ok": True, "uetr": uetr, "creditor_agent": outcome.payment.creditor_agent}

    async def _execute(self, command) -> Outcome:
        return await self.core.execute(command)

    # ------------------------------------------------------------------ aliases

    async def register_alias(self, bic: str, alias: str, iban: str, holder_name: str) -> dict:
        """Link a Raast ID (mobile number, any Pakistani form; stored as +92...) to one of `bic`'s IBANs."""
        normalised = _alias_key(alias)
        if normalised is None:
            return {
                "ok": False,
                "reason": "AC01",
                "text": "alias must be a Pakistani mobile number (+92 3XX...)",
            }
        if not isinstance(iban, str) or not iso20022.iban_is_valid(iban) or not iban.startswith("PK"):
            return {"ok": False, "reason": "AC01", "text": "iban is not a valid Pakistani IBAN"}
        if iban[4:8] != bic[:4]:
            return {
                "ok": False,
                "reason": "AGNT",
                "text": "a participant links aliases to its own IBANs only",
            }
        outcome = await self._execute(
            AliasRegister(sender=bic, alias=normalised, iban=iban, name=str(holder_name)[:140])
        )
        if outcome.kind != "done":
            return {"ok": False, "reason": outcome.reason, "text": outcome.text}
        return {"ok": True, "alias": normalised, "iban": iban, "agent": bic}

    async def delete_alias(self, bic: str, alias: str) -> dict:
        normalised = _alias_key(alias) or str(alias)
        outcome = await self._execute(AliasDelete(sender=bic, alias=normalised))
        if outcome.kind != "done":
            return {"ok": False, "reason": outcome.reason, "text": outcome.text}
        return {"ok": True, "alias": normalised}

    # ------------------------------------------------------------------ messages

    async def submit(self, bic: str, body: bytes, content_type: str, wait_s: float | None = None) -> Reply:
        """POST /v1/messages: one ISO 20022 message from participant `bic` (already authenticated)."""
        accepted = self.accept(bic, body, content_type)
        if isinstance(accepted, Reply):
            return accepted
        return await self.dispatch(bic, accepted, wait_s)

    def accept(self, bic: str, body: bytes, content_type: str) -> Reply | Accepted:
        """The edge half of submit: decode, RAAST profile, message type. Touches no settlement state, so edge
        worker processes run it too (rail/cluster/edge.py); a refusal is the Reply, else what dispatch needs."""
        started_s = time.perf_counter()
        if bic not in self._known_bics or bic == self.scheme.central_bank_bic:
            return self.admi002_reply(
                403, _rendering_of(content_type), None, "AUTH", f"{bic} is not a participant of this rail"
            )
        try:
            decoded = iso20022.decode(body, content_type)
        except MessageRejected as exc:
            self.metrics.messages_rejected.labels(exc.reason_code).inc()
            return self.admi002_reply(
                400,
                _rendering_of(content_type),
                exc.related_ref,
                exc.reason_code,
                exc.description,
                exc.error_location,
            )
        message = decoded.message
        rendering = decoded.rendering
        msg_type = decoded.msg_type[:8]
        header = decoded.header
        self.metrics.messages_received.inc((msg_type, rendering))
        if header is not None:
            problem = bah.sender_problem(header, bic)
            if problem is not None:
                return self.with_reply_header(
                    self._forbidden(rendering, header.biz_msg_idr, problem), header, to_bic=bic
                )
        violations = iso20022.validate(message, iso20022.RAAST_PROFILE, self._known_bics)
        if violations:
            first = violations[0]
            self.metrics.messages_rejected.labels(first.code).inc()
            text = reason_text(violations)
            reply = self._reject(422, message, msg_type, rendering, bic, first.code, text)
            return self.with_reply_header(reply, header)
        self.metrics.observe_edge(time.perf_counter() - started_s)
        handler = self._handlers.get(msg_type)
        if handler is None:
            reply = self.admi002_reply(
                400,
                rendering,
                getattr(message, "msg_id", None),
                "FF01",
                f"{decoded.msg_type} is not accepted by the rail from participants (the rail sends it)",
            )
            return self.with_reply_header(reply, header)
        # The sender's own bytes travel with the message: the rail keeps them and forwards them whole.
        return Accepted(msg_type, rendering, message, body, header)

    async def dispatch(self, bic: str, accepted: Accepted, wait_s: float | None = None) -> Reply:
        """The core half of submit: what the rail does with an accepted message (runs beside the core)."""
        msg_type, rendering, message = accepted.msg_type, accepted.rendering, accepted.message
        raw = accepted.raw_body
        if msg_type == "pacs.008":
            handler_call = self._on_pacs008(bic, message, rendering, wait_s, (raw, rendering) if raw else None)
        else:
            handler_call = self._handlers[msg_type](self, bic, message, rendering, wait_s, raw)
        try:
            reply = await handler_call
        except (Overloaded, CoreStopped) as exc:
            reply = self._unavailable(exc, message, rendering)
        return self.with_reply_header(reply, accepted.header)

    def with_reply_header(self, reply: Reply, request: AppHdr | None, to_bic: str | None = None) -> Reply:
        """``reply`` with the rail's business application header when the request carried one (Fr the rail,
        To the requester, Rltd the request's header: rail/iso20022/bah.py)."""
        if request is None:
            return reply
        rendering = iso20022.JSON if "json" in reply.content_type else iso20022.XML

        def add(body: bytes) -> bytes:
            header = bah.reply_header(
                request,
                rail_bic=self.scheme.central_bank_bic,
                msg_def_idr=forward.msg_type_of(body, rendering),
                biz_msg_idr=self._new_msg_id(),
                cre_dt=_now_utc(),
                to=to_bic,
            )
            return forward.with_header(body, rendering, header)

        reply.then(add)
        return reply

    def _unavailable(self, exc: Overloaded | CoreStopped, message, rendering: str) -> Reply:
        """503 when the core sheds load (retry in a second) or is not running (retry later)."""
        retry_after_s = "1" if isinstance(exc, Overloaded) else "5"
        return self.admi002_reply(
            503,
            rendering,
            getattr(message, "msg_id", None),
            "AB10",
            str(exc),
            headers={"Retry-After": retry_after_s},
        )

    async def submit_many(self, bic: str, bodies: list[bytes], content_type: str) -> list[Reply]:
        """Several messages from participant `bic` (in-process), answered in order: what a bank does with a page
        of its inbox. Its status reports on forwarded payments (pacs.002) go to the core together, one future
        each and no task per message, so they land in one batch; any other message takes `submit`'s path."""
        replies: list[Reply | None] = [None] * len(bodies)
        waiting: list[tuple[int, Pacs002, str, asyncio.Future]] = []
        for index, body in enumerate(bodies):
            accepted = self.accept(bic, body, content_type)
            if isinstance(accepted, Reply):
                replies[index] = accepted
                continue
            if accepted.msg_type != "pacs.002" or accepted.header is not None:
                replies[index] = await self.dispatch(bic, accepted)
                continue
            message, rendering = accepted.message, accepted.rendering
            command = self._creditor_status(bic, message, rendering)
            if isinstance(command, Reply):
                replies[index] = command
                continue
            try:
                waiting.append((index, message, rendering, self.core.execute(command)))
            except (Overloaded, CoreStopped) as exc:
                replies[index] = self._unavailable(exc, message, rendering)
        for index, message, rendering, future in waiting:
            try:
                outcome = await future
            except (Overloaded, CoreStopped) as exc:
                replies[index] = self._unavailable(exc, message, rendering)
                continue
            replies[index] = self._outcome_reply(outcome, message, "pacs.002", rendering, bic)
        return replies

    async def _on_pacs008(
        self, bic: str, m: Pacs008, rendering: str, wait_s: float | None, raw: tuple[bytes, str] | None = None
    ) -> Reply:
        tx = m.tx
        if _bic(tx.instg_agt_bicfi) != bic or _bic(tx.dbtr_agt_bicfi) != bic:
            return self._forbidden(
                rendering,
                m.msg_id,
                f"InstgAgt/DbtrAgt must be {bic}, the authenticated "
                f"participant (got {tx.instg_agt_bicfi}/{tx.dbtr_agt_bicfi})",
            )
        own_inbox = self.core.settlement.inboxes.get(bic)
        if own_inbox is not None and len(own_inbox) >= self.scheme.params.inbox_messages_max:
            # Shed load at the edge: a debtor agent that does not take its status reports gets no new payments.
            return self.admi002_reply(
                503,
                rendering,
                m.msg_id,
                "AB10",
                "your inbox is full: read and acknowledge GET /v1/inbox before sending more payments",
                headers={"Retry-After": "1"},
            )
        ct = CreditTransfer(
            uetr=tx.uetr or "",
            tx_id=tx.tx_id or "",
            msg_id=m.msg_id,
            end_to_end_id=tx.end_to_end_id,
            instructing_agent=bic,
            debtor_agent=bic,
            creditor_agent=_bic(tx.cdtr_agt_bicfi) or "",
            amount_paisa=tx.amount_paisa,
            debtor_iban=tx.dbtr_acct_iban or "",
            creditor_iban=tx.cdtr_acct_iban or "",
            acceptance_ns=int(tx.accptnc_dt_tm.timestamp() * 1e9) if tx.accptnc_dt_tm else 0,
        )
        if raw is not None:
            command = SubmitCreditTransfer(
                sender=bic, rendering=rendering, ct=ct, message=raw[0], message_format=raw[1]
            )
        else:
            command = SubmitCreditTransfer(sender=bic, rendering=rendering, ct=ct, message=_PACKER.encode(m))
        forwarded = self._forwarded
        fresh = ct.uetr not in forwarded
        if fresh:  # before the core runs: the creditor may read its inbox before this coroutine resumes
            forwarded.remember(ct.uetr, m)
        try:
            outcome = await self.core.execute(command)
        except BaseException:
            if fresh:
                forwarded.pop(ct.uetr, None)
            raise
        payment = outcome.payment
        if fresh and outcome.kind != "accepted":
            forwarded.pop(ct.uetr, None)
        if outcome.kind == "unavailable":  # at its retention limit: nothing recorded, retry later
            return self.admi002_reply(
                503, rendering, m.msg_id, outcome.reason, outcome.text, headers={"Retry-After": "60"}
            )
        if outcome.kind == "rejected":
            if payment is None:  # AM05: a different message under a used id; nothing recorded
                return self._reject(422, m, "pacs.008", rendering, bic, outcome.reason, outcome.text)
            return self._status_reply(422, payment, bic, rendering, outcome)
        # The status as of this command (durable now), never the live payment's: a later batch may have moved
        # it on without being durable yet.
        status = (outcome.status, outcome.reason, outcome.text)
        if wait_s and status[0] == IN_FLIGHT:
            status = await self.core.wait_final(payment, min(wait_s, WAIT_S_MAX)) or status
        reply = self._status_reply(
            202 if status[0] == IN_FLIGHT else (422 if payment.transfer_id == 0 else 200),
            payment,
            bic,
            rendering,
            status,
        )
        if wait_s is not None:  # RFC 7240: the wait preference is honoured for a credit transfer
            reply.headers = {**reply.headers, "Preference-Applied": f"wait={min(wait_s, WAIT_S_MAX):g}"}
        return reply

    def _creditor_status(self, bic: str, m: Pacs002, rendering: str) -> Reply | CreditorStatus:
        """A creditor agent's pacs.002, checked: the refusal to answer, or the command for the core."""
        if not m.tx_inf_and_sts:
            return self._reject(422, m, "pacs.002", rendering, bic, "FF01", "TxInfAndSts is required")
        tx = m.tx
        sender = _bic(tx.instg_agt_bicfi or m.instg_agt_bicfi) or bic
        if sender != bic:
            return self._forbidden(
                rendering, m.msg_id, f"InstgAgt must be {bic}, the authenticated participant"
            )
        if not tx.orgnl_uetr or not tx.tx_sts:
            return self._reject(
                422, m, "pacs.002", rendering, bic, "FF01", "OrgnlUETR and TxSts are required"
            )
        return CreditorStatus(
            sender=bic,
            uetr=tx.orgnl_uetr,
            status=tx.tx_sts,
            reason=tx.sts_rsn_cd or tx.sts_rsn_prtry,
            text=tx.sts_rsn_addtl_inf,
        )

    async def _on_pacs002(
        self, bic: str, m: Pacs002, rendering: str, wait_s: float | None, raw: bytes | None = None
    ) -> Reply:
        command = self._creditor_status(bic, m, rendering)
        if isinstance(command, Reply):
            return command
        outcome = await self.core.execute(command)
        return self._outcome_reply(outcome, m, "pacs.002", rendering, bic)

    async def _on_pacs028(
        self, bic: str, m: Pacs028, rendering: str, wait_s: float | None, raw: bytes | None = None
    ) -> Reply:
        if not m.tx_inf:
            return self._reject(422, m, "pacs.028", rendering, bic, "FF01", "TxInf is required")
        tx = m.tx
        uetr, tx_id = tx.orgnl_uetr, tx.orgnl_tx_id

        def find(s) -> tuple[Payment, tuple] | None:
            uetr_found = uetr or s.payments.uetr_of(bic, tx_id or "")
            p = s.payments.get(uetr_found or "")
            if p is None or bic not in (p.debtor_agent, p.creditor_agent):
                return None
            return p, (p.status, p.reason, p.reason_text)  # as of this batch: answered once it is durable

        found = await self.core.query(find)
        if found is None:
            return self._reject(
                404, m, "pacs.028", rendering, bic, "NOOR", "no such payment for this participant"
            )
        # A new report answering this request (its own MsgId and CreDtTm), never a copy of an earlier one.
        return self._status_reply(200, found[0], bic, rendering, found[1], pending_code="PDNG", fresh=True)

    async def _on_pacs004(
        self, bic: str, m: Pacs004, rendering: str, wait_s: float | None, raw: bytes | None = None
    ) -> Reply:
        if not m.tx_inf:
            return self._reject(422, m, "pacs.004", rendering, bic, "FF01", "TxInf is required")
        tx = m.tx
        if (_bic(tx.instg_agt_bicfi) or bic) != bic:
            return self._forbidden(
                rendering, m.msg_id, f"InstgAgt must be {bic}, the authenticated participant"
            )
        if not tx.orgnl_uetr:
            return self._reject(422, m, "pacs.004", rendering, bic, "FF01", "OrgnlUETR is required")
        outcome = await self._execute(
            SubmitReturn(
                sender=bic,
                rendering=rendering,
                return_id=tx.rtr_id or m.msg_id,
                uetr=tx.orgnl_uetr,
                amount_paisa=tx.amount_paisa,
                reason=tx.rtr_rsn_cd or tx.rtr_rsn_prtry or "MS03",
                message=raw or _PACKER.encode(m),
            )
        )
        return self._outcome_reply(outcome, m, "pacs.004", rendering, bic)

    async def _on_camt056(
        self, bic: str, m: Camt056, rendering: str, wait_s: float | None, raw: bytes | None = None
    ) -> Reply:
        if _bic(m.assgnr_bicfi) != bic:
            return self._forbidden(
                rendering, m.assgnmt_id, f"Assgnr must be {bic}, the authenticated participant"
            )
        if not m.tx_inf or not m.tx.orgnl_uetr:
            return self._reject(
                422, m, "camt.056", rendering, bic, "FF01", "Undrlyg/TxInf/OrgnlUETR is required"
            )
        tx = m.tx
        outcome = await self._execute(
            SubmitRecall(
                sender=bic,
                rendering=rendering,
                cancellation_id=tx.cxl_id or m.assgnmt_id,
                uetr=tx.orgnl_uetr,
                reason=tx.cxl_rsn_cd or tx.cxl_rsn_prtry or "CUST",
                message=raw or _PACKER.encode(m),
            )
        )
        if outcome.kind == "rejected":  # the rail itself refuses the recall (camt.029 RJCR, to its assigner)
            answer = resolution(
                m,
                assgnmt_id=self._new_msg_id(),
                rsn_cd=outcome.reason,
                addtl_inf=outcome.text,
                cre_dt_tm=_now_utc(),
                assgnr_bicfi=self.scheme.central_bank_bic,
            )
            return self._encoded(422, answer, rendering)
        return self._outcome_reply(outcome, m, "camt.056", rendering, bic)

    async def _on_camt029(
        self, bic: str, m: Camt029, rendering: str, wait_s: float | None, raw: bytes | None = None
    ) -> Reply:
        if _bic(m.assgnr_bicfi) != bic:
            return self._forbidden(
                rendering, m.assgnmt_id, f"Assgnr must be {bic}, the authenticated participant"
            )
        if not m.tx_inf_and_sts or not m.tx.orgnl_uetr:
            return self._reject(
                422, m, "camt.029", rendering, bic, "FF01", "TxInfAndSts/OrgnlUETR is required"
            )
        tx = m.tx
        status = tx.tx_cxl_sts or iso20022.codes.RECALL_STATES.get(m.sts_conf or "")
        if status is None:
            text = "say whether the recall is refused, pending or accepted: TxCxlSts RJCR, PDCR or ACCR"
            return self._reject(422, m, "camt.029", rendering, bic, "FF01", text)
        outcome = await self._execute(
            SubmitResolution(
                sender=bic,
                rendering=rendering,
                uetr=tx.orgnl_uetr,
                status=status,
                reason=tx.cxl_sts_rsn_cd or tx.cxl_sts_rsn_prtry,
                message=raw or _PACKER.encode(m),
            )
        )
        return self._outcome_reply(outcome, m, "camt.029", rendering, bic)

    async def _on_pain013(
        self, bic: str, m: Pain013, rendering: str, wait_s: float | None, raw: bytes | None = None
    ) -> Reply:
        tx = m.tx
        if _bic(tx.cdtr_agt_bicfi) != bic:
            return self._forbidden(
                rendering, m.msg_id, f"CdtrAgt must be {bic}: a request to pay comes from the payee's agent"
            )
        outcome = await self._execute(
            SubmitRequestToPay(
                sender=bic,
                rendering=rendering,
                msg_id=m.msg_id,
                payer_agent=_bic(tx.dbtr_agt_bicfi) or "",
                message=raw or _PACKER.encode(m),
            )
        )
        return self._outcome_reply(outcome, m, "pain.013", rendering, bic)

    async def _on_pain014(
        self, bic: str, m: Pain014, rendering: str, wait_s: float | None, raw: bytes | None = None
    ) -> Reply:
        if (_bic(m.dbtr_agt_bicfi) or bic) != bic:
            return self._forbidden(rendering, m.msg_id, f"DbtrAgt must be {bic}: the payer's agent answers")
        tx = m.tx if m.orgnl_pmt_inf_and_sts else None
        outcome = await self._execute(
            SubmitRequestToPayStatus(
                sender=bic,
                rendering=rendering,
                original_msg_id=m.orgnl_msg_id,
                status=(tx.tx_sts if tx else None) or m.grp_sts or "RJCT",
                reason=(tx.sts_rsn_cd or tx.sts_rsn_prtry) if tx else None,
                message=raw or _PACKER.encode(m),
                payee_agent=_bic(m.cdtr_agt_bicfi),
            )
        )
        return self._outcome_reply(outcome, m, "pain.014", rendering, bic)

    async def _on_acmt023(
        self, bic: str, m: Acmt023, rendering: str, wait_s: float | None, raw: bytes | None = None
    ) -> Reply:
        if _bic(m.assgnr_bicfi) != bic:
            return self._forbidden(
                rendering, m.msg_id, f"Assgnr must be {bic}, the authenticated participant"
            )
        retry_s = self._alias_rate.take(bic)
        if retry_s:
            self.metrics.rate_limited.labels("alias_lookups").inc()
            return self.admi002_reply(
                429,
                rendering,
                m.msg_id,
                "AM18",
                "alias lookup rate limit reached (anti-scanning); retry later",
                headers={"Retry-After": str(max(1, int(retry_s + 0.999)))},
            )
        lookups = [(v.id, v.acct_prxy_id, v.acct_iban) for v in m.vrfctn]

        def resolve(s):
            out = []
            for _id, proxy, iban in lookups:
                key = _alias_key(proxy)
                out.append(s.directory.resolve(key) if key else None)
            return out

        entries = await self.core.query(resolve)
        reports = []
        for (vid, proxy, iban), entry in zip(lookups, entries):
            if entry is None:
                reports.append(
                    VrfctnRpt(
                        orgnl_id=vid,
                        vrfctn=False,
                        rsn_cd="AC01",
                        orgnl_acct_prxy_tp_cd="MBNO",
                        orgnl_acct_prxy_id=proxy,
                        orgnl_acct_iban=iban,
                    )
                )
            else:
                reports.append(
                    VrfctnRpt(
                        orgnl_id=vid,
                        vrfctn=True,
                        orgnl_acct_prxy_tp_cd="MBNO",
                        orgnl_acct_prxy_id=proxy,
                        updtd_pty_nm=entry.holder_name,
                        updtd_acct_iban=entry.iban,
                        updtd_acct_nm=entry.holder_name,
                        updtd_agt_bicfi=entry.agent_bic,
                    )
                )
        answer = Acmt024(
            msg_id=self._new_msg_id(),
            cre_dt_tm=_now_utc(),
            assgnr_bicfi=self.scheme.central_bank_bic,
            assgne_bicfi=bic,
            orgnl_msg_id=m.msg_id,
            orgnl_cre_dt_tm=m.cre_dt_tm,
            rpt=reports,
        )
        return self._encoded(200, answer, rendering)

    _handlers: ClassVar[dict] = {
        "pacs.008": _on_pacs008,
        "pacs.002": _on_pacs002,
        "pacs.028": _on_pacs028,
        "pacs.004": _on_pacs004,
        "camt.056": _on_camt056,
        "camt.029": _on_camt029,
        "pain.013": _on_pain013,
        "pain.014": _on_pain014,
        "acmt.023": _on_acmt023,
    }

    # ------------------------------------------------------------------ replies

    def _new_msg_id(self) -> str:
        return f"{self._msg_id_prefix}{next(self._msg_ids):012d}"

    def _encoded(self, status: int, message, rendering: str, headers: dict | None = None) -> Reply:
        return Reply(
            status,
            _CONTENT_TYPES[rendering],
            headers=headers,
            render=partial(iso20022.encode, message, rendering),
        )

    def admi002_reply(
        self,
        status: int,
        rendering: str,
        related_ref: str | None,
        code: str,
        text: str,
        location: str | None = None,
        headers: dict | None = None,
    ) -> Reply:
        """An admi.002 answer: the message cannot be processed as a business message (or is not allowed)."""
        reject = Admi002(
            rltd_ref=(related_ref or "UNKNOWN")[:35],
            rjctg_pty_rsn=code[:35],
            rjctn_dt_tm=_now_utc(),
            err_lctn=_short(location, 350),
            rsn_desc=_short(text, 350),
        )
        return self._encoded(status, reject, rendering, headers)

    def _forbidden(self, rendering: str, related_ref: str | None, text: str) -> Reply:
        self.metrics.messages_rejected.labels("AUTH").inc()
        return self.admi002_reply(403, rendering, related_ref, "AUTH", text)

    def _reject(
        self, status: int, m, msg_type: str, rendering: str, bic: str, code: str, text: str | None
    ) -> Reply:
        """A pacs.002 RJCT for a message the rail refuses, with as many original ids as it carries."""
        return self._encoded(status, self._report_about(m, msg_type, bic, REJECTED, code, text), rendering)

    def _report_about(
        self, m, msg_type: str, bic: str, tx_status: str, code: str | None, text: str | None
    ) -> Pacs002:
        """A pacs.002 about any inbound message (not only pacs.008), from the rail to `bic`."""
        tx = None
        for name in ("cdt_trf_tx_inf", "tx_inf", "tx_inf_and_sts", "pmt_inf"):
            items = getattr(m, name, None)
            if items:
                tx = items[0]
                break
        return Pacs002(
            msg_id=self._new_msg_id(),
            cre_dt_tm=_now_utc(),
            instg_agt_bicfi=self.scheme.central_bank_bic,
            instd_agt_bicfi=bic,
            tx_inf_and_sts=[
                TxInfAndSts(
                    orgnl_msg_id=getattr(m, "msg_id", None) or getattr(m, "assgnmt_id", None),
                    orgnl_msg_nm_id=MSG_NAMES.get(msg_type, msg_type),
                    orgnl_end_to_end_id=getattr(tx, "end_to_end_id", None)
                    or getattr(tx, "orgnl_end_to_end_id", None),
                    orgnl_tx_id=getattr(tx, "tx_id", None) or getattr(tx, "orgnl_tx_id", None),
                    orgnl_uetr=getattr(tx, "uetr", None) or getattr(tx, "orgnl_uetr", None),
                    tx_sts=tx_status,
                    sts_rsn_cd=code,
                    sts_rsn_addtl_inf=_short(text),
                )
            ],
        )

    def _outcome_reply(self, outcome: Outcome, m, msg_type: str, rendering: str, bic: str) -> Reply:
        kind = outcome.kind
        if kind == "forbidden":
            return self._forbidden(rendering, getattr(m, "msg_id", None), outcome.text or "forbidden")
        if kind == "not_found":
            return self._reject(404, m, msg_type, rendering, bic, outcome.reason or "NOOR", outcome.text)
        if kind == "rejected":
            return self._reject(422, m, msg_type, rendering, bic, outcome.reason or "MS03", outcome.text)
        if (
            msg_type in ("pacs.002", "pacs.004")
            and outcome.payment is not None
            and kind in ("final", "duplicate")
        ):
            if msg_type == "pacs.004":
                return self._acknowledge(200, m, msg_type, rendering, bic, SETTLED)
            return self._status_reply(200, outcome.payment, bic, rendering, outcome)
        if msg_type == "pacs.002" and kind == "accepted":
            return self._status_reply(202, outcome.payment, bic, rendering, outcome, pending_code="PDNG")
        return self._acknowledge(202, m, msg_type, rendering, bic, "ACTC")

    def _acknowledge(self, status: int, m, msg_type: str, rendering: str, bic: str, tx_status: str) -> Reply:
        """pacs.002 about a non-payment message (relayed: ACTC; a settled return: ACSC)."""
        return self._encoded(status, self._report_about(m, msg_type, bic, tx_status, None, None), rendering)

    def _status_reply(
        self,
        http_status: int,
        payment: Payment,
        bic: str,
        rendering: str,
        status: Outcome | tuple,
        pending_code: str = "ACTC",
        *,
        fresh: bool = False,
    ) -> Reply:
        """A pacs.002 on ``payment`` for ``bic`` with ``status``: (status, reason, text) as captured when its
        batch was applied (an Outcome carries them), never read from the live payment. Its copy of the final
        report once there is one (the same message a resend or its inbox gets), else, or when ``fresh`` (the
        answer to a pacs.028), a new report with its own MsgId and CreDtTm."""
        if isinstance(status, Outcome):
            status = (status.status, status.reason, status.text)
        if status[0] != IN_FLIGHT and not fresh:
            render = partial(self._final_report, payment, *status, rendering, bic)
            return Reply(http_status, _CONTENT_TYPES[rendering], render=render)
        # The report says only what cannot change any more (a final status; or ids, acceptance, the
        # reservation), so it is built when first read, even if the payment has become final by then.
        render = partial(self._render_report, payment, status, bic, pending_code, rendering)
        return Reply(http_status, _CONTENT_TYPES[rendering], render=render)

    def _render_report(
        self, payment: Payment, status: tuple, bic: str, pending_code: str, rendering: str
    ) -> bytes:
        code, reason, text = status
        if code == IN_FLIGHT:
            report = self._status_report(payment, bic, IN_FLIGHT, None, text, pending_code)
        else:
            report = self._status_report(payment, bic, code, reason, text)
        return iso20022.encode(report, rendering)

    def _final_report(
        self, p: Payment, status: str, reason: str | None, text: str | None, rendering: str, to_bic: str
    ) -> bytes:
        """``to_bic``'s copy of the final pacs.002 of a payment. The report is encoded once per rendering (the
        status is final, so it never changes) and each agent's copy differs only in its MsgId, spliced in."""
        key = (p.uetr, status, rendering)
        body = self._final_reports.get(key)
        shared = self._shared_final_report(p, status, reason, text)
        if body is None:
            body = iso20022.encode(shared, rendering)
            self._final_reports.remember(key, body)
        copy_id = _copy_msg_id(shared.msg_id, p, to_bic).encode()
        mark = b">" if rendering == iso20022.XML else b'"'
        return body.replace(mark + shared.msg_id.encode() + mark, mark + copy_id + mark, 1)

    def _final_report_struct(
        self, p: Payment, status: str, reason: str | None, text: str | None, to_bic: str
    ) -> Pacs002:
        """``to_bic``'s final pacs.002 as a struct (what in-process readers get): its own MsgId."""
        shared = self._shared_final_report(p, status, reason, text)
        return msgspec.structs.replace(shared, msg_id=_copy_msg_id(shared.msg_id, p, to_bic))

    def _shared_final_report(self, p: Payment, status: str, reason: str | None, text: str | None) -> Pacs002:
        """The final pacs.002 both agents' copies are made from, built once (its MsgId is never sent)."""
        key = (p.uetr, status)
        report = self._final_report_structs.get(key)
        if report is None:
            report = self._status_report(p, None, status, reason, text)
            self._final_report_structs.remember(key, report)
        return report

    def _status_report(
        self,
        p: Payment,
        to_bic: str | None,
        status: str,
        reason: str | None,
        text: str | None,
        pending_code: str = "ACTC",
    ) -> Pacs002:
        final = status != IN_FLIGHT
        return Pacs002(
            msg_id=self._new_msg_id(),
            cre_dt_tm=_now_utc(),
            instg_agt_bicfi=self.scheme.central_bank_bic,
            instd_agt_bicfi=to_bic,
            tx_inf_and_sts=[
                TxInfAndSts(
                    orgnl_msg_id=p.msg_id,
                    orgnl_msg_nm_id="pacs.008.001.08",
                    orgnl_end_to_end_id=p.end_to_end_id,
                    orgnl_tx_id=p.tx_id,
                    orgnl_uetr=p.uetr,
                    tx_sts=status if final else pending_code,
                    sts_rsn_cd=reason,
                    sts_rsn_addtl_inf=_short(text),
                    accptnc_dt_tm=_utc(p.accepted_ns),
                    fctv_intr_bk_sttlm_dt=_utc(p.final_ns).date() if status == SETTLED else None,
                    clr_sys_ref=f"RAAST{p.transfer_id:016d}" if p.transfer_id else None,
                    instg_agt_bicfi=p.debtor_agent,
                    instd_agt_bicfi=p.creditor_agent,
                )
            ],
        )

    # ------------------------------------------------------------------ inbox

    @staticmethod
    def _stored(ref: tuple) -> tuple[bytes, str, int]:
        """The sender's message an inbox reference forwards: (bytes, format, when the rail took it). The state
        machine puts the message itself in the reference (a payment may be packed away before it is read)."""
        if ref[0] == "pacs.008":  # ("pacs.008", uetr, message, its format, at_ns)
            return ref[2], ref[3], ref[4]
        return ref[2], _stored_format(ref[2]), ref[3]  # (kind, key, message, at_ns)

    def _build(self, bic: str, ref: tuple):
        """The message an inbox reference stands for, as a struct (rendered by the caller)."""
        kind = ref[0]
        if kind == "pacs.002":
            _, uetr, status, reason, text = ref
            payment = self.core.settlement.payments.get(uetr)
            return None if payment is None else self._final_report_struct(payment, status, reason, text, bic)
        if kind == "pacs.008":
            cached = self._forwarded.get(ref[1])
            if cached is not None:
                return cached
        message, fmt, _ = self._stored(ref)
        if fmt == "msgpack":
            return _UNPACKERS[kind].decode(message)
        return iso20022.decode(message, _CONTENT_TYPES[fmt]).message

    def _render(self, bic: str, ref: tuple, rendering: str) -> bytes | None:
        """The message an inbox reference stands for, in `rendering`: a forwarded message whole, as its sender
        wrote it (the bytes themselves when the renderings match and no header is involved)."""
        if ref[0] == "pacs.002":
            payment = self.core.settlement.payments.get(ref[1])
            if payment is None:
                return None
            body = self._final_report(payment, ref[2], ref[3], ref[4], rendering, bic)
            header = self._report_header(payment, bic, ref)
            return body if header is None else forward.with_header(body, rendering, header)
        message, fmt, at_ns = self._stored(ref)
        if fmt == "msgpack":
            return iso20022.encode(_UNPACKERS[ref[0]].decode(message), rendering)
        sender = forward.sender_header(message, fmt)
        if sender is None and fmt == rendering:
            return message
        header = None
        if sender is not None:
            header = bah.forward_header(
                sender,
                rail_bic=self.scheme.central_bank_bic,
                to_bic=bic,
                biz_msg_idr=_inbox_id(bic, ref),
                cre_dt=_utc(at_ns),
            )
        return forward.forwarded(message, fmt, rendering, header)

    def _report_header(self, payment: Payment, bic: str, ref: tuple) -> AppHdr | None:
        """The header of an agent's final pacs.002 when the payment came with one: Rltd is, for the debtor
        agent, its pacs.008's header; for the creditor agent, the header of the pacs.008 the rail sent it."""
        if payment.message_format == "msgpack":
            return None
        sender = forward.sender_header(payment.message, payment.message_format)
        if sender is None:
            return None
        rail = self.scheme.central_bank_bic
        about = sender
        if bic != payment.debtor_agent:
            about = bah.forward_header(
                sender,
                rail_bic=rail,
                to_bic=bic,
                biz_msg_idr=_inbox_id(bic, ("pacs.008", payment.uetr)),
                cre_dt=_utc(payment.received_ns),
            )
        return bah.rail_header(
            rail_bic=rail,
            to=sender if bic == payment.debtor_agent else bic,
            msg_def_idr=MSG_NAMES["pacs.002"],
            biz_msg_idr=_inbox_id(bic, ref),
            cre_dt=_utc(payment.final_ns or payment.received_ns),
            about=about,
        )

    async def inbox_structs(self, bic: str, wait_s: float, max_n: int) -> list[tuple[int, str, object]]:
        """In-process inbox read: (seq, msg_type, message struct), no rendering at all."""
        inbox = self.core.settlement.inboxes.get(bic)
        if inbox is None:
            return []
        await inbox.wait(min(max(wait_s, 0.0), WAIT_S_MAX))
        out = []
        for seq, ref in inbox.visible(min(max_n, INBOX_FETCH_MAX)):
            message = self._build(bic, ref)
            if message is not None:
                out.append((seq, MSG_NAMES[ref[0]], message))
        return out

    async def inbox(self, bic: str, wait_s: float, max_n: int, rendering: str | None = None) -> dict:
        """GET /v1/inbox: the waiting messages in order, in the participant's rendering (XML as a string)."""
        inbox = self.core.settlement.inboxes.get(bic)
        if inbox is None:
            return {"messages": [], "acked_upto": 0}
        await inbox.wait(min(max(wait_s, 0.0), WAIT_S_MAX))
        return self.inbox_page(bic, max_n, rendering)

    def inbox_page(self, bic: str, max_n: int, rendering: str | None = None) -> dict:
        s = self.core.settlement
        inbox = s.inboxes[bic]
        rendering = rendering or s.participants[bic].rendering
        messages = []
        for seq, ref in inbox.visible(max(1, min(max_n, INBOX_FETCH_MAX))):
            body = self._render(bic, ref, rendering)
            if body is None:
                continue
            messages.append(
                {
                    "seq": seq,
                    "msg_type": MSG_NAMES[ref[0]],
                    "message": body.decode("utf-8", "replace") if rendering == "xml" else orjson.loads(body),
                }
            )
        self.metrics.inbox_depth.labels(bic).set(len(inbox))
        return {"messages": messages, "acked_upto": inbox.durable_acked_upto, "rendering": rendering}

    async def ack(self, bic: str, upto: int) -> int:
        """Acknowledge inbox messages up to ``upto``; returns the sequence actually acknowledged."""
        if not isinstance(upto, int) or isinstance(upto, bool) or upto < 0:
            raise ValueError("upto must be a non-negative integer sequence number")
        outcome = await self.core.execute(Ack(bic=bic, upto=upto))
        return outcome.detail

    # ------------------------------------------------------------------ payments

    async def payment(self, bic: str, uetr: str) -> dict | None:
        """GET /v1/payments/{uetr}: status and history, only for the payment's two agents."""

        def view(s):
            p = s.payments.get(uetr)
            if p is None or bic not in (p.debtor_agent, p.creditor_agent):
                return None
            return {
                "uetr": p.uetr,
                "tx_id": p.tx_id,
                "msg_id": p.msg_id,
                "end_to_end_id": p.end_to_end_id,
                "status": p.status,
                "reason": p.reason,
                "reason_text": p.reason_text,
                "amount_paisa": p.amount_paisa,
                "currency": s.scheme.currency,
                "debtor_agent": p.debtor_agent,
                "creditor_agent": p.creditor_agent,
                "debtor_iban": p.debtor_iban,
                "creditor_iban": p.creditor_iban,
                "creditor_status": p.creditor_status,
                "returned_paisa": p.returned_paisa,
                "received_at": _utc(p.received_ns).isoformat(),
                "final_at": _utc(p.final_ns).isoformat() if p.final_ns else None,
                "returns": [
                    {
                        "return_id": r.return_id,
                        "amount_paisa": r.amount_paisa,
                        "reason": r.reason,
                        "at": _utc(r.at_ns).isoformat(),
                    }
                    for r in p.returns
                ],
                "recalls": [
                    {
                        "cancellation_id": r.cancellation_id,
                        "reason": r.reason,
                        "state": r.state,
                        "at": _utc(r.at_ns).isoformat(),
                    }
                    for r in p.recalls
                ],
                "history": [
                    {"at": _utc(at).isoformat(), "event": event, "detail": detail}
                    for at, event, detail in p.history
                ],
            }

        return await self.core.query(view)

    async def wait_idle(self, timeout_s: float = 5.0) -> None:
        """Wait until the core has applied everything queued (tests and benchmarks)."""
        await asyncio.wait_for(self.core.query(lambda s: None), timeout_s)
