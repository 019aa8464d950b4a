"""Per-participant ordered, durable inboxes: sequence numbers, long-poll, acknowledgement, webhooks.

An inbox entry is a *reference* (message type + a small key tuple, e.g. ("pacs.002", uetr, "ACSC", ...)), not a
rendered message: the settlement core appends references while it applies a batch, and the message is built
lazily, in the recipient's rendering, only when the participant fetches it. That keeps the core's per-payment
work tiny and lets one inbox entry be rendered as XML or JSON.

Durability comes from the journal, not from this module: inbox entries are produced deterministically by the
state machine, so replaying the journal after a restart rebuilds every unacknowledged entry with the same
sequence number; acknowledgements are journaled commands too. An entry only becomes *visible* once the batch that
produced it is durable (`publish`), so a participant can never see a message the rail could forget; likewise an
acknowledged entry leaves the inbox only once the acknowledgement is durable, so no reader sees it gone before.

Delivery is at-least-once and in order: a participant acknowledges `upto` a sequence number, and until then a
long-poll (or a webhook retry) returns the same entries again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable

import aiohttp
import orjson

log = logging.getLogger(__name__)

INBOX_FETCH_MAX = 1_000  # messages returned by one long-poll or one webhook POST
WEBHOOK_TIMEOUT_S = 5.0  # one webhook POST
WEBHOOK_BACKOFF_S_MIN = 0.05
WEBHOOK_BACKOFF_S_MAX = 30.0
# After this many consecutive failures a webhook rests (messages stay available by long-poll) before retrying.
WEBHOOK_FAILURES_BEFORE_REST = 50
WEBHOOK_REST_S = 300.0
# Each participant's webhook has its own connection pool of this size: a callback that hangs holds its own
# connections only, never another participant's (it posts one page at a time, so one connection is in use).
WEBHOOK_CONNECTIONS_MAX = 2

Ref = tuple  # (msg_type, *key) as produced by the state machine


class Inbox:
    """One participant's ordered inbox. Owned by the core (the single writer); readers only read."""

    __slots__ = ("_waiters", "acked_upto", "bic", "durable_acked_upto", "entries", "next_seq", "visible_upto")

    def __init__(self, bic: str) -> None:
        self.bic = bic
        # Entries not yet acknowledged durably (those up to acked_upto leave at the publish that makes it so).
        self.entries: deque[tuple[int, Ref]] = deque()
        self.next_seq = 1
        self.acked_upto = 0  # as applied by the state machine
        self.durable_acked_upto = 0  # as the journal knows it; what readers see
        self.visible_upto = 0  # highest seq whose batch is durable; not persisted (everything replayed is)
        self._waiters: list[asyncio.Future] = []

    def __len__(self) -> int:
        """Entries not acknowledged (as applied): what the state machine's limits count."""
        return self.next_seq - 1 - self.acked_upto

    def push(self, ref: Ref) -> int:
        seq = self.next_seq
        self.next_seq = seq + 1
        self.entries.append((seq, ref))
        return seq

    def ack(self, upto: int) -> None:
        """Acknowledge entries up to `upto` (clamped to what exists); they leave at the durable `publish`."""
        self.acked_upto = max(self.acked_upto, min(upto, self.next_seq - 1))

    def publish(self, upto: int | None = None, acked_upto: int | None = None) -> None:
        """Entries up to `upto` (default: everything pushed so far) are durable, and so are acknowledgements up
        to `acked_upto` (default: all applied): make the first visible, drop the second, wake long-polls. With
        the core's pipeline, later entries and acknowledgements may exist, from a batch still syncing."""
        acked = self.acked_upto if acked_upto is None else acked_upto
        if acked > self.durable_acked_upto:
            self.durable_acked_upto = acked
            entries = self.entries
            while entries and entries[0][0] <= acked:
                entries.popleft()
        self.visible_upto = max(self.visible_upto, self.next_seq - 1 if upto is None else upto)
        if self._waiters and self.has_visible():
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def visible(self, max_n: int) -> list[tuple[int, Ref]]:
        out = []
        for seq, ref in self.entries:
            if seq > self.visible_upto or len(out) >= max_n:
                break
            out.append((seq, ref))
        return out

    def has_visible(self) -> bool:
        return bool(self.entries) and self.entries[0][0] <= self.visible_upto

    async def wait(self, timeout_s: float) -> None:
        """Long-poll: return when a visible entry exists or `timeout_s` has passed."""
        if self.has_visible() or timeout_s <= 0:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout_s)
        except TimeoutError:
            pass
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def to_state(self) -> list:
        """As applied (a snapshot is taken of durable state only: every acknowledgement is published)."""
        entries = [[seq, list(ref)] for seq, ref in self.entries if seq > self.acked_upto]
        return [self.next_seq, self.acked_upto, entries]

    @classmethod
    def from_state(cls, bic: str, state: list) -> Inbox:
        inbox = cls(bic)
        inbox.next_seq, inbox.acked_upto = state[0], state[1]
        inbox.durable_acked_upto = inbox.acked_upto
        inbox.entries = deque((seq, tuple(ref)) for seq, ref in state[2])
        return inbox


class WebhookPusher:
    """Pushes a participant's inbox to its callback_url: POST {"messages": [...]}, ack on 2xx, back off on error.

    The inbox stays the source of truth: a failed webhook only delays delivery, and the participant can always
    long-poll. Every loop is bounded: messages per POST, per-attempt timeout, backoff ceiling, and a rest
    period after a run of failures. Redirects are not followed (a 3xx is a failed delivery): the rail posts a
    participant's messages to the URL the operator registered, never to one a response names. Each pusher has
    its own connection pool.
    """

    def __init__(
        self,
        bic: str,
        inbox: Inbox,
        fetch: Callable[[str, int], Awaitable[dict]],
        ack: Callable[[str, int], Awaitable[None]],
        url: str,
    ) -> None:
        self.bic = bic
        self.inbox = inbox
        self.url = url
        self._fetch = fetch
        self._ack = ack
        self._task: asyncio.Task | None = None
        self.session: aiohttp.ClientSession | None = None
        self.delivered = 0
        self.failures = 0

    def start(self) -> None:
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=WEBHOOK_CONNECTIONS_MAX))
        self._task = asyncio.create_task(self._run(self.session), name=f"webhook-{self.bic}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            except Exception as error:  # noqa: BLE001 - stopping: the pusher's failure no longer matters
                log.debug("webhook %s ended with %r", self.bic, error)
            self._task = None
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def _run(self, session: aiohttp.ClientSession) -> None:
        backoff_s = WEBHOOK_BACKOFF_S_MIN
        consecutive_failures = 0
        timeout = aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT_S)
        while True:
            await self.inbox.wait(60.0)
            page = await self._fetch(self.bic, INBOX_FETCH_MAX)
            messages = page["messages"]
            if not messages:
                continue
            try:
                async with session.post(
                    self.url,
                    data=orjson.dumps(page),
                    headers={"Content-Type": "application/json"},
                    timeout=timeout,
                    allow_redirects=False,
                ) as response:
                    ok = 200 <= response.status < 300
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                log.debug("webhook %s failed: %s", self.url, exc)
                ok = False
            if ok:
                await self._ack(self.bic, messages[-1]["seq"])
                self.delivered += len(messages)
                backoff_s = WEBHOOK_BACKOFF_S_MIN
                consecutive_failures = 0
                continue
            self.failures += 1
            consecutive_failures += 1
            if consecutive_failures >= WEBHOOK_FAILURES_BEFORE_REST:
                consecutive_failures = 0
                await asyncio.sleep(WEBHOOK_REST_S)
            else:
                await asyncio.sleep(backoff_s)
                backoff_s = min(WEBHOOK_BACKOFF_S_MAX, backoff_s * 2)
