"""The one place the clients touch HTTP: a requests session with timeouts, retries, logging.

Every call gets connect and read timeouts. Connection errors, timeouts and 500/502/503/504 are
retried with exponential backoff and jitter; a 429 waits as long as the vendor asks (bounded);
everything else is turned into a typed VendorError at once. A call that is not idempotent is
retried only when the request certainly never took effect (refused, rate limited), so a
timeout on "create" surfaces to the caller instead of filing a second ticket.

Secrets live in `Secret` and in auth objects whose repr hides them; log lines and errors are
built from the method, the path and the vendor's error body only.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
import urllib3
from django.conf import settings
from requests.auth import AuthBase, HTTPBasicAuth
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from .errors import (
    AuthenticationFailed,
    InvalidRequest,
    MalformedResponse,
    NotFound,
    PermissionDenied,
    RateLimited,
    TransientError,
    VendorError,
)

TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})
ERROR_CLASSES: dict[int, type[VendorError]] = {
    400: InvalidRequest,
    401: AuthenticationFailed,
    403: PermissionDenied,
    404: NotFound,
}


class Secret:
    """A credential that shows as *** wherever it is printed, logged or repr'd."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


class BasicAuth(HTTPBasicAuth):
    """HTTP Basic auth whose password never shows in a repr."""

    def __init__(self, username: str, password: Secret) -> None:
        self.username = username
        self._secret = password

    @property  # type: ignore[override]
    def password(self) -> str:
        return self._secret.reveal()

    def __repr__(self) -> str:
        return f"BasicAuth({self.username!r}, ***)"


class RenewableAuth(AuthBase):
    """Auth holding a short-lived token: on a 401 the transport forgets it and tries once more."""

    def forget_token(self) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class RetryPolicy:
    """Timeouts and retry bounds shared by the three clients (tests shrink the waits)."""

    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_attempts: int = 4
    backoff_initial: float = 0.5
    backoff_max: float = 10.0
    # Longest we wait for a rate-limit window to reset; beyond it the RateLimited error is raised.
    max_rate_limit_wait: float = 60.0

    @classmethod
    def from_settings(cls) -> RetryPolicy:
        return cls(
            connect_timeout=settings.CLIENT_CONNECT_TIMEOUT,
            read_timeout=settings.CLIENT_READ_TIMEOUT,
            max_attempts=settings.CLIENT_MAX_ATTEMPTS,
            backoff_initial=settings.CLIENT_BACKOFF_INITIAL,
            backoff_max=settings.CLIENT_BACKOFF_MAX,
            max_rate_limit_wait=settings.CLIENT_RATE_LIMIT_MAX_WAIT,
        )


@dataclass(frozen=True)
class ErrorBody:
    """What a vendor's error body says, in the shape VendorError takes."""

    summary: str
    code: str = ""
    error_id: str = ""
    causes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


class Pacer(Protocol):
    """Spaces calls out before the vendor refuses them (see pacing.py)."""

    def before_request(self, method: str, path: str) -> None: ...

    def observe(self, method: str, path: str, response: requests.Response) -> None: ...

    def release(self, method: str, path: str) -> None:
        """The call is over (answered or not): its concurrency slot is free again."""


def json_body(response: requests.Response, service: str, shape: type, what: str = "response") -> Any:
    """The answer's JSON if it is of the expected shape (dict or list); else MalformedResponse."""
    try:
        body = response.json()
    except ValueError as e:
        raise MalformedResponse(service, f"{what} is not JSON", status=response.status_code) from e
    if not isinstance(body, shape):
        kind = "object" if shape is dict else "list"
        raise MalformedResponse(service, f"expected a JSON {kind}", status=response.status_code)
    return body


def server_clock_offset(response: requests.Response, now: float | None = None) -> float:
    """Seconds to add to our clock (epoch seconds: `now`, the real one by default) to get the server's,
    from its Date header; 0 without one.

    Rate-limit resets are in the server's epoch seconds; measuring them against its own Date
    keeps a skewed local clock from retrying too early.
    """
    try:
        return parsedate_to_datetime(response.headers["Date"]).timestamp() - (time.time() if now is None else now)
    except (KeyError, TypeError, ValueError):
        return 0.0


def seconds_until_epoch(response: requests.Response, header: str) -> float | None:
    try:
        reset = float(response.headers[header])
    except (KeyError, ValueError):
        return None
    return max(0.0, reset - (time.time() + server_clock_offset(response)))


def seconds_header(response: requests.Response, header: str) -> float | None:
    try:
        return max(0.0, float(response.headers[header]))
    except (KeyError, ValueError):
        return None


def short_text(response: requests.Response, limit: int = 300) -> str:
    text = " ".join(response.text.split())
    return text[:limit] or response.reason or f"HTTP {response.status_code}"


def _never_sent(error: requests.RequestException) -> bool:
    """The request cannot have reached the server (refused, or no connection in time)."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


def _describe_failure(error: requests.RequestException) -> str:
    if isinstance(error, requests.ConnectTimeout):
        return "connect timeout"
    if isinstance(error, requests.ReadTimeout):
        return "read timeout"
    if _never_sent(error):
        return "connection refused"
    if isinstance(error, requests.exceptions.ChunkedEncodingError):
        return "response cut short"
    return "connection failed"


def environment_session(base_url: str) -> requests.Session:
    """A session that takes the proxy and CA bundle settings from the environment once, at start.

    By default requests reads them again for every request, scanning the whole environment, which
    costs more CPU than the rest of a call; a deployment sets them before the processes start anyway.
    """
    session = requests.Session()
    session.proxies.update(requests.utils.get_environ_proxies(base_url))
    session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    session.trust_env = False
    return session


# Told of every answer a vendor gives a call (after retries): `listener(service, status, error)`, with the
# final HTTP status and the error it was turned into, if any (a 401, or an AuthenticationFailed: our
# credentials were rejected). Registered by the domain (offboarding/health.py), so the clients stay free of
# the database; a listener that fails is logged and never fails the call.
AnswerListener = Callable[[str, int, "VendorError | None"], None]
answer_listeners: list[AnswerListener] = []


def _tell_listeners(service: str, status: int, error: VendorError | None = None) -> None:
    for listener in answer_listeners:
        try:
            listener(service, status, error)
        except Exception:
            logging.getLogger(__name__).exception("A listener failed on %s's answer %s", service, status)


@dataclass(frozen=True)
class Try:
    """One HTTP request sent (a retry is another): its answer's status (None: no answer) and the vendor's request id."""

    service: str
    status: int | None
    request_id: str = ""


_tries: contextvars.ContextVar[list[Try] | None] = contextvars.ContextVar("http_tries", default=None)


@contextlib.contextmanager
def tries_counted() -> Iterator[list[Try]]:
    """Collect every HTTP try the calls made inside the block send, retries included (in this thread)."""
    tries: list[Try] = []
    token = _tries.set(tries)
    try:
        yield tries
    finally:
        _tries.reset(token)


def _count_try(service: str, status: int | None, request_id: str = "") -> None:
    if (tries := _tries.get()) is not None:
        tries.append(Try(service, status, request_id))


class Transport:
    """A session bound to one vendor's base URL, with its error format and rate-limit header.

    `clock` (monotonic seconds) times the calls and `sleep` waits between attempts; a test gives
    a fake pair so that nothing waits for real. Its answers are told to the `answer_listeners` and its
    tries counted in `tries_counted`, unless `reports` is off (a sign-in's transport: the call that needed
    the token reports).
    """

    def __init__(
        self,
        service: str,
        base_url: str,
        *,
        auth: AuthBase,
        policy: RetryPolicy,
        describe_error: Callable[[requests.Response], ErrorBody],
        rate_limit_wait: Callable[[requests.Response], float | None],
        request_id_header: str = "",
        pacer: Pacer | None = None,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        reports: bool = True,
    ) -> None:
        self.service = service
        self.reports = reports
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.policy = policy
        self.describe_error = describe_error
        self.rate_limit_wait = rate_limit_wait
        self.request_id_header = request_id_header
        self.pacer = pacer
        self.clock = clock
        self.sleep = sleep
        self.session = session or environment_session(self.base_url)
        self.session.headers["Accept"] = "application/json"
        self.log = logging.getLogger(f"offboarding.clients.{service}")
        self._backoff = wait_exponential_jitter(
            multiplier=policy.backoff_initial, max=policy.backoff_max, jitter=policy.backoff_initial
        )

    def __repr__(self) -> str:
        return f"Transport({self.service!r}, {self.base_url!r})"

    def request(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool = True,
        headers: dict[str, str] | None = None,
        read: Callable[[requests.Response], Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Send `method path` (a path under the base URL, or an absolute URL on the same origin).

        `kwargs` go to requests (params, json, data, files). With `read`, the body is streamed: `read(response)`
        reads it (response.iter_content) inside the retried call, so a body cut short is retried like any
        transient failure, and its result is returned instead of the response.
        """
        url = self._url(path)
        headers = dict(headers or {})
        if method in ("POST", "PUT") and not any(k in kwargs for k in ("json", "data", "files")):
            # Okta answers 411 to a body-less POST without it.
            headers["Content-Length"] = "0"
        try:
            response = self._send(method, url, headers, idempotent, {**kwargs, "read": read})
        except VendorError as e:
            if e.status and self.reports:
                _tell_listeners(self.service, e.status, e)
            raise
        status, result = (response.status_code, response) if read is None else response
        if self.reports:
            _tell_listeners(self.service, status)
        return result

    def _send(
        self, method: str, url: str, headers: dict[str, str], idempotent: bool, kwargs: dict[str, Any]
    ) -> requests.Response:
        try:
            return self._retrying(idempotent)(self._send_once, method, url, headers, kwargs)
        except AuthenticationFailed:
            if not isinstance(self.auth, RenewableAuth):
                raise
            # The token may have expired or been revoked early: renew it, once.
            self.auth.forget_token()
            return self._retrying(idempotent)(self._send_once, method, url, headers, kwargs)

    def _url(self, path: str) -> str:
        if not path.startswith(("http://", "https://")):
            return f"{self.base_url}/{path.lstrip('/')}"
        # Pagination links: never send our credentials to another origin.
        if urlsplit(path)[:2] != urlsplit(self.base_url)[:2]:
            raise VendorError(self.service, "refusing to follow a link to another host", path=urlsplit(path).path)
        return path

    def _retrying(self, idempotent: bool) -> Retrying:
        return Retrying(
            stop=stop_after_attempt(self.policy.max_attempts),
            wait=self._wait,
            retry=retry_if_exception(lambda error: self._worth_retrying(error, idempotent)),
            before_sleep=self._log_retry,
            sleep=self.sleep,
            reraise=True,
        )

    def _worth_retrying(self, error: BaseException, idempotent: bool) -> bool:
        if isinstance(error, RateLimited):
            # Refused before doing anything, so safe even for a create; but not worth
            # holding a worker for a window that resets too far away.
            return error.retry_after is None or error.retry_after <= self.policy.max_rate_limit_wait
        if isinstance(error, TransientError):
            return idempotent or not error.ambiguous
        return False

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            return min(retry_after, self.policy.max_rate_limit_wait)
        return self._backoff(state)

    def _log_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        self.log.info("%s: retrying in %.2fs (attempt %d): %s", self.service, wait, state.attempt_number + 1, error)

    def _send_once(self, method: str, url: str, headers: dict[str, str], kwargs: dict[str, Any]) -> Any:
        kwargs = dict(kwargs)
        read = kwargs.pop("read", None)
        if read is not None:
            kwargs["stream"] = True
        path = urlsplit(url).path
        if self.pacer:
            self.pacer.before_request(method, path)
        started = self.clock()
        try:
            response = self.session.request(
                method,
                url,
                headers=headers,
                auth=self.auth,
                timeout=(self.policy.connect_timeout, self.policy.read_timeout),
                **kwargs,
            )
            if self.pacer:
                self.pacer.observe(method, path, response)
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as e:
            summary = _describe_failure(e)
            if self.reports:
                _count_try(self.service, None)
            self.log.debug("%s %s %s -> %s after %.1f ms", self.service, method, path, summary, self._ms(started))
            raise TransientError(self.service, summary, ambiguous=not _never_sent(e), method=method, path=path) from e
        finally:
            if self.pacer:
                self.pacer.release(method, path)
        request_id = response.headers.get(self.request_id_header, "") if self.request_id_header else ""
        if self.reports:
            _count_try(self.service, response.status_code, request_id)
        self.log.debug(
            "%s %s %s -> %s in %.1f ms%s",
            self.service,
            method,
            path,
            response.status_code,
            self._ms(started),
            f" (request id {request_id})" if request_id else "",
        )
        if response.status_code >= 400:
            raise self._error(method, path, response, request_id)
        if read is None:
            return response
        try:
            return response.status_code, read(response)
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as e:
            summary = f"body cut short: {_describe_failure(e)}"
            self.log.debug("%s %s %s -> %s after %.1f ms", self.service, method, path, summary, self._ms(started))
            raise TransientError(self.service, summary, ambiguous=True, method=method, path=path) from e
        finally:
            response.close()

    def _ms(self, started: float) -> float:
        return (self.clock() - started) * 1000

    def _error(self, method: str, path: str, response: requests.Response, request_id: str) -> VendorError:
        body = self.describe_error(response)
        status = response.status_code
        common: dict[str, Any] = {
            "status": status,
            "code": body.code,
            "request_id": request_id,
            "error_id": body.error_id,
            "causes": body.causes,
            "details": body.details,
            "method": method,
            "path": path,
        }
        if status == 429:
            return RateLimited(self.service, body.summary, retry_after=self.rate_limit_wait(response), **common)
        if status in TRANSIENT_STATUSES:
            retry_after = seconds_header(response, "Retry-After")
            return TransientError(self.service, body.summary, retry_after=retry_after, **common)
        error_class = ERROR_CLASSES.get(status, InvalidRequest if status < 500 else VendorError)
        return error_class(self.service, body.summary, **common)
