"""No token, password, private key or Basic auth header ever reaches a log line, an error or a repr."""

from __future__ import annotations

import base64
import logging
import traceback
from typing import Any

import pytest

from offboarding.clients import adf
from offboarding.clients.errors import VendorError
from sandbox.keys import SERVICE_APP_CLIENT_ID, SERVICE_APP_PRIVATE_KEY_PEM


def secrets_in(text: str, secrets: list[str]) -> list[str]:
    return [s for s in secrets if s and s in text]


def error_text(error: BaseException) -> str:
    return "".join(traceback.format_exception(error)) + repr(error) + str(error)


class TestSecretsStayOut:
    def test_no_secret_reaches_logs_errors_or_reprs(
        self,
        sandbox: Any,
        settings: Any,
        caplog: pytest.LogCaptureFixture,
        make_okta: Any,
        make_jira: Any,
        make_workday: Any,
    ) -> None:
        caplog.set_level(logging.DEBUG)
        texts: list[str] = []
        secrets = [
            sandbox.okta_token,
            sandbox.jira_token,
            sandbox.workday_password,
            base64.b64encode(f"{sandbox.jira_email}:{sandbox.jira_token}".encode()).decode(),
            base64.b64encode(f"{sandbox.workday_user}:{sandbox.workday_password}".encode()).decode(),
            *[line for line in SERVICE_APP_PRIVATE_KEY_PEM.splitlines() if "-----" not in line],
        ]
        user = sandbox.add_okta_user("E9100", "Sec", "Ret")

        def attempt(call: Any) -> None:
            try:
                call()
            except VendorError as e:
                texts.append(error_text(e))

        # Successful calls, with SSWS and Basic auth.
        okta, jira, workday = make_okta(), make_jira(), make_workday()
        texts += [repr(okta), repr(jira), repr(workday), repr(okta.transport.auth), repr(jira.transport.auth)]
        okta.list_user_groups(user["id"])
        issue = jira.create_issue("Offboarding: secrets", adf.doc(adf.paragraph("x")), ["case-s"])
        workday.fetch_terminations()
        # Failures of every kind.
        sandbox.fault("okta", "error", status=500)
        attempt(lambda: okta.get_user(user["id"]))
        sandbox.clear_faults()
        sandbox.fault("jira", "outage")
        attempt(lambda: jira.get_issue(issue.key))
        sandbox.clear_faults()
        attempt(lambda: okta.get_user("00unosuchuser"))
        attempt(lambda: jira.create_issue("x", {"type": "doc"}, []))
        settings.OKTA_API_TOKEN, settings.JIRA_API_TOKEN, settings.WORKDAY_PASSWORD = "wrong-1", "wrong-2", "wrong-3"
        secrets += ["wrong-1", "wrong-2", "wrong-3"]
        attempt(lambda: make_okta().get_user(user["id"]))
        attempt(lambda: make_jira().get_issue(issue.key))
        attempt(lambda: make_workday().fetch_terminations())
        # The OAuth service app: its private key and the access tokens it gets.
        settings.OKTA_CLIENT_ID, settings.OKTA_PRIVATE_KEY = SERVICE_APP_CLIENT_ID, SERVICE_APP_PRIVATE_KEY_PEM
        service_app = make_okta()
        service_app.get_user(user["id"])
        secrets.append(service_app.transport.auth.access_token().reveal())
        texts.append(repr(service_app.transport.auth))
        attempt(lambda: service_app.get_user("00unosuchuser"))

        assert len(texts) >= 12
        assert "okta GET /okta/api/v1/users/" in caplog.text and " -> 200 in " in caplog.text
        for text in [caplog.text, *texts]:
            assert secrets_in(text, secrets) == []
