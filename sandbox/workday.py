"""Simulated Workday RaaS: one custom report of terminations, as JSON (or XML without format=json)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time as clock
from datetime import date, datetime, time
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import requests
from werkzeug import Request, Response

from sandbox import credentials
from sandbox.state import OptionError, SandboxState, Worker

TENANT = "acme"
REPORT_OWNER = "ISU_Offboarding"
REPORT_NAME = "Terminations"
USERNAME = credentials.WORKDAY_USERNAME
PASSWORD = credentials.WORKDAY_PASSWORD
# The report's prompt that narrows it to one worker.
EMPLOYEE_PROMPT = "Employee_ID"
# Workday's outbound notification of the termination business process, signed with the shared secret.
SIGNATURE_HEADER = "X-Workday-Signature"
# Workday writes dates with the tenant's UTC offset on that day.
TENANT_TIME_ZONE = ZoneInfo("America/Los_Angeles")

COLUMNS = (
    "Employee_ID",
    # A contingent worker's row has this instead of Employee_ID.
    "Contingent_Worker_ID",
    "Worker",
    "First_Name",
    "Last_Name",
    "Email_Work",
    "Termination_Date",
    "Last_Day_of_Work",
    "Termination_Category",
    "Termination_Reason",
    "Is_Rescinded",
    "Manager",
    "Supervisory_Organization",
    "Location",
    "Time_Zone",
    "Worker_Type",
    # A rehire: the worker's latest hire date (after the termination) and their status, Active again.
    "Hire_Date",
    "Worker_Status",
)
DATE_COLUMNS = ("Termination_Date", "Last_Day_of_Work", "Hire_Date")


def workday_date(day: date) -> str:
    """'2026-11-30-08:00': the date, then the tenant's UTC offset on that date."""
    offset = datetime.combine(day, time(12), TENANT_TIME_ZONE).strftime("%z")
    return f"{day.isoformat()}{offset[:3]}:{offset[3:]}"


def termination_row(
    worker: Worker,
    termination_date: date,
    category: str = "Voluntary",
    reason: str = "Resignation > Personal Reasons",
    last_day_of_work: date | None = None,
    rescinded: bool = False,
) -> dict[str, str]:
    row = {
        "Employee_ID": worker.employee_id,
        "Worker": worker.name,
        "First_Name": worker.first_name,
        "Last_Name": worker.last_name,
        "Email_Work": worker.email,
        "Termination_Date": workday_date(termination_date),
        "Last_Day_of_Work": workday_date(last_day_of_work) if last_day_of_work else "",
        "Termination_Category": category,
        "Termination_Reason": reason,
        "Is_Rescinded": "1" if rescinded else "0",
        "Manager": worker.manager,
        "Supervisory_Organization": worker.department,
        "Location": worker.location,
        "Time_Zone": worker.time_zone,
        "Worker_Type": worker.worker_type,
    }
    # RaaS JSON leaves empty fields out of the row altogether.
    return {name: value for name, value in row.items() if value}


def normalize_columns(columns: dict) -> dict:
    """Control-API input to Workday strings: plain ISO dates get the tenant offset, flags become '1'/'0'.

    A list is a multi-instance field, served as the JSON array RaaS writes (each instance normalized); an
    object is served as it is (a report whose field is not the plain value expected). Text is served as
    given: control characters, and lone surrogates (which JSON carries as "\\ud800"), included.
    """
    unknown = set(columns) - set(COLUMNS)
    if unknown:
        raise OptionError(f"unknown Workday columns {sorted(unknown)}; known: {list(COLUMNS)}")
    return {name: _normalized(name, value) for name, value in columns.items()}


def _normalized(name: str, value):
    if isinstance(value, list):
        return [_normalized(name, instance) for instance in value]
    if isinstance(value, dict):
        return value
    if value is None or value == "":
        return ""
    if name in DATE_COLUMNS and len(str(value)) == 10:
        try:
            return workday_date(date.fromisoformat(str(value)))
        except ValueError:
            return str(value)
    if name == "Is_Rescinded" and isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def add_termination(state: SandboxState, employee_id: str, columns: dict, contingent: bool = False) -> dict:
    """`contingent`: the row is a contingent worker's, with their id as Contingent_Worker_ID, no Employee_ID."""
    with state.lock:
        worker = state.workers.get(employee_id)
        if worker is None:
            missing = {"Worker", "Termination_Date"} - set(columns)
            if missing:
                raise OptionError(f"{employee_id} is not a worker; give at least {sorted(missing)}")
            row = {"Employee_ID": employee_id, "Is_Rescinded": "0"}
        else:
            row = termination_row(worker, date.today())
        if contingent:
            row["Contingent_Worker_ID"] = row.pop("Employee_ID")
        row.update(normalize_columns(columns))
        row = {name: value for name, value in row.items() if value}
        state.terminations[employee_id] = row
        return dict(row)


def generate_terminations(state: SandboxState, count: int) -> int:
    """`count` made-up terminations (employee ids G0000001…, today's date), as a large report would hold."""
    today = workday_date(date.today())
    with state.lock:
        start = len(state.terminations)
        for n in range(start, start + count):
            employee_id = f"G{n:07d}"
            state.terminations[employee_id] = {
                "Employee_ID": employee_id,
                "Worker": f"Generated Worker {n}",
                "First_Name": "Generated",
                "Last_Name": f"Worker {n}",
                "Email_Work": f"generated.{n}@acme.example",
                "Termination_Date": today,
                "Termination_Category": "Voluntary",
                "Termination_Reason": "Resignation > Personal Reasons",
                "Is_Rescinded": "0",
                "Manager": "Generated Manager",
                "Supervisory_Organization": "Generated",
                "Location": "San Francisco",
                "Time_Zone": "America/Los_Angeles",
                "Worker_Type": "Employee",
            }
    return count


def correct_termination(state: SandboxState, employee_id: str, columns: dict) -> dict[str, str]:
    with state.lock:
        row = state.terminations.get(employee_id)
        if row is None:
            raise KeyError(employee_id)
        row.update(normalize_columns(columns))
        state.terminations[employee_id] = {name: value for name, value in row.items() if value}
        return dict(state.terminations[employee_id])


def rescind_termination(state: SandboxState, employee_id: str) -> dict[str, str]:
    return correct_termination(state, employee_id, {"Is_Rescinded": "1"})


def drop_row(state: SandboxState, employee_id: str, dropped: bool = True) -> dict:
    """Leave this worker's row out of the report (or put it back): it stays in Workday, unseen."""
    with state.lock:
        if employee_id not in state.terminations:
            raise KeyError(employee_id)
        (state.dropped_rows.add if dropped else state.dropped_rows.discard)(employee_id)
        return {"employee_id": employee_id, "dropped": dropped}


def handle(state: SandboxState, request: Request, path: str) -> Response:
    parts = path.strip("/").split("/")
    if len(parts) != 6 or parts[:3] != ["ccx", "service", "customreport2"] or request.method != "GET":
        return Response("<html><body>Not Found</body></html>", 404, content_type="text/html")
    auth = request.authorization
    if auth is None or auth.type != "basic" or (auth.username, auth.password) != (USERNAME, PASSWORD):
        return Response(
            "<html><body>Unauthorized</body></html>",
            401,
            content_type="text/html",
            headers={"WWW-Authenticate": 'Basic realm="Workday"'},
        )
    tenant, owner, report = parts[3:]
    if (tenant, owner, report) != (TENANT, REPORT_OWNER, REPORT_NAME):
        return Response(
            '<?xml version="1.0" encoding="UTF-8"?><wd:Error xmlns:wd="urn:com.workday/bsvc">'
            "Invalid report name or report owner</wd:Error>",
            404,
            content_type="text/xml",
        )
    with state.lock:
        rows = [dict(row) for eid, row in state.terminations.items() if eid not in state.dropped_rows]
        for employee_id, columns in state.scheduled_corrections.items():
            state.terminations[employee_id].update(columns)
        state.scheduled_corrections.clear()
    unknown = set(request.args) - {"format", EMPLOYEE_PROMPT}
    if unknown:
        return Response(
            f"<html><body>Invalid request parameter {escape(sorted(unknown)[0])}</body></html>",
            400,
            content_type="text/html",
        )
    if EMPLOYEE_PROMPT in request.args:
        worker = request.args[EMPLOYEE_PROMPT]
        rows = [row for row in rows if worker in (row.get("Employee_ID"), row.get("Contingent_Worker_ID"))]
    format = request.args.get("format", "")
    if format == "json":
        body = json.dumps({"Report_Entry": rows}, indent=1).encode()
        size, pause = state.report_chunk_bytes, state.report_chunk_seconds
        if size:
            return Response(_slowly(state, body, size, pause), 200, content_type="application/json")
        return Response(body, 200, content_type="application/json")
    if format and format != "simplexml":
        return Response(f"<html><body>Unsupported format {escape(format)}</body></html>", 400, content_type="text/html")
    entries = "".join(
        "<wd:Report_Entry>"
        + "".join(f"<wd:{k}>{escape(str(v))}</wd:{k}>" for k, vs in row.items() for v in _instances(vs))
        + "</wd:Report_Entry>"
        for row in rows
    )
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<wd:Report_Data xmlns:wd="urn:com.workday.report/{REPORT_NAME}">{entries}</wd:Report_Data>'
    )
    return Response(body, 200, content_type="text/xml; charset=utf-8")


def _instances(value) -> list:
    """A multi-instance field is one element per instance in XML."""
    return value if isinstance(value, list) else [value]


def _slowly(state: SandboxState, body: bytes, size: int, pause: float):
    """The body `size` bytes at a time, `pause` seconds apart: a slow report (chunked, no Content-Length)."""
    for start in range(0, len(body), size):
        if start:
            state.shutting_down.wait(pause)
        yield body[start : start + size]


def notify(state: SandboxState, employee_id: str, event: str) -> None:
    """Send the outbound notification, when one is configured, without holding up the caller."""
    url, secret = state.options.push_url, state.options.push_secret

    def send_and_note() -> None:
        status = send_notification(url, secret, employee_id, event)
        with state.lock:
            state.notifications_sent.append({"employee_id": employee_id, "event": event, "status": status})

    if url:
        threading.Thread(target=send_and_note, daemon=True).start()


def send_notification(url: str, secret: str, employee_id: str, event: str) -> int:
    """POST one signed event: `t=<unix time>,v1=<hex HMAC-SHA256 of "t." + body>`; the answer's status."""
    body = json.dumps({"employee_id": employee_id, "event": event}).encode()
    timestamp = int(clock.time())
    signature = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: f"t={timestamp},v1={signature}"}
    try:
        return requests.post(url, data=body, headers=headers, timeout=30).status_code
    except requests.RequestException:
        return 0
