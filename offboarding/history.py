"""The auditors' history: every case ever, searched by any combination of filters and sorted."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import connection
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from offboarding.models import Approval, Case, Termination

# name -> (label, ORDER BY); the id last so a page never shows a row twice.
SORTS: dict[str, tuple[str, list]] = {
    "-opened": ("Newest case first", ["-created_at", "-id"]),
    "opened": ("Oldest case first", ["created_at", "id"]),
    "-left": ("Latest termination date first", [F("left_on").desc(nulls_last=True), "-id"]),
    "left": ("Earliest termination date first", [F("left_on").asc(nulls_last=True), "id"]),
    "-completed": ("Latest completed first", [F("finished_at").desc(nulls_last=True), "-id"]),
    "completed": ("Earliest completed first", [F("finished_at").asc(nulls_last=True), "id"]),
    "name": ("Name", ["sort_name", "okta_login", "id"]),
    "-time_to_revoke": ("Slowest revocation first", [F("revoke_seconds").desc(nulls_last=True), "-id"]),
}


def day_start(day: date) -> datetime:
    """The first instant of `day` in the site's time zone."""
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


# Each department after the one before, from the department index: a few lookups per department, where
# SELECT DISTINCT reads every termination (25 ms at 100,000, on every load of the history and the queue).
DEPARTMENTS_SQL = """
WITH RECURSIVE found(department) AS (
    SELECT MIN(department) FROM {table} WHERE department > ''
    UNION ALL
    SELECT (SELECT MIN(t.department) FROM {table} t WHERE t.department > found.department)
    FROM found WHERE found.department IS NOT NULL
)
SELECT department FROM found WHERE department IS NOT NULL
"""


def departments() -> list[str]:
    """Every department a termination names, in order, once each."""
    with connection.cursor() as cursor:
        cursor.execute(DEPARTMENTS_SQL.format(table=connection.ops.quote_name(Termination._meta.db_table)))
        return [department for (department,) in cursor.fetchall()]


def search(data: dict[str, Any]) -> QuerySet[Case]:
    """The cases matching the history filter's cleaned data, sorted, with what a row shows."""
    cases = Case.objects.select_related("termination", "decided_by", "decided_by_rule")
    if person := data["person"].strip():
        cases = cases.filter(person_matches(person))
    if data["jira_key"]:
        cases = cases.filter(jira_key=data["jira_key"].strip().upper())
    if data["state"]:
        cases = cases.filter(state=data["state"])
    if data["department"]:
        cases = cases.filter(termination__department=data["department"])
    if data["category"]:
        cases = cases.filter(termination__category=data["category"])
    if data["decision"] == "rule":
        cases = cases.filter(decided_by_rule__isnull=False)
    elif data["decision"] == "human":
        cases = cases.filter(decided_at__isnull=False, decided_by_rule=None)
    if approver := data["approver"].strip():
        approved = Approval.objects.filter(case=OuterRef("pk"), user__username__iexact=approver)
        cases = cases.filter(Q(decided_by__username__iexact=approver) | Exists(approved))
    if data["rule"]:
        cases = cases.filter(decided_by_rule=data["rule"])
    # The day a person left is kept on the case. With a department or category only Workday terminations
    # match, whose day is their termination date: the terminations' (category, date) index then finds fewer.
    left_on = "termination__termination_date" if data["department"] or data["category"] else "left_on"
    if data["left_from"]:
        cases = cases.filter(**{f"{left_on}__gte": data["left_from"]})
    if data["left_until"]:
        cases = cases.filter(**{f"{left_on}__lte": data["left_until"]})
    if data["completed_from"]:
        cases = cases.filter(finished_at__gte=day_start(data["completed_from"]))
    if data["completed_until"]:
        cases = cases.filter(finished_at__lt=day_start(data["completed_until"] + timedelta(days=1)))
    return cases.order_by(*SORTS[data["sort"] or "-opened"][1])


def person_matches(person: str) -> Q:
    # An employee id is the common question: answered from the index, not by reading every name.
    if Termination.objects.filter(employee_id=person).exists():
        return Q(termination__employee_id=person)
    # Part of a name, an email or a login: each found from its own trigram index (PostgreSQL), then the cases
    # by id. One OR across the case and its termination could use neither index and reads every case.
    terminations = Termination.objects.filter(Q(name__icontains=person) | Q(email__icontains=person))
    by_termination = Case.objects.filter(termination__in=terminations.values("pk")).values("pk").order_by()
    by_login = Case.objects.filter(okta_login__icontains=person).values("pk").order_by()
    return Q(pk__in=by_termination.union(by_login))
