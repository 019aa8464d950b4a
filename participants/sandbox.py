"""The sandbox's built-in counterparties: the default scheme's banks, answering from inside the rail process.

So that an integrator has counterparties from the first minute, each default-scheme bank the rail still
simulates (not taken over by an external client) runs as the one simulated bank (participants/bank.py) over
the in-process transport, answering by the scheme's test-account table (participants/creditor.py's
TestAccountTable, README "Test accounts"). Each reads its inbox and answers through the same RailService an
external bank uses (its answers as structs, the API layer's dispatch: the state-machine half of every message),
so nothing about a payment is decided here that the rail would not decide for a real bank.

The application wiring starts them (rail serve, rail demo; `start_sandbox_banks`), not the rail itself.
Registering a default bank's BIC from outside (`POST /admin/participants`) makes its simulator stand down
before the new token is returned: RailService tells its companions of every admission. Each simulated bank's
creditor policy is Switchable: the workbench makes it misbehave for a while (`POST
/admin/participants/{bic}/behaviour`: down, slow, reject with a code), through rail/api/simulated.py's seam.
"""

from __future__ import annotations

import asyncio
import logging

from participants.bank import BankBehaviour, SimulatedBank
from participants.codec import Iso20022Codec
from participants.creditor import Switchable, TestAccountTable
from participants.transport import InProcessTransport
from rail.api.routes import RailApi
from rail.api.service import RailService
from rail.api.simulated import Behaviour
from rail.scheme import Bank

log = logging.getLogger(__name__)

INBOX_PAGE_MAX = 500  # messages a sandbox bank takes per poll
INBOX_WAIT_S = 1.0
# A sandbox bank runs as long as the rail: it remembers this many payments (for exactly-once answers and
# credits), a bound whatever traffic integrators send it.
PAYMENTS_REMEMBERED_MAX = 200_000
SANDBOX_BEHAVIOUR = BankBehaviour(inbox_wait_s=INBOX_WAIT_S, inbox_batch_max=INBOX_PAGE_MAX, inbox_linger_ms=0.0)


class SandboxBanks:
    """The running simulators of one RailService (a RailService companion: stopped with it), and the
    workbench's handle on them (rail/api/simulated.py's SimulatedBanks)."""

    def __init__(self, service: RailService) -> None:
        self.service = service
        self.api = RailApi(service)
        self.banks: dict[str, SimulatedBank] = {}
        self.policies: dict[str, Switchable] = {}

    def start_bank(self, spec: Bank) -> SimulatedBank:
        policy = Switchable(TestAccountTable.for_scheme(self.service.scheme.params))
        bank = SimulatedBank(
            spec.bic, spec.name, spec.customers, InProcessTransport(self.api, spec.bic), Iso20022Codec("json"),
            SANDBOX_BEHAVIOUR, policy=policy, remember_max=PAYMENTS_REMEMBERED_MAX,
        )
        self.banks[spec.bic] = bank
        self.policies[spec.bic] = policy
        bank.start()
        return bank

    def simulates(self, bic: str) -> bool:
        return bic in self.banks

    def behaviour(self, bic: str) -> Behaviour | None:
        policy = self.policies.get(bic)
        return None if policy is None else policy.behaviour

    def set_behaviour(self, bic: str, behaviour: Behaviour) -> None:
        self.policies[bic].behaviour = behaviour

    async def restart(self, bics: list[str]) -> None:
        await self.stop()
        for bic in bics:
            spec = self.service.scheme.bank(bic)
            if spec is not None:
                self.start_bank(spec)

    async def participant_admitted(self, bic: str) -> None:
        """An external client now drives `bic`: its simulator stands down (acknowledging what it handled)."""
        bank = self.banks.pop(bic, None)
        self.policies.pop(bic, None)
        if bank is not None:
            await bank.stop()

    async def stop(self) -> None:
        banks, self.banks, self.policies = list(self.banks.values()), {}, {}
        await asyncio.gather(*(bank.stop() for bank in banks))


async def start_sandbox_banks(service: RailService) -> SandboxBanks:
    """Start a simulator for every participant the rail still simulates; they stop when the service closes."""
    sandbox = SandboxBanks(service)
    for bic in await service.simulated_participants():
        spec = service.scheme.bank(bic)
        if spec is None:
            log.warning("no default-scheme bank %s to simulate: left unanswered", bic)
            continue
        sandbox.start_bank(spec)
    service.add_simulator(sandbox)
    return sandbox
