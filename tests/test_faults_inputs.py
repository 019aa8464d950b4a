"""Hostile and careless inputs the rail used to mishandle: each gets a clear 4xx (or is simply not followed).

Webhooks that redirect or hang, an Authorization header too long to parse (its token must not be echoed or
logged), IBAN check digits ISO 13616 never produces, a request to pay's MsgId squatted by another participant,
a callback_url that is not a string, absurd rate limits, and the same bank named as BIC8 and BIC11 'XXX'.
"""

from __future__ import annotations

import asyncio
import logging
import socket

from aiohttp import web
from aiohttp.test_utils import TestServer
from test_rail_e2e import (  # noqa: F401 - `rail` is the fixture
    A_IBAN,
    B_IBAN,
    BANK_A,
    BANK_B,
    Rail,
    credit_transfer,
    parse_inbox_message,
    rail,
    request_to_pay,
)

from rail import iso20022
from rail.iso20022 import OrgnlPmtInfAndSts, Pain014


async def _hook(handler) -> TestServer:
    app = web.Application()
    app.router.add_post("/hook", handler)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    return server


async def _eventually(condition, seconds: float = 3.0) -> bool:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return True
        await asyncio.sleep(0.02)
    return condition()


async def test_webhooks_follow_no_redirect_and_a_hanging_one_starves_no_one(rail: Rail):  # noqa: F811 - the fixture
    elsewhere_hits, redirects, good = [], [], []
    hung_up = asyncio.Event()

    async def elsewhere(request: web.Request) -> web.Response:
        elsewhere_hits.append(await request.read())
        return web.Response(status=204)

    async def redirecting(request: web.Request) -> web.Response:
        redirects.append(1)
        raise web.HTTPTemporaryRedirect(str(target.make_url("/hook")))

    async def hanging(request: web.Request) -> web.Response:
        await asyncio.wait_for(hung_up.wait(), 30)  # longer than the test: it hangs as far as the rail knows
        return web.Response(status=503)

    async def answering(request: web.Request) -> web.Response:
        good.extend((await request.json())["messages"])
        return web.Response(status=204)

    target, redirect, hang, working = [await _hook(h) for h in (elsewhere, redirecting, hanging, answering)]
    try:
        for bic, server in (("REDIPKKA", redirect), ("HANGPKKA", hang), ("GOODPKKA", working)):
            rail.tokens[bic] = await rail.service.add_participant(bic, bic, str(server.make_url("/hook")))
        for bic in ("REDIPKKA", "HANGPKKA", "HANGPKKA", "GOODPKKA"):
            await rail.send(
                BANK_A,
                credit_transfer(BANK_A, bic, A_IBAN, iso20022.make_pk_iban(bic[:4], "0000001111111111")),
            )
        assert await _eventually(lambda: len(good) == 1)  # not held up by the hanging callback
        assert await _eventually(lambda: len(redirects) >= 2)  # retried, never followed
        assert elsewhere_hits == []
        assert len(await rail.inbox("REDIPKKA", wait_s=0)) == 1  # not delivered: still waiting for a poll
        webhooks = rail.service.admin.webhooks
        sessions = {id(webhooks.pusher(bic).session) for bic in ("REDIPKKA", "HANGPKKA", "GOODPKKA")}
        assert len(sessions) == 3  # one connection pool each
    finally:
        hung_up.set()
        for server in (target, redirect, hang, working):
            await server.close()


async def test_oversized_authorization_header_is_refused_without_echoing_the_token(rail: Rail, caplog):  # noqa: F811 - the fixture
    token = rail.tokens[BANK_A] + "X" * 9_000
    host, port = rail.server.host, rail.server.port
    with caplog.at_level(logging.DEBUG):
        for request in (
            f"POST /v1/messages HTTP/1.1\r\nHost: r\r\nAuthorization: Bearer {token}\r\nContent-Length: 0\r\n\r\n",
            f"GET /admin/balances HTTP/1.1\r\nHost: r\r\nAuthorization: Bearer {token}\r\n\r\n",
            f"GET /v1/inbox HTTP/1.1\r\nHost: r\r\nAuthorization: Bearer {rail.tokens[BANK_A]}\x01\r\n\r\n",
        ):
            answer = await asyncio.to_thread(_exchange, host, port, request.encode("latin-1"))
            assert answer.split(b" ", 2)[1] in (b"400", b"431"), answer[:100]
            assert rail.tokens[BANK_A].encode() not in answer
    assert rail.tokens[BANK_A] not in caplog.text


def _exchange(host: str, port: int, request: bytes) -> bytes:
    with socket.create_connection((host, port), timeout=5) as connection:
        connection.sendall(request)
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_iban_check_digits_00_01_99_are_refused():
    """ISO 13616 check digits are 98 - (n mod 97): 02..98. Strings with 00, 01 or 99 can still pass MOD 97."""
    for check in ("00", "01", "99"):
        forged = next(
            iban for n in range(10**6) if iso20022.identifiers._mod97(iban := f"PK{check}TEST{n:016d}") == 1
        )
        assert not iso20022.pk_iban_is_valid(forged) and not iso20022.iban_is_valid(forged), forged
    assert iso20022.pk_iban_is_valid(A_IBAN)


async def test_request_to_pay_msg_id_belongs_to_its_sender(rail: Rail):  # noqa: F811 - the fixture
    """Two payees may use the same MsgId: neither learns of nor blocks the other's request; each answer
    reaches its own payee (named by CdtrAgt)."""
    rail.tokens["THIRPKKA"] = await rail.service.add_participant("THIRPKKA", "Third")
    status, answer, _ = await rail.send(BANK_A, request_to_pay(BANK_A, BANK_B, 1_000, msg_id="INVOICE-1"))
    assert status == 202
    third_iban = iso20022.make_pk_iban("THIR", "0000000000000001")
    third = request_to_pay("THIRPKKA", BANK_B, 2_000, msg_id="INVOICE-1", payee_iban=third_iban)
    status, answer, _ = await rail.send("THIRPKKA", third)
    assert status == 202, answer  # before: RJCT AM05 "MsgId already used" (someone else's id)
    status, _, _ = await rail.send(BANK_B, request_to_pay_answer("INVOICE-1", BANK_B, "THIRPKKA"))
    assert status == 202
    delivered = [parse_inbox_message(m) for m in await rail.inbox("THIRPKKA", until=1)]
    assert [type(m).__name__ for m in delivered] == ["Pain014"]
    assert [m for m in await rail.inbox(BANK_A, wait_s=0) if m["msg_type"].startswith("pain.014")] == []


def request_to_pay_answer(original_msg_id: str, payer: str, payee: str) -> Pain014:
    from test_rail_e2e import now

    return Pain014(
        msg_id="ANS-" + original_msg_id,
        cre_dt_tm=now(),
        dbtr_agt_bicfi=payer,
        cdtr_agt_bicfi=payee,
        orgnl_msg_id=original_msg_id,
        orgnl_msg_nm_id="pain.013.001.07",
        orgnl_pmt_inf_and_sts=[
            OrgnlPmtInfAndSts(orgnl_pmt_inf_id=original_msg_id, orgnl_end_to_end_id="INV", tx_sts="ACCP")
        ],
    )


async def test_participant_admission_refuses_bad_callback_urls_and_absurd_rates(rail: Rail):  # noqa: F811
    cases = [
        {"callback_url": 12345},
        {"callback_url": ["http://x"]},
        {"callback_url": "ftp://example.org/hook"},
        {"requests_per_s": 1e-300},
        {"requests_per_s": 0},
        {"requests_per_s": -3},
        {"requests_per_s": 1e12},
        {"requests_per_s": "fast"},
        {"requests_per_s": True},
        {"requests_burst": 0.5},
        {"requests_burst": 1e300},
    ]
    for extra in cases:
        async with rail.session.post(
            f"{rail.url}/admin/participants",
            json={"bic": "ODDDPKKA", "name": "x", **extra},
            headers=rail.admin(),
        ) as response:
            body = await response.json()
            assert response.status == 422 and body["error"] == "bad_participant", (extra, body)
    async with rail.session.post(
        f"{rail.url}/admin/participants", json={"bic": "ODDDPKKA", "name": "x", "requests_per_s": 0.5},
        headers=rail.admin(),
    ) as response:  # fmt: skip
        assert response.status == 201


async def test_bic11_with_branch_xxx_is_the_same_participant_as_its_bic8(rail: Rail):  # noqa: F811 - the fixture
    async with rail.session.post(
        f"{rail.url}/admin/participants", json={"bic": "SONEPKKAXXX", "name": "Sonery"}, headers=rail.admin()
    ) as response:
        body = await response.json()
        assert (response.status, body["bic"]) == (201, "SONEPKKA")
    rail.tokens["SONEPKKA"] = body["token"]
    assert "SONEPKKAXXX" not in rail.service.participants and "SONEPKKA" in rail.service.participants
    async with rail.session.post(
        f"{rail.url}/admin/liquidity", json={"bic": "SONEPKKAXXX", "amount": 500_000, "direction": "in"},
        headers=rail.admin(),
    ) as response:  # fmt: skip
        assert response.status == 200 and (await response.json())["posted_paisa"] == 500_000
    # A pacs.008 naming its own agents as BIC11 XXX is the participant's own; a creditor named so is found.
    iban = iso20022.make_pk_iban("SONE", "0000000000000042")
    message = credit_transfer("SONEPKKAXXX", BANK_B + "XXX", iban, B_IBAN, 10_000)
    status, answer, _ = await rail.send("SONEPKKA", message)
    assert (status, answer.tx.tx_sts) == (202, "ACTC"), answer
    forwarded = await rail.inbox(BANK_B, until=1)
    assert parse_inbox_message(forwarded[0]).tx.uetr == message.tx.uetr
