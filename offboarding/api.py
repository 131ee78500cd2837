"""Workday's push: POST /api/workday/events, its outbound notification of a termination.

Signed with a shared secret: `X-Workday-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "t." + body>`.
A bad signature, a stale timestamp, a replay or an oversized body is refused, audited, and syncs nothing.
A good one syncs just that worker at once; a rule that fires for an immediate termination enqueues the
revocation as the decision commits.

Anyone can send a refused push, so refusals must not grow the audit log one event each: per source
address and reason there is one `push.refused` event per interval, at its first refusal, whose `count`
is every such refusal since the previous event (the rest are counted in the cache, accounts/ratelimit.py).
An address refused more than WORKDAY_PUSH_REFUSALS_PER_ADDRESS times in an interval is answered 429 for
the rest of it. A push that passes the signature check always goes through, even from such an address:
the address may be a proxy shared with Workday, and the check costs less than the refusal.
"""

import hashlib
import hmac
import json
import time
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts import ratelimit
from accounts.roles import no_role_required
from offboarding import sync
from offboarding.clients.errors import VendorError
from offboarding.models import Actor, AuditEvent, PushReceipt

SIGNATURE_HEADER = "HTTP_X_WORKDAY_SIGNATURE"
MAX_BODY = 16 * 1024
ACTOR = Actor.system("workday_push")
# How long the running count of one address's refusals for one reason is kept between refusals.
REFUSAL_COUNT_KEPT = 24 * 3600


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
        return refuse(request, str(e), e.status, str(e))
    except (ValueError, KeyError, TypeError):
        return refuse(request, "not an event with an employee_id", 400, "expected JSON with an employee_id")

    AuditEvent.record("push.received", actor=ACTOR, obj=employee_id, after={"event": event.get("event", "")})
    try:
        result = sync.sync_workday(employee_id=employee_id, actor=ACTOR)
    except VendorError as e:
        # Workday is unreachable: the regular sync will see this worker; say so, so Workday retries.
        return JsonResponse({"error": f"could not read the report: {e.summary}"}, status=503)
    return JsonResponse({"created": result.created, "updated": result.updated, "cancelled": result.cancelled})


def refuse(request, reason: str, status: int, message: str) -> JsonResponse:
    """Answer a refused push; audited once per address, reason and interval; 429 past the address's limit."""
    address = request.META.get("REMOTE_ADDR", "")
    interval = settings.WORKDAY_PUSH_REFUSALS_INTERVAL_SECONDS
    refused = ratelimit.hit(f"push-refused:{address}", interval)
    audit_refusal(address, reason, interval)
    if refused > settings.WORKDAY_PUSH_REFUSALS_PER_ADDRESS:
        response = JsonResponse({"error": "too many refused notifications from this address; try again later"})
        response.status_code = 429
        response["Retry-After"] = str(interval)
        return response
    return JsonResponse({"error": message}, status=status)


def audit_refusal(address: str, reason: str, interval: int) -> None:
    """One `push.refused` event at the first refusal of an interval, counting every refusal since the last."""
    key = f"push-refused:{address}:{reason.replace(' ', '-')}"
    total = ratelimit.hit(f"{key}:total", REFUSAL_COUNT_KEPT)
    cache.touch(f"{key}:total", REFUSAL_COUNT_KEPT)
    if not cache.add(f"{key}:interval", True, interval):
        return  # this interval's event is in the log; the next one will count this refusal
    recorded = cache.get(f"{key}:recorded", 0)
    cache.set(f"{key}:recorded", total, REFUSAL_COUNT_KEPT)
    AuditEvent.record(
        "push.refused",
        actor=ACTOR,
        after={"reason": reason, "remote_addr": address, "count": total - recorded, "interval_seconds": interval},
    )
