"""Benchmark of the rail beyond one process: the replicated journal (NATS JetStream, 3 nodes) against the local
file journal, and the failover time of an active/standby pair.

    python bench/cluster.py [--payments 2000] [--failovers 1] [--http-payments 4000] [--worker-rounds 3]
                            [--connections 256] [--only journal|workers]

Starts its own 3-node nats-server cluster on loopback ports (Debian package `nats-server`), so every replica
shares this machine's 2 cores and disk with the rail: the figures are a floor for a real 3-machine cluster.

1. Journal alone: sequential appends of 64-record batches (~1 KB records), FileJournal with fdatasync per
   batch vs NatsJournal (acknowledged once stored by a majority of the 3 replicas). Batches/s and the ratio.
2. The rail in-process (RailService, JSON pacs.008 from one external debtor agent to a simulated creditor bank
   that accepts at once, `Prefer: wait` until ACSC, 128 concurrent submitters): payments/s with each journal,
   the ratio replicated/local, and the conservation check.
3. Failover: `rail serve --journal nats://...` active + `--standby` in subprocesses; the active one is
   SIGKILLed and the time until the first payment settles (ACSC) through the standby is measured.
4. Edge workers: `rail serve` (file journal) in-process, `--workers 1` and `--workers 2` (hand-off over a
   single-node nats-server). A wrk-like load client (pre-encoded requests written from the protocol callback,
   HTTP_CONNECTIONS keep-alive connections, one request at a time each) sends XML pacs.008 to a simulated
   creditor bank without waiting, then polls until every one has settled (reconciled: the debtor's posted
   balance moved by exactly their sum; conservation checked). payments/s = payments / (last settled - first
   sent). WORKER_ROUNDS interleaved rounds (in-process, 1, 2, in-process, 1, 2, ...): the medians, and the
   median of each round's own 2/1 ratio. Where the CPU went, per payment (/proc): the core process, its edge
   workers, nats-server, the load client, and everything else on the machine (other users of the 2 cores).

Prints a table, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import aiohttp
from rich.console import Console
from rich.table import Table

from participants.sandbox import start_sandbox_banks
from participants.transport import HttpTransport
from rail import iso20022
from rail.api.service import RailService
from rail.cluster.nats_journal import NatsJournal
from rail.cluster.nats_local import LocalNatsCluster, nats_server_path
from rail.scheme import default_scheme
from rail.settlement.journal import FileJournal


def _bench_rail_module():
    """bench/rail.py (its pacs.008 builder): loaded by path, its name would shadow the rail package."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_rail", Path(__file__).with_name("rail.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_BENCH_RAIL = _bench_rail_module()
pacs008 = _BENCH_RAIL.pacs008
DEBTOR = _BENCH_RAIL.DEBTOR  # taken over by the benchmark (an external participant)
CREDITOR = _BENCH_RAIL.CREDITOR  # left to the rail: a simulated bank that answers ACSP itself
SUBMITTERS = 128
JOURNAL_RUN_S = 2.0
JOURNAL_BATCH_RECORDS = 64
RUN_S_MAX = 40.0  # hard bound on one rail run
ADMIN = "bench-cluster-admin"
# Load connections for the edge-worker comparison (keep-alive, one request at a time each, as wrk drives them).
# 256, not 64: with 64 no process of a --workers run is saturated (each waits on the hand-off round trip and the
# core's journal commit), so the figure measured latency x 64 rather than what the configuration can carry.
HTTP_CONNECTIONS = 256
WORKER_ROUNDS = 3
SETTLED_POLL_S = 0.01
FAST_BANKS = {"sandbox_accept_delay_ms_min": 1, "sandbox_accept_delay_ms_max": 2}


def journal_batches_per_s(journal, seconds: float = JOURNAL_RUN_S) -> float:
    async def run() -> float:
        records = [time.time_ns()] + [os.urandom(1000) for _ in range(JOURNAL_BATCH_RECORDS)]
        count = 0
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            await journal.append(records)
            count += 1
        return count / (time.perf_counter() - started)

    try:
        return asyncio.run(run())
    finally:
        journal.close()


async def rail_payments_per_s(payments: int, journal_url: str | None) -> dict:
    journal = NatsJournal.open(journal_url) if journal_url else None
    with tempfile.TemporaryDirectory(prefix="rail-bench-cluster-") as data_dir:
        service = await RailService.open(Path(data_dir), journal=journal, **FAST_BANKS)
        await start_sandbox_banks(service)  # the creditor: a simulated bank answering in this process
        try:
            await service.add_participant(DEBTOR, "bench debtor")
            debtor_iban = service.scheme.bank(DEBTOR).customers[0].iban
            creditor_iban = service.scheme.bank(CREDITOR).customers[0].iban
            bodies = [
                iso20022.encode(pacs008(i, debtor_iban, creditor_iban), "json") for i in range(payments)
            ]
            statuses: dict[int, int] = {}

            async def submitter(offset: int) -> None:
                for index in range(offset, payments, SUBMITTERS):
                    reply = await service.submit(DEBTOR, bodies[index], "application/json", wait_s=10)
                    statuses[reply.status] = statuses.get(reply.status, 0) + 1

            async def drain_debtor_inbox() -> None:
                while sum(statuses.values()) < payments:
                    page = await service.inbox_structs(DEBTOR, 0.2, 1000)
                    if page:
                        await service.ack(DEBTOR, page[-1][0])

            started = time.perf_counter()
            drainer = asyncio.create_task(drain_debtor_inbox())
            await asyncio.wait_for(asyncio.gather(*(submitter(i) for i in range(SUBMITTERS))), RUN_S_MAX)
            elapsed = time.perf_counter() - started
            await drainer
            return {
                "payments": payments,
                "seconds": elapsed,
                "payments_per_s": payments / elapsed,
                "settled": statuses.get(200, 0),
                "conserved": (await service.balances())["conserved"],
                "commands_per_batch": service.core.commands_applied / max(1, service.core.batches),
            }
        finally:
            await service.close()


class _Core:
    def __init__(self, url: str, data_dir: Path, standby: bool, args: list[str] | None = None) -> None:
        command = [
            sys.executable, "-m", "rail", "serve", "--port", "0", "--data", str(data_dir),
            "--admin-token", ADMIN,
        ] + (["--journal", url] if url else []) + (["--standby"] if standby else []) + (args or [])  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            cwd=REPO,  # not bench/: its rail.py would shadow the rail package for `python -m rail`
        )  # fmt: skip
        self.url = ""

    def wait_for(self, pattern: str, timeout_s: float) -> re.Match:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            match = re.search(pattern, line)
            if match:
                return match
        raise RuntimeError(f"rail serve: no line matching {pattern!r}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


async def failover_seconds(cluster_url: str, run: int, directory: Path) -> float:
    url = f"{cluster_url}/FAILOVER{run}"
    active = _Core(url, directory / f"a{run}", standby=False)
    standby = None
    try:
        active.url = active.wait_for(r"listening on (http://\S+)", 30).group(1)
        standby = _Core(url, directory / f"b{run}", standby=True)
        standby.wait_for(r"standby: following", 30)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=RUN_S_MAX)) as session:
            admin = {"Authorization": f"Bearer {ADMIN}"}
            async with session.post(
                active.url + "/admin/participants", json={"bic": DEBTOR, "name": "d"}, headers=admin
            ) as response:
                token = (await response.json())["token"]
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                       "Prefer": "wait=5"}  # fmt: skip
            scheme = default_scheme()
            iban = scheme.bank(DEBTOR).customers[0].iban
            creditor_iban = scheme.bank(CREDITOR).customers[0].iban

            async def pay(base: str, index: int) -> str:
                body = iso20022.encode(pacs008(index, iban, creditor_iban), "json")
                async with session.post(base + "/v1/messages", data=body, headers=headers) as response:
                    return iso20022.decode(await response.read(), "application/json").message.tx.tx_sts

            assert await pay(active.url, 0) == "ACSC"
            active.process.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            active.process.wait()
            standby.url = await asyncio.get_running_loop().run_in_executor(
                None, lambda: standby.wait_for(r"listening on (http://\S+)", 30).group(1)
            )
            status = await pay(standby.url, 1)
            elapsed = time.monotonic() - killed
            if status != "ACSC":
                raise RuntimeError(f"first payment on the standby ended {status}")
            return elapsed
    finally:
        active.stop()
        if standby is not None:
            standby.stop()


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _LoadConnection(asyncio.Protocol):
    """One keep-alive connection of the load client, as wrk drives one: the next pre-encoded request is written
    as soon as the previous answer is complete, from the protocol callback itself (no coroutine, no request
    object, no header dict), so the client costs the machine as little CPU as possible and the rail gets the
    cores. Answers are framed by Content-Length (the rail sends it on every POST /v1/messages answer)."""

    def __init__(self, requests: list[bytes], statuses: dict[int, int], done: asyncio.Future) -> None:
        self.requests = requests
        self.statuses = statuses
        self.done = done
        self.next_index = 0
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        self._send_next()

    def _send_next(self) -> None:
        if self.next_index == len(self.requests):
            self.transport.close()
            if not self.done.done():
                self.done.set_result(None)
            return
        self.transport.write(self.requests[self.next_index])
        self.next_index += 1

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(buf[:end]).lower()
        at = head.find(b"\r\ncontent-length:")
        if at < 0:
            self._fail(RuntimeError(f"an answer without Content-Length: {head[:200]!r}"))
            return
        line_end = head.find(b"\r\n", at + 2)
        length = int(head[at + len(b"\r\ncontent-length:") : line_end if line_end > 0 else len(head)])
        if len(buf) < end + 4 + length:
            return
        status = int(head[9:12])
        self.statuses[status] = self.statuses.get(status, 0) + 1
        del buf[: end + 4 + length]
        self._send_next()

    def connection_lost(self, exc) -> None:
        if self.next_index < len(self.requests) or self.buf:
            self._fail(exc or ConnectionResetError("the rail closed a load connection"))

    def _fail(self, error: BaseException) -> None:
        if not self.done.done():
            self.done.set_exception(error)
        if self.transport is not None:
            self.transport.close()


def _request_bytes(host_port: str, token: str, body: bytes) -> bytes:
    head = (
        f"POST /v1/messages HTTP/1.1\r\nHost: {host_port}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/xml\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def _machine_busy_s() -> float:
    """CPU seconds every process of the machine spent so far (/proc/stat: all but idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def _process_tree(pid: int) -> list[int]:
    """pid and its children (the edge workers of a `rail serve --workers N`)."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    children.append(int(entry.name))
    return [pid, *children]


async def http_payments_per_s(
    payments: int, data_dir: Path, extra: list[str], nats_pid: int | None, connections: int = HTTP_CONNECTIONS
) -> dict:
    """One `rail serve` configuration (see 4. above): payments/s settled, and where the CPU went (µs a payment:
    the core process, its edge workers, nats-server, this load client, and everything else on the machine)."""
    core = _Core("", data_dir, standby=False, args=extra)
    try:
        core.url = core.wait_for(r"listening on (http://\S+)", 30).group(1)
        operator = HttpTransport(core.url, admin_token=ADMIN)
        token = await operator.add_participant(DEBTOR, "bench debtor")
        # A default-scheme bank starts prefunded: its balance after this top-up is the starting point.
        prefund = (await operator.liquidity(DEBTOR, 10**12, "in"))["posted_paisa"]
        scheme = default_scheme()
        iban = scheme.bank(DEBTOR).customers[0].iban
        creditor_iban = scheme.bank(CREDITOR).customers[0].iban
        messages = [pacs008(i, iban, creditor_iban) for i in range(payments)]
        host_port = core.url.split("://", 1)[1]
        requests = [_request_bytes(host_port, token, iso20022.encode(m, "xml")) for m in messages]
        total_paisa = sum(m.cdt_trf_tx_inf[0].amount_paisa for m in messages)
        statuses: dict[int, int] = {}
        host, port = host_port.rsplit(":", 1)
        loop = asyncio.get_running_loop()
        pids = _process_tree(core.process.pid)
        watched = {"core": [pids[0]], "edges": pids[1:], "nats": [nats_pid] if nats_pid else [],
                   "client": [os.getpid()]}  # fmt: skip

        def cpu_now() -> dict[str, float]:
            figures = {name: sum(_cpu_s(pid) for pid in group) for name, group in watched.items()}
            figures["machine"] = _machine_busy_s()
            return figures

        cpu_started = cpu_now()
        started = time.perf_counter()
        finished = []
        for index in range(connections):
            done = loop.create_future()
            share = requests[index::connections]
            await loop.create_connection(
                lambda s=share, d=done: _LoadConnection(s, statuses, d), host, int(port)
            )
            finished.append(done)
        await asyncio.wait_for(asyncio.gather(*finished), RUN_S_MAX)
        if statuses.get(202, 0) != payments:
            raise RuntimeError(f"not every payment was accepted: {statuses}")
        deadline = time.perf_counter() + RUN_S_MAX
        while True:  # reconciled: the debtor's posted balance shows every payment settled
            balances = await operator.balances()
            if balances["accounts"][DEBTOR]["posted_paisa"] == prefund - total_paisa:
                break
            if time.perf_counter() > deadline:
                raise RuntimeError("payments did not all settle")
            await asyncio.sleep(SETTLED_POLL_S)
        elapsed = time.perf_counter() - started
        cpu_ended = cpu_now()
        await operator.close()
        cpu_us = {name: (cpu_ended[name] - cpu_started[name]) * 1e6 / payments for name in cpu_started}
        ours = sum(value for name, value in cpu_us.items() if name != "machine")
        cpu_us["other"] = max(0.0, cpu_us.pop("machine") - ours)
        return {"payments_per_s": payments / elapsed, "cpu_us": cpu_us, "seconds": elapsed,
                "conserved": balances["conserved"]}  # fmt: skip
    finally:
        core.stop()


def workers_comparison(payments: int, rounds: int, directory: Path, connections: int) -> dict:
    """In-process edge, --workers 1 and --workers 2, in interleaved rounds on one single-node nats-server."""
    runs: dict[int, list[dict]] = {0: [], 1: [], 2: []}
    with LocalNatsCluster(directory / "nats1", nodes=1) as single:
        nats_pid = single.nodes[0].process.pid
        # Interleaved rounds (0, 1, 2, 0, 1, 2, ...): the machine is shared, and a neighbour's load swings a short
        # run more than the configurations differ; each round's 2/1 ratio compares runs seconds apart.
        for round_index in range(rounds):
            for workers, measured in runs.items():
                extra = ["--workers", str(workers), "--nats", single.url] if workers else []
                run_dir = directory / f"w{workers}-{round_index}"
                measured.append(
                    asyncio.run(http_payments_per_s(payments, run_dir, extra, nats_pid, connections))
                )
    rates = {w: [run["payments_per_s"] for run in measured] for w, measured in runs.items()}
    ratios = [two / one for two, one in zip(rates[2], rates[1], strict=True)]
    cpu = {
        w: {
            name: statistics.median(run["cpu_us"][name] for run in measured) for name in measured[0]["cpu_us"]
        }
        for w, measured in runs.items()
    }
    return {
        "rounds": rounds,
        "rates": rates,
        "median": {w: statistics.median(r) for w, r in rates.items()},
        "best": {w: max(r) for w, r in rates.items()},
        "ratios_2_over_1": ratios,
        "cpu_us": cpu,
        "conserved": all(run["conserved"] for measured in runs.values() for run in measured),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--payments", type=int, default=2000)
    parser.add_argument("--failovers", type=int, default=1)
    parser.add_argument("--http-payments", type=int, default=4000)
    parser.add_argument("--worker-rounds", type=int, default=WORKER_ROUNDS)
    parser.add_argument(
        "--connections", type=int, default=HTTP_CONNECTIONS, help="load connections (edge workers)"
    )
    parser.add_argument("--only", choices=("journal", "workers"), default=None,
                        help="only the journal + failover figures, or only the edge-worker comparison")  # fmt: skip
    args = parser.parse_args()
    if nats_server_path() is None:
        print("nats-server is not installed (apt-get install nats-server)", file=sys.stderr)
        return 1
    console = Console()
    results: dict = {}
    table = Table(title="rail beyond one process (NATS JetStream on this machine)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        tmp_path = Path(tmp)
        if args.only in (None, "journal"):
            results.update(journal_figures(args, tmp_path, table))
        if args.only in (None, "workers"):
            results.update(worker_figures(args, tmp_path, table))
    console.print(table)
    print(json.dumps(results))
    return 0


def journal_figures(args, tmp_path: Path, table: Table) -> dict:
    with LocalNatsCluster(tmp_path / "nats", nodes=3) as cluster:
        cluster.wait_jetstream_ready()
        file_bps = journal_batches_per_s(FileJournal.open(tmp_path / "fj", fsync=True))
        nats_bps = journal_batches_per_s(NatsJournal.open(f"{cluster.url}/BENCHJ"))
        local = asyncio.run(rail_payments_per_s(args.payments, None))
        replicated = asyncio.run(rail_payments_per_s(args.payments, f"{cluster.url}/BENCHR"))
        failovers = [
            asyncio.run(failover_seconds(cluster.url, run, tmp_path)) for run in range(args.failovers)
        ]
    results = {
        "journal_file_batches_per_s": round(file_bps, 1),
        "journal_nats_r3_batches_per_s": round(nats_bps, 1),
        "journal_nats_over_file_ratio": round(nats_bps / file_bps, 3),
        "rail_file_journal_payments_per_s": round(local["payments_per_s"], 1),
        "rail_nats_journal_payments_per_s": round(replicated["payments_per_s"], 1),
        "rail_nats_over_file_ratio": round(replicated["payments_per_s"] / local["payments_per_s"], 3),
        "rail_settled_all": local["settled"] == args.payments and replicated["settled"] == args.payments,
        "conserved": local["conserved"] and replicated["conserved"],
        "rail_commands_per_batch_nats": round(replicated["commands_per_batch"], 1),
        "failover_s": [round(s, 2) for s in failovers],
        "failover_s_max": round(max(failovers), 2) if failovers else None,
        "failover_target_s": 5.0,
    }
    table.add_row("journal appends/s, file + fdatasync (64 x 1 KB records)", f"{file_bps:,.0f}")
    table.add_row("journal appends/s, NATS JetStream R3", f"{nats_bps:,.0f}")
    table.add_row("  ratio NATS / file", f"{results['journal_nats_over_file_ratio']:.2f}")
    table.add_row("rail payments/s, file journal (in-process, JSON)", f"{local['payments_per_s']:,.0f}")
    table.add_row("rail payments/s, NATS R3 journal", f"{replicated['payments_per_s']:,.0f}")
    table.add_row("  ratio NATS / file", f"{results['rail_nats_over_file_ratio']:.2f}")
    table.add_row("all settled, conserved", f"{results['rail_settled_all']}, {results['conserved']}")
    for run, seconds in enumerate(failovers):
        table.add_row(f"failover {run + 1}: SIGKILL -> first ACSC on standby", f"{seconds:.2f} s")
    return results


def worker_figures(args, tmp_path: Path, table: Table) -> dict:
    compared = workers_comparison(args.http_payments, args.worker_rounds, tmp_path, args.connections)
    median, best, cpu = compared["median"], compared["best"], compared["cpu_us"]
    ratio_median = statistics.median(compared["ratios_2_over_1"])
    results = {
        "worker_rounds": compared["rounds"],
        "http_payments_per_round": args.http_payments,
        "http_connections": args.connections,
        "http_in_process_payments_per_s_median": round(median[0], 1),
        "http_workers_1_payments_per_s_median": round(median[1], 1),
        "http_workers_2_payments_per_s_median": round(median[2], 1),
        "http_payments_per_s_by_round": {
            str(w): [round(r) for r in rates] for w, rates in compared["rates"].items()
        },
        "workers_2_over_1_ratio_median": round(ratio_median, 3),
        "workers_2_over_1_ratio_by_round": [round(r, 3) for r in compared["ratios_2_over_1"]],
        "workers_2_over_1_ratio_best_of": round(best[2] / best[1], 3),
        "workers_2_over_in_process_ratio_median": round(median[2] / median[0], 3),
        "workers_settled_all_conserved": compared["conserved"],
        "cpu_us_per_payment_median": {str(w): {k: round(v) for k, v in c.items()} for w, c in cpu.items()},
    }
    for workers, label in ((0, "in-process edge (default)"), (1, "--workers 1 (NATS hand-off)"),
                           (2, "--workers 2")):  # fmt: skip
        rates = ", ".join(f"{r:,.0f}" for r in compared["rates"][workers])
        table.add_row(
            f"HTTP payments/s settled, {label}: median (rounds)", f"{median[workers]:,.0f} ({rates})"
        )
    table.add_row(
        f"  ratio workers 2 / 1: median of {compared['rounds']} same-round ratios (each)",
        f"{ratio_median:.2f} ({', '.join(f'{r:.2f}' for r in compared['ratios_2_over_1'])})",
    )
    table.add_row("  ratio workers 2 / in-process (medians)", f"{median[2] / median[0]:.2f}")
    for workers in (0, 1, 2):
        parts = ", ".join(f"{name} {value:,.0f}" for name, value in cpu[workers].items())
        table.add_row(f"CPU µs a payment (median), workers={workers}", parts)
    return results


if __name__ == "__main__":
    raise SystemExit(main())
