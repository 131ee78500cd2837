from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.shortcuts import render

from accounts.ratelimit import RateLimitedLoginView
from accounts.roles import no_role_required

login = login_not_required(RateLimitedLoginView.as_view(redirect_authenticated_user=True))
logout = no_role_required(auth_views.LogoutView.as_view())


def forbidden(request, exception=None):
    return render(request, "403.html", {"reason": str(exception or "")}, status=403)
