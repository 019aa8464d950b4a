"""`rail serve`: the participant sandbox endpoint (HTTP, ISO 20022 XML or JSON) on uvloop.

    rail serve --host 127.0.0.1 --port 8080 --data ./rail-data

The journal lives in --data; restarting on the same directory recovers every acknowledged payment and every
unacknowledged inbox message. The admin token comes from --admin-token or RAIL_ADMIN_TOKEN; without either, the one
an earlier start set is kept (journaled as its hash), or at the very first start one is generated and printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

ADMIN_TOKEN_ENV = "RAIL_ADMIN_TOKEN"
TCP_PORT_MAX = 65_535
GROUP_COMMIT_ENV = "RAIL_GROUP_COMMIT_MS"
DECODE_WORKERS_ENV = "RAIL_DECODE_WORKERS"
GROUP_COMMIT_MS_DEFAULT = 5.0  # rail/settlement/core.py's GROUP_COMMIT_FULL says why
GROUP_COMMIT_MS_MAX = 100.0  # every answer may wait this long: far below the scheme's timeouts


def tcp_port(text: str) -> int:
    """argparse type of --port: 0..65535 (the OS would silently take a larger number modulo 65536)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= TCP_PORT_MAX:
        raise argparse.ArgumentTypeError(f"{port} is not a TCP port: use 1-{TCP_PORT_MAX}, or 0 for a free one")
    return port


def group_commit_ms(text: str) -> float:
    """argparse type of --group-commit-ms: 0..GROUP_COMMIT_MS_MAX (a larger window would hold every answer)."""
    try:
        window = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of milliseconds") from None
    if not 0 <= window <= GROUP_COMMIT_MS_MAX:
        raise argparse.ArgumentTypeError(f"{text} ms: use 0 (each batch at once) to {GROUP_COMMIT_MS_MAX:g}")
    return window


def decode_workers(text: str) -> int:
    """argparse type of --decode-workers: `auto` (one worker if another CPU can run it) or 0..WORKERS_MAX."""
    from rail.iso20022.decode_pool import WORKERS_MAX

    if text == "auto":
        return 1 if (os.cpu_count() or 1) >= 2 else 0
    try:
        workers = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of processes (or auto)") from None
    if not 0 <= workers <= WORKERS_MAX:
        raise argparse.ArgumentTypeError(f"{workers}: use 0 (decode in this process) to {WORKERS_MAX}")
    return workers


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=tcp_port, default=8080, help="TCP port (default 8080; 0 picks a free one)")
    parser.add_argument(
        "--data",
        type=Path,
        default=Path("rail-data"),
        help="directory for the journal and snapshots (default ./rail-data)",
    )
    parser.add_argument(
        "--admin-token",
        default=None,
        help=f"operator token for /admin (default: ${ADMIN_TOKEN_ENV}, else generated and printed)",
    )
    _journal_options(parser)
    parser.add_argument(
        "--creditor-timeout-ms",
        type=int,
        default=None,
        help="scheme timeout for the creditor agent's answer (default 10000)",
    )
    parser.add_argument(
        "--hard-stop-ms",
        type=int,
        default=None,
        help="hard stop from acceptance, even after ACWP (default 20000)",
    )
    parser.add_argument(
        "--retention-days",
        type=float,
        default=None,
        help="remember every payment this long after its final status: duplicate check (a resend gets its "
        "original answer), returns, status queries (default 30; the return window shrinks to it if shorter)",
    )
    parser.add_argument(
        "--payments-retained-max",
        type=int,
        default=None,
        help="payments remembered at most (about 0.7 KB of memory each); beyond it new payments are refused "
        "with 503 until old ones leave the window, never forgotten early (default 10,000,000)",
    )
    parser.add_argument(
        "--traces-max-mb",
        type=float,
        default=256.0,
        help="message traces kept in DATA/traces at most (every message in and out of the rail, per payment, "
        "for GET /v1/payments/{uetr}/messages; the oldest go first; default 256; 0 keeps none)",
    )
    parser.add_argument(
        "--traces-days",
        type=float,
        default=7.0,
        help="message traces older than this go (default 7)",
    )
    parser.add_argument(
        "--no-simulated-banks",
        dest="simulate_banks",
        action="store_false",
        help="do not answer for the default scheme's banks from inside the rail",
    )
    _decode_option(parser)
    _cluster_options(parser)
    parser.add_argument("--log-level", default="WARNING", help="Python logging level (default WARNING)")


def _decode_option(parser: argparse.ArgumentParser) -> None:
    """Decoding off the settlement core's event loop (docs/operations.md, "Decoding off the event loop")."""
    parser.add_argument(
        "--decode-workers",
        type=decode_workers,
        default=os.environ.get(DECODE_WORKERS_ENV, "auto"),  # argparse applies `type`
        metavar="N|auto",
        help="processes that decode submitted messages (XML parse, official XSD, tree walk) beside the "
        "settlement core's event loop, on the other cores; bodies are decoded in-process while none can take "
        f"them (0: all in this process; default ${DECODE_WORKERS_ENV}, else auto: 1 on a machine with 2 or more "
        "CPUs, 0 on one)",
    )


def _core_decode_workers(args: argparse.Namespace) -> int:
    """The decode workers the core's process starts: none beside edge workers (--workers), which decode themselves."""
    return 0 if args.workers else args.decode_workers


def _journal_options(parser: argparse.ArgumentParser) -> None:
    """How batches reach the disk: fdatasync'ed each (unless benchmarking), gathered for a few ms under load."""
    parser.add_argument(
        "--no-fsync",
        dest="fsync",
        action="store_false",
        help="BENCHMARK ONLY: do not fdatasync each batch; a crash may lose acknowledged payments",
    )
    parser.add_argument(
        "--group-commit-ms",
        type=group_commit_ms,
        default=os.environ.get(GROUP_COMMIT_ENV, str(GROUP_COMMIT_MS_DEFAULT)),  # argparse applies `type`
        help="the settlement core starts a batch at most this long after the previous one, so that at moderate "
        "load one fdatasync covers several payments (adds at most this much latency; 0: each batch at once; "
        f"default ${GROUP_COMMIT_ENV}, else {GROUP_COMMIT_MS_DEFAULT:g})",
    )


def _cluster_options(parser: argparse.ArgumentParser) -> None:
    """Beyond one process (docs/cluster.md): a replicated journal, a standby core, edge workers."""
    parser.add_argument(
        "--journal",
        default=None,
        metavar="nats://H1,H2,H3[/NAME]",
        help="replicate the journal on a NATS JetStream cluster instead of a file in --data (docs/cluster.md)",
    )
    parser.add_argument(
        "--standby",
        action="store_true",
        help="with --journal: follow the active core and take over (and serve) when its lease expires",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="N edge worker processes share --port (SO_REUSEPORT), decode/validate/authenticate and hand "
        "messages to this core over --nats (default 0: everything in this process)",
    )
    parser.add_argument(
        "--nats",
        default=None,
        metavar="nats://HOST[:PORT]",
        help="NATS for the edge<->core hand-off of --workers (default: the --journal cluster)",
    )


async def _start_simulated_banks(service) -> list[str]:
    """The default scheme's banks no client has taken over, answering from this process (participants/sandbox.py)."""
    from participants.sandbox import start_sandbox_banks

    sandbox = await start_sandbox_banks(service)
    return [bank.bic for bank in service.scheme.banks if bank.bic in sandbox.banks]


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.WARNING),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        import uvloop
    except ImportError:  # the pure-asyncio loop works too, only slower
        uvloop = None
    runner = uvloop.run if uvloop is not None else asyncio.run
    try:
        return runner(_serve(args))
    except KeyboardInterrupt:
        return 130


class _Refused(Exception):
    """A start that cannot go on: the message is printed, the exit code returned."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _scheme_params(args: argparse.Namespace) -> dict:
    """The SchemeParams this start overrides from its options."""
    params = {}
    if args.creditor_timeout_ms is not None:
        params["creditor_timeout_ms"] = args.creditor_timeout_ms
    if args.hard_stop_ms is not None:
        params["hard_stop_ms"] = args.hard_stop_ms
    if args.retention_days is not None:
        from rail.scheme import SchemeParams

        params["retention_days"] = args.retention_days
        params["return_window_s"] = int(min(SchemeParams().return_window_s, args.retention_days * 86_400))
    if args.payments_retained_max is not None:
        params["payments_retained_max"] = args.payments_retained_max
    return params


async def _serve(args: argparse.Namespace) -> int:
    if args.standby and not args.journal:
        print("rail serve: --standby needs --journal nats://HOST[,HOST...]", file=sys.stderr)
        return 2
    if args.workers and not (args.nats or args.journal):
        print(
            "rail serve: --workers needs --nats nats://HOST[:PORT] (or --journal nats://...)", file=sys.stderr
        )
        return 2
    lease_lost = asyncio.Event()
    try:
        service = await _open_rail(args, lease_lost)
    except _Refused as refused:
        print(f"rail serve: {refused}", file=sys.stderr)
        return refused.exit_code
    simulated = await _start_simulated_banks(service) if args.simulate_banks else []
    try:
        port, stop_serving = await _start_serving(args, service)
    except _Refused as refused:
        print(f"rail serve: {refused}", file=sys.stderr)
        await service.close()
        return refused.exit_code
    from rail.runtime import tune_gc_for_long_lived_state

    tune_gc_for_long_lived_state()  # what recovery and start-up built lives as long as the rail
    _announce(args, service, port, simulated)
    lost = await _wait_for_stop(lease_lost)
    await stop_serving()
    await service.close()
    return 3 if lost else 0


async def _open_rail(args: argparse.Namespace, lease_lost: asyncio.Event):
    """The rail, recovered from its journal (a file in --data, or the replicated one of --journal)."""
    from rail.api.service import RailService
    from rail.api.trace_store import TraceSettings
    from rail.settlement.journal_format import JournalCorruption, JournalError

    if args.traces_max_mb < 0 or args.traces_days <= 0:
        raise _Refused("--traces-max-mb must be 0 or more and --traces-days more than 0", 2)
    loop = asyncio.get_running_loop()
    journal = takeover = None
    if args.journal:
        from rail.cluster.failover import LeaseHeld, open_replicated

        try:
            journal, takeover = await open_replicated(
                args.journal, standby=args.standby, on_lost=lambda: loop.call_soon_threadsafe(lease_lost.set)
            )
        except (ValueError, JournalError, LeaseHeld) as exc:
            raise _Refused(str(exc), 1) from None
        if args.standby:
            print(f"rail: standby: following {args.journal}; serving once the active core's lease expires",
                  flush=True)  # fmt: skip
    admin_token = args.admin_token or os.environ.get(ADMIN_TOKEN_ENV) or None
    traces = TraceSettings(bytes_max=int(args.traces_max_mb * (1 << 20)), age_s=args.traces_days * 86_400)
    try:
        return await RailService.open(
            args.data, fsync=args.fsync, admin_token=admin_token, journal=journal, takeover=takeover,
            traces=traces, group_commit_s=args.group_commit_ms / 1000, decode_workers=_core_decode_workers(args),
            **_scheme_params(args),
        )  # fmt: skip
    except ValueError as exc:  # a scheme parameter the rail cannot honour
        if journal is not None:
            journal.close()
        raise _Refused(str(exc), 2) from None
    except (JournalError, OSError) as exc:
        if journal is not None:
            journal.close()
        message = f"cannot open the journal in {args.journal or args.data}: {exc}"
        if isinstance(exc, JournalCorruption):
            message += (
                f"\nrail serve: nothing was changed. `rail journal verify --data {args.data}` shows what is "
                "damaged and what `rail journal salvage` could keep (docs/operations.md)"
            )
        raise _Refused(message, 1) from None


async def _start_serving(args: argparse.Namespace, service) -> tuple[int, Callable[[], Awaitable[None]]]:
    """The rail's API on the public port: our own listener, or N edge worker processes sharing it."""
    from rail.api.listener import Listener
    from rail.api.routes import RailApi

    api = RailApi(service)
    if args.workers:
        from rail.cluster.edge_core import start_workers

        try:
            return await start_workers(api, args.nats or args.journal, args.host, args.port, args.workers)
        except (ConnectionError, RuntimeError, OSError, ValueError) as exc:
            raise _Refused(f"cannot start {args.workers} edge workers: {exc}", 1) from None
    listener = Listener(api)
    try:
        await listener.start(args.host, args.port)
    except OSError as exc:
        raise _Refused(f"cannot listen on {args.host}:{args.port}: {exc}", 1) from None
    return listener.port, listener.close


def _announce(args: argparse.Namespace, service, port: int, simulated: list[str]) -> None:
    where = args.journal or args.data
    print(
        f"rail: listening on http://{args.host}:{port}  ({'journal' if args.journal else 'data'}: {where}, "
        f"{f'{args.workers} edge workers, ' if args.workers else ''}"
        f"{f'{_core_decode_workers(args)} decode worker(s), ' if _core_decode_workers(args) else ''}"
        f"fsync: {'on' if args.fsync else 'OFF - benchmark mode'})",
        flush=True,
    )
    if service.admin_token_generated:
        print(f"rail: admin token (generated): {service.admin_token}", flush=True)
    elif not (args.admin_token or os.environ.get(ADMIN_TOKEN_ENV)):
        print(
            "rail: admin token: the one set at an earlier start (kept as its hash in the journal); "
            f"--admin-token or {ADMIN_TOKEN_ENV} sets a new one",
            flush=True,
        )
    print(
        f"rail: default scheme: central bank {service.scheme.central_bank_bic}; "
        f"simulated banks: {', '.join(simulated) or 'none'}",
        flush=True,
    )
    print(f"rail: replayed {service.core.replayed_commands} journaled commands", flush=True)
    print(f"rail: workbench: {workbench_url(args.host, port)}  (sign in with the admin token or a participant's)",
          flush=True)


def workbench_url(host: str, port: int) -> str:
    """The workbench page's address on a rail listening on host:port (a wildcard bind is reached on loopback)."""
    host = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(host, host)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}/"


async def _wait_for_stop(lease_lost: asyncio.Event) -> bool:
    """Until SIGINT/SIGTERM, or this core loses the leader lease (True)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # asyncio raises NotImplementedError where the platform has no signal handlers (Windows): Ctrl-C
        # then ends the process the default way.
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    lost = asyncio.ensure_future(lease_lost.wait())
    await asyncio.wait([asyncio.ensure_future(stop.wait()), lost], return_when=asyncio.FIRST_COMPLETED)
    if lost.done():
        print("rail: this core lost the leader lease (another core now writes the journal): stopping",
              flush=True)  # fmt: skip
    else:
        print("rail: stopping", flush=True)
    return lost.done()
