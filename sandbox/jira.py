"""Simulated Jira Cloud REST (v3, plus v2 issue creation): issues, comments, attachments, JQL search."""

from __future__ import annotations

import base64
import binascii
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
PROJECT = {"id": "10000", "key": "SEC", "name": "Security Operations"}
ISSUE_TYPES = {"10001": "Task", "10002": "Bug", "10003": "Story"}
SETTABLE_FIELDS = {"project", "issuetype", "summary", "description", "labels", "priority", "duedate"}
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


def text_to_adf(text: str) -> dict:
    paragraphs = [p for p in text.split("\n\n") if p]
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": p}]} for p in paragraphs],
    }


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
            Rule("/rest/api/3/issue/<key>", methods=["GET"], endpoint="get_issue"),
            Rule("/rest/api/3/issue/<key>/comment", methods=["POST"], endpoint="add_comment"),
            Rule("/rest/api/3/issue/<key>/comment", methods=["GET"], endpoint="list_comments"),
            Rule("/rest/api/3/issue/<key>/attachments", methods=["POST"], endpoint="add_attachments"),
            Rule("/rest/api/3/search/jql", methods=["GET", "POST"], endpoint="search"),
        ],
        strict_slashes=False,
    )

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
        for name in set(fields) - SETTABLE_FIELDS:
            errors[name] = f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."
        project = fields.get("project")
        if not isinstance(project, dict) or (
            project.get("key") != PROJECT["key"] and project.get("id") != PROJECT["id"]
        ):
            errors["project"] = "Specify a valid project ID or key"
        issue_type = fields.get("issuetype")
        type_name = None
        if isinstance(issue_type, dict):
            type_name = ISSUE_TYPES.get(issue_type.get("id")) or next(
                (name for name in ISSUE_TYPES.values() if name == issue_type.get("name")), None
            )
        if type_name is None:
            errors["issuetype"] = "Specify a valid issue type"
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
            elif not adf:
                description = text_to_adf(description)
        labels = fields.get("labels", [])
        if not isinstance(labels, list) or not all(isinstance(label, str) and label for label in labels):
            errors["labels"] = "Labels must be a list of strings."
        else:
            for label in labels:
                if " " in label:
                    errors["labels"] = f"The label '{label}' contains spaces which is invalid."
        if errors:
            raise JiraError(400, errors=errors)
        with self.state.lock:
            number = len(self.state.jira_issues) + 1
            issue = JiraIssue(
                id=str(10000 + number),
                key=f"{PROJECT['key']}-{number}",
                fields={
                    "summary": summary,
                    "description": description,
                    "labels": list(labels),
                    "issuetype": type_name,
                },
                created=self.state.now(),
            )
            self.state.jira_issues.append(issue)
        base = self.base_url(request)
        return json_response({"id": issue.id, "key": issue.key, "self": f"{base}/rest/api/3/issue/{issue.id}"}, 201)

    def issue_or_404(self, key: str) -> JiraIssue:
        with self.state.lock:
            issue = next((i for i in self.state.jira_issues if key in (i.key, i.id)), None)
        if issue is None:
            raise JiraError(404, ["Issue does not exist or you do not have permission to see it."])
        return issue

    def issue_json(self, request: Request, issue: JiraIssue, fields: set[str] | None = None) -> dict:
        base = self.base_url(request)
        type_id = next(i for i, name in ISSUE_TYPES.items() if name == issue.fields["issuetype"])
        every_field = {
            "summary": issue.fields["summary"],
            "description": issue.fields["description"],
            "labels": issue.fields["labels"],
            "project": {**PROJECT, "self": f"{base}/rest/api/3/project/{PROJECT['id']}"},
            "issuetype": {
                "id": type_id,
                "name": issue.fields["issuetype"],
                "self": f"{base}/rest/api/3/issuetype/{type_id}",
            },
            "status": {"name": "To Do", "id": "10000", "statusCategory": {"key": "new", "name": "To Do"}},
            "created": jira_timestamp(issue.created),
            "updated": jira_timestamp(max([issue.created] + [c["at"] for c in issue.comments])),
            "comment": {
                "comments": [self.comment_json(request, issue, c) for c in issue.comments],
                "maxResults": len(issue.comments),
                "total": len(issue.comments),
                "startAt": 0,
            },
            "attachment": [self.attachment_json(request, a) for a in issue.attachments],
        }
        if fields is not None and "*all" not in fields and "*navigable" not in fields:
            every_field = {name: value for name, value in every_field.items() if name in fields}
        return {
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
            "id": issue.id,
            "key": issue.key,
            "self": f"{base}/rest/api/3/issue/{issue.id}",
            "fields": every_field,
        }

    def get_issue(self, request: Request, key: str) -> Response:
        issue = self.issue_or_404(key)
        wanted = request.args.get("fields")
        with self.state.lock:
            return json_response(self.issue_json(request, issue, set(wanted.split(",")) if wanted else None))

    # -- comments and attachments --------------------------------------------------------------
    def author(self, request: Request) -> dict:
        return {
            "accountId": ACCOUNT_ID,
            "displayName": "Offboarding Automation",
            "active": True,
            "self": f"{self.base_url(request)}/rest/api/3/user?accountId={ACCOUNT_ID}",
        }

    def comment_json(self, request: Request, issue: JiraIssue, comment: dict) -> dict:
        stamp = jira_timestamp(comment["at"])
        return {
            "id": comment["id"],
            "self": f"{self.base_url(request)}/rest/api/3/issue/{issue.id}/comment/{comment['id']}",
            "author": self.author(request),
            "updateAuthor": self.author(request),
            "body": comment["body"],
            "created": stamp,
            "updated": stamp,
            "jsdPublic": True,
        }

    def add_comment(self, request: Request, key: str) -> Response:
        issue = self.issue_or_404(key)
        body = self.json_body(request).get("body")
        if not is_adf_document(body):
            raise JiraError(400, errors={"comment": ADF_NOT_A_DOCUMENT})
        with self.state.lock:
            comment = {"id": str(20000 + sum(len(i.comments) for i in self.state.jira_issues) + 1)}
            comment.update(body=body, at=self.state.now())
            issue.comments.append(comment)
            return json_response(self.comment_json(request, issue, comment), 201)

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

    # -- search -----------------------------------------------------------------------------
    def search(self, request: Request) -> Response:
        if request.method == "POST":
            body = self.json_body(request)
            jql, token, max_results = body.get("jql"), body.get("nextPageToken"), body.get("maxResults", 50)
            fields = body.get("fields")
        else:
            jql, token = request.args.get("jql"), request.args.get("nextPageToken")
            max_results = request.args.get("maxResults", "50")
            fields = request.args.get("fields", "").split(",") if request.args.get("fields") else None
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
            issues = [issue for issue in self.state.jira_issues if self.matches(issue, clauses)]
            issues.sort(key=lambda i: int(i.id), reverse=descending)
            page = issues[start : start + max_results]
            # /search/jql returns only ids unless fields are asked for.
            wanted = set(fields) if fields else {"id"}
            result = {"issues": [self.issue_json(request, issue, wanted) for issue in page]}
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
            if field == "status" and "To Do" not in values:
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
