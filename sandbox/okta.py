"""Simulated Okta Management API: the users, groups, sessions, lifecycle and OAuth subset the product uses.

Strict where Okta is strict (status rules, group types, scopes, rate limits); quirks the specs do not
state are listed in contracts/README.md.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlencode

import jwt
from werkzeug import Request, Response
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule

from sandbox import credentials, dpop
from sandbox.keys import SERVICE_APP_CLIENT_ID, SERVICE_APP_PUBLIC_KEY_PEM
from sandbox.service import Service, json_response
from sandbox.state import OktaUser, okta_timestamp

API_TOKEN = credentials.OKTA_API_TOKEN
SERVICE_APP_SCOPES = {
    "okta.users.read",
    "okta.users.manage",
    "okta.groups.read",
    "okta.groups.manage",
    "okta.apps.read",
    "okta.apps.manage",
    "okta.roles.read",
    "okta.universalLogout.manage",
}
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_PAGE = 200
# Which properties `filter` may name (the Users API documents this short list); `search` takes any.
FILTERABLE = {"status", "lastUpdated", "id", "profile.login", "profile.email", "profile.firstName", "profile.lastName"}
# One route each, as the spec has one operation each: the route table is then the list of operations served.
LIFECYCLE_ACTIONS = ("activate", "deactivate", "reactivate", "suspend", "unsuspend")

ERRORS = {
    "E0000001": (400, "Api validation failed: {0}"),
    "E0000003": (400, "The request body was not well-formed."),
    "E0000006": (403, "You do not have permission to perform the requested action"),
    "E0000007": (404, "Not found: Resource not found: {0}"),
    "E0000008": (404, "The requested path was not found"),
    "E0000009": (500, "Internal Server Error"),
    "E0000011": (401, "Invalid token provided"),
    "E0000016": (403, "Activation failed because the user is already active"),
    "E0000022": (405, "The endpoint does not support the provided HTTP method"),
    "E0000031": (400, "Invalid search criteria."),
    "E0000038": (403, "This operation is not allowed in the user's current status."),
    "E0000047": (429, "API call exceeded rate limit due to too many requests."),
    # The error-codes page lists 400, but the group-membership operations document only 204/403/404/429:
    # we answer 403 so a client cannot tell the two apart by status and must read errorCode.
    "E0000060": (403, "Unsupported operation."),
}


class OktaError(Exception):
    def __init__(self, code: str, *args: str, causes: list[str] = (), headers: dict | None = None) -> None:
        self.code, self.args_, self.causes, self.headers = code, args, list(causes), headers or {}

    def response(self) -> Response:
        status, summary = ERRORS[self.code]
        body = {
            "errorCode": self.code,
            "errorSummary": summary.format(*self.args_) if self.args_ else summary.replace(": {0}", ""),
            "errorLink": self.code,
            "errorId": "oae" + secrets.token_urlsafe(16).replace("-", "x").replace("_", "y")[:22],
            "errorCauses": [{"errorSummary": cause} for cause in self.causes],
        }
        return json_response(body, status, headers=self.headers)


class OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str, headers: dict | None = None) -> None:
        self.status, self.error, self.description, self.headers = status, error, description, headers or {}

    def response(self) -> Response:
        body = {"error": self.error, "error_description": self.description}
        return json_response(body, self.status, headers=self.headers)


class DPoPRefused(Exception):
    """An API call whose DPoP proof Okta refuses: 400 with an empty body, the reason in the DPoP challenge."""

    def __init__(self, challenge: str) -> None:
        self.challenge = challenge

    def response(self) -> Response:
        return Response(status=400, headers={"WWW-Authenticate": self.challenge})


def rate_limit_family(method: str, path: str) -> str:
    if path.startswith("/oauth2/"):
        return "/oauth2/v1/token"
    if method == "GET" and re.fullmatch(r"/api/v1/users/[^/]+", path):
        return "GET /api/v1/users/{id}"
    if path.startswith("/api/v1/users"):
        return "/api/v1/users"
    if path.startswith("/api/v1/groups"):
        return "/api/v1/groups"
    return "/api/v1"


# -- search and filter expressions -------------------------------------------------------------
_CLAUSE = re.compile(r'\s*([A-Za-z_][\w.]*)\s+(eq|sw|co)\s+"((?:[^"\\]|\\.)*)"\s*', re.IGNORECASE)
_JOIN = re.compile(r"(and|or)\b", re.IGNORECASE)


@dataclass
class Clause:
    attribute: str
    operator: str
    value: str

    def test(self, user: OktaUser, case_sensitive: bool) -> bool:
        if self.attribute == "status":
            actual = user.status
        elif self.attribute == "id":
            actual = user.id
        elif self.attribute.startswith("profile."):
            actual = user.profile.get(self.attribute.removeprefix("profile."))
        else:
            return False
        if actual is None:
            return False
        actual, wanted = str(actual), self.value
        if not case_sensitive:
            actual, wanted = actual.lower(), wanted.lower()
        if self.operator == "eq":
            return actual == wanted
        if self.operator == "sw":
            return actual.startswith(wanted)
        return wanted in actual


def parse_expression(text: str, *, is_filter: bool) -> Callable[[OktaUser], bool]:
    """`a eq "x" and b sw "y" or ...` ('and' binds tighter); no parentheses, as the product needs none."""
    alternatives: list[list[Clause]] = [[]]
    position = 0
    while True:
        match = _CLAUSE.match(text, position)
        if not match:
            raise OktaError("E0000031", causes=[f"Invalid search criteria at position {position}: {text!r}"])
        attribute, operator, value = match.group(1), match.group(2).lower(), match.group(3).replace('\\"', '"')
        if is_filter and (attribute not in FILTERABLE or operator != "eq"):
            raise OktaError("E0000031", causes=[f"Filtering on {attribute} {operator} is not supported"])
        alternatives[-1].append(Clause(attribute, operator, value))
        position = match.end()
        if position == len(text):
            break
        join = _JOIN.match(text, position)
        if not join:
            raise OktaError("E0000031", causes=[f"Invalid search criteria at position {position}: {text!r}"])
        if join.group(1).lower() == "or":
            alternatives.append([])
        position = join.end()
    return lambda user: any(all(c.test(user, is_filter) for c in clauses) for clauses in alternatives)


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(f"cursor:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(after: str) -> str:
    try:
        decoded = base64.urlsafe_b64decode(after + "=" * (-len(after) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        decoded = ""
    if not decoded.startswith("cursor:"):
        raise OktaError("E0000001", "after", causes=["after: The cursor is not valid."])
    return decoded.removeprefix("cursor:")


@dataclass(frozen=True)
class Challenge:
    """Okta's WWW-Authenticate for a refused token, in the scheme the token was sent with."""

    scheme: str
    org_url: str
    resource: str
    scope: str

    def saying(self, error: str, description: str, *, scope: bool = False) -> str:
        if self.scheme == "DPoP":
            return (
                f'DPoP algs="{" ".join(dpop.ALGORITHMS)}", authorization_uri="{self.org_url}/oauth2/v1/authorize", '
                f'realm="{self.org_url}", scope="{self.scope}", error="{error}", '
                f'error_description="{description}", resource="{self.resource}"'
            )
        scope_part = f'scope="{self.scope}", ' if scope else ""
        return (
            f'Bearer authorization_uri="{self.org_url}/oauth2/v1/authorize", realm="Okta", error="{error}", '
            f'{scope_part}error_description="{description}"'
        )


class OktaService(Service):
    name = "okta"
    routes = Map(
        [
            Rule("/api/v1/users", methods=["GET"], endpoint="list_users"),
            Rule("/api/v1/users/<id>", methods=["GET"], endpoint="get_user"),
            Rule("/api/v1/users/<id>/groups", methods=["GET"], endpoint="list_user_groups"),
            Rule("/api/v1/users/<id>/roles", methods=["GET"], endpoint="list_user_roles"),
            Rule("/api/v1/apps", methods=["GET"], endpoint="list_apps"),
            Rule("/api/v1/apps/<app_id>/groups", methods=["GET"], endpoint="list_app_groups"),
            Rule("/api/v1/apps/<app_id>/features", methods=["GET"], endpoint="list_app_features"),
            Rule("/api/v1/apps/<app_id>/users", methods=["POST"], endpoint="assign_app_user"),
            Rule("/api/v1/apps/<app_id>/users/<user_id>", methods=["GET"], endpoint="get_app_user"),
            Rule("/api/v1/groups", methods=["GET"], endpoint="list_groups"),
            Rule("/api/v1/groups/rules", methods=["GET"], endpoint="list_group_rules"),
            Rule("/api/v1/groups/rules/<rule_id>", methods=["GET"], endpoint="get_group_rule"),
            Rule("/api/v1/groups/rules/<rule_id>", methods=["PUT"], endpoint="replace_group_rule"),
            *(
                Rule(
                    f"/api/v1/groups/rules/<rule_id>/lifecycle/{action}",
                    methods=["POST"],
                    endpoint="rule_lifecycle",
                    defaults={"action": action},
                )
                for action in ("activate", "deactivate")
            ),
            Rule("/api/v1/groups/<group_id>/owners", methods=["GET"], endpoint="list_group_owners"),
            Rule("/api/v1/users/<id>/sessions", methods=["DELETE"], endpoint="clear_sessions"),
            *(
                Rule(
                    f"/api/v1/users/<id>/lifecycle/{action}",
                    methods=["POST"],
                    endpoint="lifecycle",
                    defaults={"action": action},
                )
                for action in LIFECYCLE_ACTIONS
            ),
            Rule("/api/v1/groups/<group_id>", methods=["GET"], endpoint="get_group"),
            Rule("/api/v1/groups/<group_id>/users/<user_id>", methods=["PUT", "DELETE"], endpoint="membership"),
            Rule("/oauth2/v1/token", methods=["POST"], endpoint="token"),
            Rule("/oauth2/v1/global-token-revocation", methods=["POST"], endpoint="global_token_revocation"),
        ],
        strict_slashes=False,
    )
    # The scope each operation needs from an OAuth access token (an API token may do everything).
    scopes = {
        "list_users": "okta.users.read",
        "get_user": "okta.users.read",
        "list_user_groups": "okta.users.read",
        "list_user_roles": "okta.roles.read",
        "list_apps": "okta.apps.read",
        "list_app_groups": "okta.apps.read",
        "list_app_features": "okta.apps.read",
        "assign_app_user": "okta.apps.manage",
        "get_app_user": "okta.apps.read",
        "list_groups": "okta.groups.read",
        "list_group_rules": "okta.groups.read",
        "get_group_rule": "okta.groups.read",
        "replace_group_rule": "okta.groups.manage",
        "rule_lifecycle": "okta.groups.manage",
        "list_group_owners": "okta.groups.read",
        "global_token_revocation": "okta.universalLogout.manage",
        "clear_sessions": "okta.users.manage",
        "lifecycle": "okta.users.manage",
        "get_group": "okta.groups.read",
        "membership": "okta.groups.manage",
    }

    # -- the front door: concurrency, rate limits, headers ------------------------------------
    @contextmanager
    def admission(self, request: Request, path: str) -> Iterator[Response | None]:
        state, options = self.state, self.state.options
        family = rate_limit_family(request.method, path)
        limit = options.rate_limits[family]
        now = self.state.now()
        with state.lock:
            admitted = state.in_flight < options.concurrency_limit
            if admitted:
                state.in_flight += 1
                window = options.rate_limit_window
                start = math.floor(now / window) * window
                window_start, used = state.rate_windows.get(family, (start, 0))
                used = (used if window_start == start else 0) + 1
                state.rate_windows[family] = (start, used)
        if not admitted:
            # Okta reports a concurrency violation with a zero limit.
            request.environ["sandbox.rate"] = (0, 0, math.ceil(now) + 1)
            yield OktaError("E0000047", causes=["Too many concurrent requests."]).response()
            return
        request.environ["sandbox.rate"] = (limit, max(0, limit - used), math.ceil(start + window))
        try:
            yield OktaError("E0000047").response() if used > limit else None
        finally:
            with state.lock:
                state.in_flight -= 1

    def finish(self, request: Request, response: Response) -> Response:
        limit, remaining, reset = request.environ.get("sandbox.rate", (0, 0, math.ceil(self.state.now())))
        # (A rate_limit fault's answer says its own remaining count and reset.)
        response.headers.setdefault("X-Rate-Limit-Limit", str(limit))
        response.headers.setdefault("X-Rate-Limit-Remaining", str(remaining))
        response.headers.setdefault("X-Rate-Limit-Reset", str(reset))
        response.headers["X-Okta-Request-Id"] = secrets.token_urlsafe(18)
        if jti := dpop.unverified_id(request.headers.get("DPoP", "")):
            # Okta spends a proof on any answer, a 429 or a 5xx too: a retry must carry a new one.
            with self.state.lock:
                self.state.used_dpop_ids.add(jti)
        return response

    def error_response(self, status: int) -> Response:
        if status == 500:
            return OktaError("E0000009").response()
        return super().error_response(status)

    def rate_limited_response(self, retry_after: int) -> Response:
        """A 429 storm: the window is spent, and resets `retry_after` seconds after the Date it is answered at."""
        response = OktaError("E0000047").response()
        response.headers["X-Rate-Limit-Remaining"] = "0"
        response.headers["X-Rate-Limit-Reset"] = str(int(self.state.now()) + retry_after)
        return response

    # -- dispatch ---------------------------------------------------------------------------
    def handle(self, request: Request, path: str) -> Response:
        try:
            if request.method == "POST" and not self.declares_length(request):
                return Response("<html><body><h1>411 Length Required</h1></body></html>", 411, content_type="text/html")
            try:
                endpoint, args = self.routes.bind("sandbox").match(path, request.method)
            except MethodNotAllowed:
                raise OktaError("E0000022") from None
            except NotFound:
                raise OktaError("E0000008") from None
            if endpoint == "token":
                return self.token(request)
            self.authorize(request, path, self.scopes[endpoint])
            with self.state.lock:
                return getattr(self, endpoint)(request, **args)
        except (OktaError, OAuthError, DPoPRefused) as error:
            return error.response()

    @staticmethod
    def declares_length(request: Request) -> bool:
        return bool(request.environ.get("CONTENT_LENGTH")) or "chunked" in request.headers.get("Transfer-Encoding", "")

    def base_url(self, request: Request) -> str:
        return request.host_url.rstrip("/") + "/okta"

    # -- authentication -----------------------------------------------------------------------
    def authorize(self, request: Request, path: str, scope: str) -> None:
        authorization = request.headers.get("Authorization", "")
        # Okta takes an API token with or without a space after SSWS (Okta's own Python SDK 3.x sends none).
        if authorization.startswith("SSWS") and secrets.compare_digest(authorization[4:].strip(), API_TOKEN):
            return
        scheme, _, credential = authorization.partition(" ")
        if scheme not in ("Bearer", "DPoP"):
            raise OktaError("E0000011")
        with self.state.lock:
            token = self.state.access_tokens.get(credential)
        challenge = Challenge(scheme, self.base_url(request), path, scope)
        if not token or token["expires_at"] <= self.state.now():
            reason = "The token has expired." if token else "The access token is invalid."
            raise OktaError("E0000011", headers={"WWW-Authenticate": challenge.saying("invalid_token", reason)})
        if (scheme == "DPoP") != bool(token["jkt"]):
            # A bound token sent as Bearer (a thief without the key), or a Bearer token sent as DPoP.
            reason = f"The access token is not a {scheme} token."
            raise OktaError("E0000011", headers={"WWW-Authenticate": challenge.saying("invalid_token", reason)})
        if token["jkt"]:
            url = self.base_url(request) + path
            with self.state.lock:
                try:
                    proof = dpop.check(
                        request.headers.getlist("DPoP"),
                        request.method,
                        url,
                        self.state.now(),
                        self.state.used_dpop_ids,
                        access_token=credential,
                    )
                except dpop.InvalidProof as error:
                    raise DPoPRefused(challenge.saying("invalid_dpop_proof", error.description)) from None
            if proof.jkt != token["jkt"]:
                reason = "The DPoP proof JWT is not signed by the key the access token is bound to."
                raise DPoPRefused(challenge.saying("invalid_dpop_proof", reason))
        granted = token["scopes"]
        if scope not in granted and scope.replace(".read", ".manage") not in granted:
            reason = "The access token provided does not contain the required scopes."
            raise OktaError(
                "E0000006", headers={"WWW-Authenticate": challenge.saying("insufficient_scope", reason, scope=True)}
            )

    def token(self, request: Request) -> Response:
        if request.mimetype != "application/x-www-form-urlencoded":
            raise OAuthError(400, "invalid_request", "The request must be application/x-www-form-urlencoded.")
        form = request.form
        if form.get("grant_type") != "client_credentials":
            raise OAuthError(400, "unsupported_grant_type", "The authorization grant type is not supported.")
        if form.get("client_assertion_type") != ASSERTION_TYPE or not form.get("client_assertion"):
            raise OAuthError(401, "invalid_client", "Client authentication failed: a client_assertion is required.")
        token_url = self.base_url(request) + "/oauth2/v1/token"
        try:
            claims = jwt.decode(
                form["client_assertion"],
                SERVICE_APP_PUBLIC_KEY_PEM,
                algorithms=["RS256", "RS384", "RS512"],
                audience=token_url,
                issuer=SERVICE_APP_CLIENT_ID,
                options={"require": ["aud", "exp", "iss", "sub"]},
            )
        except jwt.PyJWTError as error:
            raise OAuthError(401, "invalid_client", f"The client_assertion token is invalid: {error}.") from None
        if claims["sub"] != SERVICE_APP_CLIENT_ID or form.get("client_id", claims["sub"]) != claims["sub"]:
            raise OAuthError(401, "invalid_client", "The client_assertion sub and iss must be the client id.")
        if claims["exp"] > self.state.now() + 3600:
            raise OAuthError(401, "invalid_client", "The client_assertion token expires more than an hour ahead.")
        with self.state.lock:
            # Okta spends the assertion on every request, one it answers use_dpop_nonce too.
            jti = claims.get("jti")
            if jti and jti in self.state.used_assertion_ids:
                raise OAuthError(401, "invalid_client", "The client_assertion token has already been used.")
            if jti:
                self.state.used_assertion_ids.add(jti)
        requested = set(form.get("scope", "").split())
        if not requested:
            raise OAuthError(400, "invalid_scope", "The authorization server requires a scope.")
        if requested - SERVICE_APP_SCOPES:
            not_allowed = " ".join(sorted(requested - SERVICE_APP_SCOPES))
            raise OAuthError(400, "invalid_scope", f"The following scopes are not allowed: {not_allowed}")
        # Without the requirement the app is not DPoP-bound: a proof it is sent is ignored.
        jkt = self.token_request_proof(request, token_url).jkt if self.state.options.okta_require_dpop else None
        with self.state.lock:
            lifetime = self.state.options.okta_token_lifetime
            access_token = secrets.token_urlsafe(32)
            self.state.access_tokens[access_token] = {
                "scopes": requested,
                "expires_at": self.state.now() + lifetime,
                "jkt": jkt,
            }
        body = {
            "token_type": "DPoP" if jkt else "Bearer",
            "expires_in": lifetime,
            "access_token": access_token,
            "scope": " ".join(sorted(requested)),
        }
        return json_response(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    def token_request_proof(self, request: Request, token_url: str) -> dpop.Proof:
        """The token request's DPoP proof, carrying the nonce Okta handed out (else it hands it out)."""
        with self.state.lock:
            try:
                proof = dpop.check(
                    request.headers.getlist("DPoP"), "POST", token_url, self.state.now(), self.state.used_dpop_ids
                )
            except dpop.InvalidProof as error:
                raise OAuthError(400, "invalid_dpop_proof", error.description) from None
            nonce = self.state.dpop_nonce
        if proof.nonce is None or not secrets.compare_digest(proof.nonce, nonce):
            description = "Authorization server requires nonce in DPoP proof."
            raise OAuthError(400, "use_dpop_nonce", description, headers={"DPoP-Nonce": nonce})
        return proof

    # -- users ------------------------------------------------------------------------------
    def user_or_404(self, id: str, *, by_login: bool = False) -> OktaUser:
        user = self.state.find_user(id) if by_login else self.state.users.get(id)
        if user is None:
            raise OktaError("E0000007", f"{id} (User)")
        user.settle(self.state.now())
        return user

    def page_size(self, request: Request, default: int) -> int:
        try:
            limit = int(request.args.get("limit", default))
        except ValueError:
            raise OktaError("E0000001", "limit", causes=["limit: must be a number"]) from None
        if limit < 1:
            raise OktaError("E0000001", "limit", causes=["limit: must be positive"])
        return min(limit, MAX_PAGE)

    def paged(self, request: Request, path: str, items: list, size: int, render: Callable) -> Response:
        """One page of `items` (sorted by id) after the request's cursor, with Okta's Link headers."""
        after = request.args.get("after")
        if after:
            last_id = decode_cursor(after)
            items = [item for item in items if item.id > last_id]
        page = items[:size]
        base = self.base_url(request) + path
        links = [f'<{base}?{urlencode(request.args)}>; rel="self"' if request.args else f'<{base}>; rel="self"']
        if len(items) > size:
            args = {k: v for k, v in request.args.items() if k != "after"}
            args["after"] = encode_cursor(page[-1].id)
            links.append(f'<{base}?{urlencode(args)}>; rel="next"')
        response = json_response([render(item) for item in page])
        for link in links:
            response.headers.add("Link", link)
        return response

    def list_users(self, request: Request) -> Response:
        search, filter, q = request.args.get("search"), request.args.get("filter"), request.args.get("q")
        users = sorted(self.state.all_users(), key=lambda u: u.id)
        if search or filter:
            # Both include deactivated users.
            matches = parse_expression(search or filter, is_filter=not search)
            users = [user for user in users if matches(user)]
        else:
            # The plain list, and `q`, leave deactivated users out.
            users = [u for u in users if u.status != "DEPROVISIONED"]
            if q:
                wanted = q.lower()
                users = [
                    u
                    for u in users
                    if any(
                        str(u.profile.get(k, "")).lower().startswith(wanted) for k in ("firstName", "lastName", "email")
                    )
                ]
                return json_response(
                    [u.as_okta_json(self.base_url(request)) for u in users[: self.page_size(request, 10)]]
                )
        base = self.base_url(request)
        return self.paged(
            request, "/api/v1/users", users, self.page_size(request, MAX_PAGE), lambda u: u.as_okta_json(base)
        )

    def get_user(self, request: Request, id: str) -> Response:
        if id == "me":
            # The user the API token belongs to; an OAuth service app's token has no user behind it.
            scheme = request.headers.get("Authorization", "").partition(" ")[0]
            if scheme != "SSWS" or self.state.token_owner_id is None:
                raise OktaError("E0000007", "me (User)")
            id = self.state.token_owner_id
        user = self.user_or_404(id, by_login=True)
        return json_response(user.as_okta_json(self.base_url(request)))

    def list_user_groups(self, request: Request, id: str) -> Response:
        user = self.user_or_404(id)
        groups = sorted((self.state.groups[gid] for gid in user.group_ids), key=lambda g: g.id)
        base = self.base_url(request)
        return self.paged(
            request,
            f"/api/v1/users/{id}/groups",
            groups,
            self.state.options.okta_page_size,
            lambda g: g.as_okta_json(base),
        )

    def clear_sessions(self, request: Request, id: str) -> Response:
        user = self.user_or_404(id)
        oauth_tokens = self.boolean_arg(request, "oauthTokens", False)
        self.boolean_arg(request, "forgetDevices", True)
        user.sessions_revoked = True
        user.oauth_tokens_revoked = user.oauth_tokens_revoked or oauth_tokens
        return Response(status=204)

    @staticmethod
    def boolean_arg(request: Request, name: str, default: bool) -> bool:
        value = request.args.get(name)
        if value is None:
            return default
        if value not in ("true", "false"):
            raise OktaError("E0000001", name, causes=[f"{name}: must be true or false"])
        return value == "true"

    def lifecycle(self, request: Request, id: str, action: str) -> Response:
        user = self.user_or_404(id)
        return getattr(self, action)(request, user, self.state.now())

    def deactivate(self, request: Request, user: OktaUser, now: float) -> Response:
        self.boolean_arg(request, "sendEmail", False)
        if "DEPROVISIONED" in (user.status, user.transitioning_to):
            # Seen in production: deactivating a deactivated user answers "not found".
            raise OktaError("E0000007", f"{user.id} (User)")
        if request.headers.get("Prefer") == "respond-async":
            user.transitioning_to = "DEPROVISIONED"
            user.settles_at = now + self.state.options.okta_async_delay
            self.state.on_deactivated(user)
            return Response(status=202)
        user.move_to("DEPROVISIONED", now)
        self.state.on_deactivated(user)
        return Response(status=200)  # the spec documents no body

    def suspend(self, request: Request, user: OktaUser, now: float) -> Response:
        if user.status != "ACTIVE":
            raise OktaError("E0000001", "suspendUser", causes=["Cannot suspend a user that is not active"])
        user.move_to("SUSPENDED", now)
        return Response(status=200)  # the spec documents no body

    def unsuspend(self, request: Request, user: OktaUser, now: float) -> Response:
        if user.status != "SUSPENDED":
            raise OktaError("E0000001", "unsuspendUser", causes=["Cannot unsuspend a user that is not suspended"])
        user.move_to("ACTIVE", now)
        return Response(status=200)  # the spec documents no body

    def activate(self, request: Request, user: OktaUser, now: float) -> Response:
        send_email = self.boolean_arg(request, "sendEmail", True)
        if user.status == "ACTIVE":
            raise OktaError("E0000016")
        if user.status not in ("STAGED", "DEPROVISIONED") or user.transitioning_to:
            raise OktaError("E0000038")
        # Without a password the user must finish the welcome flow: PROVISIONED until then.
        user.move_to("PROVISIONED", now)
        return self.activation_token(request, send_email)

    def reactivate(self, request: Request, user: OktaUser, now: float) -> Response:
        send_email = self.boolean_arg(request, "sendEmail", False)
        if user.status not in ("PROVISIONED", "RECOVERY"):
            raise OktaError("E0000038")
        user.move_to("PROVISIONED", now)
        return self.activation_token(request, send_email)

    def activation_token(self, request: Request, send_email: bool) -> Response:
        if send_email:
            return json_response({})
        token = secrets.token_urlsafe(15)
        return json_response({"activationToken": token, "activationUrl": f"{self.base_url(request)}/welcome/{token}"})

    # -- groups -----------------------------------------------------------------------------
    def list_groups(self, request: Request) -> Response:
        """Every group, or those a `filter` (on the type), a `search` expression (on id and profile attributes,
        as for users) or `q` (the start of the name, in any case) picks."""
        groups = sorted(self.state.groups.values(), key=lambda g: g.id)
        if filter := request.args.get("filter"):
            match = re.fullmatch(r'\s*type\s+eq\s+"(OKTA_GROUP|APP_GROUP|BUILT_IN)"\s*', filter)
            if not match:
                raise OktaError("E0000031", causes=[f"Filtering on {filter!r} is not supported"])
            groups = [g for g in groups if g.type == match.group(1)]
        if search := request.args.get("search"):
            matches = parse_expression(search, is_filter=False)
            groups = [g for g in groups if matches(g.searchable)]
        if q := request.args.get("q"):
            groups = [g for g in groups if g.name.lower().startswith(q.lower())]
        base = self.base_url(request)
        return self.paged(
            request, "/api/v1/groups", groups, self.page_size(request, MAX_PAGE), lambda g: g.as_okta_json(base)
        )

    def get_group(self, request: Request, group_id: str) -> Response:
        group = self.state.groups.get(group_id)
        if group is None:
            raise OktaError("E0000007", f"{group_id} (UserGroup)")
        return json_response(group.as_okta_json(self.base_url(request)))

    def membership(self, request: Request, group_id: str, user_id: str) -> Response:
        group = self.state.groups.get(group_id)
        if group is None:
            raise OktaError("E0000007", f"{group_id} (UserGroup)")
        user = self.user_or_404(user_id)
        if group.type == "BUILT_IN":
            raise OktaError("E0000060")
        if group.type == "APP_GROUP":
            # App imports own these memberships (e.g. Active Directory).
            raise OktaError("E0000006")
        if request.method == "PUT" and user.status == "DEPROVISIONED":
            # Okta answers a change to a deactivated user as if there were no such user.
            raise OktaError("E0000007", f"{user.id} (User)")
        if request.method == "PUT" and group_id not in user.group_ids:
            user.group_ids.append(group_id)
        elif request.method == "DELETE" and group_id in user.group_ids:
            user.group_ids.remove(group_id)
            self.state.on_left_group(user, group_id)
            # A rule-managed member removed by hand goes on the rule's exclusions, so the rule does not add
            # them back (Okta's group.user_membership.rule.add_exclusion).
            for rule in self.state.rules_targeting(group_id):
                if rule.status == "ACTIVE" and user.id in rule.matches and user.id not in rule.exclude:
                    rule.exclude.append(user.id)
        return Response(status=204)

    def group_or_404(self, group_id: str):
        group = self.state.groups.get(group_id)
        if group is None:
            raise OktaError("E0000007", f"{group_id} (UserGroup)")
        return group

    def list_group_owners(self, request: Request, group_id: str) -> Response:
        self.group_or_404(group_id)
        owners = []
        for uid in self.state.group_owners.get(group_id, []):
            user = self.state.users.get(uid)
            if user is not None:
                owners.append(
                    {
                        "id": uid,
                        "type": "USER",
                        "displayName": user.profile.get("displayName") or user.profile.get("login", ""),
                        "originType": "OKTA_DIRECTORY",
                        "resolved": True,
                        "lastUpdated": okta_timestamp(user.status_changed),
                    }
                )
        return json_response(owners)

    # -- group rules ------------------------------------------------------------------------
    def rule_or_404(self, rule_id: str):
        rule = self.state.group_rules.get(rule_id)
        if rule is None:
            raise OktaError("E0000007", f"{rule_id} (GroupRule)")
        return rule

    def list_group_rules(self, request: Request) -> Response:
        rules = sorted(self.state.group_rules.values(), key=lambda r: r.id)
        if search := request.args.get("search"):
            rules = [r for r in rules if search.lower() in r.name.lower()]
        return self.paged(
            request, "/api/v1/groups/rules", rules, self.page_size(request, 50), lambda r: r.as_okta_json()
        )

    def get_group_rule(self, request: Request, rule_id: str) -> Response:
        return json_response(self.rule_or_404(rule_id).as_okta_json())

    def replace_group_rule(self, request: Request, rule_id: str) -> Response:
        rule = self.rule_or_404(rule_id)
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise OktaError("E0000003")
        if rule.status == "ACTIVE":
            # Okta updates only inactive rules: deactivate, replace, activate.
            raise OktaError(
                "E0000001", "status", causes=["status: You can only update rules whose status is INACTIVE."]
            )
        try:
            name = body.get("name", rule.name)
            group_ids = body["actions"]["assignUserToGroups"]["groupIds"]
            exclude = body.get("conditions", {}).get("people", {}).get("users", {}).get("exclude", [])
            expression = body.get("conditions", {}).get("expression", {}).get("value", rule.expression)
        except (KeyError, TypeError, AttributeError):
            raise OktaError(
                "E0000001", "actions", causes=["actions: assignUserToGroups.groupIds is required"]
            ) from None
        if not isinstance(name, str) or not 1 <= len(name) <= 50:
            raise OktaError("E0000001", "name", causes=["name: must be 1 to 50 characters"])
        if sorted(group_ids) != sorted(rule.group_ids):
            raise OktaError("E0000001", "actions", causes=["actions: The actions of a group rule cannot be changed."])
        if not isinstance(exclude, list) or not all(isinstance(u, str) for u in exclude):
            raise OktaError(
                "E0000001", "conditions", causes=["conditions.people.users.exclude: must be a list of user ids"]
            )
        if len(exclude) > 100:
            raise OktaError("E0000001", "conditions", causes=["conditions.people.users.exclude: at most 100 users"])
        rule.name, rule.exclude, rule.expression = name, list(exclude), expression
        return json_response(rule.as_okta_json())

    def rule_lifecycle(self, request: Request, rule_id: str, action: str) -> Response:
        rule = self.rule_or_404(rule_id)
        if action == "activate":
            if rule.status == "INVALID":
                raise OktaError("E0000001", "status", causes=["status: An invalid rule cannot be activated."])
            rule.status = "ACTIVE"
            self.state.apply_rule(rule)
        else:
            rule.status = "INACTIVE"  # memberships the rule made stay
        return Response(status=204)

    # -- admin roles ------------------------------------------------------------------------
    def list_user_roles(self, request: Request, id: str) -> Response:
        user = self.user_or_404(id)
        return json_response([dict(role) for role in user.roles])

    # -- apps -------------------------------------------------------------------------------
    def app_or_404(self, app_id: str):
        app = self.state.apps.get(app_id)
        if app is None:
            raise OktaError("E0000007", f"{app_id} (AppInstance)")
        return app

    def app_user_json(self, request: Request, app, user) -> dict:
        scope, group_id = self.state.app_assignment(app, user) or ("USER", "")
        base = self.base_url(request)
        links = {
            "app": {"href": f"{base}/api/v1/apps/{app.id}"},
            "user": {"href": f"{base}/api/v1/users/{user.id}"},
        }
        if group_id:
            links["group"] = {"name": self.state.groups[group_id].name, "href": f"{base}/api/v1/groups/{group_id}"}
        status = "PROVISIONED" if app.provisioning else "ACTIVE"
        app_user = {
            "id": user.id,
            "scope": scope,
            "status": status,
            "syncState": "SYNCHRONIZED" if app.provisioning else "DISABLED",
            "credentials": {"userName": user.profile.get("login", "")},
            "profile": {},
            "_links": links,
        }
        if app.provisioning:
            app_user["externalId"] = f"ext-{user.id}"
        return app_user

    def list_apps(self, request: Request) -> Response:
        apps = sorted(self.state.apps.values(), key=lambda a: a.id)
        filter = request.args.get("filter")
        if filter:
            match = re.fullmatch(r'\s*(user\.id|group\.id|status|name)\s+eq\s+"([^"]*)"\s*', filter)
            if not match:
                raise OktaError("E0000031", causes=[f"Filtering on {filter!r} is not supported"])
            attribute, value = match.groups()
            if attribute == "user.id":
                user = self.user_or_404(value)
                apps = self.state.apps_of(user)
            elif attribute == "group.id":
                apps = [a for a in apps if value in a.group_ids]
            else:
                apps = [a for a in apps if getattr(a, attribute) == value]
        base = self.base_url(request)
        return self.paged(request, "/api/v1/apps", apps, self.page_size(request, 20), lambda a: a.as_okta_json(base))

    def get_app_user(self, request: Request, app_id: str, user_id: str) -> Response:
        app = self.app_or_404(app_id)
        user = self.user_or_404(user_id)
        if user not in [u for u in self.state.users.values() if self.state.app_assignment(app, u)]:
            raise OktaError("E0000007", f"{user_id} (AppUser)")
        return json_response(self.app_user_json(request, app, user))

    def list_app_groups(self, request: Request, app_id: str) -> Response:
        app = self.app_or_404(app_id)
        base = self.base_url(request)
        assignments = [
            {"id": gid, "priority": index, "profile": {}, "_links": {"group": {"href": f"{base}/api/v1/groups/{gid}"}}}
            for index, gid in enumerate(app.group_ids)
        ]
        return json_response(assignments)

    def list_app_features(self, request: Request, app_id: str) -> Response:
        app = self.app_or_404(app_id)
        if not app.provisioning:
            raise OktaError("E0000001", "feature", causes=["Provisioning is not enabled for the app instance."])
        enabled = "ENABLED" if app.deactivate_users else "DISABLED"
        base = self.base_url(request)
        return json_response(
            [
                {
                    "name": "USER_PROVISIONING",
                    "status": "ENABLED",
                    "description": "User provisioning settings from Okta to a downstream app",
                    "capabilities": {
                        "create": {"lifecycleCreate": {"status": "ENABLED"}},
                        "update": {
                            "lifecycleDeactivate": {"status": enabled},
                            "profile": {"status": "ENABLED"},
                            "password": {"status": "DISABLED", "seed": "RANDOM", "change": "KEEP_EXISTING"},
                        },
                    },
                    "_links": {"self": {"href": f"{base}/api/v1/apps/{app.id}/features/USER_PROVISIONING"}},
                },
                {"name": "INBOUND_PROVISIONING", "status": "DISABLED", "description": "In-bound provisioning settings"},
            ]
        )

    def assign_app_user(self, request: Request, app_id: str) -> Response:
        app = self.app_or_404(app_id)
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("id"), str):
            raise OktaError("E0000001", "id", causes=["id: The user id is required."])
        user = self.user_or_404(body["id"])
        if user.status == "DEPROVISIONED":
            raise OktaError("E0000007", f"{user.id} (User)")
        if body.get("scope", "USER") not in ("USER", "GROUP"):
            raise OktaError("E0000001", "scope", causes=["scope: must be USER or GROUP"])
        if user.id not in app.user_ids:
            app.user_ids.append(user.id)
        app.accounts[user.id] = "ACTIVE"
        return json_response(self.app_user_json(request, app, user))

    # -- Universal Logout -------------------------------------------------------------------
    def global_token_revocation(self, request: Request) -> Response:
        body = request.get_json(silent=True)
        sub_id = body.get("sub_id") if isinstance(body, dict) else None
        if not isinstance(sub_id, dict) or sub_id.get("format") != "opaque" or not isinstance(sub_id.get("id"), str):
            raise OAuthError(400, "invalid_request", 'sub_id must be {"format": "opaque", "id": <Okta user id>}.')
        user = self.state.users.get(sub_id["id"])
        if user is None:
            raise OAuthError(404, "invalid_request", "The subject was not found.")
        user.universal_logouts += 1
        user.sessions_revoked = user.oauth_tokens_revoked = True
        for app in self.state.apps.values():
            if app.universal_logout and self.state.app_assignment(app, user) and user.id not in app.sessions_ended:
                app.sessions_ended.append(user.id)
        return Response(status=204)
