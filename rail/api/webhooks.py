"""Webhook delivery: a participant's inbox pushed to its callback_url, as the page GET /v1/inbox would give.

The inbox (rail/settlement/delivery.py) stays the source of truth: a webhook only carries what a long-poll would
read, and is acknowledged the same way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import aiohttp
import orjson

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
