"""What every simulated vendor provides to the server: its handler and its own way to fail."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

from werkzeug import Request, Response

from sandbox.state import SandboxState


class DropConnection(ConnectionError):
    """Raised by the app to end the TCP connection without an answer (Werkzeug drops it quietly)."""


def json_response(data: object, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(data), status, headers=headers, content_type="application/json")


class Service:
    name = ""

    def __init__(self, state: SandboxState) -> None:
        self.state = state

    def handle(self, request: Request, path: str) -> Response:
        raise NotImplementedError

    @contextmanager
    def admission(self, request: Request, path: str) -> Iterator[Response | None]:
        """A refusal (concurrency or rate limit) to answer instead, or None to go on."""
        yield None

    def finish(self, request: Request, response: Response) -> Response:
        """Headers the vendor puts on every answer."""
        return response

    def error_response(self, status: int) -> Response:
        return Response("<html><body><h1>Server Error</h1></body></html>", status, content_type="text/html")

    def rate_limited_response(self, retry_after: int) -> Response:
        return Response("Too Many Requests", 429, headers={"Retry-After": str(retry_after)}, content_type="text/plain")
