"""The resumable step engine: each external action of a case is a Step, claimed, performed and recorded once.

A step is unique per (case, kind, target), so a re-run (a second delivery, a crashed worker's
successor, a retry) finds the steps already done and skips them. A worker holds its case by a
lease it renews before every step or batch; when the lease is lost it stops without touching it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_q.tasks import async_task

from offboarding.clients.errors import VendorError, is_transient
from offboarding.clients.transport import tries_counted
from offboarding.models import Actor, AuditEvent, Case, Step
from offboarding.request_id import current_request_id

ACTOR = Actor.system("revocation")
# A vendor's name longer than the column is cut on the step (the full one stays in the step's detail).
TARGET_NAME_LENGTH = Step._meta.get_field("target_name").max_length
STEP_RESULT_FIELDS = [
    "status",
    "attempts",
    "http_status",
    "vendor_code",
    "vendor_error_id",
    "vendor_request_id",
    "failures",
    "detail",
    "started_at",
    "finished_at",
]

Action = Callable[[], dict]


class LeaseLost(Exception):
    """Another worker took the case over (our lease expired); stop without touching it."""


class StepFailed(Exception):
    """A step whose call succeeded but whose result is not what it must be (verification)."""

    def __init__(self, message: str, detail: dict) -> None:
        super().__init__(message)
        self.detail = detail


def enqueue_case_job(task: str, job: str, case_id: int, request_id: str = "") -> None:
    """Hand a job on one case (`task`: the function's dotted path) to a worker, under the request id of
    whoever asked for it (so the trail links the decision to the calls it caused)."""
    async_task(
        task,
        case_id,
        request_id=request_id or current_request_id(),
        task_name=f"{job}-case-{case_id}",
        group="revocation",
    )


def new_lease_owner() -> str:
    """This worker's name on a lease: host, process and a random part, unique per run."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def lease_length() -> timedelta:
    return timedelta(seconds=settings.REVOCATION_LEASE_SECONDS)


def renew_lease(case: Case, owner: str) -> None:
    renewed = Case.objects.filter(pk=case.pk, state=Case.State.RUNNING, lease_owner=owner).update(
        lease_until=timezone.now() + lease_length()
    )
    if not renewed:
        raise LeaseLost(f"case {case.pk} is no longer ours")


def perform(case: Case, owner: str | None, kind: str, action: Action, target: str = "", target_name: str = "") -> Step:
    """Run one step unless it is already done; record its result as a Step and an audit event."""
    return perform_many(case, owner, kind, [(target, target_name, action)])[0]


def perform_many(case: Case, owner: str | None, kind: str, work: list[tuple[str, str, Action]]) -> list[Step]:
    """`perform` for several steps of one kind, e.g. the group removals: (target, target name, action) each.

    The calls go up to REVOCATION_PARALLEL_CALLS at a time (in threads, so an action must not touch
    the database); each such batch's steps and audit events are written together once its calls
    have answered, so a worker that dies mid-batch makes at most that batch's calls again.
    """
    steps = steps_for(case, kind, {target: name for target, name, _ in work})
    actions = {target: action for target, _, action in work}
    todo = [s for s in steps if s.status not in (Step.Status.DONE, Step.Status.SKIPPED)]
    size = settings.REVOCATION_PARALLEL_CALLS
    with ThreadPoolExecutor(max_workers=size) if len(todo) > 1 else contextlib.nullcontext() as pool:
        for batch in (todo[i : i + size] for i in range(0, len(todo), size)):
            if owner:
                renew_lease(case, owner)
            # The batch's calls at the same time (a single one runs here), written once all have answered.
            list((pool.map if pool else map)(lambda step: attempt(step, actions[step.target]), batch))
            record(case, kind, batch)
    return steps


def steps_for(case: Case, kind: str, targets: dict[str, str]) -> list[Step]:
    """The case's steps of `kind` for these targets (target -> name), in order; new ones pending."""
    existing = Step.objects.filter(case=case, kind=kind, target__in=list(targets))
    steps = {s.target: s for s in existing}
    missing = [
        Step(case=case, kind=kind, target=target, target_name=name[:TARGET_NAME_LENGTH])
        for target, name in targets.items()
        if target not in steps
    ]
    if missing:
        try:
            with transaction.atomic():
                Step.objects.bulk_create(missing)
            steps |= {s.target: s for s in missing}
        except IntegrityError:  # created meanwhile by a worker that held the case before us
            steps = {s.target: s for s in existing.all()}
    return [steps[target] for target in targets]


def attempt(step: Step, action: Action) -> None:
    """Make the step's call; its outcome (done, or failed with the vendor's error) goes on the step.

    `attempts` counts the HTTP tries the call took, the transport's retries included; a failure is
    also added to the step's `failures`, so a later success does not hide it.
    """
    step.started_at = timezone.now()
    step.http_status, step.vendor_code, step.vendor_error_id, step.vendor_request_id = None, "", "", ""
    with tries_counted() as tries:
        try:
            step.detail, step.status = action(), Step.Status.DONE
        except VendorError as e:
            step.status, step.http_status = Step.Status.FAILED, e.status
            step.vendor_code, step.vendor_error_id, step.vendor_request_id = e.code, e.error_id, e.request_id
            step.detail = {"error": str(e), "transient": is_transient(e)}
        except StepFailed as e:
            step.status, step.detail = Step.Status.FAILED, {"error": str(e), **e.detail}
    step.attempts += len(tries)  # a step that needed no call (already deactivated) made no try
    step.vendor_request_id = step.vendor_request_id or next((t.request_id for t in reversed(tries) if t.request_id), "")
    step.finished_at = timezone.now()
    if step.status == Step.Status.FAILED:
        step.failures = [
            *step.failures,
            {
                "at": step.finished_at.isoformat(),
                "http_tries": len(tries),
                "http_status": step.http_status,
                "vendor_code": step.vendor_code,
                "vendor_error_id": step.vendor_error_id,
                "vendor_request_id": step.vendor_request_id,
                "error": step.detail.get("error", ""),
            },
        ]


def record(case: Case, kind: str, steps: list[Step]) -> None:
    """Save the steps' outcomes with one audit event each, in one transaction."""
    service = "jira" if kind == Step.Kind.FILE_TICKET else "okta"
    with transaction.atomic():
        for step in steps:  # one plain UPDATE each: bulk_update's CASE expressions cost more to build
            step.save(update_fields=STEP_RESULT_FIELDS)
        AuditEvent.record_many(
            [
                AuditEvent.entry(
                    f"{service}.{kind}.{step.status}", actor=ACTOR, case=case, obj=step, after=step.as_dict()
                )
                for step in steps
            ]
        )


def leave_alone(case: Case, groups: list[dict]) -> None:
    """Record the memberships Okta does not let us remove (BUILT_IN, APP_GROUP), once each."""
    with transaction.atomic():
        noted = set(
            Step.objects.filter(
                case=case, kind=Step.Kind.REMOVE_GROUP, target__in=[g["id"] for g in groups]
            ).values_list("target", flat=True)
        )
        steps = [
            Step(
                case=case,
                kind=Step.Kind.REMOVE_GROUP,
                target=group["id"],
                target_name=group["name"][:TARGET_NAME_LENGTH],
                status=Step.Status.SKIPPED,
                detail={
                    "type": group["type"],
                    "reason": group["reason"],
                    "manual_follow_up": group["type"] == "APP_GROUP",
                },
                finished_at=timezone.now(),
            )
            for group in groups
            if group["id"] not in noted
        ]
        Step.objects.bulk_create(steps)
        AuditEvent.record_many(
            [AuditEvent.entry("okta.group_not_removable", actor=ACTOR, case=case, obj=s, after=s.detail) for s in steps]
        )
