"""Check HTTP exchanges against the vendors' contracts in contracts/ (openapi-core).

A request or response the contract does not allow raises AssertionError naming what is wrong.

    validate_okta("GET", url, headers, None, 200, response.headers, response.content)
    check_okta(response)                      # a requests.Response: its request and itself
    session.hooks["response"].append(okta_hook)   # every answer a session gets

The contracts are the operations the product uses, cut from the vendors' published OpenAPI specs by
scripts/extract_contracts.py (see contracts/README.md); an operation outside them is refused like any
other request the vendor does not allow. Workday publishes no spec for RaaS custom reports, so
`validate_workday_report` checks the report against the JSON Schema written from its documentation.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from jsonschema import Draft202012Validator
from jsonschema_path import SchemaPath
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.exceptions import OpenAPIError
from openapi_core.validation.response.exceptions import MissingData
from openapi_schema_validator import OAS30Validator
from werkzeug.datastructures import Headers, ImmutableMultiDict

CONTRACTS = Path(__file__).resolve().parent.parent / "contracts"
SPEC_HOST = "http://vendor.invalid"
# The part of a sandbox URL before the vendor's own paths.
PREFIXES = {"okta": "/okta", "jira": "/jira"}


@cache
def okta_spec() -> OpenAPI:
    return _openapi(_contract("okta-management.json"))


@cache
def jira_spec() -> OpenAPI:
    return _openapi(_contract("jira-platform-v3.json"))


def _contract(name: str) -> dict:
    with open(CONTRACTS / name, "rb") as contract:
        return json.load(contract)


def _openapi(document: dict) -> OpenAPI:
    # Validate against the vendor's paths wherever the server runs; the script validated the contract itself.
    document["servers"] = [{"url": SPEC_HOST}]
    return OpenAPI(SchemaPath.from_dict(document), config=Config(spec_validator_cls=None))


@dataclass
class _Request:
    host_url: str
    path: str
    method: str
    parameters: RequestParameters
    content_type: str
    body: bytes | None


@dataclass
class _Response:
    status_code: int
    headers: Headers
    data: bytes
    content_type: str


def _as_bytes(body: Any) -> bytes | None:
    if body is None or isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode()


def _request(service: str, method: str, url: str, headers: Any, body: Any) -> _Request:
    parts = urlsplit(url)
    prefix = PREFIXES[service]
    path = parts.path
    # Clients may be pointed at the sandbox (".../okta/api/v1/...") or at a real org ("/api/v1/...").
    if path.startswith(prefix + "/"):
        path = path[len(prefix) :]
    headers = Headers(dict(headers or {}))
    return _Request(
        host_url=SPEC_HOST,
        path=path,
        method=method.lower(),
        parameters=RequestParameters(
            query=ImmutableMultiDict(parse_qsl(parts.query, keep_blank_values=True)),
            header=headers,
            cookie=ImmutableMultiDict(),
        ),
        content_type=headers.get("Content-Type", "").lower(),
        body=_as_bytes(body),
    )


def _validate(
    spec: OpenAPI,
    service: str,
    request_method: str,
    url: str,
    headers: Any = None,
    body: Any = None,
    response_status: int | None = None,
    response_headers: Any = None,
    response_body: Any = None,
    *,
    check_request: bool = True,
) -> None:
    request = _request(service, request_method, url, headers, body)
    what = f"{service} {request_method.upper()} {request.path}"
    if check_request:
        try:
            spec.validate_request(request)
        except OpenAPIError as error:
            raise AssertionError(
                f"{what}: the {service} spec does not allow this request: {_explain(error)}"
            ) from error
    if response_status is None:
        return
    response_headers = Headers(dict(response_headers or {}))
    response = _Response(
        status_code=response_status,
        headers=response_headers,
        data=_as_bytes(response_body) or b"",
        content_type=response_headers.get("Content-Type", ""),
    )
    try:
        spec.validate_response(request, response)
    except MissingData:
        # openapi-core wants a body even where the spec documents none (`content: {}`); an empty one is right.
        if response.data or _documents_content(spec, request, response_status):
            raise AssertionError(f"{what} -> {response_status}: the {service} spec wants a body") from None
    except OpenAPIError as error:
        raise AssertionError(
            f"{what} -> {response_status}: the {service} spec does not allow this response: {_explain(error)}"
        ) from error


def _documents_content(spec: OpenAPI, request: _Request, status: int) -> bool:
    paths = spec.spec / "paths"
    for template in paths.read_value():
        if _matches_template(template, request.path):
            responses = paths / template / request.method / "responses"
            for code in (str(status), "default"):
                if code in responses:
                    return bool(dict((responses / code).get("content", {})))
    return True


def _matches_template(template: str, path: str) -> bool:
    pattern = "".join(
        r"[^/]+" if part.startswith("{") else re.escape(part) for part in re.split(r"(\{[^}]+\})", template)
    )
    return re.fullmatch(pattern, path) is not None


def _explain(error: BaseException) -> str:
    details = [str(error)]
    for inner in getattr(error, "schema_errors", None) or []:
        details.append(f"  {list(inner.absolute_path)}: {inner.message}")
    if error.__cause__ is not None:
        details.append(f"  caused by: {_explain(error.__cause__)}")
    return "\n".join(details)


def validate_okta(
    request_method: str,
    url: str,
    headers: Any = None,
    body: Any = None,
    response_status: int | None = None,
    response_headers: Any = None,
    response_body: Any = None,
    *,
    check_request: bool = True,
) -> None:
    """Check an Okta request (and, given a status, its response) against the Okta Management spec."""
    _validate(
        okta_spec(),
        "okta",
        request_method,
        url,
        headers,
        body,
        response_status,
        response_headers,
        response_body,
        check_request=check_request,
    )


def validate_jira(
    request_method: str,
    url: str,
    headers: Any = None,
    body: Any = None,
    response_status: int | None = None,
    response_headers: Any = None,
    response_body: Any = None,
    *,
    check_request: bool = True,
) -> None:
    """Check a Jira request (and, given a status, its response) against the Jira Cloud platform v3 spec."""
    _validate(
        jira_spec(),
        "jira",
        request_method,
        url,
        headers,
        body,
        response_status,
        response_headers,
        response_body,
        check_request=check_request,
    )


def _check(validate, response: requests.Response, check_request: bool) -> requests.Response:
    sent = response.request
    validate(
        sent.method,
        sent.url,
        sent.headers,
        sent.body,
        response.status_code,
        response.headers,
        response.content,
        check_request=check_request,
    )
    return response


def check_okta(response: requests.Response, *, check_request: bool = True) -> requests.Response:
    """Validate a requests exchange with Okta; returns the response so it can wrap a call."""
    return _check(validate_okta, response, check_request)


def check_jira(response: requests.Response, *, check_request: bool = True) -> requests.Response:
    return _check(validate_jira, response, check_request)


def okta_hook(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    """A requests response hook: `session.hooks["response"].append(okta_hook)`."""
    check_okta(response)


def jira_hook(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    check_jira(response)


def validate_okta_error(body: bytes | str) -> dict:
    """An Okta error body against the spec's Error schema: for statuses (401) the operations do not list."""
    error = json.loads(body)
    schemas = okta_spec().spec / "components" / "schemas"
    schema = (schemas / "Error").read_value()
    # The one $ref inside it, resolved by hand for a plain validator.
    schema["properties"]["errorCauses"]["items"] = (schemas / "ErrorCause").read_value()
    failures = [e.message for e in OAS30Validator(schema).iter_errors(error)]
    assert not failures, f"not an Okta error body: {failures}"
    missing = {"errorCode", "errorSummary", "errorLink", "errorId", "errorCauses"} - set(error)
    assert not missing, f"the Okta error body lacks {sorted(missing)}"
    return error


def validate_workday_report(body: bytes | str) -> list[dict]:
    """A RaaS JSON report against contracts/workday-raas-report.schema.json; returns its rows."""
    document = json.loads(body)
    failures = [
        f"{'/'.join(map(str, error.absolute_path)) or 'the report'}: {error.message}"
        for error in _workday_report_validator().iter_errors(document)
    ]
    assert not failures, "not the agreed RaaS report:\n" + "\n".join(failures[:10])
    return document["Report_Entry"]


@cache
def _workday_report_validator() -> Draft202012Validator:
    return Draft202012Validator(_contract("workday-raas-report.schema.json"))
