"""`rail serve`: the participant sandbox endpoint (HTTP, ISO 20022 XML or JSON) on uvloop.

    rail serve --host 127.0.0.1 --port 8080 --data ./rail-data

The journal lives in --data; restarting on the same directory recovers every acknowledged payment and every
unacknowledged inbox message. The admin token comes from --admin-token or RAIL_ADMIN_TOKEN, or is generated and
printed at start.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from aiohttp import web

ADMIN_TOKEN_ENV = "RAIL_ADMIN_TOKEN"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="TCP port (default 8080; 0 picks a free one)")
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
    parser.add_argument(
        "--no-fsync",
        dest="fsync",
        action="store_false",
        help="BENCHMARK ONLY: do not fdatasync each batch; a crash may lose acknowledged payments",
    )
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
        "--no-simulated-banks",
        dest="simulate_banks",
        action="store_false",
        help="do not answer for the default scheme's banks from inside the rail",
    )
    parser.add_argument("--log-level", default="WARNING", help="Python logging level (default WARNING)")


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


async def _serve(args: argparse.Namespace) -> int:
    from rail.http import create_app
    from rail.journal import JournalError
    from rail.service import RailService

    params = {}
    if args.creditor_timeout_ms is not None:
        params["creditor_timeout_ms"] = args.creditor_timeout_ms
    if args.hard_stop_ms is not None:
        params["hard_stop_ms"] = args.hard_stop_ms
    admin_token = args.admin_token or os.environ.get(ADMIN_TOKEN_ENV) or None
    try:
        service = await RailService.open(
            args.data, fsync=args.fsync, admin_token=admin_token, simulate_banks=args.simulate_banks, **params
        )
    except (JournalError, OSError) as exc:
        print(f"rail serve: cannot open the journal in {args.data}: {exc}", file=sys.stderr)
        return 1
    app = create_app(service)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port, reuse_address=True)
    try:
        await site.start()
    except OSError as exc:
        print(f"rail serve: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        await runner.cleanup()
        await service.close()
        return 1
    port = runner.addresses[0][1] if runner.addresses else args.port
    print(
        f"rail: listening on http://{args.host}:{port}  (data: {args.data}, "
        f"fsync: {'on' if args.fsync else 'OFF - benchmark mode'})",
        flush=True,
    )
    if not admin_token:
        print(f"rail: admin token (generated): {service.admin_token}", flush=True)
    banks = ", ".join(b.bic for b in service.scheme.banks)
    print(
        f"rail: default scheme: central bank {service.scheme.central_bank_bic}; simulated banks: {banks}",
        flush=True,
    )
    print(f"rail: replayed {service.core.replayed_commands} journaled commands", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    if sys.platform != "win32":  # Windows event loops have no signal handlers: Ctrl+C ends the run there
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print("rail: stopping", flush=True)
    await runner.cleanup()
    await service.close()
    return 0
