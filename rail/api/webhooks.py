"""Webhook delivery: a participant's inbox pushed to its callback_url, as the page GET /v1/inbox would give,
signed (rail/api/webhook_signature.py), each attempt in a bounded delivery log and each message in the traces.

The inbox (rail/settlement/delivery.py) stays the source of truth: a webhook only carries what a long-poll would
read, and is acknowledged the same way.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable

import aiohttp
import orjson

from rail.api.background import stop_task
from rail.api.payment_list import iso_time
from rail.api.traces import WEBHOOK, Tracer
from rail.api.webhook_signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature_header
from rail.settlement.delivery import INBOX_FETCH_MAX, Inbox

log = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_S = 5.0  # one webhook POST
WEBHOOK_BACKOFF_S_MIN = 0.05
WEBHOOK_BACKOFF_S_MAX = 30.0
# After this many consecutive failures a webhook rests (messages stay available by long-poll) before retrying.
WEBHOOK_FAILURES_BEFORE_REST = 50
WEBHOOK_REST_S = 300.0
# Each participant's webhook has its own connection pool of this size: a callback that hangs holds its own
# connections only, never another participant's (it posts one page at a time, so one connection is in use).
WEBHOOK_CONNECTIONS_MAX = 2
DELIVERIES_KEPT = 200  # the delivery log of each participant (GET /v1/webhook/deliveries), newest last
ERROR_CHARS_MAX = 200

# (bic, max messages, a list to put (seq, InboxRef, rendered bytes) in) -> the inbox page
PageReader = Callable[[str, int, list], Awaitable[dict]]


class WebhookPusher:
    """Pushes a participant's inbox to its callback_url: POST {"messages": [...]}, ack on 2xx, back off on error.

    The inbox stays the source of truth: a failed webhook only delays delivery, and the participant can always
    long-poll. Every loop is bounded: messages per POST, per-attempt timeout, backoff ceiling, and a rest
    period after a run of failures. Redirects are not followed (a 3xx is a failed delivery): the rail posts a
    participant's messages to the URL the operator registered, never to one a response names. Each pusher has
    its own connection pool. Every push is signed with the participant's webhook keys (`keys()`: the current
    one first, and the previous one during a rotation's grace period).
    """

    def __init__(
        self,
        bic: str,
        inbox: Inbox,
        fetch: PageReader,
        ack: Callable[[str, int], Awaitable[None]],
        url: str,
        keys: Callable[[], list[str]],
        tracer: Tracer,
    ) -> None:
        self.bic = bic
        self.inbox = inbox
        self.url = url
        self._fetch = fetch
        self._ack = ack
        self._keys = keys
        self._tracer = tracer
        self._task: asyncio.Task | None = None
        self.session: aiohttp.ClientSession | None = None
        self.delivered = 0
        self.failures = 0
        self.deliveries: deque[dict] = deque(maxlen=DELIVERIES_KEPT)

    def start(self) -> None:
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=WEBHOOK_CONNECTIONS_MAX))
        self._task = asyncio.create_task(self._run(self.session), name=f"webhook-{self.bic}")

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def post(self, body: bytes, kind: str, attempt: int = 1, messages: list[dict] = ()) -> dict:
        """One signed POST of `body`; logged, and answered as the delivery log shows it."""
        assert self.session is not None, "the pusher is started"
        timestamp = int(time.time())
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: str(timestamp)}
        keys = self._keys()
        if keys:  # (a participant registered before pushes were signed has no key until it rotates)
            headers[SIGNATURE_HEADER] = signature_header(keys, timestamp, body)
        started = time.perf_counter()
        status = error = None
        try:
            async with self.session.post(self.url, data=body, headers=headers, allow_redirects=False,
                                         timeout=aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT_S)) as response:
                status = response.status
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            error = (str(exc) or type(exc).__name__)[:ERROR_CHARS_MAX]
            log.debug("webhook %s failed: %s", self.url, error)
        if status is not None and not 200 <= status < 300:
            error = f"the callback answered HTTP {status}"
        delivery = {
            "at": iso_time(time.time_ns()), "kind": kind, "http_status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 3), "attempt": attempt, "error": error,
            "ok": error is None, "messages": len(messages),
            "first_seq": messages[0]["seq"] if messages else None, "last_seq": messages[-1]["seq"] if messages
            else None,
        }  # fmt: skip
        self.deliveries.append(delivery)
        return delivery

    async def send_test(self) -> dict:
        """A signed test event, now: `{"event": "test", "bic", "at"}`."""
        body = orjson.dumps({"event": "test", "bic": self.bic, "at": iso_time(time.time_ns())})
        return await self.post(body, "test")

    async def _run(self, session: aiohttp.ClientSession) -> None:
        backoff_s = WEBHOOK_BACKOFF_S_MIN
        consecutive_failures = 0
        attempt = 1
        while True:
            await self.inbox.wait(60.0)
            rendered: list = []
            page = await self._fetch(self.bic, INBOX_FETCH_MAX, rendered)
            messages = page["messages"]
            if not messages:
                continue
            delivery = await self.post(orjson.dumps(page), "messages", attempt, messages)
            duration_ns = int(delivery["duration_ms"] * 1e6)
            self._tracer.delivered(self.bic, WEBHOOK, rendered, page.get("rendering"),
                                   delivery["http_status"] or 0, duration_ns, delivery["error"])  # fmt: skip
            if delivery["ok"]:
                await self._ack(self.bic, messages[-1]["seq"])
                self.delivered += len(messages)
                backoff_s = WEBHOOK_BACKOFF_S_MIN
                consecutive_failures = 0
                attempt = 1
                continue
            self.failures += 1
            consecutive_failures += 1
            attempt += 1
            if consecutive_failures >= WEBHOOK_FAILURES_BEFORE_REST:
                consecutive_failures = 0
                await asyncio.sleep(WEBHOOK_REST_S)
            else:
                await asyncio.sleep(backoff_s)
                backoff_s = min(WEBHOOK_BACKOFF_S_MAX, backoff_s * 2)
