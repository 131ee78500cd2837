"""The django-auth-adfs sign-in views, open to anonymous users (LoginRequiredMiddleware guards the rest).

Under the library's own names (`django_auth_adfs:login`, `:callback`, `:logout`), and the sign-in page
also as `login`, the name the rest of the site uses in both modes.
"""

from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django_auth_adfs import views as adfs

from accounts.roles import no_role_required

sign_in = login_not_required(adfs.OAuth2LoginView.as_view())
callback = login_not_required(adfs.OAuth2CallbackView.as_view())
sign_out = no_role_required(adfs.OAuth2LogoutView.as_view())

library_patterns = (
    [
        path("login", sign_in, name="login"),
        path("login_no_sso", login_not_required(adfs.OAuth2LoginNoSSOView.as_view()), name="login-no-sso"),
        path("callback", callback, name="callback"),
        path("logout", sign_out, name="logout"),
    ],
    "django_auth_adfs",
)

urlpatterns = [
    path("login/", sign_in, name="login"),
    path("oauth2/", include(library_patterns)),
]
