"""The three roles, as Django groups, and the checks every view makes."""

from collections.abc import Callable
from functools import wraps

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

APPROVERS = "approvers"
AUDITORS = "auditors"
ADMINS = "admins"
ROLES = (APPROVERS, AUDITORS, ADMINS)


def roles_of(user) -> frozenset[str]:
    """The user's roles, read once per request and cached on the user object."""
    if not user.is_authenticated:
        return frozenset()
    if not hasattr(user, "_offboarding_roles"):
        names = user.groups.filter(name__in=ROLES).values_list("name", flat=True)
        user._offboarding_roles = frozenset(names)
    return user._offboarding_roles


def has_role(user, *roles: str) -> bool:
    return bool(roles_of(user) & set(roles))


def role_required(*roles: str) -> Callable:
    """Allow the view only to users holding one of `roles`; anyone else gets 403."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs):
            if not has_role(request.user, *roles):
                raise PermissionDenied("Your role does not allow this.")
            return view(request, *args, **kwargs)

        wrapped.allowed_roles = roles
        return wrapped

    return decorator


def no_role_required(view: Callable) -> Callable:
    """Mark a view any signed-in user may reach (log out, the no-role page)."""
    view.no_role_required = True
    return view


def read_only_action(view: Callable) -> Callable:
    """Mark a POST that changes nothing (it starts a reading, e.g. a check of the audit log), so an
    auditor may make it; `AuditorsReadOnlyMiddleware` refuses every other POST of theirs."""
    view.read_only_action = True
    return view


def roles_context(request: HttpRequest) -> dict:
    roles = roles_of(getattr(request, "user", None)) if hasattr(request, "user") else frozenset()
    return {
        "roles": roles,
        "is_approver": APPROVERS in roles,
        "is_auditor": AUDITORS in roles,
        "is_admin": ADMINS in roles,
    }
