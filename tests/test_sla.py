"""The SLA dashboard: time from the effective moment to revocation, on known data with exact figures."""

from datetime import UTC, date, datetime, timedelta

import pytest
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
