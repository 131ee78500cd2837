"""Restore does things in Okta's order: reactivate first (Okta refuses group and app assignments to a deactivated
user), then the rule exclusions, the groups and the direct app assignments; what Okta refused is named."""

import pytest
import requests

from offboarding import decisions, restore, revocation, sync
from offboarding.models import AuditEvent, Case, Step
from tests.openapi_specs import check_okta


@pytest.fixture
def revoked(org, leaver, make_user):
    """A revoked leaver who had a rule-managed group, a direct SSO app, an app through a group and an inactive
    app; a restore requested and approved by two people."""

    def make(before_restore=None) -> dict:
        person = leaver(employee_id="E400", days_ahead=-1)
        uid = person["user_id"]
        groups = {g["name"]: g["id"] for g in org.okta_user(uid)["groups"]}
        (ruled,) = org.add_okta_groups([{"name": "Engineering (rule) E400"}])
        rule = org.add_okta_rule("Engineers by department", [ruled["id"]], [uid])
        sso = org.add_okta_app("Figma", users=[uid])
        slack = org.add_okta_app("Slack", provisioning=True, deactivate_users=True, groups=[groups["VPN Users E400"]])
        wiki = org.add_okta_app("Old Wiki", status="INACTIVE", users=[uid])
        sync.sync_workday()
        case = Case.objects.get(termination__employee_id="E400")
        case = decisions.approve(case.pk, make_user("zed", "approvers"), "HR confirmed")
        assert revocation.run_case(case.pk) == Case.State.REVOKED_IN_OKTA  # Figma, Old Wiki: follow-ups
        decisions.request_restore(case.pk, make_user("ann", "approvers"), "rescinded")
        decisions.approve_restore(case.pk, make_user("ben", "approvers"))
        if before_restore:
            before_restore()
        org.clear_requests()
        return {
            "case": case,
            "uid": uid,
            "groups": groups,
            "ruled": ruled["id"],
            "rule": rule["id"],
            "sso": sso["id"],
            "slack": slack["id"],
            "wiki": wiki["id"],
        }

    return make


def calls(org) -> list[str]:
    return [f"{r['method']} {r['path']}" for r in org.requests("okta")]


def restore_event(case) -> AuditEvent:
    return AuditEvent.objects.filter(case=case, action__in=["case.restored", "case.restore_failed"]).latest("at")


class TestRestoreOrder:
    def test_it_reactivates_before_any_assignment(self, org, revoked):
        r = revoked()
        assert restore.restore_case(r["case"].pk) == "restored"
        made = calls(org)
        activate = made.index(f"POST /api/v1/users/{r['uid']}/lifecycle/activate")
        assignments = [i for i, c in enumerate(made) if c.startswith("PUT /api/v1/groups/") or "/apps/" in c]
        assert assignments and activate < min(assignments)
        event = restore_event(r["case"])
        assert event.after["order"] == ["reactivate", "rule exclusions", "groups", "apps"]

    def test_groups_the_rule_and_the_direct_app_come_back(self, org, revoked):
        r = revoked()
        restore.restore_case(r["case"].pk)
        state = org.okta_user(r["uid"])
        assert state["status"] == "PROVISIONED"
        assert {r["groups"]["VPN Users E400"], r["groups"]["GitHub Engineers E400"], r["ruled"]} <= {
            g["id"] for g in state["groups"]
        }
        (rule,) = org.okta_rules()
        assert rule["exclude"] == [] and rule["status"] == "ACTIVE"
        assert set(state["apps"]) == {r["sso"], r["slack"], r["wiki"]}  # Slack through its group again
        made = calls(org)
        path = f"/api/v1/groups/rules/{r['rule']}"
        rule_calls = [c for c in made if path in c and not c.startswith("GET")]
        assert rule_calls == [f"POST {path}/lifecycle/deactivate", f"PUT {path}", f"POST {path}/lifecycle/activate"]
        assert made.count(f"POST /api/v1/apps/{r['sso']}/users") == 1
        assert not any(f"/apps/{r['wiki']}/users" in c or f"/apps/{r['slack']}/users" in c for c in made)
        steps = {s.kind for s in Step.objects.filter(case=r["case"], status=Step.Status.DONE)}
        assert {Step.Kind.REACTIVATE, Step.Kind.RESTORE_RULE, Step.Kind.RESTORE_GROUP, Step.Kind.RESTORE_APP} <= steps


class TestRefusals:
    def test_okta_refuses_a_group_assignment_to_a_deactivated_user(self, org, revoked):
        r = revoked()
        group = r["groups"]["VPN Users E400"]
        response = requests.put(
            f"{org.okta_url}/api/v1/groups/{group}/users/{r['uid']}",
            headers={"Authorization": f"SSWS {org.okta_token}", "Accept": "application/json"},
            timeout=10,
        )
        check_okta(response)
        assert response.status_code == 404 and response.json()["errorCode"] == "E0000007"

    def test_what_okta_refused_is_named_when_reactivation_fails(self, org, revoked):
        def refuse_activation():
            org.fault("okta", "error", endpoint="POST /api/v1/users/*/lifecycle/activate", status=503)

        r = revoked(before_restore=refuse_activation)
        assert restore.restore_case(r["case"].pk) == "restore incomplete"
        case = Case.objects.get(pk=r["case"].pk)
        assert case.state == Case.State.NEEDS_ATTENTION and case.restored_at is None
        refused = {(item["step"], item["target"]) for item in restore_event(case).after["refused"]}
        assert ("reactivate", r["uid"]) in refused
        assert ("restore_group", r["groups"]["VPN Users E400"]) in refused  # Okta: no such (active) user
        assert ("restore_app", r["sso"]) in refused
        group_step = Step.objects.get(case=case, kind=Step.Kind.RESTORE_GROUP, target=r["groups"]["VPN Users E400"])
        assert group_step.vendor_code == "E0000007"
        assert "Okta refused" in case.attention_reason and "Figma" in case.attention_reason

    def test_a_rule_exclusion_okta_will_not_clear_is_named_as_a_follow_up(self, org, revoked):
        def refuse_rule_update():
            org.fault("okta", "error", endpoint="PUT /api/v1/groups/rules/*", status=503)

        r = revoked(before_restore=refuse_rule_update)
        restore.restore_case(r["case"].pk)
        case = Case.objects.get(pk=r["case"].pk)
        (follow_up,) = restore_event(case).after["follow_ups"]
        assert follow_up["kind"] == "rule_group" and follow_up["target_id"] == r["ruled"]
        assert "Engineers by department" in case.attention_reason
        (rule,) = org.okta_rules()
        assert rule["status"] == "ACTIVE"  # never left deactivated
        assert rule["exclude"] == [r["uid"]]
