"""The soak, short: a real qcluster killed with SIGKILL at random points while it revokes 10 cases.

The long one (200 cases and more) is `python benchmarks/soak.py`, documented in README.md.
"""

import pytest

from benchmarks.soak import SOAK_WORLD, soak
from offboarding.models import SafetySettings
from tests.processes import start_cluster


@pytest.mark.slow
@pytest.mark.sandbox(**SOAK_WORLD)  # the fixture's reset is the soak's
@pytest.mark.django_db(transaction=True)
def test_a_cluster_killed_at_random_points_loses_nothing_and_repeats_nothing(sandbox, approver):
    SafetySettings.objects.update_or_create(pk=1, defaults={"breaker_count": 1000})
    # The cluster removes groups two at a time (see start_cluster): a kill may repeat up to two removals.
    result = soak(
        sandbox,
        lambda: start_cluster(sandbox),
        approver,
        cases=10,
        kills=3,
        seed=7,
        calls_in_flight=2,
        timeout=240,
        reset=False,
    )
    assert result["kills"] >= 1, result
    assert result["ok"], result
