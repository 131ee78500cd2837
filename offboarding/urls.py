from django.urls import include, path

from offboarding import api, audit_views, views
from offboarding.admin import site as admin_site

handler403 = "accounts.views.forbidden"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", views.metrics_page, name="metrics"),
    path("api/workday/events", api.workday_event, name="workday_events"),
    path("cases/<int:case_id>/", views.case, name="case"),
    path("cases/<int:case_id>/progress", views.case_progress, name="case_progress"),
    path("cases/<int:case_id>/approve", views.case_approve, name="case_approve"),
    path("cases/<int:case_id>/revoke-now", views.case_revoke_now, name="case_revoke_now"),
    path("cases/<int:case_id>/reject", views.case_reject, name="case_reject"),
    path("cases/<int:case_id>/retry", views.case_retry, name="case_retry"),
    path("cases/<int:case_id>/restore", views.case_restore, name="case_restore"),
    path("cases/<int:case_id>/restore/approve", views.case_approve_restore, name="case_approve_restore"),
    path("cases/<int:case_id>/identity", views.case_identity, name="case_identity"),
    path("cases/<int:case_id>/no-account", views.case_no_account, name="case_no_account"),
    path("emergency/", views.emergency, name="emergency"),
    path("workday/row-errors", views.row_errors, name="row_errors"),
    path("rules/", views.rules, name="rules"),
    path("rules/new", views.rule_edit, name="rule_create"),
    path("rules/<int:rule_id>/", views.rule_edit, name="rule_edit"),
    path("rules/<int:rule_id>/enable", views.rule_enable, name="rule_enable"),
    path("protected/", views.protected_accounts, name="protected_accounts"),
    path("protected/<int:account_id>/", views.protected_account_edit, name="protected_account_edit"),
    path("protected/<int:account_id>/remove", views.protected_account_remove, name="protected_account_remove"),
    path("safety/", views.safety_settings, name="safety_settings"),
    path("safety/reset-breaker", views.breaker_reset, name="breaker_reset"),
    path("vendors/check/", views.vendors_check, name="vendors_check"),
    path("vendors/check/run", views.vendors_check_run, name="vendors_check_run"),
    path("audit/", audit_views.history, name="history"),
    path("audit/history.<str:fmt>", audit_views.history_export, name="history_export"),
    path("audit/cases/<int:case_id>/", audit_views.evidence, name="evidence"),
    path("audit/cases/<int:case_id>/evidence.json", audit_views.evidence_export, name="evidence_export"),
    path("audit/sla/", audit_views.sla, name="sla"),
    path("audit/reconciliation/", audit_views.reconciliation, name="reconciliation"),
    path("audit/integrity/", audit_views.integrity, name="integrity"),
    path("audit/integrity/verify", audit_views.integrity_verify, name="integrity_verify"),
    path("accounts/", include("accounts.urls")),
    path("admin/", admin_site.urls),
]
