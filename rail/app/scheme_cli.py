"""`rail scheme`: the default scheme's banks and their customers, so an integrator can pick counterparties.

The table is what `rail serve` starts with: BICs, IBANs (valid check digits), Raast IDs and, for the test
accounts, what the simulated creditor agent does with a payment to them (see README.md, Test accounts).
"""

from __future__ import annotations

import argparse
import sys

import orjson
from rich.table import Table

from rail.scheme import default_scheme
from rail.terminal import console


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bank", metavar="BIC", help="only this bank (e.g. MEZNPKKA)")
    parser.add_argument("--tests-only", action="store_true", help="only the test accounts")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    scheme = default_scheme()
    banks = [b for b in scheme.banks if args.bank is None or b.bic == args.bank.upper()]
    if not banks:
        known = ", ".join(b.bic for b in scheme.banks)
        print(f"rail scheme: no bank {args.bank!r} in the default scheme; known BICs: {known}", file=sys.stderr)
        return 2
    rows = [
        (bank.bic, c.iban, c.raast_id or "", c.name, c.behaviour)
        for bank in banks
        for c in bank.customers
        if not (args.tests_only and c.behaviour == "accept")
    ]
    if args.json:
        keys = ("bic", "iban", "raast_id", "holder", "behaviour")
        print(orjson.dumps([dict(zip(keys, row)) for row in rows], option=orjson.OPT_INDENT_2).decode())
        return 0
    table = Table(
        title=f"Default scheme: central bank {scheme.central_bank_bic}, currency {scheme.currency}",
        caption="; ".join(f"{b.bic} {b.name}" for b in banks),
    )
    # Identifiers are copied into messages: never wrap or truncate them.
    for header in ("BIC", "IBAN", "Raast ID"):
        table.add_column(header, no_wrap=True)
    table.add_column("holder")
    table.add_column("as creditor")
    for row in rows:
        table.add_row(*row)
    console().print(table)
    return 0
