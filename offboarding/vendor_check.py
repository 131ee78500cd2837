"""Whether each vendor takes what the product will ask of it, found out by reading only (`manage.py check_vendors`,
the /vendors/check/ page): run at deploy, before the first leaver finds out instead.

It signs in to each vendor and makes read-only calls: Jira's create metadata (the project, its issue types,
the sub-task type, the fields each create screen requires), a GET of each Okta API family the product uses,
Workday's report for no one. Nothing is written to any vendor; the result is one audit event here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings

from offboarding.clients.errors import VendorError
from offboarding.clients.jira import JiraClient
from offboarding.clients.okta import OktaClient
from offboarding.clients.transport import RetryPolicy
from offboarding.clients.workday import WorkdayClient
from offboarding.models import Actor, AuditEvent

# What the product fills in a ticket or a follow-up itself; any other required field needs JIRA_EXTRA_FIELDS.
FIELDS_THE_PRODUCT_SETS = {"project", "issuetype", "summary", "description", "labels"}
FIELDS_A_SUBTASK_GETS = FIELDS_THE_PRODUCT_SETS | {"parent"}
# The OAuth scopes revocation and restore need (an API token has its admin's permissions instead).
SCOPES_NEEDED = ("okta.users.manage", "okta.groups.manage")
# A report prompt value no worker has: Workday answers with an empty report, which proves the sign-in.
NO_ONE = "offboarding-check-vendors"


@dataclass(frozen=True)
class Finding:
    vendor: str
    what: str
    ok: bool
    detail: str

    def __str__(self) -> str:
        return f"{'ok     ' if self.ok else 'MISSING'} {self.vendor:<8} {self.what}: {self.detail}"


def check_vendors(actor: Actor | Any = None, *, policy: RetryPolicy | None = None) -> list[Finding]:
    """Every finding, the missing ones among them; recorded as one audit event. `policy`: how the calls retry
    (a page's calls try once)."""
    findings = [
        *check_jira(JiraClient.from_settings(policy=policy)),
        *check_okta(OktaClient.from_settings(policy=policy)),
        *check_workday(WorkdayClient.from_settings(policy=policy)),
    ]
    AuditEvent.record(
        "vendors.checked",
        actor=actor or Actor.system("check_vendors"),
        after={"missing": sum(not f.ok for f in findings), "findings": [asdict(f) for f in findings]},
    )
    return findings


def reading(vendor: str, what: str, call: Callable[[], Any]) -> tuple[Any, Finding | None]:
    """The call's answer, or a missing finding saying what the vendor answered."""
    try:
        return call(), None
    except VendorError as e:
        return None, Finding(vendor, what, False, f"{vendor} answered: {e}")


# -- Jira ---------------------------------------------------------------------------------------
def check_jira(jira: JiraClient) -> list[Finding]:
    me, refused = reading("jira", "sign-in", jira.myself)
    if refused:
        return [refused]
    findings = [Finding("jira", "sign-in", True, f"signed in as {me.get('emailAddress') or me.get('displayName')}")]
    project = settings.JIRA_PROJECT_KEY
    types, refused = reading("jira", f"project {project}", jira.create_issue_types)
    if refused:
        return [*findings, refused]
    findings.append(Finding("jira", f"project {project}", True, f"{len(types)} issue types one may create"))
    names = ", ".join(sorted(str(t.get("name")) for t in types)) or "none"
    wanted = [
        ("issue type", settings.JIRA_ISSUE_TYPE, False, FIELDS_THE_PRODUCT_SETS),
        ("sub-task type", settings.JIRA_SUBTASK_ISSUE_TYPE, True, FIELDS_A_SUBTASK_GETS),
    ]
    for what, name, subtask, filled in wanted:
        found = next((t for t in types if t.get("name") == name and bool(t.get("subtask")) == subtask), None)
        if found is None:
            detail = f"project {project} has no {what} {name!r} (it has: {names})"
            findings.append(Finding("jira", f"{what} {name}", False, detail))
            continue
        findings.append(Finding("jira", f"{what} {name}", True, f"id {found.get('id')}"))
        findings += check_create_screen(jira, name, str(found.get("id")), filled)
    return findings


def check_create_screen(jira: JiraClient, type_name: str, type_id: str, filled: set[str]) -> list[Finding]:
    """The fields the type's create screen requires that nothing fills, and JIRA_EXTRA_FIELDS it would refuse."""
    fields, refused = reading("jira", f"{type_name} fields", lambda: jira.create_fields(type_id))
    if refused:
        return [refused]
    extra = settings.JIRA_EXTRA_FIELDS
    by_id = {str(f.get("fieldId")): f for f in fields}
    findings = []
    for field_id, field in by_id.items():
        if field.get("required") and not field.get("hasDefaultValue") and field_id not in filled | set(extra):
            detail = (
                f"{type_name} requires {field.get('name')!r} ({field_id}), which the product does not fill: "
                "give it in JIRA_EXTRA_FIELDS"
            )
            findings.append(Finding("jira", f"required field {field_id}", False, detail))
    for field_id, value in extra.items():
        field = by_id.get(field_id)
        if field is None:
            detail = f"JIRA_EXTRA_FIELDS sets {field_id}, which the {type_name} create screen lacks: Jira refuses it"
            findings.append(Finding("jira", f"extra field {field_id}", False, detail))
        elif not allowed(field, value):
            detail = f"JIRA_EXTRA_FIELDS gives {field_id} a value its allowed values lack: {value!r}"
            findings.append(Finding("jira", f"extra field {field_id}", False, detail))
    if not findings:
        findings.append(Finding("jira", f"{type_name} fields", True, "every required field is filled"))
    return findings


def allowed(field: dict, value: Any) -> bool:
    """Whether a select list's allowed values hold the option (a field without a list takes anything)."""
    options = field.get("allowedValues")
    if not options or not isinstance(value, dict):
        return True
    chosen = value.get("value", value.get("id", value.get("name")))
    return any(chosen in (o.get("value"), o.get("id"), o.get("name")) for o in options if isinstance(o, dict))


# -- Okta ---------------------------------------------------------------------------------------
def check_okta(okta: OktaClient) -> list[Finding]:
    """A GET of each API family the product uses; a 403 names the permission the credential lacks."""
    findings = []
    if settings.OKTA_CLIENT_ID:
        for scope in SCOPES_NEEDED:
            if scope not in settings.OKTA_SCOPES:
                detail = f"OKTA_SCOPES lacks {scope}: Okta would refuse revocation's changes"
                findings.append(Finding("okta", f"scope {scope}", False, detail))
    users, refused = reading("okta", "users (read)", lambda: okta.list_users(limit=1))
    if refused:
        return [*findings, refused]
    findings.append(Finding("okta", "users (read)", True, "signed in; users readable"))
    if not users:
        return [*findings, Finding("okta", "groups (read)", True, "not probed: the org has no user to read")]
    groups, refused = reading("okta", "a user's groups (read)", lambda: okta.list_user_groups(users[0].id))
    if refused:
        return [*findings, refused]
    findings.append(Finding("okta", "a user's groups (read)", True, f"{len(groups)} groups read"))
    if groups:
        _, refused = reading("okta", "groups (read)", lambda: okta.get_group(groups[0].id))
        findings.append(refused or Finding("okta", "groups (read)", True, "groups readable"))
    return findings


# -- Workday ------------------------------------------------------------------------------------
def check_workday(workday: WorkdayClient) -> list[Finding]:
    report, refused = reading("workday", "report", lambda: workday.fetch_terminations(NO_ONE))
    if refused:
        return [refused]
    return [Finding("workday", "report", True, f"signed in; the report answers ({len(report.terminations)} rows)")]
