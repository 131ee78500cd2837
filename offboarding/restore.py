"""Restore: give back what a revocation took, once two people approved (a rescind, a mistake).

Claimed like a revocation, with a lease, and resumable by the same step engine. The order is Okta's:
reactivate first (Okta refuses group and app assignments to a deactivated user), then take the person
off the exclusions of the group rules whose groups they were removed from (so the rule manages them
again), re-add the groups, then re-assign the apps they had directly (group-assigned apps come back
with the groups; inactive apps kept their assignments). What Okta refused is named in the result.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from offboarding.alerts import send_alert
from offboarding.clients.okta import OktaClient
from offboarding.follow_ups import RESTORED, close_after_restore, comment_on_sub_task, open_for
from offboarding.identity import plan_access, rule_group_follow_up
from offboarding.models import Case, Step
from offboarding.request_id import current_request_id
from offboarding.request_id import request_id as under_request_id
from offboarding.steps import ACTOR, StepFailed, enqueue_case_job, lease_length, new_lease_owner, perform, perform_many
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
    user_id = case.okta_user_id
    access = plan_access(case.plan or {})
    # 1. Reactivate first: Okta answers a group or app assignment to a deactivated user as "not found".
    reactivated = perform(
        case,
        None,
        Step.Kind.REACTIVATE,
        lambda: {"user": okta.reactivate(user_id).as_dict()},
        target=user_id,
    )
    removed = list(case.steps.filter(kind=Step.Kind.REMOVE_GROUP, status=Step.Status.DONE))
    removed_ids = {step.target for step in removed}
    # 2. Rule-managed memberships: off the rule's exclusions (where Okta had put them on removal).
    rules = {}
    for rule in access["rule_groups"]:
        if rule.get("group_id") in removed_ids and rule.get("rule_id"):
            rules.setdefault(rule["rule_id"], rule)
    rule_steps = perform_many(
        case,
        None,
        Step.Kind.RESTORE_RULE,
        [
            (rid, rule.get("rule_name", ""), lambda rid=rid: _clear_exclusion(okta, rid, user_id))
            for rid, rule in rules.items()
        ],
    )
    # 3. The groups removed, then 4. the apps assigned directly (to active apps: Okta removed those).
    group_steps = perform_many(
        case,
        None,
        Step.Kind.RESTORE_GROUP,
        [
            (
                step.target,
                step.target_name,
                lambda gid=step.target: okta.add_to_group(gid, user_id) or {"added": True},
            )
            for step in removed
        ],
    )
    app_steps = perform_many(
        case,
        None,
        Step.Kind.RESTORE_APP,
        [
            (app["id"], app.get("label", ""), lambda aid=app["id"]: okta.assign_app(aid, user_id) or {"assigned": True})
            for app in access["apps"]
            if app.get("via") == "direct" and app.get("status") == "ACTIVE" and app.get("id")
        ],
    )
    results = [reactivated, *rule_steps, *group_steps, *app_steps]
    follow_ups = [
        rule_group_follow_up(rules[s.target] | {"why": s.detail.get("error", "")})
        for s in rule_steps
        if s.status == Step.Status.FAILED
    ]
    failed = [s for s in results if s.status == Step.Status.FAILED]
    with transaction.atomic():
        case.refresh_from_db()
        case.lease_owner, case.lease_until = "", None
        if not failed:
            case.restored_at, case.attention_reason, case.attention_after_run = timezone.now(), "", ""
            moot = close_after_restore(case)
        else:
            case.attention_reason = "Restore incomplete, Okta refused: " + "; ".join(
                f"{s} — {s.detail.get('error')}" for s in failed
            )
            if follow_ups:
                case.attention_reason += " To do by hand: " + "; ".join(f["what"] for f in follow_ups) + "."
        # A rule exclusion Okta will not clear is work for a person, tracked as the revocation's are.
        open_for(case, follow_ups)
        case.move_to(
            Case.State.NEEDS_ATTENTION if failed else Case.State.COMPLETED,
            ACTOR,
            "case.restore_failed" if failed else "case.restored",
            after={
                "order": ["reactivate", "rule exclusions", "groups", "apps"],
                "groups_restored": [s.target_name for s in group_steps if s.status == Step.Status.DONE],
                "apps_restored": [s.target_name for s in app_steps if s.status == Step.Status.DONE],
                "rules_cleared": [s.target_name for s in rule_steps if s.status == Step.Status.DONE],
                "refused": [
                    {"step": s.kind, "target": s.target, "name": s.target_name, "error": s.detail.get("error", "")}
                    for s in failed
                ],
                "follow_ups": follow_ups,
                "not_restored": case.attention_reason,
            },
        )
    approvers = f"requested by {case.restore_requested_by}, approved by {case.restore_approved_by}"
    comment_on_ticket(
        case,
        f"Access restored ({approvers}): the Okta user is {reactivated.detail['user']['status']} again; "
        f"{len(group_steps)} group memberships re-added, {len(app_steps)} app assignments re-made, "
        f"{len(rule_steps)} group rule exclusions cleared."
        if not failed
        else f"Restore incomplete ({approvers}): {case.attention_reason}",
    )
    for follow_up in [] if failed else moot:
        comment_on_sub_task(follow_up, RESTORED)
    if failed:
        send_alert(f"Case {case.pk}: restore incomplete", case.attention_reason)
    return "restored" if not failed else "restore incomplete"


def _clear_exclusion(okta: OktaClient, rule_id: str, user_id: str) -> dict:
    """Take the person off the rule's exclusions; a rule Okta will not apply (INVALID) is a StepFailed."""
    answer = okta.clear_rule_exclusion(rule_id, user_id)
    if answer not in ("exclusion cleared", "not excluded"):
        raise StepFailed(answer, {"answer": answer})
    return {"answer": answer}
