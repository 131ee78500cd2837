"""What a sync's lookups cost Okta: the org-wide group owners map is read once, several groups at a time, and
kept for the next clients; its schedule reads it again in the background, so a lookup does not wait for it."""

import time

import pytest
from django.core.management import CommandError, call_command

from offboarding.clients.okta import OktaClient
from tests.processes import PRODUCTION, manage


def owner_reads(org) -> list[dict]:
    return [r for r in org.requests("okta") if r["path"].endswith("/owners")]


class TestGroupOwnersMap:
    def test_it_is_read_once_for_every_client_of_the_process(self, org, leaver):
        person = leaver(employee_id="E300")
        (owned,) = org.add_okta_groups([{"name": "Design reviewers E300"}])
        org.add_okta_group_owner(owned["id"], person["user_id"])
        first, second = OktaClient.from_settings(), OktaClient.from_settings()
        assert [g["id"] for g in first.owned_groups(person["user_id"])] == [owned["id"]]
        reads = len(owner_reads(org))
        assert [g["id"] for g in second.owned_groups(person["user_id"])] == [owned["id"]]
        assert reads > 1 and len(owner_reads(org)) == reads  # the second client read none

    def test_several_groups_owners_are_read_at_once(self, org, leaver):
        person = leaver(employee_id="E301")
        org.fault("okta", "latency", "GET /api/v1/groups/*/owners", seconds=0.1)
        OktaClient.from_settings().owned_groups(person["user_id"])
        reads = owner_reads(org)
        assert len(reads) > OktaClient.OWNERS_PARALLEL_READS
        assert max(r["in_flight"] for r in reads) > 1


class TestTheOwnersMapKeptWarm:
    """One call per group: thousands in a large org, minutes of Okta's groups budget. A lookup (a push's, whose
    revocation waits on it) must not spend them; the schedule does, in the background."""

    def test_after_the_refresh_a_lookup_makes_no_owner_call(self, org, leaver):
        person = leaver(employee_id="E310")
        (owned,) = org.add_okta_groups([{"name": "Design reviewers E310"}])
        org.add_okta_group_owner(owned["id"], person["user_id"])
        call_command("refresh_group_owners")
        assert len(owner_reads(org)) > 1
        org.clear_requests()
        assert [g["id"] for g in OktaClient.from_settings().owned_groups(person["user_id"])] == [owned["id"]]
        assert owner_reads(org) == []

    def test_the_map_is_as_of_its_last_refresh_and_the_next_refresh_reads_what_changed(self, org, leaver):
        person = leaver(employee_id="E311")
        (owned,) = org.add_okta_groups([{"name": "Design reviewers E311"}])
        call_command("refresh_group_owners")
        okta = OktaClient.from_settings()
        first = okta.group_owners_read_at()
        org.add_okta_group_owner(owned["id"], person["user_id"])
        assert okta.owned_groups(person["user_id"]) == []  # as of the refresh
        time.sleep(0.01)
        call_command("refresh_group_owners")
        assert [g["id"] for g in okta.owned_groups(person["user_id"])] == [owned["id"]]
        assert okta.group_owners_read_at() > first

    def test_a_refresh_okta_does_not_answer_fails_loudly_and_keeps_the_map_read_before(self, org, leaver):
        person = leaver(employee_id="E312")
        (owned,) = org.add_okta_groups([{"name": "Design reviewers E312"}])
        org.add_okta_group_owner(owned["id"], person["user_id"])
        call_command("refresh_group_owners")
        org.fault("okta", "error", "GET /api/v1/groups/*/owners", status=503)  # Okta stays down
        with pytest.raises(CommandError, match="NOT read again"):
            call_command("refresh_group_owners")
        org.clear_requests()
        assert [g["id"] for g in OktaClient.from_settings().owned_groups(person["user_id"])] == [owned["id"]]
        assert owner_reads(org) == []

    def test_with_no_map_kept_the_lookup_reads_it_itself(self, org, leaver):
        person = leaver(employee_id="E313")
        assert OktaClient.from_settings().group_owners_read_at() is None
        OktaClient.from_settings().owned_groups(person["user_id"])
        assert len(owner_reads(org)) > 1

    def test_the_refresh_is_scheduled_every_half_hour_by_default(self, db, settings):
        from django_q.models import Schedule

        from offboarding.apps import ensure_schedules

        ensure_schedules()
        schedule = Schedule.objects.get(name="refresh_group_owners")
        assert schedule.args == "'refresh_group_owners'"
        assert schedule.minutes == settings.OKTA_GROUP_OWNERS_REFRESH_MINUTES == 30

    @pytest.mark.parametrize("value", ["4", "often", "99999"])
    def test_a_bad_interval_stops_start_up_naming_it(self, value):
        result = manage("check", **{**PRODUCTION, "OKTA_GROUP_OWNERS_REFRESH_MINUTES": value})
        assert result.returncode != 0
        assert "OKTA_GROUP_OWNERS_REFRESH_MINUTES" in result.stderr
