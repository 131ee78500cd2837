"""The simulated Okta, driven over HTTP; every answer it gives here is checked against Okta's OpenAPI spec."""

import http.client
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import jwt
import pytest
import requests

from sandbox.control import SandboxControlError
from sandbox.keys import SERVICE_APP_CLIENT_ID, SERVICE_APP_PRIVATE_KEY_PEM
from tests.openapi_specs import check_okta, validate_okta_error


def call(sandbox, method, path, token=None, **kwargs):
    headers = {"Accept": "application/json"}
    authorization = f"SSWS {sandbox.okta_token}" if token is None else token
    if authorization:
        headers["Authorization"] = authorization
    return requests.request(method, sandbox.okta_url + path, headers=headers, timeout=10, **kwargs)


def okta(sandbox, method, path, **kwargs):
    """A call whose request and answer must both be allowed by the Okta spec."""
    return check_okta(call(sandbox, method, path, **kwargs))


def assertion(sandbox, key=SERVICE_APP_PRIVATE_KEY_PEM, **claims):
    now = int(time.time())
    payload = {
        "iss": SERVICE_APP_CLIENT_ID,
        "sub": SERVICE_APP_CLIENT_ID,
        "aud": f"{sandbox.okta_url}/oauth2/v1/token",
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
        **claims,
    }
    return jwt.encode(payload, key, algorithm="RS256")


def request_token(sandbox, scope="okta.users.manage okta.groups.manage", client_assertion=None):
    return requests.post(
        f"{sandbox.okta_url}/oauth2/v1/token",
        data={
            "grant_type": "client_credentials",
            "scope": scope,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": client_assertion or assertion(sandbox),
        },
        timeout=10,
    )


def first_user(sandbox):
    return call(sandbox, "GET", "/api/v1/users", params={"limit": 1}).json()[0]


def assert_okta_error(response, status, code):
    assert response.status_code == status, response.text
    body = validate_okta_error(response.content)
    assert body["errorCode"] == code
    return body


class TestApiTokenAuthentication:
    def test_it_accepts_the_ssws_token(self, sandbox):
        assert okta(sandbox, "GET", "/api/v1/users").status_code == 200

    def test_it_takes_the_token_without_a_space_after_ssws_as_okta_does(self, sandbox):
        # Okta's own Python SDK (3.x) sends it so.
        assert okta(sandbox, "GET", "/api/v1/users", token=f"SSWS{sandbox.okta_token}").status_code == 200

    @pytest.mark.parametrize(
        "header", ["SSWS wrong-token", "SSWSwrong-token", "Bearer not-a-token", "", "Basic Zm9vOmJhcg=="]
    )
    def test_it_answers_e0000011_for_bad_or_missing_credentials(self, sandbox, header):
        response = call(sandbox, "GET", "/api/v1/users", token=header)
        assert_okta_error(response, 401, "E0000011")
        assert response.headers["X-Okta-Request-Id"]


@pytest.mark.sandbox(okta_require_dpop=False)
class TestOAuthServiceApp:
    """A service app that does not require DPoP: Bearer tokens (the DPoP checks: test_sandbox_okta_dpop.py)."""

    def test_it_issues_a_bearer_token_for_a_signed_client_assertion(self, sandbox):
        response = request_token(sandbox, scope="okta.users.read")
        assert response.status_code == 200, response.text
        token = response.json()
        assert token["token_type"] == "Bearer" and token["scope"] == "okta.users.read"
        assert token["expires_in"] == 3600
        users = okta(sandbox, "GET", "/api/v1/users", token=f"Bearer {token['access_token']}")
        assert users.status_code == 200

    def test_it_answers_403_when_the_token_lacks_the_scope(self, sandbox):
        token = request_token(sandbox, scope="okta.users.read").json()["access_token"]
        user = first_user(sandbox)
        group = next(
            g for g in call(sandbox, "GET", f"/api/v1/users/{user['id']}/groups").json() if g["type"] == "OKTA_GROUP"
        )
        response = okta(sandbox, "DELETE", f"/api/v1/groups/{group['id']}/users/{user['id']}", token=f"Bearer {token}")
        assert_okta_error(response, 403, "E0000006")
        assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]

    def test_manage_scope_implies_read(self, sandbox):
        token = request_token(sandbox, scope="okta.users.manage").json()["access_token"]
        assert okta(sandbox, "GET", "/api/v1/users", token=f"Bearer {token}").status_code == 200

    @pytest.mark.sandbox(okta_token_lifetime=1)
    def test_it_refuses_an_expired_token(self, sandbox):
        token = request_token(sandbox).json()["access_token"]
        assert call(sandbox, "GET", "/api/v1/users", token=f"Bearer {token}").status_code == 200
        sandbox.advance_clock(1.2)
        response = call(sandbox, "GET", "/api/v1/users", token=f"Bearer {token}")
        assert_okta_error(response, 401, "E0000011")
        assert "expired" in response.headers["WWW-Authenticate"]

    def test_it_refuses_an_assertion_signed_with_another_key(self, sandbox):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        response = request_token(sandbox, client_assertion=assertion(sandbox, key=other))
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"

    @pytest.mark.parametrize(
        "claims",
        [
            {"aud": "https://acme.okta.com/oauth2/v1/token"},
            {"iss": "0oa-someone-else"},
            {"sub": "0oa-someone-else"},
            {"exp": int(time.time()) - 60},
            {"exp": int(time.time()) + 7200},
        ],
        ids=["wrong-audience", "wrong-issuer", "wrong-subject", "expired", "too-long-lived"],
    )
    def test_it_refuses_an_assertion_with_wrong_claims(self, sandbox, claims):
        response = request_token(sandbox, client_assertion=assertion(sandbox, **claims))
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_client"

    def test_it_refuses_a_replayed_assertion(self, sandbox):
        signed = assertion(sandbox)
        assert request_token(sandbox, client_assertion=signed).status_code == 200
        assert request_token(sandbox, client_assertion=signed).status_code == 401

    def test_it_refuses_scopes_the_app_was_not_granted(self, sandbox):
        response = request_token(sandbox, scope="okta.users.read okta.policies.manage")
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_scope"

    def test_it_refuses_other_grant_types(self, sandbox):
        response = requests.post(
            f"{sandbox.okta_url}/oauth2/v1/token", data={"grant_type": "password", "scope": "x"}, timeout=10
        )
        assert response.status_code == 400
        assert response.json()["error"] == "unsupported_grant_type"


class TestUserSearch:
    @pytest.fixture
    def people(self, sandbox):
        return {
            "active": sandbox.add_okta_user("77001", "Ada", "Lovelace", login="ada@acme.example"),
            "gone": sandbox.add_okta_user("77002", "Alan", "Turing", status="DEPROVISIONED"),
            "twin": sandbox.add_okta_user("77002", "Alan", "Turing-Admin", login="alan.admin@acme.example"),
        }

    def test_it_finds_users_by_employee_number_including_deprovisioned(self, sandbox, people):
        response = okta(sandbox, "GET", "/api/v1/users", params={"search": 'profile.employeeNumber eq "77002"'})
        assert {u["id"] for u in response.json()} == {people["gone"]["id"], people["twin"]["id"]}

    def test_it_joins_clauses_with_and(self, sandbox, people):
        search = 'profile.employeeNumber eq "77002" and status eq "DEPROVISIONED"'
        response = okta(sandbox, "GET", "/api/v1/users", params={"search": search})
        assert [u["id"] for u in response.json()] == [people["gone"]["id"]]

    def test_search_values_are_case_insensitive(self, sandbox, people):
        response = okta(sandbox, "GET", "/api/v1/users", params={"search": 'profile.login eq "ADA@acme.example"'})
        assert [u["id"] for u in response.json()] == [people["active"]["id"]]

    def test_the_plain_list_leaves_deprovisioned_users_out(self, sandbox, people):
        ids = {u["id"] for u in okta(sandbox, "GET", "/api/v1/users").json()}
        assert people["active"]["id"] in ids and people["gone"]["id"] not in ids

    def test_filter_includes_deprovisioned_users_and_is_case_sensitive(self, sandbox, people):
        found = okta(sandbox, "GET", "/api/v1/users", params={"filter": 'status eq "DEPROVISIONED"'}).json()
        assert people["gone"]["id"] in {u["id"] for u in found}
        exact = okta(sandbox, "GET", "/api/v1/users", params={"filter": 'profile.login eq "ADA@acme.example"'})
        assert exact.json() == []

    def test_filter_refuses_properties_okta_cannot_filter_on(self, sandbox, people):
        response = call(sandbox, "GET", "/api/v1/users", params={"filter": 'profile.employeeNumber eq "77002"'})
        assert_okta_error(response, 400, "E0000031")

    def test_it_refuses_a_malformed_search(self, sandbox):
        response = call(sandbox, "GET", "/api/v1/users", params={"search": "profile.employeeNumber = 77002"})
        assert_okta_error(response, 400, "E0000031")

    def test_it_pages_with_limit_and_an_opaque_after_cursor(self, sandbox):
        seen, url, pages = [], f"{sandbox.okta_url}/api/v1/users?limit=4", 0
        while url:
            response = check_okta(
                requests.get(url, headers={"Authorization": f"SSWS {sandbox.okta_token}"}, timeout=10)
            )
            seen += [u["id"] for u in response.json()]
            url = response.links.get("next", {}).get("url")
            pages += 1
            if url:
                assert url.startswith(sandbox.okta_url)
        everyone = okta(sandbox, "GET", "/api/v1/users").json()
        assert pages == 3 and len(seen) == 10
        assert seen == [u["id"] for u in everyone]

    def test_it_refuses_a_forged_cursor(self, sandbox):
        response = call(sandbox, "GET", "/api/v1/users", params={"after": first_user(sandbox)["id"]})
        assert_okta_error(response, 400, "E0000001")


class TestGetUser:
    def test_it_finds_a_user_by_id_or_login(self, sandbox):
        user = first_user(sandbox)
        assert okta(sandbox, "GET", f"/api/v1/users/{user['id']}").json()["id"] == user["id"]
        by_login = okta(sandbox, "GET", f"/api/v1/users/{user['profile']['login']}")
        assert by_login.json()["id"] == user["id"]

    def test_it_answers_e0000007_for_an_unknown_user(self, sandbox):
        assert_okta_error(okta(sandbox, "GET", "/api/v1/users/00uNOBODY"), 404, "E0000007")

    def test_it_answers_e0000008_for_an_unknown_path(self, sandbox):
        assert_okta_error(call(sandbox, "GET", "/api/v1/nothing-here"), 404, "E0000008")


class TestUserGroups:
    @pytest.fixture
    def member_of_seven(self, sandbox):
        groups = [sandbox.add_okta_group(f"Team {n}")["id"] for n in range(6)]
        return sandbox.add_okta_user("88001", "Grace", "Hopper", groups=groups)

    @pytest.mark.sandbox(okta_page_size=3)
    def test_it_pages_groups_with_a_link_header(self, sandbox):
        groups = [sandbox.add_okta_group(f"Team {n}")["id"] for n in range(6)]
        user = sandbox.add_okta_user("88001", "Grace", "Hopper", groups=groups)
        response = okta(sandbox, "GET", f"/api/v1/users/{user['id']}/groups")
        assert len(response.json()) == 3
        next_url = response.links["next"]["url"]
        assert next_url.startswith(f"{sandbox.okta_url}/api/v1/users/{user['id']}/groups?after=")
        names = [g["profile"]["name"] for g in response.json()]
        while next_url:
            response = check_okta(
                requests.get(next_url, headers={"Authorization": f"SSWS {sandbox.okta_token}"}, timeout=10)
            )
            names += [g["profile"]["name"] for g in response.json()]
            next_url = response.links.get("next", {}).get("url")
        assert sorted(names) == sorted(["Everyone"] + [f"Team {n}" for n in range(6)])

    def test_it_pages_at_200_by_default(self, sandbox, member_of_seven):
        response = okta(sandbox, "GET", f"/api/v1/users/{member_of_seven['id']}/groups")
        assert len(response.json()) == 7
        assert "next" not in response.links

    @pytest.mark.sandbox(okta_page_size=2)
    def test_removing_groups_while_paging_skips_none(self, sandbox):
        groups = [sandbox.add_okta_group(f"Team {n}")["id"] for n in range(5)]
        user = sandbox.add_okta_user("88002", "Katherine", "Johnson", groups=groups)
        seen, url = [], f"{sandbox.okta_url}/api/v1/users/{user['id']}/groups"
        while url:
            response = requests.get(url, headers={"Authorization": f"SSWS {sandbox.okta_token}"}, timeout=10)
            for group in response.json():
                seen.append(group["id"])
                if group["type"] == "OKTA_GROUP":
                    call(sandbox, "DELETE", f"/api/v1/groups/{group['id']}/users/{user['id']}")
            url = response.links.get("next", {}).get("url")
        assert len(seen) == 6
        assert [g["name"] for g in sandbox.okta_user(user["id"])["groups"]] == ["Everyone"]

    def test_it_answers_e0000007_for_an_unknown_user(self, sandbox):
        assert_okta_error(okta(sandbox, "GET", "/api/v1/users/00uNOBODY/groups"), 404, "E0000007")


class TestGroupMembership:
    @pytest.fixture
    def user(self, sandbox):
        return sandbox.add_okta_user("99001", "Margaret", "Hamilton")

    def test_it_removes_and_adds_an_okta_group_membership(self, sandbox, user):
        group = sandbox.add_okta_group("eng-github-admins")
        assert okta(sandbox, "PUT", f"/api/v1/groups/{group['id']}/users/{user['id']}").status_code == 204
        assert "eng-github-admins" in [g["name"] for g in sandbox.okta_user(user["id"])["groups"]]
        assert okta(sandbox, "DELETE", f"/api/v1/groups/{group['id']}/users/{user['id']}").status_code == 204
        assert "eng-github-admins" not in [g["name"] for g in sandbox.okta_user(user["id"])["groups"]]

    def test_removing_a_membership_twice_is_harmless(self, sandbox, user):
        group = sandbox.add_okta_group("VPN Users")
        assert okta(sandbox, "DELETE", f"/api/v1/groups/{group['id']}/users/{user['id']}").status_code == 204

    def test_it_answers_e0000060_for_the_everyone_group(self, sandbox, user):
        everyone = next(g for g in sandbox.okta_user(user["id"])["groups"] if g["type"] == "BUILT_IN")
        response = okta(sandbox, "DELETE", f"/api/v1/groups/{everyone['id']}/users/{user['id']}")
        body = assert_okta_error(response, 403, "E0000060")
        assert body["errorSummary"] == "Unsupported operation."
        assert everyone in sandbox.okta_user(user["id"])["groups"]

    def test_it_answers_e0000006_for_an_app_group(self, sandbox, user):
        group = sandbox.add_okta_group("AD: Sales (imported)", type="APP_GROUP")
        sandbox.add_okta_membership(group["id"], user["id"])
        response = okta(sandbox, "DELETE", f"/api/v1/groups/{group['id']}/users/{user['id']}")
        assert_okta_error(response, 403, "E0000006")
        assert group["id"] in [g["id"] for g in sandbox.okta_user(user["id"])["groups"]]

    def test_it_answers_e0000007_for_an_unknown_group_or_user(self, sandbox, user):
        group = sandbox.add_okta_group("Zoom Users")
        assert_okta_error(okta(sandbox, "DELETE", f"/api/v1/groups/00gNOPE/users/{user['id']}"), 404, "E0000007")
        assert_okta_error(okta(sandbox, "DELETE", f"/api/v1/groups/{group['id']}/users/00uNOPE"), 404, "E0000007")


class TestSessions:
    def test_it_records_sessions_and_oauth_tokens_revoked(self, sandbox):
        user = first_user(sandbox)
        response = okta(sandbox, "DELETE", f"/api/v1/users/{user['id']}/sessions", params={"oauthTokens": "true"})
        assert response.status_code == 204
        state = sandbox.okta_user(user["id"])
        assert state["sessions_revoked"] and state["oauth_tokens_revoked"]

    def test_without_oauth_tokens_only_sessions_are_revoked(self, sandbox):
        user = first_user(sandbox)
        okta(sandbox, "DELETE", f"/api/v1/users/{user['id']}/sessions")
        state = sandbox.okta_user(user["id"])
        assert state["sessions_revoked"] and not state["oauth_tokens_revoked"]

    def test_it_answers_e0000007_for_an_unknown_user(self, sandbox):
        assert_okta_error(okta(sandbox, "DELETE", "/api/v1/users/00uNOPE/sessions"), 404, "E0000007")


class TestLifecycle:
    def test_deactivate_makes_an_active_user_deprovisioned(self, sandbox):
        user = first_user(sandbox)
        response = okta(
            sandbox, "POST", f"/api/v1/users/{user['id']}/lifecycle/deactivate", params={"sendEmail": "false"}
        )
        assert response.status_code == 200
        assert okta(sandbox, "GET", f"/api/v1/users/{user['id']}").json()["status"] == "DEPROVISIONED"

    def test_deactivate_works_on_a_suspended_user(self, sandbox):
        user = sandbox.add_okta_user("66001", "Hedy", "Lamarr", status="SUSPENDED")
        assert okta(sandbox, "POST", f"/api/v1/users/{user['id']}/lifecycle/deactivate").status_code == 200
        assert sandbox.okta_user(user["id"])["status"] == "DEPROVISIONED"

    def test_deactivating_a_deprovisioned_user_answers_e0000007(self, sandbox):
        user = first_user(sandbox)
        okta(sandbox, "POST", f"/api/v1/users/{user['id']}/lifecycle/deactivate")
        response = okta(sandbox, "POST", f"/api/v1/users/{user['id']}/lifecycle/deactivate")
        assert_okta_error(response, 404, "E0000007")

    def test_respond_async_answers_202_and_finishes_later(self, sandbox):
        user = first_user(sandbox)
        response = requests.post(
            f"{sandbox.okta_url}/api/v1/users/{user['id']}/lifecycle/deactivate",
            headers={"Authorization": f"SSWS {sandbox.okta_token}", "Prefer": "respond-async"},
            timeout=10,
        )
        # Okta's spec lists only 200 for this operation; its docs describe the asynchronous 202.
        assert response.status_code == 202
        during = okta(sandbox, "GET", f"/api/v1/users/{user['id']}").json()
        assert during["status"] == "ACTIVE" and during["transitioningToStatus"] == "DEPROVISIONED"
        sandbox.advance_clock(sandbox.config()["okta_async_delay"])
        after = okta(sandbox, "GET", f"/api/v1/users/{user['id']}").json()
        assert after["status"] == "DEPROVISIONED" and "transitioningToStatus" not in after

    def test_suspend_and_unsuspend_follow_the_status_rules(self, sandbox):
        user = first_user(sandbox)
        assert okta(sandbox, "POST", f"/api/v1/users/{user['id']}/lifecycle/suspend").status_code == 200
        assert sandbox.okta_user(user["id"])["status"] == "SUSPENDED"
        assert_okta_error(okta(sandbox, "POST", f"/api/v1/users/{user['id']}/lifecycle/suspend"), 400, "E0000001")
        assert okta(sandbox, "POST", f"/api/v1/users/{user['id']}/lifecycle/unsuspend").status_code == 200
        assert_okta_error(okta(sandbox, "POST", f"/api/v1/users/{user['id']}/lifecycle/unsuspend"), 400, "E0000001")
        assert sandbox.okta_user(user["id"])["status"] == "ACTIVE"

    def test_activate_refuses_an_active_user(self, sandbox):
        user = first_user(sandbox)
        assert_okta_error(okta(sandbox, "POST", f"/api/v1/users/{user['id']}/lifecycle/activate"), 403, "E0000016")

    def test_a_deprovisioned_user_can_be_activated_but_not_reactivated(self, sandbox):
        user = sandbox.add_okta_user("66002", "Radia", "Perlman", status="DEPROVISIONED")
        reactivate = okta(sandbox, "POST", f"/api/v1/users/{user['id']}/lifecycle/reactivate")
        assert_okta_error(reactivate, 403, "E0000038")
        activate = okta(
            sandbox, "POST", f"/api/v1/users/{user['id']}/lifecycle/activate", params={"sendEmail": "false"}
        )
        assert activate.status_code == 200 and activate.json()["activationToken"]
        assert sandbox.okta_user(user["id"])["status"] == "PROVISIONED"
        assert okta(sandbox, "POST", f"/api/v1/users/{user['id']}/lifecycle/reactivate").status_code == 200

    def test_a_post_without_content_length_gets_411(self, sandbox):
        user = first_user(sandbox)
        address = urlsplit(sandbox.url)
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
        connection.putrequest("POST", f"/okta/api/v1/users/{user['id']}/lifecycle/deactivate")
        connection.putheader("Authorization", f"SSWS {sandbox.okta_token}")
        connection.endheaders()
        response = connection.getresponse()
        assert response.status == 411
        connection.close()
        assert sandbox.okta_user(user["id"])["status"] == "ACTIVE"


class TestRateLimits:
    def test_every_answer_carries_rate_limit_headers_and_a_request_id(self, sandbox):
        for response in (
            call(sandbox, "GET", "/api/v1/users"),
            call(sandbox, "GET", "/api/v1/users/00uNOPE"),
            call(sandbox, "GET", "/api/v1/users", token="SSWS wrong"),
        ):
            for header in ("X-Rate-Limit-Limit", "X-Rate-Limit-Remaining", "X-Rate-Limit-Reset", "X-Okta-Request-Id"):
                assert response.headers.get(header), (header, response.status_code)
            assert int(response.headers["X-Rate-Limit-Reset"]) >= int(time.time())

    @pytest.mark.sandbox(rate_limits={"/api/v1/users": 3, "GET /api/v1/users/{id}": 5}, rate_limit_window=3600)
    def test_it_counts_down_per_family_and_answers_e0000047_past_the_limit(self, sandbox):
        user_id = first_user(sandbox)["id"]  # one of the 3
        remaining = [int(call(sandbox, "GET", "/api/v1/users").headers["X-Rate-Limit-Remaining"]) for _ in range(2)]
        assert remaining == [1, 0]
        limited = call(sandbox, "GET", "/api/v1/users")
        assert_okta_error(limited, 429, "E0000047")
        check_okta(limited)
        assert limited.headers["X-Rate-Limit-Limit"] == "3" and limited.headers["X-Rate-Limit-Remaining"] == "0"
        # GET /api/v1/users/{id} is a family of its own, with its own limit.
        single = call(sandbox, "GET", f"/api/v1/users/{user_id}")
        assert single.status_code == 200 and single.headers["X-Rate-Limit-Limit"] == "5"

    @pytest.mark.sandbox(rate_limits={"/api/v1/users": 2, "/api/v1/groups": 4}, rate_limit_window=3600)
    def test_a_limit_changed_without_a_reset_holds_from_the_next_call_the_window_s_calls_still_counted(self, sandbox):
        assert [call(sandbox, "GET", "/api/v1/users").status_code for _ in range(3)] == [200, 200, 429]
        config = sandbox.set_rate_limits({"/api/v1/users": 4})
        assert config["rate_limits"]["/api/v1/users"] == 4 and config["rate_limits"]["/api/v1/groups"] == 4
        raised = call(sandbox, "GET", "/api/v1/users")
        assert raised.status_code == 200 and raised.headers["X-Rate-Limit-Limit"] == "4"
        assert raised.headers["X-Rate-Limit-Remaining"] == "0"  # the three before (the refused one too) still count
        assert_okta_error(call(sandbox, "GET", "/api/v1/users"), 429, "E0000047")
        assert len(sandbox.okta_users()) == sandbox.config()["users"]  # the world is the same one

    @pytest.mark.parametrize(
        "limits", [{"/api/v2/everything": 5}, {"/api/v1/users": 0}, {"/api/v1/users": "many"}, {"/api/v1/users": True}]
    )
    def test_a_limit_it_cannot_use_is_refused_and_changes_nothing(self, sandbox, limits):
        before = sandbox.config()["rate_limits"]
        with pytest.raises(SandboxControlError, match="400"):
            sandbox.set_rate_limits(limits)
        assert sandbox.config()["rate_limits"] == before

    @pytest.mark.sandbox(rate_limits={"/api/v1/users": 2}, rate_limit_window=1)
    def test_it_recovers_after_the_reset_time(self, sandbox):
        for _ in range(20):
            limited = call(sandbox, "GET", "/api/v1/users")
            if limited.status_code == 429:
                break
        assert limited.status_code == 429
        # Okta's reset is in epoch seconds of its own clock, the one its Date header gives.
        answered_at = parsedate_to_datetime(limited.headers["Date"]).timestamp()
        sandbox.advance_clock(int(limited.headers["X-Rate-Limit-Reset"]) - answered_at)
        assert call(sandbox, "GET", "/api/v1/users").status_code == 200

    @pytest.mark.sandbox(concurrency_limit=2)
    def test_it_refuses_requests_past_the_concurrency_limit(self, sandbox):
        sandbox.fault("okta", "latency", "GET /api/v1/users", seconds=1.0)
        with ThreadPoolExecutor(max_workers=6) as pool:
            responses = list(pool.map(lambda _: call(sandbox, "GET", "/api/v1/users"), range(6)))
        statuses = sorted(r.status_code for r in responses)
        assert statuses.count(200) >= 1 and statuses.count(429) >= 1, statuses
        refused = next(r for r in responses if r.status_code == 429)
        assert_okta_error(refused, 429, "E0000047")
        assert refused.headers["X-Rate-Limit-Limit"] == "0"

    @pytest.mark.sandbox(rate_limits={"/api/v1/users": 7}, rate_limit_window=2, concurrency_limit=9)
    def test_the_configuration_is_readable(self, sandbox):
        config = sandbox.config()
        assert config["rate_limits"]["/api/v1/users"] == 7
        assert config["rate_limit_window"] == 2 and config["concurrency_limit"] == 9
