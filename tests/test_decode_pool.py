"""Decoding off the event loop (rail/iso20022/decode_pool.py): worker processes give exactly the in-process
answer, for every sample, every rendering and every refusal; a worker killed with SIGKILL costs no message (its
bodies are decoded in-process) and comes back; bytes in flight stay bounded; `rail serve --decode-workers`
settles payments through it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import uuid

import pytest

from conftest import REPO, SAMPLES_DIR
from participants.codec import Iso20022Codec
from rail import iso20022
from rail.iso20022 import MessageRejected, decode_pool
from rail.iso20022.decode_pool import DecodePool, DecodeUnavailable

XML, JSON = "application/xml", "application/json"


def _pacs008(rendering: str = "xml") -> bytes:
    codec = Iso20022Codec(rendering)
    return codec.encode(codec.pacs008(
        uetr=str(uuid.uuid4()), msg_id="M" + uuid.uuid4().hex[:20], amount_paisa=123_456, debtor_bic="HABBPKKA",
        debtor_name="Ali Khan", debtor_iban="PK36HABB0000001123456702", creditor_bic="MEZNPKKA",
        creditor_name="Sara Ahmed", creditor_iban="PK36MEZN0000001123456703",
    ))  # fmt: skip


ZONED = _pacs008().replace(b"+00:00", b"+05:00")


def _bodies() -> list[tuple[bytes, str]]:
    """Every shipped sample (ours and other rails'), both renderings, and refusals of each kind."""
    samples = sorted(SAMPLES_DIR.glob("*.xml")) + sorted((REPO / "tests" / "interop" / "data").glob("*.xml"))
    good = _pacs008()
    bodies = [(path.read_bytes(), XML) for path in samples]
    bodies += [(good, XML), (_pacs008("json"), JSON)]
    bodies += [
        (good[: len(good) // 2], XML),  # not well-formed
        (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY e "x">]><d>&e;</d>', XML),  # DTD refused
        (good.replace(b"pacs.008.001.08", b"pacs.008.001.99"), XML),  # a version the rail does not speak
        (good.replace(b"<ChrgBr>SLEV</ChrgBr>", b""), XML),  # the XSD refuses it
        (good.replace(b"<ChrgBr>SLEV</ChrgBr>", b"<ChrgBr>XXXX</ChrgBr>"), XML),  # a value outside the code set
        (ZONED, XML),  # another time zone: kept as sent
        (b'{"not": "a message"}', JSON),
        (b"", XML),
    ]
    return bodies


def _in_process(body: bytes, content_type: str):
    try:
        return iso20022.decode(body, content_type)
    except MessageRejected as exc:
        return ("refused", exc.reason_code, exc.description, exc.error_location, exc.related_ref)


async def _pooled(pool: DecodePool, body: bytes, content_type: str):
    future = pool.decode(body, content_type)
    assert future is not None, "a ready worker takes every body under the bound"
    try:
        return await future
    except MessageRejected as exc:
        return ("refused", exc.reason_code, exc.description, exc.error_location, exc.related_ref)


async def _ready(pool: DecodePool, workers: int, timeout_s: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while pool.ready_workers < workers:
        assert asyncio.get_running_loop().time() < deadline, "decode workers never became ready"
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def _running(workers: int):
    """A started pool whose workers are all ready; closed at the end."""
    pool = DecodePool(workers)
    await pool.start()
    try:
        await _ready(pool, workers)
        yield pool
    finally:
        await pool.close()


async def test_a_worker_answers_exactly_what_the_rail_decodes_itself():
    async with _running(2) as pool:
        bodies = _bodies()
        # One tick's bodies leave together (one frame) and come back in order.
        pooled = await asyncio.gather(*(_pooled(pool, body, kind) for body, kind in bodies))
        for (body, kind), got in zip(bodies, pooled):
            assert got == _in_process(body, kind), body[:120]
        refusals = [got for got in pooled if isinstance(got, tuple)]
        assert len(refusals) >= 6 and {r[1] for r in refusals} == {"FF01"}
        zoned = pooled[bodies.index((ZONED, XML))]
        assert zoned.message.tx.accptnc_dt_tm.utcoffset().total_seconds() == 5 * 3600  # lossless, not UTC


async def test_a_worker_killed_mid_stream_costs_no_message_and_comes_back(monkeypatch):
    monkeypatch.setattr(decode_pool, "RESTART_S_MIN", 0.1)
    async with _running(1) as pool:
        worker = pool._workers[0]
        futures = [pool.decode(_pacs008(), XML) for _ in range(200)]
        os.kill(worker.process.pid, signal.SIGKILL)
        outcomes = await asyncio.gather(*futures, return_exceptions=True)
        lost = [o for o in outcomes if isinstance(o, DecodeUnavailable)]
        assert all(isinstance(o, iso20022.Decoded) or isinstance(o, DecodeUnavailable) for o in outcomes)
        assert lost, "the worker was killed before it answered everything (raise the count if it is faster)"
        assert pool.decode(_pacs008(), XML) is None  # none ready: the caller decodes in-process
        await _ready(pool, 1)
        assert pool.restarts == 1
        decoded = await pool.decode(_pacs008(), XML)
        assert decoded.msg_type == "pacs.008.001.08"
    assert worker.process.poll() is not None  # closed: no worker left behind


async def test_bytes_in_flight_stay_under_the_bound(monkeypatch):
    monkeypatch.setattr(decode_pool, "IN_FLIGHT_BYTES_MAX", 10_000)
    async with _running(1) as pool:
        body = _pacs008()
        taken = [pool.decode(body, XML) for _ in range(100)]
        in_pool = [f for f in taken if f is not None]
        assert len(in_pool) == 10_000 // len(body)  # the rest: None, decoded by the caller itself
        assert pool._workers[0].bytes_in_flight <= 10_000
        await asyncio.gather(*in_pool)
        assert pool._workers[0].bytes_in_flight == 0


def test_decode_workers_out_of_range_are_refused():
    for workers in (0, decode_pool.WORKERS_MAX + 1):
        with pytest.raises(ValueError, match="decode workers"):
            DecodePool(workers)
