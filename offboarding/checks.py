"""`manage.py check --deploy`: a deployment that would talk to the sandbox, or send a credential in clear, fails.

Start-up already refuses the worst outside DEBUG (offboarding/settings.py: vendor URLs required and
https://); this catches what a configuration can still hold, whatever DEBUG says: the sandbox's own
address, the sandbox's public credentials, plain HTTP, and the sandbox app itself.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register

from offboarding.settings import DEVELOPMENT_AUDIT_KEY, audit_key_id
from sandbox import credentials as sandbox

VENDOR_URLS = ("WORKDAY_REPORT_URL", "OKTA_ORG_URL", "JIRA_BASE_URL")
SANDBOX_PORT = int(sandbox.ADDRESS.rpartition(":")[2])


def on_this_machine(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_sandbox_url(url: str) -> bool:
    """The sandbox's address, or one of its paths, on this machine."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return on_this_machine(parts.hostname or "") and (
        port == SANDBOX_PORT or parts.path.startswith(sandbox.PATH_PREFIXES)
    )


@register(Tags.security, deploy=True)
def vendors_are_real(app_configs=None, **kwargs) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for name in VENDOR_URLS:
        url = getattr(settings, name, "")
        if is_sandbox_url(url):
            errors.append(
                Error(f"{name} is the sandbox ({url}).", hint="Set it to the vendor's real URL.", id="offboarding.E001")
            )
        elif not url.startswith("https://"):
            errors.append(
                Error(
                    f"{name} is not https:// ({url}): the vendor's credentials would travel in clear.",
                    hint="Use the vendor's https:// URL.",
                    id="offboarding.E002",
                )
            )
    for name, value in sandbox.WELL_KNOWN.items():
        if getattr(settings, name, None) == value:
            errors.append(
                Error(
                    f"{name} is the sandbox's public credential.",
                    hint="Set the real one (or NAME_FILE).",
                    id="offboarding.E003",
                )
            )
    if next(iter(settings.AUDIT_KEYS)) == audit_key_id("AUDIT_KEY", DEVELOPMENT_AUDIT_KEY):
        errors.append(
            Error(
                "The audit log is sealed with the public development key (AUDIT_KEY is not set).",
                hint="Set AUDIT_KEY (or AUDIT_KEY_FILE): a secret of 32 characters or more, kept out of the database.",
                id="offboarding.E005",
            )
        )
    if apps.is_installed("sandbox"):
        errors.append(
            Error(
                "The sandbox app is installed (SANDBOX_ENABLED).",
                hint="Leave SANDBOX_ENABLED unset in production.",
                id="offboarding.E004",
            )
        )
    return errors


@register(Tags.security, deploy=True)
def install_id_is_its_own(app_configs=None, **kwargs) -> list[CheckMessage]:
    """Development's default install id would be shared by every installation that kept it."""
    if getattr(settings, "OFFBOARDING_INSTALL_ID", "") == "dev":
        return [
            Error(
                "OFFBOARDING_INSTALL_ID is 'dev', development's default: another installation keeping it would "
                "share its Jira labels.",
                hint="Give each installation its own, e.g. prod or staging.",
                id="offboarding.E005",
            )
        ]
    return []


@register(Tags.caches, deploy=True)
def cache_is_shared(app_configs=None, **kwargs) -> list[CheckMessage]:
    """The login throttle, the push refusals and the live reads' per-user limit count in the cache: in each
    process's own memory, every limit is multiplied by the number of web workers."""
    if settings.CACHES["default"]["BACKEND"].endswith("LocMemCache") and settings.WEB_CONCURRENCY != 1:
        return [
            Error(
                "CACHE_URL is locmem://, each process's own memory: with several web workers every limit (the "
                "login throttle, the push refusals, the live reads) is multiplied by their number.",
                hint="Set CACHE_URL to db:// (the default) or redis://host:6379/n, or WEB_CONCURRENCY=1 for a single "
                "web worker.",
                id="offboarding.E006",
            )
        ]
    return []
