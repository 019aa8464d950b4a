"""Test doubles for the participants' tests: a tiny rail with the RailService contract and a JSON codec.

The fake rail is deliberately simple (no journal, no XML): it lets the harness, the banks and the
transports be tested for their own behaviour (open-loop timing, reconciliation, outages, restarts, bad
targets) independently of the real rail, which has its own tests. It follows the same contract: submit
returns 202 + ACTC, forwards the pacs.008 to the creditor's inbox, settles on the creditor's ACSP (ACSC to
both agents), voids on RJCT, times out with AB05, answers a resent UETR with its original outcome.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import orjson
from aiohttp import web

from participants.codec import Parsed
from rail.api.http_types import Admit, Request, RequestHead, Response

JSON = "application/json"


class FakeCustomer(msgspec.Struct, frozen=True):
    name: str
    iban: str
    raast_id: str | None = None
    behaviour: str = "accept"


class FakeBank(msgspec.Struct, frozen=True):
    bic: str
    name: str
    customers: list[FakeCustomer]


class FakeScheme(msgspec.Struct, frozen=True):
    banks: list[FakeBank]


def fake_scheme(n_banks: int = 4) -> FakeScheme:
    banks = []
    for i in range(n_banks):
        bic = f"BNK{i}PKKA"
        customers = [FakeCustomer(f"Customer {i}-{j}", f"PK00BNK{i}{j:016d}") for j in range(5)]
        banks.append(FakeBank(bic, f"Bank {i}", customers))
    return FakeScheme(banks)


class JsonCodec:
    """A BankCodec speaking a flat JSON stand-in for pacs.008/pacs.002 (what the fake rail understands)."""

    content_type = JSON
    rendering = "json"

    def pacs008(self, *, uetr, msg_id, amount_paisa, debtor_bic, debtor_name, debtor_iban, creditor_bic,
                creditor_name, creditor_iban) -> dict:
        return {"type": "pacs.008", "uetr": uetr, "amount": amount_paisa, "dbtr_bic": debtor_bic,
                "cdtr_bic": creditor_bic, "cdtr_iban": creditor_iban}

    def pacs002_answer(self, original, *, from_bic, status, reason) -> dict:
        return {"type": "pacs.002", "uetr": original["uetr"], "status": status, "reason": reason or "",
                "from": from_bic}

    def encode(self, message: dict) -> bytes:
        return orjson.dumps(message)

    def read(self, message: Any, msg_type=None, content_type=None) -> Parsed:
        doc = orjson.loads(message) if isinstance(message, (str, bytes)) else message
        if doc["type"] == "pacs.008":
            return Parsed("pacs.008.001.08", doc["uetr"], amount_paisa=doc["amount"], creditor_iban=doc["cdtr_iban"],
                          debtor_bic=doc["dbtr_bic"], creditor_bic=doc["cdtr_bic"], original=doc)
        return Parsed("pacs.002.001.10", doc.get("uetr", ""), status=doc.get("status", ""),
                      reason=doc.get("reason", ""), original=doc)


class Reply(msgspec.Struct):
    status: int
    content_type: str
    body: bytes
    headers: dict = {}


class FakeRail:
    """In-memory rail with the RailService surface (async methods)."""

    def __init__(self, n_banks: int = 4, balance_paisa: int = 10**15, creditor_timeout_s: float = 1.0,
                 stall_at_submit: int | None = None, stall_s: float = 0.0):
        self.scheme = fake_scheme(n_banks)
        self.posted = {b.bic: balance_paisa for b in self.scheme.banks}
        self.posted["SBPPPKKA"] = -balance_paisa * n_banks
        self.pending = {b.bic: 0 for b in self.scheme.banks}
        self.inboxes: dict[str, list[tuple[int, dict]]] = {b.bic: [] for b in self.scheme.banks}
        self.next_seq = {b.bic: 1 for b in self.scheme.banks}
        self.events = {b.bic: asyncio.Event() for b in self.scheme.banks}
        self.payments: dict[str, dict] = {}
        self.timers: dict[str, asyncio.TimerHandle] = {}
        self.creditor_timeout_s = creditor_timeout_s
        self.tokens: dict[str, str] = {}
        self.submits = 0
        self.stall_at_submit = stall_at_submit
        self.stall_s = stall_s
        self.liquidity_calls: list[tuple[str, int, str]] = []

    def _push(self, bic: str, doc: dict) -> None:
        seq = self.next_seq[bic]
        self.next_seq[bic] = seq + 1
        self.inboxes[bic].append((seq, doc))
        self.events[bic].set()

    async def submit(self, bic: str, body: bytes, content_type: str, wait_s=None) -> Reply:
        self.submits += 1
        if self.stall_at_submit is not None and self.submits == self.stall_at_submit:
            import time

            time.sleep(self.stall_s)  # deliberately block the event loop: the harness must show it
        doc = orjson.loads(body)
        if doc["type"] == "pacs.008":
            return self._pacs008(bic, doc)
        return self._pacs002(bic, doc)

    async def dispatch(self, bic: str, accepted) -> Reply:
        """A message handed over as it was built (participants/transport.py's InProcessTransport.post)."""
        return await self.submit(bic, orjson.dumps(accepted.message), JSON)

    def _reply(self, status: int, doc: dict) -> Reply:
        return Reply(status, JSON, orjson.dumps(doc))

    def _pacs008(self, bic: str, doc: dict) -> Reply:
        uetr = doc["uetr"]
        if doc["dbtr_bic"] != bic:
            return Reply(403, JSON, b'{"error":"not your BIC"}')
        known = self.payments.get(uetr)
        if known is not None:
            if known["state"] == "RJCT" and known["sync"]:
                return self._reply(200, {"type": "pacs.002", "uetr": uetr, "status": "RJCT", "reason": known["reason"]})
            return self._reply(202, {"type": "pacs.002", "uetr": uetr, "status": "ACTC"})
        amount = doc["amount"]
        if self.posted[bic] - self.pending[bic] < amount:
            self.payments[uetr] = {"doc": doc, "state": "RJCT", "reason": "AM04", "sync": True}
            return self._reply(200, {"type": "pacs.002", "uetr": uetr, "status": "RJCT", "reason": "AM04"})
        self.pending[bic] += amount
        self.payments[uetr] = {"doc": doc, "state": "PDNG", "reason": "", "sync": False}
        self._push(doc["cdtr_bic"], doc)
        loop = asyncio.get_running_loop()
        self.timers[uetr] = loop.call_later(self.creditor_timeout_s, self._timeout, uetr)
        return self._reply(202, {"type": "pacs.002", "uetr": uetr, "status": "ACTC"})

    def _finish(self, uetr: str, status: str, reason: str) -> None:
        p = self.payments[uetr]
        doc = p["doc"]
        self.pending[doc["dbtr_bic"]] -= doc["amount"]
        if status == "ACSC":
            self.posted[doc["dbtr_bic"]] -= doc["amount"]
            self.posted[doc["cdtr_bic"]] += doc["amount"]
        p["state"], p["reason"] = status, reason
        final = {"type": "pacs.002", "uetr": uetr, "status": status, "reason": reason}
        self._push(doc["dbtr_bic"], final)
        self._push(doc["cdtr_bic"], final)
        timer = self.timers.pop(uetr, None)
        if timer is not None:
            timer.cancel()

    def _timeout(self, uetr: str) -> None:
        self.timers.pop(uetr, None)
        if self.payments[uetr]["state"] == "PDNG":
            self._finish(uetr, "RJCT", "AB05")

    def _pacs002(self, bic: str, doc: dict) -> Reply:
        p = self.payments.get(doc["uetr"])
        if p is None or p["doc"]["cdtr_bic"] != bic:
            return Reply(403, JSON, b'{"error":"not the creditor agent"}')
        if p["state"] == "PDNG":
            if doc["status"] in ("ACSP", "ACCP"):
                self._finish(doc["uetr"], "ACSC", "")
            else:
                self._finish(doc["uetr"], "RJCT", doc["reason"])
        return self._reply(202, {"type": "ack"})

    async def inbox(self, bic: str, wait_s: float, max_n: int) -> dict:
        if not self.inboxes[bic] and wait_s > 0:
            self.events[bic].clear()
            try:
                await asyncio.wait_for(self.events[bic].wait(), wait_s)
            except asyncio.TimeoutError:
                pass
        msgs = [{"seq": s, "msg_type": d["type"], "message": orjson.dumps(d).decode()}
                for s, d in self.inboxes[bic][:max_n]]
        return {"messages": msgs}

    async def ack(self, bic: str, upto: int) -> dict:
        self.inboxes[bic] = [(s, d) for s, d in self.inboxes[bic] if s > upto]
        return {"upto": upto}

    async def payment(self, bic: str, uetr: str) -> dict:
        p = self.payments.get(uetr)
        if p is None:
            return {"uetr": uetr, "status": "UNKNOWN"}
        return {"uetr": uetr, "status": p["state"], "reason": p["reason"]}

    async def add_participant(self, bic: str, name: str, callback_url=None) -> str:
        self.tokens[bic] = f"token-{bic}"
        return self.tokens[bic]

    async def liquidity(self, bic: str, amount_paisa: int, direction: str) -> dict:
        self.liquidity_calls.append((bic, amount_paisa, direction))
        sign = 1 if direction == "in" else -1
        self.posted[bic] += sign * amount_paisa
        self.posted["SBPPPKKA"] -= sign * amount_paisa
        return {"bic": bic}

    async def balances(self) -> dict:
        # The real rail's report format (rail/settlement/payments.py Settlement.balances).
        accounts = {bic: {"posted_paisa": v, "pending_debits_paisa": self.pending.get(bic, 0),
                          "available_paisa": v - self.pending.get(bic, 0)} for bic, v in self.posted.items()}
        return {"accounts": accounts, "conserved": sum(self.posted.values()) == 0}

    # ---- what participants/transport.py's InProcessTransport drives (its InProcessRail protocol)

    def as_caller(self, caller: str) -> FakeApi:
        return FakeApi(self, caller)

    async def inbox_structs(self, bic: str, wait_s: float, max_n: int) -> list[tuple[int, str, str]]:
        page = await self.inbox(bic, wait_s, max_n)
        return [(m["seq"], m["msg_type"], m["message"]) for m in page["messages"]]  # its messages are JSON text

    async def ack_inbox(self, bic: str, upto: int) -> int:
        return (await self.ack(bic, upto))["upto"]


class FakeApi:
    """The fake rail's routes as an HttpApplication (rail/api/http_types.py), for one trusted caller."""

    def __init__(self, rail: FakeRail, caller: str) -> None:
        self.rail = rail
        self.caller = caller

    def head(self, head: RequestHead) -> Admit:
        return Admit(head.path, 1 << 20, self.caller)

    def body_too_large(self, head: RequestHead, admit: Admit) -> Response:
        return Response(413)

    async def handle(self, request: Request) -> Response:
        rail, bic, path = self.rail, self.caller, request.head.path
        body = orjson.loads(request.body) if request.body and path != "/v1/messages" else {}
        if path == "/v1/messages":
            reply = await rail.submit(bic, request.body, JSON)
            return Response(reply.status, {"Content-Type": reply.content_type}, reply.body)
        if path == "/v1/inbox/ack":
            answer = await rail.ack(bic, body["upto"])
            answer = {"acked_upto": answer["upto"]}
        elif path.startswith("/v1/payments/"):
            answer = await rail.payment(bic, path.rpartition("/")[2])
        elif path == "/admin/participants":
            answer = {"bic": body["bic"], "token": await rail.add_participant(body["bic"], body["name"])}
        elif path == "/admin/liquidity":
            answer = await rail.liquidity(body["bic"], body["amount"], body["direction"])
        elif path == "/admin/balances":
            answer = await rail.balances()
        elif path == "/healthz":
            answer = {"ok": True}
        elif path == "/metrics":
            return Response(200, {"Content-Type": "text/plain"}, f"fake_rail_submits_total {rail.submits}\n".encode())
        else:
            return Response(404, {"Content-Type": JSON}, b'{"error": "not_found"}')
        return Response(200, {"Content-Type": JSON}, orjson.dumps(answer))


def http_app(rail: FakeRail, admin_token: str = "admin") -> web.Application:
    """The fake rail behind the HTTP API of issue 4 (enough of it for the transport and harness)."""

    def who(request: web.Request) -> str | None:
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ")
        return next((bic for bic, t in rail.tokens.items() if t == token), None)

    def admin_ok(request: web.Request) -> bool:
        return request.headers.get("Authorization", "") == f"Bearer {admin_token}"

    async def messages(request: web.Request) -> web.Response:
        bic = who(request)
        if bic is None:
            return web.Response(status=401, text="unknown token")
        reply = await rail.submit(bic, await request.read(), request.content_type)
        return web.Response(status=reply.status, body=reply.body, content_type=JSON)

    async def inbox(request: web.Request) -> web.Response:
        bic = who(request)
        if bic is None:
            return web.Response(status=401, text="unknown token")
        doc = await rail.inbox(bic, float(request.query.get("wait", "0")), int(request.query.get("max", "100")))
        return web.json_response(doc)

    async def ack(request: web.Request) -> web.Response:
        bic = who(request)
        if bic is None:
            return web.Response(status=401, text="unknown token")
        return web.json_response(await rail.ack(bic, (await request.json())["upto"]))

    async def payment(request: web.Request) -> web.Response:
        bic = who(request)
        if bic is None:
            return web.Response(status=401, text="unknown token")
        return web.json_response(await rail.payment(bic, request.match_info["uetr"]))

    async def participants(request: web.Request) -> web.Response:
        if not admin_ok(request):
            return web.Response(status=401, text="admin token required")
        body = await request.json()
        return web.json_response({"bic": body["bic"], "token": await rail.add_participant(body["bic"], body["name"])})

    async def liquidity(request: web.Request) -> web.Response:
        if not admin_ok(request):
            return web.Response(status=401, text="admin token required")
        body = await request.json()
        return web.json_response(await rail.liquidity(body["bic"], body["amount"], body["direction"]))

    async def balances(request: web.Request) -> web.Response:
        if not admin_ok(request):
            return web.Response(status=401, text="admin token required")
        return web.json_response(await rail.balances())

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(text=f"fake_rail_submits_total {rail.submits}\n")

    app = web.Application()
    app.router.add_post("/v1/messages", messages)
    app.router.add_get("/v1/inbox", inbox)
    app.router.add_post("/v1/inbox/ack", ack)
    app.router.add_get("/v1/payments/{uetr}", payment)
    app.router.add_post("/admin/participants", participants)
    app.router.add_post("/admin/liquidity", liquidity)
    app.router.add_get("/admin/balances", balances)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    return app


async def serve(app: web.Application, port: int = 0) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"
