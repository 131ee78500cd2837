from django.conf import settings
from django.urls import path

from accounts import views

if settings.AUTH_MODE == "local":
    urlpatterns = [path("login/", views.login, name="login"), path("logout/", views.logout, name="logout")]
else:
    # Imported only in ADFS mode: local development never loads the library's views.
    from accounts import adfs_views

    # Signing out ends the ADFS session too; else single sign-on would sign the user straight back in.
    urlpatterns = [path("logout/", adfs_views.sign_out, name="logout"), *adfs_views.urlpatterns]
