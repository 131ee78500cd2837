"""Admins' pages: rules with their preview, protected accounts, the safety settings; every change audited."""

import pytest
from django.urls import reverse
from django.utils import timezone

from offboarding.models import AuditEvent, AutoApproveRule, ProtectedAccount, SafetySettings
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
        admin_client.post(reverse("rule_edit", args=[rule.pk]), {**RULE, "max_groups": "10"})
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


class TestProtectedAccounts:
    def test_add_edit_and_remove_are_audited(self, admin_client):
        admin_client.post(reverse("protected_accounts"), {"kind": "login", "value": "ceo@acme.example", "note": "CEO"})
        account = ProtectedAccount.objects.get()
        assert last_event().action == "protected_account.created"
        admin_client.post(
            reverse("protected_account_edit", args=[account.pk]),
            {"kind": "login", "value": "ceo@acme.example", "note": "Chief executive"},
        )
        assert last_event().action == "protected_account.changed"
        assert last_event().after == {"note": "Chief executive"}
        admin_client.post(reverse("protected_account_remove", args=[account.pk]))
        assert not ProtectedAccount.objects.exists()
        assert last_event().action == "protected_account.removed"
        assert last_event().before["value"] == "ceo@acme.example"


class TestSafetySettings:
    def test_thresholds_are_saved_and_audited(self, admin_client):
        before = SafetySettings.load()
        admin_client.post(reverse("safety_settings"), {"breaker_count": "50", "breaker_share": "0.5"})
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
