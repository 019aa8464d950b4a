"""Security checks, from outside: what the participant's messages carry, what its webhook accepts."""

from __future__ import annotations

import time
import uuid

import aiohttp
import orjson

from rail import iso20022
from rail.api.webhook_signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, new_secret, signature_header
from rail.certify.context import CaseFailed, Context

WEBHOOK_TIMEOUT_S = 10.0


async def no_credential_in_messages(ctx: Context) -> None:
    token = ctx.need_token()
    seen = ctx.run_messages()
    if not seen:
        ctx.note("the participant sent no message the examiner could read in this run: nothing to check")
        return
    leaking = [m for m in seen if token in m.body]
    if leaking:
        raise CaseFailed(f"{len(leaking)} of its messages carry its API token, e.g. a {leaking[0].msg_type}")
    ctx.note(f"none of the {len(seen)} messages from the participant carries its token")


async def refuses_unsigned_webhook(ctx: Context) -> None:
    """POST a forged delivery (a pacs.008 the rail never sent) to the participant's webhook three times: unsigned,
    signed with a key that is not its secret, and signed that way with a timestamp ten minutes old (a replay).
    The rail signs every push (rail/api/webhook_signature.py), so a participant that checks the signature
    answers each with 401 or 403."""
    url = ctx.declaration.features.webhook_url
    forged = iso20022.credit_transfer(
        msg_id=f"FORGED{uuid.uuid4().hex[:20].upper()}", tx_id=f"FORGED{uuid.uuid4().hex[:16].upper()}",
        uetr=str(uuid.uuid4()), amount_paisa=99_999_00, debtor_agent=ctx.examiner.bic, debtor_name="Nobody",
        debtor_iban=ctx.examiner.iban(999), creditor_agent=ctx.participant, creditor_name="Customer",
        creditor_iban=ctx.declaration.accounts.accept,
    )
    body = orjson.dumps({"messages": [{"seq": 1, "msg_type": "pacs.008.001.08",
                                       "message": iso20022.encode(forged, "xml").decode()}]})
    now, wrong_key = int(time.time()), new_secret()
    attempts = {
        "an unsigned": {},
        "a wrongly signed": {TIMESTAMP_HEADER: str(now), SIGNATURE_HEADER: signature_header([wrong_key], now, body)},
        "a replayed (10 minutes old)": {TIMESTAMP_HEADER: str(now - 600),
                                        SIGNATURE_HEADER: signature_header([wrong_key], now - 600, body)},
    }  # fmt: skip
    timeout = aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for what, headers in attempts.items():
            try:
                async with session.post(url, data=body, headers={"Content-Type": "application/json", **headers},
                                        allow_redirects=False) as response:
                    status = response.status
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                raise CaseFailed(f"cannot reach the declared webhook {url}: {exc or type(exc).__name__}") from None
            if status not in (401, 403):
                raise CaseFailed(f"the webhook answered {what}, forged delivery with HTTP {status}, not 401/403")
    ctx.note("the webhook refused an unsigned, a wrongly signed and a replayed delivery (401/403)")
