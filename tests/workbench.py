"""Helpers of the workbench API tests (tests/test_workbench_*.py): a rail with its simulated banks behind our own
listener on a real socket, two external participants, and a client that speaks to it as the page does."""

from __future__ import annotations

import uuid
from pathlib import Path

import aiohttp

from participants.sandbox import start_sandbox_banks
from rail import iso20022
from rail.api.listener import Listener
from rail.api.routes import RailApi
from rail.api.service import RailService
from rail.scheme import default_scheme

BANK_A = "TESTPKKA"
BANK_B = "DEMOPKKA"
A_IBAN = iso20022.make_pk_iban("TEST", "0000001234567890")
B_IBAN = iso20022.make_pk_iban("DEMO", "0000009876543210")
CREDITOR = "MEZNPKKA"  # a simulated bank of the default scheme
FAST = {"creditor_timeout_ms": 700, "hard_stop_ms": 1_500, "sandbox_accept_delay_ms_min": 1,
        "sandbox_accept_delay_ms_max": 5}  # fmt: skip
ADMIN = "workbench-admin-token"
XML = "application/xml"
JSON = "application/json"


def simulated_iban(suffix: str, bic: str = CREDITOR) -> str:
    """A test account of a simulated bank (README, Test accounts): '0099' accepts at once, '0004' AC04..."""
    return next(c.iban for c in default_scheme().bank(bic).customers if c.iban.endswith(suffix))


def pacs008(debtor: str, debtor_iban: str, creditor: str, creditor_iban: str, amount_paisa: int = 10_000,
            uetr: str | None = None, end_to_end_id: str | None = None) -> iso20022.Pacs008:
    tx_id = uuid.uuid4().hex[:20].upper()
    return iso20022.credit_transfer(
        msg_id="M" + tx_id, tx_id=tx_id, uetr=uetr or str(uuid.uuid4()), amount_paisa=amount_paisa,
        debtor_agent=debtor, debtor_name="Ali Raza", debtor_iban=debtor_iban, creditor_agent=creditor,
        creditor_name="Ayesha Khan", creditor_iban=creditor_iban, end_to_end_id=end_to_end_id,
    )  # fmt: skip


class Workbench:
    """A running rail and a client; `await Workbench.open(tmp_path)`, `await close()`."""

    def __init__(self, service: RailService, listener: Listener, session: aiohttp.ClientSession) -> None:
        self.service = service
        self.listener = listener
        self.session = session
        self.url = listener.url
        self.tokens: dict[str, str] = {}
        self.secrets: dict[str, str] = {}

    @classmethod
    async def open(cls, data: Path, participants=(BANK_A, BANK_B), callback_urls=None, **params) -> Workbench:
        service = await RailService.open(data, admin_token=ADMIN, **{**FAST, **params})
        await start_sandbox_banks(service)
        listener = Listener(RailApi(service))
        await listener.start()
        bench = cls(service, listener, aiohttp.ClientSession())
        for bic in participants:
            await bench.register(bic, (callback_urls or {}).get(bic))
        return bench

    async def register(self, bic: str, callback_url: str | None = None) -> dict:
        body = {"bic": bic, "name": f"Bank {bic}", **({"callback_url": callback_url} if callback_url else {})}
        status, answer = await self.call("POST", "/admin/participants", None, body)
        assert status == 201, answer
        self.tokens[bic], self.secrets[bic] = answer["token"], answer.get("webhook_secret")
        status, answer = await self.call("POST", "/admin/liquidity", None,
                                         {"bic": bic, "amount": 50_000_000, "direction": "in"})
        assert status == 200, answer
        return answer

    async def close(self) -> None:
        await self.session.close()
        await self.listener.close()
        await self.service.close()

    def auth(self, who: str | None) -> dict:
        token = self.service.admin_token if who is None else self.tokens[who]
        return {"Authorization": f"Bearer {token}"}

    async def call(self, method: str, path: str, who: str | None, body=None, params=None) -> tuple[int, object]:
        """A JSON request as `who` (a BIC, or None: the admin)."""
        async with self.session.request(method, self.url + path, json=body, params=params,
                                        headers=self.auth(who)) as response:
            return response.status, await response.json(content_type=None)

    async def send(self, who: str, body: bytes, content_type: str = XML, wait_s: float | None = None
                   ) -> tuple[int, bytes]:
        headers = {**self.auth(who), "Content-Type": content_type}
        if wait_s is not None:
            headers["Prefer"] = f"wait={wait_s}"
        async with self.session.post(self.url + "/v1/messages", data=body, headers=headers) as response:
            return response.status, await response.read()

    async def pay(self, debtor: str, creditor_iban: str, creditor: str = CREDITOR, wait_s: float | None = 5,
                  rendering: str = "xml", **fields) -> tuple[int, iso20022.Pacs008, bytes]:
        message = pacs008(debtor, A_IBAN if debtor == BANK_A else B_IBAN, creditor, creditor_iban, **fields)
        status, answer = await self.send(debtor, iso20022.encode(message, rendering), iso20022.CONTENT_TYPES[
            rendering], wait_s)
        return status, message, answer
