"""What every page may show: an alert email that could not be sent (read only when the page shows it)."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from offboarding import health
from offboarding.models import AlertDelivery


def undelivered_alert(request: HttpRequest) -> dict:
    # Lazy: only approvers' and admins' pages look, so the others pay no query.
    return {
        "undelivered_alert": SimpleLazyObject(AlertDelivery.failing),
        "vendor_problems": SimpleLazyObject(health.problems),
    }
