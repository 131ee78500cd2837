from django.conf import settings
from django.urls import path

from accounts import views

urlpatterns = [path("logout/", views.logout, name="logout")]

if settings.AUTH_MODE == "local":
    urlpatterns.append(path("login/", views.login, name="login"))
else:
    # Imported only in ADFS mode: local development never loads the library's views.
    from accounts import adfs_views

    urlpatterns += adfs_views.urlpatterns
