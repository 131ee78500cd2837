"""Whether Workday is being read and every vendor takes our credentials, for the people on call.

The Workday sync (poller, scheduled sync and pushes alike) records each outcome on the workday
VendorHealth row. SYNC_ALERT_AFTER_FAILURES failed syncs in a row, or no good sync for
SYNC_ALERT_AFTER_MINUTES, is an outage: alerted once, shown on /healthz (503, "Workday sync") and as
a banner to approvers and admins, until a sync succeeds, which clears it, audits and says so.

A 401 from Workday, Okta or Jira, or Okta refusing the service app a token, is alerted at once as
"credentials rejected" (once per outage), shown the same way, and cleared by the next answer that vendor
gives that is not a refusal.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from offboarding.alerts import send_alert
from offboarding.clients import transport
from offboarding.clients.errors import AuthenticationFailed, VendorError
from offboarding.models import Actor, AuditEvent, VendorHealth

log = logging.getLogger(__name__)

HEALTH = Actor.system("health")
VENDORS = {"workday": "Workday", "okta": "Okta", "jira": "Jira"}
CREDENTIAL_HINTS = {
    "workday": "check WORKDAY_USERNAME / WORKDAY_PASSWORD (the integration system user's password may have expired)",
    "okta": "check OKTA_API_TOKEN: an Okta API token expires after 30 days unused, or with its owner's account",
    "jira": "check JIRA_EMAIL / JIRA_API_TOKEN (revoked, expired, or its owner left)",
}
SERVICE_APP_HINT = (
    "check OKTA_CLIENT_ID / OKTA_PRIVATE_KEY / OKTA_SCOPES / OKTA_DPOP (the service app's key, its granted scopes, "
    "and whether it requires DPoP)"
)


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "never"


def _row(vendor: str) -> VendorHealth:
    return VendorHealth.objects.get_or_create(vendor=vendor)[0]


# --- The Workday sync --------------------------------------------------------------------


def sync_succeeded(now: datetime | None = None) -> None:
    """A sync read the report: the run of failures ends; an alerted outage is cleared, audited and said."""
    now = now or timezone.now()
    row = _row("workday")
    was_alerted = row.outage_alerted_at
    VendorHealth.objects.filter(pk=row.pk).update(
        last_success_at=now, failures_in_a_row=0, failing_since=None, last_failure="", outage_alerted_at=None
    )
    if was_alerted:
        with transaction.atomic():
            AuditEvent.record(
                "workday.sync_recovered",
                actor=HEALTH,
                obj="Workday sync",
                before={"failing_since": row.failing_since, "failures_in_a_row": row.failures_in_a_row},
                after={"last_success_at": now},
            )
        send_alert(
            "Workday sync works again",
            f"The Workday terminations report was read at {now:%Y-%m-%d %H:%M} UTC; the last good sync before "
            f"it was {_when(row.last_success_at)}, and {row.failures_in_a_row} sync(s) failed in between.",
        )


def sync_failed(error: Exception, now: datetime | None = None) -> None:
    """A sync could not read (or refused) the report: counted, then the outage rules are judged."""
    now = now or timezone.now()
    row = _row("workday")
    VendorHealth.objects.filter(pk=row.pk).update(
        failures_in_a_row=row.failures_in_a_row + 1,
        failing_since=row.failing_since or now,
        last_failure=str(error)[:500],
    )
    check_sync(now)


@dataclass(frozen=True)
class SyncOutage:
    last_success_at: datetime | None
    failures_in_a_row: int
    last_failure: str

    @property
    def message(self) -> str:
        last = _when(self.last_success_at)
        failures = f"{self.failures_in_a_row} failed in a row" if self.failures_in_a_row else "no sync has run"
        text = f"Workday sync failing: last good sync {last}; {failures}"
        return f"{text} ({self.last_failure})" if self.last_failure else text


def sync_outage(now: datetime | None = None) -> SyncOutage | None:
    """The Workday sync's outage now, if it is in one."""
    now = now or timezone.now()
    row = VendorHealth.objects.filter(vendor="workday").first()
    if row is None:
        return None
    too_many = row.failures_in_a_row >= settings.SYNC_ALERT_AFTER_FAILURES
    since = row.last_success_at or row.failing_since
    too_long = since is not None and now - since >= timedelta(minutes=settings.SYNC_ALERT_AFTER_MINUTES)
    if not (too_many or too_long):
        return None
    return SyncOutage(row.last_success_at, row.failures_in_a_row, row.last_failure)


def check_sync(now: datetime | None = None) -> SyncOutage | None:
    """Judge the outage rules now; the first time an outage is found it is audited and alerted."""
    now = now or timezone.now()
    outage = sync_outage(now)
    if outage is None:
        return None
    # Only the process that marks it alerted sends the alert: once per outage, not once per poll.
    if VendorHealth.objects.filter(vendor="workday", outage_alerted_at=None).update(outage_alerted_at=now):
        with transaction.atomic():
            AuditEvent.record(
                "workday.sync_failing",
                actor=HEALTH,
                obj="Workday sync",
                after={"last_success_at": outage.last_success_at, "failures_in_a_row": outage.failures_in_a_row},
            )
        send_alert(
            "Workday sync failing",
            f"{outage.message}.\n\nNew terminations are not being seen. /healthz reports it until a sync succeeds.",
        )
    return outage


# --- Credentials ---------------------------------------------------------------------------

# Per process: when this process last cleared (or found clear) each vendor's rejection, so an answer
# costs a database query at most every CLEAR_CHECK_SECONDS, not on every call.
CLEAR_CHECK_SECONDS = 30.0
_checked_clear: dict[str, float] = {}


def vendor_answered(
    service: str, status: int, error: VendorError | None = None, monotonic: Callable[[], float] = time.monotonic
) -> None:
    """The transport's listener: a 401, or a refused sign-in (Okta's token endpoint says 400 for some), is
    alerted at once (once per outage); another answer clears it."""
    if service not in VENDORS:
        return
    if status == 401 or isinstance(error, AuthenticationFailed):
        _checked_clear.pop(service, None)
        credentials_rejected(service, status, error)
        return
    last = _checked_clear.get(service)
    if last is not None and monotonic() - last < CLEAR_CHECK_SECONDS:
        return
    _checked_clear[service] = monotonic()
    credentials_accepted(service)


def credentials_rejected(
    service: str, status: int = 401, error: VendorError | None = None, now: datetime | None = None
) -> None:
    now = now or timezone.now()
    name = VENDORS[service]
    hint = SERVICE_APP_HINT if service == "okta" and settings.OKTA_CLIENT_ID else CREDENTIAL_HINTS[service]
    _row(service)
    if status == 401 or error is None:
        failure = f"{name} answered 401: credentials rejected; {hint}"
    else:
        # Not a plain 401 (e.g. Okta's 400 invalid_dpop_proof): what the vendor said is the clue.
        failure = f"{name} answered {status} {error.code}: credentials rejected ({error.summary}); {hint}"
    if VendorHealth.objects.filter(vendor=service, credentials_rejected_at=None).update(
        credentials_rejected_at=now, credentials_failure=failure
    ):
        with transaction.atomic():
            AuditEvent.record("vendor.credentials_rejected", actor=HEALTH, obj=name, after={"failure": failure})
        send_alert(f"{name} credentials rejected", f"{failure}.\n\nEvery call to {name} fails until they are fixed.")


def credentials_accepted(service: str) -> None:
    name = VENDORS[service]
    rejected = VendorHealth.objects.filter(vendor=service, credentials_rejected_at__isnull=False)
    # Read before writing: most answers find nothing to clear, and a write from a call made in a worker
    # thread (a sync's lookups) would wait, on SQLite, for the caller's own open transaction to end.
    if not rejected.exists():
        return
    if rejected.update(credentials_rejected_at=None, credentials_failure=""):
        with transaction.atomic():
            AuditEvent.record("vendor.credentials_accepted", actor=HEALTH, obj=name)
        send_alert(f"{name} credentials accepted again", f"{name} answered a call with our credentials again.")


def rejected_credentials() -> list[VendorHealth]:
    return list(VendorHealth.objects.filter(credentials_rejected_at__isnull=False).order_by("vendor"))


def problems(now: datetime | None = None) -> list[str]:
    """What /healthz and the banner say is wrong, one line each."""
    found = []
    if outage := sync_outage(now):
        found.append(outage.message)
    found += [row.credentials_failure for row in rejected_credentials()]
    return found


def listen() -> None:
    """Hear every vendor answer (called once, at start)."""
    if vendor_answered not in transport.answer_listeners:
        transport.answer_listeners.append(vendor_answered)
