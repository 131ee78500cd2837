"""Builders of test data, straight from the models (no sandbox, no HTTP): users, cases, audit events,
and Workday's signed notifications.

- `make_user(username, *roles)`: a user in those role groups, password `PASSWORD` (the `make_user`
  fixture of tests/conftest.py is this builder with the database enabled).
- `make_case(...)`: an open case as the sync leaves it, awaiting a decision, with a plan of groups
  (for the pages).
- `make_past_case(...)`: a case as the engine leaves it, revoked by default, with its effective
  moment and time to revoke (for the history, exports, evidence and SLA).
- `record_three(user)`: a case with three chained audit events; `run_sql` changes rows behind the
  ORM's back (what tampering looks like).
- `workday_event(...)` and `signed(body)`: a Workday notification and its signature headers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, date, datetime, timedelta
from itertools import count
from zoneinfo import ZoneInfo

from django.contrib.auth.models import Group, User
from django.db import connection
from django.utils import timezone

from offboarding.models import Actor, AuditEvent, AutoApproveRule, Case, Termination

PASSWORD = "pw-for-tests-only"  # every made user's
PUSH_SECRET = "test-push-secret"

_numbers = count(1)


def make_user(username: str, *roles: str) -> User:
    """A user holding the given roles (none for a signed-in user without a role)."""
    user = User.objects.create_user(username, f"{username}@example.com", PASSWORD)
    # get_or_create: a transactional test's flush empties the groups the data migration made.
    user.groups.set([Group.objects.get_or_create(name=role)[0] for role in roles])
    return user


def today_in(time_zone: str, now: datetime | None = None) -> date:
    """Today where the worker is: a date `days_ahead` from it has ended there for any `days_ahead` < 0, and is
    still to come for any > 0, whatever the hour. (`date.today()` is this machine's day, UTC: from 00:00 to
    05:00 UTC yesterday's has not ended in New York yet.)"""
    return (now or timezone.now()).astimezone(ZoneInfo(time_zone)).date()


def make_case(
    name: str = "Ann Example",
    employee_id: str = "E1",
    state: str = Case.State.PENDING_REVIEW,
    department: str = "Engineering",
    category: str = "Voluntary",
    days_ahead: int = 7,
    groups: int = 3,
    **fields,
) -> Case:
    """An open case, effective `days_ahead` from now, whose plan removes `groups` groups."""
    termination = Termination.objects.create(
        employee_id=employee_id,
        name=name,
        first_name=name.split()[0],
        last_name=name.split()[-1],
        email=f"{employee_id.lower()}@acme.example",
        termination_date=today_in("America/New_York") + timedelta(days=days_ahead),
        category=category,
        department=department,
        manager="Sofia Quinn",
        location="New York",
        time_zone="America/New_York",
        worker_type="Employee",
    )
    plan_groups = [
        {"id": f"g{employee_id}-{n}", "name": f"Group {n}", "type": "OKTA_GROUP", "removable": True, "reason": ""}
        for n in range(groups)
    ]
    fields.setdefault("identity", Case.Identity.EXACT)
    fields.setdefault("okta_login", f"{employee_id.lower()}@acme.example")
    return Case.objects.create(
        termination=termination,
        state=state,
        effective_at=timezone.now() + timedelta(days=days_ahead),
        plan={"groups": plan_groups, "remove": [{"id": g["id"], "name": g["name"]} for g in plan_groups], "keep": []},
        **fields,
    )


def make_past_case(
    employee_id: str | None = None,
    name: str = "Ann Example",
    *,
    email: str = "",
    department: str = "Engineering",
    category: str = "Voluntary",
    left: date = date(2026, 7, 15),
    state: str = Case.State.COMPLETED,
    decided_by=None,
    rule: AutoApproveRule | None = None,
    effective_at: datetime | None = None,
    took: timedelta | None = timedelta(minutes=30),
    finished_at: datetime | None = None,
    jira_key: str = "",
    okta_login: str = "",
    raw: dict | None = None,
    emergency: bool = False,
) -> Case:
    """A case as the engine leaves it; `took` is the time from the effective moment to revocation."""
    n = next(_numbers)
    employee_id = employee_id or f"E{n:05d}"
    effective_at = effective_at or datetime.combine(left + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    revoked_at = effective_at + took if took is not None else None
    termination = None
    if not emergency:
        termination = Termination.objects.create(
            employee_id=employee_id,
            name=name,
            email=email or f"{employee_id.lower()}@acme.example",
            termination_date=left,
            category=category,
            department=department,
            raw=raw or {"Employee_ID": employee_id, "Worker": name},
        )
    return Case.objects.create(
        kind=Case.Kind.EMERGENCY if emergency else Case.Kind.WORKDAY,
        termination=termination,
        state=state,
        okta_user_id=f"00u{n:05d}",
        okta_login=okta_login or f"{employee_id.lower()}@acme.example",
        decided_by=decided_by,
        decided_by_rule=rule,
        decided_at=effective_at - timedelta(days=1) if decided_by or rule else None,
        effective_at=effective_at,
        revoked_at=revoked_at,
        finished_at=finished_at or revoked_at,
        jira_key=jira_key,
    )


def record_three(user) -> Case:
    """A case opened by the sync, approved by `user` and worked on by the revocation: three events."""
    case = Case.objects.create()
    AuditEvent.record("case.opened", actor=Actor.system("sync_workday"), case=case, after={"state": "pending_review"})
    AuditEvent.record(
        "case.approved", actor=user, case=case, before={"state": "pending_review"}, after={"state": "approved"}
    )
    AuditEvent.record("okta.group_removed", actor=Actor.system("revocation"), case=case, after={"group": "VPN Users"})
    return case


def run_sql(sql: str, *params) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def workday_event(employee_id: str = "E100", kind: str = "termination.entered") -> bytes:
    """The body of Workday's notification about one worker."""
    return json.dumps({"employee_id": employee_id, "event": kind}).encode()


def signed(body: bytes, secret: str = PUSH_SECRET, at: float | None = None) -> dict:
    """The signature header Workday sends with `body` (as the test client's keyword arguments)."""
    timestamp = int(at if at is not None else time.time())
    signature = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"HTTP_X_WORKDAY_SIGNATURE": f"t={timestamp},v1={signature}"}
