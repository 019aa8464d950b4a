"""`rail demo`: the whole system on this machine in one command.

Starts the rail in-process with its default scheme (journal fsynced in the run directory), a fleet of
simulated banks over the in-process transport (or, with --http, the rail's real HTTP server on a loopback
port and the banks over HTTP), runs ~30 s of seeded remittance load with a live progress display, writes
the run directory (participants/rundir.py) and the analytics run report when available, and prints the
headline figures and where everything is.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from participants import cli as load_cli
from participants.harness import LoadConfig, LoadRun, inprocess_target, load_scenario, write_result

DEFAULT_DURATION_S = 30.0
DEFAULT_RATE_PER_S = 300.0  # what this 2-core machine sustains in-process with room to spare
DEFAULT_WARMUP_S = 2.0
DEMO_PAYMENT_TIMEOUT_S = 30.0


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=float, default=DEFAULT_DURATION_S, help="seconds of load (default 30)")
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE_PER_S,
                        help=f"offered payments per second (default {DEFAULT_RATE_PER_S:g})")
    parser.add_argument("--seed", type=int, default=1, help="seed of the load model (same seed, same payments)")
    parser.add_argument("--out", type=Path, default=None, help="run directory (default ./runs/demo-<timestamp>)")
    parser.add_argument("--scenario", default=None, help="scenario file or shipped name (default: default)")
    parser.add_argument("--banks", type=int, default=8, help="simulated banks taking part (2..8, default 8)")
    parser.add_argument("--http", action="store_true",
                        help="run the rail's real HTTP server on a loopback port and the banks over HTTP")
    parser.add_argument("--json", action="store_true", help="print the run summary as JSON at the end")


def _rail_available() -> bool:
    try:
        from rail.service import RailService  # noqa: F401
    except ImportError:
        return False
    return True


def run(args: argparse.Namespace) -> int:
    if args.duration <= 0 or args.rate <= 0:
        print("rail demo: --duration and --rate must be positive", file=sys.stderr)
        return 2
    if not _rail_available():
        return _ledger_burst(args)
    out_dir = args.out or Path("runs") / f"demo-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
    try:
        scenario = load_scenario(args.scenario)
    except ValueError as exc:
        print(f"rail demo: {exc}", file=sys.stderr)
        return 2
    config = LoadConfig(
        rate_per_s=args.rate, duration_s=args.duration, warmup_s=min(DEFAULT_WARMUP_S, args.duration / 4),
        seed=args.seed, banks=args.banks, payment_timeout_s=DEMO_PAYMENT_TIMEOUT_S, scenario=scenario,
    )
    return load_cli.run_async(_demo(config, Path(out_dir), args.http), json_out=args.json)


async def _demo(config: LoadConfig, out_dir: Path, use_http: bool):
    from rail.service import RailService

    out_dir.mkdir(parents=True, exist_ok=True)
    journal_dir = out_dir / "journal"
    service = await _maybe_await(RailService.open(str(journal_dir), fsync=True))
    server = None
    try:
        if use_http:
            target, server = await _http_target(service)
        else:
            target = inprocess_target(service)
        codec_factory = load_cli.codec_factory(config.rendering)
        display = load_cli.ProgressDisplay(config, f"rail demo ({target.kind}, journal {journal_dir})")
        with display:
            result = await LoadRun(target, config, codec_factory, on_progress=display.update).run()
        write_result(result, out_dir)
    finally:
        if server is not None:
            await server.cleanup()
        await _maybe_await(service.close())
    report = _write_report(out_dir)
    return result, out_dir, report


async def _http_target(service):
    from rail.http import make_app
    from aiohttp import web

    from participants.harness import http_target
    import secrets

    admin_token = secrets.token_urlsafe(24)
    if hasattr(service, "set_admin_token"):
        service.set_admin_token(admin_token)
    app = make_app(service)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return http_target(f"http://127.0.0.1:{port}", admin_token, service.scheme), runner


def _write_report(out_dir: Path) -> Path | None:
    """The analytics run report, when the analytics package provides one."""
    try:
        from analytics import report as analytics_report  # noqa: F401
    except ImportError:
        return None
    report_run = getattr(analytics_report, "report_run", None)
    if report_run is None:
        return None
    try:
        path = report_run(out_dir)
    except Exception as exc:  # the report is a bonus: a failure there must not lose the run's own figures
        print(f"rail demo: the run report could not be written ({exc})", file=sys.stderr)
        return None
    return Path(path) if path else None


async def _maybe_await(value):
    if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future):
        return await value
    return value


# ---- stage 1: the settlement core alone (until the rail service is importable) ----------------------------

LEDGER_BURST_BATCH_MAX = 4_096


def _ledger_burst(args: argparse.Namespace) -> int:
    """A seeded burst of ledger transfers (the load model's amounts between the default banks) through the
    single-writer LedgerService with an fsynced journal: throughput and the conservation check."""
    from rich.console import Console

    console = Console()
    out_dir = Path(args.out or Path("runs") / f"demo-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}")
    out_dir.mkdir(parents=True, exist_ok=True)
    stats = asyncio.run(_burst(out_dir / "journal", args.seed, args.rate, args.duration))
    console.print(f"rail demo (settlement core only): {stats['transfers']:,} transfers in {stats['elapsed_s']:.2f} s "
                  f"= {stats['per_s']:,.0f}/s durable (fsync per batch); rejected {stats['rejected']:,} "
                  f"(insufficient funds); conserved: {stats['conserved']}")
    console.print(f"journal: {out_dir / 'journal'}")
    return 0 if stats["conserved"] else 1


async def _burst(journal_dir: Path, seed: int, rate: float, duration: float) -> dict:
    from participants.remittance import RemittanceLoad
    from rail.ledger import Account, AccountFlags, Transfer
    from rail.ledger_service import LedgerService

    central_bank_id, n_banks = 1, 8
    service = await LedgerService.open(journal_dir, fsync=True)
    try:
        accounts = [Account(id=central_bank_id)] + [
            Account(id=2 + i, flags=int(AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)) for i in range(n_banks)
        ]
        await service.create_accounts(accounts)
        next_id = 1 + service.ledger.transfer_count
        funding = [Transfer(id=next_id + i, debit_account_id=central_bank_id, credit_account_id=2 + i,
                            amount=10_000_000_000, code=1) for i in range(n_banks)]
        await service.submit_transfers(funding)
        next_id += n_banks
        plan = list(RemittanceLoad(seed=seed).plan(rate, duration, n_banks))
        transfers = [Transfer(id=next_id + p.seq, debit_account_id=2 + p.debtor_bank,
                              credit_account_id=2 + p.creditor_bank, amount=p.amount_paisa, code=2) for p in plan]
        started = time.perf_counter()
        results = []
        for i in range(0, len(transfers), LEDGER_BURST_BATCH_MAX):
            results.extend(await service.submit_transfers(transfers[i:i + LEDGER_BURST_BATCH_MAX]))
        elapsed = time.perf_counter() - started
        conserved = bool(service.ledger.check_conservation())
    finally:
        await service.close()
    rejected = sum(1 for r in results if int(r) != 0)
    return {"transfers": len(transfers), "elapsed_s": elapsed, "per_s": len(transfers) / max(elapsed, 1e-9),
            "rejected": rejected, "conserved": conserved}
