"""What auditors need: every case ever, its evidence, exports, the SLA, reconciliation, the log's integrity.

These pages only read (GET and HEAD; anything else is refused), so every role may
use them: auditors for their audits, approvers to act on late cases and
reconciliation findings, admins to judge the SLA target they set. Each evidence
view and each export is itself an audit event: who looked at what. The one POST,
starting a check of the audit chain, changes nothing either (`read_only_action`).
"""

import json

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseBadRequest, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from accounts.roles import ROLES, read_only_action, role_required
from offboarding import exports, follow_ups, forms
from offboarding import integrity as audit_checks
from offboarding import sla as sla_figures
from offboarding.evidence import decision_check, evidence_of
from offboarding.models import AuditCheck, AuditEvent, Case, ReconciliationRun, SafetySettings
from offboarding.paging import CappedPaginator

PER_PAGE = 50
EXPORT_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json"}


def _case_with_evidence(case_id: int) -> tuple[Case, dict]:
    related = ("termination", "decided_by", "decided_by_rule", "requested_by")
    case = get_object_or_404(Case.objects.select_related(*related), pk=case_id)
    return case, {
        **evidence_of(case),
        "audit_chain_verified": AuditEvent.verify_case(case),
        "decision_check": decision_check(case),
    }


def _attachment(response, filename: str):
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@role_required(*ROLES)
@require_safe
def history(request):
    form = forms.HistoryFilter(request.GET)
    page = CappedPaginator(form.cases(), PER_PAGE).get_page(request.GET.get("page"))
    open_follow_ups = follow_ups.open_per_case([case.pk for case in page])
    for case in page:
        case.open_follow_ups, case.oldest_follow_up_age = open_follow_ups.get(case.pk, (0, None))
    filters = form.applied() if form.is_valid() else {}
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "audit/history.html", {"form": form, "page": page, "filters": filters, "query": query})


@role_required(*ROLES)
@require_safe
def history_export(request, fmt: str):
    if fmt not in EXPORT_TYPES:
        raise Http404("Exports are CSV or JSON.")
    form = forms.HistoryFilter(request.GET)
    if not form.is_valid():
        return HttpResponseBadRequest(f"These filters are not valid: {form.errors.as_text()}")
    now = timezone.now()
    header = {"exported_at": now, "exported_by": request.user.get_username(), "filters": form.applied()}
    count, lines = exports.export(form.cases(), fmt, header)
    AuditEvent.record(
        "audit.exported",
        actor=request.user,
        after={"export": "history", "format": fmt, "filters": form.applied(), "cases": count},
    )
    response = StreamingHttpResponse(lines, content_type=EXPORT_TYPES[fmt])
    return _attachment(response, f"offboarding-history-{now:%Y%m%d-%H%M%S}.{fmt}")


@role_required(*ROLES)
@require_safe
def evidence(request, case_id: int):
    case, evidence = _case_with_evidence(case_id)
    target_hours = SafetySettings.load().sla_target_hours
    AuditEvent.record("audit.evidence_viewed", actor=request.user, case=case, after={"view": "evidence page"})
    ttr = case.time_to_revoke
    context = {
        "case": case,
        "evidence": evidence,
        "workday_raw": json.dumps(case.termination.raw, indent=2, ensure_ascii=False) if case.termination else "",
        "target_hours": target_hours,
        "within_target": ttr.total_seconds() <= target_hours * 3600 if ttr is not None else None,
        "viewed_at": timezone.now(),
    }
    return render(request, "audit/evidence.html", context)


@role_required(*ROLES)
@require_safe
def evidence_export(request, case_id: int):
    case, evidence = _case_with_evidence(case_id)
    AuditEvent.record("audit.exported", actor=request.user, case=case, after={"export": "evidence", "format": "json"})
    body = {"exported_at": timezone.now(), "exported_by": request.user.get_username(), **evidence}
    response = JsonResponse(body, json_dumps_params={"indent": 2, "ensure_ascii": False})
    return _attachment(response, f"offboarding-case-{case.pk}-evidence.json")


@role_required(*ROLES)
@require_safe
def sla(request):
    period = forms.Period(request.GET)
    since, until = period.bounds()
    target_hours = SafetySettings.load().sla_target_hours
    report = sla_figures.report(since, until, target_hours)
    return render(request, "audit/sla.html", {"period": period, "target_hours": target_hours, **report})


@role_required(*ROLES)
@require_safe
def reconciliation(request):
    runs = ReconciliationRun.objects.all()
    choice = forms.ReconciliationRunChoice(request.GET)
    if not choice.is_valid():
        raise Http404("No such reconciliation run.")
    chosen = choice.cleaned_data["run"]
    run = get_object_or_404(runs, pk=chosen) if chosen else runs.first()
    page = Paginator(runs, PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "audit/reconciliation.html", {"run": run, "page": page})


@role_required(*ROLES)
@require_safe
def integrity(request):
    checks = list(AuditCheck.objects.select_related("actor")[:20])
    running = next((check for check in checks if check.running), None)
    latest = next((check for check in checks if not check.running), None)
    context = {"latest": latest, "running": running, "checks": checks}
    return render(request, "audit/integrity.html", {**context, "anchor_minutes": settings.AUDIT_ANCHOR_EVERY_MINUTES})


@read_only_action
@role_required(*ROLES)
@require_POST
def integrity_verify(request):
    """Start a check of the whole chain in the background (a POST, so no link or image can start one)."""
    try:
        audit_checks.start_check(request.user)
    except audit_checks.AlreadyRunning as e:
        messages.info(request, str(e))
    else:
        messages.success(request, "The check has started; this page shows its result when it is done.")
    return redirect("integrity")
