"""Checking the whole audit chain when someone asks on the page: in the background, one check at a time.

A full walk takes seconds on a large log (8 s at 300,000 events), too long for a request and too
costly to let a link start; the page POSTs, a worker walks the chain, the page shows it running and
then its result. The daily `verify_audit_log` command walks it in the foreground, as before.
"""

from __future__ import annotations

import logging
from typing import Any

from django_q.tasks import async_task

from offboarding.alerts import send_alert
from offboarding.models import Actor, AuditCheck
from offboarding.request_id import current_request_id
from offboarding.request_id import request_id as under_request_id

log = logging.getLogger(__name__)


class AlreadyRunning(Exception):
    """A check is running; a second one would only repeat it."""


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
    """The worker's part: walk the chain, keep the result, alert when it is broken."""
    with under_request_id(request_id or None):
        check = AuditCheck.objects.get(pk=check_id)
        check.carry_out()
        if check.intact is False:
            send_alert("The audit log is NOT intact", check.message)
