"""Pytest plugin: clients pointed at the sandbox, with tiny retry waits and every request checked against the specs.

Fixtures: `okta`, `jira`, `workday` and their `make_*` factories (keyword arguments override the fast
policy; `fake_clock=` a tests.fake_clock.FakeClock the client times and sleeps with), and `spec_check`.
`FAST` is that policy, for a test that builds a client of its own. An Okta client is paced as production's
are on one host, by a `HostRateBudget`, its file under the test's tmp_path so no test meets another's
windows; `pacer=` gives it another.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from offboarding.clients.jira import JiraClient
from offboarding.clients.okta import OktaClient
from offboarding.clients.pacing import HostRateBudget
from offboarding.clients.transport import Pacer, RetryPolicy
from offboarding.clients.workday import WorkdayClient
from tests.client_spec_check import SpecCheck
from tests.fake_clock import FakeClock

FAST = RetryPolicy(
    connect_timeout=2.0,
    read_timeout=5.0,
    max_attempts=3,
    backoff_initial=0.01,
    backoff_max=0.05,
    max_rate_limit_wait=5.0,
)


def clock_of(fake_clock: FakeClock | None) -> dict[str, Any]:
    """The client's clock and sleep: the fake clock's, else the real ones."""
    return {"clock": fake_clock.monotonic, "sleep": fake_clock.sleep} if fake_clock else {}


@pytest.fixture
def spec_check(sandbox: Any) -> Iterator[SpecCheck]:
    check = SpecCheck(sandbox.okta_url, sandbox.jira_url, sandbox.workday_report_url)
    yield check
    assert not check.violations, "requests the vendor's spec does not allow:\n" + "\n".join(check.violations)


@pytest.fixture
def make_okta(sandbox: Any, spec_check: SpecCheck, tmp_path: Path) -> Callable[..., OktaClient]:
    """An Okta client from settings; keyword arguments override the fast test policy."""

    def make(pacer: Pacer | None = None, fake_clock: FakeClock | None = None, **policy: Any) -> OktaClient:
        clocks = clock_of(fake_clock)
        budget = HostRateBudget(tmp_path / "okta-budget", sandbox.okta_url, max_wait=FAST.max_rate_limit_wait, **clocks)
        return OktaClient.from_settings(
            policy=replace(FAST, **policy),
            pacer=pacer or budget,
            session=spec_check.session(),
            **clocks,
        )

    return make


@pytest.fixture
def okta(make_okta: Callable[..., OktaClient]) -> OktaClient:
    return make_okta()


@pytest.fixture
def make_jira(sandbox: Any, spec_check: SpecCheck) -> Callable[..., JiraClient]:
    def make(fake_clock: FakeClock | None = None, **policy: Any) -> JiraClient:
        return JiraClient.from_settings(
            policy=replace(FAST, **policy), session=spec_check.session(), **clock_of(fake_clock)
        )

    return make


@pytest.fixture
def jira(make_jira: Callable[..., JiraClient]) -> JiraClient:
    return make_jira()


@pytest.fixture
def make_workday(sandbox: Any, spec_check: SpecCheck) -> Callable[..., WorkdayClient]:
    def make(fake_clock: FakeClock | None = None, **policy: Any) -> WorkdayClient:
        return WorkdayClient.from_settings(
            policy=replace(FAST, **policy), session=spec_check.session(), **clock_of(fake_clock)
        )

    return make


@pytest.fixture
def workday(make_workday: Callable[..., WorkdayClient]) -> WorkdayClient:
    return make_workday()
