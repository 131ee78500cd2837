"""`python manage.py sandbox`: serve the simulated Workday, Okta and Jira until interrupted."""

import logging
import os

from django.core.management.base import BaseCommand, CommandError

from sandbox.org import build_org
from sandbox.server import SandboxServer
from sandbox.state import OptionError, Options, SandboxState

TRUE = ("1", "true", "yes", "on")


class Command(BaseCommand):
    help = "Serve the simulated Workday (/workday), Okta (/okta) and Jira (/jira) APIs, with a control API."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8001", help="host:port to listen on")
        parser.add_argument("--seed", type=int, default=1, help="same seed, same organisation")
        parser.add_argument("--workers", type=int, default=40, help="people in Workday (each with an Okta account)")
        parser.add_argument("--groups-per-person", type=int, default=6)
        parser.add_argument("--pending-terminations", type=int, default=6)
        parser.add_argument("--demo", action="store_true", help="add the Acme demo cases (break-glass admin, ...)")
        parser.add_argument(
            "--quiet", action="store_true", help="do not log each request, whatever SANDBOX_ACCESS_LOG says"
        )
        parser.add_argument(
            "--access-log", action="store_true", help="log each request (as SANDBOX_ACCESS_LOG=1 does; off by default)"
        )

    def handle(
        self, *args, addr, seed, workers, groups_per_person, pending_terminations, demo, quiet, access_log, **options
    ):
        host, _, port = addr.rpartition(":")
        if not host or not port.isdigit():
            raise CommandError(f"--addr must be host:port, not {addr!r}")
        try:
            settings = Options.from_dict(
                {
                    "seed": seed,
                    "workers": workers,
                    "groups_per_person": groups_per_person,
                    "pending_terminations": pending_terminations,
                    "demo": demo,
                }
            )
        except OptionError as error:
            raise CommandError(str(error)) from error
        state = SandboxState(build_org)
        state.reset(settings)
        logging.basicConfig(level=logging.INFO, format="%(message)s")
        # One line per request is hundreds a minute once the product runs: off unless asked for.
        log_requests = not quiet and (access_log or os.environ.get("SANDBOX_ACCESS_LOG", "").lower() in TRUE)
        server = SandboxServer(host, int(port), state, log_requests=log_requests)
        self.stdout.write(
            f"Sandbox on {server.url}: {len(state.workers)} workers, {len(state.users)} Okta users, "
            f"{len(state.groups)} groups, {len(state.terminations)} terminations (seed {seed})\n"
            f"  Okta {server.url}/okta  Jira {server.url}/jira  "
            f"Workday {server.url}/workday/ccx/service/customreport2/acme/ISU_Offboarding/Terminations?format=json\n"
            f"  control API {server.url}/_sandbox/config"
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            state.shutting_down.set()
            server.httpd.server_close()
