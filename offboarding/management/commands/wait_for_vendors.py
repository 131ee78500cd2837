"""`python manage.py wait_for_vendors`: wait until Workday, Okta and Jira answer, so what starts next does not
begin with connection errors (`make run` starts the poller and the worker after it, once the sandbox is up)."""

import time

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Wait until Workday, Okta and Jira answer HTTP at their configured addresses (any answer will do)."

    def add_arguments(self, parser):
        parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait at most (default 120)")

    def handle(self, *args, timeout: float, **options):
        vendors = {
            "Workday": settings.WORKDAY_REPORT_URL,
            "Okta": settings.OKTA_ORG_URL,
            "Jira": settings.JIRA_BASE_URL,
        }
        deadline = time.monotonic() + timeout
        waiting = dict(vendors)
        while waiting:
            waiting = {name: url for name, url in waiting.items() if not answers(url)}
            if not waiting:
                break
            if time.monotonic() > deadline:
                names = ", ".join(f"{name} ({url})" for name, url in waiting.items())
                raise CommandError(f"No answer after {timeout:g} s from {names}.")
            time.sleep(0.25)
        self.stdout.write(f"{', '.join(vendors)} answer.")


def answers(url: str) -> bool:
    """Whether anything answers HTTP at `url`: a refusal (401, 404) is an answer; no connection is not."""
    try:
        requests.head(url, timeout=2, allow_redirects=False)
    except requests.RequestException:
        return False
    return True
