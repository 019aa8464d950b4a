"""Helpers of the fault-injection tests (tests/test_faults_*.py): a real `rail serve` process and a client."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from rail import iso20022
from rail.scheme import default_scheme

ADMIN = "faults-admin-token"
DEBTOR = "TESTPKKA"
DEBTOR_IBAN = iso20022.make_pk_iban("TEST", "0000001234567890")
CREDITOR = "MEZNPKKA"  # a simulated bank of the default scheme
START_S_MAX = 30.0


def accept_now_iban(bic: str = CREDITOR) -> str:
    """The simulated creditor's 'accepts immediately' test account."""
    bank = default_scheme().bank(bic)
    return next(c.iban for c in bank.customers if c.iban.endswith("0099"))


def serve_command(data: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "rail", "serve", "--host", "127.0.0.1", "--port", "0", "--data", str(data),
            "--admin-token", ADMIN, *extra]  # fmt: skip


def rail_command(*args: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rail", *args], capture_output=True, text=True, timeout=timeout_s, check=False
    )


class RailProcess:
    """`rail serve` in a subprocess; `start()` returns once it listens (or raises with what it printed)."""

    def __init__(self, data: Path, *extra: str) -> None:
        self.command = serve_command(data, *extra)
        self.process: subprocess.Popen | None = None
        self.url = ""
        self.output: list[str] = []

    def start(self) -> RailProcess:
        self.process = subprocess.Popen(
            self.command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        deadline = time.monotonic() + START_S_MAX
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self.output.append(line)
            match = re.search(r"listening on (http://[0-9.]+:\d+)", line)
            if match:
                self.url = match.group(1)
                return self
        self.stop()
        raise RuntimeError("rail serve did not start:\n" + "".join(self.output))

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> str:
        """SIGTERM (a clean stop), then what it printed."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process is not None and self.process.stdout is not None:
            self.output.append(self.process.stdout.read())
            self.process.stdout.close()
        return "".join(self.output)


class Client:
    """A participant and the operator over HTTP."""

    def __init__(self, session: aiohttp.ClientSession, url: str, token: str | None = None) -> None:
        self.session = session
        self.url = url
        self.token = token

    async def admin(self, method: str, path: str, **kwargs) -> tuple[int, dict]:
        async with self.session.request(
            method, self.url + path, headers={"Authorization": f"Bearer {ADMIN}"}, **kwargs
        ) as response:
            return response.status, await response.json()

    async def join(self, bic: str = DEBTOR, funds_paisa: int = 10_000_000_000) -> None:
        status, body = await self.admin("POST", "/admin/participants", json={"bic": bic, "name": bic})
        assert status == 201, body
        self.token = body["token"]
        status, body = await self.admin("POST", "/admin/liquidity", json={"bic": bic, "amount": funds_paisa,
                                                                           "direction": "in"})  # fmt: skip
        assert status == 200, body

    async def send(self, message, wait_s: float | None = None) -> tuple[int, object]:
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/xml"}
        if wait_s:
            headers["Prefer"] = f"wait={wait_s}"
        async with self.session.post(
            self.url + "/v1/messages", data=iso20022.encode(message, "xml"), headers=headers
        ) as response:
            return response.status, iso20022.decode(
                await response.read(), response.headers["Content-Type"]
            ).message

    async def payment(self, uetr: str) -> tuple[int, dict]:
        async with self.session.get(
            f"{self.url}/v1/payments/{uetr}", headers={"Authorization": f"Bearer {self.token}"}
        ) as response:
            return response.status, await response.json()
