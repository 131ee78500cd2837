"""Workday RaaS: the terminations report, as typed records.

A customer's report names its columns its own way, so the mapping from our field names to the
report's aliases is a setting (WORKDAY_COLUMNS). A row we cannot understand becomes a RowError
with the reason and the rest of the report is still used; a body that is not a report at all
raises, because "no terminations" must never be a guess.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests
from django.conf import settings

from .errors import MalformedResponse
from .transport import BasicAuth, ErrorBody, RetryPolicy, Secret, Transport, seconds_header, short_text

FIELDS = (
    "employee_id",
    "name",
    "first_name",
    "last_name",
    "email",
    "termination_date",
    "last_day_of_work",
    "category",
    "reason",
    "manager",
    "department",
    "location",
    "time_zone",
    "worker_type",
    "rescinded",
)
# "2026-11-30", or with the tenant's UTC offset as Workday writes it: "2026-11-30-08:00", "...Z".
WORKDAY_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:Z|[+-]\d{2}:\d{2})?$")
# The longest value each field may hold (the Termination model's columns); a longer one is a bad row.
MAX_LENGTHS = {
    "employee_id": 64,
    "name": 300,
    "first_name": 150,
    "last_name": 150,
    "email": 300,
    "category": 40,
    "reason": 300,
    "manager": 300,
    "department": 300,
    "location": 300,
    "time_zone": 64,
    "worker_type": 64,
}
# Dates outside these years are typing errors, and near date.max the effective moment cannot be computed.
YEARS = range(1900, 3000)
TRUE_VALUES = {"1", "true", "True"}
FALSE_VALUES = {"0", "false", "False", ""}


@dataclass(frozen=True)
class Termination:
    employee_id: str
    name: str
    first_name: str
    last_name: str
    email: str
    termination_date: date
    last_day_of_work: date | None
    category: str
    reason: str
    manager: str
    department: str
    location: str
    time_zone: str
    worker_type: str
    rescinded: bool
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class RowError:
    index: int
    employee_id: str
    reason: str
    raw: Any = field(repr=False)


@dataclass(frozen=True)
class Report:
    terminations: list[Termination]
    row_errors: list[RowError]


class BadRow(ValueError):
    pass


def parse_workday_date(value: str) -> date:
    match = WORKDAY_DATE.match(value.strip())
    if not match:
        raise ValueError(f"not a date: {value!r}")
    return date.fromisoformat(match.group(1))


def workday_policy() -> RetryPolicy:
    """Every vendor's retry policy, with Workday's own (longer) timeouts: a large report takes a while."""
    return dataclasses.replace(
        RetryPolicy.from_settings(),
        connect_timeout=settings.WORKDAY_CONNECT_TIMEOUT,
        read_timeout=settings.WORKDAY_READ_TIMEOUT,
    )


class WorkdayClient:
    def __init__(
        self,
        report_url: str,
        username: str,
        password: Secret,
        columns: Mapping[str, str],
        *,
        employee_prompt: str = "Employee_ID",
        policy: RetryPolicy | None = None,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        missing = [f for f in FIELDS if f not in columns]
        if missing:
            raise ValueError(f"WORKDAY_COLUMNS lacks {', '.join(missing)}")
        self.columns = dict(columns)
        self.employee_prompt = employee_prompt
        parts = urlsplit(report_url)
        self.report_path = parts.path
        # RaaS answers XML unless asked for JSON.
        self.params = {} if "format" in parse_qs(parts.query) else {"format": "json"}
        self.transport = Transport(
            "workday",
            report_url,
            auth=BasicAuth(username, password),
            policy=policy or RetryPolicy(),
            describe_error=_describe_workday_error,
            rate_limit_wait=lambda response: seconds_header(response, "Retry-After"),
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
    ) -> WorkdayClient:
        return cls(
            settings.WORKDAY_REPORT_URL,
            settings.WORKDAY_USERNAME,
            Secret(settings.WORKDAY_PASSWORD),
            settings.WORKDAY_COLUMNS,
            employee_prompt=settings.WORKDAY_EMPLOYEE_PROMPT,
            policy=policy or workday_policy(),
            session=session,
            clock=clock,
            sleep=sleep,
        )

    def __repr__(self) -> str:
        return f"WorkdayClient({self.transport.base_url!r})"

    def fetch_terminations(self, employee_id: str | None = None) -> Report:
        """The whole report, or one worker's rows through the report's employee prompt."""
        params = self.params if employee_id is None else {**self.params, self.employee_prompt: employee_id}
        # The body is read once, inside the transport (a cut-short body is retried like any transient failure),
        # and parsed from its bytes: never also held as decoded text.
        response = self.transport.request("GET", self.transport.base_url, params=params)
        entries = _report_entries(response)
        report = Report(terminations=[], row_errors=[])
        for index, row in enumerate(entries):
            try:
                report.terminations.append(self._termination(row))
            except BadRow as e:
                employee_id = str(row.get(self.columns["employee_id"], "")) if isinstance(row, dict) else ""
                report.row_errors.append(RowError(index, employee_id.strip(), str(e), row))
        return report

    def _termination(self, row: Any) -> Termination:
        if not isinstance(row, dict):
            raise BadRow("row is not an object")

        if _has_nul(row):
            # No database stores it in text, and no real report holds one.
            raise BadRow("contains a NUL character")

        def text(name: str) -> str:
            value = row.get(self.columns[name], "")
            if value is None:
                value = ""
            if not isinstance(value, str | int | float):
                raise BadRow(f"{self.columns[name]} is not a plain value")
            value = str(value).strip()
            if len(value) > MAX_LENGTHS.get(name, len(value)):
                raise BadRow(f"{self.columns[name]} is longer than {MAX_LENGTHS[name]} characters")
            return value

        def day(name: str, required: bool) -> date | None:
            value = text(name)
            if not value:
                if required:
                    raise BadRow(f"missing {self.columns[name]}")
                return None
            try:
                parsed = parse_workday_date(value)
            except ValueError:
                raise BadRow(f"unparseable {self.columns[name]}: {value[:100]!r}") from None
            if parsed.year not in YEARS:
                raise BadRow(f"{self.columns[name]} out of range: {value!r}")
            return parsed

        employee_id = text("employee_id")
        if not employee_id:
            raise BadRow(f"missing {self.columns['employee_id']}")
        termination_date = day("termination_date", required=True)
        assert termination_date is not None
        time_zone = text("time_zone")
        if not time_zone:
            raise BadRow(f"missing {self.columns['time_zone']}")
        try:
            ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise BadRow(f"unknown time zone {time_zone[:100]!r}") from None
        rescinded = text("rescinded")
        if rescinded not in TRUE_VALUES | FALSE_VALUES:
            raise BadRow(f"unrecognised {self.columns['rescinded']}: {rescinded[:100]!r}")
        first_name, last_name = text("first_name"), text("last_name")
        return Termination(
            employee_id=employee_id,
            name=text("name") or f"{first_name} {last_name}".strip(),
            first_name=first_name,
            last_name=last_name,
            email=text("email"),
            termination_date=termination_date,
            last_day_of_work=day("last_day_of_work", required=False),
            category=text("category"),
            reason=text("reason"),
            manager=text("manager"),
            department=text("department"),
            location=text("location"),
            time_zone=time_zone,
            worker_type=text("worker_type"),
            rescinded=rescinded in TRUE_VALUES,
            raw=row,
        )


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _report_entries(response: requests.Response) -> list[Any]:
    try:
        body = json.loads(response.content)
    except ValueError as e:
        raise MalformedResponse(
            "workday", "report is not JSON (cut short, or not a RaaS JSON report)", status=response.status_code
        ) from e
    if not isinstance(body, dict) or not isinstance(body.get("Report_Entry"), list):
        raise MalformedResponse("workday", "body has no Report_Entry list", status=response.status_code)
    return body["Report_Entry"]


def _describe_workday_error(response: requests.Response) -> ErrorBody:
    try:
        body = response.json()
        message = body.get("error") or body.get("message") or body.get("errors")
        return ErrorBody(summary=str(message) if message else short_text(response))
    except (ValueError, AttributeError):
        return ErrorBody(summary=short_text(response))
