"""What a case page shows of Okta now, without taking Okta's budget from the revocations.

A reload of a case page is the cheapest thing to repeat and the least urgent call to make, so:
- an auditor's page (a user with no approver or admin role) shows the stored state and asks Okta nothing;
- a live read is kept OKTA_LIVE_READ_CACHE_SECONDS per case (in Django's cache), so twenty people reloading
  one case make one read;
- each user may make OKTA_LIVE_READS_PER_USER_PER_MINUTE reads a minute;
- a read spends only the part of the shared Okta budget not reserved for revocations
  (OKTA_BUDGET_RESERVED_FOR_REVOCATION, `clients.pacing.PageReads`), and is skipped at once past it.
Skipped or failed, the page says why and shows the plan stored at review.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from accounts import ratelimit
from accounts.roles import ADMINS, APPROVERS, has_role
from offboarding.clients.errors import BudgetReserved, VendorError
from offboarding.clients.okta import OktaClient, shared_pacer
from offboarding.clients.pacing import PageReads
from offboarding.clients.transport import RetryPolicy
from offboarding.models import Case

# A page waits on Okta for a few seconds at most, once: a slow Okta must not make a slow page.
PAGE_OKTA_TIMEOUT = 5.0
AUDITORS_NOTE = "Stored state: auditors' pages make no Okta call."


def page_policy() -> RetryPolicy:
    policy = RetryPolicy.from_settings()
    return dataclasses.replace(
        policy, max_attempts=1, read_timeout=min(policy.read_timeout, PAGE_OKTA_TIMEOUT), max_rate_limit_wait=0
    )


def okta_for_pages() -> OktaClient:
    """For a decision taken on a page (an approval's protection check, an emergency offboard): short timeouts,
    one attempt, and the whole budget, as it is a step towards a revocation."""
    return OktaClient.from_settings(policy=page_policy())


def okta_for_reading() -> OktaClient:
    """For what a page only shows: within the unreserved part of the budget, skipped past it."""
    pacer = PageReads(shared_pacer(settings.OKTA_ORG_URL), settings.OKTA_BUDGET_RESERVED_FOR_REVOCATION)
    return OktaClient.from_settings(policy=page_policy(), pacer=pacer)


def cache_key(case: Case) -> str:
    return f"okta-live:{case.pk}:{case.okta_user_id}"


def case_in_okta(case: Case, user: Any) -> dict:
    """The Okta user and every group as Okta says now (`user`, `groups`, `read_at`), or why not (`skipped`, a
    choice; `error`, a failure), for the page to show the stored plan instead. {} without an Okta user."""
    if not case.okta_user_id:
        return {}
    if not has_role(user, APPROVERS, ADMINS):
        return {"skipped": AUDITORS_NOTE}
    live = cache.get(cache_key(case))
    if live is None:
        limit = settings.OKTA_LIVE_READS_PER_USER_PER_MINUTE
        if ratelimit.hit(f"okta-live-reads:{user.pk}", 60) > limit:
            return {
                "skipped": f"live read skipped: you made {limit} live Okta reads in the last minute "
                "(OKTA_LIVE_READS_PER_USER_PER_MINUTE). Showing the plan stored at review."
            }
        okta = okta_for_reading()
        try:
            okta_user = okta.get_user(case.okta_user_id)
            groups = okta.list_user_groups(okta_user.id)
        except BudgetReserved as e:
            return {"skipped": f"{e.summary}. Showing the plan stored at review."}
        except VendorError as e:
            return {"error": f"Okta could not be reached ({e.summary}). Showing the plan stored at review."}
        live = {"user": okta_user, "groups": [g.as_dict() for g in groups], "read_at": timezone.now()}
        if settings.OKTA_LIVE_READ_CACHE_SECONDS:
            cache.set(cache_key(case), live, settings.OKTA_LIVE_READ_CACHE_SECONDS)
    planned = {g["id"] for g in case.plan.get("groups", [])}
    return {**live, "groups": [{**g, "new": bool(planned) and g["id"] not in planned} for g in live["groups"]]}
