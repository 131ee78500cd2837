"""Restore: give back what a revocation took, once two people approved (a rescind, a mistake).

Claimed like a revocation, with a lease, and resumable by the same step engine.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from offboarding.alerts import send_alert
from offboarding.clients.okta import OktaClient
from offboarding.models import Case, Step
from offboarding.request_id import current_request_id
from offboarding.request_id import request_id as under_request_id
from offboarding.steps import ACTOR, enqueue_case_job, lease_length, new_lease_owner, perform, perform_many
from offboarding.tickets import comment_on_ticket


def enqueue_restore(case_id: int, request_id: str = "") -> None:
    enqueue_case_job("offboarding.restore.restore_case", "restore", case_id, request_id)


def restore_case(case_id: int, request_id: str = "") -> str:
    """Give back what the revocation removed (two people approved): re-add groups, reactivate.

    Claimed like a revocation, with a lease, so a second delivery does nothing. Its audit events
    carry `request_id`, the id of the request that approved the restore.
    """
    with under_request_id(request_id or current_request_id() or None):
        return _restore(case_id)


def _restore(case_id: int) -> str:
    owner = new_lease_owner()
    now = timezone.now()
    claimed = (
        Case.objects.filter(pk=case_id, restore_approved_by__isnull=False, restored_at=None)
        .exclude(state=Case.State.RUNNING)
        .filter(Q(lease_until=None) | Q(lease_until__lt=now))
        .update(lease_owner=owner, lease_until=now + lease_length())
    )
    if not claimed:
        return "nothing to do"
    case = Case.objects.select_related("termination").get(pk=case_id)
    okta = OktaClient.from_settings()
    removed = case.steps.filter(kind=Step.Kind.REMOVE_GROUP, status=Step.Status.DONE)
    results = perform_many(
        case,
        None,
        Step.Kind.RESTORE_GROUP,
        [
            (
                step.target,
                step.target_name,
                lambda gid=step.target: okta.add_to_group(gid, case.okta_user_id) or {"added": True},
            )
            for step in removed
        ],
    )
    results.append(
        perform(
            case,
            None,
            Step.Kind.REACTIVATE,
            lambda: {"user": okta.reactivate(case.okta_user_id).as_dict()},
            target=case.okta_user_id,
        )
    )
    failed = [s for s in results if s.status == Step.Status.FAILED]
    with transaction.atomic():
        case.refresh_from_db()
        case.lease_owner, case.lease_until = "", None
        if not failed:
            case.restored_at, case.attention_reason, case.attention_after_run = timezone.now(), "", ""
        else:
            case.attention_reason = "Restore incomplete: " + "; ".join(f"{s} — {s.detail.get('error')}" for s in failed)
        case.move_to(
            Case.State.NEEDS_ATTENTION if failed else Case.State.COMPLETED,
            ACTOR,
            "case.restore_failed" if failed else "case.restored",
            after={
                "groups_restored": [
                    s.target_name for s in results if s.kind == Step.Kind.RESTORE_GROUP and s.status == Step.Status.DONE
                ],
                "not_restored": case.attention_reason,
            },
        )
    approvers = f"requested by {case.restore_requested_by}, approved by {case.restore_approved_by}"
    comment_on_ticket(
        case,
        f"Access restored ({approvers}): {len(results) - 1} group memberships re-added; "
        f"the Okta user is {results[-1].detail['user']['status']} again."
        if not failed
        else f"Restore incomplete ({approvers}): {case.attention_reason}",
    )
    if failed:
        send_alert(f"Case {case.pk}: restore incomplete", case.attention_reason)
    return "restored" if not failed else "restore incomplete"
