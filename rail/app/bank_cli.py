"""`rail bank`: run one simulated bank as an external participant of a rail, e.g. to try `rail certify` on it.

    rail bank --target http://127.0.0.1:8080 --bic TESTPKKA --admin-token A --register   # prints its token
    rail bank --target http://127.0.0.1:8080 --bic TESTPKKA --token T --declare accounts.toml --hook-port 9000

The bank is participants/bank.py over HTTP: it answers payments by the scheme's test-account table (its own
accounts ending 0001, 0004, 0006... are rejected AC01, AC04, AC06; README "Test accounts"), returns recalled
payments, pays requests to pay, and acknowledges a message only once it has answered it (so a restart loses
nothing). `--declare` writes the declaration `rail certify --accounts` reads; `--hook-port` serves the sender
hook `rail certify --sender-hook` cues it through (rail/certify/hooks.py); `--fault` gives it a defect the
suite must catch. It runs until SIGTERM or Ctrl-C; SIGKILL is a crash (what `rail certify --restart-cmd` may do).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from participants.bank import Acknowledge, BankBehaviour, SendResult, SimulatedBank
from participants.codec import Iso20022Codec
from participants.creditor import ANSWER_FAULTS, Fault, Faulty, TestAccountTable
from participants.transport import HttpTransport, TransportError
from rail import iso20022
from rail.scheme import bank_customers

PROG = "rail bank"
REGISTER_FUNDING_PAISA = 100_000_000 * 100  # Rs 100 million of settlement liquidity for a new participant
HOOK_BODY_BYTES_MAX = 64 * 1024


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--target", required=True, help="the rail's base URL")
    parser.add_argument("--bic", required=True, help="this bank's BIC (its IBANs use the BIC's first 4 letters)")
    parser.add_argument("--token", default=os.environ.get("RAIL_PARTICIPANT_TOKEN"),
                        help="its participant token (default $RAIL_PARTICIPANT_TOKEN)")
    parser.add_argument("--admin-token", default=os.environ.get("RAIL_ADMIN_TOKEN"),
                        help="with --register: the operator's token (default $RAIL_ADMIN_TOKEN)")
    parser.add_argument("--register", action="store_true",
                        help="register the BIC (a fresh token), fund it, print the token and exit")
    parser.add_argument("--declare", type=Path, default=None, metavar="FILE",
                        help="write its declaration for rail certify --accounts (accounts, aliases, features)")
    parser.add_argument("--alias", action="append", default=[], metavar="+92...",
                        help="register this Raast ID for its first customer at start (repeatable)")
    parser.add_argument("--hook-port", type=int, default=None, metavar="PORT",
                        help="serve the sender hook on 127.0.0.1:PORT (0: a free port, printed)")
    parser.add_argument("--fault", action="append", default=[], choices=[f.value for f in Fault],
                        help="a defect rail certify must catch (repeatable; docs/certify.md)")
    parser.add_argument("--scheme-timeout-ms", type=int, default=10_000,
                        help="the rail's creditor timeout, for --fault late (default 10000)")
    parser.add_argument("--rendering", choices=("xml", "json"), default="xml", help="what it sends (default xml)")
    parser.add_argument("--pid-file", type=Path, default=None, help="write its process id here")


def run(args: argparse.Namespace) -> int:
    if not iso20022.bic_is_valid(args.bic):
        return _fail(f"--bic {args.bic!r} is not a BIC (8 or 11 characters, e.g. TESTPKKA)")
    if args.register:
        if not args.admin_token:
            return _fail("--register needs --admin-token (or $RAIL_ADMIN_TOKEN)")
        return _run_loop(_register(args))
    if not args.token:
        return _fail("give --token (or $RAIL_PARTICIPANT_TOKEN), or --register first")
    if args.pid_file:
        args.pid_file.write_text(f"{os.getpid()}\n")
    try:
        return _run_loop(_serve(args))
    except KeyboardInterrupt:
        return 130


def _fail(message: str) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return 2


def _run_loop(coroutine) -> int:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


async def _register(args: argparse.Namespace) -> int:
    admin = HttpTransport(args.target, admin_token=args.admin_token)
    try:
        token = await admin.add_participant(args.bic, f"{args.bic} (rail bank)")
        await admin.liquidity(args.bic, REGISTER_FUNDING_PAISA, "in")
    except TransportError as exc:
        return _fail(f"cannot register {args.bic}: {exc}")
    finally:
        await admin.close()
    print(token)
    return 0


def make_bank(bic: str, transport, *, faults: frozenset[Fault] = frozenset(), scheme_timeout_ms: int = 10_000,
              rendering: str = "xml") -> SimulatedBank:
    """The simulated bank `rail bank` runs (tests run the same one in process)."""
    policy = TestAccountTable(creditor_timeout_ms=scheme_timeout_ms)
    if faults & ANSWER_FAULTS:
        policy = Faulty(policy, faults, scheme_timeout_ms)
    behaviour = BankBehaviour(acknowledge=Acknowledge.AFTER_ANSWER, inbox_wait_s=1.0, inbox_linger_ms=20.0,
                              status_request_after_s=None)
    return SimulatedBank(bic, f"{bic} (rail bank)", bank_customers(0, bic[:4]), transport, Iso20022Codec(rendering),
                         behaviour, policy=policy, faults=faults)


def declaration_of(bank: SimulatedBank, aliases: list[str], webhook_url: str | None = None):
    """The declaration `rail certify --accounts` reads, for this bank's own accounts."""
    from rail.certify.declaration import Accounts, Alias, Declaration, Features

    def account(suffix: str) -> str:
        return next(c.iban for c in bank.customers if c.iban.endswith(suffix))

    return Declaration(
        bic=bank.bic, name=bank.name,
        accounts=Accounts(accept=bank.customer(0).iban, invalid=account("0001"), closed=account("0004"),
                          blocked=account("0006")),
        aliases=[Alias(alias=iso20022.normalise_pk_mobile(a), iban=bank.customer(0).iban) for a in aliases],
        features=Features(request_to_pay=True, webhook_url=webhook_url),
    )


async def _serve(args: argparse.Namespace) -> int:
    from rail.certify.declaration import declaration_toml

    transport = HttpTransport(args.target, args.token)
    bank = make_bank(args.bic, transport, faults=frozenset(Fault(f) for f in args.fault),
                     scheme_timeout_ms=args.scheme_timeout_ms, rendering=args.rendering)
    try:
        for alias in args.alias:
            await transport.register_alias(alias, bank.customer(0).iban, bank.customer(0).name)
    except TransportError as exc:
        await transport.close()
        return _fail(f"cannot register the aliases at {args.target}: {exc}")
    if args.declare:
        args.declare.write_text(declaration_toml(declaration_of(bank, args.alias)))
    runner = None
    if args.hook_port is not None:
        runner, url = await serve_hook(lambda: bank, args.hook_port)
        print(f"{PROG}: sender hook: {url}", flush=True)
    bank.start()
    print(f"{PROG}: {args.bic} answering at {args.target}" + (f" (faults: {', '.join(args.fault)})"
                                                               if args.fault else ""), flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    await bank.stop()
    if runner is not None:
        await runner.cleanup()
    await transport.close()
    return 0


# ---- the sender hook: what rail certify cues a sender to do ----------------------------------------------


async def serve_hook(current: Callable[[], SimulatedBank], port: int) -> tuple[web.AppRunner, str]:
    """The sender hook (rail/certify/hooks.py's protocol) on 127.0.0.1:`port`, cueing the bank `current()`
    returns (a restarted bank is a new object); (runner, its URL)."""
    async def hook(request: web.Request) -> web.Response:
        return await _hook(current(), request)

    app = web.Application(client_max_size=HOOK_BODY_BYTES_MAX)
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/hook"


async def _hook(bank: SimulatedBank, request: web.Request) -> web.Response:
    try:
        instruction = await request.json()
        results = await follow(bank, instruction)
    except (ValueError, KeyError, TypeError) as exc:
        return web.json_response({"error": f"cannot follow this instruction: {exc!r}"}, status=400)
    except TransportError as exc:
        return web.json_response({"error": f"the rail could not be reached: {exc}"}, status=502)
    exchanges = [{"message": r.sent.decode(), "status": r.http_status, "answer": r.answer.decode("utf-8", "replace")}
                 for r in results]
    return web.json_response({"uetr": instruction.get("uetr"), "exchanges": exchanges})


async def follow(bank: SimulatedBank, instruction: dict) -> list[SendResult]:
    """Do what the certifier asks (one of the documented actions); what was sent, and the rail's answers."""
    action, uetr = instruction["action"], instruction.get("uetr")
    if action in ("pay", "pay_and_resend"):
        pay = (uetr, int(instruction["amount_paisa"]), 0, instruction["creditor_agent"],
               instruction.get("creditor_name") or "Beneficiary", instruction["creditor_iban"],
               instruction.get("end_to_end_id"))
        results = [await bank.pay(*pay)]
        if action == "pay_and_resend":  # as after a timeout: the very same message again
            results.append(await bank.pay(*pay))
        return results
    if action == "recall":
        return [await bank.recall(uetr)]
    if action == "status_request":
        return [await bank.status_request(uetr)]
    if action == "request_to_pay":
        return [await bank.request_to_pay(uetr, instruction["end_to_end_id"], int(instruction["amount_paisa"]),
                                          instruction["payer_agent"], instruction.get("payer_name") or "Payer",
                                          instruction["payer_iban"])]
    raise ValueError(f"unknown action {action!r}")
