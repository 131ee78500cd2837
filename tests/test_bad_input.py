"""Bad input: any Workday row never crashes the sync, and hostile text is carried safely to Jira and the evidence."""

import json
import string
from datetime import date, timedelta

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from offboarding import decisions, revocation, sync
from offboarding.evidence import evidence_of
from offboarding.models import AuditEvent, Case, ReportRowError, Termination
from sandbox.workday import COLUMNS  # the report's columns, as the sandbox (and Workday) name them


def good_row(employee_id: str = "GOOD-1") -> dict:
    day = (date.today() + timedelta(days=7)).isoformat()
    return {
        "Employee_ID": employee_id,
        "Worker": "Grace Hopper",
        "First_Name": "Grace",
        "Last_Name": "Hopper",
        "Email_Work": "grace.hopper@acme.example",
        "Termination_Date": day,
        "Last_Day_of_Work": day,
        "Termination_Category": "Voluntary",
        "Termination_Reason": "Retirement",
        "Time_Zone": "America/New_York",
        "Is_Rescinded": "0",
    }


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.text(alphabet=string.printable + "\x00\u202e\u200fשלום👩🏽‍💻<>\"'&", min_size=200, max_size=400),
    st.dates().map(date.isoformat),
    st.dates().map(lambda d: d.isoformat() + "-08:00"),
    st.sampled_from(["UTC", "Asia/Tokyo", "Not/AZone", "", "0", "1", "true", "maybe", "2026-02-30"]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner))
wild_rows = st.one_of(
    st.fixed_dictionaries({}, optional={c: values for c in COLUMNS}).map(lambda r: {**good_row("W"), **r}),
    st.dictionaries(st.sampled_from(COLUMNS) | st.text(max_size=8), values, max_size=6),
    values,  # not even an object
)


def report(*rows) -> str:
    return json.dumps({"Report_Entry": list(rows)})


class TestAnyWorkdayRow:
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(wild=wild_rows)
    def test_it_never_crashes_the_sync_and_the_good_row_still_goes_through(self, org, wild):
        org.clear_faults()
        org.fault("workday", "malformed", body=report(good_row(), wild))
        result = sync.sync_workday()
        assert Termination.objects.filter(employee_id="GOOD-1").exists()
        if result.row_errors:
            assert result.row_errors == 1
            error = ReportRowError.objects.filter(resolved_at=None).get()
            assert error.reason.strip()
        else:
            employee_id = str(wild["Employee_ID"]).strip()
            assert Termination.objects.filter(employee_id=employee_id).exists()
        assert AuditEvent.verify_chain()[0]


HOSTILE = {
    "html": '<script>alert("x")</script><img src=x onerror=alert(1)>',
    "quotes": 'O\'Brien "the" `quoted` \\ back',
    "unicode": "Zoë Ångström 👩🏽‍💻 ﬁ",
    "rtl": "\u202eשלום עולם\u200f مرحبا",
    "markup": "[link](https://evil.example) *bold* {code} ||cell|| h1. x",
    "long": "L" * 3000,
}


@pytest.fixture
def hostile_case(org, approver):
    """A case whose name, reason and group names carry every kind of hostile text."""
    groups = [org.add_okta_group(f"{kind}: {text}")["id"] for kind, text in HOSTILE.items()]
    first, last = HOSTILE["html"][:60], HOSTILE["rtl"]
    user = org.add_okta_user("E666", first, last, groups=groups)
    org.add_termination(
        "E666",
        Worker=f"{first} {last}",
        First_Name=first,
        Last_Name=last,
        Termination_Date=(date.today() - timedelta(days=1)).isoformat(),
        Termination_Category="Voluntary",
        Termination_Reason=" | ".join(HOSTILE.values())[:300],
        Manager=HOSTILE["quotes"],
        Supervisory_Organization=HOSTILE["unicode"],
        Time_Zone="UTC",
    )
    sync.sync_workday()
    case = Case.objects.get()
    decisions.approve(case.pk, approver, HOSTILE["markup"])
    assert revocation.run_case(case.pk) == Case.State.COMPLETED
    case.refresh_from_db()
    return case, user


def text_nodes(node) -> list[dict]:
    found = []
    if isinstance(node, dict):
        if node.get("type") == "text":
            found.append(node)
        for child in node.get("content") or []:
            found += text_nodes(child)
    return found


class TestHostileTextInJiraAndTheEvidence:
    def test_the_ticket_carries_it_as_plain_text_nodes(self, org, hostile_case):
        case, _ = hostile_case
        (issue,) = org.jira_issues()
        assert case.ticket == Case.Ticket.FILED
        description = issue["fields"]["description"]
        nodes = text_nodes(description)
        # Only our own marks and our own one link (the case page); vendor text never becomes markup.
        links = [m["attrs"]["href"] for n in nodes for m in n.get("marks", []) if m["type"] == "link"]
        assert links == [f"http://127.0.0.1:8000/cases/{case.pk}/"] or all("/cases/" in h for h in links)
        assert all(isinstance(n["text"], str) and n["text"] for n in nodes)
        text = "\n".join(n["text"] for n in nodes)
        for kind, value in HOSTILE.items():
            # Each group name verbatim in one text node (one longer than a step's column is cut there,
            # and kept whole in the evidence).
            assert f"{kind}: {value}"[:300] in text, kind
        assert HOSTILE["html"][:60] in text

    def test_the_summary_is_one_line_jira_accepts(self, org, hostile_case):
        (issue,) = org.jira_issues()
        summary = issue["fields"]["summary"]
        assert "\n" not in summary and len(summary) <= 255

    def test_a_name_with_a_line_break_still_gets_its_ticket(self, org, approver):
        user = org.add_okta_user("E667", "Line\nBreak", "Name", groups=[])
        case = decisions.start_emergency(user["id"], approver, "a name Jira cannot take in one line")
        from django.contrib.auth.models import Group, User

        second = User.objects.create_user("second")
        second.groups.add(Group.objects.get_or_create(name="approvers")[0])
        decisions.approve(case.pk, second)
        revocation.run_case(case.pk)
        case.refresh_from_db()
        assert case.ticket == Case.Ticket.FILED, case.steps.filter(kind="file_ticket").values_list("detail", flat=True)

    def test_the_evidence_json_round_trips_every_value(self, hostile_case):
        case, _ = hostile_case
        evidence = json.loads(json.dumps(evidence_of(case), cls=DjangoJSONEncoder))
        names = {g["name"] for g in evidence["groups_before"]}
        for kind, value in HOSTILE.items():
            assert f"{kind}: {value}" in names
        assert evidence["workday"]["as_received"]["Manager"] == HOSTILE["quotes"]
        assert evidence["decision"]["reason"] == HOSTILE["markup"]
