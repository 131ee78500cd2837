"""Jira Cloud REST v3: the evidence ticket (create, comment, attach, read, find by label)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from django.conf import settings

from .errors import InvalidRequest, MalformedResponse
from .transport import BasicAuth, ErrorBody, RetryPolicy, Secret, Transport, json_body, seconds_header, short_text


@dataclass(frozen=True)
class JiraIssue:
    id: str
    key: str
    url: str
    fields: dict[str, Any]


# Issues whose status one search reads (Jira's JQL takes far longer lists; a page holds at most 100).
STATUS_BATCH = 50
NO_SUCH_KEY = re.compile(r"An issue with key '([^']+)' does not exist for field 'key'")


@dataclass(frozen=True)
class JiraComment:
    id: str
    created: str
    body: Any  # ADF


def _describe_jira_error(response: requests.Response) -> ErrorBody:
    """Jira's error collection: {"errorMessages": [...], "errors": {field: message}}."""
    try:
        body = response.json()
        messages = [str(m) for m in body.get("errorMessages") or []]
        errors = body.get("errors") or {}
        causes = messages + [f"{name}: {message}" for name, message in errors.items()]
    except (ValueError, AttributeError):
        return ErrorBody(summary=short_text(response))
    if not causes:
        return ErrorBody(summary=short_text(response))
    return ErrorBody(summary=causes[0], code=causes[0], causes=causes[1:], details={"errors": errors})


def browse_url(base_url: str, key: str) -> str:
    """Where a person opens the Jira issue `key` on the site at `base_url`."""
    return f"{base_url}/browse/{key}"


class JiraClient:
    def __init__(
        self,
        base_url: str,
        email: str,
        api_token: Secret,
        project_key: str,
        issue_type: str = "Task",
        subtask_type: str = "Sub-task",
        *,
        extra_fields: dict[str, Any] | None = None,
        policy: RetryPolicy | None = None,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.project_key = project_key
        self.issue_type = issue_type
        self.subtask_type = subtask_type
        # Fields the project's screens require that the product does not fill (JIRA_EXTRA_FIELDS).
        self.extra_fields = dict(extra_fields or {})
        self.transport = Transport(
            "jira",
            self.base_url,
            auth=BasicAuth(email, api_token),
            policy=policy or RetryPolicy(),
            describe_error=_describe_jira_error,
            rate_limit_wait=lambda response: seconds_header(response, "Retry-After"),
            request_id_header="X-AREQUESTID",
            session=session,
            clock=clock,
            sleep=sleep,
        )

    @classmethod
    def from_settings(
        cls,
        *,
        policy: RetryPolicy | None = None,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> JiraClient:
        return cls(
            settings.JIRA_BASE_URL,
            settings.JIRA_EMAIL,
            Secret(settings.JIRA_API_TOKEN),
            settings.JIRA_PROJECT_KEY,
            settings.JIRA_ISSUE_TYPE,
            settings.JIRA_SUBTASK_ISSUE_TYPE,
            extra_fields=settings.JIRA_EXTRA_FIELDS,
            policy=policy or RetryPolicy.from_settings(),
            session=session,
            clock=clock,
            sleep=sleep,
        )

    def __repr__(self) -> str:
        return f"JiraClient({self.base_url!r}, project={self.project_key!r})"

    def browse_url(self, key: str) -> str:
        return browse_url(self.base_url, key)

    def create_issue(self, summary: str, description_adf: dict[str, Any], labels: list[str]) -> JiraIssue:
        """File a ticket. Never retried after an ambiguous failure (timeout, 5xx): the caller
        checks find_issues_by_label before trying again, so no ticket is filed twice."""
        fields: dict[str, Any] = {
            **self.extra_fields,
            "project": {"key": self.project_key},
            "issuetype": {"name": self.issue_type},
            "summary": summary,
            "description": description_adf,
            "labels": labels,
        }
        body = _json(self.transport.request("POST", "/rest/api/3/issue", json={"fields": fields}, idempotent=False))
        return self._issue({**body, "fields": fields})

    def create_sub_task(
        self, parent_key: str, summary: str, description_adf: dict[str, Any], labels: list[str], assignee: str = ""
    ) -> JiraIssue:
        """File a sub-task of `parent_key`, assigned to the Jira accountId `assignee` (nobody when empty). Like
        create_issue, never retried after an ambiguous failure: the caller looks for its label first."""
        fields: dict[str, Any] = {
            "project": {"key": self.project_key},
            "parent": {"key": parent_key},
            "issuetype": {"name": self.subtask_type},
            "summary": summary,
            "description": description_adf,
            "labels": labels,
        }
        if assignee:
            fields["assignee"] = {"accountId": assignee}
        body = _json(self.transport.request("POST", "/rest/api/3/issue", json={"fields": fields}, idempotent=False))
        return self._issue({**body, "fields": fields})

    def statuses(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """The status (name, statusCategory) of each issue named, by key; an issue Jira no longer has is absent.

        Jira fails a whole `key in (...)` query over one key it lacks (a deleted issue), naming it: the batch
        is asked again without the keys it named.
        """
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), STATUS_BATCH):
            batch = keys[start : start + STATUS_BATCH]
            try:
                found |= self._statuses_of(batch)
            except InvalidRequest as e:
                gone = {m.group(1) for m in map(NO_SUCH_KEY.search, [e.summary, *e.causes]) if m}
                if not gone & set(batch):
                    raise
                if rest := [key for key in batch if key not in gone]:
                    found |= self._statuses_of(rest)
        return found

    def _statuses_of(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        jql = f"key in ({', '.join(_quote(key) for key in keys)}) ORDER BY key ASC"
        params: dict[str, str] = {"jql": jql, "fields": "status", "maxResults": str(STATUS_BATCH)}
        while True:
            body = _json(self.transport.request("GET", "/rest/api/3/search/jql", params=params))
            for issue in (self._issue(i) for i in body.get("issues") or []):
                status = issue.fields.get("status")
                if not isinstance(status, dict):
                    raise MalformedResponse("jira", f"expected a status object on {issue.key}")
                found[issue.key] = status
            if body.get("isLast", True) or not body.get("nextPageToken"):
                return found
            params["nextPageToken"] = body["nextPageToken"]

    def add_comment(self, key: str, body_adf: dict[str, Any]) -> str:
        """Add a comment; returns its id. Like create, not retried after an ambiguous failure."""
        response = self.transport.request(
            "POST", f"/rest/api/3/issue/{key}/comment", json={"body": body_adf}, idempotent=False
        )
        body = _json(response)
        if "id" not in body:
            raise MalformedResponse("jira", "expected a JSON object with an id", status=response.status_code)
        return str(body["id"])

    def attach_file(self, key: str, filename: str, content: bytes, content_type: str) -> list[dict[str, Any]]:
        """Attach one file; returns Jira's attachment records."""
        response = self.transport.request(
            "POST",
            f"/rest/api/3/issue/{key}/attachments",
            files={"file": (filename, content, content_type)},
            # Jira refuses multipart uploads without it (XSRF protection).
            headers={"X-Atlassian-Token": "no-check"},
            idempotent=False,
        )
        return json_body(response, "jira", list, what="attachment answer")

    def get_issue(self, key: str) -> JiraIssue:
        return self._issue(_json(self.transport.request("GET", f"/rest/api/3/issue/{key}")))

    def list_comments(self, key: str) -> list[JiraComment]:
        """Every comment of the issue `key`, oldest first (every page)."""
        comments: list[JiraComment] = []
        while True:
            params = {"startAt": str(len(comments)), "maxResults": "100", "orderBy": "created"}
            body = _json(self.transport.request("GET", f"/rest/api/3/issue/{key}/comment", params=params))
            page = body.get("comments")
            if not isinstance(page, list) or not all(isinstance(c, dict) and c.get("id") for c in page):
                raise MalformedResponse("jira", "expected a page of comments, each with an id")
            comments += [JiraComment(str(c["id"]), str(c.get("created") or ""), c.get("body")) for c in page]
            if not page or len(comments) >= int(body.get("total") or 0):
                return comments

    def find_issues_by_label(
        self, *labels: str, fields: str = "summary,labels,status,created,description"
    ) -> list[JiraIssue]:
        """Issues of our project carrying any of `labels` (every page), with `fields`."""
        wanted = (
            f"labels = {_quote(labels[0])}" if len(labels) == 1 else f"labels in ({', '.join(map(_quote, labels))})"
        )
        jql = f"project = {_quote(self.project_key)} AND {wanted} ORDER BY created ASC"
        params: dict[str, str] = {"jql": jql, "fields": fields, "maxResults": "50"}
        issues: list[JiraIssue] = []
        while True:
            body = _json(self.transport.request("GET", "/rest/api/3/search/jql", params=params))
            issues += [self._issue(i) for i in body.get("issues") or []]
            if body.get("isLast", True) or not body.get("nextPageToken"):
                return issues
            params["nextPageToken"] = body["nextPageToken"]

    # Create metadata: what the project takes, read by `manage.py check_vendors`

    def myself(self) -> dict[str, Any]:
        """The account the API token belongs to (a sign-in that changes nothing)."""
        return _json(self.transport.request("GET", "/rest/api/3/myself"))

    def create_issue_types(self, project_key: str | None = None) -> list[dict[str, Any]]:
        """The issue types one may create in the project (every page)."""
        project = project_key or self.project_key
        return self._meta_pages(f"/rest/api/3/issue/createmeta/{project}/issuetypes", "issueTypes")

    def create_fields(self, issue_type_id: str, project_key: str | None = None) -> list[dict[str, Any]]:
        """The fields of the create screen of one issue type of the project, with whether each is required."""
        project = project_key or self.project_key
        return self._meta_pages(f"/rest/api/3/issue/createmeta/{project}/issuetypes/{issue_type_id}", "fields")

    def _meta_pages(self, path: str, key: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while True:
            response = self.transport.request("GET", path, params={"startAt": str(len(items)), "maxResults": "200"})
            body = _json(response)
            page = body.get(key)
            if not isinstance(page, list) or not all(isinstance(item, dict) for item in page):
                raise MalformedResponse("jira", f"expected a page of {key}", status=response.status_code)
            items += page
            total = body.get("total")
            if not page or not isinstance(total, int) or len(items) >= total:
                return items

    def _issue(self, data: Any) -> JiraIssue:
        if not isinstance(data, dict) or not data.get("id") or not isinstance(data.get("key"), str) or not data["key"]:
            raise MalformedResponse("jira", "expected a JSON object with an id and a key for each issue")
        return JiraIssue(
            id=str(data["id"]), key=data["key"], url=self.browse_url(data["key"]), fields=data.get("fields") or {}
        )


def _quote(value: str) -> str:
    """A JQL string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _json(response: requests.Response) -> dict[str, Any]:
    return json_body(response, "jira", dict)
