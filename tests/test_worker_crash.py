"""A real qcluster killed mid-case: its successor finishes the case, and nothing is done twice."""

from collections import Counter

import pytest
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.models import Schedule
from django_q.scheduler import scheduler

from offboarding import decisions, revocation, sync
from offboarding.models import Case, Step
from tests.processes import kill, start_cluster, wait_for


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_is_replaced_and_the_case_finishes(sandbox, leaver, approver):
    person = leaver(days_ahead=-1, groups=tuple(f"Team {n}" for n in range(6)))
    sync.sync_workday()
    case = decisions.approve(Case.objects.get().pk, approver)
    # Only the job that re-enqueues due cases runs in this test.
    Schedule.objects.exclude(name="enqueue_due_cases").update(next_run=timezone.now() + timezone.timedelta(days=1))
    get_broker().purge_queue()
    # Slow removals, so the worker is surely mid-case when it dies.
    sandbox.fault("okta", "latency", "DELETE /api/v1/groups/*/users/*", seconds=1.0)

    cluster = start_cluster(sandbox)
    try:
        revocation.enqueue(case.pk)
        wait_for(
            lambda: Step.objects.filter(case=case, kind="remove_group", status="done").exists(), 60, "the first removal"
        )
        kill(cluster)
    finally:
        if cluster.poll() is None:
            kill(cluster)
    assert Case.objects.get().state == Case.State.RUNNING
    sandbox.clear_faults()

    Schedule.objects.filter(name="enqueue_due_cases").update(next_run=timezone.now())
    cluster = start_cluster(sandbox)
    try:
        # The new cluster's scheduler first looks at the schedules 30 s after it starts; once the dead
        # worker's lease has run out, do now what it would do then (the due job goes to the broker).
        wait_for(lambda: Case.objects.due().filter(pk=case.pk).exists(), 30, "the dead worker's lease to run out")
        scheduler(broker=get_broker())
        assert Schedule.objects.get(name="enqueue_due_cases").next_run > timezone.now()  # it was taken
        wait_for(lambda: Case.objects.get().ticket == Case.Ticket.FILED, 120, "the case to finish")
    finally:
        kill(cluster)

    case = Case.objects.get()
    assert case.state == Case.State.COMPLETED
    assert sandbox.okta_user(person["user_id"])["status"] == "DEPROVISIONED"
    assert len(sandbox.jira_issues()) == 1
    calls = Counter(f"{r['method']} {r['path']}" for r in sandbox.requests("okta") if r["method"] != "GET")
    assert calls, "the sandbox saw no changes"
    # The removals in flight when the worker died (one batch) may be sent again (Okta treats them as done);
    # nothing else is.
    assert sum(n - 1 for n in calls.values()) <= 2, calls
    assert all(n == 1 for call, n in calls.items() if "/groups/" not in call), calls
