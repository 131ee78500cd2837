"""Workday's push: a signed notification syncs that worker at once; anything else is refused and audited."""

import json
import time

import pytest
from django.core.cache import cache
from django.test import Client

from offboarding.models import AuditEvent, AutoApproveRule, Case, SafetySettings
from tests.factories import PUSH_SECRET, signed, workday_event
from tests.processes import wait_for

URL = "/api/workday/events"


@pytest.fixture
def push(org, settings):
    settings.WORKDAY_PUSH_SECRET = PUSH_SECRET
    client = Client(enforce_csrf_checks=True)

    def send(body: bytes, headers: dict | None = None):
        return client.post(
            URL, data=body, content_type="application/json", **(headers if headers is not None else signed(body))
        )

    return send


def workday_calls(sandbox) -> list:
    return sandbox.requests("workday")


class TestAcceptedPush:
    def test_it_syncs_just_that_worker_at_once(self, org, leaver, push):
        leaver("E100")
        leaver("E200", "Ada", "Lovelace")
        org.clear_requests()
        response = push(workday_event("E100"))
        assert response.status_code == 200
        case = Case.objects.get()
        assert case.termination.employee_id == "E100"
        assert response.json()["created"] == [case.pk]
        (call,) = workday_calls(org)
        assert "Employee_ID=E100" in call["query"]
        assert AuditEvent.objects.filter(action="push.received").count() == 1

    def test_an_immediate_termination_with_a_rule_is_enqueued_at_once(
        self, leaver, push, django_capture_on_commit_callbacks
    ):
        SafetySettings.objects.update_or_create(pk=1, defaults={"involuntary_immediately": True})
        AutoApproveRule.objects.create(name="Involuntary now", categories=["Involuntary"])
        leaver("E100", days_ahead=0, Termination_Category="Involuntary")
        with django_capture_on_commit_callbacks() as callbacks:
            assert push(workday_event("E100")).status_code == 200
        case = Case.objects.get()
        assert case.state == Case.State.APPROVED
        assert len(callbacks) == 1  # the revocation is handed to the worker as the approval commits

    def test_a_correction_pushed_updates_the_case(self, org, leaver, push):
        leaver("E100", days_ahead=10)
        push(workday_event("E100"))
        org.correct_termination("E100", Termination_Category="Involuntary")
        assert push(workday_event("E100", "termination.corrected")).json()["updated"] == [Case.objects.get().pk]


class TestRefusedPush:
    @pytest.mark.parametrize(
        ("headers", "reason"),
        [
            # Built when the test runs: a signature made at collection time goes stale in a long suite.
            (lambda: {}, "missing or malformed signature header"),
            (lambda: {"HTTP_X_WORKDAY_SIGNATURE": "t=abc,v1=00"}, "missing or malformed signature header"),
            (lambda: signed(workday_event(), secret="wrong-secret"), "bad signature"),
            (lambda: signed(workday_event(), at=time.time() - 3600), "stale timestamp"),
            (lambda: signed(workday_event(), at=time.time() + 3600), "stale timestamp"),
            (lambda: signed(workday_event("E999")), "bad signature"),  # signed for another body
        ],
    )
    def test_it_refuses_and_audits_and_syncs_nothing(self, org, leaver, push, headers, reason):
        leaver("E100")
        org.clear_requests()
        response = push(workday_event(), headers())
        assert response.status_code == 401
        assert response.json() == {"error": reason}
        assert workday_calls(org) == []
        assert not Case.objects.exists()
        assert AuditEvent.objects.get(action="push.refused").after["reason"] == reason

    def test_a_replayed_notification_is_refused(self, org, leaver, push):
        leaver("E100")
        body = workday_event()
        headers = signed(body)
        assert push(body, headers).status_code == 200
        org.clear_requests()
        response = push(body, headers)
        assert response.status_code == 401
        assert response.json() == {"error": "replayed notification"}
        assert workday_calls(org) == []

    def test_an_oversized_body_is_refused(self, org, push):
        body = json.dumps({"employee_id": "E100", "padding": "x" * 20_000}).encode()
        response = push(body)
        assert response.status_code == 413
        assert workday_calls(org) == []
        assert AuditEvent.objects.get(action="push.refused").after["reason"] == "body too large"

    def test_without_a_configured_secret_everything_is_refused(self, org, push, settings):
        settings.WORKDAY_PUSH_SECRET = ""
        assert push(workday_event(), signed(workday_event(), secret="")).status_code == 401

    def test_only_post_is_allowed(self, client, org):
        assert client.get(URL).status_code == 405


def push_from(address: str, body: bytes, headers: dict):
    return Client(REMOTE_ADDR=address).post(URL, data=body, content_type="application/json", **headers)


def refused_events() -> list[dict]:
    return [e.after for e in AuditEvent.objects.filter(action="push.refused").order_by("seq")]


class TestRefusedPushesCannotGrowTheLog:
    def test_a_flood_from_one_address_is_one_event_and_then_429_while_workday_still_gets_through(
        self, org, leaver, settings
    ):
        settings.WORKDAY_PUSH_SECRET = PUSH_SECRET
        leaver("E100")
        forged = signed(workday_event(), secret="wrong-secret")
        statuses = [push_from("203.0.113.9", workday_event(), forged).status_code for _ in range(30)]
        assert statuses == [401] * 20 + [429] * 10
        limited = push_from("203.0.113.9", workday_event(), forged)
        assert limited.status_code == 429 and limited["Retry-After"] == "300"
        assert refused_events() == [
            {"reason": "bad signature", "remote_addr": "203.0.113.9", "count": 1, "interval_seconds": 300}
        ]
        # Workday behind the same address (a proxy) is not locked out: its signature proves it.
        assert push_from("203.0.113.9", workday_event("E100"), signed(workday_event("E100"))).status_code == 200
        assert Case.objects.get().termination.employee_id == "E100"
        # Another address is its own source.
        assert push_from("198.51.100.4", workday_event(), forged).status_code == 401
        assert [e["remote_addr"] for e in refused_events()] == ["203.0.113.9", "198.51.100.4"]

    def test_each_interval_has_one_event_per_reason_counting_the_refusals_since_the_last(self, org, settings):
        settings.WORKDAY_PUSH_SECRET = PUSH_SECRET
        settings.WORKDAY_PUSH_REFUSALS_INTERVAL_SECONDS = 1
        for _ in range(5):
            push_from("203.0.113.9", workday_event(), signed(workday_event(), secret="wrong-secret"))
        push_from("203.0.113.9", workday_event(), {})
        # The interval ends: its marker expires from the cache (as it would after the interval's seconds).
        cache.delete("push-refused:203.0.113.9:bad-signature:interval")
        push_from("203.0.113.9", workday_event(), signed(workday_event(), secret="wrong-secret"))
        assert [(e["reason"], e["count"]) for e in refused_events()] == [
            ("bad signature", 1),
            ("missing or malformed signature header", 1),
            ("bad signature", 5),  # the four not recorded one by one, and this one
        ]


@pytest.mark.django_db(transaction=True)
class TestSandboxSendsNotifications:
    @pytest.fixture
    def sandbox_options(self, live_server):
        """Workday sends its signed notifications to the live server."""
        return {"push_url": f"{live_server.url}{URL}", "push_secret": PUSH_SECRET}

    def test_a_termination_entered_in_workday_arrives_by_itself(self, sandbox, live_server, settings, leaver):
        settings.WORKDAY_PUSH_SECRET = PUSH_SECRET
        leaver("E100")
        # Until the product has answered it: the request's sync goes on after the case is opened.
        wait_for(sandbox.notifications_sent, 30, "the product to answer the notification", every=0.02)
        assert [n["status"] for n in sandbox.notifications_sent()] == [200]
        assert Case.objects.get().termination.employee_id == "E100"
