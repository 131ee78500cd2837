"""Auto-approve rules: each condition fires and does not fire; never for doubt or protection; what the preview
lists is what a rule approves; a malformed rule matches nothing and is reported."""

import io
import re

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from offboarding import decisions, sync
from offboarding.models import AuditEvent, AutoApproveRule, Case, ProtectedAccount, SafetySettings
from tests.factories import make_case

MATCHING = {
    "Termination_Category": "Involuntary",
    "Worker_Type": "Contingent Worker",
    "Supervisory_Organization": "Sales",
    "Location": "Berlin",
}


def synced_case() -> Case:
    sync.sync_workday()
    return Case.objects.get()


class TestConditions:
    @pytest.mark.parametrize(
        ("condition", "fires"),
        [
            ({"categories": ["Involuntary"]}, True),
            ({"categories": ["Voluntary"]}, False),
            ({"worker_types": ["Contingent Worker"]}, True),
            ({"worker_types": ["Employee"]}, False),
            ({"departments_include": ["sales", "Marketing"]}, True),
            ({"departments_include": ["Engineering"]}, False),
            ({"departments_exclude": ["Engineering"]}, True),
            ({"departments_exclude": ["Sales"]}, False),
            ({"locations": ["Berlin"]}, True),
            ({"locations": ["Toronto"]}, False),
            ({"max_groups": 2}, True),
            ({"max_groups": 1}, False),
            ({"categories": ["Involuntary"], "locations": ["Toronto"]}, False),
        ],
    )
    def test_each_condition(self, leaver, condition, fires):
        AutoApproveRule.objects.create(name="rule", **condition)
        leaver(**MATCHING)
        case = synced_case()
        assert (case.decided_by_rule is not None) is fires
        assert case.state == (Case.State.SCHEDULED if fires else Case.State.PENDING_REVIEW)

    def test_a_disabled_rule_never_fires(self, leaver):
        AutoApproveRule.objects.create(name="off", enabled=False)
        leaver(**MATCHING)
        assert synced_case().decided_by_rule is None

    def test_the_case_records_the_rule_and_a_snapshot_of_its_conditions(self, leaver):
        rule = AutoApproveRule.objects.create(name="Contractors", worker_types=["Contingent Worker"])
        leaver(**MATCHING)
        case = synced_case()
        rule.worker_types = ["Employee"]
        rule.save()
        case.refresh_from_db()
        assert case.rule_snapshot["worker_types"] == ["Contingent Worker"]
        event = AuditEvent.objects.get(action="case.approved")
        assert event.actor_name == f"rule:{rule.pk}"
        assert event.after["rule"]["name"] == "Contractors"

    def test_an_immediate_rule_makes_the_case_due_now(self, leaver, django_capture_on_commit_callbacks):
        AutoApproveRule.objects.create(name="Now", timing=AutoApproveRule.Timing.IMMEDIATELY)
        leaver(days_ahead=5, **MATCHING)
        with django_capture_on_commit_callbacks() as callbacks:
            case = synced_case()
        assert case.state == Case.State.APPROVED
        assert case.immediate
        assert case.effective_at <= timezone.now()
        assert len(callbacks) == 1  # handed to the revocation worker at once

    def test_no_rule_fires_for_a_protected_account(self, org, leaver):
        AutoApproveRule.objects.create(name="Everyone")
        person = leaver(**MATCHING)
        ProtectedAccount.objects.create(kind=ProtectedAccount.Kind.GROUP, value=person["groups"][0])
        case = synced_case()
        assert case.decided_by_rule is None
        assert case.state == Case.State.NEEDS_ATTENTION
        assert "two distinct approvers" in case.attention_reason


def previewed(body: str) -> set[int]:
    """The cases a rule page's preview lists."""
    listed = body.split('<ul class="preview-cases">', 1)[1].split("</ul>", 1)[0]
    return {int(pk) for pk in re.findall(r'href="/cases/(\d+)/"', listed)}


def approved_by(rule: AutoApproveRule) -> set[int]:
    return set(Case.objects.filter(decided_by_rule=rule, state__in=Case.RUNNABLE_STATES).values_list("pk", flat=True))


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def waiting_cases(db):
    """Pending cases that differ on category, department and groups, and some no rule may approve."""
    return [
        make_case("Eng Voluntary", "E1"),
        make_case("Eng Voluntary Many Groups", "E2", groups=12),
        make_case("Sales Voluntary", "E3", department="Sales"),
        make_case("Eng Involuntary", "E4", category="Involuntary"),
        make_case("Fin Involuntary", "E5", department="Finance", category="Involuntary", groups=1),
        make_case("Eng Doubtful", "E6", identity=Case.Identity.NAME_MISMATCH),
        make_case("Eng Protected", "E7", protected_reason="protected account (Okta login: x)"),
        make_case("Eng Needs Attention", "E8", state=Case.State.NEEDS_ATTENTION),
    ]


RULE_FORM = {
    "name": "Rule",
    "enabled": "on",
    "categories": "",
    "worker_types": "",
    "departments_include": "",
    "departments_exclude": "",
    "locations": "",
    "max_groups": "",
    "timing": "at_effective_moment",
}
RULES = [
    {"categories": "Voluntary"},
    {"departments_include": "Engineering, Sales", "max_groups": "5"},
    {"departments_exclude": "Engineering"},
    {"categories": "Involuntary", "timing": "immediately"},
    {},
]


class TestThePreviewIsWhatHappens:
    @pytest.mark.parametrize("conditions", RULES, ids=lambda c: ",".join(c) or "everyone")
    def test_enabling_a_new_rule_approves_exactly_the_cases_its_preview_listed(
        self, admin_client, waiting_cases, conditions
    ):
        form = {**RULE_FORM, **conditions}
        listed = previewed(admin_client.post(reverse("rule_create"), {**form, "preview": "1"}).content.decode())
        assert listed, "the rule should match some of the waiting cases"
        saved = admin_client.post(reverse("rule_create"), form, follow=True)
        rule = AutoApproveRule.objects.get()
        # Saved disabled, whatever the form said, with the same preview on its page.
        assert not rule.enabled and approved_by(rule) == set()
        assert previewed(saved.content.decode()) == listed
        response = admin_client.post(reverse("rule_enable", args=[rule.pk]), {"enabled": "yes"}, follow=True)
        assert approved_by(rule) == listed
        assert f"{len(listed)} pending case" in response.content.decode()
        # Nothing the rule may not decide was touched.
        untouched = {c.pk: c.state for c in waiting_cases if c.pk not in listed}
        assert dict(Case.objects.filter(pk__in=untouched).values_list("pk", "state")) == untouched

    def test_enabling_a_disabled_rule_approves_what_its_preview_listed(self, admin_client, waiting_cases):
        admin_client.post(reverse("rule_create"), {**RULE_FORM, "enabled": "", "categories": "Voluntary"})
        rule = AutoApproveRule.objects.get()
        assert approved_by(rule) == set()
        listed = previewed(admin_client.get(reverse("rule_edit", args=[rule.pk])).content.decode())
        assert listed == {waiting_cases[0].pk, waiting_cases[1].pk, waiting_cases[2].pk}
        admin_client.post(reverse("rule_enable", args=[rule.pk]), {"enabled": "yes"})
        assert approved_by(rule) == listed
        assert AuditEvent.objects.filter(action="case.approved", actor_name=f"rule:{rule.pk}").count() == 3

    def test_a_sync_approves_a_case_opened_before_the_rule_and_run_due_revokes_it(self, org, leaver, admin_client):
        person = leaver(days_ahead=3)
        case = synced_case()
        assert case.state == Case.State.PENDING_REVIEW
        # A rule made outside the pages (the shell, a fixture): the next sync offers it every waiting case.
        rule = AutoApproveRule.objects.create(name="Now", timing=AutoApproveRule.Timing.IMMEDIATELY)
        assert previewed(admin_client.get(reverse("rule_edit", args=[rule.pk])).content.decode()) == {case.pk}
        sync.sync_workday()
        call_command("run_due", stdout=io.StringIO())
        case.refresh_from_db()
        assert case.decided_by_rule == rule
        assert case.state == Case.State.COMPLETED
        assert org.okta_user(person["user_id"])["status"] == "DEPROVISIONED"

    def test_cases_that_waited_while_the_breaker_was_tripped_are_approved_at_the_first_sync_after_a_reset(
        self, leaver, admin_user
    ):
        SafetySettings.objects.update_or_create(pk=1, defaults={"breaker_count": 1})
        AutoApproveRule.objects.create(name="Everyone")
        leaver("E100", "Ann", "One")
        leaver("E101", "Ben", "Two")
        sync.sync_workday()
        assert not Case.objects.filter(decided_by_rule__isnull=False).exists()
        decisions.reset_breaker(admin_user)
        sync.sync_workday()
        assert Case.objects.filter(decided_by_rule__isnull=False).count() == 2


MALFORMED = {
    "a number for a list": ("categories", "5"),
    "a string for a list": ("departments_exclude", '"Sales"'),
    "null for a list": ("locations", "null"),
    "a number in a list": ("worker_types", '["Contingent Worker", 5]'),
    "an empty word": ("categories", '[""]'),
    "an unknown timing": ("timing", "soon"),
}


def spoil(rule: AutoApproveRule, column: str, value: str) -> None:
    """Change the rule's row behind the ORM's back, as a database console would."""
    table = connection.ops.quote_name(AutoApproveRule._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {connection.ops.quote_name(column)} = %s WHERE id = %s", [value, rule.pk])


class TestMalformedRules:
    @pytest.mark.parametrize(("column", "value"), MALFORMED.values(), ids=MALFORMED.keys())
    def test_a_rule_spoiled_in_the_database_matches_nothing_and_is_alerted_once(
        self, leaver, mailoutbox, settings, column, value
    ):
        settings.ALERT_EMAILS = ["security@example.com"]
        spoilt = AutoApproveRule.objects.create(name="Spoilt")
        spoil(spoilt, column, value)
        leaver("E100", "Ann", "One", **MATCHING)
        leaver("E101", "Ben", "Two", **MATCHING)
        sync.sync_workday()
        leaver("E102", "Cat", "Three", **MATCHING)
        sync.sync_workday()
        assert set(Case.objects.values_list("state", flat=True)) == {Case.State.PENDING_REVIEW}
        # Once for the rule: not for each of the three cases, nor at each of the two syncs.
        alerts = [m for m in mailoutbox if "cannot be evaluated" in m.subject]
        assert len(alerts) == 1 and "Spoilt" in alerts[0].body and column in alerts[0].body
        assert AuditEvent.objects.get(action="rule.unusable").after["rule"] == spoilt.pk
        # A sound rule beside it still fires.
        AutoApproveRule.objects.create(name="Sales", departments_include=["Sales"])
        leaver("E103", "Dan", "Four", **MATCHING)
        sync.sync_workday()
        assert Case.objects.get(termination__employee_id="E103").decided_by_rule.name == "Sales"
        assert len([m for m in mailoutbox if "cannot be evaluated" in m.subject]) == 1

    def test_its_pages_say_what_is_wrong_and_it_can_be_disabled_but_not_enabled(self, admin_client, waiting_cases):
        rule = AutoApproveRule.objects.create(name="Spoilt")
        spoil(rule, "categories", "5")
        listing = admin_client.get(reverse("rules"))
        assert listing.status_code == 200 and "Cannot be evaluated" in listing.content.decode()
        page = admin_client.get(reverse("rule_edit", args=[rule.pk])).content.decode()
        assert "cannot be evaluated" in page and "categories" in page
        assert previewed(page) == set()
        admin_client.post(reverse("rule_enable", args=[rule.pk]), {"enabled": "no"})
        assert AuditEvent.objects.get(action="rule.disabled").before == {"enabled": True}
        response = admin_client.post(reverse("rule_enable", args=[rule.pk]), {"enabled": "yes"}, follow=True)
        assert "cannot be enabled until it is fixed" in response.content.decode()
        rule.refresh_from_db()
        assert not rule.enabled and not AuditEvent.objects.filter(action="rule.enabled").exists()
        # Saved again through its page, it is sound.
        admin_client.post(reverse("rule_edit", args=[rule.pk]), {**RULE_FORM, "categories": "Voluntary"})
        rule.refresh_from_db()
        assert rule.categories == ["Voluntary"] and rule.enabled

    @pytest.mark.parametrize(
        "fields",
        [
            {"categories": 5},
            {"worker_types": "Employee"},
            {"locations": None},
            {"departments_include": ["Sales", 5]},
            {"departments_exclude": ["  "]},
            {"max_groups": -1},
            {"timing": "soon"},
        ],
        ids=str,
    )
    def test_a_malformed_rule_cannot_be_stored_whoever_saves_it(self, db, fields):
        with pytest.raises(ValidationError):
            AutoApproveRule.objects.create(name="Bad", **fields)
        assert not AutoApproveRule.objects.exists()
