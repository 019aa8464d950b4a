"""How the certifier cues the participant's own system: the sender hook and the restart command.

**Sender hook** (`--sender-hook`): an http(s) URL the certifier POSTs one instruction to, or a shell command
it runs with the instruction on stdin; either answers with a JSON report on what it sent. Instruction:

    {"case": "S01", "action": "pay", "uetr": "...", "end_to_end_id": "...", "amount_paisa": 12345,
     "creditor_agent": "XMNRPKKA", "creditor_iban": "PK...", "creditor_name": "Certification Examiner"}

Actions: ``pay`` (send that pacs.008), ``pay_and_resend`` (send it, then send it again as your system does when
the first answer never came), ``recall`` (camt.056 for ``uetr``), ``status_request`` (pacs.028 for ``uetr``),
``request_to_pay`` (pain.013 asking ``amount_paisa`` from ``payer_agent``/``payer_iban``/``payer_name``,
``end_to_end_id``, paid into your declared ``accept`` account). Report (HTTP 200 / exit code 0):

    {"uetr": "...", "exchanges": [{"message": "<Document ...>", "status": 202, "answer": "<Document ...>"}]}

one exchange per message sent to the rail, in order: the message as sent and the rail's HTTP status and answer.

**Restart command** (`--restart-cmd`): a shell command that stops the participant (a crash is fine: that is
the point) and starts it again; the certifier runs it mid-case and keeps paying while it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
from typing import Any

import aiohttp
import msgspec

HOOK_OUTPUT_BYTES_MAX = 4 * 1024 * 1024


class HookFailed(Exception):
    """The hook did not answer as documented: the message says how."""


class Exchange(msgspec.Struct, frozen=True):
    message: str
    status: int
    answer: str = ""


class HookReport(msgspec.Struct, frozen=True):
    uetr: str | None = None
    exchanges: list[Exchange] = []


class SenderHook:
    """One of: an http(s) URL (POST) or a shell command (stdin/stdout)."""

    def __init__(self, target: str, timeout_s: float = 30.0):
        self.target = target
        self.timeout_s = timeout_s
        self.is_url = target.startswith(("http://", "https://"))

    async def instruct(self, instruction: dict[str, Any]) -> HookReport:
        raw = await (self._post(instruction) if self.is_url else self._run(instruction))
        try:
            return msgspec.json.decode(raw, type=HookReport)
        except msgspec.ValidationError as exc:
            raise HookFailed(f"the sender hook's report is not as documented: {exc}") from None
        except msgspec.DecodeError:
            raise HookFailed(f"the sender hook answered something that is not JSON: {raw[:200]!r}") from None

    async def _post(self, instruction: dict) -> bytes:
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        try:
            async with (aiohttp.ClientSession(timeout=timeout) as session,
                        session.post(self.target, json=instruction) as response):
                body = await response.content.read(HOOK_OUTPUT_BYTES_MAX)
                if response.status != 200:
                    raise HookFailed(f"the sender hook answered HTTP {response.status}: {body[:300]!r}")
                return body
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise HookFailed(f"cannot reach the sender hook {self.target}: {exc or type(exc).__name__}") from None

    async def _run(self, instruction: dict) -> bytes:
        code, out, err = await run_command(self.target, json.dumps(instruction).encode(), self.timeout_s)
        if code != 0:
            raise HookFailed(f"the sender hook command exited {code}: {err[-300:]!r}")
        return out


async def run_command(command: str, stdin: bytes | None, timeout_s: float) -> tuple[int, bytes, bytes]:
    """Run `command` through the shell; (exit code, stdout, stderr). Killed (and HookFailed) after timeout_s.

    Its output goes to temporary files, not pipes: a command that starts a process in the background (a
    restart) must not make us wait for that process's end, and under uvloop a grandchild keeps the pipes of
    its parent's shell open (measured: `sleep 3 & echo hi` took 3 s to read)."""
    with tempfile.TemporaryFile() as given, tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        given.write(stdin or b"")
        given.seek(0)
        process = await asyncio.create_subprocess_shell(command, stdin=given, stdout=out, stderr=err)
        try:
            await asyncio.wait_for(process.wait(), timeout_s)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            raise HookFailed(f"{command!r} took longer than {timeout_s:g} s: killed") from None
        out.seek(0)
        err.seek(0, 2)
        err.seek(max(0, err.tell() - HOOK_OUTPUT_BYTES_MAX))
        return process.returncode or 0, out.read(HOOK_OUTPUT_BYTES_MAX), err.read()


def restart_command(command: str, timeout_s: float):
    """The runner's restart hook for `--restart-cmd`."""

    async def restart() -> None:
        code, _, err = await run_command(command, None, timeout_s)
        if code != 0:
            raise HookFailed(f"the restart command exited {code}: {err[-300:]!r}")

    return restart
