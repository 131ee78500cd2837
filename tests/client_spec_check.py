"""Every request the clients send to the sandbox, checked against the vendor's contract.

The check sits in a transport adapter, so it sees each request before it leaves (including the
ones that then time out or are refused); a request the spec does not allow raises
SpecViolation, which the clients never catch, and is also kept for the fixture to report.

Okta and Jira requests are validated against the contracts in contracts/ (the operations the product
uses, cut from the vendors' published specs) with the sandbox's validators in tests/openapi_specs.py,
plus three checks they lack: the operation is one of the contract's (a request to any other is a
violation, so the contract cannot fall behind the clients), no query parameter the operation does not
declare (openapi-core ignores unknown ones), and a Content-Length on every POST/PUT (Okta answers 411
without one). Neither published spec describes the two endpoints below, so they are checked by hand
against the vendors' documentation (contracts/README.md):
- Okta's OAuth token endpoint (POST /oauth2/v1/token, a form with a private_key_jwt assertion, and a DPoP
  proof in the DPoP header; an API call with a DPoP-bound token carries one too, with `ath`),
- Workday RaaS (GET /ccx/service/customreport2/{tenant}/{owner}/{report}?format=json, Basic auth).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, parse_qsl, unquote, urlsplit

import jwt
import requests
from openapi_core import OpenAPI

from tests.openapi_specs import jira_spec, okta_spec, validate_jira, validate_okta

# Okta's list pagination (after/limit) also applies to lists whose description omits it.
OKTA_PAGINATION = {"after", "limit"}
RAAS_PATH = re.compile(r"^/ccx/service/customreport2/[^/]+/[^/]+/[^/]+$")


class SpecViolation(AssertionError):
    pass


class SpecCheck:
    """Route a session's requests for the sandbox through the vendor-spec check."""

    def __init__(self, okta_url: str, jira_url: str, workday_report_url: str) -> None:
        self.okta_url = okta_url.rstrip("/")
        self.jira_url = jira_url.rstrip("/")
        self.workday_report_path = urlsplit(workday_report_url).path
        self.checked: list[str] = []
        self.violations: list[str] = []

    def session(self) -> requests.Session:
        session = requests.Session()
        adapter = _CheckingAdapter(self)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    def check(self, request: requests.PreparedRequest) -> None:
        url = request.url or ""
        described = f"{request.method} {urlsplit(url).path}"
        try:
            if url.startswith(self.okta_url + "/oauth2/v1/token"):
                _check_okta_token_request(request, self.okta_url)
            elif url.startswith(self.okta_url + "/"):
                _check_openapi(validate_okta, okta_spec(), request, self.okta_url, OKTA_PAGINATION)
            elif url.startswith(self.jira_url + "/"):
                _check_openapi(validate_jira, jira_spec(), request, self.jira_url, set())
            elif urlsplit(url).path == self.workday_report_path:
                _check_raas_request(request, self.workday_report_path)
            else:
                raise SpecViolation("not a URL of any vendor the clients talk to")
        except SpecViolation as e:
            self.violations.append(f"{described}: {e}")
            raise SpecViolation(f"{described}: {e}") from None
        self.checked.append(described)


class _CheckingAdapter(requests.adapters.HTTPAdapter):
    def __init__(self, spec_check: SpecCheck) -> None:
        super().__init__()
        self.spec_check = spec_check

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        self.spec_check.check(request)
        return super().send(request, *args, **kwargs)


def _require_auth(request: requests.PreparedRequest, scheme: str | tuple[str, ...]) -> None:
    if not request.headers.get("Authorization", "").startswith(scheme):
        raise SpecViolation(f"no {scheme} Authorization header")


def _check_openapi(
    validate: Callable[..., None],
    spec: OpenAPI,
    request: requests.PreparedRequest,
    base_url: str,
    always_allowed: set[str],
) -> None:
    parts = urlsplit(request.url or "")
    path = parts.path[len(urlsplit(base_url).path) :]
    template = _operation_template(spec, request.method or "", path)
    _require_auth(request, ("SSWS ", "Bearer ", "Basic ", "DPoP "))
    if request.headers["Authorization"].startswith("DPoP "):
        _check_dpop_proof(request, access_token=request.headers["Authorization"].removeprefix("DPoP "))
    if request.method in ("POST", "PUT") and "Content-Length" not in request.headers:
        raise SpecViolation("POST/PUT without Content-Length")
    if not _is_jira_attachment_upload(request):
        # (The Jira spec types the attachment form as an array; it is checked by hand instead.)
        try:
            validate(request.method, request.url, request.headers, request.body)
        except AssertionError as e:
            raise SpecViolation(str(e)) from None
    declared = _declared_query_parameters(spec, request.method or "", template) | always_allowed
    undeclared = {name for name, _ in parse_qsl(parts.query)} - declared
    if undeclared:
        raise SpecViolation(f"query parameters the operation does not declare: {sorted(undeclared)}")


def _operation_template(spec: OpenAPI, method: str, path: str) -> str:
    """The contract's path template of this request's operation; SpecViolation if the contract lacks it."""
    paths = spec.spec / "paths"
    matching = [t for t in paths.read_value() if _template_pattern(t).fullmatch(path)]
    # "/users/me" beats "/users/{id}": the template with the fewest variables is the one meant.
    template = min(matching, key=lambda t: t.count("{"), default=None)
    if template is None or method.lower() not in (paths / template).read_value():
        title = (spec.spec / "info" / "title").read_value()
        raise SpecViolation(
            f"the contract for {title} (contracts/) has no such operation: declare it in contracts/operations.json "
            "and run scripts/extract_contracts.py"
        )
    return template


def _declared_query_parameters(spec: OpenAPI, method: str, template: str) -> set[str]:
    paths = spec.spec / "paths"
    names = set()
    for level in (paths / template, paths / template / method.lower()):
        for parameter in level.get("parameters", []):
            if parameter["in"] == "query":
                names.add(parameter["name"])
    return names


def _template_pattern(template: str) -> re.Pattern[str]:
    return re.compile(
        "".join(r"[^/]+" if part.startswith("{") else re.escape(part) for part in re.split(r"(\{[^}]+\})", template))
    )


def _is_jira_attachment_upload(request: requests.PreparedRequest) -> bool:
    if request.method != "POST" or not (request.url or "").rstrip("/").endswith("/attachments"):
        return False
    if request.headers.get("X-Atlassian-Token") != "no-check":
        raise SpecViolation("attachment upload without X-Atlassian-Token: no-check")
    body = request.body if isinstance(request.body, bytes) else b""
    if not request.headers.get("Content-Type", "").startswith("multipart/form-data") or b'name="file"' not in body:
        raise SpecViolation("attachment upload is not a multipart form with a `file` part")
    return True


def _check_okta_token_request(request: requests.PreparedRequest, okta_url: str) -> None:
    if request.method != "POST" or urlsplit(request.url or "").query:
        raise SpecViolation("the token endpoint takes a POST without query parameters")
    if request.headers.get("Content-Type") != "application/x-www-form-urlencoded":
        raise SpecViolation("the token request must be form-encoded")
    body = request.body.decode() if isinstance(request.body, bytes) else request.body or ""
    form = {name: values[0] for name, values in parse_qs(body).items()}
    expected = {"grant_type", "scope", "client_assertion_type", "client_assertion"}
    if set(form) != expected:
        raise SpecViolation(f"token form fields {sorted(form)} instead of {sorted(expected)}")
    if form["grant_type"] != "client_credentials":
        raise SpecViolation("grant_type must be client_credentials")
    if form["client_assertion_type"] != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
        raise SpecViolation("wrong client_assertion_type")
    claims = jwt.decode(form["client_assertion"], options={"verify_signature": False})
    if claims.get("aud") != f"{okta_url}/oauth2/v1/token" or claims.get("iss") != claims.get("sub"):
        raise SpecViolation(f"client assertion claims are wrong: {claims}")
    if jwt.get_unverified_header(form["client_assertion"]).get("alg") != "RS256":
        raise SpecViolation("client assertion must be signed RS256")
    if "DPoP" in request.headers:
        _check_dpop_proof(request)


def _check_dpop_proof(request: requests.PreparedRequest, access_token: str = "") -> None:
    """RFC 9449 section 4.2: the proof's header and claims, for this request (its signature is the sandbox's
    to check, as Okta does)."""
    proof = request.headers.get("DPoP")
    if not proof:
        raise SpecViolation("a DPoP-bound token without a DPoP proof")
    header = jwt.get_unverified_header(proof)
    jwk = header.get("jwk")
    if header.get("typ") != "dpop+jwt" or not isinstance(jwk, dict) or {"d", "p", "q"} & set(jwk):
        raise SpecViolation(f"a DPoP proof's header needs typ dpop+jwt and a public jwk: {header}")
    if header.get("alg") not in ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512"):
        raise SpecViolation(f"a DPoP proof signed {header.get('alg')}, which Okta does not take")
    claims = jwt.decode(proof, options={"verify_signature": False})
    parts = urlsplit(request.url or "")
    expected = {"htm": request.method, "htu": f"{parts.scheme}://{parts.netloc}{unquote(parts.path)}"}
    if {name: claims.get(name) for name in expected} != expected or not claims.get("jti") or "iat" not in claims:
        raise SpecViolation(f"a DPoP proof's claims do not name this request: {claims}")
    if access_token and "ath" not in claims:
        raise SpecViolation("a DPoP proof sent with an access token needs its hash (ath)")


def _check_raas_request(request: requests.PreparedRequest, report_path: str) -> None:
    parts = urlsplit(request.url or "")
    if request.method != "GET" or request.body:
        raise SpecViolation("RaaS reports are read with a body-less GET")
    if not RAAS_PATH.match(parts.path.removeprefix(report_path.split("/ccx/")[0])):
        raise SpecViolation("not a RaaS report path")
    if dict(parse_qsl(parts.query)) != {"format": "json"}:
        raise SpecViolation(f"query must be exactly format=json, not {parts.query!r}")
    _require_auth(request, "Basic ")
