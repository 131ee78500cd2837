from django.contrib import admin
from django.urls import include, path

from offboarding import views

handler403 = "accounts.views.forbidden"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/", include("accounts.urls")),
    path("admin/", admin.site.urls),
]
