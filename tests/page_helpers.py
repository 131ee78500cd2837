"""Building cases for the page tests: straight in the database when Okta is not involved."""

from datetime import date, timedelta

from django.utils import timezone

from offboarding.models import Case, Termination


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
    termination = Termination.objects.create(
        employee_id=employee_id,
        name=name,
        first_name=name.split()[0],
        last_name=name.split()[-1],
        email=f"{employee_id.lower()}@acme.example",
        termination_date=date.today() + timedelta(days=days_ahead),
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
