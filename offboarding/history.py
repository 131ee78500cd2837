"""The auditors' history: every case ever, searched by any combination of filters and sorted."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import F, Q, QuerySet
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
        cases = cases.filter(department=data["department"])
    if data["category"]:
        cases = cases.filter(category=data["category"])
    if data["decision"] == "rule":
        cases = cases.filter(decided_by_rule__isnull=False)
    elif data["decision"] == "human":
        cases = cases.filter(decided_at__isnull=False, decided_by_rule=None)
    if approver := data["approver"].strip():
        cases = cases.filter(decided_or_approved_by(approver))
    if data["rule"]:
        cases = cases.filter(decided_by_rule=data["rule"])
    if data["left_from"]:
        cases = cases.filter(left_on__gte=data["left_from"])
    if data["left_until"]:
        cases = cases.filter(left_on__lte=data["left_until"])
    if data["completed_from"]:
        cases = cases.filter(finished_at__gte=day_start(data["completed_from"]))
    if data["completed_until"]:
        cases = cases.filter(finished_at__lt=day_start(data["completed_until"] + timedelta(days=1)))
    return cases.order_by(*SORTS[data["sort"] or "-opened"][1])


# Matches no case, as SQL the CSV export can hand to PostgreSQL (an empty IN () is no SQL: Django refuses it).
NO_CASE = Q(pk__isnull=True)

# Up to this many cases an approver approved are named by id: PostgreSQL reads those few, instead of joining
# them to every case the other filters match (it cannot know how few there are).
FEW = 1_000


def decided_or_approved_by(username: str) -> Q:
    # The people and the cases they approved first, by id: each case is then checked against numbers (from the
    # (rule, decider) index, which says at once that no rule's case had a decider), not joined to a name.
    people = list(get_user_model().objects.filter(username__iexact=username).values_list("pk", flat=True))
    if not people:
        return NO_CASE
    approved = Approval.objects.filter(user__in=people).values_list("case", flat=True)
    few = list(approved[: FEW + 1])
    decided = Q(decided_by__in=people)
    if not few:
        return decided
    return decided | Q(pk__in=few if len(few) <= FEW else approved)


def person_matches(person: str) -> Q:
    # An employee id is the common question: answered from the index, not by reading every name.
    if Termination.objects.filter(employee_id=person).exists():
        return Q(termination__employee_id=person)
    # Part of a name, an email or a login: from the trigram index of what the case keeps of them (PostgreSQL).
    return Q(search_text__icontains=person)
