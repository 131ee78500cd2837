"""The SLA dashboard: time from the effective moment to revocation, on known data with exact figures."""

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.urls import reverse

from offboarding.models import AutoApproveRule, Case, SafetySettings
from offboarding.sla import percentile
from tests.factories import make_past_case


def minutes(*values: float) -> list[timedelta]:
    return [timedelta(minutes=v) for v in values]


def at(day: date, hour: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


@pytest.fixture
def known(approver):
    """Eight revocations over two July weeks and August, and cases that must not count or count elsewhere."""
    rule = AutoApproveRule.objects.create(name="Voluntary")
    week_1, week_2, august = date(2026, 7, 6), date(2026, 7, 13), date(2026, 8, 10)
    for i, took in enumerate(minutes(10, 20, 30, 40, 300)):
        make_past_case(effective_at=at(week_1 + timedelta(days=i), 9), took=took, rule=rule)
    for took in minutes(60, 120):
        make_past_case(effective_at=at(week_2, 12), took=took, decided_by=approver)
    make_past_case(effective_at=at(august), took=timedelta(minutes=250), rule=rule)
    # Not measured: cancelled or rejected, or outside the period.
    make_past_case(effective_at=at(week_1), took=timedelta(days=9), state=Case.State.CANCELLED)
    make_past_case(effective_at=at(week_1), took=None, state=Case.State.REJECTED, decided_by=approver)
    make_past_case(effective_at=at(date(2026, 9, 1)), took=timedelta(days=9))
    # Past the target and still not revoked.
    make_past_case(effective_at=at(august), took=None, state=Case.State.FAILED, decided_by=approver)
    make_past_case(effective_at=at(august), took=None, state=Case.State.NEEDS_ATTENTION)


def dashboard(client, **params):
    response = client.get(reverse("sla"), {"since": "2026-07-01", "until": "2026-08-31", **params})
    assert response.status_code == 200
    return response


@pytest.fixture
def signed_in(client, auditor):
    client.force_login(auditor)
    return client


class TestPercentile:
    def test_nearest_rank(self):
        assert percentile(minutes(*range(1, 21)), 95) == timedelta(minutes=19)
        assert percentile(minutes(*range(1, 101)), 95) == timedelta(minutes=95)
        assert percentile(minutes(7), 95) == timedelta(minutes=7)
        assert percentile(minutes(3, 1, 2), 50) == timedelta(minutes=2)
        assert percentile([], 95) is None


@pytest.mark.django_db
class TestSlaFigures:
    def test_the_whole_period(self, signed_in, known):
        context = dashboard(signed_in).context
        overall = context["overall"]
        assert overall.count == 8
        assert overall.median == timedelta(minutes=50)  # (40 + 60) / 2
        assert overall.p95 == timedelta(minutes=300)
        assert overall.worst == timedelta(minutes=300)
        assert overall.over_target == 2  # 250 and 300 minutes, over 4 hours

    def test_per_week(self, signed_in, known):
        weeks = dashboard(signed_in).context["weeks"]
        assert [w.start for w in weeks] == [date(2026, 7, 6), date(2026, 7, 13), date(2026, 8, 10)]
        first, second, third = weeks
        assert (first.count, first.median, first.p95, first.worst, first.over_target) == (
            5,
            timedelta(minutes=30),
            timedelta(minutes=300),
            timedelta(minutes=300),
            1,
        )
        assert (second.count, second.median, second.p95, second.worst, second.over_target) == (
            2,
            timedelta(minutes=90),
            timedelta(minutes=120),
            timedelta(minutes=120),
            0,
        )
        assert (third.count, third.median, third.over_target) == (1, timedelta(minutes=250), 1)

    def test_per_month(self, signed_in, known):
        july, august = dashboard(signed_in).context["months"]
        assert july.start == date(2026, 7, 1) and august.start == date(2026, 8, 1)
        assert (july.count, july.median, july.p95, july.worst, july.over_target) == (
            7,
            timedelta(minutes=40),
            timedelta(minutes=300),
            timedelta(minutes=300),
            1,
        )
        assert (august.count, august.median, august.worst, august.over_target) == (
            1,
            timedelta(minutes=250),
            timedelta(minutes=250),
            1,
        )

    def test_the_target_is_the_one_an_admin_set(self, signed_in, known):
        SafetySettings.objects.update_or_create(pk=1, defaults={"sla_target_hours": 1})
        context = dashboard(signed_in).context
        assert context["overall"].over_target == 3  # 120, 250, 300 minutes
        assert "Target: 1 h" in dashboard(signed_in).content.decode()

    def test_the_slowest_over_target_are_listed(self, signed_in, known):
        slowest = dashboard(signed_in).context["slowest"]
        assert [c.time_to_revoke for c in slowest] == minutes(300, 250)

    def test_auto_and_human_approvals(self, signed_in, known):
        context = dashboard(signed_in).context
        assert context["auto_approved"] == 6  # five in the first week, one in August
        assert context["human_approved"] == 3  # two in the second week, the failed one; the rejection is not counted
        assert context["auto_share"] == pytest.approx(6 / 9)
        assert "66.7 %" in dashboard(signed_in).content.decode()

    def test_failed_needs_attention_and_overdue(self, signed_in, known):
        context = dashboard(signed_in).context
        assert (context["failed"], context["needs_attention"], context["overdue_count"]) == (1, 1, 2)
        assert {c.state for c in context["overdue"]} == {Case.State.FAILED, Case.State.NEEDS_ATTENTION}

    def test_the_period_narrows_everything(self, signed_in, known):
        context = dashboard(signed_in, since="2026-08-01").context
        assert context["overall"].count == 1
        assert [m.start for m in context["months"]] == [date(2026, 8, 1)]

    def test_by_default_it_covers_the_last_twelve_months(self, signed_in):
        context = signed_in.get(reverse("sla")).context
        assert (context["until"] - context["since"]).days in range(334, 366)
        assert context["since"].day == 1

    def test_nothing_to_measure_is_said_plainly(self, signed_in):
        page = dashboard(signed_in).content.decode()
        assert "No revocation in this period." in page


@pytest.mark.django_db
class TestSlaChart:
    def test_it_draws_the_distribution_on_the_page(self, signed_in, known):
        response = dashboard(signed_in)
        bars = response.context["chart"]["bars"]
        assert [(b.label, b.count, b.over_target) for b in bars] == [
            ("< 15 min", 1, False),
            ("15 min–30 min", 1, False),
            ("30 min–1 h", 2, False),
            ("1 h–2 h", 1, False),
            ("2 h–4 h", 1, False),
            ("4 h–8 h", 2, True),
            ("8 h–24 h", 0, True),
            ("≥ 24 h", 0, True),
        ]
        page = response.content.decode()
        assert page.count("<rect ") == 8
        assert '<svg class="chart"' in page

    def test_the_tallest_bar_fills_the_plot_and_the_others_scale(self, signed_in, known):
        bars = dashboard(signed_in).context["chart"]["bars"]
        tallest = max(b.height for b in bars)
        assert [b.height for b in bars if b.count == 2] == [tallest, tallest]
        assert [b.height for b in bars if b.count == 1] == [tallest / 2] * 4

    def test_it_needs_no_other_site(self, signed_in, known):
        page = dashboard(signed_in).content.decode()
        svg = page[page.index("<svg") : page.index("</svg>")]
        assert "http" not in svg and "<script" not in page.split("<main")[1]


@pytest.mark.django_db
class TestComputedInTheDatabase:
    @pytest.mark.parametrize("seed", [1, 2, 3, 4])
    def test_the_databases_figures_are_the_nearest_rank_figures_of_every_case(self, seed, signed_in):
        import random
        import statistics

        rng = random.Random(seed)
        took = [timedelta(seconds=rng.randrange(0, 40_000)) for _ in range(rng.randrange(1, 41))]
        for i, duration in enumerate(took):
            make_past_case(effective_at=at(date(2026, 7, 6) + timedelta(days=i % 14), 9), took=duration)
        overall = dashboard(signed_in).context["overall"]
        assert overall.count == len(took)
        assert overall.median == statistics.median(took)
        assert overall.p95 == percentile(took, 95)
        assert overall.worst == max(took)
        assert overall.over_target == sum(1 for d in took if d > timedelta(hours=4))

    def test_the_page_costs_the_same_queries_for_ten_cases_as_for_a_hundred(self, signed_in):
        def queries() -> int:
            from django.db import connection
            from django.test.utils import CaptureQueriesContext

            with CaptureQueriesContext(connection) as captured:
                dashboard(signed_in)
            return len(captured)

        dashboard(signed_in)  # the first load creates the safety settings
        for i in range(10):
            make_past_case(effective_at=at(date(2026, 7, 6) + timedelta(days=i), 9), took=timedelta(hours=i))
        few = queries()
        for i in range(90):
            make_past_case(effective_at=at(date(2026, 7, 6) + timedelta(days=i % 50), 9), took=timedelta(hours=i))
        assert queries() == few

    def test_the_time_to_revoke_is_kept_on_the_case_by_every_save(self):
        case = make_past_case(took=timedelta(minutes=30))
        assert Case.objects.get(pk=case.pk).revoke_seconds == 1800
        case.revoked_at = case.effective_at + timedelta(hours=2)
        case.save(update_fields=["revoked_at"])
        assert Case.objects.get(pk=case.pk).revoke_seconds == 7200
        case.revoked_at = case.effective_at - timedelta(minutes=5)  # read back before the moment: never negative
        case.save()
        assert Case.objects.get(pk=case.pk).revoke_seconds == 0
        case.revoked_at = None
        case.save(update_fields=["revoked_at"])
        assert Case.objects.get(pk=case.pk).revoke_seconds is None


def nearest_rank_figures(took: list[timedelta]) -> tuple:
    """What the page must show for these times: count, median, 95th percentile, worst, over a 4 h target. The
    median of an even count is the mean of the two middle times, as PostgreSQL's percentile_cont interpolates
    (the lower one plus half the gap), in the seconds the case keeps: every database then gives the same figure."""
    seconds = sorted(d.total_seconds() for d in took)
    low, high = seconds[(len(seconds) - 1) // 2], seconds[len(seconds) // 2]
    median = timedelta(seconds=low + 0.5 * (high - low))
    return len(took), median, percentile(took, 95), max(took), sum(1 for d in took if d > timedelta(hours=4))


def figures_of(f) -> tuple:
    return f.count, f.median, f.p95, f.worst, f.over_target


@pytest.mark.django_db
class TestEveryPeriodOnEveryDatabase:
    """The same cases give the same figures on SQLite and on PostgreSQL (the suite runs on both)."""

    @pytest.mark.parametrize("seed", [5, 6, 7])
    def test_each_week_and_month_has_the_nearest_rank_figures_of_its_own_cases(self, seed, signed_in):
        import random

        rng = random.Random(seed)
        # Times to the microsecond, as revocations really take, over July and August: the week of 27 July
        # runs into August, so it is one week but counts in two months.
        by_week, by_month = defaultdict(list), defaultdict(list)
        for _ in range(rng.randrange(60, 90)):
            moment = at(date(2026, 7, 1) + timedelta(days=rng.randrange(0, 62)), rng.randrange(0, 24))
            took = timedelta(seconds=rng.randrange(0, 40_000), microseconds=rng.randrange(0, 1_000_000))
            make_past_case(effective_at=moment, took=took)
            by_week[moment.date() - timedelta(days=moment.weekday())].append(took)
            by_month[moment.date().replace(day=1)].append(took)
        context = dashboard(signed_in).context
        assert {w.start: figures_of(w) for w in context["weeks"]} == {
            start: nearest_rank_figures(took) for start, took in by_week.items()
        }
        assert {m.start: figures_of(m) for m in context["months"]} == {
            start: nearest_rank_figures(took) for start, took in by_month.items()
        }
        everything = [took for took in by_month.values() for took in took]
        assert figures_of(context["overall"]) == nearest_rank_figures(everything)

    def test_weeks_and_months_are_the_site_time_zones(self, signed_in, settings):
        settings.TIME_ZONE = "Europe/Berlin"
        berlin = ZoneInfo("Europe/Berlin")
        # Monday 00:30 in Berlin is still Sunday in UTC; 1 November 00:30 (after the clocks went back) is
        # still October in UTC.
        make_past_case(effective_at=datetime(2026, 7, 13, 0, 30, tzinfo=berlin), took=timedelta(minutes=10))
        make_past_case(effective_at=datetime(2026, 7, 12, 23, 30, tzinfo=berlin), took=timedelta(minutes=20))
        make_past_case(effective_at=datetime(2026, 11, 1, 0, 30, tzinfo=berlin), took=timedelta(minutes=30))
        context = dashboard(signed_in, until="2026-11-30").context
        assert [(w.start, w.count, w.median) for w in context["weeks"]] == [
            (date(2026, 7, 6), 1, timedelta(minutes=20)),
            (date(2026, 7, 13), 1, timedelta(minutes=10)),
            (date(2026, 10, 26), 1, timedelta(minutes=30)),
        ]
        assert [(m.start, m.count) for m in context["months"]] == [(date(2026, 7, 1), 2), (date(2026, 11, 1), 1)]

    def test_a_period_that_starts_mid_week_counts_only_its_own_days_of_that_week(self, signed_in):
        make_past_case(effective_at=at(date(2026, 7, 6), 9), took=timedelta(minutes=10))  # Monday, before
        make_past_case(effective_at=at(date(2026, 7, 8), 9), took=timedelta(minutes=20))  # Wednesday
        make_past_case(effective_at=at(date(2026, 7, 12), 23), took=timedelta(minutes=40))  # Sunday night
        context = dashboard(signed_in, since="2026-07-08", until="2026-07-31").context
        (week,) = context["weeks"]
        assert (week.start, week.count, week.median) == (date(2026, 7, 6), 2, timedelta(minutes=30))
        assert [(m.start, m.count) for m in context["months"]] == [(date(2026, 7, 1), 2)]

    def test_a_case_at_midnight_on_monday_opens_the_new_week(self, signed_in):
        make_past_case(effective_at=at(date(2026, 7, 13)), took=timedelta(minutes=10))
        assert [w.start for w in dashboard(signed_in).context["weeks"]] == [date(2026, 7, 13)]

    def test_the_page_costs_the_same_queries_for_a_year_as_for_a_week(self, signed_in):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        for i in range(12):
            make_past_case(effective_at=at(date(2025, 9, 1) + timedelta(days=30 * i), 9), took=timedelta(hours=i))

        def queries(**period) -> int:
            dashboard(signed_in, **period)  # on PostgreSQL the first load of a range keeps its whole periods (one more)
            with CaptureQueriesContext(connection) as captured:
                dashboard(signed_in, **period)
            return len(captured)

        dashboard(signed_in)  # the first load creates the safety settings
        assert queries(since="2025-09-01", until="2026-08-31") == queries(since="2026-07-06", until="2026-07-12")

    def test_the_slowest_list_puts_the_latest_case_first_among_equal_times(self, signed_in):
        first, second = (make_past_case(effective_at=at(date(2026, 7, 6)), took=timedelta(hours=5)) for _ in "ab")
        slowest = dashboard(signed_in).context["slowest"]
        assert [c.pk for c in slowest] == [second.pk, first.pk]


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's plans")
class TestReadFromTheSlaIndex:
    def test_the_figures_are_read_from_the_sla_index(self):
        """The index holds only measured cases: a query that stopped excluding exactly those states (NOT_MEASURED
        changed, the index's condition not) could no longer use it, and every load would read the table."""
        from offboarding import sla

        make_past_case(effective_at=at(date(2026, 7, 6), 9))
        cases = sla.measured_cases(date(2026, 7, 1), date(2026, 8, 31))
        with connection.cursor() as cursor:
            # Left only the SLA index to range over: the other indexes by effective moment are dropped inside the
            # test's transaction (rolled back with it) and the table and bitmap scans are off. (Turning index scans
            # off too would penalise the index-only scan as well, and the planner's pick among penalised plans
            # then follows the statistics of the moment.)
            cursor.execute(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'offboarding_case'"
                " AND indexdef LIKE '%%(effective_at%%' AND indexname <> 'case_sla_idx'"
            )
            for (name,) in cursor.fetchall():
                cursor.execute(f'DROP INDEX "{name}"')
            for plan in ("seqscan", "bitmapscan"):
                cursor.execute(f"SET LOCAL enable_{plan} = off")
            sql, params = cases.order_by().values("effective_at", "revoke_seconds", "state").query.sql_with_params()
            cursor.execute(f"EXPLAIN {sql}", params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        assert "Index Only Scan using case_sla_idx" in plan or "Index Scan using case_sla_idx" in plan, plan


def shown(client, **period) -> tuple:
    """Every week's and month's figures as the page shows them."""
    context = dashboard(client, **period).context
    return tuple((f.start, *figures_of(f)) for f in [*context["weeks"], *context["months"]])


def computed_afresh(client, **period) -> tuple:
    """The same, with nothing kept: every period computed from the cases as they are now (then rolled back)."""
    from django.db import transaction

    from offboarding.models import SlaChange, SlaFigures

    with transaction.atomic():
        SlaFigures.objects.all().delete()
        SlaChange.objects.all().delete()
        figures = shown(client, **period)
        transaction.set_rollback(True)
    return figures


def july_and_august():
    """Cases over July and August (the page's default range: both months, every week but the two cut ones)."""
    for day in range(0, 62, 3):
        make_past_case(effective_at=at(date(2026, 7, 1) + timedelta(days=day), 9), took=timedelta(minutes=10 + day))


def sql(statement: str, *params) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def a_july_case() -> Case:
    return Case.objects.filter(effective_at__month=7, revoke_seconds__isnull=False).order_by("pk").first()


# Each a way a measured case's figures can change, outside the product as well as through it.
CHANGES = {
    "its time changed by an UPDATE in the database": lambda: sql(
        "UPDATE offboarding_case SET revoke_seconds = revoke_seconds + 36000 WHERE id = %s", a_july_case().pk
    ),
    "moved to another month": lambda: sql(
        "UPDATE offboarding_case SET effective_at = %s WHERE id = %s", at(date(2026, 8, 20), 9), a_july_case().pk
    ),
    "no longer measured (rejected)": lambda: Case.objects.filter(pk=a_july_case().pk).update(state=Case.State.REJECTED),
    "measured again (cancelled, then restored)": lambda: Case.objects.filter(state=Case.State.CANCELLED).update(
        state=Case.State.COMPLETED
    ),
    "deleted": lambda: sql("DELETE FROM offboarding_case WHERE id = %s", a_july_case().pk),
    "added": lambda: make_past_case(effective_at=at(date(2026, 7, 21), 9), took=timedelta(hours=30)),
    "revoked through save()": lambda: revoke_the_failed_one(),
}


def revoke_the_failed_one() -> None:
    case = Case.objects.get(state=Case.State.FAILED)
    case.revoked_at = case.effective_at + timedelta(hours=50)
    case.state = Case.State.COMPLETED
    case.save()


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the figures are kept on PostgreSQL only")
class TestWholeWeeksAndMonthsKept:
    """Sorting a year's times for every week and month was most of the page's time at a million cases: the figures
    of a whole week or month are kept, and computed again only when a case measured in it changes."""

    def test_a_kept_months_figures_are_read_back_not_computed_again(self, signed_in):
        from offboarding.models import SlaFigures

        july_and_august()
        first = shown(signed_in)
        kept = SlaFigures.objects.filter(revoked__gt=0)
        assert kept.count() == 2 + 8  # July, August and the eight whole weeks (29 June and 31 August are cut)
        kept.filter(since=at(date(2026, 7, 1))).update(p95=1.0)  # nothing else writes it: the page must read it
        months = {row[0]: row for row in shown(signed_in)}
        assert months[date(2026, 7, 1)][3] == timedelta(seconds=1)
        assert shown(signed_in) != first

    @pytest.mark.parametrize("change", CHANGES)
    def test_a_change_to_a_measured_case_computes_its_periods_again(self, signed_in, change):
        july_and_august()
        make_past_case(effective_at=at(date(2026, 7, 8), 9), took=timedelta(hours=70), state=Case.State.CANCELLED)
        make_past_case(effective_at=at(date(2026, 7, 15), 9), took=None, state=Case.State.FAILED)
        before = shown(signed_in)
        CHANGES[change]()
        after = shown(signed_in)
        assert after != before
        assert after == computed_afresh(signed_in)

    def test_a_change_to_a_case_not_measured_computes_nothing_again(self, signed_in):
        from offboarding.models import SlaChange

        july_and_august()
        make_past_case(effective_at=at(date(2026, 7, 8), 9), took=timedelta(hours=70), state=Case.State.CANCELLED)
        shown(signed_in)
        Case.objects.filter(state=Case.State.CANCELLED).update(state=Case.State.REJECTED, revoke_seconds=1)
        Case.objects.filter(revoke_seconds__isnull=False).update(department="Sales")  # read by no figure
        assert SlaChange.objects.count() == 0

    def test_figures_kept_for_one_target_are_not_those_of_another(self, signed_in):
        july_and_august()
        shown(signed_in)
        SafetySettings.objects.update(sla_target_hours=0.5)
        assert shown(signed_in) == computed_afresh(signed_in)
        assert any(row[-1] for row in shown(signed_in))  # cases over half an hour: counted against that target

    @pytest.mark.parametrize("seed", [11, 12])
    def test_whatever_changes_the_kept_figures_are_those_computed_afresh(self, signed_in, seed):
        import random

        rng = random.Random(seed)
        for _ in range(40):
            moment = at(date(2026, 7, 1) + timedelta(days=rng.randrange(0, 62)), rng.randrange(0, 24))
            make_past_case(effective_at=moment, took=timedelta(seconds=rng.randrange(0, 40_000)))
        shown(signed_in)
        for _ in range(6):
            ids = list(Case.objects.values_list("pk", flat=True))
            for pk in rng.sample(ids, 3):
                moment = at(date(2026, 7, 1) + timedelta(days=rng.randrange(0, 62)), rng.randrange(0, 24))
                Case.objects.filter(pk=pk).update(
                    effective_at=moment, revoke_seconds=rng.randrange(0, 40_000), state=rng.choice(list(Case.State))
                )
            assert shown(signed_in) == computed_afresh(signed_in)

    def test_emptying_the_case_table_forgets_every_kept_figure(self, signed_in):
        from offboarding.models import SlaFigures

        july_and_august()
        shown(signed_in)
        sql("SET CONSTRAINTS ALL IMMEDIATE")  # (Django's foreign keys are deferred; TRUNCATE wants none pending)
        sql("TRUNCATE offboarding_case CASCADE")
        assert SlaFigures.objects.count() == 0

    def test_the_trigger_leaves_out_the_states_the_page_leaves_out(self):
        import importlib

        from offboarding import sla

        migration = importlib.import_module("offboarding.migrations.0024_sla_stored_figures")
        assert set(migration.NOT_MEASURED) == set(sla.NOT_MEASURED)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the figures are kept on PostgreSQL only")
def test_a_load_that_finds_another_keeping_the_figures_computes_all_of_its_own(signed_in):
    import psycopg
    from django.db import connections

    from offboarding import sla
    from offboarding.models import SlaFigures

    july_and_august()
    settings = connections["default"].get_connection_params()
    with psycopg.connect(**settings, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", [sla.KEEPING_LOCK])  # another load, keeping them
        figures = shown(signed_in)
    assert SlaFigures.objects.count() == 0
    assert figures == shown(signed_in)  # the same figures, now from the load that kept them
    assert SlaFigures.objects.count() > 0
