"""An admin, in the browser, meets the rails: Okta is asked about a protected group, Workday's values are offered
for a rule, a new rule waits disabled beside its preview, a protection goes only with a reason, a threshold has
bounds."""

import re

import pytest
from playwright.sync_api import expect

from offboarding import sync
from offboarding.models import AuditEvent, AutoApproveRule, Case, ProtectedAccount, SafetySettings

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


class TestAnAdminProtectsAGroup:
    def test_a_misspelt_group_is_refused_then_the_right_one_kept_and_removed_with_a_reason(
        self, browser_page, sign_in, admin_user, org, screenshot
    ):
        page = browser_page
        sign_in(admin_user)
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Protected accounts").click()
        form = page.get_by_role("form", name="Protect another")
        form.get_by_label("Kind").select_option(label="Okta group (id or exact name)")
        form.get_by_label("Value").fill("Okta Super Admin")
        form.get_by_role("button", name="Protect").click()
        expect(page.locator(".errorlist")).to_contain_text("Okta has no group named “Okta Super Admin”")
        assert not ProtectedAccount.objects.exists()
        screenshot("admin-protect-refused")

        page.get_by_label("Value").fill("Okta Super Admins")
        page.get_by_role("button", name="Protect").click()
        expect(page.locator(".messages")).to_contain_text("Okta Super Admins")
        account = ProtectedAccount.objects.get()
        expect(page.locator("table")).to_contain_text(f"Okta: Okta Super Admins ({account.okta_id})")

        page.get_by_role("link", name="Remove Okta Super Admins").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Stop protecting Okta Super Admins?")
        page.get_by_role("button", name="Stop protecting").click()
        # Without a reason the browser does not send it (the server refuses it too: tests/test_admin_rails.py).
        expect(page.get_by_role("heading", level=1)).to_have_text("Stop protecting Okta Super Admins?")
        assert page.get_by_label("Reason").evaluate("field => field.validationMessage")
        assert ProtectedAccount.objects.exists()
        page.get_by_label("Reason").fill("The admin role moved to another group")
        page.get_by_role("button", name="Stop protecting").click()
        expect(page.locator(".messages")).to_contain_text("is no longer protected")
        assert not ProtectedAccount.objects.exists()
        removed = AuditEvent.objects.get(action="protected_account.removed")
        assert removed.after == {"reason": "The admin role moved to another group"}


class TestAnAdminWritesARule:
    def test_an_unseen_department_warns_and_the_new_rule_waits_disabled_beside_its_preview(
        self, browser_page, sign_in, admin_user, leaver, screenshot
    ):
        leaver(days_ahead=3)
        sync.sync_workday()
        page = browser_page
        sign_in(admin_user)
        page.goto("/rules/new")
        expect(page.get_by_text("Workday has sent: Engineering.").first).to_be_visible()
        page.get_by_label("Name").fill("Engineers")
        page.get_by_label("Only these departments").fill("Enginering")
        page.get_by_role("button", name="Preview").click()
        expect(page.locator(".banner.warn").first).to_contain_text(
            "No termination from Workday has had this value: “Enginering”"
        )
        expect(page.locator("#preview-count")).to_contain_text("It would approve 0")

        page.get_by_label("Only these departments").fill("Engineering")
        page.get_by_role("button", name="Save").click()
        expect(page.locator(".messages")).to_contain_text("It is disabled: check its preview, then enable it.")
        expect(page.locator(".preview")).to_contain_text("Zoë Müller")
        rule = AutoApproveRule.objects.get()
        assert not rule.enabled and Case.objects.get().decided_by_rule is None
        screenshot("admin-rule-saved-disabled")

        page.get_by_role("button", name="Enable this rule").click()
        expect(page.locator(".messages")).to_contain_text(re.compile(r"enabled\. 1 pending case approved now"))
        assert Case.objects.get().decided_by_rule == rule


class TestAnAdminSetsTheSafetySettings:
    def test_a_zero_threshold_is_refused_and_involuntary_immediately_is_saved(self, browser_page, sign_in, admin_user):
        page = browser_page
        sign_in(admin_user)
        page.goto("/safety/")
        thresholds = page.locator("section", has=page.get_by_role("heading", name="Thresholds"))
        thresholds.get_by_label(re.compile("^Trip above")).fill("0")
        thresholds.get_by_role("button", name="Save the thresholds").click()
        expect(page.locator(".errorlist").first).to_contain_text("from 1 to 10,000")
        assert SafetySettings.load().breaker_count == 25

        timing = page.locator("section", has=page.get_by_role("heading", name="When access goes"))
        timing.get_by_label("Involuntary terminations take effect as soon as they are seen").check()
        timing.get_by_role("button", name="Save when access goes").click()
        expect(page.locator(".messages")).to_contain_text("Safety settings saved.")
        assert SafetySettings.load().involuntary_immediately
