"""Benchmark of our own HTTP/1.1 listener (rail/api/listener.py) against an aiohttp `web` server with the same
handler, in the same run: requests/s, p99 latency, and server CPU per request.

    python bench/listener.py [--seconds 10] [--rounds 5] [--connections 64] [--body-bytes 0]
                             [--servers listener,aiohttp]

The handler is the shape of an inbox poll: GET /v1/inbox with a Bearer token looked up in a dict, answered with a
~300-byte JSON page (orjson). With --body-bytes N it is the shape of a submit instead: POST /v1/messages with an
N-byte body, read whole, then the same answer. The servers, each on uvloop in a process of its own:
- listener: rail/api/listener.py with that handler behind rail/api/http_types.HttpApplication;
- aiohttp:  a plain aiohttp `web.Application`, one route, the same handler (the baseline of the ratios).
(Until issue 13 a third server, the aiohttp "fast lane" the listener replaced, was measured here too; its figures
stay in bench/RESULTS.md.)
The load is wrk (Debian package `wrk`; C, one thread, CONNECTIONS keep-alive connections, one request at a time
each) in another process. Rounds interleave the servers, so drifting machine load hits them alike; each figure
is the median over rounds. CPU per request = the server process's user+system CPU seconds (/proc/PID/stat)
over the requests wrk completed: steadier than requests/s on a shared machine, since the 2 cores are shared by
the server, wrk and anything else running.

Prints a table with the ratios against aiohttp, then one JSON object on the last line. Ctrl-C prints what the
finished rounds measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

# bench/rail.py would shadow the ``rail`` package: import from the repository root, not this directory.
_BENCH_DIR = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _BENCH_DIR]
sys.path.insert(0, str(_BENCH_DIR.parent))

import orjson

SERVERS = ("listener", "aiohttp")
BASELINE = "aiohttp"
PATH = "/v1/inbox"
SUBMIT_PATH = "/v1/messages"
SUBMIT_BODY_BYTES_MAX = 1 << 20
TOKEN = "bench-listener-token"
PARTICIPANT = "HABBPKKA"
TOKENS = {TOKEN: PARTICIPANT}
WARM_UP_S = 1.0
SERVER_START_S_MAX = 20.0
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def inbox_page(participant: str) -> dict:
    """The answer: an inbox page of two status reports, ~300 bytes of JSON."""
    return {
        "participant": participant,
        "messages": [
            {
                "seq": seq,
                "type": "pacs.002",
                "uetr": f"0b9f3c2e-6c1d-4f7a-9a51-7d3e2c4b1a{seq:02d}",
                "status": "ACSC",
            }
            for seq in (41, 42)
        ],
        "acked_upto": 40,
        "more": False,
    }


def bearer_participant(authorization: str) -> str | None:
    scheme, _, token = authorization.partition(" ")
    return TOKENS.get(token.strip()) if scheme.lower() == "bearer" else None


# ---- the three servers -----------------------------------------------------------------------------------------


def listener_app():
    from rail.api.http_types import Admit, Request, RequestHead, Response, error_response

    class InboxApp:
        def head(self, head: RequestHead) -> Admit | Response:
            if head.path not in (PATH, SUBMIT_PATH):
                return error_response(404, "not_found", "no such route")
            participant = bearer_participant(head.headers.get("authorization", ""))
            if participant is None:
                return error_response(401, "unauthenticated", "send a Bearer token")
            body_bytes_max = SUBMIT_BODY_BYTES_MAX if head.path == SUBMIT_PATH else 0
            return Admit(head.path, body_bytes_max, participant)

        async def handle(self, request: Request) -> Response:
            page = orjson.dumps(inbox_page(request.admit.participant))
            return Response(200, {"Content-Type": "application/json"}, page)

        def body_too_large(self, head: RequestHead, admit: Admit) -> Response:
            return error_response(413, "too_large", "no body here")

    return InboxApp()


def aiohttp_app():
    from aiohttp import web

    async def inbox(request: web.Request) -> web.Response:
        participant = bearer_participant(request.headers.get("Authorization", ""))
        if participant is None:
            return web.Response(
                status=401, body=b'{"error":"unauthenticated"}', content_type="application/json"
            )
        page = orjson.dumps(inbox_page(participant))
        return web.Response(body=page, headers={"Content-Type": "application/json"})

    async def submit(request: web.Request) -> web.Response:
        await request.read()
        return await inbox(request)

    app = web.Application(client_max_size=SUBMIT_BODY_BYTES_MAX)
    app.router.add_get(PATH, inbox)
    app.router.add_post(SUBMIT_PATH, submit)
    return app


async def _serve(kind: str) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    if kind == "listener":
        from rail.api.listener import Listener

        listener = Listener(listener_app())
        await listener.start("127.0.0.1", 0)
        print(f"port {listener.port}", flush=True)
        await stop.wait()
        await listener.close()
        return
    from aiohttp import web

    runner = web.AppRunner(aiohttp_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(f"port {runner.addresses[0][1]}", flush=True)
    await stop.wait()
    await runner.cleanup()


# ---- the load and the measures ---------------------------------------------------------------------------------


class Server:
    """One server process of `kind`, its port and its CPU clock."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", kind], stdout=subprocess.PIPE, text=True
        )
        line = self.process.stdout.readline()
        if not line.startswith("port "):
            self.stop()
            raise RuntimeError(f"the {kind} server did not start (it printed {line!r})")
        self.port = int(line.split()[1])

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS_PER_S  # utime, stime

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


class Load(NamedTuple):
    """What wrk sends: keep-alive connections, and a POST script (a body of body_bytes) or None for GET."""

    connections: int
    body_bytes: int
    script: Path | None

    @property
    def path(self) -> str:
        return SUBMIT_PATH if self.body_bytes else PATH

    def describe(self) -> str:
        what = (
            f"POST {SUBMIT_PATH} with a {self.body_bytes:,}-byte body" if self.body_bytes else f"GET {PATH}"
        )
        return f"{what}, ~300-byte JSON answer, {self.connections} connections"


def post_script(directory: Path, body_bytes: int) -> Path:
    script = directory / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f'wrk.body = string.rep("x", {body_bytes})\n'
        'wrk.headers["Content-Type"] = "application/xml"\n'
    )
    return script


def wrk(port: int, seconds: float, load: Load) -> dict:
    """One wrk run: requests, requests/s, p99 ms, errors (non-2xx answers and socket errors)."""
    command = [
        "wrk", "-t1", f"-c{load.connections}", f"-d{max(1, round(seconds))}s", "--latency",
        "-H", f"Authorization: Bearer {TOKEN}", f"http://127.0.0.1:{port}{load.path}",
    ]  # fmt: skip
    if load.script is not None:
        command[1:1] = ["-s", str(load.script)]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 30).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "requests": requests,
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p99_ms": float(p99.group(1)) * _UNITS_MS[p99.group(2)],
        "errors": errors + (int(non_2xx.group(1)) if non_2xx else 0),
    }


def measure(server: Server, seconds: float, load: Load) -> dict:
    cpu_before = server.cpu_s()
    figures = wrk(server.port, seconds, load)
    figures["cpu_us_per_request"] = (server.cpu_s() - cpu_before) / max(1, figures["requests"]) * 1e6
    return figures


def run_rounds(kinds: list[str], rounds: int, seconds: float, load: Load) -> dict[str, list[dict]]:
    """Interleaved rounds; a Ctrl-C keeps the rounds already finished."""
    runs: dict[str, list[dict]] = {kind: [] for kind in kinds}
    servers = {kind: Server(kind) for kind in kinds}
    try:
        for server in servers.values():
            wrk(server.port, WARM_UP_S, load)
        for round_index in range(rounds):
            turn = round_index % len(kinds)  # each server takes each place in the order in turn
            figures = {kind: measure(servers[kind], seconds, load) for kind in kinds[turn:] + kinds[:turn]}
            for kind, run in figures.items():
                runs[kind].append(run)
            print(f"round {round_index + 1}/{rounds}: " + ", ".join(
                f"{kind} {run['requests_per_s']:,.0f}/s" for kind, run in figures.items()
            ), file=sys.stderr, flush=True)  # fmt: skip
    except KeyboardInterrupt:
        print("interrupted: reporting the finished rounds", file=sys.stderr)
    finally:
        for server in servers.values():
            server.stop()
    return runs


def summarize(runs: dict[str, list[dict]]) -> dict[str, dict]:
    summary = {}
    for kind, kind_runs in runs.items():
        if not kind_runs:
            continue
        summary[kind] = {
            name: statistics.median(run[name] for run in kind_runs)
            for name in ("requests_per_s", "p99_ms", "cpu_us_per_request")
        }
        summary[kind]["requests_per_s_range"] = [
            min(run["requests_per_s"] for run in kind_runs),
            max(run["requests_per_s"] for run in kind_runs),
        ]
        summary[kind]["errors"] = sum(run["errors"] for run in kind_runs)
        summary[kind]["rounds"] = len(kind_runs)
    baseline = summary.get(BASELINE)
    for figures in summary.values():
        if baseline:
            figures["requests_per_s_vs_aiohttp"] = figures["requests_per_s"] / baseline["requests_per_s"]
            figures["cpu_per_request_vs_aiohttp"] = (
                figures["cpu_us_per_request"] / baseline["cpu_us_per_request"]
            )
    return summary


def print_table(summary: dict[str, dict], args: argparse.Namespace, load: Load, load_average: tuple) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{load.describe()}: {args.rounds} x {args.seconds:g} s rounds (medians)")
    for column in ("server", "requests/s", "range", "p99 ms", "CPU µs/request", "req/s vs aiohttp",
                   "CPU/request vs aiohttp", "errors"):  # fmt: skip
        table.add_column(column, justify="left" if column == "server" else "right")
    for kind, figures in summary.items():
        low, high = figures["requests_per_s_range"]
        table.add_row(
            kind,
            f"{figures['requests_per_s']:,.0f}",
            f"{low:,.0f}-{high:,.0f}",
            f"{figures['p99_ms']:.2f}",
            f"{figures['cpu_us_per_request']:.1f}",
            f"{figures.get('requests_per_s_vs_aiohttp', float('nan')):.2f}x",
            f"{figures.get('cpu_per_request_vs_aiohttp', float('nan')):.2f}x",
            str(figures["errors"]),
        )
    console = Console(width=max(Console().width, 132))  # the whole table, even into a pipe
    console.print(table)
    console.print(f"1-minute load average {load_average[0]:.2f} before, {load_average[1]:.2f} after, on "
                  f"{os.cpu_count()} CPUs: "
                  "well above 1 means other work shared the cores and the absolute figures are low")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of one wrk run (default 10)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds; medians (default 5)")
    parser.add_argument("--connections", type=int, default=64, help="wrk keep-alive connections (default 64)")
    parser.add_argument(
        "--body-bytes",
        type=int,
        default=0,
        help="POST /v1/messages with a body this long (default 0: GET /v1/inbox)",
    )
    parser.add_argument(
        "--servers", default=",".join(SERVERS), help=f"comma-separated, of {', '.join(SERVERS)}"
    )
    parser.add_argument(
        "--serve", choices=SERVERS, help=argparse.SUPPRESS
    )  # a server process of this benchmark
    args = parser.parse_args(argv)
    if args.serve:
        import uvloop

        uvloop.run(_serve(args.serve))
        return 0
    kinds = [kind.strip() for kind in args.servers.split(",") if kind.strip()]
    if unknown := set(kinds) - set(SERVERS):
        parser.error(f"unknown server(s) {', '.join(sorted(unknown))}: choose from {', '.join(SERVERS)}")
    if shutil.which("wrk") is None:
        print("bench/listener.py needs wrk, the HTTP load generator: apt-get install wrk", file=sys.stderr)
        return 2
    if not 0 <= args.body_bytes <= SUBMIT_BODY_BYTES_MAX:
        parser.error(f"--body-bytes must be 0-{SUBMIT_BODY_BYTES_MAX}")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-listener-") as directory:
        script = post_script(Path(directory), args.body_bytes) if args.body_bytes else None
        load = Load(args.connections, args.body_bytes, script)
        runs = run_rounds(kinds, args.rounds, args.seconds, load)
    summary = summarize(runs)
    print_table(summary, args, load, (load_before, os.getloadavg()[0]))
    print(json.dumps({
        "benchmark": "listener", "python": platform.python_version(), "machine": platform.machine(),
        "cpus": os.cpu_count(), "connections": args.connections, "seconds": args.seconds, "load": load.describe(),
        "load_average_1m": [load_before, os.getloadavg()[0]], "unix_time": int(time.time()), "servers": summary,
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
