"""The edge's batched hand-off (rail/cluster/edge.py HandOff) against a stand-in NATS connection: one message per
event-loop tick, split under max_payload, answers matched by ref, a missing core reported at once."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import msgspec
import pytest

from rail.api.http_types import Response
from rail.cluster.edge import HandOff
from rail.cluster.edge_wire import EdgeAnswers, EdgeSubmitBatch


class FakeNats:
    """Just what HandOff uses of a nats-py client; `core` answers each published batch (or not)."""

    def __init__(self, max_payload: int = 1 << 20, core=None) -> None:
        self.max_payload = max_payload
        self.core = core
        self.published: list[EdgeSubmitBatch] = []
        self._subscriptions: dict[str, object] = {}

    def new_inbox(self) -> str:
        return "_INBOX.edge"

    async def subscribe(self, subject: str, cb):
        self._subscriptions[subject.rstrip("*")] = cb
        return SimpleNamespace(unsubscribe=lambda: asyncio.sleep(0))

    async def publish(self, subject: str, payload: bytes, reply: str = "") -> None:
        if len(payload) > self.max_payload:
            raise ValueError("maximum payload exceeded")
        batch = msgspec.msgpack.decode(payload, type=EdgeSubmitBatch)
        self.published.append(batch)
        callback = self._subscriptions[reply.rpartition(".")[0] + "."]
        if self.core is None:  # NATS "no responders": an empty message with status 503
            await callback(SimpleNamespace(subject=reply, data=b"", headers={"Status": "503"}))
            return
        answers = [(s.ref, Response(202, {"Content-Type": "application/xml"}, self.core(s))) for s in batch.submits]
        await callback(
            SimpleNamespace(subject=reply, data=msgspec.msgpack.encode(EdgeAnswers(answers)), headers=None)
        )


def fields(index: int, size: int = 10) -> tuple:
    return ("TESTPKKA", "pacs.008", "xml", None, b"m" * size, str(index).encode())


async def test_submits_of_one_tick_travel_as_one_message_and_each_gets_its_own_answer():
    nc = FakeNats(core=lambda submit: b"answer to " + submit.raw_body)
    hand_off = HandOff(nc, "rail.RAIL.edge.submit")
    await hand_off.start()
    replies = await asyncio.gather(*(hand_off.submit(fields(i), timeout_s=2) for i in range(40)))
    assert [r.body for r in replies] == [b"answer to %d" % i for i in range(40)]
    assert [len(batch.submits) for batch in nc.published] == [40]
    assert hand_off.in_flight == 0


async def test_a_tick_larger_than_max_payload_is_split_and_nothing_is_lost():
    nc = FakeNats(max_payload=20_000, core=lambda submit: submit.raw_body)
    hand_off = HandOff(nc, "subject")
    await hand_off.start()
    replies = await asyncio.gather(*(hand_off.submit(fields(i, size=3_000), timeout_s=2) for i in range(20)))
    assert [r.body for r in replies] == [str(i).encode() for i in range(20)]
    assert len(nc.published) > 1 and sum(len(b.submits) for b in nc.published) == 20


async def test_no_core_serving_is_known_at_once_not_after_the_timeout():
    from rail.cluster.edge import CoreUnavailable

    hand_off = HandOff(FakeNats(core=None), "subject")
    await hand_off.start()
    started = asyncio.get_running_loop().time()
    with pytest.raises(CoreUnavailable, match="no settlement core"):
        await hand_off.submit(fields(1), timeout_s=10)
    assert asyncio.get_running_loop().time() - started < 1 and hand_off.in_flight == 0
