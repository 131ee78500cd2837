"""Pytest plugin: the sandbox server for the whole session, a freshly reset small org per test.

Each test that takes `sandbox` (or `org`, which is built on it) starts from one reset, made with one
control call that also empties the request log (a reset switches every fault off). Its options are
the small test defaults below, then, for a test of `org`, no pending terminations of the sandbox's
own, then the test's `@pytest.mark.sandbox(**options)` (the nearest marker wins). A module or class
whose options depend on other fixtures overrides `sandbox_options` instead.
"""

import pytest

from offboarding.clients.okta import forget_shared_pacers
from sandbox.control import Sandbox
from sandbox.server import SandboxServer
from sandbox.state import OKTA_RATE_LIMIT_DEFAULTS

# Small and fast; limits so high that only a test that lowers them meets them.
TEST_RESET_DEFAULTS = {
    "seed": 1234,
    "workers": 10,
    "groups_per_person": 5,
    "pending_terminations": 4,
    "okta_page_size": 200,
    "rate_limits": dict.fromkeys(OKTA_RATE_LIMIT_DEFAULTS, 100_000),
    "rate_limit_window": 60,
    "concurrency_limit": 75,
    "okta_token_lifetime": 3600,
    "okta_async_delay": 0.2,
}
# What the `org` fixture promises: the test adds every leaver it needs.
ORG_OPTIONS = {"pending_terminations": 0}


@pytest.fixture(scope="session")
def sandbox_server():
    server = SandboxServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sandbox_handle(sandbox_server) -> Sandbox:
    """The control client, one for the whole run (it holds no state of its own between calls)."""
    return Sandbox(sandbox_server.url, reset_defaults=TEST_RESET_DEFAULTS)


@pytest.fixture
def sandbox_options(request) -> dict:
    """The reset options of this test's `sandbox` markers, the nearest last so that it wins."""
    options: dict = {}
    for marker in reversed(list(request.node.iter_markers("sandbox"))):
        options.update(marker.kwargs)
    return options


@pytest.fixture
def sandbox(sandbox_handle, sandbox_options, settings, request) -> Sandbox:
    handle = sandbox_handle
    options = {**(ORG_OPTIONS if "org" in request.fixturenames else {}), **sandbox_options}
    handle.reset(clear_requests=True, **options)
    # Okta's windows start afresh with the reset: what the shared budget learnt of the old ones is void.
    forget_shared_pacers()
    settings.WORKDAY_REPORT_URL = handle.workday_report_url
    settings.WORKDAY_USERNAME = handle.workday_user
    settings.WORKDAY_PASSWORD = handle.workday_password
    settings.OKTA_ORG_URL = handle.okta_url
    settings.OKTA_API_TOKEN = handle.okta_token
    settings.JIRA_BASE_URL = handle.jira_url
    settings.JIRA_EMAIL = handle.jira_email
    settings.JIRA_API_TOKEN = handle.jira_token
    settings.JIRA_PROJECT_KEY = handle.jira_project_key
    return handle
