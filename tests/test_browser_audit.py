"""An auditor, in the browser: finds a person by employee id, opens the evidence, exports CSV."""

import csv
import io
from pathlib import Path

import pytest

from offboarding.models import AuditEvent
from tests.factories import make_past_case

pytestmark = pytest.mark.browser


class TestBrowserAudit:
    def test_an_auditor_finds_a_person_opens_the_evidence_and_exports_csv(
        self, browser_page, sign_in, auditor, screenshot
    ):
        page = browser_page
        wanted = make_past_case("E31337", "Zoë Müller", jira_key="SEC-31")
        make_past_case("E20000", "Someone Else")
        sign_in(auditor)

        page.get_by_role("link", name="History").first.click()
        page.get_by_label("Person").fill("E31337")
        page.get_by_role("button", name="Search").click()
        page.wait_for_url("**person=E31337**")
        rows = page.locator("table.history tbody tr")
        assert rows.count() == 1 and "Zoë Müller" in rows.first.inner_text()
        screenshot("audit-history")

        page.get_by_role("link", name=f"Evidence {wanted.pk}").click()
        assert page.get_by_role("heading", level=1).inner_text() == f"Evidence: case {wanted.pk}, Zoë Müller"
        assert page.get_by_role("link", name="SEC-31").is_visible()
        screenshot("audit-evidence")

        page.go_back()
        with page.expect_download() as download:
            page.get_by_role("link", name="CSV").click()
        text = Path(download.value.path()).read_text(encoding="utf-8-sig")
        (row,) = csv.DictReader(io.StringIO(text))
        assert (row["employee_id"], row["name"], row["jira_key"]) == ("E31337", "Zoë Müller", "SEC-31")

        actions = list(AuditEvent.objects.filter(actor=auditor).values_list("action", "case_id"))
        assert actions == [("audit.evidence_viewed", wanted.pk), ("audit.exported", None)]
