"""Every page, for every role, in the system Chromium: axe-core (through axe-playwright-python, which bundles it)
finds no serious or critical violation, and each page is photographed at 1400 and 390 px into artifacts/.

One signed-in page per role visits all of that role's pages, so the whole check costs one sign-in per role
(the admin's Django admin pages are a second part). A page behind a form (a confirmation, an emergency offboard,
an admin form refused) is reached as a person would: fields filled, the button pressed.
"""

from collections.abc import Callable
from datetime import date
from types import SimpleNamespace

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.urls import reverse

from offboarding import sync
from offboarding.admin import site as admin_site
from offboarding.models import AutoApproveRule, Case, FollowUp, ProtectedAccount, ReportRowError, SafetySettings, Step
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
    a protected account, an unreadable Workday row, an open follow-up; an Okta user with no case (emergency)."""
    leaver("E100")
    leaver("E200", "Dana", "Whitfield", in_okta=False)
    sync.sync_workday()
    leaver("E500", "Ines", "Rocha")
    failed = make_case(
        "Omar Haddad", "E300", state=Case.State.FAILED, failure_summary="Okta answered 503 to deactivate"
    )
    Step.objects.create(case=failed, kind=Step.Kind.DEACTIVATE, status=Step.Status.FAILED, attempts=4, http_status=503)
    past = make_past_case("E400", "Lena Fischer", jira_key="SEC-1", decided_by=approver, left=date(2026, 11, 2))
    Case.objects.filter(pk=past.pk).update(started_at=past.effective_at)
    rule = AutoApproveRule.objects.create(
        name="Voluntary engineers", enabled=False, departments_include=["Engineering"]
    )
    account = ProtectedAccount.objects.create(kind="login", value="ceo@acme.example", note="CEO")
    ReportRowError.objects.create(fingerprint="x" * 64, employee_id="E999", reason="no Termination_Date", raw={})
    followed = make_past_case("E600", "Noor Rahimi", jira_key="SEC-2", state=Case.State.REVOKED_IN_OKTA)
    FollowUp.objects.create(
        case=followed, kind=FollowUp.Kind.APP, target_name="Salesforce", what="Deactivate the Salesforce account"
    )
    SafetySettings.load()
    cases = {c.termination.employee_id: c for c in Case.objects.exclude(termination=None).select_related("termination")}
    return {
        "pending": cases["E100"],
        "doubt": cases["E200"],
        "failed": failed,
        "past": past,
        "rule": rule,
        "account": account,
        "followed": followed,
    }


Where = str | tuple[str, str | Callable]


def press(button: str, fields: dict[str, str | bool]) -> Callable:
    """A page behind a form: fill its labelled fields (True ticks one), then press the button."""

    def act(page):
        for label, value in fields.items():
            field = page.get_by_label(label).first
            field.check() if value is True else field.fill(value)
        with page.expect_navigation() as navigation:
            page.get_by_role("button", name=button, exact=True).first.click()
        return navigation.value

    return act


def audit_pages(site) -> dict[str, str]:
    return {
        "history": reverse("history"),
        "history-empty": reverse("history") + "?person=nobody-at-all",
        "evidence": reverse("evidence", args=[site["past"].pk]),
        "sla": reverse("sla"),
        "reconciliation": reverse("reconciliation"),
        "integrity": reverse("integrity"),
    }


def admin_pages(site, admin) -> dict[str, Where]:
    """The Django admin: its index, the app's, and for each model registered a changelist, the form of one
    of its objects (read-only for most), the add form where adding is allowed; a rule's deletion and history;
    the rule and protected-account forms refused; an empty search; the password change."""
    pages: dict[str, Where] = {"admin": reverse("admin:index"), "admin-app": "/admin/offboarding/"}
    for model, model_admin in admin_site._registry.items():
        name = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        short = model._meta.model_name
        pages[f"admin-{short}-list"] = reverse(f"{name}_changelist")
        first = model.objects.order_by("pk").first()
        assert first is not None, f"the site fixture has no {short} to show"
        pages[f"admin-{short}"] = reverse(f"{name}_change", args=[first.pk])
        if model_admin.has_add_permission(SimpleNamespace(user=admin)):
            pages[f"admin-{short}-add"] = reverse(f"{name}_add")
    rule = site["rule"].pk
    return {
        **pages,
        "admin-autoapproverule-delete": reverse("admin:offboarding_autoapproverule_delete", args=[rule]),
        "admin-autoapproverule-history": reverse("admin:offboarding_autoapproverule_history", args=[rule]),
        "admin-autoapproverule-refused": (reverse("admin:offboarding_autoapproverule_add"), press("Save", {})),
        "admin-protectedaccount-refused": (
            reverse("admin:offboarding_protectedaccount_add"),
            press("Save", {"Value": "nobody-at-all@acme.example"}),
        ),
        "admin-auditevent-search-empty": reverse("admin:offboarding_auditevent_changelist") + "?q=nothing-like-it",
        "admin-password-change": reverse("admin:password_change"),
    }


def pages_of(role: str, site) -> dict[str, Where]:
    pending = reverse("case", args=[site["pending"].pk])
    if role == "approver":
        return {
            "queue": reverse("home"),
            "queue-failed": reverse("home") + "?state=failed",
            "case-pending": pending,
            "case-doubt": reverse("case", args=[site["doubt"].pk]),
            "case-failed": reverse("case", args=[site["failed"].pk]),
            "case-follow-up": reverse("case", args=[site["followed"].pk]),
            "confirm-approve": (pending, "Approve…"),
            "confirm-reject": (pending, press("Reject…", {"Reason for rejecting (required)": "Rehired"})),
            "confirm-revoke-now": (pending, press("Revoke now…", {"Why now (required)": "Walked out today"})),
            "confirm-retry": (reverse("case", args=[site["failed"].pk]), "Retry…"),
            "confirm-restore": (
                reverse("case", args=[site["past"].pk]),
                press("Request a restore…", {"Why give the access back (required)": "Rehired"}),
            ),
            "identity": reverse("case_identity", args=[site["doubt"].pk]),
            "confirm-no-account": (
                reverse("case_identity", args=[site["doubt"].pk]),
                press(
                    "No Okta account: nothing to revoke…", {"Why there is no Okta account (required)": "A contractor"}
                ),
            ),
            "emergency": reverse("emergency"),
            "emergency-search": reverse("emergency") + "?q=Zo",
            "emergency-confirm": (
                reverse("emergency") + "?q=Ines",
                press("Offboard…", {"Ines Rocha": True, "Reason (required)": "Walked out today"}),
            ),
            "emergency-open-case": (
                reverse("emergency") + "?q=Zo",
                press("Offboard…", {"Zoë Müller": True, "Reason (required)": "Walked out today"}),
            ),
            "row-errors": reverse("row_errors"),
            "vendors-check": reverse("vendors_check"),
            "vendors-checked": (reverse("vendors_check"), "Check the vendors now"),
            "admin-refused": reverse("admin:index"),
            "forbidden": reverse("rules"),
            **audit_pages(site),
        }
    if role == "auditor":
        return {
            "home": reverse("home"),
            "case": reverse("case", args=[site["past"].pk]),
            "case-follow-up": reverse("case", args=[site["followed"].pk]),
            "admin-refused": reverse("admin:index"),
            **audit_pages(site),
        }
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


def check(page, role: str, pages: dict[str, Where]) -> list[str]:
    """axe's serious and critical violations on each page, one line each; the screenshots on the way."""
    ARTIFACTS.mkdir(exist_ok=True)
    problems = []
    for name, where in pages.items():
        # A page behind a form (a confirmation, a form refused): the page, then the button pressed (`press`).
        url, act = (where, None) if isinstance(where, str) else where
        page.set_viewport_size({"width": WIDTHS[0], "height": 900})
        response = page.goto(url)
        if act:
            response = (press(act, {}) if isinstance(act, str) else act)(page)
        expected = 403 if name in ("forbidden", "no-role") else 200
        assert response.status == expected, f"{role} {name} {url}: {response.status}"
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
    # The Django admin's pages are a part of their own, so that pytest-xdist spreads them over the workers.
    @pytest.mark.parametrize(
        "role, part", [("approver", "site"), ("auditor", "site"), ("admin", "site"), ("admin", "django-admin")]
    )
    def test_no_serious_or_critical_violation_for(self, role, part, browser_page, sign_in, site, request):
        user = request.getfixturevalue({"approver": "approver", "auditor": "auditor", "admin": "admin_user"}[role])
        sign_in(user)
        pages = admin_pages(site, user) if part == "django-admin" else pages_of(role, site)
        problems = check(browser_page, role, pages)
        assert problems == [], "\n".join(problems)

    def test_no_serious_or_critical_violation_signed_out_or_without_a_role(self, browser_page, sign_in, make_user):
        problems = check(browser_page, "signed-out", {"login": reverse("login"), "admin-login": reverse("admin:index")})
        sign_in(make_user("nobody"))
        problems += check(browser_page, "no-role", {"no-role": reverse("home")})
        assert problems == [], "\n".join(problems)
