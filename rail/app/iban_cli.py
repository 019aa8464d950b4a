"""`rail iban`: make a valid Pakistani IBAN, or say what is wrong with one.

    rail iban MEZN 0005000000005000        # -> PK17MEZN0005000000005000
    rail iban --check PK18MEZN0005000000005000

A Pakistani IBAN is PK + 2 check digits (ISO 7064 MOD 97-10) + the bank's 4-letter code (the first four
letters of its BIC) + a 16-character account number. The last four characters of the account decide what a
simulated bank does with a payment to it (README.md, Test accounts); the output says so.
"""

from __future__ import annotations

import argparse
import sys

from rail.iso20022.identifiers import make_pk_iban, pk_iban_problems
from rail.scheme import TEST_ACCOUNTS, default_scheme

PROG = "rail iban"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = __doc__.split("\n\n", 1)[1]
    parser.add_argument("bank", nargs="?", metavar="BANK",
                        help="the bank code (4 letters, e.g. MEZN) or the bank's BIC (e.g. MEZNPKKA)")
    parser.add_argument("account", nargs="?", metavar="ACCOUNT",
                        help="the account number: 1-16 letters or digits, zero-padded on the left to 16")
    parser.add_argument("--check", metavar="IBAN", help="explain what is wrong with IBAN (exit 1), or confirm it")


def run(args: argparse.Namespace) -> int:
    if args.check is not None:
        if args.bank or args.account:
            return _usage("give either BANK ACCOUNT or --check IBAN, not both")
        return _check(args.check)
    if not (args.bank and args.account):
        return _usage("give BANK ACCOUNT (e.g. 'rail iban MEZN 0005000000005000') or --check IBAN")
    bank = args.bank.strip().upper()
    if len(bank) in (8, 11):
        bank = bank[:4]  # a BIC: its first four letters are the bank code
    try:
        iban = make_pk_iban(bank, args.account.strip())
    except ValueError as exc:
        return _usage(str(exc))
    print(iban)
    print(f"{iban}: {_behaviour(iban)}", file=sys.stderr)
    return 0


def _check(iban: str) -> int:
    problems = pk_iban_problems(iban)
    if problems:
        print(f"{iban}: not a valid Pakistani IBAN:")
        for problem in problems:
            print(f"  - {problem}")
        return 1
    print(f"{iban}: valid (bank code {iban[4:8]}, account {iban[8:]})")
    print(f"  as a creditor account at a simulated bank: {_behaviour(iban)}")
    return 0


def _behaviour(iban: str) -> str:
    """What the simulated creditor agent does with a payment to this IBAN, and whose account it is."""
    test = next((t for t in TEST_ACCOUNTS if iban.endswith(t.suffix)), None)
    what = f"test account ...{test.suffix}: {test.description}" if test else "an ordinary account: accepts"
    bank = next((b for b in default_scheme().banks if b.bank_code == iban[4:8]), None)
    return what + (f" ({bank.bic} {bank.name})" if bank else "")


def _usage(message: str) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return 2
