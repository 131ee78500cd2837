"""What `/metrics` tells Prometheus, and who may ask.

Every figure is read when Prometheus scrapes, from the database (a few grouped counts over indexed columns)
and the shared Okta budget, by a custom collector: nothing is counted in a process's memory, so every web
process, however many and on whichever host, answers the same, and a restart loses nothing. With the ORM
broker the Okta budget is the one the answering web process has seen (its own page reads' answers; the
workers pace themselves); with Redis it is every worker's.

Access: METRICS_TOKEN as a bearer token, METRICS_ALLOWED_NETWORKS for the client's address, or both (then
both must hold). Start-up refuses METRICS_ENABLED without either outside DEBUG; in DEBUG without either,
only this machine may ask.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import math
from collections.abc import Iterator

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.http import HttpRequest
from django.utils import timezone
from prometheus_client.core import CollectorRegistry, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

from offboarding.clients.okta import shared_pacer
from offboarding.models import AuditChainHead, AuditCheck, Case, FollowUp, Step, VendorHealth

log = logging.getLogger(__name__)

# Seconds from the effective moment to access read back gone: a push's second, a poll's minute, a
# scheduled day's hours.
TIME_TO_REVOKE_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 900, 3600, 4 * 3600, 24 * 3600)
LOOPBACK = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]


def refusal(request: HttpRequest) -> tuple[int, str] | None:
    """Why this request may not read the metrics, as (HTTP status, text); None when it may."""
    networks, token = settings.METRICS_ALLOWED_NETWORKS, settings.METRICS_TOKEN
    if not networks and not token:
        networks = LOOPBACK  # DEBUG only: start-up refuses this outside it
    if networks:
        try:
            address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
        except ValueError:
            address = None
        if address is None or not any(address in network for network in networks):
            return 403, "Metrics are not served to this address (METRICS_ALLOWED_NETWORKS)."
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            return 401, "A bearer token is needed (METRICS_TOKEN)."
    return None


class OffboardingCollector:
    """The product's state as Prometheus metrics, computed at each scrape."""

    def describe(self) -> list[Metric]:
        return []  # nothing is read at registration

    def collect(self) -> Iterator[Metric]:
        yield self.cases_by_state()
        yield self.time_to_revoke()
        yield self.steps_failed()
        yield from self.okta_budget()
        yield from self.workday_sync()
        yield self.followups_open()
        yield from self.audit_chain()

    def cases_by_state(self) -> Metric:
        metric = GaugeMetricFamily("offboarding_cases", "Cases in each state.", labels=["state"])
        counts = dict(Case.objects.values_list("state").annotate(n=Count("id")).order_by())
        for state in Case.State.values:
            metric.add_metric([state], counts.get(state, 0))
        return metric

    def time_to_revoke(self) -> Metric:
        # The stored, indexed seconds (kept by Case.save), not the interval computed on each of a million rows.
        revoked = Case.objects.filter(revoke_seconds__isnull=False)
        within = {f"le_{b}": Count("id", filter=Q(revoke_seconds__lte=b)) for b in TIME_TO_REVOKE_BUCKETS}
        # One query: the count under each bound, the total, and the sum (a revocation before its moment is 0).
        row = revoked.aggregate(total=Count("id"), late=Sum("revoke_seconds", filter=Q(revoke_seconds__gt=0)), **within)
        buckets = [(floatToGoString(b), row[f"le_{b}"]) for b in TIME_TO_REVOKE_BUCKETS] + [("+Inf", row["total"])]
        return HistogramMetricFamily(
            "offboarding_time_to_revoke_seconds",
            "From a case's effective moment to its access read back gone, every revoked case.",
            buckets=buckets,
            sum_value=row["late"] or 0.0,
        )

    def steps_failed(self) -> Metric:
        metric = GaugeMetricFamily(
            "offboarding_steps_failed",
            "Steps failed now, by vendor and the vendor's error code (or HTTP status).",
            labels=["vendor", "code"],
        )
        rows = (
            Step.objects.filter(status=Step.Status.FAILED)
            .values_list("kind", "vendor_code", "http_status")
            .annotate(n=Count("id"))
            .order_by()
        )
        counts: dict[tuple[str, str], int] = {}
        for kind, code, status, n in rows:
            vendor = "jira" if kind == Step.Kind.FILE_TICKET else "okta"
            label = code or (f"HTTP {status}" if status else "no answer")
            counts[vendor, label] = counts.get((vendor, label), 0) + n
        for labels, n in sorted(counts.items()):
            metric.add_metric(list(labels), n)
        return metric

    def okta_budget(self) -> Iterator[Metric]:
        remaining = GaugeMetricFamily(
            "offboarding_okta_budget_remaining",
            "Calls Okta's rate limit still allows in the current window, less the calls in flight, per family.",
            labels=["family"],
        )
        limit = GaugeMetricFamily("offboarding_okta_budget_limit", "Okta's limit per window.", labels=["family"])
        resets = GaugeMetricFamily(
            "offboarding_okta_budget_resets_in_seconds", "Seconds until the window resets.", labels=["family"]
        )
        in_flight = GaugeMetricFamily("offboarding_okta_calls_in_flight", "Okta calls being answered now.")
        try:
            snapshot = shared_pacer(settings.OKTA_ORG_URL).snapshot()
        except Exception:  # Redis does not answer: the rest of the metrics still do
            log.exception("metrics: the Okta budget could not be read")
            return
        for family in snapshot.families:
            current = family.resets_in > 0
            remaining.add_metric([family.family], family.remaining if current else family.limit)
            limit.add_metric([family.family], family.limit)
            resets.add_metric([family.family], max(0.0, family.resets_in))
        in_flight.add_metric([], snapshot.calls_in_flight)
        yield from (remaining, limit, resets, in_flight)
        yield GaugeMetricFamily(
            "offboarding_okta_budget_reserved_for_revocation_ratio",
            "Share of each window kept for revocations (OKTA_BUDGET_RESERVED_FOR_REVOCATION).",
            value=settings.OKTA_BUDGET_RESERVED_FOR_REVOCATION,
        )

    def workday_sync(self) -> Iterator[Metric]:
        row = VendorHealth.objects.filter(vendor="workday").first()
        last = row.last_success_at if row else None
        yield GaugeMetricFamily(
            "offboarding_workday_sync_age_seconds",
            "Seconds since the last Workday sync that read the report (+Inf: none yet).",
            value=(timezone.now() - last).total_seconds() if last else math.inf,
        )
        yield GaugeMetricFamily(
            "offboarding_workday_sync_failures_in_a_row",
            "Workday syncs failed since the last good one.",
            value=row.failures_in_a_row if row else 0,
        )

    def followups_open(self) -> Metric:
        return GaugeMetricFamily(
            "offboarding_followups_open",
            "Follow-ups (what Okta deactivation does not undo) not yet closed.",
            value=open_followups(),
        )

    def audit_chain(self) -> Iterator[Metric]:
        length = AuditChainHead.objects.filter(pk=1).values_list("last_seq", flat=True).first() or 0
        yield GaugeMetricFamily("offboarding_audit_chain_length", "Events in the audit chain.", value=length)
        check = AuditCheck.objects.filter(intact__isnull=False, finished_at__isnull=False).first()
        if check is not None:
            yield GaugeMetricFamily(
                "offboarding_audit_last_verification_timestamp_seconds",
                "When the whole audit chain was last verified (Unix time).",
                value=check.finished_at.timestamp(),
            )
            yield GaugeMetricFamily(
                "offboarding_audit_last_verification_intact",
                "1 if the last verification found the chain intact, 0 if not.",
                value=1 if check.intact else 0,
            )


def open_followups() -> int:
    """Follow-ups still open (what Okta will not undo, waiting for a person; status is indexed)."""
    return FollowUp.objects.filter(status=FollowUp.Status.OPEN).count()


registry = CollectorRegistry(auto_describe=False)
registry.register(OffboardingCollector())
