"""Workday's push: POST /api/workday/events, its outbound notification of a termination.

Signed with a shared secret: `X-Workday-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "t." + body>`.
A bad signature, a stale timestamp, a replay or an oversized body is refused, audited, and syncs nothing.
A good one syncs just that worker at once; a rule that fires for an immediate termination enqueues the
revocation as the decision commits.
"""

import hashlib
import hmac
import json
import time
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import IntegrityError, transaction
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts.roles import no_role_required
from offboarding import sync
from offboarding.clients.errors import VendorError
from offboarding.models import Actor, AuditEvent, PushReceipt

SIGNATURE_HEADER = "HTTP_X_WORKDAY_SIGNATURE"
MAX_BODY = 16 * 1024
ACTOR = Actor.system("workday_push")


class Refused(Exception):
    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.status = status


def verified_body(request) -> bytes:
    """The body, once its signature, freshness and novelty are proven; else Refused."""
    if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_BODY:
        raise Refused("body too large", 413)
    body = request.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        raise Refused("body too large", 413)
    secret = settings.WORKDAY_PUSH_SECRET
    if not secret:
        raise Refused("push notifications are not configured (WORKDAY_PUSH_SECRET)")
    fields = dict(part.split("=", 1) for part in request.META.get(SIGNATURE_HEADER, "").split(",") if "=" in part)
    try:
        timestamp, signature = int(fields["t"]), fields["v1"]
    except (KeyError, ValueError) as e:
        raise Refused("missing or malformed signature header") from e
    if abs(time.time() - timestamp) > settings.WORKDAY_PUSH_TOLERANCE_SECONDS:
        raise Refused("stale timestamp")
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise Refused("bad signature")
    fresh_since = timezone.now() - timedelta(seconds=2 * settings.WORKDAY_PUSH_TOLERANCE_SECONDS)
    PushReceipt.objects.filter(received_at__lt=fresh_since).delete()
    try:
        with transaction.atomic():
            PushReceipt.objects.create(signature=signature)
    except IntegrityError as e:
        raise Refused("replayed notification") from e
    return body


@login_not_required
@no_role_required
@csrf_exempt
@require_POST
def workday_event(request):
    try:
        body = verified_body(request)
        event = json.loads(body)
        employee_id = str(event["employee_id"]).strip()
        if not employee_id:
            raise ValueError("empty employee_id")
    except Refused as e:
        AuditEvent.record(
            "push.refused", actor=ACTOR, after={"reason": str(e), "remote_addr": request.META.get("REMOTE_ADDR")}
        )
        return JsonResponse({"error": str(e)}, status=e.status)
    except (ValueError, KeyError, TypeError):
        AuditEvent.record("push.refused", actor=ACTOR, after={"reason": "not an event with an employee_id"})
        return JsonResponse({"error": "expected JSON with an employee_id"}, status=400)

    AuditEvent.record("push.received", actor=ACTOR, obj=employee_id, after={"event": event.get("event", "")})
    try:
        result = sync.sync_workday(employee_id=employee_id, actor=ACTOR)
    except VendorError as e:
        # Workday is unreachable: the regular sync will see this worker; say so, so Workday retries.
        return JsonResponse({"error": f"could not read the report: {e.summary}"}, status=503)
    return JsonResponse({"created": result.created, "updated": result.updated, "cancelled": result.cancelled})
