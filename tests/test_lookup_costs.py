"""What a sync's lookups cost Okta: the org-wide group owners map is read once, several groups at a time, and
kept for the next clients."""

from offboarding.clients.okta import OktaClient


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
