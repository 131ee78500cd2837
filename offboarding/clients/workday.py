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
from .report_stream import NotAReport, report_entries
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
    "hire_date",
    "worker_status",
)
# The worker's id: never read from a multi-instance value (which instance would be the person?).
ID_FIELDS = ("employee_id", "contingent_worker_id")
# Control characters no name, date or id holds (tab, line feed and carriage return are only whitespace).
CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
SURROGATES = re.compile("[\ud800-\udfff]")
# Python refuses to read integers longer than this (int_max_str_digits); one in a row must not sink the report.
LONGEST_INTEGER = 4300
# Columns a report may lack (a tenant's report without them reads them as empty): a rehire's hire date and status.
OPTIONAL_COLUMNS = {"hire_date": "Hire_Date", "worker_status": "Worker_Status"}
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
    "worker_status": 64,
}
# Dates outside these years are typing errors, and near date.max the effective moment cannot be computed.
YEARS = range(1900, 3000)
TRUE_VALUES = {"1", "true", "True"}
FALSE_VALUES = {"0", "false", "False", ""}
# The report's body is read this many bytes at a time.
CHUNK_BYTES = 64 * 1024


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
    hire_date: date | None = None  # the latest hire: after the termination date, a rehire
    worker_status: str = ""


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
        missing = [f for f in FIELDS if f not in columns and f not in OPTIONAL_COLUMNS]
        if missing:
            raise ValueError(f"WORKDAY_COLUMNS lacks {', '.join(missing)}")
        self.columns = {**OPTIONAL_COLUMNS, **columns}
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
        # The body is streamed, inside the transport's retries (a body cut short is retried like any transient
        # failure): each row is read as soon as its text has arrived, and the text is let go.
        return self.transport.request("GET", self.transport.base_url, params=params, read=self._read_report)

    def _read_report(self, response: requests.Response) -> Report:
        report = Report(terminations=[], row_errors=[])
        try:
            for index, row in enumerate(report_entries(response.iter_content(CHUNK_BYTES), parse_int=_integer)):
                try:
                    report.terminations.append(self._termination(row))
                except BadRow as e:
                    report.row_errors.append(RowError(index, self.worker_id_of(row), str(e), row))
        except NotAReport as e:
            raise MalformedResponse(
                "workday", f"report is not a RaaS JSON report ({e}): cut short?", status=response.status_code
            ) from e
        return report

    def _termination(self, row: Any) -> Termination:
        if not isinstance(row, dict):
            raise BadRow("row is not an object")

        if _has_nul(row):
            # No database stores it in text, and no real report holds one.
            raise BadRow("contains a NUL character")
        if _has_surrogate(row):
            # JSON allows "\\ud800", but it is no text: no database, email or ticket takes it.
            raise BadRow("contains a lone surrogate (text that is not valid Unicode)")

        def text(name: str) -> str:
            column = self.columns.get(name)
            if column is None:
                return ""
            value = row.get(column, "")
            if isinstance(value, list):
                value = self._primary_instance(name, value)
            if value is None:
                value = ""
            if not isinstance(value, str | int | float):
                raise BadRow(f"{column} is not a plain value")
            value = str(value).strip()
            if CONTROL_CHARACTERS.search(value):
                raise BadRow(f"{column} contains a control character: {value[:100]!r}")
            if len(value) > MAX_LENGTHS.get(name, len(value)):
                raise BadRow(f"{column} is longer than {MAX_LENGTHS[name]} characters")
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

        employee_id = text("employee_id") or text("contingent_worker_id")
        if not employee_id:
            ids = " or ".join(self.columns[f] for f in ID_FIELDS if f in self.columns)
            raise BadRow(f"missing {ids}")
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
            hire_date=day("hire_date", required=False),
            worker_status=text("worker_status"),
        )

    def _primary_instance(self, name: str, values: list) -> Any:
        """A multi-instance field, as RaaS writes it in JSON: an array. Its primary instance is the first, as
        Workday documents; an id or a date that has several different values cannot be read that way."""
        column = self.columns[name]
        if name in ID_FIELDS:
            raise BadRow(f"{column} has several instances (an array): which one is the worker cannot be told")
        if name in ("termination_date", "last_day_of_work"):
            different = {json.dumps(v, sort_keys=True) for v in values if v not in (None, "")}
            if len(different) > 1:
                raise BadRow(f"{column} has {len(different)} different values: {str(values)[:100]}")
            return next((v for v in values if v not in (None, "")), "")
        return values[0] if values else ""

    def worker_id_of(self, row: Any) -> str:
        """The id a row names, as far as it can be read, for the row error it becomes."""
        if not isinstance(row, dict):
            return ""
        for name in ID_FIELDS:
            value = row.get(self.columns.get(name, ""), "")
            if value not in (None, "", []):
                return str(value).strip()
        return ""


def _has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return SURROGATES.search(value) is not None
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_surrogate(v) for v in value)
    return False


def _integer(digits: str) -> int | str:
    """A JSON integer; one too long for Python to read is kept as its digits (then refused by its field)."""
    return int(digits) if len(digits.lstrip("-")) < LONGEST_INTEGER else digits


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _describe_workday_error(response: requests.Response) -> ErrorBody:
    try:
        body = response.json()
        message = body.get("error") or body.get("message") or body.get("errors")
        return ErrorBody(summary=str(message) if message else short_text(response))
    except (ValueError, AttributeError):
        return ErrorBody(summary=short_text(response))
