"""The participants' webhooks: one pusher per callback URL (rail/api/webhooks.py), the keys each push is signed
with (journaled with the participant: a restart signs with the same), their rotation with a grace period, a test
event on demand, and the delivery logs.
"""

from __future__ import annotations

import time

from rail.api.outbox import Outbox
from rail.api.payment_list import iso_time
from rail.api.traces import Tracer
from rail.api.webhook_signature import new_secret
from rail.api.webhooks import WebhookPusher
from rail.settlement.commands import SetWebhookSecret
from rail.settlement.core import SettlementCore
from rail.settlement.payments import OutcomeKind, Participant

GRACE_S_DEFAULT = 86_400  # the previous secret keeps signing this long after a rotation
GRACE_S_MAX = 7 * 86_400


class Webhooks:
    """Pushers and signing keys by BIC."""

    def __init__(self, core: SettlementCore, outbox: Outbox, tracer: Tracer) -> None:
        self.core = core
        self.outbox = outbox
        self.tracer = tracer
        self._pushers: dict[str, WebhookPusher] = {}
        self._keys: dict[str, tuple[str | None, str | None, int]] = {}  # current, previous, previous until (ns)

    def know(self, participant: Participant) -> None:
        """`participant`'s signing keys as journaled (recovered, admitted, rotated)."""
        self._keys[participant.bic] = (
            participant.webhook_secret,
            participant.webhook_previous_secret,
            participant.webhook_previous_until_ns,
        )

    def keys(self, bic: str) -> list[str]:
        """The keys a push to `bic` is signed with now: the current one, and the previous one in its grace."""
        current, previous, until_ns = self._keys.get(bic, (None, None, 0))
        keys = [current] if current else []
        if previous and time.time_ns() < until_ns:
            keys.append(previous)
        return keys

    def running(self, bic: str) -> bool:
        return bic in self._pushers

    def pusher(self, bic: str) -> WebhookPusher | None:
        return self._pushers.get(bic)

    def bics(self) -> list[str]:
        """The participants pushed to now."""
        return list(self._pushers)

    def start(self, bic: str, url: str) -> None:
        async def page(bic_: str, max_n: int, rendered: list) -> dict:
            return self.outbox.inbox_page(bic_, max_n, delivered=rendered)

        inbox = self.core.inbox(bic)
        assert inbox is not None, f"{bic} is a participant: it has an inbox"
        pusher = WebhookPusher(bic, inbox, page, self.outbox.ack, url, lambda: self.keys(bic), self.tracer)
        self._pushers[bic] = pusher
        pusher.start()

    async def stop(self, bic: str) -> None:
        pusher = self._pushers.pop(bic, None)
        if pusher is not None:
            await pusher.stop()

    async def stop_all(self) -> None:
        for bic in list(self._pushers):
            await self.stop(bic)

    async def rotate(self, bic: str, grace_s: object) -> dict:
        """A new signing key for `bic`, shown once; the current one keeps signing for `grace_s`."""
        if grace_s is None:
            grace_s = GRACE_S_DEFAULT
        if isinstance(grace_s, bool) or not isinstance(grace_s, int) or not 0 <= grace_s <= GRACE_S_MAX:
            raise ValueError(f"grace_s must be an integer number of seconds, 0 to {GRACE_S_MAX}")
        secret = new_secret()
        until_ns = time.time_ns() + grace_s * 1_000_000_000 if grace_s else 0
        outcome = await self.core.execute(SetWebhookSecret(bic=bic, secret=secret, previous_until_ns=until_ns))
        if outcome.kind != OutcomeKind.DONE:
            raise LookupError(outcome.text)
        self.know(outcome.detail)
        previous = outcome.detail.webhook_previous_secret
        return {"webhook_secret": secret, "previous_valid_until": iso_time(until_ns) if previous else None}

    async def test(self, bic: str) -> dict:
        """A signed test event to `bic`'s callback URL, now; LookupError when it has none."""
        pusher = self._pushers.get(bic)
        if pusher is None:
            raise LookupError(f"{bic} has no callback_url: register one with POST /admin/participants")
        delivery = await pusher.send_test()
        return {key: delivery[key] for key in ("ok", "http_status", "duration_ms", "error")}

    def deliveries(self, bic: str) -> list[dict]:
        """`bic`'s delivery log, newest first."""
        pusher = self._pushers.get(bic)
        return list(reversed(pusher.deliveries)) if pusher is not None else []
