"""The plan lists everything the leaver can reach through Okta, read over HTTP from the sandbox: every app
assignment (direct or through which group, deprovisioned by Okta or only blocked), the credentials provider,
admin roles, group ownerships and rule-managed memberships; what Okta will not undo is a follow-up."""

import pytest
import requests
from django.core.management import CommandError, call_command
from django.urls import reverse

from offboarding import decisions, identity, revocation, sync
from offboarding.clients.okta import OktaClient
from offboarding.evidence import evidence_of
from offboarding.models import AuditEvent, Case, Step
from tests.openapi_specs import check_okta


@pytest.fixture
def reach(org, leaver):
    """A leaver with an SSO-only app, a provisioned app through a group, an inactive app, a group they own and
    a group a rule manages; the ids of each."""
    person = leaver(employee_id="E200", days_ahead=-1)
    uid, vpn, github = person["user_id"], person["groups"][0], person["groups"][1]
    (ruled,) = org.add_okta_groups([{"name": "Engineering (rule) E200"}])
    rule = org.add_okta_rule("Engineers by department", [ruled["id"]], [uid])
    (owned,) = org.add_okta_groups([{"name": "Design reviewers E200"}])
    org.add_okta_group_owner(owned["id"], uid)
    sso = org.add_okta_app("Figma", sign_on_mode="SAML_2_0", users=[uid])
    provisioned = org.add_okta_app(
        "Slack", sign_on_mode="SAML_2_0", provisioning=True, deactivate_users=True, groups=[github]
    )
    inactive = org.add_okta_app("Old Wiki", sign_on_mode="AUTO_LOGIN", status="INACTIVE", users=[uid])
    return {
        **person,
        "org": org,
        "vpn": vpn,
        "github": github,
        "ruled": ruled["id"],
        "rule": rule["id"],
        "owned": owned["id"],
        "sso": sso["id"],
        "provisioned": provisioned["id"],
        "inactive": inactive["id"],
    }


def synced_case(employee_id: str) -> Case:
    sync.sync_workday()
    return Case.objects.get(termination__employee_id=employee_id)


class TestThePlanListsEverything:
    def test_each_app_says_how_it_is_assigned_and_whether_okta_deprovisions_its_account(self, reach):
        plan = synced_case("E200").plan
        apps = {app["id"]: app for app in plan["apps"]}
        assert set(apps) == {reach["sso"], reach["provisioned"], reach["inactive"]}
        assert apps[reach["sso"]] == {
            "id": reach["sso"],
            "label": "Figma",
            "name": "figma",
            "status": "ACTIVE",
            "via": "direct",
            "group_id": "",
            "deprovisions_on_deactivate": False,
            "universal_logout": False,
        }
        assert apps[reach["provisioned"]]["via"] == "GitHub Engineers E200"
        assert apps[reach["provisioned"]]["group_id"] == reach["github"]
        assert apps[reach["provisioned"]]["deprovisions_on_deactivate"] is True
        assert apps[reach["inactive"]]["status"] == "INACTIVE"
        assert apps[reach["inactive"]]["deprovisions_on_deactivate"] is False

    def test_ownerships_rule_memberships_provider_and_roles_are_listed(self, reach):
        plan = synced_case("E200").plan
        assert plan["owned_groups"] == [{"id": reach["owned"], "name": "Design reviewers E200"}]
        assert plan["rule_groups"] == [
            {
                "group_id": reach["ruled"],
                "group_name": "Engineering (rule) E200",
                "rule_id": reach["rule"],
                "rule_name": "Engineers by department",
            }
        ]
        assert plan["provider"] == {"type": "OKTA", "name": "OKTA"}
        assert plan["admin_roles"] == []

    def test_the_three_things_okta_will_not_undo_are_follow_ups(self, reach):
        items = identity.follow_ups(synced_case("E200").plan)
        assert [(item["kind"], item["target_id"]) for item in items] == [
            ("app", reach["sso"]),
            ("app", reach["inactive"]),
            ("group_owner", reach["owned"]),
        ]
        assert items[0]["what"] == "Deactivate the account in Figma and end the app's sessions"
        assert "inactive" in items[1]["what"] and "assignment" in items[1]["what"]
        assert "Design reviewers E200" in items[2]["what"]

    def test_a_directory_mastered_user_gets_a_follow_up_for_the_directory(self, org):
        user = org.add_okta_user("E201", "Ada", "Ngata", provider={"type": "ACTIVE_DIRECTORY", "name": "acme.local"})
        okta = OktaClient.from_settings()
        found = okta.get_user(user["id"])
        plan = identity.build_plan(found, [], identity.read_access(okta, found, []))
        assert plan["provider"] == {"type": "ACTIVE_DIRECTORY", "name": "acme.local"}
        (item,) = identity.follow_ups(plan)
        assert item["kind"] == "directory" and item["target_name"] == "acme.local"
        assert "Disable the account in acme.local" in item["what"]

    def test_an_app_with_universal_logout_is_a_follow_up_only_for_its_account(self):
        plan = {"apps": [{"id": "0oa1", "label": "Zoom", "status": "ACTIVE", "universal_logout": True}]}
        (item,) = identity.follow_ups(plan)
        assert item["what"] == "Deactivate the account in Zoom (Okta ends its sessions by Universal Logout)"

    def test_a_plan_stored_before_the_access_keys_reads_with_defaults(self):
        old = {"user": {"id": "00u1"}, "groups": [], "remove": [], "keep": [], "deactivate": True}
        assert identity.plan_access(old) == {
            "apps": [],
            "provider": {"type": "OKTA", "name": "OKTA"},
            "admin_roles": [],
            "owned_groups": [],
            "rule_groups": [],
        }
        assert identity.follow_ups(old) == []


class TestWhatRevocationLeavesAndDoes:
    def test_okta_deprovisions_only_the_provisioned_apps_account(self, reach, approver):
        case = decisions.approve(synced_case("E200").pk, approver, "HR confirmed")
        # Okta's part is done; the SSO-only and inactive apps' accounts and the ownership are follow-ups.
        assert revocation.run_case(case.pk) == Case.State.REVOKED_IN_OKTA
        apps = {app["id"]: app for app in reach["org"].okta_apps()}
        uid = reach["user_id"]
        assert apps[reach["provisioned"]]["accounts"][uid] == "DEPROVISIONED"
        assert apps[reach["sso"]]["accounts"][uid] == "ACTIVE"  # sign-in blocked only: the account stays
        assert uid in apps[reach["inactive"]]["users"]  # an inactive app's assignment is left

    def test_removing_a_rule_managed_member_puts_them_on_the_rules_exclusions(self, reach, approver):
        case = decisions.approve(synced_case("E200").pk, approver, "HR confirmed")
        revocation.run_case(case.pk)
        (rule,) = [r for r in reach["org"].okta_rules() if r["id"] == reach["rule"]]
        assert rule["exclude"] == [reach["user_id"]]

    def test_universal_logout_is_asked_for_when_an_app_offers_it_and_audited(self, org, leaver, approver):
        person = leaver(employee_id="E202", days_ahead=-1)
        org.add_okta_app("Zoom", sign_on_mode="OPENID_CONNECT", universal_logout=True, users=[person["user_id"]])
        case = decisions.approve(synced_case("E202").pk, approver, "HR confirmed")
        org.clear_requests()
        # Zoom's own account is left for a follow-up (its sessions are ended by Universal Logout).
        assert revocation.run_case(case.pk) == Case.State.REVOKED_IN_OKTA
        assert org.okta_user(person["user_id"])["universal_logouts"] == 1
        (zoom,) = org.okta_apps()
        assert zoom["sessions_ended"] == [person["user_id"]]
        step = Step.objects.get(case=case, kind=Step.Kind.UNIVERSAL_LOGOUT)
        assert step.status == Step.Status.DONE and step.detail == {"apps": ["Zoom"]}
        assert AuditEvent.objects.filter(case=case, action="okta.universal_logout.done").exists()
        paths = [(r["method"], r["path"]) for r in org.requests("okta")]
        logout = paths.index(("POST", "/oauth2/v1/global-token-revocation"))
        assert logout < paths.index(("POST", f"/api/v1/users/{person['user_id']}/lifecycle/deactivate"))

    def test_without_a_universal_logout_app_none_is_asked_for(self, reach, approver):
        case = decisions.approve(synced_case("E200").pk, approver, "HR confirmed")
        revocation.run_case(case.pk)
        assert not Step.objects.filter(case=case, kind=Step.Kind.UNIVERSAL_LOGOUT).exists()


class TestTheSandboxAnswersAsOktaDocuments:
    """Each new operation's answer is checked against Okta's spec (contracts/okta-management.json)."""

    def call(self, org, method, path, **kwargs):
        headers = {"Authorization": f"SSWS {org.okta_token}", "Accept": "application/json"}
        return requests.request(method, org.okta_url + path, headers=headers, timeout=10, **kwargs)

    def test_the_apps_of_a_user_and_how_each_is_assigned(self, reach):
        uid, org = reach["user_id"], reach["org"]
        apps = check_okta(self.call(org, "GET", "/api/v1/apps", params={"filter": f'user.id eq "{uid}"'})).json()
        scopes = {
            app["id"]: check_okta(self.call(org, "GET", f"/api/v1/apps/{app['id']}/users/{uid}")).json()["scope"]
            for app in apps
        }
        assert scopes == {reach["sso"]: "USER", reach["provisioned"]: "GROUP", reach["inactive"]: "USER"}
        groups = check_okta(self.call(org, "GET", f"/api/v1/apps/{reach['provisioned']}/groups")).json()
        assert [g["id"] for g in groups] == [reach["github"]]

    def test_an_app_without_provisioning_has_no_features(self, reach):
        response = check_okta(self.call(reach["org"], "GET", f"/api/v1/apps/{reach['sso']}/features"))
        assert response.status_code == 400 and response.json()["errorCode"] == "E0000001"
        assert response.json()["errorCauses"] == [{"errorSummary": "Provisioning is not enabled for the app instance."}]

    def test_a_provisioned_apps_features_say_whether_it_deactivates_users(self, reach):
        response = check_okta(self.call(reach["org"], "GET", f"/api/v1/apps/{reach['provisioned']}/features"))
        (provisioning,) = [f for f in response.json() if f["name"] == "USER_PROVISIONING"]
        assert provisioning["capabilities"]["update"]["lifecycleDeactivate"] == {"status": "ENABLED"}

    def test_group_owners_rules_and_roles(self, reach):
        org = reach["org"]
        owners = check_okta(self.call(org, "GET", f"/api/v1/groups/{reach['owned']}/owners")).json()
        assert [(o["id"], o["type"]) for o in owners] == [(reach["user_id"], "USER")]
        rules = check_okta(self.call(org, "GET", "/api/v1/groups/rules")).json()
        assert [r["actions"]["assignUserToGroups"]["groupIds"] for r in rules] == [[reach["ruled"]]]
        org.add_okta_role(reach["user_id"], "SUPER_ADMIN")
        roles = check_okta(self.call(org, "GET", f"/api/v1/users/{reach['user_id']}/roles")).json()
        assert [(r["type"], r["label"]) for r in roles] == [("SUPER_ADMIN", "Super Administrator")]

    def test_an_active_rule_is_replaced_only_once_deactivated(self, reach):
        org = reach["org"]
        path = f"/api/v1/groups/rules/{reach['rule']}"
        rule = self.call(org, "GET", path).json()
        rule["conditions"]["people"]["users"]["exclude"] = [reach["user_id"]]
        body = {k: rule[k] for k in ("type", "name", "conditions", "actions")}
        refused = check_okta(self.call(org, "PUT", path, json=body))
        assert refused.status_code == 400 and refused.json()["errorCode"] == "E0000001"
        assert check_okta(self.call(org, "POST", f"{path}/lifecycle/deactivate")).status_code == 204
        replaced = check_okta(self.call(org, "PUT", path, json=body))
        assert replaced.json()["conditions"]["people"]["users"]["exclude"] == [reach["user_id"]]

    def test_users_me_is_the_tokens_owner(self, reach):
        org = reach["org"]
        assert self.call(org, "GET", "/api/v1/users/me").status_code == 404  # no owner set
        org.set_token_owner(reach["user_id"])
        me = check_okta(self.call(org, "GET", "/api/v1/users/me")).json()
        assert me["id"] == reach["user_id"]

    def test_universal_logout_takes_an_opaque_subject(self, reach):
        org = reach["org"]
        bad = self.call(org, "POST", "/oauth2/v1/global-token-revocation", json={"sub_id": {"format": "email"}})
        assert bad.status_code == 400 and bad.json()["error"] == "invalid_request"
        body = {"sub_id": {"format": "opaque", "id": reach["user_id"]}}
        assert self.call(org, "POST", "/oauth2/v1/global-token-revocation", json=body).status_code == 204
        assert org.okta_user(reach["user_id"])["universal_logouts"] == 1


class TestItIsShown:
    def test_the_case_page_lists_apps_provider_roles_ownerships_and_rule_groups(self, reach, client, approver):
        reach["org"].add_okta_role(reach["user_id"], "SUPER_ADMIN")
        case = synced_case("E200")
        client.force_login(approver)
        page = client.get(reverse("case", args=[case.pk])).content.decode()
        assert "Figma" in page and "directly" in page
        assert "via group GitHub Engineers E200" in page
        assert "Okta deprovisions the account" in page
        assert "Sign-in blocked only — account stays" in page
        assert "Inactive app: the assignment is left as it is" in page
        assert "Super Administrator" in page
        assert "Design reviewers E200" in page
        assert "Engineering (rule) E200 (rule “Engineers by department”)" in page
        assert "Okta (Okta masters this user)" in page
        assert "What Okta will not undo (3)" in page

    def test_a_plan_stored_before_the_access_keys_still_shows(self, reach, client, approver):
        case = synced_case("E200")
        for key in ("apps", "provider", "admin_roles", "owned_groups", "rule_groups"):
            case.plan.pop(key)
        Case.objects.filter(pk=case.pk).update(plan=case.plan)
        client.force_login(approver)
        response = client.get(reverse("case", args=[case.pk]))
        assert response.status_code == 200 and "No app assignments." in response.content.decode()

    def test_the_dry_run_takes_a_case_id_and_prints_all_of_it(self, reach, capsys):
        case = synced_case("E200")
        capsys.readouterr()
        reach["org"].clear_requests()
        call_command("offboard", "--case", str(case.pk), "--dry-run")
        out = capsys.readouterr().out
        assert f"Case {case.pk}: Zoë Müller" in out
        assert "Would remove 3 group memberships:" in out  # VPN, GitHub, and the rule-managed group
        assert "Figma" in out and "directly: sign-in blocked only — account stays" in out
        assert "Slack" in out and "via group GitHub Engineers E200: Okta deprovisions the account" in out
        assert "Old Wiki" in out and "inactive app: the assignment is left" in out
        assert "Credentials provider: OKTA (OKTA)" in out
        assert "Owns groups: Design reviewers E200" in out
        assert "Rule-managed groups: Engineering (rule) E200 (rule Engineers by department)" in out
        assert "Follow-ups Okta will not do (3):" in out
        assert {r["method"] for r in reach["org"].requests("okta")} == {"GET"}  # it changes nothing

    def test_the_dry_run_by_employee_id_prints_it_too(self, reach, capsys):
        synced_case("E200")
        capsys.readouterr()
        call_command("offboard", "E200", "--dry-run")
        assert "Follow-ups Okta will not do (3):" in capsys.readouterr().out

    def test_the_dry_run_names_the_token_owner(self, reach, capsys):
        reach["org"].set_token_owner(reach["user_id"])
        case = synced_case("E200")
        capsys.readouterr()
        call_command("offboard", "--case", str(case.pk), "--dry-run")
        assert "NEVER OFFBOARDED BY THE PRODUCT" in capsys.readouterr().out

    def test_the_dry_run_wants_one_of_employee_or_case(self, db):
        with pytest.raises(CommandError, match="one of them"):
            call_command("offboard", "--dry-run")

    def test_the_evidence_includes_it(self, reach, client, auditor):
        case = synced_case("E200")
        record = evidence_of(case)
        assert {a["label"] for a in record["access"]["apps"]} == {"Figma", "Slack", "Old Wiki"}
        assert record["access"]["owned_groups"] == [{"id": reach["owned"], "name": "Design reviewers E200"}]
        assert [item["kind"] for item in record["not_undone_by_okta"]] == ["app", "app", "group_owner"]
        client.force_login(auditor)
        page = client.get(reverse("evidence", args=[case.pk])).content.decode()
        assert "Sign-in blocked only — account stays" in page and "What Okta will not undo (3)" in page


@pytest.mark.sandbox(demo=True, workers=30)
class TestTheDemoHasEachKindOfAccess:
    def plan_of(self, login):
        okta = OktaClient.from_settings()
        user = okta.find_user_by_login(login)
        groups = okta.list_user_groups(user.id)
        return identity.build_plan(user, groups, identity.read_access(okta, user, groups))

    def test_an_engineer_with_every_kind_of_app_an_ownership_and_a_rule_group(self, sandbox):
        plan = self.plan_of("tomas.novak@acme.example")
        apps = {a["label"]: a for a in plan["apps"]}
        assert apps["Zoom"]["universal_logout"] and apps["Zoom"]["via"] == "direct"
        assert apps["Legacy Wiki"]["status"] == "INACTIVE"
        assert apps["GitHub Enterprise"]["via"] == "eng-github-admins"
        assert plan["owned_groups"] == [{"id": plan["owned_groups"][0]["id"], "name": "eng-github-admins"}]
        assert [g["group_name"] for g in plan["rule_groups"]] == ["Engineering"]

    def test_a_directory_mastered_seller_and_the_protected_admins(self, sandbox):
        victor = self.plan_of("victor.hale@acme.example")
        assert victor["provider"] == {"type": "ACTIVE_DIRECTORY", "name": "acme.local"}
        assert {a["label"]: a["deprovisions_on_deactivate"] for a in victor["apps"]}["Salesforce"] is True
        assert self.plan_of("morgan.blake@acme.example")["admin_roles"][0]["type"] == "SUPER_ADMIN"
        assert OktaClient.from_settings().token_owner().login == "okta-automation@acme.example"


class TestACredentialWithoutTheNewScopes:
    def test_the_case_needs_a_person_instead_of_failing_the_lookup(self, org, leaver, settings):
        from sandbox.keys import SERVICE_APP_CLIENT_ID, SERVICE_APP_PRIVATE_KEY_PEM

        settings.OKTA_CLIENT_ID, settings.OKTA_PRIVATE_KEY = SERVICE_APP_CLIENT_ID, SERVICE_APP_PRIVATE_KEY_PEM
        settings.OKTA_SCOPES = ["okta.users.manage", "okta.groups.manage"]  # the scopes before apps and roles
        leaver(employee_id="E210", days_ahead=-1)
        case = synced_case("E210")
        assert case.identity == Case.Identity.EXACT and case.state == Case.State.NEEDS_ATTENTION
        assert "Okta refused to show this person's apps" in case.attention_reason
        assert case.plan["apps"] == [] and "okta.apps.read" in case.plan["access_note"]
