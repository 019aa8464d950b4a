"""`rail certify` tested both ways, against a real rail over real HTTP: the project's own simulated bank passes
every required case, and the same bank with one deliberate fault (participants/creditor.py's Fault) fails
exactly the cases that name that fault. Six certifications run at once, each with its own examiner."""

from __future__ import annotations

import asyncio

import pytest

from rail.app.bank_cli import declaration_of, make_bank, serve_hook
from participants.creditor import Fault
from participants.transport import HttpTransport
from rail.certify.context import Options
from rail.certify.runner import Outcome, Run, certify
from rail.certify.suite import ROLES, load_suite
from rail.api.listener import Listener
from rail.api.routes import RailApi
from rail.api.service import RailService

CREDITOR_TIMEOUT_MS = 1_500  # the rail's AB05 timer, short so the 'late' bank's cases end quickly
DOWNTIME_S = 0.5  # between a bank's crash and its restart: payments arrive meanwhile
FUNDING_PAISA = 10_000_000_00
ALIAS = "+923451112233"
FAST = Options(final_wait_s=6.0, hook_timeout_s=10.0,
               params={"R09": {"rate_per_s": 20.0, "seconds": 1.0}, "R06": {"answer_s": 3.0},
                       "R05": {"quiet_s": 1.0}, "R10": {"within_s": 2.0}})
PARTICIPANTS = {  # BIC -> its one fault (None: the bank as it should be)
    "GOODPKKA": None,
    "LATEPKKA": Fault.LATE,
    "WRNGPKKA": Fault.WRONG_REASON,
    "DUPLPKKA": Fault.ANSWERS_DUPLICATES,
    "RCLLPKKA": Fault.IGNORES_RECALLS,
    "BKLGPKKA": Fault.FORGETS_BACKLOG,
}


class Participant:
    """One participant under test: a simulated bank over HTTP that the test can crash and restart."""

    def __init__(self, url: str, bic: str, token: str, fault: Fault | None):
        self.url, self.bic, self.token = url, bic, token
        self.faults = frozenset({fault} if fault else ())
        self.bank = self._new()
        self.transports = [self.bank.transport]

    def _new(self):
        return make_bank(self.bic, HttpTransport(self.url, self.token), faults=self.faults,
                         scheme_timeout_ms=CREDITOR_TIMEOUT_MS)

    async def restart(self) -> None:
        """A crash (no acknowledgement, memory lost), some downtime, then a fresh instance."""
        await self.bank.stop(graceful=False)
        await asyncio.sleep(DOWNTIME_S)
        self.bank = self._new()
        self.transports.append(self.bank.transport)
        self.bank.start()

    async def close(self) -> None:
        await self.bank.stop()
        for transport in self.transports:
            await transport.close()


async def _participant(service: RailService, url: str, bic: str, fault: Fault | None) -> Participant:
    token = await service.add_participant(bic, f"{bic} under test")
    await service.liquidity(bic, FUNDING_PAISA, "in")
    participant = Participant(url, bic, token, fault)
    participant.bank.start()
    return participant


async def test_our_bank_passes_and_each_broken_bank_fails_exactly_the_cases_naming_its_fault(tmp_path):
    service = await RailService.open(tmp_path, fsync=False, creditor_timeout_ms=CREDITOR_TIMEOUT_MS,
                                     hard_stop_ms=2 * CREDITOR_TIMEOUT_MS)
    server = Listener(RailApi(service))
    await server.start()
    url = server.url
    suite = load_suite()
    participants = {bic: await _participant(service, url, bic, fault) for bic, fault in PARTICIPANTS.items()}
    good = participants["GOODPKKA"]
    await good.bank.transport.register_alias(ALIAS, good.bank.customer(0).iban, "Alias Holder")
    hook_runner, hook_url = await serve_hook(lambda: good.bank, 0)
    try:
        runs = []
        for index, (bic, participant) in enumerate(participants.items()):
            roles = set(ROLES) if bic == "GOODPKKA" else {"receiver"}
            run = Run(target=url, participant=bic, admin_token=service.admin_token, token=participant.token,
                      declaration=declaration_of(participant.bank, [ALIAS] if bic == "GOODPKKA" else []),
                      options=FAST, examiner_bic=f"XMN{'ABCDEF'[index]}PKKA",
                      sender_hook=hook_url if bic == "GOODPKKA" else None)
            runs.append(certify(run, suite, suite.select(roles), restart=participant.restart))
        results = dict(zip(participants, await asyncio.gather(*runs)))
    finally:
        await hook_runner.cleanup()
        for participant in participants.values():
            await participant.close()
        await server.close()
        await service.close()

    verdict = results["GOODPKKA"]
    outcomes = {r.id: (r.outcome, r.reason) for r in verdict.results}
    assert verdict.passed, outcomes
    assert {r.id for r in verdict.results if r.outcome is Outcome.PASSED} == {
        c.id for c in suite.cases if c.id != "X02"}  # X02 needs webhooks: it does not apply
    assert outcomes["X02"][0] is Outcome.NOT_APPLICABLE
    for bic, fault in PARTICIPANTS.items():
        if fault is None:
            continue
        failed = {r.id for r in results[bic].results if r.outcome is not Outcome.PASSED and r.required}
        expected = {c.id for c in suite.select({"receiver"}) if fault in c.catches and c.id != "R07"}
        assert failed == expected, (bic, {r.id: r.reason for r in results[bic].results if r.id in failed ^ expected})
        assert not results[bic].passed


@pytest.mark.parametrize("check", sorted({c.check for c in load_suite().cases}))
def test_every_case_names_a_check_that_exists_and_faults_that_exist(check):
    from rail.certify.runner import CHECKS

    assert check in CHECKS
    for case in (c for c in load_suite().cases if c.check == check):
        assert set(case.catches) <= {f.value for f in Fault}, case.id
