"""The contracts in contracts/ cover every operation the clients send and the sandbox serves.

The contracts hold only the operations declared in contracts/operations.json, so they could fall behind
the code: a new client call or sandbox route would then go unchecked. Here the sandbox's route tables
(the werkzeug maps its Okta and Jira services dispatch every request through) must match the contracts'
operations exactly, apart from the few operations no published spec describes, which are declared with
the reason; and a client request to an operation outside a contract is a violation, not a pass.
"""

from __future__ import annotations

import json
import re

import pytest
import requests
from jsonschema import Draft202012Validator

from offboarding.clients.jira import JiraClient
from offboarding.clients.okta import OktaClient, SswsAuth
from offboarding.clients.transport import Secret
from sandbox.org import build_org
from sandbox.server import SandboxApp
from sandbox.state import SandboxState
from sandbox.workday import COLUMNS
from tests import client_spec_check, openapi_specs
from tests.client_spec_check import SpecCheck, SpecViolation
from tests.openapi_specs import CONTRACTS, validate_workday_report

DECLARED = json.loads((CONTRACTS / "operations.json").read_text())
# sandbox service -> the contract its answers are checked against
SERVICES = {"okta": "okta-management", "jira": "jira-platform-v3"}
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
OKTA_URL, JIRA_URL = "http://vendor.invalid/okta", "http://vendor.invalid/jira"


def contract(name: str) -> dict:
    return json.loads((CONTRACTS / f"{name}.json").read_text())


def operations(document: dict) -> set[str]:
    return {
        f"{method.upper()} {template}"
        for template, item in document["paths"].items()
        for method in item
        if method in METHODS
    }


def served(service: str) -> set[str]:
    """`METHOD /template` for every route of the sandbox's service (werkzeug adds HEAD to each GET)."""
    found = set()
    for rule in SandboxApp(SandboxState(build_org)).services[service].routes.iter_rules():
        methods = rule.methods - {"HEAD"} if "GET" in rule.methods else rule.methods
        found |= {f"{method} {rule.rule}" for method in methods}
    return found


def shape(operation: str) -> str:
    """Variables nameless, as the sandbox names them its own way: `GET /users/{}`."""
    return re.sub(r"\{[^}]*\}|<[^>]*>", "{}", operation)


def uncovered(service: str, document: dict) -> list[str]:
    """The sandbox's operations neither in the contract nor declared as beyond the published spec."""
    known = {shape(op) for op in operations(document) | set(DECLARED[SERVICES[service]]["served_beyond_the_spec"])}
    return sorted(op for op in served(service) if shape(op) not in known)


def without(document: dict, operation: str) -> dict:
    method, _, template = operation.partition(" ")
    document["paths"][template].pop(method.lower())
    return document


@pytest.fixture
def contract_without(monkeypatch):
    """Check the clients against a contract that lacks one operation."""

    def remove(service: str, operation: str) -> None:
        spec = openapi_specs._openapi(without(contract(SERVICES[service]), operation))
        for module in (openapi_specs, client_spec_check):
            monkeypatch.setattr(module, f"{service}_spec", lambda: spec)

    return remove


class TestSandboxSide:
    def test_every_vendor_the_sandbox_simulates_has_a_contract(self):
        # Workday's one route is the RaaS report: contracts/workday-raas-report.schema.json, checked below.
        assert set(SandboxApp(SandboxState(build_org)).services) == set(SERVICES) | {"workday"}

    @pytest.mark.parametrize("service", SERVICES)
    def test_every_operation_the_sandbox_serves_is_in_the_contract(self, service):
        missing = uncovered(service, contract(SERVICES[service]))
        assert not missing, (
            f"the sandbox serves {missing}, which contracts/{SERVICES[service]}.json lacks: declare them in "
            "contracts/operations.json and run scripts/extract_contracts.py"
        )

    @pytest.mark.parametrize("service", SERVICES)
    def test_the_contract_holds_nothing_the_sandbox_does_not_serve(self, service):
        routes = {shape(op) for op in served(service)}
        unused = sorted(op for op in operations(contract(SERVICES[service])) if shape(op) not in routes)
        assert not unused, f"contracts/{SERVICES[service]}.json holds {unused}, which nothing serves or sends"

    @pytest.mark.parametrize("service", SERVICES)
    def test_what_is_served_beyond_the_published_spec_is_not_in_it_and_says_why(self, service):
        beyond = DECLARED[SERVICES[service]]["served_beyond_the_spec"]
        in_contract = {shape(op) for op in operations(contract(SERVICES[service]))}
        assert not {shape(op) for op in beyond} & in_contract
        assert all(reason.strip() for reason in beyond.values())

    def test_the_check_notices_a_removed_operation(self):
        lacking = without(contract("okta-management"), "POST /api/v1/users/{id}/lifecycle/deactivate")
        assert "POST /api/v1/users/<id>/lifecycle/deactivate" in uncovered("okta", lacking)


class TestContracts:
    @pytest.mark.parametrize("name", SERVICES.values())
    def test_each_contract_holds_exactly_the_declared_operations(self, name):
        # A declared operation missing from the file (or the reverse): scripts/extract_contracts.py was not re-run.
        assert operations(contract(name)) == set(DECLARED[name]["operations"])

    def test_the_raas_report_schema_has_the_sandbox_report_columns(self):
        schema = json.loads((CONTRACTS / "workday-raas-report.schema.json").read_text())
        Draft202012Validator.check_schema(schema)
        assert set(schema["$defs"]["row"]["properties"]) == set(COLUMNS)

    @pytest.mark.parametrize(
        "report",
        [
            {"Report_Entry": [{"Employee_ID": "W1", "Badge_Number": "7"}]},
            {"Report_Entry": [{"Employee_ID": "W1", "Is_Rescinded": 0}]},
            {"Report_Entry": [{"Worker": "Ada Lovelace"}]},
            {"Report_Entry": [], "Report_Data": []},
        ],
    )
    def test_the_raas_report_check_refuses_what_the_contract_does_not_allow(self, report):
        with pytest.raises(AssertionError, match="not the agreed RaaS report"):
            validate_workday_report(json.dumps(report))


class TestClientSide:
    def okta_client(self, check: SpecCheck) -> OktaClient:
        return OktaClient(OKTA_URL, SswsAuth(Secret("token")), session=check.session())

    def test_an_okta_operation_outside_the_contract_is_a_violation(self, contract_without):
        contract_without("okta", "DELETE /api/v1/groups/{groupId}/users/{userId}")
        check = SpecCheck(OKTA_URL, JIRA_URL, "http://vendor.invalid/workday/report")
        with pytest.raises(SpecViolation, match="the contract for Okta Admin Management API .* has no such operation"):
            self.okta_client(check).remove_from_group("00g1", "00u1")
        assert check.violations == [
            "DELETE /okta/api/v1/groups/00g1/users/00u1: the contract for Okta Admin Management API "
            "(contracts/) has no such operation: declare it in contracts/operations.json and run "
            "scripts/extract_contracts.py"
        ]

    def test_the_same_request_passes_with_the_whole_contract(self):
        check = SpecCheck(OKTA_URL, JIRA_URL, "http://vendor.invalid/workday/report")
        request = requests.Request(
            "DELETE", f"{OKTA_URL}/api/v1/groups/00g1/users/00u1", headers={"Authorization": "SSWS token"}
        ).prepare()
        check.check(request)
        assert check.checked == ["DELETE /okta/api/v1/groups/00g1/users/00u1"] and not check.violations

    def test_the_same_path_on_a_method_the_contract_lacks_is_a_violation(self, contract_without):
        contract_without("okta", "PUT /api/v1/groups/{groupId}/users/{userId}")
        check = SpecCheck(OKTA_URL, JIRA_URL, "http://vendor.invalid/workday/report")
        with pytest.raises(SpecViolation, match="has no such operation"):
            self.okta_client(check).add_to_group("00g1", "00u1")

    def test_a_jira_attachment_upload_outside_the_contract_is_a_violation(self, contract_without):
        # The upload's body is checked by hand, not by openapi-core: the operation must still be in the contract.
        contract_without("jira", "POST /rest/api/3/issue/{issueIdOrKey}/attachments")
        check = SpecCheck(OKTA_URL, JIRA_URL, "http://vendor.invalid/workday/report")
        client = JiraClient(JIRA_URL, "a@example.com", Secret("token"), "SEC", session=check.session())
        with pytest.raises(
            SpecViolation, match="the contract for The Jira Cloud platform REST API .* no such operation"
        ):
            client.attach_file("SEC-1", "evidence.json", b"{}", "application/json")
