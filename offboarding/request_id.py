"""A request id for every web request and background job, carried into audit events (as NetBox does)."""

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_request_id: ContextVar[str] = ContextVar("request_id", default="")


def current_request_id() -> str:
    return _request_id.get()


@contextmanager
def request_id(value: str | None = None) -> Iterator[str]:
    """Run a block (a job, a command) under its own request id."""
    token = _request_id.set(value or uuid.uuid4().hex)
    try:
        yield _request_id.get()
    finally:
        _request_id.reset(token)


class RequestIdMiddleware:
    """Stamp each request with an id, echoed in the X-Request-Id response header."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        with request_id() as rid:
            request.id = rid
            response = self.get_response(request)
        response["X-Request-Id"] = rid
        return response


class RequestIdFilter(logging.Filter):
    """Give every log record the request id it was written under (empty outside a request or a job)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True
