"""`Sandbox`: the Python handle on a running sandbox, for tests, the demo and benchmarks.

It speaks to the control API over HTTP, so it works the same against an in-process server and against
`python manage.py sandbox` in another process.
"""

from __future__ import annotations

from typing import Any

import requests

from sandbox import jira, okta, workday


class SandboxControlError(Exception):
    pass


class Sandbox:
    def __init__(self, url: str, reset_defaults: dict[str, Any] | None = None) -> None:
        self.url = url.rstrip("/")
        self.okta_url = f"{self.url}/okta"
        self.jira_url = f"{self.url}/jira"
        report = f"{workday.TENANT}/{workday.REPORT_OWNER}/{workday.REPORT_NAME}"
        self.workday_report_url = f"{self.url}/workday/ccx/service/customreport2/{report}"
        self.okta_token = okta.API_TOKEN
        self.jira_email = jira.EMAIL
        self.jira_token = jira.API_TOKEN
        self.jira_project_key = jira.PROJECT["key"]
        self.workday_user = workday.USERNAME
        self.workday_password = workday.PASSWORD
        self.reset_defaults = reset_defaults or {}
        self.session = requests.Session()

    def __repr__(self) -> str:
        return f"<Sandbox {self.url}>"

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.session.request(method, f"{self.url}/_sandbox/{path}", timeout=30, **kwargs)
        if response.status_code >= 400:
            raise SandboxControlError(f"{method} /_sandbox/{path}: {response.status_code} {response.text}")
        return response.json()

    # -- world --------------------------------------------------------------------------------
    def reset(self, clear_requests: bool = False, **options: Any) -> dict:
        """Rebuild the world, with every fault switched off. Options: seed, workers, groups_per_person,
        pending_terminations, demo, okta_page_size, rate_limits ({family: limit}), rate_limit_window (s),
        concurrency_limit, okta_token_lifetime (s), okta_require_dpop (the service app requires DPoP-bound
        tokens; true by default, as Okta's API service apps do), okta_async_delay (s), push_url, push_secret. Unset ones
        take this handle's defaults. `clear_requests` also empties the request log, in the same call."""
        merged = {**self.reset_defaults, **options}
        if clear_requests:
            merged["clear_requests"] = True
        if "rate_limits" in options and "rate_limits" in self.reset_defaults:
            merged["rate_limits"] = {**self.reset_defaults["rate_limits"], **options["rate_limits"]}
        return self.call("POST", "reset", json=merged)

    def config(self) -> dict:
        """The options in force, including the Okta rate limits, window and concurrency limit."""
        return self.call("GET", "config")

    def set_rate_limits(self, limits: dict[str, int]) -> dict:
        """Change Okta's limits of some families ({family: calls a window}) without a reset."""
        return self.call("POST", "okta/rate_limits", json=limits)

    def advance_clock(self, seconds: float) -> dict:
        """Move the vendors' clock on: rate-limit windows reset, tokens expire and asynchronous
        deactivations settle as if `seconds` had passed; the Date header says so too."""
        return self.call("POST", "clock", json={"advance": seconds})

    # -- Okta ---------------------------------------------------------------------------------
    def add_okta_group(self, name: str, type: str = "OKTA_GROUP", **extra: Any) -> dict:
        return self.call("POST", "okta/groups", json={"name": name, "type": type, **extra})

    def add_okta_groups(self, groups: list[dict]) -> list[dict]:
        """Several groups in one call: each {"name", "type" (OKTA_GROUP), "description", "source"}."""
        return self.call("POST", "okta/groups", json=groups)

    def add_okta_user(
        self,
        employee_number: str | None,
        first_name: str,
        last_name: str,
        login: str | None = None,
        email: str | None = None,
        status: str = "ACTIVE",
        groups: list[str] | None = None,
        **profile: Any,
    ) -> dict:
        body = {
            "employee_number": employee_number,
            "first_name": first_name,
            "last_name": last_name,
            "login": login,
            "email": email,
            "status": status,
            "groups": groups or [],
            **profile,
        }
        return self.call("POST", "okta/users", json=body)

    def add_okta_membership(self, group_id: str, user_id: str) -> dict:
        """Put a user in any group, APP_GROUP included (as an import would)."""
        return self.call("PUT", f"okta/groups/{group_id}/users/{user_id}")

    def okta_user(self, user_id: str) -> dict:
        """{"user", "status", "transitioning_to", "groups": [{id, name, type}], "sessions_revoked",
        "oauth_tokens_revoked"}; user_id may also be a login."""
        return self.call("GET", f"okta/users/{user_id}")

    def add_okta_app(self, label: str, **attributes: Any) -> dict:
        """An app: status (ACTIVE|INACTIVE), sign_on_mode (SAML_2_0, OPENID_CONNECT, AUTO_LOGIN, ...),
        provisioning, deactivate_users (provisioning's "Deactivate Users"), universal_logout,
        users (ids assigned directly), groups (ids assigned). Answers its state, accounts included."""
        return self.call("POST", "okta/apps", json={"label": label, **attributes})

    def okta_apps(self) -> list[dict]:
        """Each app's state: assignments, each assigned user's app account (ACTIVE/DEPROVISIONED), sessions_ended."""
        return self.call("GET", "okta/apps")

    def add_okta_role(self, user_id: str, type: str = "SUPER_ADMIN") -> dict:
        return self.call("POST", f"okta/users/{user_id}/roles", json={"type": type})

    def set_token_owner(self, user_id: str | None) -> dict:
        """Make the sandbox's API token belong to this user (GET /api/v1/users/me answers them)."""
        return self.call("POST", "okta/token_owner", json={"user_id": user_id})

    def add_okta_group_owner(self, group_id: str, user_id: str) -> dict:
        return self.call("POST", f"okta/groups/{group_id}/owners", json={"user_id": user_id})

    def add_okta_rule(self, name: str, groups: list[str], matches: list[str], **attributes: Any) -> dict:
        """A group rule adding `matches` (the users its expression matches) to `groups`; exclude, status."""
        return self.call("POST", "okta/rules", json={"name": name, "groups": groups, "matches": matches, **attributes})

    def okta_rules(self) -> list[dict]:
        return self.call("GET", "okta/rules")

    def directory_import(self, provider: str | None = None) -> list[str]:
        """Run the directory's import (ACTIVE_DIRECTORY, LDAP, or every directory): each deactivated Okta user
        it masters whose directory account is still enabled is reactivated. Returns their ids."""
        return self.call("POST", "okta/directory_import", json={"provider": provider} if provider else {})[
            "reactivated"
        ]

    def set_directory_account(self, user_id: str, enabled: bool) -> dict:
        """Enable or disable a directory-sourced user's account in the directory itself."""
        return self.call("POST", f"okta/users/{user_id}/directory_account", json={"enabled": enabled})

    def okta_users(self) -> list[dict]:
        return self.call("GET", "okta/users")

    def okta_groups(self) -> list[dict]:
        return self.call("GET", "okta/groups")

    # -- Workday ------------------------------------------------------------------------------
    def add_termination(self, employee_id: str, contingent: bool = False, **columns: Any) -> dict:
        """A termination row; for a known worker the columns default from Workday, dates may be ISO.

        A list is a multi-instance field (a JSON array, as RaaS serves it); text goes as given, lone
        surrogates and control characters included. `contingent`: a contingent worker's row, the id in
        Contingent_Worker_ID instead of Employee_ID."""
        body = {"employee_id": employee_id, **columns}
        if contingent:
            body["contingent"] = True
        return self.call("POST", "workday/terminations", json=body)

    def correct_termination(self, employee_id: str, **columns: Any) -> dict:
        return self.call("PATCH", f"workday/terminations/{employee_id}", json=columns)

    def generate_terminations(self, count: int, chunk_bytes: int = 0, chunk_seconds: float = 0.0) -> dict:
        """Add `count` made-up terminations to the report at once (a large report); with `chunk_bytes`, the
        report is sent that many bytes at a time, `chunk_seconds` apart, until the next reset (a slow body)."""
        body = {"count": count, "chunk_bytes": chunk_bytes, "chunk_seconds": chunk_seconds}
        return self.call("POST", "workday/generate", json=body)

    def rescind_termination(self, employee_id: str) -> dict:
        return self.call("POST", f"workday/terminations/{employee_id}/rescind", json={})

    def drop_row(self, employee_id: str, dropped: bool = True) -> dict:
        """Leave the worker's termination row out of the report (`dropped=False` puts it back)."""
        return self.call("POST", f"workday/terminations/{employee_id}/drop", json={"dropped": dropped})

    def notify(self, employee_id: str, event: str = "termination.effective") -> dict:
        """Have Workday send its signed notification for this worker (needs the push_url reset option)."""
        return self.call("POST", f"workday/notify/{employee_id}", json={"event": event})

    def terminations(self) -> list[dict]:
        return self.call("GET", "workday/terminations")

    def notifications_sent(self) -> list[dict]:
        """Workday's notifications that have been answered, with the status each got."""
        return self.call("GET", "workday/notifications")

    def workers(self) -> list[dict]:
        return self.call("GET", "workday/workers")

    # -- Jira, the request log, faults ----------------------------------------------------------
    def jira_issues(self) -> list[dict]:
        return self.call("GET", "jira/issues")

    def delete_jira_issue(self, key: str) -> list[str]:
        """Delete an issue in Jira, as a person would (its sub-tasks too); returns the keys deleted."""
        return self.call("DELETE", f"jira/issues/{key}")["deleted"]

    def set_jira_status(self, key: str, status: str) -> dict:
        """Move an issue along Jira's workflow as a person would: "To Do", "In Progress", "Done", "Won't Do"."""
        return self.call("POST", f"jira/issues/{key}/status", json={"status": status})

    def jira_add_field(
        self,
        field_id: str,
        name: str,
        type: str = "string",
        allowed_values: list[str] | None = None,
        required_for: dict[str, list[str]] | None = None,
    ) -> dict:
        """Put a custom field on the project's create screens, required for these issue types of these projects
        (e.g. {"SEC": ["Task"]}); `type` "option" (a select list of `allowed_values`) or "string"."""
        body = {"id": field_id, "name": name, "type": type, "required_for": required_for or {}}
        if allowed_values is not None:
            body["allowed_values"] = allowed_values
        return self.call("POST", "jira/fields", json=body)

    def jira_fields(self) -> list[dict]:
        return self.call("GET", "jira/fields")

    def jira_remove_issue_type(self, name: str) -> dict:
        """Take an issue type (e.g. "Sub-task") out of the project."""
        return self.call("DELETE", f"jira/issuetypes/{name}")

    def requests(self, service: str | None = None) -> list[dict]:
        return self.call("GET", "requests", params={"service": service} if service else None)

    def clear_requests(self) -> None:
        self.call("DELETE", "requests")

    def fault(self, service: str, kind: str, endpoint: str | None = None, **params: Any) -> dict:
        """Switch a fault on; params: seconds, status, rate, count, after, retry_after, body. Returns it with its id.

        `after=N` lets the first N matching requests through untouched and hits the ones after them
        (with `count=1`: exactly the N+1th)."""
        return self.call("POST", "faults", json={"service": service, "kind": kind, "endpoint": endpoint, **params})

    def faults(self) -> list[dict]:
        return self.call("GET", "faults")

    def clear_faults(self, service: str | None = None) -> None:
        self.call("DELETE", "faults", params={"service": service} if service else None)
