"""What the participant under test declares: its test accounts, the Raast IDs it registered, its features.

A small TOML (or JSON) file the bank writes once (`rail bank --declare FILE` writes one for the simulated
bank); docs/certify.md shows it:

    [accounts]
    accept = "PK..."     # accepts payments (and is paid by requests to pay)
    invalid = "PK..."    # rejected AC01
    closed = "PK..."     # rejected AC04
    blocked = "PK..."    # rejected AC06

    [[aliases]]          # optional: Raast IDs it registered at the rail
    alias = "+923001234567"
    iban = "PK..."

    [features]
    request_to_pay = true               # it sends pain.013 as a merchant's bank (case S05)
    webhook_url = "https://bank/hook"   # it takes deliveries by webhook (case X02)
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import msgspec

from rail import iso20022


class Accounts(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    accept: str
    invalid: str
    closed: str
    blocked: str


class Alias(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    alias: str
    iban: str


class Features(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    request_to_pay: bool = False
    webhook_url: str | None = None


class Declaration(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    accounts: Accounts
    aliases: list[Alias] = []
    features: Features = Features()
    bic: str | None = None
    name: str | None = None


def read_declaration(path: Path) -> Declaration:
    """The declaration in `path` (TOML, or JSON by its .json suffix), checked; ValueError says what is wrong."""
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read the declaration {path}: {exc.strerror}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
        declaration = msgspec.convert(data, Declaration)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, msgspec.ValidationError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    return check_declaration(declaration, str(path))


def check_declaration(declaration: Declaration, where: str) -> Declaration:
    ibans = {**msgspec.structs.asdict(declaration.accounts), **{a.alias: a.iban for a in declaration.aliases}}
    for label, iban in ibans.items():
        if not iso20022.pk_iban_is_valid(iban):
            raise ValueError(f"{where}: {label} = {iban!r} is not a valid Pakistani IBAN (rail iban explains)")
    accounts = list(msgspec.structs.asdict(declaration.accounts).values())
    if len(set(accounts)) != len(accounts):
        raise ValueError(f"{where}: each test account must be a different IBAN")
    url = declaration.features.webhook_url
    if url is not None and not url.startswith(("http://", "https://")):
        raise ValueError(f"{where}: features.webhook_url must be an http(s) URL")
    return declaration


def declaration_toml(declaration: Declaration) -> str:
    """The declaration as the TOML file a bank hands to `rail certify --accounts`."""
    a = declaration.accounts
    lines = ["# What this participant declares to `rail certify` (docs/certify.md)."]
    if declaration.bic:
        lines.append(f'bic = "{declaration.bic}"')
    if declaration.name:
        lines.append(f"name = {json.dumps(declaration.name)}")
    lines += ["", "[accounts]", f'accept = "{a.accept}"', f'invalid = "{a.invalid}"  # AC01',
              f'closed = "{a.closed}"  # AC04', f'blocked = "{a.blocked}"  # AC06']
    for alias in declaration.aliases:
        lines += ["", "[[aliases]]", f'alias = "{alias.alias}"', f'iban = "{alias.iban}"']
    features = declaration.features
    lines += ["", "[features]", f"request_to_pay = {'true' if features.request_to_pay else 'false'}"]
    if features.webhook_url:
        lines.append(f'webhook_url = "{features.webhook_url}"')
    return "\n".join(lines) + "\n"
