"""Pytest plugin: the sandbox server for the whole session, a freshly reset small org per test."""

import pytest

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


@pytest.fixture(scope="session")
def sandbox_server():
    server = SandboxServer().start()
    yield server
    server.stop()


@pytest.fixture
def sandbox(sandbox_server, settings) -> Sandbox:
    handle = Sandbox(sandbox_server.url, reset_defaults=TEST_RESET_DEFAULTS)
    handle.clear_faults()
    handle.reset()
    handle.clear_requests()
    settings.WORKDAY_REPORT_URL = handle.workday_report_url
    settings.WORKDAY_USERNAME = handle.workday_user
    settings.WORKDAY_PASSWORD = handle.workday_password
    settings.OKTA_ORG_URL = handle.okta_url
    settings.OKTA_API_TOKEN = handle.okta_token
    settings.JIRA_BASE_URL = handle.jira_url
    settings.JIRA_EMAIL = handle.jira_email
    settings.JIRA_API_TOKEN = handle.jira_token
    settings.JIRA_PROJECT_KEY = handle.jira_project_key
    yield handle
    handle.clear_faults()
