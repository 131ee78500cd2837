"""Signing in through ADFS: the real django-auth-adfs flow against a simulated ADFS over TLS.

The app runs in ADFS mode in its own process (settings are fixed at start-up), on the test database;
the simulated ADFS (sandbox/adfs.py) signs tokens at test time. The tests drive the browser's side of
the flow with requests: our login page, ADFS's authorize endpoint, our callback.
"""

import base64
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.auth.models import User

from sandbox.adfs import AdfsSimulator
from tests.processes import database_url, wait_for

ROOT = Path(__file__).resolve().parent.parent
CLIENT_ID = "offboarding-web"
RELYING_PARTY = "https://offboarding.acme.example/"
AUDIENCE = "microsoft:identityserver:offboarding"

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def adfs():
    simulator = AdfsSimulator(client_id=CLIENT_ID, relying_party_id=RELYING_PARTY, audience=AUDIENCE).start()
    yield simulator
    simulator.stop()


@pytest.fixture(scope="module")
def app(adfs, django_db_setup, django_db_blocker, tmp_path_factory):
    """The site in ADFS mode, in a process of its own, on the test database."""
    port = free_port()
    log = tmp_path_factory.mktemp("adfs-app") / "server.log"
    # requests lets these override a session's own CA bundle (ADFS_CA_BUNDLE): leave them out.
    inherited = {k: v for k, v in os.environ.items() if k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
    env = {
        **inherited,
        "OFFBOARDING_IGNORE_DOTENV": "1",
        "DEBUG": "true",
        "AUTH_MODE": "adfs",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": database_url(),
        "ADFS_SERVER": adfs.server,
        "ADFS_CLIENT_ID": CLIENT_ID,
        "ADFS_RELYING_PARTY_ID": RELYING_PARTY,
        "ADFS_AUDIENCE": AUDIENCE,
        "ADFS_CA_BUNDLE": adfs.ca_bundle,
    }
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", "--skip-checks", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        if server.poll() is not None:
            raise AssertionError(f"the app did not start:\n{log.read_text()}")
        try:
            return requests.get(f"{url}/healthz", timeout=2) is not None
        except requests.ConnectionError:
            return False

    wait_for(answers, 60, "the app to start")
    yield url
    server.terminate()
    server.wait(timeout=10)


def adfs_browser(adfs: AdfsSimulator) -> requests.Session:
    """A client that trusts the simulated ADFS's CA (and not REQUESTS_CA_BUNDLE from the environment)."""
    browser = requests.Session()
    browser.trust_env = False
    browser.verify = adfs.ca_bundle
    return browser


def sign_in(app: str, adfs: AdfsSimulator, next_url: str = "/") -> tuple[requests.Session, requests.Response]:
    """Open a page, follow the redirects through ADFS and back; the session and the callback's answer."""
    browser = adfs_browser(adfs)
    to_login = browser.get(f"{app}{next_url}", allow_redirects=False)
    assert to_login.status_code == 302
    to_adfs = browser.get(f"{app}{to_login.headers['Location']}", allow_redirects=False)
    assert to_adfs.status_code == 302, to_adfs.text[:300]
    assert to_adfs.headers["Location"].startswith(f"{adfs.url}/adfs/oauth2/authorize/")
    back = browser.get(to_adfs.headers["Location"], allow_redirects=False)
    assert back.status_code == 302, back.text
    return browser, browser.get(back.headers["Location"], allow_redirects=False)


def login_from(
    app: str, adfs: AdfsSimulator, next_url: str, browser: requests.Session | None = None
) -> requests.Response:
    """Start at our login page with ?next=, through ADFS; the callback's answer."""
    browser = browser or adfs_browser(adfs)
    to_adfs = browser.get(f"{app}/accounts/login/", params={"next": next_url}, allow_redirects=False)
    back = browser.get(to_adfs.headers["Location"], allow_redirects=False)
    return browser.get(back.headers["Location"], allow_redirects=False)


def roles_of(username: str) -> set[str]:
    return set(User.objects.get(username=username).groups.values_list("name", flat=True))


class TestAdfsSignIn:
    def test_a_valid_token_signs_in_with_the_mapped_roles(self, app, adfs):
        adfs.sign_in_as("alice", ["Offboarding-Approvers", "Offboarding-Admins", "Domain Users"])
        browser, callback = sign_in(app, adfs, "/rules/")
        assert callback.status_code == 302
        assert callback.headers["Location"] == "/rules/"
        assert roles_of("alice") == {"approvers", "admins"}
        page = browser.get(f"{app}/rules/")
        assert page.status_code == 200
        assert "Auto-approve rules" in page.text
        user = User.objects.get(username="alice")
        assert (user.first_name, user.email) == ("Alice", "alice@acme.example")
        assert not user.has_usable_password()
        assert "POST /adfs/oauth2/token/" in adfs.requests

    def test_a_user_removed_from_the_directory_group_loses_the_role_at_the_next_sign_in(self, app, adfs):
        adfs.sign_in_as("bob", ["Offboarding-Approvers"])
        sign_in(app, adfs)
        assert roles_of("bob") == {"approvers"}
        adfs.sign_in_as("bob", ["Domain Users"])
        browser, callback = sign_in(app, adfs)
        assert callback.status_code == 302
        assert roles_of("bob") == set()
        page = browser.get(f"{app}/")
        assert page.status_code == 403
        assert "You have no role in Offboarding" in page.text

    def test_signing_out_ends_the_adfs_session_too(self, app, adfs):
        adfs.sign_in_as("dora", ["Offboarding-Approvers"])
        browser, _ = sign_in(app, adfs)
        page = browser.get(f"{app}/")
        token = browser.cookies["csrftoken"]
        out = browser.post(
            f"{app}/accounts/logout/",
            data={"csrfmiddlewaretoken": token},
            headers={"Referer": f"{app}/"},
            allow_redirects=False,
        )
        assert page.status_code == 200
        assert out.status_code == 302
        assert out.headers["Location"].startswith(f"{adfs.url}/adfs/oauth2/logout")
        assert browser.get(f"{app}/", allow_redirects=False).status_code == 302  # signed out here too

    def test_an_auditor_sees_no_actions_and_cannot_post(self, app, adfs):
        adfs.sign_in_as("carol", ["Offboarding-Auditors"])
        browser, _ = sign_in(app, adfs)
        assert roles_of("carol") == {"auditors"}
        page = browser.get(f"{app}/emergency/")
        assert page.status_code == 403

    @pytest.mark.parametrize(
        ("claims", "why"),
        [
            ({"exp": int(time.time()) - 600, "iat": int(time.time()) - 4200}, "expired"),
            ({"aud": "microsoft:identityserver:another-app"}, "wrong audience"),
            ({"iss": "http://evil.example/adfs/services/trust"}, "wrong issuer"),
        ],
        ids=["expired", "wrong-audience", "wrong-issuer"],
    )
    def test_a_bad_token_is_refused(self, app, adfs, claims, why):
        adfs.sign_in_as("mallory", ["Offboarding-Admins"], **claims)
        browser, callback = sign_in(app, adfs)
        assert callback.status_code == 401, why
        assert not User.objects.filter(username="mallory", groups__name="admins").exists()
        assert browser.get(f"{app}/", allow_redirects=False).status_code == 302  # still signed out

    def test_a_token_signed_by_another_key_is_refused(self, app, adfs):
        forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        adfs.sign_in_as("mallory", ["Offboarding-Admins"], signing_key=forger)
        browser, callback = sign_in(app, adfs)
        assert callback.status_code == 401
        assert browser.get(f"{app}/", allow_redirects=False).status_code == 302

    @pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "http://evil.example@127.0.0.1/"])
    def test_the_next_page_cannot_send_the_user_off_site(self, app, adfs, target):
        adfs.sign_in_as("alice", ["Offboarding-Approvers"])
        callback = login_from(app, adfs, target)
        assert callback.status_code == 302
        assert callback.headers["Location"] == "/"

    def test_a_forged_state_cannot_send_the_user_off_site(self, app, adfs):
        adfs.sign_in_as("alice", ["Offboarding-Approvers"])
        browser = adfs_browser(adfs)
        to_adfs = browser.get(f"{app}/accounts/login/", allow_redirects=False).headers["Location"]
        evil_state = base64.urlsafe_b64encode(b"https://evil.example/").decode()
        back = browser.get(to_adfs.replace("state=", f"state={evil_state}&ignored="), allow_redirects=False)
        callback = browser.get(back.headers["Location"], allow_redirects=False)
        # Not a state this browser is waiting for: refused, so it sends the user nowhere.
        assert callback.status_code == 401
        assert "Location" not in callback.headers
        assert browser.get(f"{app}/", allow_redirects=False).status_code == 302  # still signed out

    def test_a_code_is_good_once(self, app, adfs):
        adfs.sign_in_as("alice", ["Offboarding-Approvers"])
        browser = adfs_browser(adfs)
        to_adfs = browser.get(f"{app}/accounts/login/", allow_redirects=False).headers["Location"]
        callback_url = browser.get(to_adfs, allow_redirects=False).headers["Location"]
        assert browser.get(callback_url, allow_redirects=False).status_code == 302
        replay = requests.get(callback_url, allow_redirects=False)
        assert replay.status_code == 401
        # The same code again under a state this browser is waiting for: ADFS takes a code once.
        browser.post(f"{app}/accounts/logout/", data={"csrfmiddlewaretoken": browser.cookies["csrftoken"]})
        fresh_state = state_of(browser.get(f"{app}/accounts/login/", allow_redirects=False).headers["Location"])
        replay = browser.get(callback_url.replace(f"state={state_of(callback_url)}", f"state={fresh_state}"))
        assert replay.status_code == 401


def state_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["state"][0]


class TestSignInIsBoundToTheBrowser:
    def test_an_attackers_callback_link_signs_nobody_in(self, app, adfs):
        # The attacker signs in at ADFS as themselves and stops before our callback: the link is the bait.
        adfs.sign_in_as("mallory", ["Offboarding-Approvers"])
        attacker = adfs_browser(adfs)
        to_adfs = attacker.get(f"{app}/accounts/login/", allow_redirects=False).headers["Location"]
        bait = attacker.get(to_adfs, allow_redirects=False).headers["Location"]
        # The victim opens it: with a fresh browser, and with a sign-in of their own under way.
        victim = adfs_browser(adfs)
        assert victim.get(bait, allow_redirects=False).status_code == 401
        victim.get(f"{app}/accounts/login/", allow_redirects=False)
        refused = victim.get(bait, allow_redirects=False)
        assert refused.status_code == 401
        assert "not started in this browser" in refused.text
        assert victim.get(f"{app}/", allow_redirects=False).status_code == 302  # signed in as nobody
        assert not User.objects.filter(username="mallory").exists()

    def test_a_callback_without_a_state_is_refused(self, app, adfs):
        adfs.sign_in_as("alice", ["Offboarding-Approvers"])
        browser = adfs_browser(adfs)
        to_adfs = browser.get(f"{app}/accounts/login/", allow_redirects=False).headers["Location"]
        callback_url = browser.get(to_adfs, allow_redirects=False).headers["Location"]
        without_state = callback_url.replace(f"state={state_of(callback_url)}", "")
        assert browser.get(without_state, allow_redirects=False).status_code == 401
        assert browser.get(f"{app}/", allow_redirects=False).status_code == 302

    def test_each_sign_in_gets_a_random_state_that_is_not_the_next_page(self, app, adfs):
        browser = adfs_browser(adfs)
        first, second = (
            state_of(
                browser.get(f"{app}/accounts/login/", params={"next": "/rules/"}, allow_redirects=False).headers[
                    "Location"
                ]
            )
            for _ in range(2)
        )
        assert first != second and len(first) >= 32
        assert base64.urlsafe_b64encode(b"/rules/").decode() not in (first, second)
        # Other sign-ins under way in this browser (other tabs) do not spoil this one.
        adfs.sign_in_as("alice", ["Offboarding-Approvers"])
        callback = login_from(app, adfs, "/rules/", browser=browser)
        assert callback.status_code == 302 and callback.headers["Location"] == "/rules/"
