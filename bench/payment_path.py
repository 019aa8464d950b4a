"""Benchmark: the rail's side of a payment over HTTP + XML, through our listener, without sockets, in lockstep
rounds of K payments: CPU (or instructions) a payment, with the batch size held fixed.

    python bench/payment_path.py [--payments 2048] [--round 16,64]
    valgrind --tool=callgrind --instr-atstart=no python bench/payment_path.py --payments 256 --round 64 --callgrind
    python bench/payment_path.py --pace 1000 --payments 4000 [--group-commit-ms 5]
    python bench/payment_path.py --batch-cost 2000

Why: `bench/load.py` measures CPU a payment under an open-loop load, where the batch the rail sees depends on how
far it keeps up (at 1,000/s on a quiet machine small batches, at 2,000/s large ones) and on what else the machine
runs; here the batch is fixed, so the figure moves only with the code. A round: K debtor pacs.008 POSTed at once
(each on its connection), the creditor's inbox polled until the K forwarded pacs.008 are read, K pacs.002 ACSP
POSTed at once, then both agents' inboxes polled until their K final pacs.002 are read (acknowledged through the
next poll, as the harness does). Every request is parsed by rail/api/http_connection.py from bytes and every
answer rendered to bytes; only the socket is a stand-in. Journal fsync on (FSYNC=0: off). The participants' side
is a few string operations (bench/rail.py's builders, made before the timed part).

With --pace R, the payments are offered open loop at R a second instead (each debtor pacs.008 on a free connection
at its scheduled time; the creditor and the debtor long-poll their inboxes as the harness does, the creditor
answering each forwarded pacs.008 at once, each waiting --linger-ms after a page as the harness's banks do): the batches are then what that rate makes of them, as under
bench/load.py, but with no socket, no harness and nothing else in the process. --group-commit-ms sets the core's
window (`rail serve --group-commit-ms`; 0, the library's default, without it).

With --batch-cost N, what a core batch costs by itself: N batches of one inbox acknowledgement each, one after
another (journaled, fsync on unless FSYNC=0): CPU a batch, and the event loop thread's share.

With --callgrind, instrumentation is switched on (callgrind_control) for the timed rounds only: the instruction
count a payment is the total of the dump divided by --payments, repeatable to about 0.5 % whatever else the
machine does. Prints one line per round size, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson

from bench.rail import _ID_XML, _UETR_XML, CREDITOR, DEBTOR, PACS002_XML, pacs008
from rail import iso20022
from rail.api.http_connection import HttpConnection
from rail.api.listener import Listener
from rail.api.routes import RailApi
from rail.api.service import RailService
from rail.runtime import tune_gc_for_long_lived_state

_CONTENT_LENGTH = re.compile(rb"Content-Length: (\d+)")


class StandInTransport:
    """What HttpConnection needs of an asyncio transport; collects what is written, wakes whoever waits for a
    whole answer."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.waiter: asyncio.Future | None = None

    def write(self, data: bytes) -> None:
        self.written.append(data)
        if self.waiter is not None and not self.waiter.done() and self.complete():
            self.waiter.set_result(None)

    def complete(self) -> bool:
        data = b"".join(self.written)
        end = data.find(b"\r\n\r\n")
        found = _CONTENT_LENGTH.search(data, 0, end) if end >= 0 else None
        return found is not None and len(data) >= end + 4 + int(found.group(1))

    def take(self) -> tuple[int, bytes]:
        data = b"".join(self.written)
        self.written = []
        return int(data[9:12]), data[data.find(b"\r\n\r\n") + 4 :]

    def set_write_buffer_limits(self, high: int, low: int) -> None: ...
    def get_extra_info(self, name: str, default: object = None) -> object:
        return default

    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...
    def is_closing(self) -> bool:
        return False

    def close(self) -> None: ...


class Participants:
    """The two banks' side: requests as bytes on stand-in connections (one per payment in a round, one per inbox)."""

    def __init__(self, listener: Listener, tokens: dict[str, str], connections: int) -> None:
        self.tokens = tokens
        self.listener = listener
        self.connections = [self.connect() for _ in range(connections + 2)]
        self.acked = {DEBTOR: 0, CREDITOR: 0}
        self.answers = 0

    def connect(self) -> tuple[HttpConnection, StandInTransport]:
        transport = StandInTransport()
        connection = HttpConnection(self.listener)
        connection.connection_made(transport)  # type: ignore[arg-type]
        return connection, transport

    async def exchange(self, index: int, request: bytes) -> tuple[int, bytes]:
        connection, transport = self.connections[index]
        transport.waiter = asyncio.get_running_loop().create_future()
        connection.data_received(request)
        if not transport.complete():
            await transport.waiter
        return transport.take()

    def post(self, bic: str, body: bytes) -> bytes:
        head = (f"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {self.tokens[bic]}\r\n"
                f"Content-Type: application/xml\r\nContent-Length: {len(body)}\r\n\r\n")  # fmt: skip
        return head.encode() + body

    async def read_inbox(self, bic: str, msg_type: str, count: int) -> list[str]:
        found: list[str] = []
        index = len(self.connections) - (1 if bic == DEBTOR else 2)
        while len(found) < count:
            ack = f"&ack={self.acked[bic]}" if self.acked[bic] else ""
            request = (f"GET /v1/inbox?wait=1&max=1000{ack} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       f"Authorization: Bearer {self.tokens[bic]}\r\n\r\n")  # fmt: skip
            status, body = await self.exchange(index, request.encode())
            assert status == 200, body[:300]
            for message in orjson.loads(body)["messages"]:
                self.acked[bic] = max(self.acked[bic], message["seq"])
                if message["msg_type"].startswith(msg_type):
                    found.append(message["message"])
        return found

    def answer(self, forwarded: str, now: str) -> bytes:
        raw = forwarded.encode()
        ids = {name: pattern.search(raw).group(1).decode() for name, pattern in _ID_XML.items()}
        self.answers += 1
        body = PACS002_XML.format(
            msg_id=f"A{self.answers:020d}", now=now, orgnl_msg_id=ids[b"MsgId"], e2e=ids[b"EndToEndId"],
            tx_id=ids[b"TxId"], uetr=_UETR_XML.search(raw).group(1).decode(),
        )  # fmt: skip
        return self.post(CREDITOR, body.encode())

    async def round(self, requests: list[bytes], now: str) -> None:
        answers = await asyncio.gather(*(self.exchange(i, r) for i, r in enumerate(requests)))
        assert all(status == 202 for status, _ in answers), answers[0]
        forwarded = await self.read_inbox(CREDITOR, "pacs.008", len(requests))
        statuses = await asyncio.gather(*(self.exchange(i, self.answer(f, now)) for i, f in enumerate(forwarded)))
        assert all(status == 200 for status, _ in statuses), statuses[0]
        await asyncio.gather(self.read_inbox(DEBTOR, "pacs.002", len(requests)),
                             self.read_inbox(CREDITOR, "pacs.002", len(requests)))  # fmt: skip


class PacedBanks(Participants):
    """Open-loop offer at a fixed rate: connections are taken from a pool, inboxes long-polled by their owners."""

    def __init__(self, listener: Listener, tokens: dict[str, str], linger_s: float) -> None:
        super().__init__(listener, tokens, 0)  # the two inbox connections; the rest made as the load needs them
        self.free: list[int] = []
        self.linger_s = linger_s
        self.finals = 0
        self.polls = 0

    async def send(self, request: bytes, expected: int) -> None:
        if not self.free:
            self.connections.append(self.connect())
            self.free.append(len(self.connections) - 1)
        index = self.free.pop()
        try:
            status, body = await self.exchange(index, request)
        finally:
            self.free.append(index)
        assert status == expected, body[:300]

    async def poll(self, bic: str, until: int, now: str) -> None:
        """`bic`'s inbox read until `until` final pacs.002 arrived; the creditor answers each forwarded pacs.008."""
        index = 0 if bic == DEBTOR else 1
        answering: set[asyncio.Task] = set()
        finals = 0
        while finals < until:
            ack = f"&ack={self.acked[bic]}" if self.acked[bic] else ""
            request = (f"GET /v1/inbox?wait=1&max=1000{ack} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       f"Authorization: Bearer {self.tokens[bic]}\r\n\r\n")  # fmt: skip
            status, body = await self.exchange(index, request.encode())
            assert status == 200, body[:300]
            self.polls += 1
            for message in orjson.loads(body)["messages"]:
                self.acked[bic] = max(self.acked[bic], message["seq"])
                if message["msg_type"].startswith("pacs.008"):
                    task = asyncio.create_task(self.send(self.answer(message["message"], now), 200))
                    answering.add(task)
                    task.add_done_callback(answering.discard)
                elif message["msg_type"].startswith("pacs.002"):
                    finals += 1
            if self.linger_s and finals < until:
                await asyncio.sleep(self.linger_s)
        await asyncio.gather(*answering)

    async def offer(self, requests: list[bytes], rate: float, now: str) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        sends = []
        pollers = [asyncio.create_task(self.poll(bic, len(requests), now)) for bic in (CREDITOR, DEBTOR)]
        for i, request in enumerate(requests):
            delay = started + i / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            sends.append(asyncio.create_task(self.send(request, 202)))
        await asyncio.gather(*sends, *pollers)


async def measure_paced(payments: int, rate: float, group_commit_s: float, linger_s: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="rail-bench-") as data_dir:
        window = {"group_commit_s": group_commit_s} if group_commit_s else {}  # a design before the window: none
        rail = await RailService.open(Path(data_dir), fsync=os.environ.get("FSYNC", "1") == "1", **window)
        tune_gc_for_long_lived_state()
        try:
            tokens = {bic: await rail.add_participant(bic, f"bench {bic}") for bic in (DEBTOR, CREDITOR)}
            listener = Listener(RailApi(rail))
            listener.loop = asyncio.get_running_loop()
            banks = PacedBanks(listener, tokens, linger_s)
            debtor_iban = rail.scheme.bank(DEBTOR).customers[0].iban
            creditor_iban = rail.scheme.bank(CREDITOR).customers[0].iban
            requests = [banks.post(DEBTOR, iso20022.encode(pacs008(i, debtor_iban, creditor_iban), "xml"))
                        for i in range(payments + 200)]  # fmt: skip
            now = iso20022.now_pkt().isoformat(timespec="milliseconds")
            await banks.offer(requests[payments:], rate, now)  # warm-up: 200 payments
            batches, polls = rail.core.batches, banks.polls
            cpu_s, wall_s = time.process_time(), time.perf_counter()
            await banks.offer(requests[:payments], rate, now)
            cpu_s, wall_s = time.process_time() - cpu_s, time.perf_counter() - wall_s
            return {
                "payments": payments, "offered_per_s": rate, "group_commit_ms": group_commit_s * 1000,
                "achieved_per_s": round(payments / wall_s), "cpu_us_per_payment": round(cpu_s / payments * 1e6, 1),
                "core_batches_per_payment": round((rail.core.batches - batches) / payments, 3),
                "inbox_polls_per_payment": round((banks.polls - polls) / payments, 3),
            }  # fmt: skip
        finally:
            await rail.close()


async def measure_batch_cost(batches: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="rail-bench-") as data_dir:
        rail = await RailService.open(Path(data_dir), fsync=os.environ.get("FSYNC", "1") == "1")
        try:
            await rail.add_participant(DEBTOR, f"bench {DEBTOR}")
            for _ in range(200):  # warm-up
                await rail.ack(DEBTOR, 0)
            before = rail.core.batches
            cpu_s, thread_s = time.process_time(), time.thread_time()
            for _ in range(batches):
                await rail.ack(DEBTOR, 0)
            cpu_s, thread_s = time.process_time() - cpu_s, time.thread_time() - thread_s
            assert rail.core.batches - before == batches
            return {"batches": batches, "cpu_us_per_batch": round(cpu_s / batches * 1e6, 1),
                    "main_thread_cpu_us_per_batch": round(thread_s / batches * 1e6, 1)}  # fmt: skip
        finally:
            await rail.close()


async def measure(payments: int, round_size: int, callgrind: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="rail-bench-") as data_dir:
        rail = await RailService.open(Path(data_dir), fsync=os.environ.get("FSYNC", "1") == "1")
        tune_gc_for_long_lived_state()  # as `rail serve` does
        try:
            tokens = {bic: await rail.add_participant(bic, f"bench {bic}") for bic in (DEBTOR, CREDITOR)}
            listener = Listener(RailApi(rail))
            listener.loop = asyncio.get_running_loop()  # connections are made by hand: no socket to start
            banks = Participants(listener, tokens, round_size)
            debtor_iban = rail.scheme.bank(DEBTOR).customers[0].iban
            creditor_iban = rail.scheme.bank(CREDITOR).customers[0].iban
            requests = [banks.post(DEBTOR, iso20022.encode(pacs008(i, debtor_iban, creditor_iban), "xml"))
                        for i in range(payments + 2 * round_size)]  # fmt: skip
            now = iso20022.now_pkt().isoformat(timespec="milliseconds")
            for start in (payments, payments + round_size):  # warm-up: first connections, caches, encoders
                await banks.round(requests[start : start + round_size], now)
            batches = rail.core.batches
            _callgrind("--instr=on", callgrind)
            cpu_s, thread_s = time.process_time(), time.thread_time()
            for start in range(0, payments, round_size):
                await banks.round(requests[start : min(start + round_size, payments)], now)
            cpu_s, thread_s = time.process_time() - cpu_s, time.thread_time() - thread_s
            _callgrind("--dump", callgrind)
            _callgrind("--instr=off", callgrind)
            return {
                "payments": payments, "round": round_size,
                "cpu_us_per_payment": round(cpu_s / payments * 1e6, 1),
                "main_thread_cpu_us_per_payment": round(thread_s / payments * 1e6, 1),
                "core_batches_per_round": round((rail.core.batches - batches) / -(-payments // round_size), 2),
            }  # fmt: skip
        finally:
            await rail.close()


def _callgrind(action: str, enabled: bool) -> None:
    if enabled:
        subprocess.run(["callgrind_control", action, str(os.getpid())], check=True, capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payments", type=int, default=2048)
    parser.add_argument("--round", default="16,64", help="payments a round (comma-separated: one run each)")
    parser.add_argument("--callgrind", action="store_true", help="toggle callgrind around the timed rounds")
    parser.add_argument("--batch-cost", type=int, default=None, help="measure N one-acknowledgement batches")
    parser.add_argument("--pace", type=float, default=None, help="offer open loop at this many payments a second")
    parser.add_argument("--group-commit-ms", type=float, default=0.0, help="the core's window with --pace")
    parser.add_argument("--linger-ms", type=float, default=40.0,
                        help="with --pace, the banks' wait after each inbox page (the harness's default: 40)")
    args = parser.parse_args()
    try:
        import uvloop

        run = uvloop.run
    except ImportError:
        run = asyncio.run
    results = []
    if args.batch_cost:
        figures = run(measure_batch_cost(args.batch_cost))
        print(f"a core batch: {figures['cpu_us_per_batch']} µs CPU ({figures['main_thread_cpu_us_per_batch']} on the "
              "event loop's thread)", flush=True)  # fmt: skip
        print(json.dumps({"runs": [figures]}))
        return 0
    if args.pace:
        figures = run(measure_paced(args.payments, args.pace, args.group_commit_ms / 1000,
                                     args.linger_ms / 1000))
        print(f"{args.pace:g}/s offered, {figures['achieved_per_s']}/s achieved: {figures['cpu_us_per_payment']} µs "
              f"CPU a payment, {figures['core_batches_per_payment']} core batches and "
              f"{figures['inbox_polls_per_payment']} inbox polls a payment", flush=True)  # fmt: skip
        print(json.dumps({"runs": [figures]}))
        return 0
    for round_size in (int(r) for r in args.round.split(",") if r.strip()):
        figures = run(measure(args.payments, round_size, args.callgrind))
        print(f"round of {round_size}: {figures['cpu_us_per_payment']} µs CPU a payment "
              f"({figures['main_thread_cpu_us_per_payment']} on the event loop's thread), "
              f"{figures['core_batches_per_round']} core batches a round", flush=True)  # fmt: skip
        results.append(figures)
    print(json.dumps({"runs": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
