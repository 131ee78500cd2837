from django.urls import include, path

from offboarding import api, audit_views, views
from offboarding.admin import site as admin_site

handler403 = "accounts.views.forbidden"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("api/workday/events", api.workday_event, name="workday_events"),
    path("cases/<int:case_id>/", views.case, name="case"),
    path("audit/", audit_views.history, name="history"),
    path("audit/history.<str:fmt>", audit_views.history_export, name="history_export"),
    path("audit/cases/<int:case_id>/", audit_views.evidence, name="evidence"),
    path("audit/cases/<int:case_id>/evidence.json", audit_views.evidence_export, name="evidence_export"),
    path("audit/sla/", audit_views.sla, name="sla"),
    path("audit/reconciliation/", audit_views.reconciliation, name="reconciliation"),
    path("audit/integrity/", audit_views.integrity, name="integrity"),
    path("accounts/", include("accounts.urls")),
    path("admin/", admin_site.urls),
]
