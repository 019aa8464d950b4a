"""The rail's one amount maximum, and what it guarantees.

Money is integer paisa (1 PKR = 100 paisa). Every amount that enters the rail (a pacs.008's settlement amount,
a pacs.004's returned amount, any original amount a message quotes, a request to pay's amount, an operator's
liquidity transfer, a scheme's prefunding) must be in 1..AMOUNT_MAX_PAISA; anything else is refused at the entry
with a reason (pacs.002 RJCT AM02 with the element path, or HTTP 422), before it is journaled.

Why 10**15 paisa (PKR 10 trillion, about a tenth of Pakistan's GDP): far above any real payment or liquidity
operation, and small enough that the numbers the rail shows stay machine integers with headroom. The ledger
counts in u128, but a balance is shown in JSON, msgpack and Prometheus as a signed 64-bit integer (at most
9.2 * 10**18). Every balance the rail shows is bounded by the money issued into it (conservation: the
participants' positions sum to the central bank's issuance), and issuance is bounded by MONEY_ISSUED_MAX_PAISA
= 10**18 (the central bank refuses liquidity beyond it), 9x below the signed 64-bit limit: 1,000 liquidity
operations of the maximum size fit, and no balance, pending amount or total can overflow what the rail
renders. The scheme's per-payment limit (rail/iso20022/profile.py `amount_paisa_max`, PKR 10 million by
default) is a separate, lower profile rule.
"""

from __future__ import annotations

AMOUNT_MAX_PAISA = 10**15
MONEY_ISSUED_MAX_PAISA = 10**18
INT64_MAX = 2**63 - 1

assert AMOUNT_MAX_PAISA * 1_000 <= MONEY_ISSUED_MAX_PAISA < INT64_MAX // 9


def amount_problem(amount_paisa: object) -> str | None:
    """Why `amount_paisa` is not an amount the rail takes (None: it is one)."""
    if not isinstance(amount_paisa, int) or isinstance(amount_paisa, bool):
        return "amount must be an integer number of paisa"
    if amount_paisa <= 0:
        return "amount must be positive"
    if amount_paisa > AMOUNT_MAX_PAISA:
        return f"amount {amount_paisa} paisa exceeds the rail's maximum, {AMOUNT_MAX_PAISA} (PKR 10 trillion)"
    return None
