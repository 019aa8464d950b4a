"""Edge workers (`rail serve --workers N --nats URL`): N edge processes on one port hand validated messages to
the core over NATS request/reply. Real processes, real sockets, a real nats-server (skipped, with the reason,
only when nats-server is not installed).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time

import aiohttp
import pytest
from test_rail_e2e import A_IBAN, BANK_A, credit_transfer

from rail import iso20022
from rail.cluster.nats_local import LocalNatsCluster, nats_server_path

pytestmark = pytest.mark.skipif(
    nats_server_path() is None, reason="nats-server is not installed (apt-get install nats-server)"
)

ADMIN = "edge-test-admin-token"
XML = "application/xml"


@pytest.fixture(scope="module")
def nats_url(tmp_path_factory):
    with LocalNatsCluster(tmp_path_factory.mktemp("nats"), nodes=1) as single:
        yield single.url


@pytest.fixture
def rail_with_workers(nats_url, tmp_path):
    process = subprocess.Popen(
        [
            sys.executable, "-m", "rail", "serve", "--port", "0", "--data", str(tmp_path),
            "--workers", "2", "--nats", nats_url, "--admin-token", ADMIN,
            "--creditor-timeout-ms", "3000",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    lines = []
    deadline = time.monotonic() + 30
    url = None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        match = re.search(r"rail: listening on (http://\S+)", line)
        if match:
            url = match.group(1)
            break
    try:
        assert url, "".join(lines)
        yield url, lines
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def test_payments_through_edge_workers_settle_and_refusals_come_from_the_edge(rail_with_workers):
    url, lines = rail_with_workers
    assert sum("edge workers" in line for line in lines) == 1
    admin = {"Authorization": f"Bearer {ADMIN}"}
    async with aiohttp.ClientSession() as session:
        # Admin and participant routes other than POST /v1/messages are relayed to the core.
        async with session.post(
            url + "/admin/participants", json={"bic": BANK_A, "name": "A"}, headers=admin
        ) as r:
            assert r.status == 201
            token = (await r.json())["token"]
        async with session.post(
            url + "/admin/liquidity",
            json={"bic": BANK_A, "amount": 10_000_000, "direction": "in"},
            headers=admin,
        ) as r:
            assert r.status == 200
        headers = {"Authorization": f"Bearer {token}", "Content-Type": XML, "Prefer": "wait=5"}
        creditor_iban = iso20022.make_pk_iban("MEZN", "0005000000005000")  # simulated bank: accepts
        uetrs = []
        for index in range(6):  # several connections: both edges get some (SO_REUSEPORT)
            async with aiohttp.ClientSession() as own:
                message = credit_transfer(BANK_A, "MEZNPKKA", A_IBAN, creditor_iban, 1_000 + index)
                async with own.post(
                    url + "/v1/messages", data=iso20022.encode(message, "xml"), headers=headers
                ) as r:
                    answer = iso20022.decode(await r.read(), r.headers["Content-Type"]).message
                    assert (r.status, answer.tx.tx_sts) == (200, "ACSC")
                    uetrs.append(message.tx.uetr)
        # Refusals at the edge: unreadable (admi.002), unknown token; at the core: acting as another bank.
        async with session.post(url + "/v1/messages", data=b"<Document", headers=headers) as r:
            assert r.status == 400
            assert b"admi.002" in await r.read()
        async with session.post(
            url + "/v1/messages", data=b"<x/>", headers={**headers, "Authorization": "Bearer x"}
        ) as r:
            assert r.status == 401
        habb_iban = iso20022.make_pk_iban("HABB", "0001000000001000")
        forged = credit_transfer("HABBPKKA", "MEZNPKKA", habb_iban, creditor_iban, 5)  # not A's own BIC
        async with session.post(
            url + "/v1/messages", data=iso20022.encode(forged, "xml"), headers=headers
        ) as r:
            assert r.status == 403
        # The relayed read side: payment views, the inbox with the six ACSCs, the balances.
        async with session.get(url + f"/v1/payments/{uetrs[0]}", headers=headers) as r:
            assert (await r.json())["status"] == "ACSC"
        async with session.get(url + "/v1/inbox?max=100", headers=headers) as r:
            messages = (await r.json())["messages"]
            assert len(messages) == 6
        # The edge relays the poll to the core's API layer, acknowledgement included.
        async with session.get(url + f"/v1/inbox?max=100&ack={messages[2]['seq']}", headers=headers) as r:
            page = await r.json()
            assert page["acked_upto"] == messages[2]["seq"] and len(page["messages"]) == 3
        async with session.get(url + "/v1/inbox", headers={"Authorization": "Bearer nobody"}) as r:
            assert r.status == 401 and (await r.json())["error"] == "unauthenticated"
        # An unusual request (here: Connection: close) is served the same way.
        message = credit_transfer(BANK_A, "MEZNPKKA", A_IBAN, creditor_iban, 2_000)
        async with session.post(
            url + "/v1/messages",
            data=iso20022.encode(message, "xml"),
            headers={**headers, "Connection": "close"},
        ) as r:
            assert r.status == 200
            uetrs.append(message.tx.uetr)
        async with session.get(url + "/admin/balances", headers=admin) as r:
            balances = await r.json()
        assert balances["conserved"] is True
        assert (
            balances["accounts"][BANK_A]["posted_paisa"]
            == 10_000_000 - sum(1_000 + i for i in range(6)) - 2_000
        )


def test_workers_need_a_nats_url(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "rail", "serve", "--port", "0", "--data", str(tmp_path), "--workers", "2"],
        capture_output=True,
        text=True,
        check=False,
        timeout=20,
    )
    assert result.returncode == 2
    assert "--workers needs --nats nats://HOST[:PORT]" in result.stderr


def test_edges_stop_when_their_core_is_killed(nats_url, tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "rail", "serve", "--port", "0", "--data", str(tmp_path),
         "--workers", "1", "--nats", nats_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        port = None
        for _ in range(20):
            match = re.search(r"listening on http://127.0.0.1:(\d+)", process.stdout.readline())
            if match:
                port = int(match.group(1))
                break
        assert port is not None
        socket.create_connection(("127.0.0.1", port), timeout=2).close()  # an edge listens
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        deadline = time.monotonic() + 5
        while True:  # no orphan edge keeps the port
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except ConnectionRefusedError:
                break
            assert time.monotonic() < deadline, "an edge outlived its core"
            time.sleep(0.1)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


async def test_each_edge_counts_its_own_work_and_the_core_exposes_every_edge(rail_with_workers):
    url, _lines = rail_with_workers
    admin = {"Authorization": f"Bearer {ADMIN}"}
    async with aiohttp.ClientSession() as session:
        async with session.post(
            url + "/admin/participants", json={"bic": BANK_A, "name": "A"}, headers=admin
        ) as r:
            token = (await r.json())["token"]
        liquidity = {"bic": BANK_A, "amount": 10_000_000, "direction": "in"}
        async with session.post(url + "/admin/liquidity", json=liquidity, headers=admin) as r:
            assert r.status == 200
        headers = {"Authorization": f"Bearer {token}", "Content-Type": XML}
        creditor_iban = iso20022.make_pk_iban("MEZN", "0005000000005000")
        sent = {"202": 0, "400": 0, "422": 0}
        for index in range(8):  # a connection each: the kernel spreads them over both edges
            async with aiohttp.ClientSession() as own:
                good = credit_transfer(BANK_A, "MEZNPKKA", A_IBAN, creditor_iban, 1_000 + index)
                async with own.post(
                    url + "/v1/messages", data=iso20022.encode(good, "xml"), headers=headers
                ) as r:
                    assert r.status == 202
                    sent["202"] += 1
                async with own.post(url + "/v1/messages", data=b"<Document", headers=headers) as r:
                    assert r.status == 400
                    sent["400"] += 1
                zero = credit_transfer(BANK_A, "MEZNPKKA", A_IBAN, creditor_iban, 0)  # profile: amount > 0
                async with own.post(
                    url + "/v1/messages", data=iso20022.encode(zero, "xml"), headers=headers
                ) as r:
                    assert r.status == 422
                    sent["422"] += 1
        # Every edge pushes its figures each second; a scrape through any edge is relayed to the core.
        deadline = time.monotonic() + 10
        while True:
            async with session.get(url + "/metrics") as r:
                assert r.status == 200
                text = await r.text()
            counted = _edge_samples(text, "rail_edge_requests_total", 'route="/v1/messages"')
            by_status = {
                status: sum(v for labels, v in counted if f'status="{status}"' in labels) for status in sent
            }
            edges = {re.search(r'edge="(\d+)"', labels).group(1) for labels, _ in _edge_samples(
                text, "rail_edge_handoffs_in_flight", "")}  # fmt: skip
            if by_status == sent and edges == {"0", "1"}:
                break
            assert time.monotonic() < deadline, (by_status, edges, text[-3000:])
            await asyncio.sleep(0.2)
    assert "# TYPE rail_edge_requests_total counter" in text
    assert "# TYPE rail_edge_handoff_latency_seconds histogram" in text
    handed_off = _edge_samples(text, "rail_edge_handoff_latency_seconds_count", "")
    assert sum(v for _, v in handed_off) == sent["202"]
    refused = _edge_samples(text, "rail_edge_messages_rejected_total", "")
    assert sum(v for _, v in refused) == sent["400"] + sent["422"]
    assert all('code="' in labels for labels, _ in refused)
    received = _edge_samples(text, "rail_edge_messages_received_total", 'msg_type="pacs.008"')
    assert sum(v for _, v in received) == sent["202"] + sent["422"]
    for route in ("/admin/participants", "/admin/liquidity"):  # relayed routes count under their template
        assert sum(v for _, v in _edge_samples(text, "rail_edge_requests_total", f'route="{route}"')) == 1


def _edge_samples(text: str, name: str, must_contain: str) -> list[tuple[str, float]]:
    """(labels, value) of the exposition's samples called `name` whose labels contain `must_contain`."""
    found = []
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{([^}}]*)\}} (\S+)", line)
        if match and must_contain in match.group(1):
            found.append((match.group(1), float(match.group(2))))
    return found
