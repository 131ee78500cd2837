"""The django-auth-adfs sign-in views, open to anonymous users (LoginRequiredMiddleware guards the rest).

Under the library's own names (`django_auth_adfs:login`, `:callback`, `:logout`), and the sign-in page
also as `login`, the name the rest of the site uses in both modes.

The library sends the next page as the OAuth `state` and accepts any callback, so a link to a callback
carrying an attacker's code signs the victim in as the attacker. Here each sign-in gets a random state,
kept in the browser's session with the next page; a callback whose state is not one this session is
waiting for is refused before its code is redeemed, and signs nobody in.
"""

import logging
import secrets
from urllib.parse import urlsplit, urlunsplit

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect
from django.urls import include, path
from django_auth_adfs import views as adfs
from django_auth_adfs.config import provider_config
from django_auth_adfs.config import settings as adfs_settings

from accounts.roles import no_role_required

log = logging.getLogger(__name__)

SESSION_KEY = "adfs_pending_sign_ins"
# Sign-ins a browser may have under way at once (a few tabs); the oldest is forgotten first.
MAX_PENDING = 5


def bound_to_this_browser(request: HttpRequest, authorization_url: str) -> str:
    """The library's authorization URL with its state (the next page) swapped for a random one kept in the
    session with that next page."""
    parts = urlsplit(authorization_url)
    query = QueryDict(parts.query, mutable=True)
    state = secrets.token_urlsafe(32)
    pending = {**request.session.get(SESSION_KEY, {}), state: query.get("state", "")}
    request.session[SESSION_KEY] = dict(list(pending.items())[-MAX_PENDING:])
    query["state"] = state
    return urlunsplit(parts._replace(query=query.urlencode()))


class SignInView(adfs.OAuth2LoginView):
    disable_sso: bool | None = None

    def get(self, request: HttpRequest) -> HttpResponse:
        url = provider_config.build_authorization_endpoint(request, disable_sso=self.disable_sso)
        return redirect(bound_to_this_browser(request, url))

    post = get


class SignInNoSsoView(SignInView):
    disable_sso = True


class CallbackView(adfs.OAuth2CallbackView):
    def get(self, request: HttpRequest) -> HttpResponse:
        pending = request.session.get(SESSION_KEY, {})
        state = request.GET.get("state", "")
        next_page = pending.pop(state, None) if state else None
        request.session[SESSION_KEY] = pending  # a state is good once
        if next_page is None:
            log.warning("ADFS callback refused: its state is not one this browser's session is waiting for")
            return adfs_settings.CUSTOM_FAILED_RESPONSE_VIEW(
                request,
                error_message="This sign-in was not started in this browser. Sign in again from the start.",
                status=401,
            )
        # The library reads the next page from the state, as it sent it.
        request.GET = request.GET.copy()
        request.GET["state"] = next_page
        response = super().get(request)
        location = response.get("Location", "")
        if response.status_code == 302 and location.startswith(provider_config.authorization_endpoint):
            # ADFS asked for MFA: the library sends the browser back with a state of its own.
            response["Location"] = bound_to_this_browser(request, location)
        return response


sign_in = login_not_required(SignInView.as_view())
callback = login_not_required(CallbackView.as_view())
sign_out = no_role_required(adfs.OAuth2LogoutView.as_view())

library_patterns = (
    [
        path("login", sign_in, name="login"),
        path("login_no_sso", login_not_required(SignInNoSsoView.as_view()), name="login-no-sso"),
        path("callback", callback, name="callback"),
        path("logout", sign_out, name="logout"),
    ],
    "django_auth_adfs",
)

urlpatterns = [
    path("login/", sign_in, name="login"),
    path("oauth2/", include(library_patterns)),
]
