"""Seeding: a deterministic company from a seed number, or the hand-made Acme demo on top of it.

Everything random comes from `state.rng` (random.Random(seed)), so the same seed gives the same
people, ids and memberships; termination dates are relative to today.
"""

from __future__ import annotations

from datetime import date, timedelta

from sandbox.faults import Fault
from sandbox.state import ROLE_LABELS, GroupRule, OktaUser, Options, SandboxState, Worker
from sandbox.workday import termination_row, workday_date

DOMAIN = "acme.example"
# The demo's failing deactivation answers 503 this many times: one call's tries by the product (CLIENT_MAX_ATTEMPTS).
DEMO_FAILURES = 4

FIRST_NAMES = [
    "Aisha",
    "Alejandro",
    "Amelia",
    "Arjun",
    "Beatriz",
    "Ben",
    "Chen",
    "Chloe",
    "Darius",
    "Diego",
    "Elena",
    "Emeka",
    "Fatima",
    "Felix",
    "Grace",
    "Hana",
    "Hugo",
    "Imani",
    "Isaac",
    "Jae",
    "Jonas",
    "Keiko",
    "Lars",
    "Layla",
    "Leo",
    "Lucia",
    "Malik",
    "Maya",
    "Mateo",
    "Nadia",
    "Nikhil",
    "Noah",
    "Olga",
    "Omar",
    "Priya",
    "Quinn",
    "Rafael",
    "Rosa",
    "Sami",
    "Sofia",
    "Tariq",
    "Thea",
    "Tomas",
    "Uma",
    "Victor",
    "Wen",
    "Yara",
    "Yusuf",
    "Zoe",
]
LAST_NAMES = [
    "Abbott",
    "Adeyemi",
    "Alvarez",
    "Bauer",
    "Bergstrom",
    "Chowdhury",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Gupta",
    "Haddad",
    "Hoffmann",
    "Ibrahim",
    "Ivanova",
    "Jensen",
    "Kaur",
    "Kim",
    "Kowalski",
    "Larsen",
    "Lopez",
    "Mbeki",
    "Moreau",
    "Nakamura",
    "Nguyen",
    "Novak",
    "Okafor",
    "Olsen",
    "Patel",
    "Petrov",
    "Quinn",
    "Rahman",
    "Rossi",
    "Sato",
    "Schmidt",
    "Silva",
    "Singh",
    "Sorensen",
    "Tanaka",
    "Torres",
    "Ueda",
    "Varga",
    "Wagner",
    "Weber",
    "Yilmaz",
    "Zhang",
]

# department -> (locations with their time zones, department-specific Okta groups, titles)
DEPARTMENTS = {
    "Engineering": (
        [("San Francisco", "America/Los_Angeles"), ("Berlin", "Europe/Berlin"), ("Remote - US", "America/Chicago")],
        ["eng-github-admins", "eng-github-users", "eng-aws-prod-readonly", "eng-pagerduty-oncall", "1Password - Eng"],
        ["Software Engineer", "Senior Software Engineer", "Staff Engineer", "Engineering Manager", "SRE"],
    ),
    "Sales": (
        [("New York", "America/New_York"), ("London", "Europe/London"), ("Chicago", "America/Chicago")],
        ["Salesforce - Sales Cloud", "Gong Users", "sales-emea", "sales-na"],
        ["Account Executive", "Sales Development Rep", "Sales Engineer", "Regional Sales Director"],
    ),
    "Finance": (
        [("New York", "America/New_York"), ("Dublin", "Europe/Dublin")],
        ["Finance - NetSuite Users", "Finance - Expensify Approvers", "Finance - Bill.com"],
        ["Accountant", "Financial Analyst", "Controller", "Payroll Specialist"],
    ),
    "People": (
        [("San Francisco", "America/Los_Angeles"), ("Toronto", "America/Toronto")],
        ["Workday HR Partners", "Greenhouse Recruiters", "Lattice Admins"],
        ["HR Business Partner", "Recruiter", "People Operations Lead"],
    ),
    "Customer Support": (
        [("Austin", "America/Chicago"), ("Manila", "Asia/Manila"), ("Dublin", "Europe/Dublin")],
        ["Zendesk Agents", "support-tier2", "Zendesk Admins"],
        ["Support Engineer", "Support Specialist", "Support Team Lead"],
    ),
    "IT": (
        [("San Francisco", "America/Los_Angeles"), ("Austin", "America/Chicago")],
        ["IT Helpdesk", "Jamf Admins", "Okta Super Admins"],
        ["IT Support Engineer", "Systems Administrator", "IT Manager"],
    ),
}
COMPANY_GROUPS = ["VPN Users", "Slack - All Hands", "Zoom Users", "Google Workspace Users", "Jira Software Users"]
# Imported from Active Directory: Okta cannot change their memberships.
AD_GROUPS = ["AD: Domain Users", "AD: Sales (imported)", "AD: Finance Share RW", "AD: Engineering VPN"]

TERMINATION_KINDS = ("future", "immediate", "past", "rescinded", "corrected", "contractor")
VOLUNTARY_REASONS = ["Resignation > Personal Reasons", "Resignation > Better Opportunity", "Retirement"]
INVOLUNTARY_REASONS = [
    "Terminate Employee > Involuntary > Performance",
    "Terminate Employee > Involuntary > Misconduct",
]


def build_org(state: SandboxState, options: Options) -> None:
    rng = state.rng
    state.add_group("Everyone", "BUILT_IN", "All users in your organization")
    by_name = {}
    for department, (_, groups, _) in DEPARTMENTS.items():
        by_name[department] = state.add_group(department, description=f"Everyone in {department}")
        for name in groups:
            by_name[name] = state.add_group(name)
    for name in COMPANY_GROUPS:
        by_name[name] = state.add_group(name)
    for name in AD_GROUPS:
        by_name[name] = state.add_group(name, "APP_GROUP", "Imported from acme.example Active Directory")

    used_names: set[str] = set()
    for index in range(options.workers):
        department = rng.choice(list(DEPARTMENTS))
        locations, department_groups, titles = DEPARTMENTS[department]
        location, time_zone = rng.choice(locations)
        while True:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            if (first, last) not in used_names:
                used_names.add((first, last))
                break
            # A crowded name space: tell people apart the way IT does.
            last = f"{last}{len(used_names)}"
            if (first, last) not in used_names:
                used_names.add((first, last))
                break
        contractor = index % 9 == 8
        worker = Worker(
            employee_id=str(21000 + index * 3 + rng.randint(0, 2)),
            first_name=first,
            last_name=last,
            email=f"{first.lower()}.{last.lower()}@{DOMAIN}",
            department=department,
            manager="",
            location=location,
            time_zone=time_zone,
            worker_type="Contingent Worker" if contractor else "Employee",
        )
        state.workers[worker.employee_id] = worker
        pool = [by_name[department]] + [by_name[name] for name in department_groups + COMPANY_GROUPS]
        pool += [by_name["AD: Domain Users"]]
        wanted = max(0, options.groups_per_person - 1)  # Everyone is always there
        while len(pool) < wanted:
            pool.append(state.add_group(f"Project Team {len(pool):03d}"))
        groups = [pool[0], *rng.sample(pool[1:], min(wanted, len(pool)) - 1)] if wanted else []
        add_okta_account(state, worker, rng.choice(titles), [g.id for g in groups])

    people = list(state.workers.values())
    managers = [w for w in people if w.worker_type == "Employee"] or people
    for worker in people:
        manager = rng.choice(managers)
        worker.manager = manager.name if manager is not worker else "Jordan Avery"

    today = date.today()
    for index, worker in enumerate(rng.sample(people, min(options.pending_terminations, len(people)))):
        kind = TERMINATION_KINDS[index % len(TERMINATION_KINDS)]
        state.terminations[worker.employee_id] = seeded_termination(state, worker, kind, today)

    if options.demo:
        add_demo_people(state, by_name, today)
        add_demo_access(state, by_name)


def add_okta_account(state: SandboxState, worker: Worker, title: str, group_ids: list[str], **profile) -> OktaUser:
    login = profile.pop("login", worker.email)
    status = profile.pop("status", "ACTIVE")
    return state.add_user(
        {
            "login": login,
            "email": profile.pop("email", worker.email),
            "firstName": profile.pop("firstName", worker.first_name),
            "lastName": profile.pop("lastName", worker.last_name),
            "displayName": f"{worker.first_name} {worker.last_name}",
            "employeeNumber": worker.employee_id,
            "department": worker.department,
            "title": title,
            "userType": "Contractor" if worker.worker_type == "Contingent Worker" else "Employee",
            "organization": "Acme Corp",
            "city": worker.location,
            "timezone": worker.time_zone,
            **profile,
        },
        status=status,
        group_ids=group_ids,
    )


def seeded_termination(state: SandboxState, worker: Worker, kind: str, today: date) -> dict[str, str]:
    rng = state.rng
    if kind == "future":
        day = today + timedelta(days=rng.randint(5, 30))
        return termination_row(worker, day, "Voluntary", rng.choice(VOLUNTARY_REASONS), day)
    if kind == "immediate":
        return termination_row(worker, today, "Involuntary", rng.choice(INVOLUNTARY_REASONS), today)
    if kind == "past":
        day = today - timedelta(days=rng.randint(1, 3))
        return termination_row(worker, day, "Voluntary", rng.choice(VOLUNTARY_REASONS), day - timedelta(days=1))
    if kind == "rescinded":
        day = today + timedelta(days=rng.randint(3, 20))
        return termination_row(worker, day, "Voluntary", rng.choice(VOLUNTARY_REASONS), day, rescinded=True)
    if kind == "corrected":
        # Entered for next month; HR corrects it to an earlier date once the report has been read.
        day = today + timedelta(days=rng.randint(1, 4))
        state.scheduled_corrections[worker.employee_id] = {
            "Termination_Date": workday_date(day),
            "Last_Day_of_Work": workday_date(day),
        }
        later = today + timedelta(days=rng.randint(28, 35))
        return termination_row(worker, later, "Voluntary", "Resignation > Relocation", later)
    worker.worker_type = "Contingent Worker"
    day = today + timedelta(days=rng.randint(0, 10))
    return termination_row(worker, day, "Voluntary", "Contract Ended > End of Assignment")


def add_demo_people(state: SandboxState, groups: dict, today: date) -> None:
    """The named cases a demo walks through: each a situation the product must handle."""

    def person(employee_id, first, last, department, location, time_zone, worker_type="Employee") -> Worker:
        worker = Worker(
            employee_id,
            first,
            last,
            f"{first.lower()}.{last.lower()}@{DOMAIN}",
            department,
            "Jordan Avery",
            location,
            time_zone,
            worker_type,
        )
        state.workers[employee_id] = worker
        return worker

    def ids(*names: str) -> list[str]:
        return [groups[name].id for name in names]

    # The break-glass admin: an Okta-only account that must never be offboarded by a rule.
    state.add_user(
        {
            "login": f"breakglass-admin@{DOMAIN}",
            "email": f"it-security@{DOMAIN}",
            "firstName": "Break-Glass",
            "lastName": "Admin",
            "displayName": "Break-Glass Admin",
            "employeeNumber": "90001",
            "department": "IT",
            "title": "Emergency access account",
            "userType": "Service",
        },
        group_ids=ids("IT", "Okta Super Admins"),
    )
    # An Okta super admin leaving next week: protected, needs two approvers.
    admin = person("20001", "Morgan", "Blake", "IT", "San Francisco", "America/Los_Angeles")
    add_okta_account(state, admin, "IT Manager", ids("IT", "Okta Super Admins", "Jamf Admins", "VPN Users"))
    state.terminations[admin.employee_id] = termination_row(
        admin, today + timedelta(days=7), "Voluntary", "Resignation > Better Opportunity", today + timedelta(days=7)
    )
    # Walked out today: involuntary and immediate.
    fired = person("20002", "Victor", "Hale", "Sales", "New York", "America/New_York")
    add_okta_account(
        state,
        fired,
        "Account Executive",
        ids("Sales", "Salesforce - Sales Cloud", "Gong Users", "VPN Users", "AD: Sales (imported)", "AD: Domain Users"),
    )
    state.terminations[fired.employee_id] = termination_row(
        fired, today, "Involuntary", "Terminate Employee > Involuntary > Misconduct", today
    )
    # Resigned, then changed their mind: rescinded in Workday once the report has been read (a rescind first
    # seen rescinded opens nothing).
    stayed = person("20003", "Lena", "Fischer", "Finance", "Dublin", "Europe/Dublin")
    add_okta_account(state, stayed, "Financial Analyst", ids("Finance", "Finance - NetSuite Users", "VPN Users"))
    state.terminations[stayed.employee_id] = termination_row(
        stayed,
        today + timedelta(days=12),
        "Voluntary",
        "Resignation > Personal Reasons",
        today + timedelta(days=12),
    )
    state.scheduled_corrections[stayed.employee_id] = {"Is_Rescinded": "1"}
    # Date corrected by HR: first next month, now the day after tomorrow.
    moved = person("20004", "Tomas", "Novak", "Engineering", "Berlin", "Europe/Berlin")
    add_okta_account(
        state,
        moved,
        "Senior Software Engineer",
        ids("Engineering", "eng-github-admins", "eng-aws-prod-readonly", "1Password - Eng", "AD: Engineering VPN"),
    )
    state.terminations[moved.employee_id] = termination_row(
        moved, today + timedelta(days=30), "Voluntary", "Resignation > Relocation", today + timedelta(days=30)
    )
    state.scheduled_corrections[moved.employee_id] = {
        "Termination_Date": workday_date(today + timedelta(days=2)),
        "Last_Day_of_Work": workday_date(today + timedelta(days=2)),
    }
    # A contractor whose assignment ends.
    contractor = person("20005", "Sam", "Okafor", "Customer Support", "Manila", "Asia/Manila", "Contingent Worker")
    add_okta_account(
        state,
        contractor,
        "Support Specialist (contract)",
        ids("Customer Support", "Zendesk Agents"),
        login=f"ext-sam.okafor@{DOMAIN}",
    )
    state.terminations[contractor.employee_id] = termination_row(
        contractor, today + timedelta(days=3), "Voluntary", "Contract Ended > End of Assignment"
    )
    # Terminated in Workday, never had an Okta account.
    person("20006", "Dana", "Whitfield", "People", "Toronto", "America/Toronto")
    state.terminations["20006"] = termination_row(
        state.workers["20006"], today + timedelta(days=1), "Voluntary", "Retirement", today + timedelta(days=1)
    )
    # Same employee number, names that disagree: a human must look.
    mismatch = person("20007", "Jonathan", "Smyth", "Engineering", "Remote - US", "America/Chicago")
    add_okta_account(
        state,
        mismatch,
        "Staff Engineer",
        ids("Engineering", "eng-github-users", "VPN Users"),
        firstName="John",
        lastName="Smith",
        login=f"john.smith@{DOMAIN}",
        email=f"john.smith@{DOMAIN}",
    )
    state.terminations[mismatch.employee_id] = termination_row(
        mismatch, today + timedelta(days=5), "Voluntary", "Resignation > Personal Reasons", today + timedelta(days=5)
    )
    # Already gone in Okta (deactivated by hand last week), terminated in Workday today.
    gone = person("20008", "Rosa", "Costa", "Marketing", "London", "Europe/London")
    add_okta_account(state, gone, "Content Strategist", ids("VPN Users"), status="DEPROVISIONED")
    state.terminations[gone.employee_id] = termination_row(
        gone, today - timedelta(days=1), "Voluntary", "Resignation > Personal Reasons", today - timedelta(days=2)
    )
    # Two Okta accounts under one employee number (a day-to-day one and an admin one): a person must choose.
    twice = person("20009", "Priya", "Raman", "IT", "Bangalore", "Asia/Kolkata")
    add_okta_account(state, twice, "Systems Engineer", ids("IT", "VPN Users", "1Password - Eng"))
    add_okta_account(
        state,
        twice,
        "Systems Engineer (admin account)",
        ids("IT", "Jamf Admins"),
        login=f"priya.raman-admin@{DOMAIN}",
        email=f"priya.raman-admin@{DOMAIN}",
    )
    state.terminations[twice.employee_id] = termination_row(
        twice, today + timedelta(days=4), "Voluntary", "Resignation > Better Opportunity", today + timedelta(days=4)
    )
    # Left yesterday; Okta answers 503 to their deactivation as often as the product tries one call
    # (CLIENT_MAX_ATTEMPTS, 4): once approved, the revocation fails half-done, and a retry goes through.
    flaky = person("20010", "Omar", "Haddad", "Sales", "London", "Europe/London")
    add_okta_account(state, flaky, "Sales Engineer", ids("Sales", "VPN Users", "Gong Users"))
    state.terminations[flaky.employee_id] = termination_row(
        flaky, today - timedelta(days=1), "Voluntary", "Resignation > Relocation", today - timedelta(days=1)
    )
    flaky_id = state.find_user(f"omar.haddad@{DOMAIN}").id
    state.faults.append(
        Fault("okta", "error", f"POST /api/v1/users/{flaky_id}/lifecycle/deactivate", status=503, count=DEMO_FAILURES)
    )


def add_demo_access(state: SandboxState, groups: dict) -> None:
    """What the demo's people reach beyond groups: apps of each kind, admin roles, a directory-mastered user,
    a group owner, a rule-managed group, and the service account the product's API token belongs to."""
    by_login = {u.profile["login"]: u for u in state.users.values()}

    def user(login: str) -> OktaUser:
        return by_login[f"{login}@{DOMAIN}"]

    def role(person: OktaUser, kind: str) -> None:
        person.roles.append(
            {
                "id": state.okta_id("ra1"),
                "type": kind,
                "label": ROLE_LABELS[kind],
                "status": "ACTIVE",
                "assignmentType": "USER",
                "created": "2024-01-01T00:00:00.000Z",
                "lastUpdated": "2024-01-01T00:00:00.000Z",
            }
        )

    role(user("breakglass-admin"), "SUPER_ADMIN")
    role(user("morgan.blake"), "SUPER_ADMIN")
    # Victor Hale is mastered by Active Directory: his directory account outlives the Okta deactivation.
    user("victor.hale").provider = {"type": "ACTIVE_DIRECTORY", "name": "acme.local"}
    # The API token the product uses belongs to a service account (GET /api/v1/users/me).
    robot = state.add_user(
        {
            "login": f"okta-automation@{DOMAIN}",
            "email": f"it-security@{DOMAIN}",
            "firstName": "Okta",
            "lastName": "Automation",
            "displayName": "Okta Automation",
            "userType": "Service",
        },
        group_ids=[groups["IT"].id],
    )
    role(robot, "ORG_ADMIN")
    state.token_owner_id = robot.id
    state.add_app(
        "Salesforce", provisioning=True, deactivate_users=True, group_ids=[groups["Salesforce - Sales Cloud"].id]
    )
    state.add_app("Gong", sign_on_mode="SAML_2_0", group_ids=[groups["Gong Users"].id])
    state.add_app(
        "GitHub Enterprise",
        sign_on_mode="SAML_2_0",
        group_ids=[groups["eng-github-users"].id, groups["eng-github-admins"].id],
    )
    state.add_app(
        "Zoom",
        sign_on_mode="OPENID_CONNECT",
        universal_logout=True,
        user_ids=[user("victor.hale").id, user("tomas.novak").id],
    )
    state.add_app("Legacy Wiki", sign_on_mode="AUTO_LOGIN", status="INACTIVE", user_ids=[user("tomas.novak").id])
    state.group_owners[groups["eng-github-admins"].id] = [user("tomas.novak").id]
    engineers = [u.id for u in state.users.values() if u.profile.get("department") == "Engineering"]
    rule = GroupRule(state.okta_id("0pr"), "Engineering by department", [groups["Engineering"].id], matches=engineers)
    state.group_rules[rule.id] = rule
    state.apply_rule(rule)
