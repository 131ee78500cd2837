"""The security team's pages: the queue, a case, decisions, emergency offboards, rules and safety settings.

Views are short: decisions go through `offboarding.decisions` (which enqueue the revocation), and a
refused decision's `DecisionError` is shown to the user as it is worded.
"""

from __future__ import annotations

import copy
import json
from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.paginator import Paginator
from django.db import connection, models
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST, require_safe
from django_q.brokers import get_broker
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from accounts.roles import ADMINS, APPROVERS, ROLES, has_role, role_required
from offboarding import decisions, forms, health, metrics, revocation, vendor_check
from offboarding.clients.errors import VendorError
from offboarding.clients.okta import OktaUser
from offboarding.history import departments
from offboarding.identity import Holdings, find_candidates, follow_ups, plan_access, universal_logout_apps
from offboarding.live_reads import case_in_okta, okta_for_pages, page_policy
from offboarding.models import (
    AlertDelivery,
    AuditEvent,
    AutoApproveRule,
    Case,
    FollowUp,
    ProtectedAccount,
    ReportRowError,
    SafetySettings,
    Step,
    overdue,
)
from offboarding.paging import CappedPaginator
from offboarding.templatetags.audit_format import duration, moment_exact

PAGE_SIZE = 25
# The queue, in the order the security team works it.
QUEUE_ORDER = [
    Case.State.PENDING_REVIEW,
    Case.State.APPROVED,
    Case.State.SCHEDULED,
    Case.State.RUNNING,
    Case.State.FAILED,
    Case.State.NEEDS_ATTENTION,
    # Okta's part is done; people still have follow-ups to close.
    Case.State.REVOKED_IN_OKTA,
]


# Within these states an overdue case ranks before the others; in every other state all cases rank alike.
RANKED_BY_OVERDUE = set(Case.UNREVOKED_STATES) - {Case.State.NEEDS_ATTENTION}

# --- The queue (approvers' home) -------------------------------------------------


@role_required(*ROLES)
@require_safe
def home(request: HttpRequest) -> HttpResponse:
    if not has_role(request.user, APPROVERS):
        return render(request, "home.html")
    return queue(request)


def queue(request: HttpRequest) -> HttpResponse:
    form = forms.QueueFilterForm(request.GET or None, departments=departments())
    invalid = form.is_bound and not form.is_valid()
    # Filters that say nothing clear show no case (and say why), never every case as if unfiltered.
    cases = Case.objects.none() if invalid else filtered_cases(form.cleaned_data if form.is_bound else {})
    page = CappedPaginator(cases, PAGE_SIZE).get_page(request.GET.get("page"))
    # Protection by today's list (one read of it for the page), not only the one of when each case opened.
    protected = list(ProtectedAccount.objects.all())
    for row in page:
        still_open = row.state in Case.OPEN_STATES
        row.protected_now = row.protected_reason or (still_open and Holdings.stored(row).protection(protected))
    # Only the queue's states are shown: counted from the state index, not over every case ever.
    open_cases = Case.objects.filter(state__in=QUEUE_ORDER)
    counts = dict(open_cases.values_list("state").annotate(n=Count("id")).order_by())
    query = request.GET.copy()
    query.pop("page", None)
    danger = {
        "failed": counts.get(Case.State.FAILED, 0),
        "needs_attention": counts.get(Case.State.NEEDS_ATTENTION, 0),
        # Overdue besides those already counted as needing attention: each case once in the banner.
        "overdue": Case.objects.overdue().exclude(state=Case.State.NEEDS_ATTENTION).count(),
    }
    return render(
        request,
        "offboarding/queue.html",
        {
            "form": form,
            "invalid": invalid,
            "page": page,
            "query": query.urlencode(),
            "state_counts": [(state, Case.State(state).label, counts.get(state, 0)) for state in QUEUE_ORDER],
            "danger": danger,
            "danger_total": sum(danger.values()),
            "safety": SafetySettings.load(),
            "row_errors": ReportRowError.objects.filter(resolved_at=None).count(),
        },
        status=400 if invalid else 200,
    )


def filtered_cases(filters: dict):
    """The queue's cases, danger first: failed, needing attention, overdue; then in the order the team works."""
    cases = Case.objects.select_related("termination").annotate(
        queue_rank=models.Case(
            models.When(state=Case.State.FAILED, then=models.Value(0)),
            models.When(state=Case.State.NEEDS_ATTENTION, then=models.Value(1)),
            models.When(overdue(), then=models.Value(2)),
            *(models.When(state=state, then=models.Value(3 + rank)) for rank, state in enumerate(QUEUE_ORDER)),
            default=models.Value(3 + len(QUEUE_ORDER)),
            output_field=models.IntegerField(),
        )
    )
    state = filters.get("state")
    cases = cases.filter(state=state) if state else cases.filter(state__in=QUEUE_ORDER)
    if filters.get("department"):
        cases = cases.filter(department=filters["department"])
    category = filters.get("category")
    if category == Case.Kind.EMERGENCY:
        cases = cases.filter(kind=Case.Kind.EMERGENCY)
    elif category:
        cases = cases.filter(category=category)
    if filters.get("effective_from"):
        cases = cases.filter(effective_at__date__gte=filters["effective_from"])
    if filters.get("effective_to"):
        cases = cases.filter(effective_at__date__lte=filters["effective_to"])
    if q := (filters.get("q") or "").strip():
        cases = cases.filter(
            Q(termination__name__icontains=q) | Q(termination__employee_id__iexact=q) | Q(okta_login__icontains=q)
        )
    if state and state not in RANKED_BY_OVERDUE:
        # One state, one rank: the order is the effective moment's, read from the (state, effective_at) index.
        return cases.order_by("effective_at", "pk")
    return cases.order_by("queue_rank", "effective_at", "pk")


# --- A case -------------------------------------------------------------------------


@role_required(*ROLES)
@require_safe
def case(request: HttpRequest, case_id: int) -> HttpResponse:
    case = get_object_or_404(
        Case.objects.select_related(
            "termination",
            "decided_by",
            "decided_by_rule",
            "requested_by",
            "restore_requested_by",
            "restore_approved_by",
        ),
        pk=case_id,
    )
    approvals = list(case.approvals.select_related("user").order_by("at"))
    steps = list(case.steps.all())
    read_back = read_back_at_verification(case, steps)
    live = {} if read_back else case_in_okta(case, request.user)
    protected_now = protection_now(case, live)
    approved_by_me = any(a.user_id == request.user.pk for a in approvals)
    can_change = steps_can_change(case)
    context = {
        "case": case,
        "live": live,
        "read_back": read_back,
        "protected_now": protected_now,
        "warnings": warnings(case, protected_now),
        "steps": steps,
        "tracked_follow_ups": case.follow_ups.all(),
        "events": case.events.all(),
        "brought_forward": case.events.filter(action="case.revoke_now").order_by("seq").last(),
        "approvals": approvals,
        "approved_by_me": approved_by_me,
        "is_live": can_change,
        # Nothing to say before the revocation can start: undecided, or scheduled for later.
        "show_result": can_change or bool(case.started_at or case.finished_at or case.jira_key),
        "still_in_place": revocation.still_in_place(steps) if case.state == Case.State.FAILED else "",
        # Not for whoever already approved an undecided case: their "now" would be a second approval of their own.
        "can_revoke_now": case.can_revoke_now and not (case.is_decidable and approved_by_me),
        "time_to_revoke": duration(case.time_to_revoke),
        "safety": SafetySettings.load(),
        "access": plan_access(case.plan or {}),
        "follow_ups": follow_ups(case.plan or {}),
        "logout_apps": [a.get("label", a.get("id")) for a in universal_logout_apps(case.plan or {})],
    }
    return render(request, "offboarding/case.html", context)


# A scheduled case whose moment is this close is about to be picked up: its page follows it live.
ABOUT_TO_RUN = timedelta(minutes=2)


def steps_can_change(case: Case) -> bool:
    """Whether a step of the case may change while the page is open (only then does it update live)."""
    if case.state in (Case.State.APPROVED, Case.State.RUNNING):
        return True
    soon = timezone.now() + ABOUT_TO_RUN
    return case.state == Case.State.SCHEDULED and case.effective_at is not None and case.effective_at <= soon


def warnings(case: Case, protected_now: str) -> list[str]:
    """What the case page lists under "Check before deciding", by name; empty: the box is not shown."""
    if case.state == Case.State.NO_ACCOUNT:  # closed: nothing is left to check
        return []
    shown = {
        "identity": case.identity != Case.Identity.EXACT,
        "proposal": bool(case.identity_proposal) and case.is_decidable,
        "protected": bool(protected_now),
        "emergency": case.kind == Case.Kind.EMERGENCY,
        "attention": bool(case.attention_reason) and case.state == Case.State.NEEDS_ATTENTION,
        "after_run": bool(case.attention_after_run),
    }
    return [name for name, show in shown.items() if show]


def read_back_at_verification(case: Case, steps: list) -> dict:
    """The Okta user and groups as the run's verification read them back, once the run is over; else {}."""
    if case.state == Case.State.RUNNING or case.restored_at:
        return {}
    verify = next((s for s in steps if s.kind == Step.Kind.VERIFY and s.detail.get("user")), None)
    if verify is None:
        return {}
    return {"user": verify.detail["user"], "groups": verify.detail.get("groups_after", []), "at": verify.finished_at}


def protection_now(case: Case, live: dict) -> str:
    """Why the person is protected by today's list and the groups Okta shows now (or stored at review).

    Only while the case is open: once it ran or closed, what protection it needed is the stored one.
    """
    if case.protected_reason or case.state not in Case.OPEN_STATES:
        return case.protected_reason
    if user := live.get("user"):
        stored = Holdings.stored(case)
        return Holdings(user.id, user.login, live["groups"], live=True, admin_roles=stored.admin_roles).protection()
    return Holdings.stored(case).protection()


@never_cache
@role_required(*ROLES)
@require_GET
def case_progress(request: HttpRequest, case_id: int) -> JsonResponse:
    """The case's state and steps, polled by the case page while it runs."""
    case = get_object_or_404(Case, pk=case_id)
    # The step as the evidence has it, less its detail (a group list can be long), plus what the page shows.
    steps = [
        {
            **{key: value for key, value in step.as_dict().items() if key != "detail"},
            "id": step.pk,
            "label": step.get_kind_display(),
            "status_display": step.get_status_display(),
            "target": step.target_name or step.target,
            "vendor": step.vendor_answer,
        }
        for step in case.steps.all()
    ]
    events = [
        {
            "at": event.at.isoformat(),
            "when": moment_exact(event.at),
            "action": event.action,
            "action_label": event.action_label,
            "actor": event.actor_name,
            "reason": str((event.after or {}).get("reason") or ""),
        }
        for event in case.events.all()
    ]
    return JsonResponse(
        {
            "state": case.state,
            "state_display": case.status_line,
            "live": steps_can_change(case),
            "steps": steps,
            "events": events,
            "jira_key": case.jira_key,
            "jira_url": case.jira_url,
            "time_to_revoke": duration(case.time_to_revoke),
            "failure": case.failure_summary,
        }
    )


# --- Decisions: a confirmation page first, then the service ---------------------------

ACTION_LABELS = {
    "approve": "Approve",
    "revoke_now": "Revoke now",
    "reject": "Reject",
    "retry": "Retry",
    "restore": "Request a restore",
    "approve_restore": "Approve the restore",
    "no_account": "Close as no Okta account",
}


def decide(request: HttpRequest, case_id: int, action: str, perform, success: str) -> HttpResponse:
    """Show the confirmation step, or, once confirmed, perform the decision and go back to the case."""
    case = get_object_or_404(Case.objects.select_related("termination"), pk=case_id)
    reason = request.POST.get("reason", "").strip()
    if request.POST.get("confirmed") != "yes":
        return render(
            request,
            "offboarding/confirm.html",
            {"case": case, "action": action, "label": ACTION_LABELS[action], "reason": reason},
        )
    try:
        said = perform(case.pk, reason)
    except decisions.DecisionError as e:
        messages.error(request, str(e))
    else:
        # A decision that did less than `success` (waits for a second person) returns what it did, in words.
        messages.success(request, said if isinstance(said, str) and said else success)
    return redirect(case)


@role_required(APPROVERS)
@require_POST
def case_approve(request: HttpRequest, case_id: int) -> HttpResponse:
    def perform(pk: int, reason: str) -> None:
        case = decisions.approve(pk, request.user, reason, okta=okta_for_pages())
        if case.is_decidable:
            messages.info(request, "Your approval is recorded; a second, different approver must approve too.")

    return decide(request, case_id, "approve", perform, "Approved.")


@role_required(APPROVERS)
@require_POST
def case_revoke_now(request: HttpRequest, case_id: int) -> HttpResponse:
    def perform(pk: int, reason: str) -> str:
        case = decisions.revoke_now(pk, request.user, reason, okta=okta_for_pages())
        if case.is_decidable:
            return "Your approval to revoke now is recorded; a second, different approver must approve too."
        return ""

    return decide(request, case_id, "revoke_now", perform, "Revoking now: the revocation has started.")


@role_required(APPROVERS)
@require_POST
def case_reject(request: HttpRequest, case_id: int) -> HttpResponse:
    return decide(
        request, case_id, "reject", lambda pk, reason: decisions.reject(pk, request.user, reason), "Rejected."
    )


@role_required(APPROVERS)
@require_POST
def case_retry(request: HttpRequest, case_id: int) -> HttpResponse:
    return decide(
        request,
        case_id,
        "retry",
        lambda pk, _: decisions.retry_case(pk, request.user),
        "Retrying from the first unfinished step.",
    )


@role_required(APPROVERS)
@require_POST
def case_restore(request: HttpRequest, case_id: int) -> HttpResponse:
    return decide(
        request,
        case_id,
        "restore",
        lambda pk, reason: decisions.request_restore(pk, request.user, reason),
        "Restore requested; a second, different approver must approve it.",
    )


@role_required(APPROVERS)
@require_POST
def case_approve_restore(request: HttpRequest, case_id: int) -> HttpResponse:
    return decide(
        request,
        case_id,
        "approve_restore",
        lambda pk, _: decisions.approve_restore(pk, request.user),
        "Restore approved; access is being given back.",
    )


@role_required(APPROVERS)
@require_POST
def close_follow_up(request: HttpRequest, follow_up_id: int) -> HttpResponse:
    """An approver closes one of a case's follow-ups, saying what was done; back to its case."""
    follow_up = get_object_or_404(FollowUp, pk=follow_up_id)
    try:
        decisions.close_follow_up(follow_up.pk, request.user, request.POST.get("note", ""))
    except decisions.DecisionError as e:
        messages.error(request, str(e))
    else:
        messages.success(request, f"Follow-up closed: {follow_up.what}")
    return redirect("case", follow_up.case_id)


# --- Identity: choose the Okta user, or record that there is none --------------------------


@role_required(APPROVERS)
@require_http_methods(["GET", "HEAD", "POST"])
def case_identity(request: HttpRequest, case_id: int) -> HttpResponse:
    """The Okta users who may be the leaver, read live, to choose one (POST) or to say there is none."""
    case = get_object_or_404(Case.objects.select_related("termination"), pk=case_id)
    if request.method == "POST":
        return choose_identity(request, case)
    refusal, candidates, error = decisions.identity_refusal(case), [], ""
    if not refusal:
        try:
            candidates = [(c, c.protection()) for c in find_candidates(case.termination, okta_for_pages())]
        except VendorError as e:
            error = f"Okta could not be reached ({e.summary}); the candidates cannot be shown. Try again in a moment."
    context = {"case": case, "refusal": refusal, "candidates": candidates, "error": error}
    return render(request, "offboarding/identity.html", context)


def choose_identity(request: HttpRequest, case: Case) -> HttpResponse:
    okta_user_id, reason = request.POST.get("okta_user_id", ""), request.POST.get("reason", "").strip()
    try:
        case = decisions.choose_identity(case.pk, request.user, okta_user_id, reason, okta=okta_for_pages())
    except decisions.DecisionError as e:
        messages.error(request, str(e))
        return redirect("case_identity", case.pk)
    if case.identity_proposal:
        messages.info(
            request,
            "Your choice is recorded; as this is a protected account, a second, different approver must make it too.",
        )
    else:
        messages.success(
            request, f"{case.okta_login} is now this case’s Okta user; the plan is computed from their groups."
        )
    return redirect(case)


@role_required(APPROVERS)
@require_POST
def case_no_account(request: HttpRequest, case_id: int) -> HttpResponse:
    def perform(pk: int, reason: str) -> str:
        case = decisions.close_no_account(pk, request.user, reason, okta=okta_for_pages())
        if case.identity_proposal:
            return "Recorded; as a protected account is among the candidates, a second, different approver must agree."
        return ""

    return decide(request, case_id, "no_account", perform, "Closed: no Okta account, nothing to revoke.")


# --- Emergency offboard -----------------------------------------------------------------


@role_required(APPROVERS)
@require_http_methods(["GET", "HEAD", "POST"])
def emergency(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return start_emergency(request)
    search = forms.EmergencySearch(request.GET)
    if not search.is_valid():
        context = {"q": "", "found": [], "error": f"Search: {search.errors['q'][0]}"}
        return render(request, "offboarding/emergency.html", context, status=400)
    q = search.cleaned_data["q"]
    found, error = [], ""
    if q:
        try:
            found = find_okta_users(q)
        except VendorError as e:
            error = f"Okta could not be searched ({e.summary}). Try again in a moment."
    return render(request, "offboarding/emergency.html", {"q": q, "found": found, "error": error})


def find_okta_users(text: str) -> list[OktaUser]:
    """By name or email prefix, by login prefix (any case), by employee number; each person once."""
    okta = okta_for_pages()
    users = okta.search_users(text) + okta.find_users_by_login_prefix(text) + okta.find_users_by_employee_number(text)
    return list({user.id: user for user in users}.values())


def open_case_of(okta_user_id: str) -> Case | None:
    """The case already open (or running) for this Okta user, if any."""
    still_open = Case.objects.filter(okta_user_id=okta_user_id, state__in=Case.UNREVOKED_STATES)
    return still_open.select_related("termination").order_by("pk").first()


def start_emergency(request: HttpRequest) -> HttpResponse:
    if not request.POST.get("okta_user_id"):
        messages.error(request, "Choose the Okta user to offboard.")
        return redirect("emergency")
    form = forms.EmergencyRequest(request.POST)
    if not form.is_valid():
        # A made-up id (it would go into Okta's URL paths) is refused here, before Okta is asked anything.
        errors = [error for field_errors in form.errors.values() for error in field_errors]
        context = {"q": "", "found": [], "error": " ".join(errors)}
        return render(request, "offboarding/emergency.html", context, status=400)
    okta_user_id, reason = form.cleaned_data["okta_user_id"], form.cleaned_data["reason"]
    context = {"okta_user_id": okta_user_id, "reason": reason, "open_case": open_case_of(okta_user_id)}
    if context["open_case"]:
        # Not a second case: the one already open is brought forward ("revoke now" on its page).
        return render(request, "offboarding/emergency_confirm.html", context)
    if request.POST.get("confirmed") != "yes":
        try:
            context["okta_user"] = okta_for_pages().get_user(okta_user_id)
        except VendorError as e:
            messages.error(request, f"Okta could not be reached ({e.summary}); check the user before going on.")
        return render(request, "offboarding/emergency_confirm.html", context)
    try:
        case = decisions.start_emergency(okta_user_id, request.user, reason)
    except decisions.DecisionError as e:
        messages.error(request, str(e))
        context["open_case"] = open_case_of(okta_user_id)
        return render(request, "offboarding/emergency_confirm.html", context)
    except VendorError as e:
        messages.error(request, f"Okta could not be reached ({e.summary}); nothing was started. Try again.")
        return render(request, "offboarding/emergency_confirm.html", context)
    messages.success(request, "Emergency offboard requested. A second, different approver must approve it.")
    return redirect(case)


# --- Workday rows that could not be read ----------------------------------------------

# A raw row is shown up to this many characters (a row may hold a huge value; the database keeps it whole).
RAW_ROW_SHOWN = 3000


@role_required(APPROVERS)
@require_safe
def row_errors(request: HttpRequest) -> HttpResponse:
    """The report's rows no case could be opened from: why, what they held, since when; unresolved first."""
    rows = ReportRowError.objects.order_by(models.F("resolved_at").desc(nulls_first=True), "-last_seen", "pk")
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    for row in page:
        raw = json.dumps(row.raw, indent=1, ensure_ascii=False, sort_keys=True, default=str)
        row.raw_shown = raw if len(raw) <= RAW_ROW_SHOWN else raw[:RAW_ROW_SHOWN] + "…"
    unresolved = ReportRowError.objects.filter(resolved_at=None).count()
    return render(request, "offboarding/row_errors.html", {"page": page, "unresolved": unresolved})


# --- Rules, protected accounts and safety settings (admins) --------------------------------


@role_required(ADMINS)
@require_safe
def rules(request: HttpRequest) -> HttpResponse:
    rules = list(AutoApproveRule.objects.all())
    for rule in rules:
        rule.unsound = rule.problems()
    return render(request, "offboarding/rules.html", {"rules": rules})


@role_required(ADMINS)
@require_http_methods(["GET", "HEAD", "POST"])
def rule_edit(request: HttpRequest, rule_id: int | None = None) -> HttpResponse:
    rule = get_object_or_404(AutoApproveRule, pk=rule_id) if rule_id else None
    form = forms.RuleForm(request.POST or None, instance=rule)
    preview = None
    if request.method == "POST" and form.is_valid():
        if "preview" not in request.POST:
            creating = rule is None
            rule, approved = decisions.save_rule(form, request.user)
            for warning in form.warnings.values():
                messages.warning(request, warning)
            saved = " It is disabled: check its preview, then enable it." if creating else ""
            messages.success(request, f"Rule “{rule.name}” saved.{saved}{approved_now(approved)}")
            return redirect("rule_edit", rule.pk)
        preview = rule_preview(form.instance)
    elif request.method == "GET" and rule:
        preview = rule_preview(rule)
    context = {"form": form, "rule": rule, "preview": preview, "known": form.known}
    return render(request, "offboarding/rule_edit.html", context)


def rule_preview(rule: AutoApproveRule) -> dict:
    """What the rule would approve now; a disabled rule approves nothing, so say what it would once enabled."""
    trial = copy.copy(rule)
    trial.enabled = True
    return {
        "disabled": not rule.enabled,
        "problems": rule.problems(),
        "cases": decisions.cases_rule_would_approve(trial),
    }


def approved_now(cases: list[Case]) -> str:
    """What saving or enabling a rule just approved, for the message after it."""
    if not cases:
        return ""
    return f" {len(cases)} pending case{pluralize(cases)} approved now."


@role_required(ADMINS)
@require_POST
def rule_enable(request: HttpRequest, rule_id: int) -> HttpResponse:
    get_object_or_404(AutoApproveRule, pk=rule_id)
    enabled = request.POST.get("enabled") == "yes"
    try:
        rule, approved = decisions.set_rule_enabled(rule_id, enabled, request.user)
    except decisions.DecisionError as e:
        messages.error(request, str(e))
    else:
        messages.success(request, f"Rule “{rule.name}” {'enabled' if enabled else 'disabled'}.{approved_now(approved)}")
    # From the rule's own page (where its preview is), back to it.
    return redirect("rule_edit", rule_id) if request.POST.get("back") == "rule" else redirect("rules")


@role_required(ADMINS)
@require_http_methods(["GET", "HEAD", "POST"])
def protected_accounts(request: HttpRequest) -> HttpResponse:
    form = forms.ProtectedAccountForm(request.POST or None, okta=okta_for_pages() if request.POST else None)
    if request.method == "POST" and form.is_valid():
        account = decisions.save_protected_account(form, request.user)
        messages.success(request, f"{account} is protected.")
        return redirect("protected_accounts")
    return render(
        request,
        "offboarding/protected.html",
        {"form": form, "accounts": ProtectedAccount.objects.order_by("kind", "value")},
        status=400 if form.errors else 200,
    )


@role_required(ADMINS)
@require_http_methods(["GET", "HEAD", "POST"])
def protected_account_edit(request: HttpRequest, account_id: int) -> HttpResponse:
    account = get_object_or_404(ProtectedAccount, pk=account_id)
    form = forms.ProtectedAccountForm(
        request.POST or None, instance=account, okta=okta_for_pages() if request.POST else None
    )
    if request.method == "POST" and form.is_valid():
        account = decisions.save_protected_account(form, request.user)
        messages.success(request, f"{account} saved.")
        return redirect("protected_accounts")
    status = 400 if form.errors else 200
    return render(request, "offboarding/protected_edit.html", {"form": form, "account": account}, status=status)


@role_required(ADMINS)
@require_http_methods(["GET", "HEAD", "POST"])
def protected_account_remove(request: HttpRequest, account_id: int) -> HttpResponse:
    """Asks first: who stops being protected, what that means, and why (the reason goes in the audit trail)."""
    account = get_object_or_404(ProtectedAccount, pk=account_id)
    form = forms.ProtectedAccountRemoval(request.POST or None)
    if request.method == "POST" and form.is_valid():
        decisions.delete_protected_account(account.pk, request.user, form.cleaned_data["reason"])
        messages.success(request, f"{account} is no longer protected.")
        return redirect("protected_accounts")
    context = {"form": form, "account": account}
    return render(request, "offboarding/protected_remove.html", context, status=400 if form.errors else 200)


@role_required(ADMINS)
@require_http_methods(["GET", "HEAD", "POST"])
def safety_settings(request: HttpRequest) -> HttpResponse:
    safety = SafetySettings.load()
    # A POST names its part of the page; one that names none is the thresholds, the page's first form.
    posted = request.POST.get("part", "thresholds") if request.method == "POST" else None
    if posted is not None and posted not in forms.SAFETY_PARTS:
        messages.error(request, "That is not a part of the safety settings; nothing was saved.")
        return redirect("safety_settings")
    parts = {
        # The posted form validates a copy: the page's facts keep showing what is saved.
        name: form(request.POST, instance=copy.copy(safety)) if name == posted else form(instance=safety)
        for name, form in forms.SAFETY_PARTS.items()
    }
    if posted and parts[posted].is_valid():
        rescheduled = decisions.save_safety(parts[posted], request.user)
        moved = f" {len(rescheduled)} open case{pluralize(rescheduled)} rescheduled." if rescheduled else ""
        messages.success(request, f"Safety settings saved.{moved}")
        return redirect("safety_settings")
    waiting = Case.objects.filter(state__in=Case.OPEN_STATES, started_at=None, termination__isnull=False).count()
    return render(request, "offboarding/safety.html", {"parts": parts, "safety": safety, "open_cases": waiting})


@role_required(ADMINS)
@require_POST
def breaker_reset(request: HttpRequest) -> HttpResponse:
    decisions.reset_breaker(request.user)
    messages.success(request, "The breaker is reset: auto-approval resumes at the next sync.")
    return redirect("safety_settings")


# --- Health ----------------------------------------------------------------------------


@role_required(APPROVERS)
@require_safe
def vendors_check(request: HttpRequest) -> HttpResponse:
    """The latest check of what the vendors take (its audit event), and a button to run one."""
    latest = AuditEvent.objects.filter(action="vendors.checked").order_by("-seq").first()
    return render(request, "offboarding/vendors_check.html", {"latest": latest})


@role_required(APPROVERS)
@require_POST
def vendors_check_run(request: HttpRequest) -> HttpResponse:
    """Read each vendor (never write to one) and keep the result, as `manage.py check_vendors` does."""
    missing = [f for f in vendor_check.check_vendors(request.user, policy=page_policy()) if not f.ok]
    if missing:
        messages.error(
            request, f"{len(missing)} missing: the product would fail on {pluralize(len(missing), 'it,them')}."
        )
    else:
        messages.success(request, "Every vendor takes what the product will ask of it.")
    return redirect("vendors_check")


def _database_answers() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        return False


def _broker_answers() -> bool:
    try:
        return bool(get_broker().ping())
    except Exception:
        return False


def _alerts_delivered() -> bool:
    try:
        return AlertDelivery.failing() is None
    except Exception:
        return True  # the database check says what is wrong


@login_not_required
@never_cache
@require_GET
def healthz(request):
    checks = {"database": _database_answers(), "broker": _broker_answers(), "alerts": _alerts_delivered()}
    failing = [name for name, ok in checks.items() if not ok]
    body = {"status": "ok" if not failing else "failing", "failing": failing}
    problems = _vendor_problems()
    if problems:
        failing.append("vendors")
        body.update(status="failing", problems=problems)
    return JsonResponse(body, status=503 if failing else 200)


@login_not_required
@never_cache
@require_GET
def metrics_page(request: HttpRequest) -> HttpResponse:
    """The product's state for Prometheus (offboarding/metrics.py), for METRICS_TOKEN or METRICS_ALLOWED_NETWORKS."""
    if not settings.METRICS_ENABLED:
        raise Http404("Metrics are not enabled (METRICS_ENABLED).")
    if refused := metrics.refusal(request):
        status, text = refused
        response = HttpResponse(text, status=status, content_type="text/plain")
        if status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(metrics.registry), content_type=CONTENT_TYPE_LATEST)


def _vendor_problems() -> list[str]:
    try:
        return health.problems()
    except Exception:
        return []  # the database check says what is wrong
