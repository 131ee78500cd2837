"""What a vendor answered when a call failed, typed so callers can decide without parsing text.

Every error carries enough to record a failed step exactly (service, HTTP status, the vendor's
code and summary, its request id), and never a credential: messages are built only from the
method, the path and the vendor's error body.
"""

from __future__ import annotations

from typing import Any


class VendorError(Exception):
    """A call to Workday, Okta or Jira did not succeed."""

    def __init__(
        self,
        service: str,
        summary: str,
        *,
        status: int | None = None,
        code: str = "",
        request_id: str = "",
        error_id: str = "",
        causes: list[str] | None = None,
        details: dict[str, Any] | None = None,
        method: str = "",
        path: str = "",
    ) -> None:
        self.service = service
        self.summary = summary
        self.status = status
        self.code = code
        self.request_id = request_id
        self.error_id = error_id
        self.causes = causes or []
        self.details = details or {}
        self.method = method
        self.path = path
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.method} {self.path}".strip()
        head = f"{self.service} {where}: " if where else f"{self.service}: "
        status = f"HTTP {self.status} " if self.status is not None else ""
        code = f"{self.code} " if self.code and self.code != self.summary else ""
        text = f"{head}{status}{code}{self.summary}".rstrip()
        if self.causes:
            text += f" ({'; '.join(self.causes)})"
        ids = [f"request id {self.request_id}"] if self.request_id else []
        ids += [f"errorId {self.error_id}"] if self.error_id else []
        return f"{text} [{', '.join(ids)}]" if ids else text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class InvalidRequest(VendorError):
    """The vendor refused the request as malformed or not allowed (400, 405, 409, 422, ...)."""


class AuthenticationFailed(VendorError):
    """The credentials were refused (401), or an OAuth access token could not be obtained."""


class PermissionDenied(VendorError):
    """Authenticated, but not allowed to do this (403)."""


class NotFound(VendorError):
    """The user, group, issue or report does not exist (404)."""


class RateLimited(VendorError):
    """Still refused with 429 after waiting as long as we were willing to."""

    def __init__(self, service: str, summary: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(service, summary, **kwargs)


class TransientError(VendorError):
    """A timeout, a dropped connection or a 500/502/503/504 that outlasted the retries.

    `ambiguous` is True when the request may have reached the vendor and taken effect (a read
    timeout, a reset connection, a 5xx): for a call that is not idempotent the caller must check
    what happened before trying again.
    """

    def __init__(
        self, service: str, summary: str, *, ambiguous: bool = True, retry_after: float | None = None, **kwargs: Any
    ) -> None:
        self.ambiguous = ambiguous
        self.retry_after = retry_after
        super().__init__(service, summary, **kwargs)


class MalformedResponse(VendorError):
    """The vendor answered 2xx with a body we cannot use (not JSON, wrong shape, cut short)."""


def is_transient(error: VendorError) -> bool:
    """Whether the same call may succeed later: a timeout, a refused or dropped connection, a 5xx, a 429.

    Any other 4xx (refused, not allowed, not found) or an answer we cannot use will be the same next time.
    """
    return isinstance(error, TransientError | RateLimited) or (error.status or 0) >= 500


class InvalidId(InvalidRequest):
    """An id that is not one the vendor issues (e.g. `x/../../groups/<id>` for an Okta user id): refused before
    any request, so no text from a form or a record can steer a call to another path."""


class BudgetReserved(VendorError):
    """A read for a page was not sent: what is left of Okta's rate-limit budget (or of its calls in flight)
    is kept for revocations. Raised at once, never after a wait, so a page shows what it has stored instead."""
