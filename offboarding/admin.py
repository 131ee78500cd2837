"""Django admin for the admins role: rules, protected accounts, safety settings (audited); the rest read-only."""

from django.contrib import admin, messages
from django.shortcuts import redirect

from accounts.roles import ADMINS, has_role
from offboarding import decisions
from offboarding.forms import ProtectedAccountForm, RuleForm, SafetyForm
from offboarding.models import (
    AuditEvent,
    AutoApproveRule,
    Case,
    ProtectedAccount,
    ReportRowError,
    SafetySettings,
    Step,
    Termination,
)
from offboarding.views import okta_for_pages


class OffboardingAdminSite(admin.AdminSite):
    site_header = "Offboarding administration"
    site_title = "Offboarding admin"

    def has_permission(self, request):
        return request.user.is_active and has_role(request.user, ADMINS)


site = OffboardingAdminSite(name="admin")


class AdminsMayEdit(admin.ModelAdmin):
    def has_module_permission(self, request):
        return has_role(request.user, ADMINS)

    def has_view_permission(self, request, obj=None):
        return has_role(request.user, ADMINS)

    def has_add_permission(self, request):
        return has_role(request.user, ADMINS)

    def has_change_permission(self, request, obj=None):
        return has_role(request.user, ADMINS)

    def has_delete_permission(self, request, obj=None):
        return has_role(request.user, ADMINS)


class ReadOnly(AdminsMayEdit):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# Rules, protected accounts and safety settings change here through the pages' own forms and audited
# functions: the same validation, the same audit events with before and after.


@admin.register(AutoApproveRule, site=site)
class AutoApproveRuleAdmin(AdminsMayEdit):
    form = RuleForm
    list_display = ["name", "enabled", "timing", "categories", "departments_include", "max_groups"]
    list_filter = ["enabled", "timing"]

    def get_exclude(self, request, obj=None):
        # A new rule starts disabled, as on the rule page; it is enabled once saved, with its preview on its page.
        return ["enabled"] if obj is None else []

    def save_model(self, request, obj, form, change):
        decisions.save_rule(form, request.user)
        for warning in form.warnings.values():
            messages.warning(request, warning)
        if not change:
            messages.info(request, "The rule is saved disabled: enable it on its page once its preview is right.")

    def delete_model(self, request, obj):
        decisions.delete_rule(obj.pk, request.user)

    def delete_queryset(self, request, queryset):
        for rule in queryset:
            decisions.delete_rule(rule.pk, request.user)


@admin.register(ProtectedAccount, site=site)
class ProtectedAccountAdmin(AdminsMayEdit):
    form = ProtectedAccountForm
    list_display = ["kind", "value", "okta_name", "okta_id", "note", "created_at"]
    list_filter = ["kind"]
    readonly_fields = ["okta_id", "okta_name"]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)

        class LookedUpInOkta(form):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, okta=okta_for_pages(), **kwargs)

        return LookedUpInOkta

    def save_model(self, request, obj, form, change):
        decisions.save_protected_account(form, request.user)

    def has_delete_permission(self, request, obj=None):
        # Removal asks for a reason, kept in the audit trail: on the protected accounts page only.
        return False

    def delete_view(self, request, object_id, extra_context=None):
        return redirect("protected_account_remove", object_id)


@admin.register(SafetySettings, site=site)
class SafetySettingsAdmin(AdminsMayEdit):
    form = SafetyForm
    list_display = ["__str__", "breaker_count", "breaker_share", "breaker_tripped_at", "effective_mode"]
    # The state the breaker and the sync keep; the breaker is reset on the safety page.
    readonly_fields = [
        "breaker_tripped_at",
        "breaker_reason",
        "breaker_reset_at",
        "active_population",
        "active_population_counted_at",
        "last_report_rows",
        "last_report_at",
    ]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        decisions.save_safety(form, request.user)


@admin.register(Termination, site=site)
class TerminationAdmin(ReadOnly):
    list_display = ["employee_id", "name", "termination_date", "category", "department", "rescinded"]
    search_fields = ["employee_id", "name", "email"]


@admin.register(Case, site=site)
class CaseAdmin(ReadOnly):
    list_display = ["id", "person_name", "state", "identity", "effective_at", "jira_key"]
    list_filter = ["state", "identity", "kind"]
    list_select_related = ["termination"]


@admin.register(Step, site=site)
class StepAdmin(ReadOnly):
    list_display = ["case", "kind", "target_name", "status", "attempts", "http_status", "vendor_code"]
    list_filter = ["kind", "status"]


@admin.register(ReportRowError, site=site)
class ReportRowErrorAdmin(ReadOnly):
    list_display = ["employee_id", "reason", "first_seen", "last_seen", "resolved_at"]


@admin.register(AuditEvent, site=site)
class AuditEventAdmin(ReadOnly):
    list_display = ["seq", "at", "actor_name", "action", "case", "request_id"]
    list_filter = ["action"]
    search_fields = ["actor_name", "action", "request_id", "object_repr"]
