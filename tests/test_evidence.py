"""One case's evidence: the page (printable) and its JSON, each viewing recorded in the audit log."""

import json
from datetime import timedelta

import pytest
from django.urls import reverse

from offboarding import decisions, evidence, revocation, sync
from offboarding.models import Actor, AuditEvent, AutoApproveRule, Case, Step
from tests.factories import make_past_case, run_sql


@pytest.fixture
def revoked_case(leaver, approver):
    """A leaver offboarded for real against the sandbox: synced, approved, revoked, ticket filed."""
    leaver(employee_id="E100", days_ahead=-1, Termination_Category="Involuntary", Termination_Reason="Misconduct")
    sync.sync_workday()
    case = Case.objects.get(termination__employee_id="E100")
    decisions.approve(case.pk, approver, "HR confirmed")
    revocation.run_case(case.pk)
    return Case.objects.get(pk=case.pk)


@pytest.fixture
def signed_in(client, auditor):
    client.force_login(auditor)
    return client


def evidence_page(client, case) -> str:
    response = client.get(reverse("evidence", args=[case.pk]))
    assert response.status_code == 200
    return response.content.decode()


class TestEvidenceOfARealRevocation:
    def test_it_shows_everything_an_auditor_asks_for(self, signed_in, revoked_case, settings):
        case = revoked_case
        page = evidence_page(signed_in, case)
        # The Workday record as received.
        assert "&quot;Termination_Reason&quot;: &quot;Misconduct&quot;" in page
        # Who decided, when and why.
        assert "alice" in page and "HR confirmed" in page
        assert f"{case.decided_at:%Y-%m-%d %H:%M:%S}" in page
        # Every step, with the vendor's answer, and the groups before and after.
        for kind in ("resolve", "snapshot", "remove_group", "clear_sessions", "deactivate", "verify", "file_ticket"):
            assert f"<td>{Step.Kind(kind).label}</td>" in page
        assert "VPN Users E100" in page and "GitHub Engineers E100" in page
        assert "AD: Engineering E100 (APP_GROUP)" in page  # left after: Okta does not let us remove it
        assert "<dt>Okta status</dt><dd>DEPROVISIONED</dd>" in page
        # Time to revoke against the target, the ticket, the chain.
        verdict = "within target" if case.time_to_revoke <= timedelta(hours=4) else "over target"
        assert "against a target of 4 h" in page and verdict in page
        assert f'<a href="{settings.JIRA_BASE_URL}/browse/{case.jira_key}">{case.jira_key}</a>' in page
        assert "Verified:</strong> each of the case" in page

    def test_its_json_is_the_complete_evidence(self, signed_in, revoked_case):
        response = signed_in.get(reverse("evidence_export", args=[revoked_case.pk]))
        assert response["Content-Disposition"] == (
            f'attachment; filename="offboarding-case-{revoked_case.pk}-evidence.json"'
        )
        document = json.loads(response.content)
        expected = json.loads(json.dumps(evidence.evidence_of(revoked_case), default=str))
        assert document["case"]["jira_key"] == revoked_case.jira_key
        assert document["workday"] == expected["workday"]
        assert [s["kind"] for s in document["steps"]] == [s["kind"] for s in expected["steps"]]
        assert document["verification"]["user"]["status"] == "DEPROVISIONED"
        assert document["audit_chain_verified"] is True
        assert document["exported_by"] == "bob"


@pytest.mark.django_db
class TestEvidencePage:
    def test_a_rule_decision_names_the_rule_and_its_conditions(self, signed_in):
        rule = AutoApproveRule.objects.create(name="Voluntary engineers", departments_include=["Engineering"])
        case = make_past_case(rule=rule)
        Case.objects.filter(pk=case.pk).update(rule_snapshot=rule.conditions())
        page = evidence_page(signed_in, case)
        assert f"Auto-approve rule {rule.pk} “Voluntary engineers”" in page
        assert "departments_include" in page and "[&#x27;Engineering&#x27;]" in page

    def test_over_target_says_so(self, signed_in):
        page = evidence_page(signed_in, make_past_case(took=timedelta(hours=6, minutes=1)))
        assert "6 h 01 min against a target of 4 h" in page and "over target" in page

    def test_a_case_not_revoked_is_not_measured(self, signed_in):
        page = evidence_page(signed_in, make_past_case(took=None, state=Case.State.FAILED))
        assert "not measured" in page and "not revoked" in page

    def test_an_emergency_offboard_has_no_workday_record(self, signed_in):
        page = evidence_page(signed_in, make_past_case(emergency=True))
        assert "an emergency offboard, started without a Workday termination" in page

    def test_workday_text_is_escaped(self, signed_in):
        case = make_past_case(name="<script>alert(1)</script>", raw={"Worker": "<img src=x onerror=alert(1)>"})
        page = evidence_page(signed_in, case)
        assert "<script>alert" not in page and "<img src=x" not in page
        assert "&lt;img src=x onerror=alert(1)&gt;" in page

    def test_a_tampered_case_does_not_verify(self, signed_in):
        case = make_past_case()
        AuditEvent.record("case.approved", actor=Actor("alice"), case=case, after={"state": "approved"})
        run_sql("UPDATE offboarding_auditevent SET after = %s WHERE case_id = %s", '{"state": "rejected"}', case.pk)
        page = evidence_page(signed_in, case)
        assert "NOT verified:</strong>" in page
        response = signed_in.get(reverse("evidence_export", args=[case.pk]))
        assert json.loads(response.content)["audit_chain_verified"] is False

    def test_it_is_printable(self, signed_in, settings):
        page = evidence_page(signed_in, make_past_case())
        assert "css/audit.css" in page and "data-print" in page and "js/audit.js" in page
        css = (settings.BASE_DIR / "static/css/audit.css").read_text()
        assert "@media print" in css and ".topbar" in css.split("@media print")[1]

    def test_an_unknown_case_is_404(self, signed_in):
        assert signed_in.get(reverse("evidence", args=[999999])).status_code == 404
        assert signed_in.get(reverse("evidence_export", args=[999999])).status_code == 404


@pytest.mark.django_db
class TestLookingIsRecorded:
    def test_viewing_the_evidence_is_an_audit_event(self, signed_in):
        case = make_past_case()
        evidence_page(signed_in, case)
        event = AuditEvent.objects.get(action="audit.evidence_viewed")
        assert (event.actor.username, event.actor_name, event.case_id) == ("bob", "bob", case.pk)

    def test_exporting_the_evidence_is_an_audit_event(self, signed_in):
        case = make_past_case()
        signed_in.get(reverse("evidence_export", args=[case.pk]))
        event = AuditEvent.objects.get(action="audit.exported")
        assert (event.actor_name, event.case_id) == ("bob", case.pk)
        assert event.after == {"export": "evidence", "format": "json"}

    def test_the_next_viewer_sees_who_looked_before(self, signed_in):
        case = make_past_case()
        evidence_page(signed_in, case)
        page = evidence_page(signed_in, case)
        assert '<td>bob</td><td>Evidence viewed <code class="hint">audit.evidence_viewed</code></td>' in page

    def test_searching_alone_records_nothing(self, signed_in):
        make_past_case()
        signed_in.get(reverse("history"))
        assert not AuditEvent.objects.exists()
