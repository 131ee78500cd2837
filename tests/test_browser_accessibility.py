"""Every page, for every role, in the system Chromium: axe-core (through axe-playwright-python, which bundles it)
finds no serious or critical violation, and each page is photographed at 1400 and 390 px into artifacts/.

One signed-in page per role visits all of that role's pages, so the whole check costs one sign-in per role.
"""

from datetime import date

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.urls import reverse

from offboarding import sync
from offboarding.models import AutoApproveRule, Case, ProtectedAccount, ReportRowError
from tests.browser_fixtures import ARTIFACTS
from tests.factories import make_case, make_past_case

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
AXE = Axe()
FAILING = {"serious", "critical"}
WIDTHS = (1400, 390)
# Two animation frames: what the page does when its window is resized (static/js/scroll-regions.js) is done.
SETTLED = "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"


@pytest.fixture
def site(leaver, approver):
    """A case of each sort a page shows: pending, in doubt (no Okta user), failed, past and completed; a rule,
    a protected account, an unreadable Workday row."""
    leaver("E100")
    leaver("E200", "Dana", "Whitfield", in_okta=False)
    sync.sync_workday()
    failed = make_case(
        "Omar Haddad", "E300", state=Case.State.FAILED, failure_summary="Okta answered 503 to deactivate"
    )
    past = make_past_case("E400", "Lena Fischer", jira_key="SEC-1", decided_by=approver, left=date(2026, 11, 2))
    rule = AutoApproveRule.objects.create(
        name="Voluntary engineers", enabled=False, departments_include=["Engineering"]
    )
    account = ProtectedAccount.objects.create(kind="login", value="ceo@acme.example", note="CEO")
    ReportRowError.objects.create(fingerprint="x" * 64, employee_id="E999", reason="no Termination_Date", raw={})
    cases = {c.termination.employee_id: c for c in Case.objects.exclude(termination=None).select_related("termination")}
    return {
        "pending": cases["E100"],
        "doubt": cases["E200"],
        "failed": failed,
        "past": past,
        "rule": rule,
        "account": account,
    }


def audit_pages(site) -> dict[str, str]:
    return {
        "history": reverse("history"),
        "history-empty": reverse("history") + "?person=nobody-at-all",
        "evidence": reverse("evidence", args=[site["past"].pk]),
        "sla": reverse("sla"),
        "reconciliation": reverse("reconciliation"),
        "integrity": reverse("integrity"),
    }


def pages_of(role: str, site) -> dict[str, str | tuple[str, str]]:
    if role == "approver":
        return {
            "queue": reverse("home"),
            "queue-failed": reverse("home") + "?state=failed",
            "case-pending": reverse("case", args=[site["pending"].pk]),
            "case-doubt": reverse("case", args=[site["doubt"].pk]),
            "case-failed": reverse("case", args=[site["failed"].pk]),
            "confirm-approve": (reverse("case", args=[site["pending"].pk]), "Approve…"),
            "confirm-retry": (reverse("case", args=[site["failed"].pk]), "Retry…"),
            "identity": reverse("case_identity", args=[site["doubt"].pk]),
            "emergency": reverse("emergency"),
            "emergency-search": reverse("emergency") + "?q=Zo",
            "row-errors": reverse("row_errors"),
            "forbidden": reverse("rules"),
            **audit_pages(site),
        }
    if role == "auditor":
        return {"home": reverse("home"), "case": reverse("case", args=[site["past"].pk]), **audit_pages(site)}
    return {
        "home": reverse("home"),
        "rules": reverse("rules"),
        "rule-new": reverse("rule_create"),
        "rule": reverse("rule_edit", args=[site["rule"].pk]),
        "protected": reverse("protected_accounts"),
        "protected-edit": reverse("protected_account_edit", args=[site["account"].pk]),
        "protected-remove": reverse("protected_account_remove", args=[site["account"].pk]),
        "safety": reverse("safety_settings"),
        "history": reverse("history"),
    }


def check(page, role: str, pages: dict[str, str | tuple[str, str]]) -> list[str]:
    """axe's serious and critical violations on each page, one line each; the screenshots on the way."""
    ARTIFACTS.mkdir(exist_ok=True)
    problems = []
    for name, where in pages.items():
        # A page behind a button (a confirmation) is the page, then the button pressed.
        url, button = (where, None) if isinstance(where, str) else where
        page.set_viewport_size({"width": WIDTHS[0], "height": 900})
        response = page.goto(url)
        if button:
            with page.expect_navigation() as navigation:
                page.get_by_role("button", name=button).first.click()
            response = navigation.value
        assert response.status == (403 if name in ("forbidden", "no-role") else 200), (
            f"{role} {name} {url}: {response.status}"
        )
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            page.evaluate(SETTLED)
            for violation in AXE.run(page).response["violations"]:
                if violation["impact"] in FAILING:
                    where = "; ".join(
                        f"{' '.join(map(str, n['target']))}: {n.get('failureSummary', '')}"
                        for n in violation["nodes"][:4]
                    )
                    problems.append(
                        f"{role} {name} at {width} px ({url}): {violation['id']} [{violation['impact']}] {where}"
                    )
            page.screenshot(path=str(ARTIFACTS / f"page-{role}-{name}-{width}.png"), full_page=True)
    return problems


class TestEveryPageIsAccessible:
    @pytest.mark.parametrize("role", ["approver", "auditor", "admin"])
    def test_no_serious_or_critical_violation_for(self, role, browser_page, sign_in, site, request):
        user = {"approver": "approver", "auditor": "auditor", "admin": "admin_user"}[role]
        sign_in(request.getfixturevalue(user))
        problems = check(browser_page, role, pages_of(role, site))
        assert problems == [], "\n".join(problems)

    def test_no_serious_or_critical_violation_signed_out_or_without_a_role(self, browser_page, sign_in, make_user):
        problems = check(browser_page, "signed-out", {"login": reverse("login")})
        sign_in(make_user("nobody"))
        problems += check(browser_page, "no-role", {"no-role": reverse("home")})
        assert problems == [], "\n".join(problems)
