"""The security team's main journeys in a real browser (system Chromium), against the live server and the sandbox.

The django-q2 cluster does not run in tests: when a page's approval has enqueued the revocation, the
test runs it from a background thread while the page is open, and watches the page follow it. The
page's timers run on Playwright's fake clock, moved on one poll at a time, so no test waits out the
page's polling interval.
"""

import re

import pytest
from playwright.sync_api import expect

from offboarding import sync, tickets
from offboarding.models import AutoApproveRule, Case, ProtectedAccount
from tests.browser_fixtures import follow_progress, run_in_background

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def cases(leaver):
    """Two leavers synced from Workday: Zoë in Engineering (past her effective moment), Omar in Finance."""
    leaver(days_ahead=-1)
    leaver("E200", "Omar", "Haddad", groups=("Finance Team",), app_groups=(), Supervisory_Organization="Finance")
    sync.sync_workday()
    return {c.termination.employee_id: c for c in Case.objects.select_related("termination")}


def decide(page, button: str, confirm: str, reason: str | None = None) -> None:
    """Press a decision button on the case page, then confirm on the next page."""
    page.get_by_role("button", name=button).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("?")
    if reason is not None:
        page.get_by_label(re.compile("^Reason")).fill(reason)
    page.get_by_role("button", name=confirm).click()


class TestApproverJourney:
    def test_filter_open_approve_and_watch_it_happen(self, browser_page, sign_in, screenshot, approver, cases, org):
        page = browser_page
        page.clock.install()
        sign_in(approver)
        expect(page.get_by_role("heading", name="Queue")).to_be_visible()
        page.get_by_label("Department").select_option("Engineering")
        page.get_by_role("button", name="Filter").click()
        queue = page.locator("table.queue tbody")
        expect(queue).to_contain_text("Zoë Müller")
        expect(queue).not_to_contain_text("Omar Haddad")
        screenshot("queue")
        page.set_viewport_size({"width": 390, "height": 844})
        screenshot("queue-phone")
        page.set_viewport_size({"width": 1280, "height": 900})

        page.get_by_role("link", name="Zoë Müller").click()
        groups = page.locator("table.groups")
        for name in ["VPN Users E100", "GitHub Engineers E100", "AD: Engineering E100", "Everyone"]:
            expect(groups).to_contain_text(name)
        expect(page.locator("ol.plan")).to_contain_text("Remove 2 group memberships")

        page.get_by_label("Reason for approving (optional)").fill("HR confirmed")
        decide(page, "Approve…", "Yes, approve")
        expect(page.locator("#case-state")).to_have_text("Approved")
        page.evaluate("window.notReloaded = true")

        case = cases["E100"]
        worker = run_in_background(case.pk)
        jira = page.locator("#result-jira a")
        follow_progress(page, lambda: page.locator("#case-state").inner_text() == "Completed" and jira.count())
        expect(page.locator("#case-state")).to_have_text("Completed", timeout=30_000)
        worker.join(timeout=30)
        expect(page.locator("#steps")).to_contain_text("Deactivate")
        expect(page.locator("#steps tr[data-status=failed]")).to_have_count(0)
        expect(jira).to_have_text(re.compile(r"^SEC-\d+$"), timeout=30_000)
        assert page.evaluate("window.notReloaded") is True, "the page reloaded"
        expect(page.get_by_role("button", name="Reject…")).to_be_hidden()
        screenshot("completed-case")

        key = jira.inner_text()
        with page.expect_navigation():
            jira.click()
        assert page.url == f"{org.jira_url}/browse/{key}"

    def test_reject_with_a_reason(self, browser_page, sign_in, approver, cases):
        page = browser_page
        case = cases["E200"]
        sign_in(approver, case.get_absolute_url())
        page.get_by_label("Reason for rejecting (required)").fill("Rehired the same day")
        decide(page, "Reject…", "Yes, reject")
        expect(page.locator(".messages")).to_contain_text("Rejected.")
        expect(page.locator("#case-state")).to_have_text("Rejected")
        expect(page.locator(".decision")).to_contain_text("Rehired the same day")


class TestSecondApprover:
    def test_a_protected_account_needs_two_different_approvers(
        self, browser_page, sign_in, approver, make_user, leaver
    ):
        ProtectedAccount.objects.create(kind="login", value="zoë.müller@acme.example", note="board member")
        leaver()
        sync.sync_workday()
        case = Case.objects.get()
        page = browser_page
        sign_in(approver, case.get_absolute_url())
        expect(page.locator(".warnings")).to_contain_text("Two different approvers must approve it")
        decide(page, "Approve…", "Yes, approve")
        expect(page.locator(".messages")).to_contain_text("a second, different approver must approve too")
        expect(page.locator("#case-state")).to_have_text("Needs attention")

        page.get_by_role("button", name="Sign out").click()
        sign_in(make_user("erin", "approvers"), case.get_absolute_url())
        decide(page, "Approve…", "Yes, approve")
        expect(page.locator(".messages")).to_contain_text("Approved.")
        expect(page.locator(".approvals li")).to_have_count(2)


class TestEmergencyOffboard:
    def test_find_the_user_give_a_reason_and_wait_for_a_second_approver(self, browser_page, sign_in, approver, org):
        org.add_okta_user("E900", "Rogue", "Insider", login="rogue.insider@acme.example")
        page = browser_page
        sign_in(approver)
        page.get_by_role("link", name="Emergency offboard").click()
        page.get_by_label("Find the Okta user").fill("Rogue")
        page.get_by_role("button", name="Search Okta").click()
        page.get_by_label(re.compile("Rogue Insider")).check()
        page.get_by_label("Reason (required)").fill("Credentials posted publicly")
        page.get_by_role("button", name="Offboard…").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Start an emergency offboard?")
        expect(page.locator("main")).to_contain_text("rogue.insider@acme.example")
        page.get_by_role("button", name="Yes, offboard").click()
        expect(page.locator(".messages")).to_contain_text("A second, different approver must approve it.")
        expect(page.locator(".warnings")).to_contain_text("Credentials posted publicly")
        assert Case.objects.get().kind == Case.Kind.EMERGENCY


class TestAdminRules:
    def test_an_admin_creates_a_rule_and_sees_its_preview(self, browser_page, sign_in, admin_user, cases):
        page = browser_page
        sign_in(admin_user)
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Rules").click()
        page.get_by_role("link", name="New rule").click()
        page.get_by_label("Name").fill("Voluntary engineers")
        page.get_by_label("Categories").fill("Voluntary")
        page.get_by_label("Only these departments").fill("Engineering")
        page.get_by_role("button", name="Preview").click()
        preview = page.locator(".preview")
        expect(preview).to_contain_text("It would approve 1")
        expect(preview).to_contain_text("Zoë Müller")
        expect(preview).not_to_contain_text("Omar Haddad")
        page.get_by_role("button", name="Save").click()
        expect(page.locator(".messages")).to_contain_text("Rule “Voluntary engineers” saved.")
        assert AutoApproveRule.objects.get().departments_include == ["Engineering"]


class TestIdentityInDoubt:
    def test_choose_the_okta_user_among_the_candidates_then_approve(
        self, browser_page, sign_in, screenshot, approver, org, leaver
    ):
        leaver()
        org.add_okta_user("E100", "Zoë", "Müller", login="zoe.m2@acme.example", status="PROVISIONED")
        sync.sync_workday()
        case = Case.objects.get()
        page = browser_page
        sign_in(approver, case.get_absolute_url())
        expect(page.locator(".warnings")).to_contain_text("Several Okta users with this employee number")
        page.get_by_role("link", name="Choose the Okta user, or record that there is none").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Who is Zoë Müller in Okta?")
        candidates = page.locator(".candidate")
        expect(candidates).to_have_count(2)
        first = candidates.filter(has_text="zoë.müller@acme.example")
        for text in ["ACTIVE", "E100", "VPN Users E100", "GitHub Engineers E100", "employee number"]:
            expect(first).to_contain_text(text)
        expect(candidates.filter(has_text="zoe.m2@acme.example")).to_contain_text("PROVISIONED")
        screenshot("identity-candidates")

        page.get_by_label(re.compile("zoë.müller@acme.example")).check()
        page.get_by_label("Why this one (required)").fill("Her manager confirmed the login")
        page.get_by_role("button", name="Choose this Okta user").click()
        expect(page.locator(".messages")).to_contain_text("zoë.müller@acme.example is now this case’s Okta user")
        expect(page.locator(".warnings")).to_contain_text("Chosen by a person")
        expect(page.locator("ol.plan")).to_contain_text("Remove 2 group memberships")
        decide(page, "Approve…", "Yes, approve")
        expect(page.locator("#case-state")).to_have_text("Scheduled")
        assert Case.objects.get().okta_login == "zoë.müller@acme.example"

    def test_record_that_there_is_no_okta_account_and_see_its_ticket(
        self, browser_page, sign_in, screenshot, approver, org, leaver
    ):
        leaver(in_okta=False)
        sync.sync_workday()
        case = Case.objects.get()
        page = browser_page
        sign_in(approver, case.get_absolute_url())
        expect(page.locator(".warnings")).to_contain_text("No Okta user has employee number E100")
        page.get_by_role("link", name="Choose the Okta user, or record that there is none").click()
        expect(page.locator("main")).to_contain_text("Okta has no user with employee number E100")
        page.get_by_label("Why there is no Okta account (required)").fill("Contractor who never had an account")
        page.get_by_role("button", name="No Okta account: nothing to revoke…").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Close as no Okta account: Zoë Müller?")
        page.get_by_role("button", name="Yes, close it").click()
        expect(page.locator(".messages")).to_contain_text("Closed: no Okta account, nothing to revoke.")
        expect(page.locator("#case-state")).to_have_text("Closed: no Okta account")
        expect(page.locator(".decision")).to_contain_text("Contractor who never had an account")
        expect(page.get_by_role("button", name="Approve…")).to_be_hidden()

        tickets.file_ticket_of_case(case.pk)  # the worker the decision handed the ticket to
        page.reload()
        expect(page.locator("#result-jira a")).to_have_text(re.compile(r"^SEC-\d+$"))
        (issue,) = org.jira_issues()
        assert "no Okta account" in issue["fields"]["summary"]
        screenshot("no-okta-account")
