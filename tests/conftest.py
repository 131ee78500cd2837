import itertools
from datetime import timedelta

import pytest

from offboarding import decisions, sync
from offboarding.models import Case
from tests import factories

# The sandbox (simulated Workday, Okta and Jira over real HTTP) and its fixtures, the clients pointed at
# it, the browser, and the fault matrix's report. Every shared fixture is registered here, and only here.
pytest_plugins = [
    "tests.sandbox_fixtures",
    "tests.client_fixtures",
    "tests.browser_fixtures",
    "tests.fault_matrix_report",
]


_test_numbers = itertools.count()


@pytest.fixture(autouse=True)
def _empty_cache(settings):
    """Each test starts with an empty cache (the login throttle's counts and the live reads live there): keys of
    its own, under this run's prefix (tests/testenv.py). Not cache.clear(): on Redis that is FLUSHDB, which would
    empty the cache of every xdist worker and run sharing the database, mid-test; and a prefix needs no database,
    whatever the backend."""
    default = settings.CACHES["default"]
    settings.CACHES = {"default": {**default, "KEY_PREFIX": f"{default['KEY_PREFIX']}-{next(_test_numbers)}"}}


@pytest.fixture
def make_user(db):
    """tests/factories.py's `make_user(username, *roles)`, with the database enabled."""
    return factories.make_user


@pytest.fixture
def approver(make_user):
    return make_user("alice", "approvers")


@pytest.fixture
def auditor(make_user):
    return make_user("bob", "auditors")


@pytest.fixture
def admin_user(make_user):
    return make_user("carol", "admins")


@pytest.fixture
def no_role_user(make_user):
    return make_user("dave")


@pytest.fixture
def org(sandbox, db, settings):
    """The sandbox with no terminations of its own: each test adds the leavers it needs.

    (The `sandbox` fixture's one reset leaves them out for a test of `org`.) The clients keep their
    real retry behaviour, with waits short enough for tests.
    """
    settings.CLIENT_BACKOFF_INITIAL = 0.01
    settings.CLIENT_BACKOFF_MAX = 0.05
    settings.CLIENT_MAX_ATTEMPTS = 3
    settings.CLIENT_READ_TIMEOUT = 5.0
    settings.CLIENT_RATE_LIMIT_MAX_WAIT = 5.0
    return sandbox


@pytest.fixture
def leaver(org):
    """Build a leaver in the sandbox: an Okta user in some groups, and their Workday termination row."""

    def make(
        employee_id: str = "E100",
        first: str = "Zoë",
        last: str = "Müller",
        groups: tuple[str, ...] = ("VPN Users", "GitHub Engineers"),
        app_groups: tuple[str, ...] = ("AD: Engineering",),
        in_okta: bool = True,
        days_ahead: int = 7,
        **columns,
    ) -> dict:
        # Dated from today in the worker's zone: "past" (days_ahead < 0) has ended there at any hour.
        day = (
            factories.today_in(columns.get("Time_Zone", "America/New_York")) + timedelta(days=days_ahead)
        ).isoformat()
        wanted = [{"name": f"{name} {employee_id}"} for name in groups]
        wanted += [{"name": f"{name} {employee_id}", "type": "APP_GROUP"} for name in app_groups]
        group_ids = [group["id"] for group in org.add_okta_groups(wanted)] if wanted else []
        user = org.add_okta_user(employee_id, first, last, groups=group_ids) if in_okta else None
        row = {
            "Worker": f"{first} {last}",
            "First_Name": first,
            "Last_Name": last,
            "Email_Work": f"{first}.{last}@acme.example".lower(),
            "Termination_Date": day,
            "Last_Day_of_Work": day,
            "Termination_Category": "Voluntary",
            "Termination_Reason": "Resignation",
            "Supervisory_Organization": "Engineering",
            "Location": "New York",
            "Time_Zone": "America/New_York",
            "Worker_Type": "Employee",
            "Manager": "Sofia Quinn",
            **columns,
        }
        org.add_termination(employee_id, **row)
        return {"employee_id": employee_id, "user": user, "user_id": user["id"] if user else None, "groups": group_ids}

    return make


@pytest.fixture
def second_approver(make_user):
    """A second, different approver (protected and emergency cases need two)."""
    return make_user("erin", "approvers")


@pytest.fixture
def synced_case(leaver):
    """A leaver synced from Workday, undecided: `synced_case(**leaver's arguments)`."""

    def make(**kwargs) -> Case:
        person = leaver(**kwargs)
        sync.sync_workday()
        return Case.objects.get(termination__employee_id=person["employee_id"])

    return make


@pytest.fixture
def approved_case(leaver, approver):
    """A leaver past their effective moment, synced and approved: due now."""

    def make(**kwargs) -> Case:
        person = leaver(days_ahead=-1, **kwargs)
        sync.sync_workday()
        case = Case.objects.get(termination__employee_id=person["employee_id"])
        return decisions.approve(case.pk, approver, "HR confirmed")

    return make
