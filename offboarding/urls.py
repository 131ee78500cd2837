from django.urls import include, path

from offboarding import views
from offboarding.admin import site as admin_site

handler403 = "accounts.views.forbidden"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("cases/<int:case_id>/", views.case, name="case"),
    path("accounts/", include("accounts.urls")),
    path("admin/", admin_site.urls),
]
