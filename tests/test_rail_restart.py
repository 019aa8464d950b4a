"""Crash recovery of the real `rail serve` process: SIGKILL with payments in flight, restart on the same --data.

After the restart: every payment the rail had acknowledged exists; in-flight payments resume (the creditor can
still answer them) or time out with AB05 at their original deadline; unacknowledged inbox messages are delivered
again with the same sequence numbers, acknowledged ones are not; the books conserve.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from faults import ADMIN, RailProcess
from test_rail_e2e import (
    A_IBAN,
    B_IBAN,
    BANK_A,
    BANK_B,
    JSON,
    XML,
    credit_transfer,
    creditor_answer,
    parse_inbox_message,
)

from rail import iso20022

CREDITOR_TIMEOUT_MS = 4_000  # room for a restart of the process on a busy machine
PREFUND_PAISA = 10_000_000


def ServerProcess(data_dir) -> RailProcess:
    return RailProcess(
        data_dir,
        "--creditor-timeout-ms",
        str(CREDITOR_TIMEOUT_MS),
        "--hard-stop-ms",
        str(2 * CREDITOR_TIMEOUT_MS),
    )


class Client:
    def __init__(self, session: aiohttp.ClientSession, server: RailProcess) -> None:
        self.session = session
        self.server = server
        self.tokens: dict[str, str] = {}

    async def admin(self, method: str, path: str, **kwargs):
        async with self.session.request(
            method, self.server.url + path, headers={"Authorization": f"Bearer {ADMIN}"}, **kwargs
        ) as response:
            return response.status, await response.json()

    def auth(self, bic: str) -> dict:
        return {"Authorization": f"Bearer {self.tokens[bic]}"}

    async def send(self, bic: str, message, wait_s: float | None = None):
        headers = {**self.auth(bic), "Content-Type": XML}
        if wait_s:
            headers["Prefer"] = f"wait={wait_s}"
        async with self.session.post(
            self.server.url + "/v1/messages", data=iso20022.encode(message, "xml"), headers=headers
        ) as response:
            body = await response.read()
            return response.status, iso20022.decode(body, response.headers["Content-Type"]).message

    async def inbox(self, bic: str, wait_s: float = 3.0, until: int = 1) -> list[dict]:
        deadline = time.monotonic() + wait_s
        while True:
            left = max(0.0, deadline - time.monotonic())
            async with self.session.get(
                self.server.url + "/v1/inbox",
                params={"wait": f"{left:.2f}", "max": 100},
                headers=self.auth(bic),
            ) as response:
                messages = (await response.json())["messages"]
            if len(messages) >= until or left <= 0:
                return messages
            await asyncio.sleep(0.05)

    async def payment(self, bic: str, uetr: str) -> dict | None:
        async with self.session.get(
            f"{self.server.url}/v1/payments/{uetr}", headers=self.auth(bic)
        ) as response:
            return await response.json() if response.status == 200 else None


@pytest.mark.slow
async def test_sigkill_with_payments_in_flight_then_resume_timeout_and_redeliver(tmp_path):
    server = ServerProcess(tmp_path / "data")
    server.start()
    session = aiohttp.ClientSession()
    client = Client(session, server)
    try:
        for bic in (BANK_A, BANK_B):
            status, body = await client.admin("POST", "/admin/participants", json={"bic": bic, "name": bic})
            assert status == 201
            client.tokens[bic] = body["token"]
            status, _ = await client.admin(
                "POST", "/admin/liquidity", json={"bic": bic, "amount": PREFUND_PAISA, "direction": "in"}
            )
            assert status == 200
        # One settled payment to a simulated bank, six in flight to B (who has not answered yet).
        settled = credit_transfer(
            BANK_A, "MEZNPKKA", A_IBAN, iso20022.make_pk_iban("MEZN", "0005000000005000"), 50_000
        )
        status, answer = await client.send(BANK_A, settled, wait_s=5)
        assert answer.tx.tx_sts == "ACSC"
        in_flight = [credit_transfer(BANK_A, BANK_B, A_IBAN, B_IBAN, 10_000 + i) for i in range(6)]
        for message in in_flight:
            status, answer = await client.send(BANK_A, message)
            assert (status, answer.tx.tx_sts) == (202, "ACTC")
        before = await client.inbox(BANK_B, until=6)
        assert [m["msg_type"] for m in before] == ["pacs.008.001.08"] * 6

        server.kill()  # no shutdown, no final snapshot: recovery is the journal alone
        server.start()

        # Redelivery: the same six messages with the same sequence numbers.
        after = await client.inbox(BANK_B, until=6)
        assert [(m["seq"], m["msg_type"]) for m in after] == [(m["seq"], m["msg_type"]) for m in before]
        # Resume: B answers three of them within their original deadline.
        for item in after[:3]:
            status, answer = await client.send(
                BANK_B, creditor_answer(parse_inbox_message(item), BANK_B, "ACSP")
            )
            assert (status, answer.tx.tx_sts) == (200, "ACSC")
        async with session.post(
            server.url + "/v1/inbox/ack", json={"upto": after[2]["seq"]}, headers=client.auth(BANK_B)
        ) as response:
            assert response.status == 200
        # Time out: the other three get AB05 at their deadline (measured from before the crash).
        deadline = time.monotonic() + CREDITOR_TIMEOUT_MS / 1000 + 2.0
        while True:
            views = [await client.payment(BANK_A, m.tx.uetr) for m in in_flight]
            if all(v["status"] != "ACTC" for v in views) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert [v["status"] for v in views] == ["ACSC"] * 3 + ["RJCT"] * 3
        assert {v["reason"] for v in views[3:]} == {"AB05"}

        server.kill()
        server.start()
        # Acknowledged messages are not redelivered; the rest (AB05 notices, ACSCs) are, in order.
        again = await client.inbox(BANK_B, until=6)
        assert again[0]["seq"] == after[2]["seq"] + 1
        assert all(m["seq"] > after[2]["seq"] for m in again)
        # Nothing acknowledged lost, books conserve.
        assert (await client.payment(BANK_A, settled.tx.uetr))["status"] == "ACSC"
        for message, view in zip(in_flight, views):
            assert (await client.payment(BANK_A, message.tx.uetr))["status"] == view["status"]
        status, balances = await client.admin("GET", "/admin/balances")
        assert balances["conserved"] is True
        moved = 50_000 + sum(10_000 + i for i in range(3))
        assert balances["accounts"][BANK_A]["posted_paisa"] == PREFUND_PAISA - moved
        assert balances["accounts"][BANK_A]["pending_debits_paisa"] == 0
        assert balances["accounts"][BANK_B]["posted_paisa"] == PREFUND_PAISA + moved - 50_000
    finally:
        await session.close()
        server.stop()


@pytest.mark.slow
async def test_graceful_restart_uses_snapshot_and_keeps_tokens(tmp_path):
    server = ServerProcess(tmp_path / "data")
    server.start()
    session = aiohttp.ClientSession()
    client = Client(session, server)
    try:
        _status, body = await client.admin("POST", "/admin/participants", json={"bic": BANK_A, "name": "A"})
        client.tokens[BANK_A] = body["token"]
        await client.admin(
            "POST", "/admin/liquidity", json={"bic": BANK_A, "amount": 1_000_000, "direction": "in"}
        )
        message = credit_transfer(
            BANK_A, "ABPAPKKA", A_IBAN, iso20022.make_pk_iban("ABPA", "0004000000005000")
        )
        assert (await client.send(BANK_A, message, wait_s=5))[1].tx.tx_sts == "ACSC"
        server.stop()  # SIGTERM: graceful, writes a snapshot
        assert any(p.name.startswith("snapshot-") for p in (tmp_path / "data" / "journal").iterdir())
        server.start()
        view = await client.payment(BANK_A, message.tx.uetr)  # the old token still works
        assert view is not None and view["status"] == "ACSC"
        assert (await client.admin("GET", "/admin/balances"))[1]["conserved"] is True
        async with session.get(
            server.url + "/v1/inbox", headers={"Authorization": f"Bearer {JSON}"}
        ) as response:
            assert response.status == 401
    finally:
        await session.close()
        server.stop()
