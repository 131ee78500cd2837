"""The sandbox server: one WSGI app serving Workday, Okta and Jira under their prefixes, plus /_sandbox/.

Every vendor request passes the same way: the vendor's front door (Okta's concurrency and rate limits),
then any switched-on faults, then the simulator; it is logged with its status and duration.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime

from werkzeug import Request, Response
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from sandbox import control_api, workday
from sandbox.faults import Fault
from sandbox.jira import JiraService
from sandbox.okta import OktaService
from sandbox.org import build_org
from sandbox.service import DropConnection, Service
from sandbox.state import SandboxState

# The Authorization schemes the request log names.
AUTH_SCHEMES = ("SSWS", "Bearer", "DPoP", "Basic")


class WorkdayService(Service):
    name = "workday"

    def handle(self, request: Request, path: str) -> Response:
        return workday.handle(self.state, request, path)


class SandboxApp:
    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.services: dict[str, Service] = {
            "okta": OktaService(state),
            "jira": JiraService(state),
            "workday": WorkdayService(state),
        }
        self.in_flight: Counter[str] = Counter()  # requests each service is answering right now

    def __call__(self, environ: dict, start_response) -> Iterable[bytes]:
        request = Request(environ)
        if request.path.startswith("/_sandbox/"):
            return control_api.handle(self.state, request)(environ, start_response)
        name, _, rest = request.path.lstrip("/").partition("/")
        service = self.services.get(name)
        if service is None:
            return Response("Not Found", 404, content_type="text/plain")(environ, start_response)
        path = "/" + rest
        started, status = time.monotonic(), 0
        with self.state.lock:
            self.in_flight[service.name] += 1
            in_flight = self.in_flight[service.name]
        try:
            response = self.serve(service, request, path)
            status = response.status_code
            # Read the body now, so the logged duration covers the whole answer.
            response.get_data()
            return response(environ, start_response)
        finally:
            entry = {
                "service": service.name,
                "method": request.method,
                "path": path,
                "query": request.query_string.decode("latin-1"),
                "status": status,  # 0: the connection was dropped without an answer
                # The Authorization scheme, never the credential (a client may send SSWS and the token unspaced).
                "auth": next((s for s in AUTH_SCHEMES if request.headers.get("Authorization", "").startswith(s)), ""),
                "time": datetime.fromtimestamp(self.state.now(), UTC).isoformat(timespec="milliseconds"),
                "duration": round(time.monotonic() - started, 4),
                # How many requests to this service were being answered as this one arrived, itself included.
                "in_flight": in_flight,
            }
            with self.state.lock:  # readers iterate the log under the lock
                self.in_flight[service.name] -= 1
                self.state.requests.append(entry)

    def serve(self, service: Service, request: Request, path: str) -> Response:
        with service.admission(request, path) as refusal:
            if refusal is not None:
                return service.finish(request, refusal)
            faults = self.triggered_faults(service.name, request.method, path)
            kinds = {fault.kind: fault for fault in faults}
            if "outage" in kinds:
                self.drop(request)
            if "timeout" in kinds:
                self.hold(request, kinds["timeout"].seconds)
            if "latency" in kinds:
                self.state.shutting_down.wait(kinds["latency"].seconds)
            if "rate_limit" in kinds:
                response = service.rate_limited_response(kinds["rate_limit"].retry_after)
            elif "error" in kinds:
                response = service.error_response(kinds["error"].status)
            else:
                response = service.handle(request, path)
            if "malformed" in kinds:
                body = kinds["malformed"].body
                response.set_data(body if body is not None else "<html><body>Service unavailable</body></html>")
            elif "truncated" in kinds:
                body = response.get_data()
                response.set_data(body[: len(body) // 2])
            elif "cut_off" in kinds:
                # The connection closes halfway through a body announced whole (a proxy or a server dying).
                body = response.get_data()
                response.set_data(body[: len(body) // 2])
                response.headers["Content-Length"] = str(len(body))
                response.headers["Connection"] = "close"
            return service.finish(request, response)

    def triggered_faults(self, service: str, method: str, path: str) -> list[Fault]:
        with self.state.lock:
            triggered = []
            for fault in self.state.faults:
                if not fault.matches(service, method, path):
                    continue
                if fault.after > 0:  # still letting the first matching requests through
                    fault.after -= 1
                    continue
                if self.state.fault_rng.random() < fault.rate:
                    triggered.append(fault)
                    fault.hits += 1
                    if fault.count is not None:
                        fault.count -= 1
            self.state.faults = [f for f in self.state.faults if f.count is None or f.count > 0]
            return triggered

    def hold(self, request: Request, seconds: float) -> None:
        """Keep the connection open with no answer, until the fault or the server goes away; then drop it."""
        released = self.state.faults_cleared
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not released.is_set() and not self.state.shutting_down.is_set():
            released.wait(0.05)
        self.drop(request)

    @staticmethod
    def drop(request: Request) -> None:
        connection = request.environ.get("werkzeug.socket")
        if connection is not None:
            with contextlib.suppress(OSError):  # the client may have gone already
                connection.shutdown(socket.SHUT_RDWR)
        raise DropConnection("fault: connection dropped")


class RequestHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if getattr(self.server, "log_requests", False):
            super().log_request(code, size)

    def date_time_string(self, timestamp: float | None = None) -> str:
        """Every answer's Date header: the vendors' clock (SandboxState.now), which a test may move on."""
        clock = getattr(self.server, "clock", None)
        if timestamp is None and clock is not None:
            timestamp = clock()
        return super().date_time_string(timestamp)


class SandboxServer:
    """The app on a real socket, served by one thread per connection."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, state: SandboxState | None = None, log_requests: bool = False
    ) -> None:
        self.state = state or SandboxState(build_org)
        self.httpd: BaseWSGIServer = make_server(
            host, port, SandboxApp(self.state), threaded=True, request_handler=RequestHandler
        )
        self.httpd.log_requests = log_requests
        self.httpd.clock = self.state.now
        self.httpd.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.url = f"http://{host}:{self.httpd.server_port}"
        self.thread: threading.Thread | None = None

    def start(self) -> SandboxServer:
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="sandbox-server", daemon=True)
        self.thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.state.shutting_down.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        if self.thread is not None:
            self.thread.join(timeout=5)
