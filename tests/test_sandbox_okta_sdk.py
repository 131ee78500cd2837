"""Okta's official Python SDK (`okta`, asyncio) makes its ordinary calls against the sandbox unchanged.

An independent client written by Okta, not by us: where it and the sandbox disagree, the sandbox is not
faithful. Its only setting for the sandbox is the one it documents for testing: an org URL that is not
https (the `testing.testingDisableHttpsCheck` switch, given as an environment variable, as the SDK reads
every setting). Seen doing so: it sends `Authorization: SSWS<token>` with no space, which Okta takes; it
pages by the `after` cursor of the `Link: rel="next"` header; with a service app it speaks DPoP itself.
"""

import asyncio

import okta.dpop
import pytest
from okta.client import Client
from okta.pagination import PaginationHelper

from sandbox.keys import SERVICE_APP_CLIENT_ID, SERVICE_APP_PRIVATE_KEY_PEM


@pytest.fixture(autouse=True)
def plain_http_allowed(monkeypatch):
    monkeypatch.setenv("OKTA_TESTING_TESTINGDISABLEHTTPSCHECK", "true")


@pytest.fixture
def config(sandbox):
    return {"orgUrl": sandbox.okta_url, "token": sandbox.okta_token}


@pytest.fixture
def leaver(sandbox):
    groups = [sandbox.add_okta_group(name)["id"] for name in ("VPN Users", "GitHub Org Members")]
    return sandbox.add_okta_user("E7001", "Lin", "Okafor", login="lin.okafor@acme.example", groups=groups)


def run(config, calls):
    """`calls(client)` (a coroutine function) with a client of the SDK's, closed afterwards."""

    async def session():
        async with Client(config) as client:
            return await calls(client)

    return asyncio.run(session())


def answered(result):
    """The SDK answers (data, response, error): the data, once it is shown there was no error."""
    data, _response, error = result
    assert error is None, error
    return data


class TestOktaSdk:
    def test_it_lists_users_page_by_page(self, sandbox, config):
        async def every_user(client):
            ids, after = [], None
            while True:
                users, response, error = await client.list_users(limit=3, after=after)
                assert error is None, error
                ids += [user.id for user in users]
                after = PaginationHelper.extract_next_cursor(response.headers)
                if not after:
                    return ids

        ids = run(config, every_user)
        active = [u["id"] for u in sandbox.okta_users() if u["status"] != "DEPROVISIONED"]
        assert sorted(ids) == sorted(active) and len(ids) > 3

    def test_it_finds_a_user_by_employee_number_and_gets_them(self, config, leaver):
        async def find_and_get(client):
            found = answered(await client.list_users(search='profile.employeeNumber eq "E7001"'))
            return found, answered(await client.get_user(found[0].id))

        found, user = run(config, find_and_get)
        assert [u.id for u in found] == [leaver["id"]]
        assert (user.profile.login, user.profile.employee_number, user.status.value) == (
            "lin.okafor@acme.example",
            "E7001",
            "ACTIVE",
        )

    def test_it_reads_okta_s_error_for_an_unknown_user(self, config):
        async def get_nobody(client):
            return await client.get_user("00unosuchuser0000000")

        _user, _response, error = run(config, get_nobody)
        assert error is not None
        assert error.error_code == "E0000007" and error.status == 404

    def test_it_lists_a_user_s_groups_and_removes_one_membership(self, sandbox, config, leaver):
        async def remove_vpn(client):
            groups = answered(await client.list_user_groups(leaver["id"]))
            vpn = next(g for g in groups if g.profile.actual_instance.name == "VPN Users")
            answered(await client.unassign_user_from_group(vpn.id, leaver["id"]))
            return groups

        groups = run(config, remove_vpn)
        assert {(g.profile.actual_instance.name, g.type.value) for g in groups} == {
            ("Everyone", "BUILT_IN"),
            ("VPN Users", "OKTA_GROUP"),
            ("GitHub Org Members", "OKTA_GROUP"),
        }
        left = {g["name"] for g in sandbox.okta_user(leaver["id"])["groups"]}
        assert left == {"Everyone", "GitHub Org Members"}

    def test_it_deactivates_a_user(self, sandbox, config, leaver):
        async def deactivate(client):
            answered(await client.deactivate_user(leaver["id"]))
            return answered(await client.get_user(leaver["id"]))

        assert run(config, deactivate).status.value == "DEPROVISIONED"
        assert sandbox.okta_user(leaver["id"])["status"] == "DEPROVISIONED"
        assert [r["auth"] for r in sandbox.requests("okta")] == ["SSWS", "SSWS"]

    def test_its_own_dpop_sign_in_for_a_service_app_passes_the_sandbox_s_checks(self, sandbox, leaver, monkeypatch):
        # The SDK's DPoP key is RSA 3072, which takes this small machine seconds to make; 2048, the least
        # RFC 9449 allows, proves the same.
        monkeypatch.setattr(okta.dpop, "RSA_KEY_SIZE_BITS", 2048)
        service_app = {
            "orgUrl": sandbox.okta_url,
            "authorizationMode": "PrivateKey",
            "clientId": SERVICE_APP_CLIENT_ID,
            "scopes": ["okta.users.manage", "okta.groups.manage"],
            "privateKey": SERVICE_APP_PRIVATE_KEY_PEM,
            "dpopEnabled": True,
        }

        async def get_leaver(client):
            return answered(await client.get_user(leaver["id"]))

        assert run(service_app, get_leaver).id == leaver["id"]
        calls = [(r["path"], r["status"], r["auth"]) for r in sandbox.requests("okta")]
        assert calls == [
            ("/oauth2/v1/token", 400, ""),  # use_dpop_nonce
            ("/oauth2/v1/token", 200, ""),
            (f"/api/v1/users/{leaver['id']}", 200, "DPoP"),
        ]
