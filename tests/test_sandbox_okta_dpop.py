"""The simulated Okta requires DPoP-bound tokens of the service app (RFC 9449) and checks every proof as Okta does:
on the token endpoint (400 invalid_dpop_proof, the use_dpop_nonce round trip) and on every API call (400, no
body, the reason in a `WWW-Authenticate: DPoP` challenge)."""

import base64
import hashlib
import time
import uuid

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from sandbox.keys import SERVICE_APP_CLIENT_ID, SERVICE_APP_PRIVATE_KEY_PEM
from tests.openapi_specs import check_okta, validate_okta_error

SCOPES = "okta.users.manage okta.groups.manage"


class Prover:
    """A client's DPoP key and the proofs it signs, made by hand so that a test can get one wrong."""

    def __init__(self):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.jwk = ECAlgorithm.to_jwk(self.key.public_key(), as_dict=True)

    def proof(self, method, url, *, token=None, nonce=None, typ="dpop+jwt", jwk=None, **claims):
        """A proof for `method url`; a claim given as None is left out."""
        payload = {"jti": uuid.uuid4().hex, "htm": method, "htu": url, "iat": int(time.time())}
        if token:
            payload["ath"] = base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).decode().rstrip("=")
        if nonce:
            payload["nonce"] = nonce
        payload.update(claims)
        payload = {name: value for name, value in payload.items() if value is not None}
        headers = {"typ": typ, "jwk": jwk or self.jwk}
        return jwt.encode(payload, self.key, algorithm="ES256", headers=headers)


def token_url(sandbox):
    return f"{sandbox.okta_url}/oauth2/v1/token"


def assertion(sandbox):
    now = int(time.time())
    claims = {
        "iss": SERVICE_APP_CLIENT_ID,
        "sub": SERVICE_APP_CLIENT_ID,
        "aud": token_url(sandbox),
        "iat": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, SERVICE_APP_PRIVATE_KEY_PEM, algorithm="RS256")


def request_token(sandbox, proof=None):
    form = {
        "grant_type": "client_credentials",
        "scope": SCOPES,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion(sandbox),
    }
    headers = {"DPoP": proof} if proof else {}
    return requests.post(token_url(sandbox), data=form, headers=headers, timeout=10)


def nonce_of(sandbox, prover):
    """What Okta answers a first proof: use_dpop_nonce, with the nonce to use."""
    return request_token(sandbox, prover.proof("POST", token_url(sandbox))).headers["DPoP-Nonce"]


def bound_token(sandbox, prover):
    response = request_token(sandbox, prover.proof("POST", token_url(sandbox), nonce=nonce_of(sandbox, prover)))
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def users_url(sandbox):
    return f"{sandbox.okta_url}/api/v1/users"


def list_users(sandbox, token, proof, scheme="DPoP"):
    headers = {"Authorization": f"{scheme} {token}", "Accept": "application/json"}
    if proof:
        headers["DPoP"] = proof
    return requests.get(users_url(sandbox), params={"limit": 2}, headers=headers, timeout=10)


def assert_refused_proof(response, description):
    """Okta's answer to an API call with a bad proof: 400, an empty body, the reason in the DPoP challenge."""
    assert response.status_code == 400, response.text
    assert response.content == b""
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('DPoP algs="RS256 RS384 RS512 ES256 ES384 ES512"')
    assert 'error="invalid_dpop_proof"' in challenge and 'resource="/api/v1/users"' in challenge
    assert f'error_description="{description}"' in challenge


class TestTokenEndpoint:
    def test_a_token_request_without_a_proof_gets_invalid_dpop_proof(self, sandbox):
        response = request_token(sandbox)
        assert response.status_code == 400
        assert response.json() == {
            "error": "invalid_dpop_proof",
            "error_description": "The DPoP proof JWT header is missing.",
        }

    def test_the_first_proof_is_answered_use_dpop_nonce_and_one_with_the_nonce_gets_a_bound_token(self, sandbox):
        prover = Prover()
        first = request_token(sandbox, prover.proof("POST", token_url(sandbox)))
        assert first.status_code == 400
        assert first.json()["error"] == "use_dpop_nonce"
        nonce = first.headers["DPoP-Nonce"]

        second = request_token(sandbox, prover.proof("POST", token_url(sandbox), nonce=nonce))
        assert second.status_code == 200, second.text
        assert second.json()["token_type"] == "DPoP"
        token = second.json()["access_token"]
        answer = check_okta(list_users(sandbox, token, prover.proof("GET", users_url(sandbox), token=token)))
        assert answer.status_code == 200 and len(answer.json()) == 2

    def test_a_nonce_it_did_not_hand_out_is_answered_with_the_right_one(self, sandbox):
        prover = Prover()
        nonce = nonce_of(sandbox, prover)
        response = request_token(sandbox, prover.proof("POST", token_url(sandbox), nonce="made-up"))
        assert response.status_code == 400 and response.json()["error"] == "use_dpop_nonce"
        assert response.headers["DPoP-Nonce"] == nonce

    @pytest.mark.parametrize(
        "change, description",
        [
            ({"typ": "JWT"}, "The DPoP proof JWT 'typ' header must be 'dpop+jwt'."),
            ({"htm": "GET"}, "'htm' claim in the DPoP proof JWT is invalid."),
            ({"htu": "https://acme.okta.com/oauth2/v1/token"}, "'htu' claim in the DPoP proof JWT is invalid."),
            ({"iat": int(time.time()) - 600}, "The DPoP proof JWT is issued more than five minutes in the past."),
            ({"jti": None}, "The DPoP proof JWT is missing the 'jti' claim."),
            ({"jwk": Prover().jwk}, "The DPoP proof JWT signature is invalid."),
        ],
        ids=["typ", "htm", "htu", "stale", "no-jti", "signed-by-another-key"],
    )
    def test_it_refuses_a_bad_proof_with_invalid_dpop_proof(self, sandbox, change, description):
        prover = Prover()
        nonce = nonce_of(sandbox, prover)
        method = change.pop("htm", "POST")
        url = change.pop("htu", token_url(sandbox))
        response = request_token(sandbox, prover.proof(method, url, nonce=nonce, **change))
        assert response.status_code == 400
        assert response.json() == {"error": "invalid_dpop_proof", "error_description": description}

    def test_a_proof_is_good_for_one_token_request(self, sandbox):
        prover = Prover()
        proof = prover.proof("POST", token_url(sandbox), nonce=nonce_of(sandbox, prover))
        assert request_token(sandbox, proof).status_code == 200
        replayed = request_token(sandbox, proof)
        assert replayed.status_code == 400
        assert replayed.json()["error_description"] == "The DPoP proof JWT has already been used."

    @pytest.mark.sandbox(okta_require_dpop=False)
    def test_an_app_without_the_requirement_ignores_the_proof_and_issues_a_bearer_token(self, sandbox):
        prover = Prover()
        response = request_token(sandbox, prover.proof("POST", token_url(sandbox)))
        assert response.status_code == 200, response.text
        assert response.json()["token_type"] == "Bearer"
        token = response.json()["access_token"]
        assert check_okta(list_users(sandbox, token, None, scheme="Bearer")).status_code == 200


class TestApiCalls:
    @pytest.fixture
    def prover(self):
        return Prover()

    @pytest.fixture
    def token(self, sandbox, prover):
        return bound_token(sandbox, prover)

    def test_every_call_needs_a_fresh_proof(self, sandbox, prover, token):
        proof = prover.proof("GET", users_url(sandbox), token=token)
        assert list_users(sandbox, token, proof).status_code == 200
        assert_refused_proof(list_users(sandbox, token, proof), "The DPoP proof JWT has already been used.")
        assert list_users(sandbox, token, prover.proof("GET", users_url(sandbox), token=token)).status_code == 200

    def test_a_proof_spent_on_a_429_cannot_be_sent_again(self, sandbox, prover, token):
        sandbox.fault("okta", "rate_limit", endpoint="GET /api/v1/users", count=1)
        proof = prover.proof("GET", users_url(sandbox), token=token)
        assert list_users(sandbox, token, proof).status_code == 429
        assert_refused_proof(list_users(sandbox, token, proof), "The DPoP proof JWT has already been used.")

    @pytest.mark.parametrize(
        "change, description",
        [
            ({"htu": "http://127.0.0.1:1/okta/api/v1/users"}, "'htu' claim in the DPoP proof JWT is invalid."),
            ({"htm": "POST"}, "'htm' claim in the DPoP proof JWT is invalid."),
            ({"ath": None}, "The DPoP proof JWT is missing the 'ath' claim."),
            ({"ath": "not-the-hash"}, "'ath' claim in the DPoP proof JWT is invalid."),
            ({"iat": int(time.time()) - 301}, "The DPoP proof JWT is issued more than five minutes in the past."),
            ({"iat": int(time.time()) + 3600}, "The DPoP proof JWT is issued in the future."),
        ],
        ids=["htu", "htm", "no-ath", "wrong-ath", "stale", "future"],
    )
    def test_it_refuses_a_proof_that_does_not_match_the_call(self, sandbox, prover, token, change, description):
        method = change.pop("htm", "GET")
        url = change.pop("htu", users_url(sandbox))
        response = list_users(sandbox, token, prover.proof(method, url, token=token, **change))
        assert_refused_proof(response, description)

    def test_the_htu_leaves_out_the_query(self, sandbox, prover, token):
        proof = prover.proof("GET", f"{users_url(sandbox)}?limit=2", token=token)
        assert_refused_proof(list_users(sandbox, token, proof), "'htu' claim in the DPoP proof JWT is invalid.")

    def test_a_call_without_a_proof_is_refused(self, sandbox, token):
        assert_refused_proof(list_users(sandbox, token, None), "The DPoP proof JWT header is missing.")

    def test_a_token_is_refused_with_a_proof_from_another_key(self, sandbox, token):
        thief = Prover()
        response = list_users(sandbox, token, thief.proof("GET", users_url(sandbox), token=token))
        assert_refused_proof(response, "The DPoP proof JWT is not signed by the key the access token is bound to.")

    def test_a_bound_token_sent_as_bearer_is_refused(self, sandbox, token):
        response = list_users(sandbox, token, None, scheme="Bearer")
        assert response.status_code == 401
        assert validate_okta_error(response.content)["errorCode"] == "E0000011"
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]

    def test_a_bound_token_expires_like_any_other(self, sandbox, prover, token):
        sandbox.advance_clock(3601)
        response = list_users(sandbox, token, prover.proof("GET", users_url(sandbox), token=token))
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("DPoP ")
        assert (
            'error="invalid_token", error_description="The token has expired."' in response.headers["WWW-Authenticate"]
        )
