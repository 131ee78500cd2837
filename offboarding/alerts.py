"""Alerts: an email to the people on call when something needs a human now."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail

log = logging.getLogger(__name__)


def send_alert(subject: str, body: str) -> None:
    """Email the configured alert list; a broken mail server must not break the caller."""
    if not settings.ALERT_EMAILS:
        return
    try:
        send_mail(f"[Offboarding] {subject}", body, None, settings.ALERT_EMAILS)
    except Exception:
        log.exception("Could not send the alert %r", subject)
