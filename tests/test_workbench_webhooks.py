"""Webhooks integrators can trust, over real sockets: every push signed with the secret issued at registration
(a tampered body or a wrong secret fails `verify`), a rotation keeps the old secret valid for its grace period,
a test event on demand, a delivery log, the pushed messages in the traces; and `rail webhook verify`."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import aiohttp
import orjson
import pytest
from aiohttp import web
from workbench import BANK_A, BANK_B, Workbench, simulated_iban

from rail.api.webhook_signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature_header, verify


class Receiver:
    """A participant's callback: records each push as received (headers and exact bytes)."""

    def __init__(self, status: int = 204) -> None:
        self.status = status
        self.pushes: list[tuple[dict, bytes]] = []
        self.arrived = asyncio.Event()
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.pushes.append((dict(request.headers), await request.read()))
        self.arrived.set()
        return web.Response(status=self.status)

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        host, port = self.runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/hook"
        return self

    async def next_push(self, timeout_s: float = 5.0) -> tuple[dict, bytes]:
        await asyncio.wait_for(self.arrived.wait(), timeout_s)
        self.arrived.clear()
        return self.pushes[-1]


@pytest.fixture
async def hooked(tmp_path):
    receiver = await Receiver().start()
    bench = await Workbench.open(tmp_path / "data", participants=(BANK_A,), callback_urls={BANK_A: receiver.url})
    try:
        yield bench, receiver
    finally:
        await bench.close()
        await receiver.runner.cleanup()


async def test_pushes_are_signed_and_a_tampered_one_fails(hooked):
    bench, receiver = hooked
    secret = bench.secrets[BANK_A]
    assert secret.startswith("whsec_")
    status, message, _ = await bench.pay(BANK_A, simulated_iban("0099"))
    headers, body = await receiver.next_push()
    assert verify(secret, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], body) is None
    assert orjson.loads(body)["messages"][0]["msg_type"].startswith("pacs.002")
    assert "altered" in verify(secret, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], body + b" ")
    assert "altered" in verify("whsec_wrong", headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], body)
    stale = str(int(headers[TIMESTAMP_HEADER]) - 600)
    replayed = signature_header([secret], int(stale), body)
    assert "replay" in verify(secret, stale, replayed, body)

    # the pushed final pacs.002 is in the payment's trace, as the webhook carried it
    _status, view = await bench.call("GET", f"/v1/payments/{message.tx.uetr}/messages", BANK_A)
    pushed = [m for m in view["messages"] if m["channel"] == "webhook"]
    assert pushed and pushed[0]["http_status"] == 204 and pushed[0]["status"] == "ACSC"
    assert pushed[0]["body"] == orjson.loads(body)["messages"][0]["message"]


async def test_rotation_keeps_the_old_secret_valid_for_its_grace_then_only_the_new(hooked):
    bench, receiver = hooked
    old = bench.secrets[BANK_A]
    status, rotated = await bench.call("POST", "/v1/webhook/secret", BANK_A, {"grace_s": 2})
    assert status == 200 and rotated["webhook_secret"] != old and rotated["previous_valid_until"]
    status, answer = await bench.call("POST", "/v1/webhook/test", BANK_A)
    assert status == 200 and answer["ok"] and answer["http_status"] == 204
    headers, body = await receiver.next_push()
    assert orjson.loads(body)["event"] == "test"
    for secret in (old, rotated["webhook_secret"]):  # both sign during the grace period
        assert verify(secret, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], body) is None
    await asyncio.sleep(2.1)
    await bench.call("POST", "/v1/webhook/test", BANK_A)
    headers, body = await receiver.next_push()
    assert verify(rotated["webhook_secret"], headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], body) is None
    assert verify(old, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], body) is not None
    status, answer = await bench.call("POST", "/v1/webhook/secret", BANK_A, {"grace_s": -1})
    assert status == 422


async def test_the_delivery_log_shows_each_attempt_and_failures(hooked):
    bench, receiver = hooked
    receiver.status = 500
    await bench.pay(BANK_A, simulated_iban("0099"))
    await receiver.next_push()
    receiver.status = 204
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        _status, log = await bench.call("GET", "/v1/webhook/deliveries", BANK_A)
        if any(d["ok"] for d in log["deliveries"]):
            break
        await asyncio.sleep(0.05)
    deliveries = log["deliveries"]  # newest first
    failed = [d for d in deliveries if not d["ok"]]
    assert failed and failed[-1]["http_status"] == 500 and "500" in failed[-1]["error"]
    assert deliveries[0]["ok"] and deliveries[0]["attempt"] >= 2 and deliveries[0]["kind"] == "messages"
    assert deliveries[0]["messages"] >= 1 and deliveries[0]["first_seq"] >= 1


async def test_without_a_callback_the_test_event_is_409(tmp_path):
    bench = await Workbench.open(tmp_path / "data", participants=(BANK_B,))
    try:
        status, answer = await bench.call("POST", "/v1/webhook/test", BANK_B)
        assert status == 409 and "callback_url" in answer["detail"]
        status, log = await bench.call("GET", "/v1/webhook/deliveries", BANK_B)
        assert status == 200 and log == {"deliveries": []}
    finally:
        await bench.close()


def test_rail_webhook_verify_checks_a_delivery_from_a_shell(tmp_path):
    secret, body = "whsec_test", b'{"messages": []}'
    timestamp = int(time.time())
    good = signature_header([secret], timestamp, body)
    (tmp_path / "body.json").write_bytes(body)

    def run(signature: str, body_bytes: bytes) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "rail", "webhook", "verify", "--secret", secret, "--timestamp", str(timestamp),
             "--signature", signature], input=body_bytes, capture_output=True, timeout=60, check=False,
        )  # fmt: skip

    ok = run(good, body)
    assert ok.returncode == 0 and b"valid" in ok.stdout
    tampered = run(good, body.replace(b"[]", b"[1]"))
    assert tampered.returncode == 1 and b"altered" in tampered.stderr


async def test_the_simulated_bank_acts_only_on_pushes_the_rail_signed():
    from participants.bank import SimulatedBank
    from participants.codec import Iso20022Codec
    from rail.scheme import default_scheme

    bank_spec = default_scheme().bank("MEZNPKKA")
    secret = "whsec_bank"
    bank = SimulatedBank("MEZNPKKA", "M", bank_spec.customers, transport=None, codec=Iso20022Codec("json"),
                         webhook_secret=secret)
    app = web.Application()
    app.router.add_post("/hook", bank.webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    body = b'{"messages": [], "acked_upto": 0}'
    now = int(time.time())
    try:
        async with aiohttp.ClientSession() as session:
            for headers, expected in (
                ({}, 401),
                ({TIMESTAMP_HEADER: str(now), SIGNATURE_HEADER: signature_header(["whsec_other"], now, body)}, 401),
                ({TIMESTAMP_HEADER: str(now), SIGNATURE_HEADER: signature_header([secret], now, body)}, 204),
            ):
                async with session.post(f"http://{host}:{port}/hook", data=body, headers=headers) as response:
                    assert response.status == expected
    finally:
        await runner.cleanup()
