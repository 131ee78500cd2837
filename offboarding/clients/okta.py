"""Okta Management API: find a user, read their groups, remove them, end sessions, deactivate.

Auth is an SSWS API token or an OAuth 2.0 service app (client credentials with a
private_key_jwt client assertion, its tokens DPoP-bound); the rest of the client does not care which.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import jwt
import redis
import requests
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.core.cache import cache
from jwt.algorithms import ECAlgorithm
from requests.auth import AuthBase

from .errors import (
    AuthenticationFailed,
    InvalidId,
    InvalidRequest,
    MalformedResponse,
    NotFound,
    PermissionDenied,
    VendorError,
)
from .pacing import Deferring, HostRateBudget, RateBudget, SharedRateBudget
from .transport import (
    ErrorBody,
    Pacer,
    RenewableAuth,
    RetryPolicy,
    Secret,
    Transport,
    json_body,
    seconds_until_epoch,
    short_text,
)

log = logging.getLogger("offboarding.clients.okta")

DEPROVISIONED = "DEPROVISIONED"
# Okta's ids are letters and digits (20 of them, e.g. 00u1abcd...); a little room either way, nothing else.
OKTA_ID = re.compile(r"[A-Za-z0-9]{1,64}")


def okta_id(value: str) -> str:
    """`value` as a path segment, once it is shown to be an Okta id; InvalidId (before any request) if not."""
    if not isinstance(value, str) or not OKTA_ID.fullmatch(value):
        raise InvalidId("okta", f"not an Okta id: {str(value)[:80]!r}")
    return quote(value, safe="")


@dataclass(frozen=True)
class OktaUser:
    id: str
    status: str
    login: str
    email: str
    first_name: str
    last_name: str
    employee_number: str
    profile: dict[str, Any] = field(repr=False)
    # credentials.provider: OKTA, or what masters the user (ACTIVE_DIRECTORY, LDAP, FEDERATION, SOCIAL, IMPORT).
    provider_type: str = "OKTA"
    provider_name: str = "OKTA"

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> OktaUser:
        _require_id(data, "user")
        profile = data.get("profile") or {}
        if not isinstance(profile, dict):
            raise MalformedResponse("okta", "expected a JSON object for the user's profile")
        provider = (
            (data.get("credentials") or {}).get("provider") if isinstance(data.get("credentials"), dict) else None
        )
        provider = provider if isinstance(provider, dict) else {}
        return cls(
            provider_type=str(provider.get("type") or "OKTA"),
            provider_name=str(provider.get("name") or provider.get("type") or "OKTA"),
            id=data["id"],
            status=data.get("status", ""),
            login=profile.get("login", ""),
            email=profile.get("email", ""),
            first_name=profile.get("firstName", ""),
            last_name=profile.get("lastName", ""),
            employee_number=profile.get("employeeNumber") or "",
            profile=profile,
        )

    @property
    def is_deprovisioned(self) -> bool:
        return self.status == DEPROVISIONED

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def as_dict(self) -> dict[str, str]:
        """The user as the plan, the steps and the evidence keep it."""
        return {
            "id": self.id,
            "login": self.login,
            "email": self.email,
            "name": self.name,
            "status": self.status,
            "employee_number": self.employee_number,
        }


@dataclass(frozen=True)
class OktaGroup:
    id: str
    name: str
    type: str
    description: str

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> OktaGroup:
        _require_id(data, "group")
        profile = data.get("profile") or {}
        if not isinstance(profile, dict):
            raise MalformedResponse("okta", "expected a JSON object for the group's profile")
        return cls(
            id=data["id"],
            name=profile.get("name", ""),
            type=data.get("type", ""),
            description=profile.get("description") or "",
        )

    @property
    def removable(self) -> bool:
        return self.type == "OKTA_GROUP"

    @property
    def not_removable_reason(self) -> str:
        if self.type == "BUILT_IN":
            return "Built-in group (Everyone): Okta manages its membership"
        if self.type == "APP_GROUP":
            return "App group: its membership is imported from the app (e.g. Active Directory)"
        if not self.removable:
            return f"Group type {self.type or 'unknown'}: only OKTA_GROUP memberships can be removed"
        return ""

    def as_dict(self) -> dict[str, Any]:
        """The group as the plan, the steps and the pages show it."""
        return {
            "id": self.id,
            "name": self.name,
            "type": self.type,
            "removable": self.removable,
            "reason": self.not_removable_reason,
        }


class SswsAuth(AuthBase):
    def __init__(self, token: Secret) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"SSWS {self._token.reveal()}"
        return request

    def __repr__(self) -> str:
        return "SswsAuth(***)"


class DPoPKey:
    """The key pair whose possession DPoP proofs demonstrate (RFC 9449): ES256, in memory only.

    A token Okta issues for a proof is bound to this key (its thumbprint), so a stolen token is useless
    without it. One per process (`process_dpop_key`): it never leaves memory and never needs storing.
    """

    ALGORITHM = "ES256"

    def __init__(self) -> None:
        self._private_key = ec.generate_private_key(ec.SECP256R1())
        self.jwk = ECAlgorithm.to_jwk(self._private_key.public_key(), as_dict=True)

    def __repr__(self) -> str:
        return f"DPoPKey(x={self.jwk['x'][:8]}...)"

    def proof(self, method: str, url: str, *, access_token: str = "", nonce: str = "") -> str:
        """A proof for one request: `url` without its query and fragment (as Okta compares it, decoded)."""
        parts = urlsplit(url)
        claims: dict[str, Any] = {
            "jti": uuid.uuid4().hex,
            "htm": method,
            "htu": urlunsplit((parts.scheme, parts.netloc, unquote(parts.path), "", "")),
            "iat": int(time.time()),
        }
        if access_token:
            digest = hashlib.sha256(access_token.encode("ascii")).digest()
            claims["ath"] = base64.urlsafe_b64encode(digest).decode().rstrip("=")
        if nonce:
            claims["nonce"] = nonce
        headers = {"typ": "dpop+jwt", "jwk": self.jwk}
        return jwt.encode(claims, self._private_key, algorithm=self.ALGORITHM, headers=headers)


_dpop_key: tuple[int, DPoPKey] | None = None
_dpop_key_lock = threading.Lock()


def process_dpop_key() -> DPoPKey:
    """This process's DPoP key, made at first use (a forked worker makes its own)."""
    global _dpop_key
    with _dpop_key_lock:
        if _dpop_key is None or _dpop_key[0] != os.getpid():
            _dpop_key = (os.getpid(), DPoPKey())
        return _dpop_key[1]


class ServiceAppAuth(RenewableAuth):
    """OAuth 2.0 client credentials for an Okta service app, signed with its private key.

    With `dpop` (the default, as Okta requires of new API service apps) every token request carries a
    DPoP proof; Okta first answers `use_dpop_nonce` with the nonce to put in it, and we ask again. The
    DPoP-bound token then goes out as `Authorization: DPoP <token>` with a fresh proof on every call. An
    app that is not DPoP-bound answers with a Bearer token, which is used as such.

    The access token is cached until shortly before it expires; the transport asks for a new one
    if Okta answers 401 anyway (revoked, or our clock is behind).
    """

    ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    # use_dpop_nonce answers we follow in one token request: a remembered nonce may have been renewed.
    NONCE_ROUNDS = 2

    def __init__(
        self,
        org_url: str,
        client_id: str,
        private_key: Secret,
        scopes: list[str],
        *,
        key_id: str = "",
        dpop: bool = True,
        policy: RetryPolicy,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token_url = f"{org_url.rstrip('/')}/oauth2/v1/token"
        self.client_id = client_id
        self.scopes = scopes
        self.key_id = key_id
        self.dpop_key = process_dpop_key() if dpop else None
        self._private_key = private_key
        self._token: Secret | None = None
        self._token_type = "Bearer"
        self._dpop_nonce = ""
        self._expires_at = 0.0  # on `clock`, monotonic seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._transport = Transport(
            "okta",
            org_url,
            auth=_NoAuth(),
            # One attempt here: the API call that needed the token retries as a whole.
            policy=replace(policy, max_attempts=1),
            describe_error=_describe_oauth_error,
            rate_limit_wait=lambda response: seconds_until_epoch(response, "X-Rate-Limit-Reset"),
            request_id_header="X-Okta-Request-Id",
            session=session,
            clock=clock,
            # The API call that needed the token reports the outcome, a refused sign-in included; its HTTP
            # tries are the call's, not the sign-in's (whichever step first needs a new token would pay them).
            reports=False,
        )

    def __repr__(self) -> str:
        return f"ServiceAppAuth({self.client_id!r}, scopes={self.scopes!r}, dpop={self.dpop_key is not None})"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        token, token_type = self._current_token()
        request.headers["Authorization"] = f"{token_type} {token.reveal()}"
        if token_type == "DPoP" and self.dpop_key:
            # A fresh proof for every request sent, a retried one included: Okta refuses a proof seen before.
            request.headers["DPoP"] = self.dpop_key.proof(
                request.method or "", request.url or "", access_token=token.reveal()
            )
        return request

    def forget_token(self) -> None:
        with self._lock:
            self._token = None

    def access_token(self) -> Secret:
        return self._current_token()[0]

    def _current_token(self) -> tuple[Secret, str]:
        with self._lock:
            if self._token is None or self.clock() >= self._expires_at:
                self._token, self._token_type, lifetime = self._request_token()
                # Renew a little early (a tenth of the lifetime, at most 30 s) so no call
                # goes out with a token that expires in flight.
                self._expires_at = self.clock() + lifetime - min(30.0, lifetime / 10)
            return self._token, self._token_type

    def _request_token(self) -> tuple[Secret, str, float]:
        for round_ in range(self.NONCE_ROUNDS + 1):
            headers = {}
            if self.dpop_key:
                headers["DPoP"] = self.dpop_key.proof("POST", self.token_url, nonce=self._dpop_nonce)
            try:
                response = self._transport.request(
                    "POST",
                    "/oauth2/v1/token",
                    headers=headers,
                    # A new assertion each time: Okta spends one even on a use_dpop_nonce answer.
                    data={
                        "grant_type": "client_credentials",
                        "scope": " ".join(self.scopes),
                        "client_assertion_type": self.ASSERTION_TYPE,
                        "client_assertion": self._client_assertion(),
                    },
                )
                break
            except (InvalidRequest, AuthenticationFailed, PermissionDenied) as e:
                nonce = e.details.get("dpop_nonce", "")
                if self.dpop_key and e.code == "use_dpop_nonce" and nonce and round_ < self.NONCE_ROUNDS:
                    self._dpop_nonce = nonce
                    continue
                raise self._sign_in_refused(e) from e
        self._dpop_nonce = response.headers.get("DPoP-Nonce") or self._dpop_nonce
        try:
            body = response.json()
            token, lifetime = body["access_token"], float(body.get("expires_in", 3600))
            token_type = {"dpop": "DPoP", "bearer": "Bearer"}[str(body.get("token_type", "Bearer")).lower()]
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise MalformedResponse("okta", "token endpoint answered without an access token") from e
        if token_type == "DPoP" and not self.dpop_key:
            raise MalformedResponse("okta", "token endpoint answered a DPoP token to a request without a proof")
        if self.dpop_key and token_type == "Bearer":
            log.info("okta: the service app %s is not DPoP-bound: Okta issued a Bearer token", self.client_id)
        log.debug("okta: got a %s access token for %s, valid %.0fs", token_type, self.client_id, lifetime)
        return Secret(token), token_type, lifetime

    def _client_assertion(self) -> str:
        now = int(time.time())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": self.token_url,
            "iat": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
        }
        headers = {"kid": self.key_id} if self.key_id else None
        return jwt.encode(claims, self._private_key.reveal(), algorithm="RS256", headers=headers)

    def _sign_in_refused(self, error: VendorError) -> AuthenticationFailed:
        """Okta would not give us a token: our credentials are refused, whatever status it said it with."""
        summary = error.summary
        if error.code == "invalid_dpop_proof" and not self.dpop_key:
            summary += " OKTA_DPOP is false, but the service app requires DPoP-bound tokens: set OKTA_DPOP=true."
        elif error.code == "use_dpop_nonce":
            summary += " Okta kept asking for a new DPoP nonce."
        return AuthenticationFailed(
            "okta",
            summary,
            status=error.status,
            code=error.code,
            request_id=error.request_id,
            method=error.method,
            path=error.path,
        )


class _NoAuth(AuthBase):
    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


def _describe_oauth_error(response: requests.Response) -> ErrorBody:
    # A use_dpop_nonce answer carries the nonce to put in the next proof.
    details = {"dpop_nonce": response.headers["DPoP-Nonce"]} if "DPoP-Nonce" in response.headers else {}
    try:
        body = response.json()
        summary = body.get("error_description") or body["error"]
        return ErrorBody(summary=summary, code=body.get("error", ""), details=details)
    except (ValueError, KeyError, TypeError, AttributeError):
        return _describe_okta_error(response)


def _describe_okta_error(response: requests.Response) -> ErrorBody:
    """Okta's error body: errorCode, errorSummary, errorId, errorCauses[].errorSummary."""
    if challenge := _dpop_challenge(response):
        return challenge
    try:
        body = response.json()
        causes = [c.get("errorSummary", "") for c in body.get("errorCauses") or [] if isinstance(c, dict)]
        return ErrorBody(
            summary=body.get("errorSummary") or short_text(response),
            code=body.get("errorCode", ""),
            error_id=body.get("errorId", ""),
            causes=[c for c in causes if c],
        )
    except (ValueError, AttributeError):
        return ErrorBody(summary=short_text(response))


_CHALLENGE_PARAMETER = re.compile(r'(\w+)="([^"]*)"')


def _dpop_challenge(response: requests.Response) -> ErrorBody | None:
    """Okta refuses a DPoP proof on an API call with 400, no body, and the reason in its DPoP challenge."""
    challenge = response.headers.get("WWW-Authenticate", "")
    if not challenge.startswith("DPoP ") or response.content:
        return None
    parameters = dict(_CHALLENGE_PARAMETER.findall(challenge))
    error = parameters.get("error", "")
    return ErrorBody(summary=parameters.get("error_description") or error or short_text(response), code=error)


# One pacer per org and process, so every client in a worker sees the same budget; it is shared with every
# worker on every host through Redis (the Redis broker), or with every worker process of the host through a
# file under OKTA_BUDGET_DIR (the ORM broker).
_pacers: dict[str, RateBudget] = {}
_pacers_lock = threading.Lock()


def shared_pacer(org_url: str) -> RateBudget:
    with _pacers_lock:
        if org_url not in _pacers:
            options = {
                "max_concurrency": settings.OKTA_MAX_CONCURRENCY,
                "max_wait": settings.CLIENT_RATE_LIMIT_MAX_WAIT,
            }
            if settings.Q_BROKER == "redis":
                _pacers[org_url] = SharedRateBudget(redis.Redis.from_url(settings.REDIS_URL), org_url, **options)
            else:
                _pacers[org_url] = HostRateBudget(settings.OKTA_BUDGET_DIR, org_url, **options)
        return _pacers[org_url]


def forget_shared_pacers() -> None:
    """Forget what the shared pacers learnt of Okta's windows (after Okta's limits changed, e.g. a reset sandbox)."""
    with _pacers_lock:
        for pacer in _pacers.values():
            pacer.forget()


class OktaClient:
    def __init__(
        self,
        org_url: str,
        auth: AuthBase,
        *,
        policy: RetryPolicy | None = None,
        pacer: Pacer | None = None,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.org_url = org_url.rstrip("/")
        self.transport = Transport(
            "okta",
            self.org_url,
            auth=auth,
            policy=policy or RetryPolicy(),
            describe_error=_describe_okta_error,
            rate_limit_wait=lambda response: seconds_until_epoch(response, "X-Rate-Limit-Reset"),
            request_id_header="X-Okta-Request-Id",
            pacer=pacer,
            session=session,
            clock=clock,
            sleep=sleep,
        )
        # The org-wide reads every lookup waits on (the group owners map, the group rules) take the whole budget
        # even when this client's own calls defer to revocations (a sync's lookups): each lookup needs them first.
        self._org_transport = copy.copy(self.transport)
        self._org_transport.pacer = pacer.undeferred if isinstance(pacer, Deferring) else pacer
        self._cache_lock = threading.Lock()
        self._rules_cache: tuple[float, list | None] = (0.0, None)
        self._owner_cache: tuple[float, OktaUser | None] = (0.0, None)

    @classmethod
    def deferring_to_revocations(cls) -> OktaClient:
        """A client whose calls spend only the part of each window not reserved for revocations
        (OKTA_BUDGET_RESERVED_FOR_REVOCATION) and wait past it: for bulk reads (a sync's lookups of the whole
        report, the owners map's refresh) that must not hold up the revocations sharing their endpoint families."""
        pacer = Deferring(shared_pacer(settings.OKTA_ORG_URL), settings.OKTA_BUDGET_RESERVED_FOR_REVOCATION)
        return cls.from_settings(pacer=pacer)

    @classmethod
    def from_settings(
        cls,
        *,
        policy: RetryPolicy | None = None,
        pacer: Pacer | None = None,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> OktaClient:
        """SSWS token auth, or the OAuth service app when OKTA_CLIENT_ID is set.

        `clock` (monotonic seconds) and `sleep` are the real ones unless a test gives a fake pair; the
        process's shared pacer keeps its own (a test that fakes them passes its own pacer too)."""
        policy = policy or RetryPolicy.from_settings()
        auth: AuthBase
        if settings.OKTA_CLIENT_ID:
            auth = ServiceAppAuth(
                settings.OKTA_ORG_URL,
                settings.OKTA_CLIENT_ID,
                Secret(settings.OKTA_PRIVATE_KEY),
                list(settings.OKTA_SCOPES),
                key_id=settings.OKTA_PRIVATE_KEY_ID,
                dpop=settings.OKTA_DPOP,
                policy=policy,
                session=session,
                clock=clock,
            )
        else:
            auth = SswsAuth(Secret(settings.OKTA_API_TOKEN))
        pacer = pacer or shared_pacer(settings.OKTA_ORG_URL)
        return cls(settings.OKTA_ORG_URL, auth, policy=policy, pacer=pacer, session=session, clock=clock, sleep=sleep)

    OWNERS_CACHE_SECONDS = 300.0

    def __repr__(self) -> str:
        return f"OktaClient({self.org_url!r})"

    # Users

    def find_users_by_employee_number(self, employee_number: str) -> list[OktaUser]:
        """Every user whose profile.employeeNumber matches, DEPROVISIONED ones included."""
        query = f"profile.employeeNumber eq {_quote(employee_number)}"
        return [OktaUser.from_api(u) for u in self._all_pages("/api/v1/users", {"search": query})]

    def find_user_by_login(self, login: str) -> OktaUser | None:
        query = f"profile.login eq {_quote(login)}"
        users = [OktaUser.from_api(u) for u in self._all_pages("/api/v1/users", {"search": query})]
        return users[0] if users else None

    def find_users_by_login_prefix(self, text: str, limit: int = 20) -> list[OktaUser]:
        """Users whose login starts with `text`; Okta's search compares strings without regard to case."""
        query = f"profile.login sw {_quote(text)}"
        response = self.transport.request("GET", "/api/v1/users", params={"search": query, "limit": limit})
        return [OktaUser.from_api(u) for u in _json_list(response)]

    def count_active_users(self) -> int:
        """How many users are ACTIVE (every page), for the mass-termination breaker's share threshold."""
        return len(self._all_pages("/api/v1/users", {"search": 'status eq "ACTIVE"', "limit": "200"}))

    def search_users(self, text: str, limit: int = 20) -> list[OktaUser]:
        """People whose first name, last name or email starts with `text` (for a human to pick)."""
        response = self.transport.request("GET", "/api/v1/users", params={"q": text, "limit": limit})
        return [OktaUser.from_api(u) for u in _json_list(response)]

    def list_users(self, limit: int = 200) -> list[OktaUser]:
        """The first page of the org's users (a read that proves the credential may read users)."""
        response = self.transport.request("GET", "/api/v1/users", params={"limit": str(limit)})
        return [OktaUser.from_api(u) for u in _json_list(response)]

    def get_user(self, user_id: str) -> OktaUser:
        return OktaUser.from_api(_json_object(self.transport.request("GET", f"/api/v1/users/{okta_id(user_id)}")))

    # Groups

    def get_group(self, group_id: str) -> OktaGroup:
        return OktaGroup.from_api(_json_object(self.transport.request("GET", f"/api/v1/groups/{okta_id(group_id)}")))

    def find_groups_by_name(self, name: str) -> list[OktaGroup]:
        """The groups named `name` (Okta compares without regard to case), every page."""
        query = f"profile.name eq {_quote(name)}"
        return [OktaGroup.from_api(g) for g in self._all_pages("/api/v1/groups", {"search": query})]

    def list_user_groups(self, user_id: str) -> list[OktaGroup]:
        return [OktaGroup.from_api(g) for g in self._all_pages(f"/api/v1/users/{okta_id(user_id)}/groups")]

    def remove_from_group(self, group_id: str, user_id: str) -> None:
        self.transport.request("DELETE", f"/api/v1/groups/{okta_id(group_id)}/users/{okta_id(user_id)}")

    def add_to_group(self, group_id: str, user_id: str) -> None:
        self.transport.request("PUT", f"/api/v1/groups/{okta_id(group_id)}/users/{okta_id(user_id)}")

    # Sessions and lifecycle

    def clear_sessions(self, user_id: str) -> None:
        """End every Okta session and revoke the OAuth/OIDC tokens issued to the user."""
        self.transport.request("DELETE", f"/api/v1/users/{okta_id(user_id)}/sessions", params={"oauthTokens": "true"})

    def deactivate(self, user_id: str) -> str:
        """Deactivate the user (lifecycle, never delete); what Okta answered, in words.

        Okta answers 404 E0000007 to deactivating a user who is already deprovisioned, e.g. when
        our earlier attempt went through but its answer was lost. That answer is returned, not
        raised: a 404 also means "no such user", so the caller reads the user back to know.
        """
        try:
            self.transport.request("POST", f"/api/v1/users/{okta_id(user_id)}/lifecycle/deactivate")
        except NotFound as e:
            return f"already deprovisioned? Okta answered: {e}"
        return "deactivated"

    def token_owner(self) -> OktaUser | None:
        """The user the API token belongs to (`GET /api/v1/users/me`), or None when there is none to read
        (an OAuth service app's token has no user behind it)."""
        with self._cache_lock:
            at, owner = self._owner_cache
            if at and time.monotonic() - at <= self.OWNERS_CACHE_SECONDS:
                return owner
        try:
            owner = self.get_user("me")
        except NotFound:
            owner = None
        with self._cache_lock:
            self._owner_cache = (time.monotonic(), owner)
        return owner

    # Admin roles

    def list_user_roles(self, user_id: str) -> list[dict[str, str]]:
        """The user's admin role assignments: [{"id", "type", "label"}] (empty for a user who is no admin)."""
        roles = _json_list(self.transport.request("GET", f"/api/v1/users/{okta_id(user_id)}/roles"))
        return [
            {
                "id": str(r.get("id", "")),
                "type": str(r.get("type", "")),
                "label": str(r.get("label") or r.get("type", "")),
            }
            for r in roles
            if isinstance(r, dict)
        ]

    # Apps

    def list_user_apps(self, user_id: str, user_groups: list[OktaGroup]) -> list[dict[str, Any]]:
        """Every app the user is assigned to, directly or through a group, and what deactivating them does to
        the app's own account: [{"id", "label", "name", "status", "via", "group_id",
        "deprovisions_on_deactivate", "universal_logout"}].

        Okta deactivates the app account only where the app's provisioning has "Deactivate Users" on
        (USER_PROVISIONING capabilities.update.lifecycleDeactivate); SSO-only apps keep it, and
        assignments to inactive apps are left as they are.
        """
        uid = okta_id(user_id)
        apps = self._all_pages("/api/v1/apps", {"filter": f"user.id eq {_quote(user_id)}"})
        names = {g.id: g.name for g in user_groups}
        found = []
        for app in apps:
            _require_id(app, "app")
            app_user = _json_object(self.transport.request("GET", f"/api/v1/apps/{okta_id(app['id'])}/users/{uid}"))
            via, group_id = "direct", ""
            if app_user.get("scope") == "GROUP":
                group_id = self._assigning_group(app["id"], names)
                link = ((app_user.get("_links") or {}).get("group") or {}).get("name", "")
                via = names.get(group_id) or link or "a group"
            status = str(app.get("status", ""))
            found.append(
                {
                    "id": app["id"],
                    "label": str(app.get("label") or app.get("name", "")),
                    "name": str(app.get("name", "")),
                    "status": status,
                    "via": via,
                    "group_id": group_id,
                    "deprovisions_on_deactivate": status == "ACTIVE" and self._deactivates_users(app["id"]),
                    "universal_logout": ((app.get("universalLogout") or {}).get("status") == "ENABLED"),
                }
            )
        return found

    def _assigning_group(self, app_id: str, user_group_names: dict[str, str]) -> str:
        """Which of the user's groups assigns the app (the first by the app's group priority), or ""."""
        for assignment in self._all_pages(f"/api/v1/apps/{okta_id(app_id)}/groups"):
            if isinstance(assignment, dict) and assignment.get("id") in user_group_names:
                return assignment["id"]
        return ""

    def _deactivates_users(self, app_id: str) -> bool:
        """Whether the app's provisioning deactivates the app account when Okta deactivates the user.
        Okta answers 400 E0000001 for an app without provisioning: then it does not."""
        try:
            features = _json_list(self.transport.request("GET", f"/api/v1/apps/{okta_id(app_id)}/features"))
        except VendorError as e:
            if e.status == 400:
                return False
            raise
        for feature in features:
            if isinstance(feature, dict) and feature.get("name") == "USER_PROVISIONING":
                update = (feature.get("capabilities") or {}).get("update") or {}
                return (
                    feature.get("status") == "ENABLED"
                    and (update.get("lifecycleDeactivate") or {}).get("status") == "ENABLED"
                )
        return False

    def assign_app(self, app_id: str, user_id: str) -> None:
        """Assign the user to the app directly (USER scope)."""
        self.transport.request(
            "POST", f"/api/v1/apps/{okta_id(app_id)}/users", json={"id": okta_id(user_id), "scope": "USER"}
        )

    # Group ownership and rules

    # How many groups' owners are read at once while the owners map is built (an org has thousands of groups).
    OWNERS_PARALLEL_READS = 16

    def owned_groups(self, user_id: str) -> list[dict[str, str]]:
        """The Okta groups the user owns (the group owners API): [{"id", "name"}], as of the kept map's time.

        Okta has no "groups owned by" query, so every OKTA_GROUP's owners are read (`refresh_group_owners`): one
        call per group, thousands in a large org. The map is kept in Django's cache (shared by every process with
        a shared CACHE_URL) and read again every OKTA_GROUP_OWNERS_REFRESH_MINUTES by its schedule, so a lookup
        does not wait for it; only when no map is kept (the first lookup after a start with an empty cache, or
        three refreshes missed) does a lookup read it itself.
        """
        with self._cache_lock:
            kept = cache.get(self._owners_key)
            if kept is None:
                kept = self.refresh_group_owners()
        return list(kept["owners"].get(user_id, []))

    def group_owners_read_at(self) -> float | None:
        """When the kept owners map was read (Unix time), or None when none is kept."""
        kept = cache.get(self._owners_key)
        return kept["read_at"] if kept else None

    def refresh_group_owners(self, background: bool = False) -> dict[str, Any]:
        """Read the whole owners map now and keep it for three refresh intervals (one missed refresh, or two,
        leave lookups a map to read). A lookup waiting for it takes the whole budget; the `background` refresh
        takes this client's pacing (a deferring one leaves the share reserved for revocations alone)."""
        transport = self.transport if background else self._org_transport
        kept = {"read_at": time.time(), "owners": self._read_group_owners(transport)}
        cache.set(self._owners_key, kept, 3 * 60 * settings.OKTA_GROUP_OWNERS_REFRESH_MINUTES)
        return kept

    @property
    def _owners_key(self) -> str:
        return f"okta-group-owners-map:{self.org_url}"  # {"read_at", "owners"}

    def _read_group_owners(self, transport: Transport) -> dict[str, list[dict[str, str]]]:
        """Owner user id -> the OKTA_GROUPs they own, read now."""
        listed = self._all_pages("/api/v1/groups", {"filter": 'type eq "OKTA_GROUP"'}, transport=transport)
        groups = [OktaGroup.from_api(g) for g in listed]

        def owners_of(group: OktaGroup) -> list[dict[str, Any]]:
            return self._all_pages(f"/api/v1/groups/{okta_id(group.id)}/owners", transport=transport)

        owners: dict[str, list[dict[str, str]]] = {}
        with ThreadPoolExecutor(max_workers=self.OWNERS_PARALLEL_READS) as pool:
            for group, found in zip(groups, pool.map(owners_of, groups), strict=True):
                for owner in found:
                    if isinstance(owner, dict) and owner.get("type", "USER") == "USER":
                        owners.setdefault(owner.get("id", ""), []).append({"id": group.id, "name": group.name})
        return owners

    def group_rules(self) -> list[dict[str, Any]]:
        """Every group rule (cached like the owners map)."""
        with self._cache_lock:
            at, rules = self._rules_cache
            if rules is None or time.monotonic() - at > self.OWNERS_CACHE_SECONDS:
                rules = self._all_pages("/api/v1/groups/rules", {"limit": "200"}, transport=self._org_transport)
                self._rules_cache = (time.monotonic(), rules)
        return rules

    def rule_groups(self, user_id: str, user_groups: list[OktaGroup]) -> list[dict[str, str]]:
        """The user's memberships an active group rule manages: [{"group_id", "group_name", "rule_id",
        "rule_name"}] — groups the user is in that an active rule assigns, the user not on its exclusions."""
        names = {g.id: g.name for g in user_groups}
        found = []
        for rule in self.group_rules():
            if not isinstance(rule, dict) or rule.get("status") != "ACTIVE":
                continue
            excluded = (((rule.get("conditions") or {}).get("people") or {}).get("users") or {}).get("exclude") or []
            if user_id in excluded:
                continue
            targets = ((rule.get("actions") or {}).get("assignUserToGroups") or {}).get("groupIds") or []
            for gid in targets:
                if gid in names:
                    found.append(
                        {
                            "group_id": gid,
                            "group_name": names[gid],
                            "rule_id": rule.get("id", ""),
                            "rule_name": rule.get("name", ""),
                        }
                    )
        return found

    def clear_rule_exclusion(self, rule_id: str, user_id: str) -> str:
        """Take the user off the group rule's exclusions, so the rule adds them back; what was done, in words.

        Okta replaces only an inactive rule: an active one is deactivated (its members stay), replaced and
        activated again, which re-evaluates it."""
        path = f"/api/v1/groups/rules/{okta_id(rule_id)}"
        rule = _json_object(self.transport.request("GET", path))
        users = ((rule.get("conditions") or {}).get("people") or {}).get("users") or {}
        excluded = users.get("exclude") or []
        if user_id not in excluded:
            return "not excluded"
        if rule.get("status") not in ("ACTIVE", "INACTIVE"):
            return f"the rule is {rule.get('status') or 'in an unknown state'}: Okta applies it to nobody"
        was_active = rule.get("status") == "ACTIVE"
        if was_active:
            self.transport.request("POST", f"{path}/lifecycle/deactivate")
        try:
            body = {
                "type": "group_rule",
                "name": rule.get("name", ""),
                "conditions": {
                    **(rule.get("conditions") or {}),
                    "people": {
                        **((rule.get("conditions") or {}).get("people") or {}),
                        "users": {**users, "exclude": [u for u in excluded if u != user_id]},
                    },
                },
                "actions": rule.get("actions") or {},
            }
            self.transport.request("PUT", path, json=body)
        finally:
            if was_active:
                self.transport.request("POST", f"{path}/lifecycle/activate")
        return "exclusion cleared"

    # Universal Logout

    def universal_logout(self, user_id: str) -> None:
        """Sign the user out of every app that supports Universal Logout (Okta's global token revocation)."""
        self.transport.request(
            "POST", "/oauth2/v1/global-token-revocation", json={"sub_id": {"format": "opaque", "id": okta_id(user_id)}}
        )

    def reactivate(self, user_id: str) -> OktaUser:
        """Undo a deactivation (activate a DEPROVISIONED user without emailing them)."""
        user = self.get_user(user_id)
        if user.is_deprovisioned:
            self.transport.request(
                "POST", f"/api/v1/users/{okta_id(user_id)}/lifecycle/activate", params={"sendEmail": "false"}
            )
        elif user.status in ("PROVISIONED", "RECOVERY"):
            self.transport.request(
                "POST", f"/api/v1/users/{okta_id(user_id)}/lifecycle/reactivate", params={"sendEmail": "false"}
            )
        return self.get_user(user_id)

    def _all_pages(
        self, path: str, params: dict[str, str] | None = None, *, transport: Transport | None = None
    ) -> list[dict[str, Any]]:
        """Every item of a list, following each Link rel="next" (the cursor is opaque)."""
        transport = transport or self.transport
        items: list[dict[str, Any]] = []
        response = transport.request("GET", path, params=params)
        items += _json_list(response)
        while next_url := response.links.get("next", {}).get("url"):
            response = transport.request("GET", next_url)
            items += _json_list(response)
        return items


def _require_id(data: Any, what: str) -> None:
    """A user or group Okta sent without an id cannot be acted on: a MalformedResponse, never a KeyError."""
    if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not data["id"]:
        raise MalformedResponse("okta", f"expected a JSON object with an id for each {what}")


def _quote(value: str) -> str:
    """A string literal for Okta's search expression."""
    return json.dumps(value, ensure_ascii=False)


def _json_list(response: requests.Response) -> list[dict[str, Any]]:
    return json_body(response, "okta", list)


def _json_object(response: requests.Response) -> dict[str, Any]:
    body = json_body(response, "okta", dict)
    if "id" not in body:
        raise MalformedResponse("okta", "expected a JSON object with an id", status=response.status_code)
    return body
