"""Admins' pages and the Django admin: rules with their preview, protected accounts, the safety settings;
every change validated the same way and audited."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from offboarding import decisions, forms, sync
from offboarding.breaker import trip_breaker
from offboarding.models import AuditEvent, AutoApproveRule, Case, ProtectedAccount, SafetySettings
from tests.factories import make_case

RULE = {
    "name": "Voluntary engineers",
    "enabled": "on",
    "categories": "Voluntary",
    "worker_types": "",
    "departments_include": "Engineering",
    "departments_exclude": "",
    "locations": "",
    "max_groups": "",
    "timing": "at_effective_moment",
}


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def last_event() -> AuditEvent:
    return AuditEvent.objects.order_by("-seq").first()


class TestRules:
    def test_an_admin_creates_a_rule_and_it_is_audited(self, admin_client, admin_user):
        response = admin_client.post(reverse("rule_create"), RULE)
        rule = AutoApproveRule.objects.get()
        assert response["Location"] == reverse("rule_edit", args=[rule.pk])
        assert rule.categories == ["Voluntary"] and rule.departments_include == ["Engineering"]
        event = last_event()
        assert event.action == "rule.created" and event.actor == admin_user
        assert event.after["categories"] == ["Voluntary"]

    def test_editing_records_what_changed(self, admin_client):
        admin_client.post(reverse("rule_create"), RULE)
        rule = AutoApproveRule.objects.get()
        admin_client.post(reverse("rule_edit", args=[rule.pk]), {**RULE, "enabled": "", "max_groups": "10"})
        rule.refresh_from_db()
        assert rule.max_groups == 10
        event = last_event()
        assert event.action == "rule.changed"
        assert event.before == {"max_groups": None} and event.after == {"max_groups": 10}

    def test_disabling_is_audited(self, admin_client):
        rule = AutoApproveRule.objects.create(name="All")
        admin_client.post(reverse("rule_enable", args=[rule.pk]), {"enabled": "no"})
        rule.refresh_from_db()
        assert not rule.enabled
        assert last_event().action == "rule.disabled"

    def test_the_preview_lists_the_pending_cases_it_would_approve_without_saving(self, admin_client):
        make_case("Eng Voluntary", "E1")
        make_case("Fin Voluntary", "E2", department="Finance")
        make_case("Eng Doubtful", "E3", identity="name_mismatch")
        make_case("Eng Protected", "E4", protected_reason="protected account (Okta login: x)")
        make_case("Eng Scheduled", "E5", state="scheduled")
        body = admin_client.post(reverse("rule_create"), {**RULE, "preview": "1"}).content.decode()
        assert "It would approve 1 of the current pending case" in body
        assert "Eng Voluntary" in body
        for other in ["Fin Voluntary", "Eng Doubtful", "Eng Protected", "Eng Scheduled"]:
            assert other not in body
        assert not AutoApproveRule.objects.exists()

    def test_a_saved_rule_shows_its_preview_and_says_when_it_is_disabled(self, admin_client):
        make_case("Eng Voluntary", "E1")
        rule = AutoApproveRule.objects.create(name="Off", enabled=False, departments_include=["engineering"])
        body = admin_client.get(reverse("rule_edit", args=[rule.pk])).content.decode()
        assert "This rule is disabled" in body and "Eng Voluntary" in body

    def test_a_tripped_breaker_means_the_preview_approves_nothing(self, admin_client):
        make_case("Eng Voluntary", "E1")
        SafetySettings.objects.update_or_create(pk=1, defaults={"breaker_tripped_at": timezone.now()})
        body = admin_client.post(reverse("rule_create"), {**RULE, "preview": "1"}).content.decode()
        assert "It would approve 0" in body


@pytest.fixture
def ceo(org) -> dict:
    """An Okta user to protect, in the sandbox."""
    return org.add_okta_user(None, "Casey", "Chief", login="ceo@acme.example")


class TestProtectedAccounts:
    def test_add_edit_and_remove_are_audited(self, admin_client, ceo):
        admin_client.post(reverse("protected_accounts"), {"kind": "login", "value": "ceo@acme.example", "note": "CEO"})
        account = ProtectedAccount.objects.get()
        assert last_event().action == "protected_account.created"
        admin_client.post(
            reverse("protected_account_edit", args=[account.pk]),
            {"kind": "login", "value": "ceo@acme.example", "note": "Chief executive"},
        )
        assert last_event().action == "protected_account.changed"
        assert last_event().after == {"note": "Chief executive"}
        admin_client.post(reverse("protected_account_remove", args=[account.pk]), {"reason": "Left the board"})
        assert not ProtectedAccount.objects.exists()
        assert last_event().action == "protected_account.removed"
        assert last_event().before["value"] == "ceo@acme.example"


class TestSafetySettings:
    def test_thresholds_are_saved_and_audited(self, admin_client):
        before = SafetySettings.load()
        admin_client.post(
            reverse("safety_settings"), {"breaker_count": "50", "breaker_share": "0.5", "breaker_window_minutes": "60"}
        )
        assert SafetySettings.load().breaker_count == 50
        assert last_event().action == "safety.changed"
        assert last_event().before == {"breaker_count": before.breaker_count, "breaker_share": before.breaker_share}
        assert last_event().after == {"breaker_count": 50, "breaker_share": 0.5}

    def test_a_share_outside_zero_to_one_is_refused(self, admin_client):
        share = SafetySettings.load().breaker_share
        body = admin_client.post(reverse("safety_settings"), {"breaker_count": "50", "breaker_share": "5"})
        assert "between 0 and 1" in body.content.decode()
        assert SafetySettings.load().breaker_share == share

    def test_the_tripped_breaker_is_shown_and_reset(self, admin_client, admin_user):
        SafetySettings.objects.update_or_create(
            pk=1, defaults={"breaker_tripped_at": timezone.now(), "breaker_reason": "40 new terminations"}
        )
        body = admin_client.get(reverse("safety_settings")).content.decode()
        assert "40 new terminations" in body and "Reset the breaker" in body
        admin_client.post(reverse("breaker_reset"))
        assert not SafetySettings.load().breaker_tripped
        assert last_event().action == "safety.breaker_reset" and last_event().actor == admin_user


def settings_of(safety: SafetySettings) -> dict:
    return {name: getattr(safety, name) for name in SafetySettings.SETTINGS}


def admin_url(model: str, *path) -> str:
    return "/".join(["/admin/offboarding", model, *map(str, path)]) + "/"


ADMIN_RULE = {**RULE, "_save": "Save"}
SAFETY = {
    "breaker_count": "25",
    "breaker_share": "0.05",
    "breaker_window_minutes": "60",
    "effective_mode": "end_of_termination_date",
    "sla_target_hours": "4",
    "empty_report_suspect_from": "20",
}


class TestDjangoAdminSite:
    """The Django admin changes rules, protected accounts and safety settings as the pages do: validated, audited."""

    def test_a_rule_added_changed_and_deleted_there_is_audited(self, admin_client, admin_user):
        response = admin_client.post(admin_url("autoapproverule", "add"), ADMIN_RULE)
        assert response.status_code == 302
        rule = AutoApproveRule.objects.get()
        created = last_event()
        assert created.action == "rule.created" and created.actor == admin_user
        assert created.after["categories"] == ["Voluntary"]
        admin_client.post(
            admin_url("autoapproverule", rule.pk, "change"), {**ADMIN_RULE, "enabled": "", "max_groups": "3"}
        )
        changed = last_event()
        assert changed.action == "rule.changed"
        assert changed.before == {"max_groups": None} and changed.after == {"max_groups": 3}
        admin_client.post(admin_url("autoapproverule", rule.pk, "delete"), {"post": "yes"})
        assert not AutoApproveRule.objects.exists()
        deleted = last_event()
        assert deleted.action == "rule.deleted" and deleted.actor == admin_user
        assert deleted.before["name"] == "Voluntary engineers" and deleted.before["categories"] == ["Voluntary"]

    def test_rules_deleted_together_there_are_each_audited(self, admin_client):
        rules = [AutoApproveRule.objects.create(name=f"Rule {n}") for n in range(2)]
        admin_client.post(
            admin_url("autoapproverule"),
            {"action": "delete_selected", "_selected_action": [r.pk for r in rules], "post": "yes"},
        )
        assert not AutoApproveRule.objects.exists()
        deleted = AuditEvent.objects.filter(action="rule.deleted")
        assert sorted(e.before["name"] for e in deleted) == ["Rule 0", "Rule 1"]

    def test_a_rule_typed_there_is_read_as_the_rule_page_reads_it(self, admin_client, leaver):
        # The admin's own JSON box took `5` for a list, and every later sync crashed on it.
        admin_client.post(admin_url("autoapproverule", "add"), {**ADMIN_RULE, "categories": "5"})
        assert AutoApproveRule.objects.get().categories == ["5"]
        leaver()
        sync.sync_workday()
        assert Case.objects.get().state == Case.State.PENDING_REVIEW

    def test_a_rule_added_there_starts_disabled_and_once_enabled_is_offered_every_waiting_case(self, admin_client):
        case = make_case("Eng Voluntary", "E1")
        admin_client.post(admin_url("autoapproverule", "add"), ADMIN_RULE)
        rule = AutoApproveRule.objects.get()
        case.refresh_from_db()
        assert not rule.enabled and case.decided_by_rule is None
        admin_client.post(admin_url("autoapproverule", rule.pk, "change"), ADMIN_RULE)
        case.refresh_from_db()
        assert case.decided_by_rule == rule

    def test_a_protected_account_added_and_changed_there_is_looked_up_and_audited(self, admin_client, admin_user, ceo):
        account = {"kind": "login", "value": "CEO@acme.example", "note": "CEO", "_save": "Save"}
        admin_client.post(admin_url("protectedaccount", "add"), account)
        saved = ProtectedAccount.objects.get()
        assert (saved.value, saved.okta_id) == ("ceo@acme.example", ceo["id"])
        assert last_event().action == "protected_account.created" and last_event().actor == admin_user
        assert last_event().after["okta_id"] == ceo["id"]
        admin_client.post(admin_url("protectedaccount", saved.pk, "change"), {**account, "note": "Chief executive"})
        assert last_event().action == "protected_account.changed"
        assert last_event().before == {"note": "CEO"} and last_event().after == {"note": "Chief executive"}

    def test_a_protected_account_is_removed_there_only_through_the_page_that_asks_why(self, admin_client):
        accounts = [ProtectedAccount.objects.create(kind="login", value=f"vip{n}@acme.example") for n in range(2)]
        bulk = admin_client.post(
            admin_url("protectedaccount"),
            {"action": "delete_selected", "_selected_action": [a.pk for a in accounts], "post": "yes"},
        )
        one = admin_client.post(admin_url("protectedaccount", accounts[0].pk, "delete"), {"post": "yes"})
        assert ProtectedAccount.objects.count() == 2
        assert not AuditEvent.objects.filter(action="protected_account.removed").exists()
        assert bulk.status_code == 200  # the admin answers "No action selected": delete_selected is not offered
        assert one["Location"] == reverse("protected_account_remove", args=[accounts[0].pk])

    def test_safety_settings_changed_there_are_audited_and_cannot_be_added_or_deleted(self, admin_client, admin_user):
        pk = SafetySettings.load().pk
        response = admin_client.post(admin_url("safetysettings", pk, "change"), {**SAFETY, "breaker_count": "40"})
        assert response.status_code == 302
        assert SafetySettings.load().breaker_count == 40
        assert last_event().action == "safety.changed" and last_event().actor == admin_user
        assert last_event().before == {"breaker_count": 25} and last_event().after == {"breaker_count": 40}
        assert admin_client.get(admin_url("safetysettings", "add")).status_code == 403
        assert admin_client.post(admin_url("safetysettings", pk, "delete"), {"post": "yes"}).status_code == 403
        assert SafetySettings.objects.filter(pk=pk).exists()

    @pytest.mark.parametrize(
        "bad",
        [
            {"breaker_share": "50"},
            {"breaker_share": "0"},
            {"breaker_count": "1000000"},
            {"breaker_count": "0"},
            {"empty_report_suspect_from": "0"},
            {"sla_target_hours": "0"},
            {"sla_target_hours": "10000"},
        ],
        ids=str,
    )
    def test_out_of_bounds_safety_settings_are_refused_there_as_on_the_page(self, admin_client, bad):
        before = SafetySettings.load()
        response = admin_client.post(admin_url("safetysettings", before.pk, "change"), {**SAFETY, **bad})
        assert response.status_code == 200 and b"errornote" in response.content
        after = SafetySettings.load()
        assert [getattr(after, f) for f in SafetySettings.SETTINGS] == [
            getattr(before, f) for f in SafetySettings.SETTINGS
        ]
        assert not AuditEvent.objects.filter(action="safety.changed").exists()

    def test_the_breaker_state_and_report_counts_are_read_only_there(self, admin_client):
        safety = SafetySettings.load()
        SafetySettings.objects.filter(pk=safety.pk).update(breaker_tripped_at=timezone.now(), last_report_rows=30)
        admin_client.post(
            admin_url("safetysettings", safety.pk, "change"),
            {**SAFETY, "breaker_tripped_at_0": "", "breaker_tripped_at_1": "", "last_report_rows": "0"},
        )
        safety.refresh_from_db()
        assert safety.breaker_tripped and safety.last_report_rows == 30


class TestEverySafetySettingOnThePage:
    PARTS = {
        "timing": {"effective_mode": "start_of_termination_date", "involuntary_immediately": "on"},
        "reports": {"sla_target_hours": "2.5", "empty_report_suspect_from": "5"},
    }
    SAVED = {
        "effective_mode": "start_of_termination_date",
        "involuntary_immediately": True,
        "sla_target_hours": 2.5,
        "empty_report_suspect_from": 5,
    }

    def test_the_page_shows_every_setting(self, admin_client):
        body = admin_client.get(reverse("safety_settings")).content.decode()
        for name in SafetySettings.SETTINGS:
            assert f'name="{name}"' in body, name

    @pytest.mark.parametrize("part", PARTS)
    def test_each_part_is_saved_and_audited_with_before_and_after(self, admin_client, admin_user, part):
        before = settings_of(SafetySettings.load())
        response = admin_client.post(reverse("safety_settings"), {"part": part, **self.PARTS[part]}, follow=True)
        assert "Safety settings saved." in response.content.decode()
        saved = settings_of(SafetySettings.load())
        assert {name: saved[name] for name in self.PARTS[part]} == {name: self.SAVED[name] for name in self.PARTS[part]}
        event = last_event()
        assert event.action == "safety.changed" and event.actor == admin_user
        assert event.before == {name: before[name] for name in self.PARTS[part]}
        assert event.after == {name: self.SAVED[name] for name in self.PARTS[part]}
        # The other parts are left as they were.
        assert {k: v for k, v in saved.items() if k not in self.PARTS[part]} == {
            k: v for k, v in before.items() if k not in self.PARTS[part]
        }

    @pytest.mark.parametrize(
        ("part", "data", "message"),
        [
            ("thresholds", {"breaker_count": "0", "breaker_share": "0.05"}, "from 1 to 10,000"),
            ("thresholds", {"breaker_count": "1000000", "breaker_share": "0.05"}, "from 1 to 10,000"),
            ("timing", {"effective_mode": "whenever"}, "Select a valid choice"),
            ("reports", {"sla_target_hours": "0", "empty_report_suspect_from": "20"}, "at most 168 hours"),
            ("reports", {"sla_target_hours": "169", "empty_report_suspect_from": "20"}, "at most 168 hours"),
            ("reports", {"sla_target_hours": "nan", "empty_report_suspect_from": "20"}, "Enter a number"),
            ("reports", {"sla_target_hours": "4", "empty_report_suspect_from": "0"}, "from 1 to 10,000"),
        ],
        ids=lambda v: v if isinstance(v, str) else ",".join(f"{k}={x}" for k, x in v.items()),
    )
    def test_a_setting_out_of_bounds_is_refused_and_nothing_changes(self, admin_client, part, data, message):
        before = settings_of(SafetySettings.load())
        response = admin_client.post(reverse("safety_settings"), {"part": part, **data})
        assert response.status_code == 200 and message in response.content.decode()
        assert settings_of(SafetySettings.load()) == before
        assert not AuditEvent.objects.filter(action="safety.changed").exists()

    def test_an_unknown_part_is_refused(self, admin_client):
        before = settings_of(SafetySettings.load())
        response = admin_client.post(
            reverse("safety_settings"), {"part": "breaker_tripped_at", "breaker_count": "3"}, follow=True
        )
        assert "not a part of the safety settings" in response.content.decode()
        assert settings_of(SafetySettings.load()) == before

    def test_saving_keeps_a_breaker_trip_that_came_while_the_form_was_filled_in(self, admin_user):
        thresholds = forms.SAFETY_PARTS["thresholds"]
        form = thresholds(
            {"breaker_count": "30", "breaker_share": "0.05", "breaker_window_minutes": "60"},
            instance=SafetySettings.load(),
        )
        assert form.is_valid()
        trip_breaker("40 new terminations in one sync")
        decisions.save_safety(form, admin_user)
        safety = SafetySettings.load()
        assert safety.breaker_count == 30 and safety.breaker_tripped


START = SafetySettings.EffectiveMode.START_OF_TERMINATION_DATE


def at_its_moment(case: Case, mode: str = SafetySettings.EffectiveMode.END_OF_TERMINATION_DATE, **fields) -> Case:
    """The case as the sync would have scheduled it under `mode`."""
    Case.objects.filter(pk=case.pk).update(effective_at=case.termination.effective_moment(mode), **fields)
    case.refresh_from_db()
    return case


class TestChangingWhenAccessGoes:
    def test_a_new_mode_reschedules_every_open_case_not_yet_started_and_says_so(self, admin_client, admin_user):
        moving = [
            at_its_moment(make_case("Pending", "E1")),
            at_its_moment(make_case("Scheduled", "E2", state=Case.State.SCHEDULED)),
            at_its_moment(make_case("Attention", "E3", state=Case.State.NEEDS_ATTENTION)),
        ]
        staying = [
            at_its_moment(make_case("Started", "E4", state=Case.State.NEEDS_ATTENTION), started_at=timezone.now()),
            at_its_moment(make_case("Completed", "E5", state=Case.State.COMPLETED)),
            at_its_moment(make_case("Rejected", "E6", state=Case.State.REJECTED)),
        ]
        page = admin_client.get(reverse("safety_settings")).content.decode()
        assert "moves every open case not yet started (3 now)" in page
        response = admin_client.post(
            reverse("safety_settings"), {"part": "timing", "effective_mode": START}, follow=True
        )
        assert "3 open cases rescheduled" in response.content.decode()
        for case in moving:
            old = case.effective_at
            case.refresh_from_db()
            assert case.effective_at == case.termination.effective_moment(START) == old - timedelta(days=1)
            event = case.events.get(action="case.rescheduled")
            assert event.actor == admin_user
            assert event.before["effective_at"] == old.isoformat().replace("+00:00", "Z")
        for case in staying:
            old = case.effective_at
            case.refresh_from_db()
            assert case.effective_at == old and not case.events.filter(action="case.rescheduled").exists()

    def test_involuntary_immediately_makes_open_involuntary_cases_due_now(self, admin_client):
        involuntary = at_its_moment(make_case("Fired", "E1", category="Involuntary", state=Case.State.SCHEDULED))
        voluntary = at_its_moment(make_case("Resigned", "E2", state=Case.State.SCHEDULED))
        assert not Case.objects.due().exists()
        admin_client.post(
            reverse("safety_settings"),
            {"part": "timing", "effective_mode": "end_of_termination_date", "involuntary_immediately": "on"},
        )
        assert list(Case.objects.due()) == [involuntary]
        involuntary.refresh_from_db()
        assert involuntary.immediate and involuntary.events.filter(action="case.rescheduled").exists()
        assert not voluntary.events.exists()

    def test_turning_it_off_puts_back_no_moment_already_due(self, admin_client):
        SafetySettings.objects.update_or_create(pk=1, defaults={"involuntary_immediately": True})
        due = make_case("Fired", "E1", category="Involuntary", immediate=True, days_ahead=3)
        Case.objects.filter(pk=due.pk).update(effective_at=timezone.now() - timedelta(minutes=1))
        admin_client.post(reverse("safety_settings"), {"part": "timing", "effective_mode": "end_of_termination_date"})
        assert not SafetySettings.load().involuntary_immediately
        due.refresh_from_db()
        assert due.immediate and due.effective_at < timezone.now()
        assert not due.events.filter(action="case.rescheduled").exists()

    def test_a_change_made_in_the_django_admin_reschedules_too(self, admin_client):
        case = at_its_moment(make_case("Pending", "E1"))
        pk = SafetySettings.load().pk
        admin_client.post(admin_url("safetysettings", pk, "change"), {**SAFETY, "effective_mode": START})
        assert case.events.filter(action="case.rescheduled").exists()
