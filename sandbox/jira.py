"""Simulated Jira Cloud REST (v3, and the v2 twins the `jira` Python library calls): issues, comments,
attachments, JQL search, create metadata, fields, the project, the server and the signed-in user.

Strict where Jira is strict: a text over Jira Cloud's limits (32,767 characters for a description or a
comment, 255 for a single-line text field) is refused, as is a create that lacks a field the project
requires (custom fields and their requirements are set per project and issue type through the control API).
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
import secrets
from datetime import UTC, datetime

from werkzeug import Request, Response
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule

from sandbox import credentials
from sandbox.service import Service, json_response
from sandbox.state import JiraIssue

EMAIL = credentials.JIRA_EMAIL
API_TOKEN = credentials.JIRA_API_TOKEN
ACCOUNT_ID = "712020:5f0c6a2e-7c61-4b9e-9d0e-0ffb0a4d5e11"
HIERARCHY_REFUSED = "Given parent work item does not belong to appropriate hierarchy."
PROJECT = {"id": "10000", "key": "SEC", "name": "Security Operations"}
ISSUE_TYPES = {"10001": "Task", "10002": "Bug", "10003": "Story", "10004": "Sub-task"}
# The workflow every issue follows: status name -> (id, status category key, category name).
STATUSES = {
    "To Do": ("10000", "new", "To Do"),
    "In Progress": ("3", "indeterminate", "In Progress"),
    "Done": ("10001", "done", "Done"),
    "Won't Do": ("10002", "done", "Done"),
}
# The people of the site an issue can be assigned to (accountId -> display name), the product's own first.
ACCOUNTS = {
    "712020:5f0c6a2e-7c61-4b9e-9d0e-0ffb0a4d5e11": "Offboarding Automation",
    "5b10ac8d82e05b22cc7d4ef5": "Grace Hopper (Salesforce owner)",
    "5b10a2844c20165700ede21g": "Linus Torvalds (directory team)",
}
# A sub-task type lives only under a parent; a project may lack one (the control API can take it away).
SUBTASK_TYPES = {"Sub-task"}
SETTABLE_FIELDS = {
    "project",
    "issuetype",
    "summary",
    "description",
    "labels",
    "priority",
    "duedate",
    "parent",
    "assignee",
}
# Jira Cloud's hard limit on a description, a comment and any multi-line text (JRACLOUD-68949). An ADF
# document is measured as the JSON it is sent as, the strictest reading: a document within it is within any.
TEXT_LIMIT = 32_767
SINGLE_LINE_LIMIT = 255
# The system fields of the create screen: (id, name, schema, required).
SYSTEM_FIELDS = [
    ("summary", "Summary", {"type": "string", "system": "summary"}, True),
    ("issuetype", "Issue Type", {"type": "issuetype", "system": "issuetype"}, True),
    ("project", "Project", {"type": "project", "system": "project"}, True),
    ("description", "Description", {"type": "string", "system": "description"}, False),
    ("labels", "Labels", {"type": "array", "items": "string", "system": "labels"}, False),
    ("priority", "Priority", {"type": "priority", "system": "priority"}, False),
    ("duedate", "Due date", {"type": "date", "system": "duedate"}, False),
]
PARENT_FIELD = ("parent", "Parent", {"type": "issuelink", "system": "parent"}, True)
CUSTOM_FIELD_TYPES = {
    "string": "com.atlassian.jira.plugin.system.customfieldtypes:textfield",
    "option": "com.atlassian.jira.plugin.system.customfieldtypes:select",
}
ADF_NOT_A_DOCUMENT = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
MAX_SEARCH_RESULTS = 100
# Jira pages an issue's comments by 100 at most when asked for more (its default page is 100 too).
MAX_COMMENT_RESULTS = 100


class JiraError(Exception):
    def __init__(self, status: int, messages: list[str] = (), errors: dict | None = None) -> None:
        self.status, self.messages, self.errors = status, list(messages), errors or {}

    def response(self) -> Response:
        return json_response({"errorMessages": self.messages, "errors": self.errors}, self.status)


def jira_timestamp(moment: float) -> str:
    # Jira itself writes "+0000"; its spec says RFC 3339 date-time, which wants "+00:00".
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds")


def is_adf_document(value: object) -> bool:
    return (
        isinstance(value, dict)
        and value.get("type") == "doc"
        and value.get("version") == 1
        and isinstance(value.get("content"), list)
        and all(is_adf_node(node) for node in value["content"])
    )


def is_adf_node(node: object) -> bool:
    if not isinstance(node, dict) or not isinstance(node.get("type"), str):
        return False
    if node["type"] == "text":
        return isinstance(node.get("text"), str) and node["text"] != ""
    content = node.get("content", [])
    return isinstance(content, list) and all(is_adf_node(child) for child in content)


def too_long(limit: int) -> str:
    return f"The entered text is too long. It exceeds the allowed limit of {limit:,} characters."


def text_length(value: object) -> int:
    """A text's length as Jira counts it against its limit, in UTF-16 code units as Java counts a string:
    a string's, or an ADF document's JSON."""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return len(text.encode("utf-16-le")) // 2


def adf_to_text(document: object) -> str:
    """An ADF document as v2 shows it: its text, a paragraph per block."""
    if not isinstance(document, dict):
        return document if isinstance(document, str) or document is None else str(document)

    def text_of(node: dict) -> str:
        if node.get("type") == "text":
            return node.get("text", "")
        return "".join(text_of(child) for child in node.get("content", []) if isinstance(child, dict))

    return "\n\n".join(text_of(block) for block in document.get("content", []) if isinstance(block, dict))


def text_to_adf(text: str) -> dict:
    paragraphs = [p for p in text.split("\n\n") if p]
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": p}]} for p in paragraphs],
    }


# -- the browser's view of an issue (what a person opens from the product's Jira links) ------------
ADF_BLOCKS = {
    "paragraph": "p",
    "bulletList": "ul",
    "orderedList": "ol",
    "listItem": "li",
    "blockquote": "blockquote",
    "table": "table",
    "tableRow": "tr",
    "tableHeader": "th",
    "tableCell": "td",
}
ADF_MARKS = {"strong": "strong", "em": "em", "code": "code", "strike": "s"}


def adf_to_html(node: dict) -> str:
    """An Atlassian Document as HTML, every text escaped; unknown nodes show their content."""
    kind = node.get("type")
    if kind == "text":
        text = html.escape(node.get("text", ""))
        for mark in node.get("marks", []):
            if mark.get("type") == "link":
                href = str(mark.get("attrs", {}).get("href", ""))
                if href.startswith(("http://", "https://")):
                    text = f'<a href="{html.escape(href)}">{text}</a>'
            elif tag := ADF_MARKS.get(mark.get("type")):
                text = f"<{tag}>{text}</{tag}>"
        return text
    if kind == "hardBreak":
        return "<br>"
    if kind == "rule":
        return "<hr>"
    inner = "".join(adf_to_html(child) for child in node.get("content", []) if isinstance(child, dict))
    if kind == "heading":
        level = min(max(int(node.get("attrs", {}).get("level", 2)) + 1, 2), 6)  # the page's own h1 is the summary
        return f"<h{level}>{inner}</h{level}>"
    if kind == "codeBlock":
        return f"<pre>{inner}</pre>"
    if tag := ADF_BLOCKS.get(kind):
        return f"<{tag}>{inner}</{tag}>"
    return inner


BROWSE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>[{key}] {summary} - Jira (sandbox)</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:1rem auto;padding:0 1rem;line-height:1.45;
color:#172b4d}}table{{border-collapse:collapse}}td,th{{border:1px solid #c1c7d0;padding:.2rem .5rem;text-align:left}}
pre,code{{white-space:pre-wrap;overflow-wrap:anywhere}}.meta{{color:#44546f}}section{{margin-top:1.5rem}}
article{{border-top:1px solid #dfe1e6;padding:.5rem 0}}</style></head>
<body><main><p class="meta">Jira sandbox · {project} · <span>{key}</span> · {status} · labels: {labels}</p>
<h1>{summary}</h1>
<section aria-labelledby="description"><h2 id="description">Description</h2>{description}</section>
<section aria-labelledby="attachments"><h2 id="attachments">Attachments ({attachment_count})</h2>{attachments}</section>
<section aria-labelledby="comments"><h2 id="comments">Comments ({comment_count})</h2>{comments}</section>
</main></body></html>
"""


# -- JQL: the subset the product uses ------------------------------------------------------------
_JQL_CLAUSE = re.compile(
    r'\s*(project|labels|key|issuetype|status)\s*(=|in)\s*(\((?:[^()"]|"[^"]*")*\)|"[^"]*"|[\w.-]+)\s*',
    re.IGNORECASE,
)
_JQL_ORDER = re.compile(r"\s*order\s+by\s+(created|key|updated)\s*(asc|desc)?\s*$", re.IGNORECASE)


def parse_jql(jql: str) -> tuple[list[tuple[str, set[str]]], tuple[str, bool]]:
    """`project = SEC AND labels = "x" [AND ...] [ORDER BY created DESC]` -> clauses and ordering."""
    clauses, position, order = [], 0, ("created", False)
    while position < len(jql):
        ordering = _JQL_ORDER.match(jql, position)
        if ordering:
            order = (ordering.group(1).lower(), (ordering.group(2) or "asc").lower() == "desc")
            break
        match = _JQL_CLAUSE.match(jql, position)
        if not match:
            raise JiraError(400, [f"Error in the JQL Query: the query could not be parsed at character {position}."])
        field, operator, raw = match.group(1).lower(), match.group(2).lower(), match.group(3)
        if (operator == "in") != raw.startswith("("):
            raise JiraError(400, [f"Error in the JQL Query: expecting a list after 'in' at character {position}."])
        values = re.findall(r'"([^"]*)"|([\w.-]+)', raw.strip("()")) if raw.startswith("(") else [(raw.strip('"'), "")]
        clauses.append((field, {quoted or bare for quoted, bare in values}))
        position = match.end()
        joined = re.match(r"and\b\s*", jql[position:], re.IGNORECASE)
        if joined:
            position += joined.end()
        elif position < len(jql) and not _JQL_ORDER.match(jql, position):
            raise JiraError(400, [f"Error in the JQL Query: expecting AND or ORDER BY at character {position}."])
    if not clauses:
        raise JiraError(400, ["Unbounded JQL queries are not allowed here. Please add a search restriction."])
    return clauses, order


class JiraService(Service):
    name = "jira"
    routes = Map(
        [
            Rule("/rest/api/3/issue", methods=["POST"], endpoint="create_issue_v3"),
            Rule("/rest/api/2/issue", methods=["POST"], endpoint="create_issue_v2"),
            Rule("/rest/api/3/issue/<key>", methods=["GET"], endpoint="get_issue_v3"),
            Rule("/rest/api/2/issue/<key>", methods=["GET"], endpoint="get_issue_v2"),
            Rule("/rest/api/3/issue/<key>/comment", methods=["POST"], endpoint="add_comment_v3"),
            Rule("/rest/api/2/issue/<key>/comment", methods=["POST"], endpoint="add_comment_v2"),
            Rule("/rest/api/3/issue/<key>/comment", methods=["GET"], endpoint="list_comments"),
            Rule("/rest/api/3/issue/<key>/attachments", methods=["POST"], endpoint="add_attachments"),
            Rule("/rest/api/3/search/jql", methods=["GET", "POST"], endpoint="search_v3"),
            Rule("/rest/api/2/search/jql", methods=["GET", "POST"], endpoint="search_v2"),
            Rule("/rest/api/3/issue/createmeta/<project>/issuetypes", methods=["GET"], endpoint="createmeta_types"),
            Rule(
                "/rest/api/3/issue/createmeta/<project>/issuetypes/<type_id>",
                methods=["GET"],
                endpoint="createmeta_fields",
            ),
            Rule("/rest/api/3/project/<project>", methods=["GET"], endpoint="get_project"),
            Rule("/rest/api/2/project/<project>", methods=["GET"], endpoint="get_project"),
            Rule("/rest/api/3/field", methods=["GET"], endpoint="list_fields"),
            Rule("/rest/api/2/field", methods=["GET"], endpoint="list_fields"),
            Rule("/rest/api/3/serverInfo", methods=["GET"], endpoint="server_info"),
            Rule("/rest/api/2/serverInfo", methods=["GET"], endpoint="server_info"),
            Rule("/rest/api/3/myself", methods=["GET"], endpoint="myself"),
            Rule("/rest/api/2/myself", methods=["GET"], endpoint="myself"),
            # What a person's browser opens: the issue's page and its attachments' downloads.
            Rule("/browse/<key>", methods=["GET"], endpoint="browse"),
            Rule("/secure/attachment/<attachment_id>/<filename>", methods=["GET"], endpoint="download"),
        ],
        strict_slashes=False,
    )

    BROWSER_PAGES = {"browse", "download"}

    def rate_limited_response(self, retry_after: int) -> Response:
        response = JiraError(429, ["Rate limit exceeded."]).response()
        response.headers["Retry-After"] = str(retry_after)
        response.headers["X-RateLimit-Reason"] = "jira-burst-based"
        return response

    def error_response(self, status: int) -> Response:
        if status == 500:
            return JiraError(500, ["Internal server error"]).response()
        return super().error_response(status)

    def handle(self, request: Request, path: str) -> Response:
        try:
            try:
                endpoint, args = self.routes.bind("sandbox").match(path, request.method)
            except MethodNotAllowed:
                return Response(status=405)
            except NotFound:
                raise JiraError(404, ["null for uri: " + request.url]) from None
            if endpoint not in self.BROWSER_PAGES:  # a browser signed in to Jira; the demo's has no sign-in
                self.authenticate(request)
            return getattr(self, endpoint)(request, **args)
        except JiraError as error:
            return error.response()

    def base_url(self, request: Request) -> str:
        return request.host_url.rstrip("/") + "/jira"

    def authenticate(self, request: Request) -> None:
        auth = request.authorization
        if (
            auth is None
            or auth.type != "basic"
            or auth.username != EMAIL
            or not secrets.compare_digest(auth.password or "", API_TOKEN)
        ):
            raise JiraError(401, ["You are not authenticated. Authentication required to perform this operation."])

    def json_body(self, request: Request) -> dict:
        if request.mimetype != "application/json":
            raise JiraError(415, ["Unsupported Media Type: send application/json."])
        try:
            body = json.loads(request.get_data(as_text=True))
        except ValueError:
            raise JiraError(400, ["Unexpected character in the request body: not valid JSON."]) from None
        if not isinstance(body, dict):
            raise JiraError(400, ["The request body must be a JSON object."])
        return body

    # -- issues -----------------------------------------------------------------------------
    def create_issue_v3(self, request: Request) -> Response:
        return self.create_issue(request, adf=True)

    def create_issue_v2(self, request: Request) -> Response:
        return self.create_issue(request, adf=False)

    def create_issue(self, request: Request, adf: bool) -> Response:
        fields = self.json_body(request).get("fields")
        if not isinstance(fields, dict):
            raise JiraError(400, ["Issue fields are missing: give 'fields'."])
        errors = {}
        with self.state.lock:
            custom = {field_id: dict(field) for field_id, field in self.state.jira_custom_fields.items()}
            types = self.issue_types()
        for name in set(fields) - SETTABLE_FIELDS - set(custom):
            errors[name] = f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."
        project = fields.get("project")
        if not isinstance(project, dict) or (
            project.get("key") != PROJECT["key"] and project.get("id") != PROJECT["id"]
        ):
            errors["project"] = "Specify a valid project ID or key"
        issue_type = fields.get("issuetype")
        type_name = None
        if isinstance(issue_type, dict):
            type_name = types.get(issue_type.get("id")) or next(
                (name for name in types.values() if name == issue_type.get("name")), None
            )
        if type_name is None:
            errors["issuetype"] = "Specify a valid issue type"
        parent = self.parent_of(fields, type_name, errors)
        assignee = fields.get("assignee")
        if assignee is not None and (
            not isinstance(assignee, dict) or not isinstance(assignee.get("accountId"), str | None)
        ):
            errors["assignee"] = "data was not an object"
        elif assignee and assignee.get("accountId") is not None and assignee["accountId"] not in ACCOUNTS:
            errors["assignee"] = f"User '{assignee['accountId']}' does not exist."
        summary = fields.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            errors["summary"] = "You must specify a summary of the issue."
        elif len(summary) > 255 or "\n" in summary:
            errors["summary"] = "Summary must be less than 255 characters and on one line."
        description = fields.get("description")
        if description is not None:
            if adf and not is_adf_document(description):
                errors["description"] = ADF_NOT_A_DOCUMENT
            elif not adf and not isinstance(description, str):
                errors["description"] = "Operation value must be a string"
            elif text_length(description) > TEXT_LIMIT:
                errors["description"] = too_long(TEXT_LIMIT)
            elif not adf:
                description = text_to_adf(description)
        labels = fields.get("labels", [])
        if not isinstance(labels, list) or not all(isinstance(label, str) and label for label in labels):
            errors["labels"] = "Labels must be a list of strings."
        else:
            for label in labels:
                if " " in label:
                    errors["labels"] = f"The label '{label}' contains spaces which is invalid."
        values = {}
        for field_id, field in custom.items():
            problem = self.custom_field_problem(field, fields.get(field_id), type_name)
            if problem:
                errors[field_id] = problem
            elif field_id in fields:
                values[field_id] = fields[field_id]
        if errors:
            raise JiraError(400, errors=errors)
        with self.state.lock:
            self.state.jira_issues_created += 1
            number = self.state.jira_issues_created
            issue = JiraIssue(
                id=str(10000 + number),
                key=f"{PROJECT['key']}-{number}",
                fields={
                    "summary": summary,
                    "description": description,
                    "labels": list(labels),
                    "issuetype": type_name,
                    "parent": parent.key if parent else None,
                    "assignee": (assignee or {}).get("accountId"),
                    "status": "To Do",
                    **values,
                },
                created=self.state.now(),
            )
            self.state.jira_issues.append(issue)
        base = self.base_url(request)
        return json_response({"id": issue.id, "key": issue.key, "self": f"{base}/rest/api/3/issue/{issue.id}"}, 201)

    @staticmethod
    def custom_field_problem(field: dict, value: object, type_name: str | None) -> str:
        """What Jira says of a custom field's value in a create (nothing when it is fine)."""
        if value is None:
            required = type_name in field["required_for"].get(PROJECT["key"], [])
            return f"{field['name']} is required." if required else ""
        if field["type"] == "option":
            chosen = value.get("value", value.get("id")) if isinstance(value, dict) else None
            if chosen not in field["allowed_values"] and chosen not in field["option_ids"]:
                return f"Option value '{chosen}' is not valid"
            return ""
        if not isinstance(value, str):
            return "Operation value must be a string"
        return too_long(SINGLE_LINE_LIMIT) if len(value) > SINGLE_LINE_LIMIT else ""

    def issue_types(self) -> dict[str, str]:
        """The project's issue types, id -> name (the control API can take one away)."""
        return {i: name for i, name in ISSUE_TYPES.items() if name not in self.state.jira_removed_issue_types}

    def parent_of(self, fields: dict, type_name: str | None, errors: dict) -> JiraIssue | None:
        """The parent a sub-task names, as Jira checks it: required for a sub-task, an object with an id or
        a key, an existing issue of the project, not a sub-task itself; refused on a standard issue."""
        parent = fields.get("parent")
        if type_name is None:
            return None  # the issue type is refused already
        if type_name in SUBTASK_TYPES and parent is None:
            errors["issuetype"] = "Issue type is a sub-task but parent issue key or id not specified."
            return None
        if parent is None:
            return None
        if not isinstance(parent, dict):
            errors["parent"] = "data was not an object"
            return None
        wanted = parent.get("key") or parent.get("id")
        with self.state.lock:
            found = next((i for i in self.state.jira_issues if wanted in (i.key, i.id)), None) if wanted else None
        if found is None:
            errors["parent"] = "Could not find issue by id or key."
        elif type_name not in SUBTASK_TYPES or found.fields["issuetype"] in SUBTASK_TYPES:
            # A standard issue sits under an epic only, and a sub-task never under another sub-task.
            errors["parent"] = HIERARCHY_REFUSED
        return found

    def issue_or_404(self, key: str) -> JiraIssue:
        with self.state.lock:
            issue = next((i for i in self.state.jira_issues if key in (i.key, i.id)), None)
        if issue is None:
            raise JiraError(404, ["Issue does not exist or you do not have permission to see it."])
        return issue

    def type_of(self, request: Request, issue: JiraIssue, api: str = "3") -> dict:
        """The issue's type as an issue shows it."""
        name = issue.fields["issuetype"]
        return self.issue_type_json(request, next(i for i, each in ISSUE_TYPES.items() if each == name), name, api)

    def status_json(self, request: Request, name: str, api: str = "3") -> dict:
        status_id, category, category_name = STATUSES[name]
        return {
            "self": f"{self.base_url(request)}/rest/api/{api}/status/{status_id}",
            "id": status_id,
            "name": name,
            "statusCategory": {"key": category, "name": category_name},
        }

    def issue_link_json(self, request: Request, issue: JiraIssue, api: str = "3") -> dict:
        """An issue as a parent's `subtasks` or a sub-task's `parent` shows it: key, summary, status, type."""
        return {
            "id": issue.id,
            "key": issue.key,
            "self": f"{self.base_url(request)}/rest/api/{api}/issue/{issue.id}",
            "fields": {
                "summary": issue.fields["summary"],
                "status": self.status_json(request, issue.fields["status"], api),
                "issuetype": self.type_of(request, issue, api),
            },
        }

    def issue_json(self, request: Request, issue: JiraIssue, fields: set[str] | None = None, api: str = "3") -> dict:
        """The issue as Jira REST `api` (v3: ADF texts; v2: plain ones) shows it."""
        base = self.base_url(request)
        parent = next((i for i in self.state.jira_issues if i.key == issue.fields.get("parent")), None)
        assignee = issue.fields.get("assignee")
        status = issue.fields["status"]
        description = issue.fields["description"]
        every_field = {
            "summary": issue.fields["summary"],
            "description": description if api == "3" else adf_to_text(description),
            "labels": issue.fields["labels"],
            "project": {**PROJECT, "self": f"{base}/rest/api/{api}/project/{PROJECT['id']}"},
            "issuetype": self.type_of(request, issue, api),
            "status": self.status_json(request, status, api),
            "resolution": {"name": status} if STATUSES[status][1] == "done" else None,
            "assignee": self.account_json(request, assignee, api) if assignee else None,
            "created": jira_timestamp(issue.created),
            "updated": jira_timestamp(max([issue.created] + [c["at"] for c in issue.comments])),
            "comment": {
                "comments": [self.comment_json(request, issue, c, api) for c in issue.comments],
                "maxResults": len(issue.comments),
                "total": len(issue.comments),
                "startAt": 0,
            },
            "attachment": [self.attachment_json(request, a) for a in issue.attachments],
            **{name: value for name, value in issue.fields.items() if name.startswith("customfield_")},
        }
        if parent is not None:
            every_field["parent"] = self.issue_link_json(request, parent, api)
        if fields is None or {"subtasks", "*all", "*navigable"} & fields:  # a walk over every issue: only if asked
            every_field["subtasks"] = [
                self.issue_link_json(request, i, api)
                for i in self.state.jira_issues
                if i.fields.get("parent") == issue.key
            ]
        if fields is not None and "*all" not in fields and "*navigable" not in fields:
            every_field = {name: value for name, value in every_field.items() if name in fields}
        return {
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
            "id": issue.id,
            "key": issue.key,
            "self": f"{base}/rest/api/{api}/issue/{issue.id}",
            "fields": every_field,
        }

    def get_issue_v3(self, request: Request, key: str) -> Response:
        return self.get_issue(request, key, "3")

    def get_issue_v2(self, request: Request, key: str) -> Response:
        return self.get_issue(request, key, "2")

    def get_issue(self, request: Request, key: str, api: str) -> Response:
        issue = self.issue_or_404(key)
        wanted = self.wanted_fields(request.args.getlist("fields"))
        with self.state.lock:
            return json_response(self.issue_json(request, issue, wanted, api))

    @staticmethod
    def wanted_fields(values: list[str]) -> set[str] | None:
        """`fields=a,b` or `fields=a&fields=b` (as the `jira` library sends a list): the names asked for."""
        names = {name.strip() for value in values for name in value.split(",") if name.strip()}
        return names or None

    # -- comments and attachments --------------------------------------------------------------
    def author(self, request: Request, api: str = "3") -> dict:
        return self.account_json(request, ACCOUNT_ID, api)

    def account_json(self, request: Request, account_id: str, api: str = "3") -> dict:
        return {
            "accountId": account_id,
            "displayName": ACCOUNTS[account_id],
            "active": True,
            "self": f"{self.base_url(request)}/rest/api/{api}/user?accountId={account_id}",
        }

    def comment_json(self, request: Request, issue: JiraIssue, comment: dict, api: str = "3") -> dict:
        stamp = jira_timestamp(comment["at"])
        return {
            "id": comment["id"],
            "self": f"{self.base_url(request)}/rest/api/{api}/issue/{issue.id}/comment/{comment['id']}",
            "author": self.author(request, api),
            "updateAuthor": self.author(request, api),
            "body": comment["body"] if api == "3" else adf_to_text(comment["body"]),
            "created": stamp,
            "updated": stamp,
            "jsdPublic": True,
        }

    def add_comment_v3(self, request: Request, key: str) -> Response:
        return self.add_comment(request, key, "3")

    def add_comment_v2(self, request: Request, key: str) -> Response:
        return self.add_comment(request, key, "2")

    def add_comment(self, request: Request, key: str, api: str) -> Response:
        issue = self.issue_or_404(key)
        body = self.json_body(request).get("body")
        if api == "3" and not is_adf_document(body):
            raise JiraError(400, errors={"comment": ADF_NOT_A_DOCUMENT})
        if api == "2" and (not isinstance(body, str) or not body.strip()):
            raise JiraError(400, errors={"comment": "Comment body can not be empty!"})
        if text_length(body) > TEXT_LIMIT:
            raise JiraError(400, errors={"comment": too_long(TEXT_LIMIT)})
        with self.state.lock:
            comment = {"id": str(20000 + sum(len(i.comments) for i in self.state.jira_issues) + 1)}
            comment.update(body=body if api == "3" else text_to_adf(body), at=self.state.now())
            issue.comments.append(comment)
            return json_response(self.comment_json(request, issue, comment, api), 201)

    def list_comments(self, request: Request, key: str) -> Response:
        """A page of the issue's comments (Jira pages them by startAt, at most 100 a page here)."""
        issue = self.issue_or_404(key)
        try:
            start = int(request.args.get("startAt", "0"))
            max_results = int(request.args.get("maxResults", "100"))
        except ValueError:
            raise JiraError(400, ["startAt and maxResults must be numbers."]) from None
        if start < 0 or max_results < 0:
            raise JiraError(400, ["startAt and maxResults must not be negative."])
        order = request.args.get("orderBy", "created")
        if order not in ("created", "+created", "-created"):
            raise JiraError(400, [f"The orderBy value '{order}' is not supported."])
        max_results = min(max_results, MAX_COMMENT_RESULTS)
        with self.state.lock:
            comments = sorted(issue.comments, key=lambda c: (c["at"], int(c["id"])), reverse=order == "-created")
            page = comments[start : start + max_results]
            return json_response(
                {
                    "comments": [self.comment_json(request, issue, c) for c in page],
                    "maxResults": max_results,
                    "startAt": start,
                    "total": len(comments),
                }
            )

    def attachment_json(self, request: Request, attachment: dict) -> dict:
        base = self.base_url(request)
        return {
            "self": f"{base}/rest/api/3/attachment/{attachment['id']}",
            "id": attachment["id"],
            "filename": attachment["filename"],
            "author": self.author(request),
            "created": jira_timestamp(attachment["at"]),
            "size": attachment["size"],
            "mimeType": attachment["mimeType"],
            "content": f"{base}/rest/api/3/attachment/content/{attachment['id']}",
        }

    def add_attachments(self, request: Request, key: str) -> Response:
        if request.headers.get("X-Atlassian-Token", "").lower() != "no-check":
            # Jira's XSRF protection answers in plain text.
            return Response("XSRF check failed", 403, content_type="text/plain")
        issue = self.issue_or_404(key)
        files = request.files.getlist("file")
        if request.mimetype != "multipart/form-data" or not files:
            raise JiraError(400, ["No file was attached: send multipart/form-data with a 'file' part."])
        created = []
        with self.state.lock:
            for upload in files:
                content = upload.read()
                attachment = {
                    "id": str(30000 + sum(len(i.attachments) for i in self.state.jira_issues) + 1),
                    "filename": upload.filename or "attachment",
                    "mimeType": upload.mimetype or "application/octet-stream",
                    "size": len(content),
                    "content": base64.b64encode(content).decode(),
                    "at": self.state.now(),
                }
                issue.attachments.append(attachment)
                created.append(self.attachment_json(request, attachment))
        return json_response(created)

    # -- the browser's pages ------------------------------------------------------------------
    def browse(self, request: Request, key: str) -> Response:
        try:
            issue = self.issue_or_404(key)
        except JiraError:
            page = f"<!doctype html><html lang=en><title>Not found</title><main><h1>No issue {html.escape(key)}</h1>"
            return Response(page, 404, content_type="text/html; charset=utf-8")
        with self.state.lock:
            fields = issue.fields
            attachments = "".join(
                f'<li><a href="{self.base_url(request)}/secure/attachment/{a["id"]}/{html.escape(a["filename"])}">'
                f"{html.escape(a['filename'])}</a> ({a['size']:,} bytes, {html.escape(a['mimeType'])}, "
                f"{jira_timestamp(a['at'])})</li>"
                for a in issue.attachments
            )
            comments = "".join(
                f"<article><p class=meta>Offboarding Automation · {jira_timestamp(c['at'])}</p>"
                f"{adf_to_html(c['body'])}</article>"
                for c in issue.comments
            )
            description = fields["description"]
            page = BROWSE_PAGE.format(
                key=html.escape(issue.key),
                summary=html.escape(fields["summary"]),
                project=html.escape(PROJECT["name"]),
                status="To Do",
                labels=html.escape(", ".join(fields["labels"]) or "none"),
                description=adf_to_html(description)
                if isinstance(description, dict)
                else html.escape(str(description or "")),
                attachment_count=len(issue.attachments),
                attachments=f"<ul>{attachments}</ul>" if attachments else "<p>None.</p>",
                comment_count=len(issue.comments),
                comments=comments or "<p>None.</p>",
            )
        return Response(page, 200, content_type="text/html; charset=utf-8")

    def download(self, request: Request, attachment_id: str, filename: str) -> Response:
        with self.state.lock:
            found = next((a for i in self.state.jira_issues for a in i.attachments if a["id"] == attachment_id), None)
        if found is None:
            return Response("Attachment not found", 404, content_type="text/plain")
        return Response(
            base64.b64decode(found["content"]),
            200,
            content_type=found["mimeType"],
            headers={"Content-Disposition": f'attachment; filename="{found["filename"].replace(chr(34), "")}"'},
        )

    # -- search -----------------------------------------------------------------------------
    def search_v3(self, request: Request) -> Response:
        return self.search(request, "3")

    def search_v2(self, request: Request) -> Response:
        return self.search(request, "2")

    def search(self, request: Request, api: str) -> Response:
        if request.method == "POST":
            body = self.json_body(request)
            jql, token, max_results = body.get("jql"), body.get("nextPageToken"), body.get("maxResults", 50)
            fields = body.get("fields")
        else:
            jql, token = request.args.get("jql"), request.args.get("nextPageToken")
            max_results = request.args.get("maxResults", "50")
            fields = self.wanted_fields(request.args.getlist("fields"))
        if not jql:
            raise JiraError(400, ["Unbounded JQL queries are not allowed here. Please add a search restriction."])
        try:
            max_results = int(max_results)
        except (TypeError, ValueError):
            raise JiraError(400, ["maxResults must be a number."]) from None
        max_results = min(max(max_results, 1), MAX_SEARCH_RESULTS)
        clauses, (order_field, descending) = parse_jql(jql)
        start = self.decode_page_token(token, jql) if token else 0
        with self.state.lock:
            # As Jira does: a key no issue has (deleted, or never there) fails the whole query.
            known = {i.key for i in self.state.jira_issues}
            missing = sorted({key for field, values in clauses if field == "key" for key in values} - known)
            if missing:
                raise JiraError(400, [f"An issue with key '{key}' does not exist for field 'key'." for key in missing])
            issues = [issue for issue in self.state.jira_issues if self.matches(issue, clauses)]
            issues.sort(key=lambda i: int(i.id), reverse=descending)
            page = issues[start : start + max_results]
            # /search/jql returns only ids unless fields are asked for.
            wanted = set(fields) if fields else {"id"}
            result = {"issues": [self.issue_json(request, issue, wanted, api) for issue in page]}
        if not fields:
            for issue in result["issues"]:
                issue.pop("fields")
        if start + max_results < len(issues):
            result["nextPageToken"] = self.encode_page_token(start + max_results, jql)
            result["isLast"] = False
        else:
            result["isLast"] = True
        return json_response(result)

    @staticmethod
    def matches(issue: JiraIssue, clauses: list[tuple[str, set[str]]]) -> bool:
        for field, values in clauses:
            if field == "project" and not values & {PROJECT["key"], PROJECT["id"], PROJECT["name"]}:
                return False
            if field == "labels" and not values & set(issue.fields["labels"]):
                return False
            if field == "key" and issue.key not in values:
                return False
            if field == "issuetype" and issue.fields["issuetype"] not in values:
                return False
            if field == "status" and issue.fields["status"] not in values:
                return False
        return True

    @staticmethod
    def encode_page_token(start: int, jql: str) -> str:
        return base64.urlsafe_b64encode(json.dumps([start, jql]).encode()).decode()

    @staticmethod
    def decode_page_token(token: str, jql: str) -> int:
        try:
            start, token_jql = json.loads(base64.urlsafe_b64decode(token.encode()))
        except (ValueError, binascii.Error):
            raise JiraError(400, ["The nextPageToken is invalid."]) from None
        if token_jql != jql:
            raise JiraError(400, ["The nextPageToken belongs to a different JQL query."])
        return int(start)

    # -- create metadata, fields, the project, the server, the signed-in user ---------------------
    @staticmethod
    def api_of(request: Request) -> str:
        return "2" if "/rest/api/2/" in request.path else "3"

    def project_or_400(self, project: str) -> None:
        if project not in (PROJECT["key"], PROJECT["id"]):
            raise JiraError(400, [f"No project could be found with key '{project}'."])

    @staticmethod
    def page_of(request: Request) -> tuple[int, int]:
        """createmeta's startAt and maxResults (50 by default, 200 at most)."""
        try:
            start, size = int(request.args.get("startAt", "0")), int(request.args.get("maxResults", "50"))
        except ValueError:
            raise JiraError(400, ["startAt and maxResults must be numbers."]) from None
        if size > 200:
            raise JiraError(400, ["Parameter 'maxResults' must not exceed the limit '200'"])
        return max(start, 0), max(size, 1)

    def issue_type_json(self, request: Request, type_id: str, name: str, api: str = "3") -> dict:
        return {
            "id": type_id,
            "name": name,
            "description": f"A {name.lower()} of the offboarding team.",
            "iconUrl": f"{self.base_url(request)}/images/icons/issuetypes/{name.lower()}.png",
            "self": f"{self.base_url(request)}/rest/api/{api}/issuetype/{type_id}",
            "subtask": name in SUBTASK_TYPES,
            "hierarchyLevel": -1 if name in SUBTASK_TYPES else 0,
        }

    def createmeta_types(self, request: Request, project: str) -> Response:
        self.project_or_400(project)
        start, size = self.page_of(request)
        with self.state.lock:
            types = [self.issue_type_json(request, i, name) for i, name in self.issue_types().items()]
        return json_response(
            {"issueTypes": types[start : start + size], "maxResults": size, "startAt": start, "total": len(types)}
        )

    def createmeta_fields(self, request: Request, project: str, type_id: str) -> Response:
        self.project_or_400(project)
        start, size = self.page_of(request)
        with self.state.lock:
            name = self.issue_types().get(type_id)
            custom = [dict(field) for field in self.state.jira_custom_fields.values()]
        if name is None:
            raise JiraError(400, [f"The issue type with id '{type_id}' does not exist in project '{project}'."])
        system = SYSTEM_FIELDS + ([PARENT_FIELD] if name in SUBTASK_TYPES else [])
        fields = [
            {
                "fieldId": field_id,
                "key": field_id,
                "name": field_name,
                "schema": schema,
                "required": required,
                "hasDefaultValue": False,
                "operations": ["set"],
            }
            for field_id, field_name, schema, required in system
        ]
        for field in custom:
            meta = {
                "fieldId": field["id"],
                "key": field["id"],
                "name": field["name"],
                "schema": self.custom_schema(field),
                "required": name in field["required_for"].get(PROJECT["key"], []),
                "hasDefaultValue": False,
                "operations": ["set"],
            }
            if field["type"] == "option":
                meta["allowedValues"] = [
                    {
                        "self": f"{self.base_url(request)}/rest/api/3/customFieldOption/{option_id}",
                        "value": value,
                        "id": option_id,
                    }
                    for value, option_id in zip(field["allowed_values"], field["option_ids"], strict=True)
                ]
            fields.append(meta)
        return json_response(
            {"fields": fields[start : start + size], "maxResults": size, "startAt": start, "total": len(fields)}
        )

    @staticmethod
    def custom_schema(field: dict) -> dict:
        return {
            "type": field["type"],
            "custom": CUSTOM_FIELD_TYPES[field["type"]],
            "customId": int(field["id"].removeprefix("customfield_")),
        }

    def get_project(self, request: Request, project: str) -> Response:
        if project not in (PROJECT["key"], PROJECT["id"]):
            raise JiraError(404, [f"No project could be found with key '{project}'."])
        api = self.api_of(request)
        with self.state.lock:
            types = [self.issue_type_json(request, i, name, api) for i, name in self.issue_types().items()]
        return json_response(
            {
                **PROJECT,
                "self": f"{self.base_url(request)}/rest/api/{api}/project/{PROJECT['id']}",
                "projectTypeKey": "software",
                "simplified": False,
                "style": "classic",
                "isPrivate": False,
                "issueTypes": types,
            }
        )

    def list_fields(self, request: Request) -> Response:
        with self.state.lock:
            custom = [dict(field) for field in self.state.jira_custom_fields.values()]
        system = [
            {
                "id": field_id,
                "key": field_id,
                "name": name,
                "custom": False,
                "orderable": True,
                "navigable": True,
                "searchable": True,
                "clauseNames": ["type" if field_id == "issuetype" else field_id],
                "schema": schema,
            }
            for field_id, name, schema, _ in SYSTEM_FIELDS + [PARENT_FIELD]
        ]
        return json_response(
            system
            + [
                {
                    "id": field["id"],
                    "key": field["id"],
                    "name": field["name"],
                    "custom": True,
                    "orderable": True,
                    "navigable": True,
                    "searchable": True,
                    "clauseNames": [f"cf[{field['id'].removeprefix('customfield_')}]", field["name"]],
                    "schema": self.custom_schema(field),
                }
                for field in custom
            ]
        )

    def server_info(self, request: Request) -> Response:
        return json_response(
            {
                "baseUrl": self.base_url(request),
                "deploymentType": "Cloud",
                "version": "1001.0.0-SNAPSHOT",
                "versionNumbers": [1001, 0, 0],
                "buildNumber": 100295,
                "buildDate": "2026-11-24T09:00:00.000+00:00",
                "serverTime": jira_timestamp(self.state.now()),
                "scmInfo": "57a0ca5b4a0bb0ac5f3fee4764acb1c14e4d7e71",
                "serverTitle": "Jira",
            }
        )

    def myself(self, request: Request) -> Response:
        return json_response(
            {
                **self.author(request, self.api_of(request)),
                "accountType": "atlassian",
                "emailAddress": EMAIL,
                "timeZone": "Etc/UTC",
                "locale": "en_US",
            }
        )
