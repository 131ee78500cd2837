"""Admins' inputs checked against reality: protected accounts looked up in Okta, rule conditions against what
Workday has sent, new rules disabled until previewed, a protection removed only with a reason, bounded settings."""

import pytest
from django.urls import reverse

from offboarding import sync
from offboarding.models import AuditEvent, AutoApproveRule, Case, ProtectedAccount, SafetySettings, Termination
from tests.factories import make_case


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def super_admins(org) -> dict:
    """The sandbox org's own Okta Super Admins group."""
    return next(g for g in org.okta_groups() if g["profile"]["name"] == "Okta Super Admins")


def last_event() -> AuditEvent:
    return AuditEvent.objects.order_by("-seq").first()


def protect(client, kind: str, value: str, note: str = ""):
    return client.post(reverse("protected_accounts"), {"kind": kind, "value": value, "note": note})


class TestAProtectedAccountIsLookedUpInOkta:
    def test_a_misspelt_group_is_refused_and_nothing_is_stored(self, admin_client, super_admins):
        response = protect(admin_client, "group", "Okta Super Admin")
        assert response.status_code == 400
        assert "Okta has no group named “Okta Super Admin”" in response.content.decode()
        assert not ProtectedAccount.objects.exists()
        assert not AuditEvent.objects.filter(action__startswith="protected_account").exists()

    def test_a_group_named_is_stored_by_its_okta_id_with_its_name(self, admin_client, super_admins):
        protect(admin_client, "group", "okta super admins", "Okta admin role")
        account = ProtectedAccount.objects.get()
        assert (account.value, account.okta_id, account.okta_name) == (
            "Okta Super Admins",
            super_admins["id"],
            "Okta Super Admins",
        )
        assert last_event().after["okta_id"] == super_admins["id"]
        page = admin_client.get(reverse("protected_accounts")).content.decode()
        assert super_admins["id"] in page

    def test_a_group_given_by_its_id_is_stored_with_its_name(self, admin_client, super_admins):
        protect(admin_client, "group", super_admins["id"])
        account = ProtectedAccount.objects.get()
        assert (account.okta_id, account.okta_name) == (super_admins["id"], "Okta Super Admins")

    def test_a_member_of_the_group_stays_protected_once_the_group_is_renamed(self, admin_client, super_admins):
        protect(admin_client, "group", "Okta Super Admins")
        renamed = [{"id": super_admins["id"], "name": "Okta Administrators"}]
        assert ProtectedAccount.reason_for("00uSOMEONE", "someone@acme.example", renamed)
        assert not ProtectedAccount.reason_for("00uSOMEONE", "someone@acme.example", [{"id": "00gX", "name": "Sales"}])

    def test_a_name_two_groups_share_is_refused_until_the_id_is_given(self, admin_client, super_admins, org):
        twin = org.add_okta_group("Okta Super Admins")
        response = protect(admin_client, "group", "Okta Super Admins")
        assert "Okta has 2 groups named “Okta Super Admins”: give the id" in response.content.decode()
        protect(admin_client, "group", twin["id"])
        assert ProtectedAccount.objects.get().okta_id == twin["id"]

    def test_a_login_okta_does_not_know_is_refused(self, admin_client, org):
        response = protect(admin_client, "login", "nobody@acme.example")
        assert "Okta has no user with the login “nobody@acme.example”" in response.content.decode()
        assert not ProtectedAccount.objects.exists()

    def test_a_login_is_stored_as_okta_has_it_with_the_users_id(self, admin_client, org):
        user = org.add_okta_user(None, "Casey", "Chief", login="casey.chief@acme.example")
        protect(admin_client, "login", "Casey.Chief@acme.example")
        account = ProtectedAccount.objects.get()
        assert (account.value, account.okta_id) == ("casey.chief@acme.example", user["id"])
        assert account.okta_name == "Casey Chief <casey.chief@acme.example>"

    def test_a_user_id_okta_does_not_know_is_refused(self, admin_client, org):
        response = protect(admin_client, "user_id", "00uNOSUCHUSER")
        assert "Okta has no user with the id “00uNOSUCHUSER”" in response.content.decode()
        assert not ProtectedAccount.objects.exists()

    def test_nothing_is_stored_while_okta_cannot_be_asked(self, admin_client, super_admins, org):
        org.fault("okta", "outage")
        response = protect(admin_client, "group", "Okta Super Admins")
        assert response.status_code == 400 and "Okta could not be asked" in response.content.decode()
        assert not ProtectedAccount.objects.exists()


class TestRemovingAProtectionAsksWhy:
    @pytest.fixture
    def account(self, db) -> ProtectedAccount:
        return ProtectedAccount.objects.create(kind="login", value="ceo@acme.example", note="CEO")

    def test_the_list_offers_removal_through_a_confirmation_page(self, admin_client, account):
        page = admin_client.get(reverse("protected_accounts")).content.decode()
        assert f'href="{reverse("protected_account_remove", args=[account.pk])}"' in page
        confirm = admin_client.get(reverse("protected_account_remove", args=[account.pk])).content.decode()
        assert "Stop protecting ceo@acme.example?" in confirm and "will no longer need two approvers" in confirm
        assert ProtectedAccount.objects.filter(pk=account.pk).exists()

    def test_without_a_reason_it_is_refused_and_nothing_changes(self, admin_client, account):
        response = admin_client.post(reverse("protected_account_remove", args=[account.pk]), {"reason": "  "})
        assert (
            response.status_code == 400 and "Say why this account is no longer protected" in response.content.decode()
        )
        assert ProtectedAccount.objects.filter(pk=account.pk).exists()
        assert not AuditEvent.objects.filter(action="protected_account.removed").exists()

    def test_with_a_reason_it_is_removed_and_the_reason_audited(self, admin_client, admin_user, account):
        admin_client.post(reverse("protected_account_remove", args=[account.pk]), {"reason": "Left the board"})
        assert not ProtectedAccount.objects.exists()
        event = last_event()
        assert event.action == "protected_account.removed" and event.actor == admin_user
        assert event.before["value"] == "ceo@acme.example" and event.after == {"reason": "Left the board"}


def admin_url(model: str, *path) -> str:
    return "/".join(["/admin/offboarding", model, *map(str, path)]) + "/"


class TestTheDjangoAdminHasTheSameRails:
    def test_a_misspelt_group_is_refused_there_too(self, admin_client, super_admins):
        response = admin_client.post(
            admin_url("protectedaccount", "add"), {"kind": "group", "value": "Okta Super Admin", "note": ""}
        )
        assert response.status_code == 200 and "Okta has no group named “Okta Super Admin”" in response.content.decode()
        assert not ProtectedAccount.objects.exists()

    def test_a_group_saved_there_is_stored_by_its_okta_id(self, admin_client, super_admins):
        admin_client.post(admin_url("protectedaccount", "add"), {"kind": "group", "value": "Okta Super Admins"})
        assert ProtectedAccount.objects.get().okta_id == super_admins["id"]

    def test_a_rule_added_there_is_disabled_and_warns_of_an_unseen_department(self, admin_client):
        make_case("Eng Voluntary", "E1")
        response = admin_client.post(
            admin_url("autoapproverule", "add"),
            {**RULE, "enabled": "on", "departments_include": "Enginering", "_save": "Save"},
            follow=True,
        )
        rule = AutoApproveRule.objects.get()
        assert not rule.enabled
        assert "No termination from Workday has had this value: “Enginering”" in response.content.decode()


RULE = {
    "name": "Voluntary engineers",
    "categories": "Voluntary",
    "worker_types": "",
    "departments_include": "Engineering",
    "departments_exclude": "",
    "locations": "",
    "max_groups": "",
    "timing": "at_effective_moment",
}


def located(case: Case, location: str) -> Case:
    Termination.objects.filter(pk=case.termination_id).update(location=location)
    return case


class TestRuleConditionsAreCheckedAgainstWorkday:
    def test_the_form_offers_the_departments_and_locations_workday_has_sent(self, admin_client):
        located(make_case("Eng Voluntary", "E1", department="Engineering"), "Berlin")
        located(make_case("Fin Voluntary", "E2", department="Finance"), "Dublin")
        page = admin_client.get(reverse("rule_create")).content.decode()
        assert 'list="known-departments"' in page and 'list="known-locations"' in page
        assert '<datalist id="known-departments"><option value="Engineering"></option><option value="Finance">' in page
        assert '<datalist id="known-locations"><option value="Berlin"></option><option value="Dublin">' in page

    def test_a_value_workday_never_sent_is_kept_with_a_visible_warning(self, admin_client):
        located(make_case("Eng Voluntary", "E1", department="Engineering"), "Berlin")
        preview = admin_client.post(
            reverse("rule_create"), {**RULE, "departments_include": "Enginering", "preview": "1"}
        ).content.decode()
        assert "No termination from Workday has had this value: “Enginering”" in preview
        assert "It would approve 0" in preview
        saved = admin_client.post(
            reverse("rule_create"),
            {**RULE, "departments_include": "Enginering", "locations": "berlin, Atlantis"},
            follow=True,
        ).content.decode()
        assert AutoApproveRule.objects.get().departments_include == ["Enginering"]
        assert "“Enginering”" in saved and "“Atlantis”" in saved and "“berlin”" not in saved

    def test_a_known_value_in_another_case_raises_no_warning(self, admin_client):
        make_case("Eng Voluntary", "E1", department="Engineering")
        page = admin_client.post(
            reverse("rule_create"), {**RULE, "departments_include": "engineering", "preview": "1"}
        ).content.decode()
        assert "No termination from Workday" not in page


class TestANewRuleStartsDisabled:
    def test_saved_disabled_whatever_the_form_says_and_its_preview_shown(self, admin_client):
        case = make_case("Eng Voluntary", "E1")
        page = admin_client.post(reverse("rule_create"), {**RULE, "enabled": "on"}, follow=True).content.decode()
        rule = AutoApproveRule.objects.get()
        assert not rule.enabled and last_event().after["enabled"] is False
        case.refresh_from_db()
        assert case.decided_by_rule is None and case.state == Case.State.PENDING_REVIEW
        assert "It is disabled: check its preview, then enable it." in page
        assert "This rule is disabled and approves nothing" in page and "Eng Voluntary" in page
        assert "Enable this rule" in page

    def test_the_new_rule_form_has_no_enabled_box(self, admin_client):
        assert 'name="enabled"' not in admin_client.get(reverse("rule_create")).content.decode()

    def test_enabled_from_its_page_it_approves_its_preview_and_comes_back_to_it(self, admin_client):
        case = make_case("Eng Voluntary", "E1")
        admin_client.post(reverse("rule_create"), RULE)
        rule = AutoApproveRule.objects.get()
        response = admin_client.post(reverse("rule_enable", args=[rule.pk]), {"enabled": "yes", "back": "rule"})
        assert response["Location"] == reverse("rule_edit", args=[rule.pk])
        case.refresh_from_db()
        assert case.decided_by_rule == rule


class TestEverySafetySettingIsBounded:
    THRESHOLDS = {"breaker_count": "25", "breaker_share": "0.05"}

    def test_the_window_is_edited_on_the_page_and_audited(self, admin_client):
        admin_client.post(
            reverse("safety_settings"), {"part": "thresholds", **self.THRESHOLDS, "breaker_window_minutes": "15"}
        )
        assert SafetySettings.load().breaker_window_minutes == 15
        assert last_event().before == {"breaker_window_minutes": 60}
        assert last_event().after == {"breaker_window_minutes": 15}

    @pytest.mark.parametrize("minutes", ["0", "10081", "-5", "abc"])
    def test_a_window_out_of_bounds_is_refused(self, admin_client, minutes):
        response = admin_client.post(
            reverse("safety_settings"), {"part": "thresholds", **self.THRESHOLDS, "breaker_window_minutes": minutes}
        )
        assert response.status_code == 200 and "errorlist" in response.content.decode()
        assert SafetySettings.load().breaker_window_minutes == 60
        assert not AuditEvent.objects.filter(action="safety.changed").exists()

    def test_involuntary_immediately_is_on_the_page(self, admin_client):
        page = admin_client.get(reverse("safety_settings")).content.decode()
        assert 'name="involuntary_immediately"' in page and 'name="breaker_window_minutes"' in page


def test_a_sync_still_opens_cases_with_a_protected_group_by_id(org, leaver, admin_client, super_admins):
    """A group kept by its id protects a member whose groups Okta lists by id, at the sync as on the pages."""
    protect(admin_client, "group", "Okta Super Admins")
    person = leaver(groups=("VPN Users",))
    org.add_okta_membership(super_admins["id"], person["user_id"])
    sync.sync_workday()
    assert "Okta Super Admins" in Case.objects.get().protected_reason
