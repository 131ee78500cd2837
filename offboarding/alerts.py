"""Alerts: an email to the people on call when something needs a human now.

A subject is one line (its text comes from Workday names and vendor answers, and a line break in a
header makes Django refuse the whole message), and an alert that cannot be sent is itself visible:
recorded on the one AlertDelivery row, shown to approvers and admins on every page, and reported by
/healthz (503, `alerts`) until an alert is sent again.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail

from offboarding.models import AlertDelivery

log = logging.getLogger(__name__)

# Long enough for a case number and a name; mail clients cut subjects far shorter anyway.
SUBJECT_LENGTH = 150


def one_line(text: str, limit: int = SUBJECT_LENGTH) -> str:
    """`text` with every run of whitespace (line breaks included) as one space, cut to `limit` characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def send_alert(subject: str, body: str) -> None:
    """Email the configured alert list; a broken mail server must not break the caller, and is recorded."""
    if not settings.ALERT_EMAILS:
        return
    subject = one_line(f"[Offboarding] {subject}")
    try:
        send_mail(subject, body, None, settings.ALERT_EMAILS)
    except Exception as e:
        log.exception("Could not send the alert %r", subject)
        AlertDelivery.failed(subject, f"{type(e).__name__}: {e}")
    else:
        AlertDelivery.delivered()
