"""The HTTP edge's per-request shortcuts keep every guarantee: verified-token cache, acknowledgement on the poll.

* A rotated token stops working at once even though verified tokens are cached; failed tokens are never cached.
* `GET /v1/inbox?ack=SEQ` is the journaled acknowledgement of POST /v1/inbox/ack, applied before the page is read.
* A simulated bank acknowledges through its next poll when the rail honours it, and falls back to
  POST /v1/inbox/ack (processing nothing twice) when a rail ignores it.
"""

from __future__ import annotations

import asyncio
import uuid

import orjson
from aiohttp import web
from test_participants_fakes import JsonCodec, serve
from test_rail_e2e import A_IBAN, BANK_A, FAST, Rail, bank, credit_transfer, rail  # noqa: F401 - the fixture

from participants.bank import BankBehaviour, SimulatedBank
from participants.codec import Iso20022Codec
from participants.sandbox import start_sandbox_banks
from participants.transport import HttpTransport
from rail import iso20022
from rail.api.auth import VERIFIED_TOKENS_MAX, TokenTable, new_token, token_hash
from rail.api.listener import HEAD_BYTES_MAX, Listener
from rail.api.routes import RailApi
from rail.api.service import RailService
from rail.scheme import default_scheme

SCHEME = default_scheme()


def test_rotated_token_stops_working_at_once_and_failures_are_not_cached():
    table = TokenTable()
    old, new = new_token(), new_token()
    table.install("HABBPKKA", token_hash(old))
    assert table.authenticate(old) == "HABBPKKA"
    assert table.authenticate(old) == "HABBPKKA"  # now from the verified cache
    table.install("HABBPKKA", token_hash(new))  # issuing a new token retires the old one
    assert table.authenticate(old) is None
    assert table.authenticate(new) == "HABBPKKA"
    for _ in range(3 * VERIFIED_TOKENS_MAX):
        assert table.authenticate(new_token()) is None
    assert len(table._bic_by_verified_token) <= 1
    assert table.authenticate("") is None and table.authenticate("x" * 10_000) is None


def test_verified_cache_stays_bounded():
    table = TokenTable()
    tokens = {}
    for i in range(VERIFIED_TOKENS_MAX + 10):
        bic = f"B{i:05d}PKKA"
        tokens[bic] = new_token()
        table.install(bic, token_hash(tokens[bic]))
    for bic, token in tokens.items():
        assert table.authenticate(token) == bic
        assert len(table._bic_by_verified_token) <= VERIFIED_TOKENS_MAX


async def test_inbox_poll_with_ack_acknowledges_before_reading(rail: Rail):  # noqa: F811 - the fixture
    creditor_iban = bank(rail.service, "MEZNPKKA").customers[0].iban
    status, _, _ = await rail.send(BANK_A, credit_transfer(BANK_A, "MEZNPKKA", A_IBAN, creditor_iban), wait_s=5)
    assert status == 200
    first = await rail.inbox(BANK_A, until=1)
    assert first and first[-1]["msg_type"].startswith("pacs.002")
    upto = first[-1]["seq"]
    async with rail.session.get(f"{rail.url}/v1/inbox", params={"wait": "0", "ack": str(upto)},
                                headers=rail.auth(BANK_A)) as response:
        assert response.status == 200
        page = await response.json()
    assert page["acked_upto"] == upto
    assert all(m["seq"] > upto for m in page["messages"])
    assert rail.service.core._settlement.inboxes[BANK_A].acked_upto == upto
    for bad in ("-1", "x", "1.5", "\u00b2", "9" * 25):
        async with rail.session.get(f"{rail.url}/v1/inbox", params={"wait": "0", "ack": bad},
                                    headers=rail.auth(BANK_A)) as response:
            assert response.status == 400
            assert (await response.json())["error"] == "bad_ack"
    async with rail.session.get(f"{rail.url}/v1/inbox", params={"ack": "1"}) as response:
        assert response.status == 401  # authentication still comes first


class _CountingTransport(HttpTransport):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.acks: list[int] = []

    async def ack(self, upto: int) -> dict:
        self.acks.append(upto)
        return await super().ack(upto)


async def test_bank_acknowledges_through_its_next_poll_on_our_rail(tmp_path):
    service = await RailService.open(tmp_path / "data", **FAST)
    await start_sandbox_banks(service)
    server = Listener(RailApi(service))
    await server.start()
    url = f"http://127.0.0.1:{server.port}"
    debtor, creditor = SCHEME.banks[0], SCHEME.banks[1]  # the debtor is taken over; the rail answers for the other
    token = await HttpTransport(url, admin_token=service.admin_token).add_participant(debtor.bic, debtor.name)
    transport = _CountingTransport(url, token)
    finals: dict[str, str] = {}
    behaviour = BankBehaviour(inbox_wait_s=1.0, inbox_linger_ms=5.0)
    sim = SimulatedBank(debtor.bic, debtor.name, debtor.customers, transport, Iso20022Codec("xml"), behaviour,
                        on_final=lambda uetr, status, reason: finals.__setitem__(uetr, status))
    other = SimulatedBank(creditor.bic, creditor.name, creditor.customers, transport, Iso20022Codec("xml"))
    sim.start()
    try:
        uetrs = [str(uuid.uuid4()) for _ in range(6)]
        for i, uetr in enumerate(uetrs):
            assert (await sim.send_payment(uetr, 10_000 + i, i, other, i)).status == "ACTC"
            await asyncio.sleep(0.05)
        for _ in range(100):
            if len(finals) == len(uetrs):
                break
            await asyncio.sleep(0.05)
        assert finals == {u: "ACSC" for u in uetrs}
        assert sim.counters["inbox_polls"] >= 2 and transport.acks == []  # every ack rode on a poll
    finally:
        await sim.stop()
        await transport.close()
    inbox = service.core._settlement.inboxes[debtor.bic]
    assert len(inbox) == 0 and inbox.acked_upto == inbox.next_seq - 1  # stop() sent the last one
    assert sim.counters["duplicates"] == 0
    await server.close()
    await service.close()


async def test_bank_falls_back_to_post_ack_when_the_rail_ignores_the_poll_ack():
    """A rail that reports acked_upto but ignores `ack=`: the bank posts the ack and processes nothing twice."""
    pages = {"next": 1, "acked": 0}
    seen_ack_queries: list[str] = []
    sb = SCHEME.banks[0]

    def message(seq: int) -> dict:
        body = {"type": "pacs.008", "uetr": f"u-{seq}", "amount": 100, "dbtr_bic": "X", "cdtr_bic": sb.bic,
                "cdtr_iban": sb.customers[0].iban}
        return {"seq": seq, "msg_type": "pacs.008.001.08", "message": orjson.dumps(body).decode()}

    async def inbox(request: web.Request) -> web.Response:
        if "ack" in request.query:
            seen_ack_queries.append(request.query["ack"])
        await asyncio.sleep(0.01)
        first = pages["acked"] + 1
        msgs = [message(s) for s in range(first, min(first + 2, 7))]
        return web.json_response({"messages": msgs, "acked_upto": pages["acked"]})

    async def ack(request: web.Request) -> web.Response:
        pages["acked"] = max(pages["acked"], (await request.json())["upto"])
        return web.json_response({"acked_upto": pages["acked"]})

    async def messages(request: web.Request) -> web.Response:
        return web.Response(status=202, body=b"{}", content_type="application/json")

    app = web.Application()
    app.router.add_get("/v1/inbox", inbox)
    app.router.add_post("/v1/inbox/ack", ack)
    app.router.add_post("/v1/messages", messages)
    runner, url = await serve(app)
    transport = _CountingTransport(url, "tok")
    sim = SimulatedBank(sb.bic, sb.name, sb.customers, transport, JsonCodec(),
                        BankBehaviour(inbox_wait_s=0.1, inbox_linger_ms=1.0, accept_latency_ms_median=1.0))
    sim.start()
    try:
        for _ in range(100):
            if pages["acked"] >= 6:
                break
            await asyncio.sleep(0.02)
    finally:
        await sim.stop()
        await transport.close()
        await runner.cleanup()
    assert pages["acked"] == 6
    assert seen_ack_queries == ["2"]  # tried once, then the bank stopped piggy-backing
    assert transport.acks[:2] == [2, 4]
    assert sim.counters["inbound"] == 6 and sim.counters["duplicates"] == 0


async def test_poll_ack_of_nothing_is_accepted(rail: Rail):  # noqa: F811 - the fixture
    async with rail.session.get(f"{rail.url}/v1/inbox", params={"ack": "0", "wait": "0"},
                                headers=rail.auth(BANK_A)) as response:
        assert response.status == 200
        assert (await response.json())["acked_upto"] == 0


# ---- raw HTTP/1.1 on one connection: pipelining and unusual requests are under the test's control ----------------


class _Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.buf = bytearray()

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def response(self) -> tuple[int, dict, bytes]:
        """One response: (status, headers by lower-case name, body); Content-Length or chunked."""
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                head = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
                headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:])}
                status = int(head[0].split(" ")[1])
                if status == 100:
                    del self.buf[:end + 4]
                    continue
                if "content-length" in headers:
                    total = end + 4 + int(headers["content-length"])
                    if len(self.buf) >= total:
                        body = bytes(self.buf[end + 4:total])
                        del self.buf[:total]
                        return status, headers, body
                elif headers.get("transfer-encoding") == "chunked" and b"\r\n0\r\n\r\n" in self.buf[end:]:
                    raw = bytes(self.buf[end + 4:])
                    body, pos = b"", 0
                    while True:
                        line_end = raw.index(b"\r\n", pos)
                        size = int(raw[pos:line_end], 16)
                        if size == 0:
                            del self.buf[:end + 4 + line_end + 4]
                            return status, headers, body
                        body += raw[line_end + 2:line_end + 2 + size]
                        pos = line_end + 2 + size + 2
            chunk = await asyncio.wait_for(self.reader.read(65536), 5)
            if not chunk:
                raise ConnectionResetError("closed")
            self.buf += chunk

    async def closed(self) -> bool:
        return await asyncio.wait_for(self.reader.read(), 5) == b""


async def _connect(rail: Rail) -> _Conn:  # noqa: F811 - the fixture's type
    return _Conn(*await asyncio.open_connection("127.0.0.1", rail.server.port))


def _get(path: str, token: str | None, extra: str = "") -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return f"GET {path} HTTP/1.1\r\nHost: rail\r\n{auth}{extra}\r\n".encode()


def _post(path: str, token: str, body: bytes, extra: str = "", content_type: str = "application/xml") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: rail\r\nAuthorization: Bearer {token}\r\nContent-Type: {content_type}"
            f"\r\nContent-Length: {len(body)}\r\n{extra}\r\n").encode() + body


async def test_pipelined_requests_on_every_route_are_answered_in_order_on_one_connection(rail: Rail):  # noqa: F811
    token = rail.tokens[BANK_A]
    creditor_iban = bank(rail.service, "MEZNPKKA").customers[0].iban
    payment = iso20022.encode(credit_transfer(BANK_A, "MEZNPKKA", A_IBAN, creditor_iban), "xml")
    conn = await _connect(rail)
    # Three pipelined requests in one write, on three routes: all answered by the rail's own listener, in order.
    await conn.send(_post("/v1/messages", token, payment, "Prefer: wait=5\r\n")
                    + _get("/v1/inbox?wait=0&max=5&max=7", token) + _get("/healthz", None))
    status, headers, body = await conn.response()
    assert status == 200 and headers["content-type"] == "application/xml; charset=utf-8"
    assert headers["preference-applied"] == "wait=5" and "date" in headers
    assert "server" not in headers  # the rail names no server software
    assert iso20022.decode(body, "application/xml").message.tx.tx_sts == "ACSC"
    status, headers, body = await conn.response()
    assert status == 200 and headers["content-type"] == "application/json" and "server" not in headers
    page = orjson.loads(body)
    assert [m["msg_type"] for m in page["messages"]] == ["pacs.002.001.10"]
    status, headers, body = await conn.response()
    assert status == 200 and orjson.loads(body)["ok"] is True and "connection" not in headers
    # The connection stays open for the next request, whatever route the previous ones took.
    await conn.send(_get(f"/v1/inbox?wait=0&ack={page['messages'][-1]['seq']}", token))
    status, headers, body = await conn.response()
    assert status == 200 and orjson.loads(body)["messages"] == [] and "server" not in headers
    conn.writer.close()
    for key in (None, "wrong-token"):
        conn = await _connect(rail)
        await conn.send(_get("/v1/inbox?wait=0", key))
        status, headers, body = await conn.response()
        assert status == 401 and headers["www-authenticate"] == 'Bearer realm="rail"'
        assert orjson.loads(body)["error"] == "unauthenticated"
        conn.writer.close()


async def test_unusual_requests_get_the_rails_own_answers(rail: Rail):  # noqa: F811 - the fixture
    token = rail.tokens[BANK_A]
    # Over the body limit: refused from the headers alone, with the admi.002 of the normal path.
    conn = await _connect(rail)
    await conn.send(b"POST /v1/messages HTTP/1.1\r\nHost: rail\r\nAuthorization: Bearer " + token.encode()
                    + b"\r\nContent-Type: application/xml\r\nContent-Length: 5000000\r\n\r\n")
    status, _, body = await conn.response()
    assert status == 413 and b"admi.002" in body
    conn.writer.close()
    # A chunked body and Expect: 100-continue are read by the listener; the answer is the rail's own admi.002.
    conn = await _connect(rail)
    await conn.send(b"POST /v1/messages HTTP/1.1\r\nHost: rail\r\nAuthorization: Bearer " + token.encode()
                    + b"\r\nContent-Type: application/xml\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + b"4\r\n<x/>\r\n0\r\n\r\n")
    status, _, body = await conn.response()
    assert status == 400 and b"admi.002" in body
    conn.writer.close()
    conn = await _connect(rail)
    await conn.send(b"POST /v1/messages HTTP/1.1\r\nHost: rail\r\nAuthorization: Bearer " + token.encode()
                    + b"\r\nContent-Type: application/xml\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
    while b"100 Continue" not in conn.buf:
        conn.buf += await asyncio.wait_for(conn.reader.read(65536), 5)
    await conn.send(b"<x/>")
    status, _, body = await conn.response()
    assert status == 400 and b"admi.002" in body
    conn.writer.close()
    # Connection: close is honoured (answered, then closed).
    conn = await _connect(rail)
    await conn.send(_get("/v1/inbox?wait=0", token, "Connection: close\r\n"))
    status, _, _ = await conn.response()
    assert status == 200 and await conn.closed()
    # A repeated Content-Length (a smuggling shape) never reaches a handler.
    conn = await _connect(rail)
    await conn.send(b"POST /v1/messages HTTP/1.1\r\nHost: rail\r\nAuthorization: Bearer " + token.encode()
                    + b"\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\n<x/>")
    status, _, _ = await conn.response()
    assert status == 400
    conn.writer.close()
    # A head above the listener's limit is refused before any route sees it.
    conn = await _connect(rail)
    await conn.send(_get("/v1/inbox?wait=0", token, f"X-Padding: {'p' * HEAD_BYTES_MAX}\r\n"))
    status, _, _ = await conn.response()
    assert status in (400, 431)
    conn.writer.close()
    # A bad query: a JSON error saying which parameter.
    conn = await _connect(rail)
    await conn.send(_get("/v1/inbox?wait=soon", token) + _get("/v1/inbox?rendering=csv", token))
    for code in ("bad_query", "bad_query"):
        status, _, body = await conn.response()
        assert status == 400 and orjson.loads(body)["error"] == code
    conn.writer.close()


async def test_the_listener_applies_the_participant_rate_limit(rail: Rail):  # noqa: F811 - the fixture
    async with rail.session.post(f"{rail.url}/admin/participants",
                                 json={"bic": "LIMTPKKA", "name": "Limited", "requests_per_s": 1,
                                       "requests_burst": 1}, headers=rail.admin()) as response:
        assert response.status == 201
        token = (await response.json())["token"]
    conn = await _connect(rail)
    await conn.send(_get("/v1/inbox?wait=0", token) + _get("/v1/inbox?wait=0", token))
    first, _, _ = await conn.response()
    second, headers, body = await conn.response()
    assert first == 200 and second == 429 and int(headers["retry-after"]) >= 1
    assert orjson.loads(body)["error"] == "rate_limited"
    conn.writer.close()
