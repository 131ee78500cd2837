"""The details an analyst reads: one time format with its zone, HTTP tries, request ids and earlier failures on the
steps, labels for stored values, empty states, every label and aria reference resolving, a visible focus ring."""

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from offboarding import decisions, revocation, sync
from offboarding.models import AuditCheck, Case, ReconciliationRun, Step
from tests.factories import make_case, make_past_case

SITE_CSS = Path(django_settings.BASE_DIR) / "static" / "css" / "site.css"
# A time as every page writes it: "2026-12-01 06:19 UTC" (seconds where the trail needs them).
ZONED = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2})? UTC"
RAW_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def text_of(html: str) -> str:
    """The page's visible words (attributes such as <time datetime> left out)."""
    return " ".join(re.sub(r"<[^>]+>", " ", re.sub(r"<script.*?</script>", "", html, flags=re.S)).split())


@pytest.fixture
def run_case(org, approver, leaver):
    """A leaver past their moment, approved and revoked against the sandbox (faults first, if given)."""

    def make(*faults: dict) -> Case:
        leaver(days_ahead=-1)
        sync.sync_workday()
        case = decisions.approve(Case.objects.get().pk, approver, "HR confirmed")
        for fault in faults:
            org.fault("okta", **fault)
        revocation.run_case(case.pk)
        return Case.objects.get(pk=case.pk)

    return make


class TestSteps:
    def test_attempts_count_the_http_tries_a_step_took(self, client, approver, run_case, settings):
        settings.CLIENT_MAX_ATTEMPTS = 4
        deactivate = "POST /api/v1/users/*/lifecycle/deactivate"
        case = run_case({"kind": "error", "endpoint": deactivate, "status": 503, "count": 3})
        step = case.steps.get(kind=Step.Kind.DEACTIVATE)
        assert step.status == Step.Status.DONE and step.attempts == 4
        assert case.steps.get(kind=Step.Kind.CLEAR_SESSIONS).attempts == 1
        client.force_login(approver)
        body = client.get(case.get_absolute_url()).content.decode()
        assert re.search(r"<td>Deactivate</td><td>[^<]*</td><td><span[^>]*>Done</span></td><td>4</td>", body)

    def test_each_okta_step_keeps_its_okta_request_id(self, org, client, approver, run_case):
        case = run_case()
        okta_steps = case.steps.exclude(kind=Step.Kind.FILE_TICKET).exclude(status=Step.Status.SKIPPED)
        ids = {step.kind: step.vendor_request_id for step in okta_steps}
        assert ids and all(ids.values()), ids
        client.force_login(approver)
        body = client.get(reverse("evidence", args=[case.pk])).content.decode()
        assert f"request {ids[Step.Kind.DEACTIVATE]}" in body

    def test_after_a_retry_the_first_failure_is_still_shown(self, org, client, approver, run_case):
        deactivate = "POST /api/v1/users/*/lifecycle/deactivate"
        case = run_case({"kind": "error", "endpoint": deactivate, "status": 500, "rate": 1})
        assert case.state == Case.State.FAILED
        org.clear_faults()
        decisions.retry_case(case.pk, approver)
        assert revocation.run_case(case.pk) == Case.State.COMPLETED
        step = Case.objects.get(pk=case.pk).steps.get(kind=Step.Kind.DEACTIVATE)
        assert step.status == Step.Status.DONE
        assert len(step.failures) == 1 and step.failures[0]["http_status"] == 500
        assert step.failures[0]["http_tries"] == 3 and step.failures[0]["vendor_request_id"]
        client.force_login(approver)
        evidence = client.get(reverse("evidence", args=[case.pk])).content.decode()
        assert re.search(rf"Failed {ZONED} after 3 HTTP tries: HTTP 500", evidence)
        assert "Earlier failure" in client.get(case.get_absolute_url()).content.decode()


class TestTimesShowTheirZone:
    def test_the_history_s_completed_column(self, client, auditor):
        make_past_case(finished_at=datetime(2026, 7, 16, 9, 30, tzinfo=UTC))
        client.force_login(auditor)
        assert "2026-07-16 09:30 UTC" in text_of(client.get(reverse("history")).content.decode())

    def test_the_sla_tables(self, client, auditor):
        effective = timezone.now() - timedelta(days=3)
        make_past_case(effective_at=effective, took=timedelta(hours=30), left=effective.date())
        client.force_login(auditor)
        page = text_of(client.get(reverse("sla")).content.decode())
        section = page[page.index("Revoked over target") : page.index("Past the target and still")]
        assert len(re.findall(ZONED, section)) == 2

    def test_the_evidence_steps_and_events(self, client, auditor, run_case):
        case = run_case()
        client.force_login(auditor)
        page = text_of(client.get(reverse("evidence", args=[case.pk])).content.decode())
        steps = page[page.index("Every step") : page.index("Verification (read back")]
        events = page[page.index("Audit events") :]
        assert len(re.findall(ZONED, steps)) >= 2 * case.steps.count() - 2
        assert len(re.findall(ZONED, events)) >= case.events.count()

    def test_the_integrity_checks(self, client, auditor):
        AuditCheck.begin(auditor).end(True, "intact")  # a finished check, as integrity.check_now leaves it
        client.force_login(auditor)
        page = text_of(client.get(reverse("integrity")).content.decode())
        assert len(re.findall(ZONED, page)) >= 2

    def test_the_plan_is_computed_at_a_zoned_time_not_a_raw_iso_one(self, client, approver, leaver):
        leaver()
        sync.sync_workday()
        case = Case.objects.get()
        assert RAW_ISO.match(case.plan["computed_at"])
        client.force_login(approver)
        page = text_of(client.get(case.get_absolute_url()).content.decode())
        assert re.search(rf"Computed {ZONED}\.", page)
        assert not RAW_ISO.search(page)


class TestLabels:
    def test_the_reconciliation_page_prints_a_state_s_label(self, client, auditor):
        case = make_case("Still Active", "E1")
        ReconciliationRun.objects.create(
            finished_at=timezone.now(),
            checked=1,
            findings=[
                {
                    "case": case.pk,
                    "employee_id": "E1",
                    "name": "Still Active",
                    "okta_user_id": "00u1",
                    "login": "e1@acme.example",
                    "status": "ACTIVE",
                    "case_state": "pending_review",
                }
            ],
        )
        client.force_login(auditor)
        body = client.get(reverse("reconciliation")).content.decode()
        assert "<td>Pending review</td>" in body and "pending_review" not in text_of(body)

    def test_history_says_who_rejected_not_who_approved(self, client, auditor, approver):
        make_past_case(name="Kept On", state=Case.State.REJECTED, decided_by=approver, took=None)
        client.force_login(auditor)
        page = text_of(client.get(reverse("history")).content.decode())
        assert "Decided by" in page and "rejected by alice" in page
        assert "Approved by" not in page


class TestEmptyStates:
    def test_a_history_search_with_no_result_says_0_cases(self, client, auditor):
        make_past_case(name="Ann Example")
        client.force_login(auditor)
        page = text_of(client.get(reverse("history"), {"person": "Nobody Such"}).content.decode())
        assert "0 cases match." in page and "No case matches these filters." in page

    def test_a_bad_history_filter_says_what_is_wrong(self, client, auditor):
        client.force_login(auditor)
        page = text_of(client.get(reverse("history"), {"left_from": "notadate"}).content.decode())
        assert "These filters are not valid" in page and "Left from: Enter a valid date." in page

    def test_an_empty_queue_says_so(self, client, approver):
        client.force_login(approver)
        assert "0 cases" in text_of(client.get(reverse("home")).content.decode())


class TheReferences(HTMLParser):
    """Every id a page defines, and every id its labels and aria attributes point at."""

    POINTING = ("for", "aria-describedby", "aria-labelledby", "aria-controls")

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.pointed: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name == "id" and value:
                self.ids.append(value)
            elif name in self.POINTING and value:
                self.pointed += [(name, target) for target in value.split()]


@pytest.fixture
def every_page(org, approver, auditor, admin_user, run_case, leaver):
    """(who, url) for every page, with cases of each kind to show."""
    revoked = run_case()
    leaver("E200", "Ivy", "Pending")
    leaver("E300", "No", "Account", in_okta=False)
    sync.sync_workday()
    pending = Case.objects.get(termination__employee_id="E200")
    unresolved = Case.objects.get(termination__employee_id="E300")
    failed = make_case("Broken Run", "E400", state="failed", failure_summary="The Okta user is NOT deactivated: x")
    make_past_case(name="Kept On", state=Case.State.REJECTED, decided_by=approver, took=None)
    ReconciliationRun.objects.create(finished_at=timezone.now())
    AuditCheck.begin(auditor).end(True, "intact")
    pages = [(approver, reverse("home")), (approver, reverse("home") + "?state=bogus&effective_from=x")]
    pages += [(approver, case.get_absolute_url()) for case in (revoked, pending, unresolved, failed)]
    pages += [
        (approver, reverse("case_identity", args=[unresolved.pk])),
        (approver, reverse("emergency")),
        (approver, reverse("emergency") + "?q=Ivy"),
        (approver, reverse("row_errors")),
        (auditor, reverse("home")),
        (auditor, reverse("history")),
        (auditor, reverse("history") + "?person=nobody"),
        (auditor, reverse("history") + "?left_from=bad&state=bogus"),
        (auditor, reverse("evidence", args=[revoked.pk])),
        (auditor, reverse("sla")),
        (auditor, reverse("sla") + "?since=bad"),
        (auditor, reverse("reconciliation")),
        (auditor, reverse("integrity")),
        (admin_user, reverse("rules")),
        (admin_user, reverse("rule_create")),
        (admin_user, reverse("protected_accounts")),
        (admin_user, reverse("safety_settings")),
    ]
    posts = [(approver, reverse(action, args=[pending.pk])) for action in ("case_approve", "case_revoke_now")]
    return pages, posts


class TestEveryReferenceResolves:
    def test_every_label_and_aria_reference_names_an_id_on_its_page(self, every_page):
        pages, posts = every_page
        checked = 0
        for who, url, method in [(w, u, "get") for w, u in pages] + [(w, u, "post") for w, u in posts]:
            client = Client()
            client.force_login(who)
            response = getattr(client, method)(url, {"reason": "x"} if method == "post" else None)
            assert response.status_code in (200, 400), (url, response.status_code)
            parser = TheReferences()
            parser.feed(response.content.decode())
            missing = [(attr, target) for attr, target in parser.pointed if target not in parser.ids]
            assert not missing, (url, missing)
            duplicated = {i for i in parser.ids if parser.ids.count(i) > 1}
            assert not duplicated, (url, duplicated)
            checked += len(parser.pointed)
        assert checked > 50


def contrast(foreground: str, background: str) -> float:
    """The WCAG contrast ratio of two #rrggbb colours."""

    def luminance(colour: str) -> float:
        channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    lighter, darker = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


class TestFocusRing:
    def test_the_focus_colour_reaches_3_to_1_on_white(self):
        css = SITE_CSS.read_text()
        focus = re.search(r"--focus: (#[0-9a-fA-F]{6})", css).group(1)
        assert contrast(focus, "#ffffff") >= 3
        assert contrast("#f0b429", "#ffffff") < 3  # the old gold ring, for the record
        assert "#f0b429" not in css
        assert re.search(r"a:focus-visible[^{]*\{[^}]*outline: 3px solid var\(--focus\)", css)
