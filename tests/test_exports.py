"""Exports: the filtered history as CSV and JSON (streamed), from the page and from the shell."""

import csv
import gc
import io
import json
import tempfile
from datetime import UTC, date, datetime, timedelta

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from offboarding import exports, forms, history
from offboarding.models import Approval, AuditEvent, AutoApproveRule, Case
from tests.factories import make_past_case

POSTGRES = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


def body(response) -> str:
    return b"".join(response.streaming_content).decode("utf-8")


def csv_rows(text: str) -> list[dict]:
    assert text.startswith("\ufeff")  # so Excel reads UTF-8
    return list(csv.DictReader(io.StringIO(text[1:], newline="")))


@pytest.fixture
def signed_in(client, auditor):
    client.force_login(auditor)
    return client


def export(client, fmt: str, **params):
    response = client.get(reverse("history_export", args=[fmt]), params)
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    return response


@pytest.mark.django_db
class TestCsvExport:
    def test_it_streams_every_matching_case_as_in_the_database(self, signed_in, approver, settings):
        settings.JIRA_BASE_URL = "https://acme.atlassian.net"
        case = make_past_case("E7", "Zoë Müller", department="Sales", decided_by=approver, jira_key="SEC-7")
        Approval.objects.create(case=case, user=approver)
        make_past_case(department="Legal")
        response = export(signed_in, "csv", department="Sales")
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert response["Content-Disposition"].startswith('attachment; filename="offboarding-history-')
        (row,) = csv_rows(body(response))
        t = case.termination
        assert row == {
            "case_id": str(case.pk),
            "kind": "workday",
            "state": "completed",
            "employee_id": "E7",
            "name": "Zoë Müller",
            "email": t.email,
            "okta_user_id": case.okta_user_id,
            "okta_login": case.okta_login,
            "department": "Sales",
            "category": "Voluntary",
            "termination_date": t.termination_date.isoformat(),
            "decided_by": "alice",
            "approvers": "alice",
            "decided_at": case.decided_at.isoformat(),
            "effective_at": case.effective_at.isoformat(),
            "revoked_at": case.revoked_at.isoformat(),
            "finished_at": case.finished_at.isoformat(),
            "time_to_revoke_seconds": "1800.0",
            "jira_key": "SEC-7",
            "jira_url": "https://acme.atlassian.net/browse/SEC-7",
            "evidence_url": f"{settings.SITE_URL}/audit/cases/{case.pk}/",
            "follow_ups_open": "0",
            "oldest_open_follow_up_at": "",
        }

    def test_a_rule_and_an_unfinished_case_read_plainly(self, signed_in):
        rule = AutoApproveRule.objects.create(name="Voluntary")
        make_past_case(rule=rule, took=None, state=Case.State.SCHEDULED)
        (row,) = csv_rows(body(export(signed_in, "csv")))
        assert row["decided_by"] == f"rule:{rule.pk} Voluntary"
        assert row["revoked_at"] == row["finished_at"] == row["time_to_revoke_seconds"] == ""

    @pytest.mark.parametrize("dangerous", ['=HYPERLINK("http://evil")', "+1+2", "-2+3", "@SUM(A1)", "\tx", "\rx"])
    def test_a_value_a_spreadsheet_would_run_is_neutralised(self, signed_in, dangerous):
        make_past_case(name=dangerous, department=dangerous)
        (row,) = csv_rows(body(export(signed_in, "csv")))
        assert row["name"] == row["department"] == "'" + dangerous

    def test_commas_quotes_and_line_breaks_survive_the_round_trip(self, signed_in):
        name = 'Ann "Nan" O\'Neil, Jr.\nSecond line'
        make_past_case(name=name)
        text = body(export(signed_in, "csv"))
        assert '"Ann ""Nan"" O\'Neil, Jr.\nSecond line"' in text
        assert csv_rows(text)[0]["name"] == name

    def test_it_keeps_the_page_sort(self, signed_in):
        a, b = make_past_case(left=date(2026, 7, 2)), make_past_case(left=date(2026, 7, 1))
        rows = csv_rows(body(export(signed_in, "csv", sort="left")))
        assert [int(r["case_id"]) for r in rows] == [b.pk, a.pk]

    def test_an_empty_result_is_the_header_alone(self, signed_in):
        text = body(export(signed_in, "csv", person="nobody"))
        assert text.count("\n") == 1 and text.startswith("\ufeffcase_id,kind,state,")


@pytest.mark.django_db
class TestJsonExport:
    def test_it_streams_one_document_with_the_filters_and_the_cases(self, signed_in):
        cases = [make_past_case(category="Involuntary", took=timedelta(hours=h)) for h in (1, 2, 3)]
        make_past_case(category="Voluntary")
        response = export(signed_in, "json", category="Involuntary", sort="opened")
        assert response["Content-Type"] == "application/json"
        document = json.loads(body(response))
        assert document["exported_by"] == "bob"
        assert document["filters"] == {"category": "Involuntary", "sort": "opened"}
        assert [c["case_id"] for c in document["cases"]] == [c.pk for c in cases]
        assert [c["time_to_revoke_seconds"] for c in document["cases"]] == [3600, 7200, 10800]
        assert document["cases"][0]["approvers"] == []

    def test_values_are_kept_as_they_are(self, signed_in):
        make_past_case(name="=1+1")
        (row,) = json.loads(body(export(signed_in, "json")))["cases"]
        assert row["name"] == "=1+1"  # JSON is not a spreadsheet: nothing to neutralise

    def test_an_empty_result_is_valid_json(self, signed_in):
        assert json.loads(body(export(signed_in, "json")))["cases"] == []


@pytest.mark.django_db
class TestExportRows:
    def test_approvers_are_listed_once_each_in_the_order_they_approved(self, signed_in, make_user):
        first, second, third = make_user("zed"), make_user("=amy"), make_user("kim")
        plain, protected, single = make_past_case(), make_past_case(emergency=True), make_past_case()
        moment = datetime(2026, 7, 1, 9, tzinfo=UTC)
        for minutes, user in [(20, third), (5, second), (10, first)]:
            Approval.objects.create(case=protected, user=user, at=moment + timedelta(minutes=minutes))
        Approval.objects.create(case=single, user=first, at=moment)
        rows = csv_rows(body(export(signed_in, "csv", sort="opened")))
        assert [(int(r["case_id"]), r["approvers"]) for r in rows] == [
            (plain.pk, ""),
            (protected.pk, "'=amy; zed; kim"),
            (single.pk, "zed"),
        ]
        cases = json.loads(body(export(signed_in, "json", sort="opened")))["cases"]
        assert [c["approvers"] for c in cases] == [[], ["=amy", "zed", "kim"], ["zed"]]

    @pytest.mark.parametrize("sort", list(history.SORTS))
    def test_every_sort_gives_each_case_once(self, signed_in, approver, make_user, sort):
        second = make_user("erin")
        for n in range(6):
            case = make_past_case(left=date(2026, 7, 1 + n % 3), took=timedelta(minutes=n) if n % 2 else None)
            for user in [approver, second][: n % 3]:
                Approval.objects.create(case=case, user=user)
        pages = [case.pk for case in signed_in.get(reverse("history"), {"sort": sort}).context["page"]]
        assert [int(r["case_id"]) for r in csv_rows(body(export(signed_in, "csv", sort=sort)))] == pages

    def test_moments_keep_their_microseconds_and_read_in_utc_whatever_the_site_time_zone(self, signed_in, settings):
        settings.TIME_ZONE = "Asia/Tokyo"
        effective = datetime(2026, 7, 2, 3, 4, 5, 123456, tzinfo=UTC)
        make_past_case(effective_at=effective, took=timedelta(seconds=90, microseconds=500))
        (row,) = csv_rows(body(export(signed_in, "csv")))
        assert row["effective_at"] == "2026-07-02T03:04:05.123456+00:00"
        assert row["revoked_at"] == "2026-07-02T03:05:35.123956+00:00"
        assert row["time_to_revoke_seconds"] == "90.0005"
        (case,) = json.loads(body(export(signed_in, "json")))["cases"]
        assert case["effective_at"] == "2026-07-02T03:04:05.123Z"

    def test_a_revocation_recorded_before_its_moment_took_no_time(self, signed_in):
        make_past_case(took=-timedelta(minutes=3))
        (row,) = csv_rows(body(export(signed_in, "csv")))
        assert row["time_to_revoke_seconds"] == "0.0"

    @pytest.mark.parametrize("fmt", ["csv", "json"])
    def test_the_number_of_queries_does_not_grow_with_the_rows(self, signed_in, approver, monkeypatch, fmt):
        monkeypatch.setattr(exports, "CHUNK", 4)  # many chunks from a few cases
        rule = AutoApproveRule.objects.create(name="r")

        def queries() -> int:
            with CaptureQueriesContext(connection) as captured:
                body(export(signed_in, fmt))
            return len(captured)

        Approval.objects.create(case=make_past_case(decided_by=approver), user=approver)
        queries()  # the first audit event of all starts the chain
        few = queries()
        for _ in range(10):
            Approval.objects.create(case=make_past_case(decided_by=approver), user=approver)
            make_past_case(rule=rule)
            make_past_case(emergency=True)
        assert queries() == few


# Every character a spreadsheet or the CSV quoting could trip on, and some that are merely far from ASCII.
AWKWARD = "".join(map(chr, range(1, 128))) + "Zoë Müller, 山田 \u2028 🙂 \ufeff"


def varied_cases(make_user) -> dict:
    """Cases with every kind of value the export writes, and ties in every sort key; the filters to try them."""
    users = [make_user(name) for name in ("zed", "=amy", "kim")]
    users += [User.objects.create(username=""), make_user('Dä"ve, jr'), make_user("+bo")]  # "": no form would
    rule = AutoApproveRule.objects.create(name='=Contractors, "all"\n')
    moment = datetime(2026, 7, 1, 9, 30, tzinfo=UTC)
    cases = [
        make_past_case(name='Ann "Nan" O\'Neil, Jr.\nSecond line\r\nthird', department="Sales", jira_key="SEC-1"),
        make_past_case(name=AWKWARD, department=AWKWARD, category="", email="", left=date(2026, 7, 1)),
        make_past_case(name="", okta_login="=cmd|' /C calc'!A0", department="", decided_by=users[0]),
        make_past_case(employee_id="+100", name="-minus", category="Involuntary", rule=rule, jira_key="=HYPERLINK(1)"),
        make_past_case(name="@at", took=timedelta(microseconds=5), effective_at=moment.replace(microsecond=123400)),
        make_past_case(name="\tTab", took=-timedelta(minutes=3), effective_at=moment, decided_by=users[1]),
        make_past_case(name="\rReturn", took=timedelta(0), effective_at=moment, left=date(2026, 7, 1)),
        make_past_case(name="Ann Example", took=timedelta(days=400, microseconds=1), effective_at=moment),
        make_past_case(name="Ann Example", took=None, state=Case.State.SCHEDULED, left=date(2026, 7, 1)),
        make_past_case(name="Ann Example", took=timedelta(seconds=90, microseconds=500), category="Involuntary"),
        make_past_case(effective_at=datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), left=date(1969, 12, 30)),
        make_past_case(emergency=True, effective_at=moment, jira_key="SEC-2"),
        make_past_case(emergency=True, okta_login="", effective_at=moment, took=None, decided_by=users[2]),
        make_past_case(emergency=True, okta_login="-x@acme.example", effective_at=moment.replace(microsecond=1)),
        make_past_case(emergency=True, effective_at=None, took=None, state=Case.State.PENDING_REVIEW),
    ]
    Case.objects.filter(pk=cases[11].pk).update(plan={"user": {"name": '=Emergency, "Em"'}})
    Case.objects.filter(pk=cases[12].pk).update(plan={"user": {"name": ""}}, okta_user_id="")
    Case.objects.filter(pk=cases[13].pk).update(plan={"user": {"id": "00u1"}}, okta_user_id="-00u")
    Case.objects.filter(pk__in=[c.pk for c in cases[4:9]]).update(created_at=moment)  # ties on "opened"
    for case, approvers in [(cases[0], users[:3]), (cases[1], [users[3], users[4]]), (cases[5], [users[5]])]:
        for user in approvers:  # all at the same moment: by the order they were recorded
            Approval.objects.create(case=case, user=user, at=moment)
    Approval.objects.create(case=cases[7], user=users[4], at=moment + timedelta(minutes=1))
    Approval.objects.create(case=cases[7], user=users[1], at=moment)
    filters = [
        {},
        {"department": "Sales"},
        {"category": "Involuntary", "decision": "rule"},
        {"decision": "human"},
        {"approver": "=AMY"},
        {"person": "ann"},
        {"person": "50%_"},
        {"person": cases[3].termination.employee_id},
        {"left_from": "2026-07-01", "left_until": "2026-07-01"},
        {"left_from": "2026-07-02"},
        {"completed_from": "2026-07-01", "completed_until": "2026-07-02"},
        {"state": Case.State.COMPLETED, "jira_key": "sec-1"},
        {"rule": str(rule.pk)},
    ]
    return {"cases": cases, "filters": filters}


@pytest.mark.skipif(not POSTGRES, reason="PostgreSQL writes the CSV itself (DATABASE_URL=postgres://...)")
@pytest.mark.django_db
class TestCsvWrittenByPostgres:
    @pytest.mark.parametrize("sort", list(history.SORTS))
    def test_it_writes_the_bytes_python_writes(self, signed_in, make_user, settings, monkeypatch, sort):
        # Rows in several chunks, spooled to disk, read back in pieces that cut through characters.
        monkeypatch.setattr(exports, "CHUNK", 3)
        monkeypatch.setattr(exports, "SPOOL_BYTES", 1000)
        monkeypatch.setattr(exports, "SPOOL_PIECE_BYTES", 7)
        settings.TIME_ZONE = "America/New_York"
        settings.JIRA_BASE_URL = "https://acme.atlassian.net"
        scene = varied_cases(make_user)
        exported = 0
        for filters in scene["filters"]:
            query = {**filters, "sort": sort}
            written_by_postgres = body(export(signed_in, "csv", **query))
            form = forms.HistoryFilter(query)
            assert form.is_valid(), form.errors
            written_by_python = "".join(exports.csv_lines(exports.export_rows(form.cases())))
            assert written_by_postgres == written_by_python, query
            exported += len(csv_rows(written_by_python))
        assert exported > 3 * len(scene["cases"])  # the filters found cases, not merely empty files

    def test_the_awkward_values_come_back_as_they_went_in(self, signed_in, make_user):
        scene = varied_cases(make_user)
        rows = {int(r["case_id"]): r for r in csv_rows(body(export(signed_in, "csv")))}
        assert rows[scene["cases"][1].pk]["name"] == AWKWARD
        assert rows[scene["cases"][1].pk]["approvers"] == '; Dä"ve, jr'
        assert rows[scene["cases"][3].pk]["decided_by"].startswith("rule:")
        assert rows[scene["cases"][4].pk]["time_to_revoke_seconds"] == "5e-06"
        assert rows[scene["cases"][11].pk]["name"] == '\'=Emergency, "Em"'


class TestSpoolingTheRowsPostgresWrites:
    def test_each_row_ends_as_the_csv_module_ends_it(self):
        rows = [memoryview(b'1,"two\nlines"\n'), memoryview(b"2,plain\n")]
        with tempfile.SpooledTemporaryFile() as spool:
            assert exports.spool_rows(rows, spool) == 2
            spool.seek(0)
            assert spool.read() == b'1,"two\nlines"\r\n2,plain\r\n'

    def test_rows_are_let_go_as_they_are_written(self, monkeypatch):
        # A row is a memoryview, which the garbage collector counts: holding thousands at once set off its
        # collections, and every few exports a full one (50 ms in a web process).
        monkeypatch.setattr(exports, "SPOOL_PIECE_BYTES", 64 * 1024)
        collections = []

        def counted(phase, info):
            if phase == "start":
                collections.append(info["generation"])

        rows = (memoryview(b"%d,row\n" % n) for n in range(20_000))
        gc.collect()
        gc.callbacks.append(counted)
        try:
            with tempfile.SpooledTemporaryFile() as spool:
                count = exports.spool_rows(rows, spool)
                size = spool.tell()
        finally:
            gc.callbacks.remove(counted)
        assert count == 20_000
        assert size == sum(len(b"%d,row\r\n" % n) for n in range(20_000))
        assert len(collections) <= 2


@pytest.mark.django_db
class TestExportRules:
    def test_each_export_is_recorded_with_who_and_which_filters(self, signed_in):
        make_past_case(department="Sales")
        make_past_case(department="Sales")
        body(export(signed_in, "csv", department="Sales", page="3"))
        event = AuditEvent.objects.get(action="audit.exported")
        assert event.actor.username == "bob"
        assert event.after == {"export": "history", "format": "csv", "filters": {"department": "Sales"}, "cases": 2}

    def test_only_csv_and_json(self, signed_in):
        assert signed_in.get(reverse("history_export", args=["xlsx"])).status_code == 404

    def test_invalid_filters_are_refused_and_not_exported(self, signed_in):
        response = signed_in.get(reverse("history_export", args=["csv"]), {"left_from": "soon"})
        assert response.status_code == 400
        assert not AuditEvent.objects.filter(action="audit.exported").exists()

    def test_only_get(self, client, approver):
        client.force_login(approver)
        assert client.post(reverse("history_export", args=["csv"])).status_code == 405


@pytest.mark.django_db
class TestExportCommand:
    def test_it_exports_those_who_left_between_two_days_as_csv(self, capsys):
        make_past_case(left=date(2026, 6, 30))
        inside = make_past_case(left=date(2026, 7, 1), name="=cmd")
        make_past_case(left=date(2026, 10, 1))
        call_command("export_audit", "--since", "2026-07-01", "--until", "2026-09-30", "--format", "csv")
        rows = csv_rows(capsys.readouterr().out)
        assert [(int(r["case_id"]), r["name"]) for r in rows] == [(inside.pk, "'=cmd")]

    def test_it_exports_json_to_a_file(self, tmp_path):
        case = make_past_case(left=date(2026, 8, 1))
        out = tmp_path / "q3.json"
        call_command("export_audit", "--since", "2026-07-01", "--format", "json", "--output", str(out))
        document = json.loads(out.read_text(encoding="utf-8"))
        assert [c["case_id"] for c in document["cases"]] == [case.pk]
        assert document["filters"] == {"left_from": "2026-07-01", "sort": "left"}
        assert document["exported_by"].startswith("shell:")

    def test_it_is_recorded(self, capsys):
        make_past_case()
        call_command("export_audit")
        event = AuditEvent.objects.get(action="audit.exported")
        assert event.actor_name.startswith("shell:")
        assert event.after["cases"] == 1

    def test_it_refuses_a_day_it_cannot_read(self):
        with pytest.raises(CommandError, match="Not a day"):
            call_command("export_audit", "--since", "31/12/2026")
