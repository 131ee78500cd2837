"""The audit log's integrity: its anchors outside the database, and the check that holds the log to them.

Each event is sealed with HMAC-SHA-256 under a key the database does not hold (`AuditEvent.compute_hash`),
so nobody without the key can rewrite an event and re-seal it. What the key alone cannot show is events
removed from the end (with the head moved back), or the whole log rewritten by someone holding the key:
for that the head is written where the database's administrator cannot reach it, in Jira:

- each case's ticket says, when it is filed and in every comment, the seal of the case's last event;
- every AUDIT_ANCHOR_EVERY_MINUTES the chain head (its event, seal, count and where keyed sealing began)
  is a comment on a Jira issue of its own, labelled `offboarding-<OFFBOARDING_INSTALL_ID>-audit-anchor`, and a log line.

The check walks the chain, reads every anchor back from Jira and compares them, and holds each case's
decision to the events that recorded it. It runs in a worker, one at a time; its result is kept
(AuditCheck) and is itself an audit event listing the anchors it compared. A full walk takes seconds
on a large log, too long for a request: the page POSTs, a worker checks, the page shows the result.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django_q.tasks import async_task

from offboarding.alerts import send_alert
from offboarding.clients import adf
from offboarding.clients.errors import VendorError
from offboarding.clients.jira import JiraClient
from offboarding.models import Actor, AuditChainHead, AuditCheck, AuditEvent, Case
from offboarding.request_id import current_request_id
from offboarding.request_id import request_id as under_request_id

log = logging.getLogger(__name__)
# One line per periodic anchor, for the log stream (which the database's administrator does not hold either).
anchor_log = logging.getLogger("offboarding.audit.anchor")

ANCHOR_PATTERN = re.compile(r"Audit anchor: #(\d+) ([0-9a-f]{64})(?: of (\d+) events, keyed from #(\d+))?")
ANCHORER = Actor.system("anchor_audit_log")
# The result event lists at most this many agreeing anchors (the newest), and every contradicting one.
ANCHORS_LISTED = 100


class AlreadyRunning(Exception):
    """A check is running; a second one would only repeat it."""


@dataclass(frozen=True)
class Anchor:
    """A chain head written outside the database: where, which event, its seal (and, periodically, more)."""

    where: str
    seq: int
    hash: str
    count: int | None = None
    keyed_from: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"where": self.where, "seq": self.seq, "hash": self.hash}


# --- Writing anchors -------------------------------------------------------------------------------------


def anchor_label() -> str:
    """The audit-anchor issue's label: this installation's own, for another (staging, a restored copy) filing
    into the same Jira project anchors another chain, which must never be read as this one's."""
    return f"offboarding-{settings.OFFBOARDING_INSTALL_ID}-audit-anchor"


def case_ticket_label() -> str:
    """The label every case ticket of this installation carries (and no other installation's)."""
    return f"offboarding-{settings.OFFBOARDING_INSTALL_ID}"


def anchor_text(seq: int, seal: str, count: int | None = None, keyed_from: int | None = None) -> str:
    text = f"Audit anchor: #{seq} {seal}"
    return text + (f" of {count} events, keyed from #{keyed_from}" if count is not None else "")


def case_anchor(case: Case) -> str:
    """The line a case's ticket carries: the seal of the case's last event as of now ("" when it has none)."""
    last = AuditEvent.objects.filter(case=case).order_by("-seq").values_list("seq", "hash").first()
    return anchor_text(*last) if last else ""


def anchor_issue(jira: JiraClient) -> str:
    """The key of the Jira issue the periodic anchors go on: AUDIT_ANCHOR_ISSUE, or the one labelled so
    (found in Jira, not in the database), created on first use."""
    if settings.AUDIT_ANCHOR_ISSUE:
        return settings.AUDIT_ANCHOR_ISSUE
    found = jira.find_issues_by_label(anchor_label())
    if found:
        return found[0].key
    description = adf.doc(
        adf.paragraph(
            "Offboarding writes the head of its audit log here every "
            f"{settings.AUDIT_ANCHOR_EVERY_MINUTES} minutes, so that the log can be checked against a record its "
            "database's administrator does not control. Do not edit or delete these comments."
        )
    )
    return jira.create_issue("Offboarding audit log anchors", description, [anchor_label()]).key


def anchor_chain_head(jira: JiraClient | None = None) -> Anchor:
    """Write the chain head on the anchor issue and in the log; a failure is audited, alerted and raised."""
    head = AuditChainHead.objects.filter(pk=1).first() or AuditChainHead(pk=1)
    text = anchor_text(head.last_seq, head.last_hash, head.last_seq, head.keyed_from_seq)
    try:
        jira = jira or JiraClient.from_settings()
        key = anchor_issue(jira)
        comment = jira.add_comment(key, adf.doc(adf.paragraph(text)))
    except VendorError as e:
        AuditEvent.record("audit.anchor_failed", actor=ANCHORER, after={"anchor": text, "error": str(e)})
        send_alert("The audit log could not be anchored in Jira", f"{text}\n\nJira answered: {e}")
        raise
    anchor = Anchor(f"{key} comment {comment}", head.last_seq, head.last_hash, head.last_seq, head.keyed_from_seq)
    anchor_log.info(
        "audit.anchor %s",
        json.dumps(
            {
                "seq": anchor.seq,
                "hash": anchor.hash,
                "count": anchor.count,
                "keyed_from": anchor.keyed_from,
                "where": anchor.where,
            }
        ),
    )
    AuditEvent.record("audit.anchored", actor=ANCHORER, after=anchor.as_dict())
    return anchor


# --- Reading them back -------------------------------------------------------------------------------------


def anchors_in(where: str, document: Any) -> list[Anchor]:
    return [
        Anchor(
            where,
            int(m[1]),
            m[2],
            int(m[3]) if m[3] else None,
            int(m[4]) if m[4] else None,
        )
        for m in ANCHOR_PATTERN.finditer(adf.plain_text(document))
    ]


def read_anchors(jira: JiraClient) -> list[Anchor]:
    """Every anchor in Jira: the anchor issue's comments and every case ticket's description and comments."""
    anchors: list[Anchor] = []
    key = settings.AUDIT_ANCHOR_ISSUE or next((i.key for i in jira.find_issues_by_label(anchor_label())), "")
    if key:
        for comment in jira.list_comments(key):
            anchors += anchors_in(f"{key} comment {comment.id}", comment.body)
    for issue in jira.find_issues_by_label(case_ticket_label(), fields="description,comment"):
        anchors += anchors_in(f"{issue.key} description", issue.fields.get("description"))
        comments = (issue.fields.get("comment") or {}).get("comments") or []
        for comment in comments:
            if isinstance(comment, dict):
                anchors += anchors_in(f"{issue.key} comment {comment.get('id')}", comment.get("body"))
    return sorted(anchors, key=lambda a: (a.seq, a.where))


def contradictions(anchors: list[Anchor]) -> list[str]:
    """What the database says against each anchor, in order of the events they name."""
    head = AuditChainHead.objects.filter(pk=1).first() or AuditChainHead(pk=1)
    last_seq = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    wanted = sorted({a.seq for a in anchors if a.seq <= last_seq})
    seals: dict[int, str] = {}
    for i in range(0, len(wanted), 500):
        seals |= dict(AuditEvent.objects.filter(seq__in=wanted[i : i + 500]).values_list("seq", "hash"))
    found, agreed = [], 0
    for anchor in anchors:
        if anchor.seq > last_seq:
            found.append(
                f"events #{last_seq + 1} to #{anchor.seq} are missing: {anchor.where} anchored the chain at "
                f"#{anchor.seq}, the database ends at #{last_seq} (removed from the end)"
            )
        elif anchor.seq and seals.get(anchor.seq) != anchor.hash:
            found.append(
                f"event #{anchor.seq} contradicts the anchor on {anchor.where}: the chain was rewritten at or before "
                f"#{anchor.seq}" + (f", after #{agreed}" if agreed else "")
            )
        else:
            agreed = max(agreed, anchor.seq)
        if anchor.keyed_from is not None and anchor.keyed_from != head.keyed_from_seq:
            found.append(
                f"the database says events before #{head.keyed_from_seq} were sealed without a key, "
                f"the anchor on {anchor.where} says #{anchor.keyed_from}"
            )
    return found


# --- Decisions ---------------------------------------------------------------------------------------


def decision_mismatches() -> tuple[int, list[str]]:
    """(cases whose decision was checked, what differs from the events that recorded it)."""
    recorded = AuditEvent.recorded_decisions()
    found: list[str] = []
    ids = sorted(recorded)
    for i in range(0, len(ids), 500):
        for case in Case.objects.filter(pk__in=ids[i : i + 500]).select_related("decided_by").order_by("pk"):
            found += AuditEvent.decision_mismatches(case, recorded[case.pk])
    return len(ids), found


# --- The check ---------------------------------------------------------------------------------------


def verify(jira: JiraClient | None = None) -> tuple[bool | None, str, dict[str, Any]]:
    """(intact, what was found, what was compared): the chain walked, held to its anchors in Jira and to
    the decisions' records. None: the anchors could not be read, so the chain is not vouched for."""
    intact, message = AuditEvent.verify_chain()
    checked, mismatched = decision_mismatches()
    details: dict[str, Any] = {"chain": message, "decisions_checked": checked, "decision_mismatches": mismatched}
    try:
        anchors = read_anchors(jira or JiraClient.from_settings())
    except VendorError as e:
        details["anchors_error"] = str(e)
        findings = [] if intact else [message]
        findings += mismatched
        findings.append(f"the anchors could not be read from Jira ({e}): the chain was NOT compared to them")
        return (False if not intact or mismatched else None), "; ".join(findings), details
    contradicted = contradictions(anchors)
    details |= {
        "anchors_compared": len(anchors),
        "anchors_contradicted": contradicted,
        "anchors": [a.as_dict() for a in anchors[-ANCHORS_LISTED:]],
    }
    findings = ([] if intact else [message]) + contradicted + mismatched
    if findings:
        return False, "; ".join(findings), details
    return True, "; ".join([message, agree(len(anchors)), *matched(checked)]), details


def agree(anchors: int) -> str:
    if not anchors:
        return "no anchor in Jira yet"
    return "the anchor in Jira agrees" if anchors == 1 else f"the {anchors} anchors in Jira agree"


def matched(cases: int) -> list[str]:
    if not cases:
        return []
    if cases == 1:
        return ["1 case decision matches the events that recorded it"]
    return [f"{cases} case decisions match the events that recorded them"]


def carry_out(check: AuditCheck, jira: JiraClient | None = None) -> AuditCheck:
    """Do the check `check` stands for (once: one already finished is left alone), keep its result as the
    check and as an audit event, and alert when the log is not intact or could not be held to its anchors."""
    if not AuditCheck.objects.filter(pk=check.pk, running=True).exists():
        return check  # delivered again after it ended
    try:
        intact, message, details = verify(jira)
    except Exception as e:
        check.end(None, f"did not finish: {type(e).__name__}")
        raise
    check.end(intact, message)
    action = {True: "audit.verified", False: "audit.verification_failed", None: "audit.verification_incomplete"}
    try:
        with transaction.atomic():
            AuditEvent.record(
                action[intact],
                actor=Actor(check.actor_name, check.actor),
                obj=check,
                after={"intact": intact, "message": message, **details},
            )
    except IntegrityError:
        # The end of the chain is too damaged to append to (a forged event sits where the next one goes):
        # the check is kept all the same (AuditCheck), and says what it found.
        log.exception("The result of audit check %s could not be appended to the damaged chain", check.pk)
    if intact is not True:
        send_alert("The audit log is NOT intact" if intact is False else "The audit log could not be checked", message)
    return check


def check_now(actor: Actor | Any, jira: JiraClient | None = None) -> AuditCheck:
    """The check in this process (the command); AlreadyRunning when one runs."""
    check = AuditCheck.begin(actor)
    if check is None:
        raise AlreadyRunning("A check of the whole chain is already running; its result will show on the page.")
    return carry_out(check, jira)


def start_check(actor: Actor | Any) -> AuditCheck:
    """Mark a check running and hand it to a worker; AlreadyRunning when one runs."""
    check = AuditCheck.begin(actor)
    if check is None:
        raise AlreadyRunning("A check of the whole chain is already running; its result will show here.")
    try:
        async_task(
            "offboarding.integrity.run_check",
            check.pk,
            request_id=current_request_id(),
            task_name=f"audit-check-{check.pk}",
            group="audit",
        )
    except Exception as e:  # the broker is down: the check never ran, and says so
        log.exception("Could not hand the audit check to a worker")
        check.end(None, f"could not be started: the task queue did not answer ({type(e).__name__})")
    return check


def run_check(check_id: int, request_id: str = "") -> None:
    """The worker's part of `start_check`."""
    with under_request_id(request_id or None):
        carry_out(AuditCheck.objects.get(pk=check_id))
