"""The evidence of one case: everything an auditor needs about it, as plain data (attached to its ticket, exported)."""

from __future__ import annotations

from typing import Any

from offboarding.identity import follow_ups, plan_access
from offboarding.models import AuditEvent, Case, Step


def evidence_of(case: Case) -> dict[str, Any]:
    """Everything an auditor needs about one case, as plain data."""
    t = case.termination
    steps = list(case.steps.all())
    snapshot = next((s.detail for s in steps if s.kind == Step.Kind.SNAPSHOT), {})
    verification = next((s.detail for s in steps if s.kind == Step.Kind.VERIFY), {})
    return {
        "case": {
            "id": case.pk,
            "kind": case.kind,
            "state": case.state,
            "url": case.site_url,
            "jira_key": case.jira_key,
            "okta_user_id": case.okta_user_id,
            "okta_login": case.okta_login,
            "identity": case.identity,
            "identity_note": case.identity_note,
            "protected": case.protected_reason,
            "effective_at": case.effective_at,
            "started_at": case.started_at,
            "revoked_at": case.revoked_at,
            "finished_at": case.finished_at,
            "time_to_revoke_seconds": case.time_to_revoke.total_seconds() if case.time_to_revoke else None,
            "not_done": case.failure_summary,
            "restored_at": case.restored_at,
        },
        "workday": {"employee_id": t.employee_id, "as_received": t.raw} if t else None,
        "decision": {
            "by": str(case.decided_by or ""),
            "rule": case.rule_snapshot or None,
            "at": case.decided_at,
            "reason": case.decision_reason,
            "approvers": [
                {"user": a.user.get_username(), "at": a.at, "reason": a.reason}
                for a in case.approvals.select_related("user")
            ],
            "requested_by": str(case.requested_by or ""),
            "request_reason": case.request_reason,
        },
        "plan_at_review": case.plan,
        # Everything else the person could reach through Okta (defaults for plans older than these keys),
        # and what Okta does not undo: work for a person, outside this product's revocation.
        "access": plan_access(case.plan or {}),
        "not_undone_by_okta": follow_ups(case.plan or {}),
        "groups_before": snapshot.get("groups", []),
        "groups_added_since_review": snapshot.get("added_since_review", []),
        "steps": [s.as_dict() for s in steps],
        "verification": verification,
        # What Okta's deactivation does not undo, and whether people have done it yet.
        "follow_ups": [f.as_dict() for f in case.follow_ups.all()],
        "audit_events": [
            {"seq": e.seq, "at": e.at, "actor": e.actor_name, "action": e.action, "after": e.after, "hash": e.hash}
            for e in case.events.all()
        ],
    }


def decision_check(case: Case) -> dict[str, Any]:
    """The decision as shown held to the audit events that recorded it: which events, and what differs.

    The case's row can be changed by anyone who can write to the database; the events cannot be
    without the audit key, so a decision that differs from its events was changed behind the log's back.
    """
    recorded = AuditEvent.recorded_decisions(AuditEvent.objects.filter(case=case)).get(case.pk, {})
    return {
        "recorded": bool(recorded),
        "events": sorted({event.seq for _, event in recorded.values()}),
        "mismatches": AuditEvent.decision_mismatches(case, recorded),
    }
