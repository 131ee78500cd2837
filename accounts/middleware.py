from django.core.exceptions import PermissionDenied
from django.shortcuts import render

from accounts.roles import AUDITORS, roles_of


class RoleRequiredMiddleware:
    """A signed-in user with none of our roles sees a 403 page and no data.

    Runs after LoginRequiredMiddleware, so anonymous users have already been
    sent to the login page; views open to anyone are marked with
    `login_not_required`, views open to any signed-in user with
    `no_role_required`.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if not getattr(view_func, "login_required", True) or getattr(view_func, "no_role_required", False):
            return None
        if request.user.is_authenticated and not roles_of(request.user):
            return render(request, "accounts/no_role.html", status=403)
        return None


class AuditorsReadOnlyMiddleware:
    """An auditor (holding no other role) changes nothing, on any page, whatever the view allows.

    Runs after RoleRequiredMiddleware. Signing in and out stay possible, and so do the POSTs that only
    start a reading (`read_only_action`: a check of the audit log).
    """

    SAFE_METHODS = ("GET", "HEAD", "OPTIONS")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.method in self.SAFE_METHODS or not getattr(view_func, "login_required", True):
            return None
        if getattr(view_func, "no_role_required", False) or getattr(view_func, "read_only_action", False):
            return None
        if roles_of(request.user) == {AUDITORS}:
            raise PermissionDenied("Auditors have read-only access.")
        return None
