"""The Okta client against the simulated Okta org, over real HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from offboarding.clients.errors import (
    AuthenticationFailed,
    InvalidId,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    RateLimited,
    TransientError,
)
from offboarding.clients.okta import OktaClient
from offboarding.clients.transport import tries_counted
from sandbox.keys import SERVICE_APP_CLIENT_ID, SERVICE_APP_PRIVATE_KEY_PEM
from tests.client_fixtures import FAST
from tests.fake_clock import FakeClock


class NoPacing:
    def before_request(self, method: str, path: str) -> None:
        pass

    def observe(self, method: str, path: str, response: Any) -> None:
        pass

    def release(self, method: str, path: str) -> None:
        pass


def okta_calls(sandbox: Any, method: str | None = None, contains: str = "") -> list[dict]:
    return [r for r in sandbox.requests("okta") if (method is None or r["method"] == method) and contains in r["path"]]


@pytest.fixture
def person(sandbox: Any) -> dict:
    engineering = sandbox.add_okta_group("Engineering")
    return sandbox.add_okta_user("E9001", "Ada", "Lovelace", groups=[engineering["id"]], department="R&D")


class TestFindingUsers:
    def test_it_finds_a_user_by_employee_number(self, okta: OktaClient, person: dict) -> None:
        [user] = okta.find_users_by_employee_number("E9001")
        assert user.id == person["id"]
        assert (user.first_name, user.last_name, user.employee_number) == ("Ada", "Lovelace", "E9001")
        assert user.status == "ACTIVE"
        assert user.profile["department"] == "R&D"

    def test_it_includes_deprovisioned_users(self, okta: OktaClient, sandbox: Any) -> None:
        gone = sandbox.add_okta_user("E9002", "Old", "Account", status="DEPROVISIONED")
        assert [u.id for u in okta.find_users_by_employee_number("E9002")] == [gone["id"]]

    def test_it_finds_nobody_for_an_unknown_employee_number(self, okta: OktaClient, sandbox: Any) -> None:
        assert okta.find_users_by_employee_number('no-such "number"') == []

    def test_it_finds_a_user_by_login(self, okta: OktaClient, person: dict) -> None:
        user = okta.find_user_by_login(person["profile"]["login"])
        assert user is not None and user.id == person["id"]
        assert okta.find_user_by_login("nobody@example.com") is None

    def test_it_finds_users_by_the_start_of_their_login_in_any_case(self, okta: OktaClient, sandbox: Any) -> None:
        found = sandbox.add_okta_user("E9003", "Break-Glass", "Admin", login="BreakGlass-Admin@acme.example")
        assert [u.id for u in okta.find_users_by_login_prefix("breakglass")] == [found["id"]]
        assert okta.find_users_by_login_prefix("glass") == []

    def test_it_searches_users_by_name(self, okta: OktaClient, person: dict) -> None:
        assert person["id"] in [u.id for u in okta.search_users("Lovelace")]

    def test_it_reads_a_user(self, okta: OktaClient, person: dict) -> None:
        assert okta.get_user(person["id"]).login == person["profile"]["login"]

    def test_it_raises_not_found_with_okta_error_details(self, okta: OktaClient, sandbox: Any) -> None:
        with pytest.raises(NotFound) as caught:
            okta.get_user("00unosuchuser")
        error = caught.value
        assert (error.service, error.status, error.code) == ("okta", 404, "E0000007")
        assert error.request_id and error.error_id
        assert "E0000007" in str(error) and error.request_id in str(error)


class TestListingGroups:
    @pytest.mark.sandbox(okta_page_size=2)
    def test_it_follows_every_next_link(self, okta: OktaClient, sandbox: Any) -> None:
        groups = [sandbox.add_okta_group(f"Team {n}") for n in range(7)]
        user = sandbox.add_okta_user("E9003", "Many", "Groups", groups=[g["id"] for g in groups])
        sandbox.clear_requests()

        listed = okta.list_user_groups(user["id"])

        assert {g["id"] for g in groups} <= {g.id for g in listed}
        assert len(listed) == len({g.id for g in listed}) == len(sandbox.okta_user(user["id"])["groups"])
        assert len(okta_calls(sandbox, "GET", "/groups")) >= 4

    def test_it_tells_which_groups_cannot_be_removed(self, okta: OktaClient, sandbox: Any) -> None:
        ad = sandbox.add_okta_group("AD Finance", type="APP_GROUP")
        team = sandbox.add_okta_group("Finance")
        user = sandbox.add_okta_user("E9004", "Fin", "Ance", groups=[ad["id"], team["id"]])

        by_type = {g.type: g for g in okta.list_user_groups(user["id"])}

        assert by_type["OKTA_GROUP"].removable and not by_type["OKTA_GROUP"].not_removable_reason
        assert not by_type["APP_GROUP"].removable and "App group" in by_type["APP_GROUP"].not_removable_reason
        assert not by_type["BUILT_IN"].removable and "Everyone" in by_type["BUILT_IN"].not_removable_reason
        assert by_type["BUILT_IN"].name == "Everyone"


class TestFindingGroups:
    def test_it_finds_a_group_by_its_exact_name_whatever_the_case(self, okta: OktaClient, sandbox: Any) -> None:
        wanted = sandbox.add_okta_group("Board Members")
        sandbox.add_okta_group("Board Members Alumni")
        assert [g.id for g in okta.find_groups_by_name("board members")] == [wanted["id"]]
        assert okta.find_groups_by_name("Board Member") == []

    def test_it_finds_every_group_sharing_a_name(self, okta: OktaClient, sandbox: Any) -> None:
        twins = {sandbox.add_okta_group("Twins")["id"] for _ in range(3)}
        assert {g.id for g in okta.find_groups_by_name("Twins")} == twins

    def test_it_reads_a_group_by_id_and_raises_not_found_for_another(self, okta: OktaClient, sandbox: Any) -> None:
        group = sandbox.add_okta_group("Auditors")
        assert okta.get_group(group["id"]).name == "Auditors"
        with pytest.raises(NotFound):
            okta.get_group("00gNOSUCHGROUP")


class TestGroupMembership:
    def test_it_removes_a_membership_and_adds_it_back(self, okta: OktaClient, sandbox: Any, person: dict) -> None:
        [engineering] = [g for g in okta.list_user_groups(person["id"]) if g.name == "Engineering"]

        okta.remove_from_group(engineering.id, person["id"])
        assert engineering.id not in [g["id"] for g in sandbox.okta_user(person["id"])["groups"]]

        okta.add_to_group(engineering.id, person["id"])
        assert engineering.id in [g["id"] for g in sandbox.okta_user(person["id"])["groups"]]

    def test_it_reports_okta_refusing_the_everyone_group(self, okta: OktaClient, sandbox: Any, person: dict) -> None:
        [everyone] = [g for g in okta.list_user_groups(person["id"]) if g.type == "BUILT_IN"]
        with pytest.raises(PermissionDenied) as caught:
            okta.remove_from_group(everyone.id, person["id"])
        assert caught.value.code == "E0000060"
        assert everyone.id in [g["id"] for g in sandbox.okta_user(person["id"])["groups"]]

    def test_it_reports_okta_refusing_an_app_group(self, okta: OktaClient, sandbox: Any) -> None:
        ad = sandbox.add_okta_group("AD Sales", type="APP_GROUP")
        user = sandbox.add_okta_user("E9005", "Sal", "Es", groups=[ad["id"]])
        with pytest.raises(PermissionDenied) as caught:
            okta.remove_from_group(ad["id"], user["id"])
        assert (caught.value.status, caught.value.code) == (403, "E0000006")
        assert ad["id"] in [g["id"] for g in sandbox.okta_user(user["id"])["groups"]]


class TestSessionsAndLifecycle:
    def test_it_clears_sessions_and_oauth_tokens(self, okta: OktaClient, sandbox: Any, person: dict) -> None:
        okta.clear_sessions(person["id"])
        state = sandbox.okta_user(person["id"])
        assert state["sessions_revoked"] and state["oauth_tokens_revoked"]

    def test_it_deactivates_a_user(self, okta: OktaClient, sandbox: Any, person: dict) -> None:
        assert okta.deactivate(person["id"]) == "deactivated"
        assert sandbox.okta_user(person["id"])["status"] == "DEPROVISIONED"

    def test_it_answers_for_an_already_deactivated_user_without_raising(self, okta: OktaClient, sandbox: Any) -> None:
        gone = sandbox.add_okta_user("E9006", "Al", "Ready", status="DEPROVISIONED")
        sandbox.clear_requests()

        assert "E0000007" in okta.deactivate(gone["id"])
        assert sandbox.okta_user(gone["id"])["status"] == "DEPROVISIONED"
        assert [r["status"] for r in okta_calls(sandbox, "POST")] == [404]

    def test_it_treats_a_deactivation_that_already_went_through_as_answered(
        self, make_okta: Any, sandbox: Any, person: dict
    ) -> None:
        # The first answer is lost (read timeout) but Okta did the work; the retry then meets a
        # deprovisioned user, which Okta answers with 404.
        client = make_okta(read_timeout=0.3, backoff_initial=1.0, backoff_max=2.0, max_attempts=2)
        sandbox.fault("okta", "latency", endpoint="POST /api/v1/users/*/lifecycle/deactivate", seconds=0.6, count=1)

        assert "E0000007" in client.deactivate(person["id"])
        assert sandbox.okta_user(person["id"])["status"] == "DEPROVISIONED"
        assert 404 in [r["status"] for r in okta_calls(sandbox, "POST", "/lifecycle/deactivate")]

    def test_it_reactivates_a_deactivated_user(self, okta: OktaClient, sandbox: Any, person: dict) -> None:
        okta.deactivate(person["id"])
        assert okta.reactivate(person["id"]).status != "DEPROVISIONED"


class TestRateLimits:
    @pytest.mark.sandbox(rate_limits={"GET /api/v1/users/{id}": 3}, rate_limit_window=1)
    def test_it_waits_for_the_reset_after_a_429(self, make_okta: Any, sandbox: Any, person: dict) -> None:
        user = sandbox.add_okta_user("E9010", "Rate", "Limited")
        clock = FakeClock(then=sandbox.advance_clock)  # Okta's clock moves with the client's
        client = make_okta(pacer=NoPacing(), fake_clock=clock)

        for _ in range(7):
            client.get_user(user["id"])

        statuses = [r["status"] for r in okta_calls(sandbox, "GET", user["id"])]
        assert 429 in statuses
        # Each 429 was followed by a success: the retry waited for the window to reset.
        assert all(after == 200 for before, after in zip(statuses, statuses[1:], strict=False) if before == 429)
        assert statuses.count(200) == 7
        # It waited what Okta announced each time: its reset, a second after the Date it answered at.
        assert clock.sleeps == [pytest.approx(1, abs=0.01)] * statuses.count(429)

    def test_it_raises_rate_limited_when_the_429s_outlast_the_retries(
        self, make_okta: Any, sandbox: Any, person: dict
    ) -> None:
        sandbox.fault("okta", "rate_limit", endpoint="GET /api/v1/users/*", retry_after=1)
        clock = FakeClock()
        with pytest.raises(RateLimited) as caught:
            make_okta(pacer=NoPacing(), fake_clock=clock).get_user(person["id"])
        assert (caught.value.status, caught.value.code) == (429, "E0000047")
        # Three attempts, each refused; before each retry it waited the second Okta announced.
        assert [r["status"] for r in okta_calls(sandbox, "GET", person["id"])] == [429] * 3
        assert clock.sleeps == [pytest.approx(1, abs=0.01)] * 2

    @pytest.mark.sandbox(rate_limits={"GET /api/v1/users/{id}": 4}, rate_limit_window=4)
    def test_it_waits_for_the_reset_before_running_out(self, make_okta: Any, sandbox: Any) -> None:
        user = sandbox.add_okta_user("E9011", "Slow", "Down")
        # Okta's clock just past the start of a window: real time (a slow machine's) cannot reset one meanwhile.
        sandbox.advance_clock(4 - sandbox.advance_clock(0)["now"] % 4 + 0.01)
        clock = FakeClock(then=sandbox.advance_clock)  # Okta's clock moves with the client's
        client = make_okta(fake_clock=clock)  # paced by the host's budget, as in production

        for _ in range(9):
            client.get_user(user["id"])

        assert [r["status"] for r in okta_calls(sandbox, "GET", user["id"])] == [200] * 9
        # Once a window's four calls were spent, the next waited for its reset (the rest of the 4 s window after
        # the Date Okta answered at) instead of being refused: twice in nine calls.
        assert clock.sleeps == [pytest.approx(4, abs=1)] * 2


class TestTransientFailures:
    def test_it_retries_a_5xx_then_succeeds(self, okta: OktaClient, sandbox: Any, person: dict) -> None:
        sandbox.fault("okta", "error", endpoint="GET /api/v1/users/*", status=503, count=2)
        sandbox.clear_requests()
        assert okta.get_user(person["id"]).id == person["id"]
        assert [r["status"] for r in okta_calls(sandbox, "GET")] == [503, 503, 200]

    def test_it_gives_up_after_the_retry_budget(self, okta: OktaClient, sandbox: Any, person: dict) -> None:
        sandbox.fault("okta", "error", endpoint="GET /api/v1/users/*", status=500)
        sandbox.clear_requests()
        with pytest.raises(TransientError) as caught:
            okta.get_user(person["id"])
        assert (caught.value.status, caught.value.code) == (500, "E0000009")
        assert len(okta_calls(sandbox, "GET")) == 3

    def test_it_times_out_and_retries(self, make_okta: Any, sandbox: Any, person: dict) -> None:
        client = make_okta(read_timeout=0.3)
        sandbox.fault("okta", "timeout", endpoint="GET /api/v1/users/*", seconds=5, count=1)
        assert client.get_user(person["id"]).id == person["id"]

        sandbox.fault("okta", "timeout", endpoint="GET /api/v1/users/*", seconds=5)
        with pytest.raises(TransientError) as caught:
            client.get_user(person["id"])
        assert caught.value.summary == "read timeout" and caught.value.ambiguous

    def test_it_reports_an_outage(self, okta: OktaClient, sandbox: Any, person: dict) -> None:
        sandbox.fault("okta", "outage")
        with pytest.raises(TransientError) as caught:
            okta.get_user(person["id"])
        assert caught.value.status is None

    def test_it_reports_bad_credentials(self, make_okta: Any, sandbox: Any, settings: Any, person: dict) -> None:
        settings.OKTA_API_TOKEN = "not-the-token"
        with pytest.raises(AuthenticationFailed) as caught:
            make_okta().get_user(person["id"])
        assert (caught.value.status, caught.value.code) == (401, "E0000011")


@pytest.fixture
def service_app(settings: Any, sandbox: Any) -> None:
    settings.OKTA_CLIENT_ID = SERVICE_APP_CLIENT_ID
    settings.OKTA_PRIVATE_KEY = SERVICE_APP_PRIVATE_KEY_PEM
    settings.OKTA_API_TOKEN = ""


def token_answers(sandbox: Any) -> list[int]:
    return [r["status"] for r in okta_calls(sandbox, "POST", "/oauth2/v1/token")]


class TestServiceAppAuth:
    @pytest.mark.usefixtures("service_app")
    def test_it_authenticates_with_a_signed_client_assertion(self, make_okta: Any, sandbox: Any, person: dict) -> None:
        client = make_okta()
        for _ in range(3):
            assert client.get_user(person["id"]).id == person["id"]
        client.remove_from_group(client.list_user_groups(person["id"])[-1].id, person["id"])
        # The token is cached: one token request (after Okta's use_dpop_nonce answer) for all of those calls.
        assert token_answers(sandbox) == [400, 200]

    @pytest.mark.sandbox(okta_token_lifetime=1)
    @pytest.mark.usefixtures("service_app")
    def test_it_renews_the_token_before_it_expires(self, make_okta: Any, sandbox: Any) -> None:
        user = sandbox.add_okta_user("E9020", "Short", "Token")
        clock = FakeClock(then=sandbox.advance_clock)
        client = make_okta(fake_clock=clock)
        client.get_user(user["id"])
        clock.advance(1.1)  # past the token's second, for the client and for Okta
        client.get_user(user["id"])
        # The renewal reuses the DPoP nonce Okta handed out: no second round trip for it.
        assert token_answers(sandbox) == [400, 200, 200]
        assert 401 not in [r["status"] for r in okta_calls(sandbox)]

    @pytest.mark.usefixtures("service_app")
    def test_it_renews_an_expired_token_once_on_401(self, make_okta: Any, sandbox: Any) -> None:
        client = make_okta()
        user = sandbox.add_okta_user("E9021", "Stale", "Token")
        client.get_user(user["id"])
        # A reset forgets every access token the sandbox issued (and its DPoP nonce): ours is now refused.
        sandbox.reset()
        user = sandbox.add_okta_user("E9021", "Stale", "Token")
        sandbox.clear_requests()

        assert client.get_user(user["id"]).id == user["id"]

        calls = [(r["method"], r["status"]) for r in okta_calls(sandbox)]
        assert calls == [("GET", 401), ("POST", 400), ("POST", 200), ("GET", 200)]

    @pytest.mark.usefixtures("service_app")
    def test_its_sign_in_is_not_counted_among_the_call_s_http_tries(
        self, make_okta: Any, sandbox: Any, person: dict
    ) -> None:
        client = make_okta()
        with tries_counted() as tries:
            client.get_user(person["id"])
        assert token_answers(sandbox) == [400, 200]  # the sign-in (with Okta's use_dpop_nonce round) was inside
        assert [(t.service, t.status) for t in tries] == [("okta", 200)]

    @pytest.mark.usefixtures("service_app")
    def test_it_reports_a_key_okta_does_not_know(self, make_okta: Any, settings: Any, person: dict) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        settings.OKTA_PRIVATE_KEY = other_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        with pytest.raises(AuthenticationFailed) as caught:
            make_okta().get_user(person["id"])
        assert caught.value.code == "invalid_client"


@pytest.mark.usefixtures("service_app")
class TestDPoP:
    """The service app's tokens are DPoP-bound (RFC 9449), as Okta requires of API service apps by default."""

    def test_every_call_carries_the_dpop_scheme_and_a_proof_okta_accepts(
        self, make_okta: Any, sandbox: Any, person: dict
    ) -> None:
        client = make_okta()
        group = client.list_user_groups(person["id"])[-1]
        client.remove_from_group(group.id, person["id"])
        client.add_to_group(group.id, person["id"])
        assert client.find_users_by_employee_number("E9001")[0].id == person["id"]
        api_calls = [r for r in okta_calls(sandbox) if r["path"].startswith("/api/")]
        assert len(api_calls) == 4 and all(r["status"] < 300 for r in api_calls)
        # The sandbox checks each proof (signature, htm, htu, iat, jti, ath, the key the token is bound to).
        assert {r["auth"] for r in api_calls} == {"DPoP"}

    def test_a_call_retried_after_a_429_carries_a_new_proof(self, make_okta: Any, sandbox: Any, person: dict) -> None:
        client = make_okta()
        client.get_user(person["id"])
        sandbox.fault("okta", "rate_limit", endpoint="GET /api/v1/users/*", count=1)
        assert client.get_user(person["id"]).id == person["id"]
        # Okta spends a proof on any answer: resending the first one would be refused as already used.
        assert [r["status"] for r in okta_calls(sandbox, "GET")][-2:] == [429, 200]

    def test_okta_dpop_false_against_an_app_that_requires_it_fails_loudly(
        self, make_okta: Any, settings: Any, sandbox: Any, person: dict
    ) -> None:
        settings.OKTA_DPOP = False
        with pytest.raises(AuthenticationFailed) as caught:
            make_okta().get_user(person["id"])
        assert (caught.value.status, caught.value.code) == (400, "invalid_dpop_proof")
        assert "The DPoP proof JWT header is missing." in str(caught.value)
        assert "set OKTA_DPOP=true" in str(caught.value)
        assert not okta_calls(sandbox, "GET")

    @pytest.mark.sandbox(okta_require_dpop=False)
    def test_an_app_that_answers_with_a_bearer_token_still_works(
        self, make_okta: Any, sandbox: Any, person: dict
    ) -> None:
        client = make_okta()
        assert client.get_user(person["id"]).id == person["id"]
        assert token_answers(sandbox) == [200]
        assert [r["auth"] for r in okta_calls(sandbox, "GET")] == ["Bearer"]

    @pytest.mark.sandbox(okta_require_dpop=False)
    def test_okta_dpop_false_uses_bearer_tokens(
        self, make_okta: Any, settings: Any, sandbox: Any, person: dict
    ) -> None:
        settings.OKTA_DPOP = False
        assert make_okta().get_user(person["id"]).id == person["id"]
        assert [r["auth"] for r in okta_calls(sandbox, "GET")] == ["Bearer"]

    def test_a_proof_okta_refuses_is_reported_in_okta_words(self, make_okta: Any, sandbox: Any, person: dict) -> None:
        client = make_okta()
        client.get_user(person["id"])
        sandbox.advance_clock(400)  # Okta's clock is now ahead of ours by more than a proof may be old
        with pytest.raises(InvalidRequest) as caught:
            client.get_user(person["id"])
        assert (caught.value.status, caught.value.code) == (400, "invalid_dpop_proof")
        assert caught.value.summary == "The DPoP proof JWT is issued more than five minutes in the past."

    def test_the_process_keeps_one_key_and_never_shows_it(self, make_okta: Any) -> None:
        first, second = make_okta().transport.auth, make_okta().transport.auth
        assert first.dpop_key is second.dpop_key
        assert "d" not in first.dpop_key.jwk and first.dpop_key.jwk["kty"] == "EC"
        assert "PRIVATE" not in repr(first.dpop_key) and "dpop=True" in repr(first)


class TestEnvironment:
    """Proxy and CA settings come from the environment, read once when the client is made."""

    @pytest.fixture(autouse=True)
    def no_proxy_settings(self, monkeypatch: Any) -> None:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            monkeypatch.delenv(name, raising=False)
            monkeypatch.delenv(name.lower(), raising=False)

    def test_a_proxy_from_the_environment_carries_the_calls(self, person: dict, monkeypatch: Any) -> None:
        user_id = person["id"]
        assert OktaClient.from_settings(policy=FAST).get_user(user_id).id == user_id
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
        with pytest.raises(TransientError):
            OktaClient.from_settings(policy=FAST).get_user(user_id)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        assert OktaClient.from_settings(policy=FAST).get_user(user_id).id == user_id

    def test_it_is_read_once_not_on_every_call(self, monkeypatch: Any) -> None:
        monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/company-ca.pem")
        session = OktaClient.from_settings(policy=FAST).transport.session
        assert session.proxies["https"] == "http://proxy.example:3128"
        assert session.verify == "/etc/ssl/company-ca.pem"
        # requests would otherwise scan the whole environment again on every call.
        assert session.trust_env is False


BAD_IDS = [
    "x/../../groups/00g1abcd",
    "../00g1abcd",
    "00u1?limit=1",
    "00u1#x",
    "00u%2F1",
    "00u 1",
    "",
    "a" * 65,
    "00u1\n",
]


class TestOktaIdsInPaths:
    @pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
    def test_an_id_that_is_not_okta_s_is_refused_before_any_request(
        self, okta: OktaClient, sandbox: Any, person: dict, bad: str
    ) -> None:
        group = person["groups"][0] if person.get("groups") else sandbox.add_okta_group("Any")["id"]
        sandbox.clear_requests()
        calls = [
            lambda: okta.get_user(bad),
            lambda: okta.list_user_groups(bad),
            lambda: okta.remove_from_group(bad, person["id"]),
            lambda: okta.remove_from_group(group, bad),
            lambda: okta.add_to_group(bad, person["id"]),
            lambda: okta.add_to_group(group, bad),
            lambda: okta.clear_sessions(bad),
            lambda: okta.deactivate(bad),
            lambda: okta.reactivate(bad),
        ]
        for call in calls:
            with pytest.raises(InvalidId, match="not an Okta id"):
                call()
        assert okta_calls(sandbox) == []
        assert okta.get_user(person["id"]).status == "ACTIVE"  # a real id still goes through
