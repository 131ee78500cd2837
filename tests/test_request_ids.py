"""One approval can be followed to every Okta call it caused: the jobs it starts carry its request id."""

import pytest
from django.test import Client
from django.urls import reverse
from django_q.brokers import get_broker
from django_q.signing import SignedPackage

from offboarding import decisions, restore, revocation, sync
from offboarding.models import Actor, AuditEvent, Case


@pytest.fixture
def broker():
    broker = get_broker()
    broker.purge_queue()
    yield broker
    broker.purge_queue()


def next_task(broker) -> dict:
    task_id, payload = broker.dequeue()[0]
    broker.acknowledge(task_id)
    return SignedPackage.loads(payload)


@pytest.fixture
def due_case(org, leaver):
    leaver(days_ahead=-1)
    sync.sync_workday()
    return Case.objects.get()


class TestRequestIdAcrossJobs:
    def test_the_revocation_runs_under_the_request_id_of_the_approval(
        self, due_case, approver, broker, django_capture_on_commit_callbacks
    ):
        client = Client()
        client.force_login(approver)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(reverse("case_approve", args=[due_case.pk]), {"confirmed": "yes", "reason": "HR"})
        approval_id = response["X-Request-Id"]
        approved = AuditEvent.objects.get(action="case.approved")
        assert approved.request_id == approval_id

        task = next_task(broker)
        assert task["func"] == "offboarding.revocation.run_case"
        assert revocation.run_case(*task["args"], **task["kwargs"]) == Case.State.COMPLETED
        job_events = AuditEvent.objects.filter(case=due_case, seq__gt=approved.seq)
        assert {"case.started", "okta.deactivate.done", "case.completed", "jira.ticket_filed"} <= {
            e.action for e in job_events
        }
        assert {e.request_id for e in job_events} == {approval_id}

    def test_the_restore_runs_under_the_request_id_of_its_approval(
        self, due_case, approver, make_user, broker, django_capture_on_commit_callbacks
    ):
        decisions.approve(due_case.pk, approver, "HR")
        revocation.run_case(due_case.pk)
        decisions.request_restore(due_case.pk, approver, "rescinded")
        client = Client()
        client.force_login(make_user("erin", "approvers"))
        broker.purge_queue()
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(reverse("case_approve_restore", args=[due_case.pk]), {"confirmed": "yes"})
        task = next_task(broker)
        assert task["func"] == "offboarding.restore.restore_case"
        assert restore.restore_case(*task["args"], **task["kwargs"]) == "restored"
        restored = AuditEvent.objects.get(case=due_case, action="case.restored")
        assert restored.request_id == response["X-Request-Id"]

    def test_a_job_run_by_hand_gets_a_request_id_of_its_own(self, due_case, approver):
        decisions.approve(due_case.pk, approver, "HR")
        revocation.run_case(due_case.pk)
        started = AuditEvent.objects.get(action="case.started")
        assert started.request_id
        assert AuditEvent.objects.get(action="case.completed").request_id == started.request_id


@pytest.mark.django_db
class TestActors:
    def test_an_actor_is_a_person_a_rule_or_a_system_job_never_a_bare_string(self, approver):
        with pytest.raises(TypeError):
            AuditEvent.record("case.opened", actor="system:sync_workday")
        event = AuditEvent.record("case.opened", actor=approver)
        assert (event.actor, event.actor_name) == (approver, approver.username)
        assert AuditEvent.record("case.opened", actor=Actor.system("sync_workday")).actor_name == "system:sync_workday"

    def test_a_person_must_be_an_approver_to_retry_a_case(self, make_user):
        case = Case.objects.create(state=Case.State.FAILED)
        with pytest.raises(decisions.DecisionError):
            decisions.retry_case(case.pk, make_user("mallory", "auditors"))
        assert Case.objects.get().state == Case.State.FAILED
