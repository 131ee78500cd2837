"""Offboarding settings: one file, every value from the environment (or `.env`).

A missing or malformed value stops start-up with an error naming the variable.
Any secret can also be given as NAME_FILE, the path of a file holding it.
"""

import hashlib
import ipaddress
import json
import os
import re
import tempfile
import warnings
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
import redis.connection
from django.core.exceptions import ImproperlyConfigured
from environs import Env, EnvError
from marshmallow.validate import URL, OneOf, Range

from sandbox import credentials as sandbox

BASE_DIR = Path(__file__).resolve().parent.parent

env = Env()
if not os.environ.get("OFFBOARDING_IGNORE_DOTENV"):
    env.read_env(BASE_DIR / ".env", recurse=False)


def envsecret(name: str, default: str | None = None) -> str | None:
    """NAME, or the contents of the file named by NAME_FILE (from the environment or `.env`: environs keeps
    what it reads from `.env` to itself, out of os.environ)."""
    path = env.str(f"{name}_FILE", "")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as e:
            raise ImproperlyConfigured(f"{name}_FILE: cannot read {path}: {e.strerror}") from e
    return env.str(name, default)


def envurl(name: str, default: str) -> str:
    """An http(s) URL, without a trailing slash."""
    return env.str(name, default, validate=URL(require_tld=False, schemes={"http", "https"})).rstrip("/")


def required(name: str, value: str | None) -> str:
    if not value:
        raise ImproperlyConfigured(f"{name} must be set (or {name}_FILE)")
    return value


def envjsonobject(name: str, of: str = "field id -> value") -> dict:
    """A JSON object (empty when unset) of `of`: anything else refuses to start, naming the variable."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as e:
        raise ImproperlyConfigured(f"{name} is not valid JSON: {e}") from e
    if not isinstance(value, dict):
        raise ImproperlyConfigured(f"{name} must be a JSON object of {of}, not {type(value).__name__}")
    return value


CACHE_TABLE = "offboarding_cache"  # created by migration 0021_cache_table, so no deploy can forget it


def cache_from_url(url: str) -> dict:
    """CACHES["default"] from CACHE_URL: db:// (the database's table CACHE_TABLE), redis://host:port/n (or
    rediss://), or locmem:// (this process's memory only: one web worker, or development)."""
    scheme = urlsplit(url).scheme
    if scheme == "db":
        return {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": CACHE_TABLE}
    if scheme in ("redis", "rediss"):
        return {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
    if scheme == "locmem":
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "offboarding"}
    raise ImproperlyConfigured(f"CACHE_URL must be db://, redis://host:port/n or locmem://, not {url!r}")


def redis_database(url: str) -> tuple[str, int, int]:
    """(host, port, database number) of a redis:// URL: what the cache and the broker must not share."""
    parts = redis.connection.parse_url(url)
    return (parts.get("host", "localhost"), parts.get("port", 6379), parts.get("db", 0))


def is_loopback(url: str) -> bool:
    """The URL's host is this machine (where the sandbox listens)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def vendor_url(name: str, sandbox_url: str) -> str:
    """A vendor's URL. In development it defaults to the sandbox; outside DEBUG it must be given, and be
    https://, for the vendor's credentials go with every call (SANDBOX_ENABLED lets it be the sandbox here)."""
    if not DEBUG and not os.environ.get(name):
        raise ImproperlyConfigured(f"{name} must be set: outside DEBUG there is no default (it would be the sandbox)")
    url = envurl(name, sandbox_url)
    if not DEBUG and not url.startswith("https://") and not (SANDBOX_ENABLED and is_loopback(url)):
        raise ImproperlyConfigured(
            f"{name} must be an https:// URL outside DEBUG: the credentials would travel in clear"
        )
    return url


try:
    DEBUG = env.bool("DEBUG", False)
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
    CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", [])
    SITE_URL = envurl("SITE_URL", "http://127.0.0.1:8000")
    AUTH_MODE = env.str("AUTH_MODE", "local" if DEBUG else "adfs")
    Q_BROKER = env.str("Q_BROKER", "orm")
    Q_WORKERS = env.int("Q_WORKERS", 2)
    Q_TIMEOUT = env.int("Q_TIMEOUT", 900)
    # The broker's queue name: clusters sharing a broker and a name share the work.
    Q_CLUSTER_NAME = env.str("Q_CLUSTER_NAME", "offboarding")
    REDIS_URL = env.str("REDIS_URL", "redis://127.0.0.1:6379/0")
    # The cache every web process shares: the login throttle, the push refusals, the case pages' live reads
    # and their per-user limit count there. See README "Settings".
    CACHE_URL = env.str("CACHE_URL", "db://")
    CACHE_KEY_PREFIX = env.str("CACHE_KEY_PREFIX", "")
    # gunicorn's own variable (its default --workers): a per-process cache (locmem://) only with 1.
    WEB_CONCURRENCY = env.int("WEB_CONCURRENCY", 0)
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", not DEBUG)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
    DATABASE_URL = env.str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
    # The simulated Workday, Okta and Jira (the `sandbox` app and its command): development's own, and,
    # outside DEBUG, only for a run against the sandbox on this machine with its public credentials (checked below).
    SANDBOX_ENABLED = env.bool("SANDBOX_ENABLED", DEBUG)
    WORKDAY_REPORT_URL = vendor_url("WORKDAY_REPORT_URL", sandbox.WORKDAY_REPORT_URL)
    WORKDAY_USERNAME = env.str("WORKDAY_USERNAME", "ISU_Offboarding")
    OKTA_ORG_URL = vendor_url("OKTA_ORG_URL", sandbox.OKTA_URL)
    OKTA_CLIENT_ID = env.str("OKTA_CLIENT_ID", "")
    # Apps (read the assignments, re-assign on restore), admin roles, Universal Logout: see README "Okta access".
    OKTA_SCOPES = env.list(
        "OKTA_SCOPES",
        [
            "okta.users.manage",
            "okta.groups.manage",
            "okta.apps.manage",
            "okta.roles.read",
            "okta.universalLogout.manage",
        ],
    )
    JIRA_BASE_URL = vendor_url("JIRA_BASE_URL", sandbox.JIRA_URL)
    JIRA_EMAIL = env.str("JIRA_EMAIL", "offboarding@example.com")
    JIRA_PROJECT_KEY = env.str("JIRA_PROJECT_KEY", "SEC")
    JIRA_ISSUE_TYPE = env.str("JIRA_ISSUE_TYPE", "Task")
    # The issue type of the follow-ups filed under a case's ticket (a sub-task type of the project).
    JIRA_SUBTASK_ISSUE_TYPE = env.str("JIRA_SUBTASK_ISSUE_TYPE", "Sub-task")
    # This installation's name in what it leaves in shared systems (the label of each case's Jira ticket):
    # staging, production and a restored copy that share a Jira project must each have their own, so no case
    # ever adopts a ticket another installation filed for its own case of the same number. There is no
    # default outside DEBUG: nothing this process can see (a host name, a database) is sure to differ.
    OFFBOARDING_INSTALL_ID = env.str("OFFBOARDING_INSTALL_ID", "dev" if DEBUG else "")
    ALERT_EMAILS = env.list("ALERT_EMAILS", [])
    EMAIL_HOST = env.str("EMAIL_HOST", "localhost")
    EMAIL_PORT = env.int("EMAIL_PORT", 25)
    EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", False)
    EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", "")
    DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", "offboarding@localhost")
    LOG_LEVEL = env.log_level("LOG_LEVEL", "INFO")
    # A line for every web request and every queued task (runserver's and django-q2's INFO lines); without it the
    # log has one line per audit event (`offboarding.events`), and warnings and errors.
    ACCESS_LOG = env.bool("ACCESS_LOG", False)
    SYNC_INTERVAL_MINUTES = env.int("SYNC_INTERVAL_MINUTES", 1, validate=Range(min=1))
    # The Workday sync is in an outage (alerted once, /healthz 503, a banner) after this many failed syncs in a
    # row, or when no sync has succeeded for this many minutes.
    SYNC_ALERT_AFTER_FAILURES = env.int("SYNC_ALERT_AFTER_FAILURES", 3, validate=Range(min=1))
    SYNC_ALERT_AFTER_MINUTES = env.int("SYNC_ALERT_AFTER_MINUTES", 15, validate=Range(min=1))
    # A poller process (`manage.py sync_workday --poll`, the Procfile's `poller`) reads the report at that
    # interval exactly; django-q2's scheduler wakes only every 30 s, so it fires a 1-minute job every 60-90 s.
    WORKDAY_POLLER = env.bool("WORKDAY_POLLER", True)
    # A revoking worker renews its lease at every step; when it stops renewing, another resumes the case.
    REVOCATION_LEASE_SECONDS = env.int("REVOCATION_LEASE_SECONDS", 300, validate=Range(min=1))
    # A case failed on a passing outage (timeout, refused or dropped connection, 5xx, 429) is retried by itself
    # every AUTO_RETRY_EVERY_MINUTES for AUTO_RETRY_FOR_MINUTES after it first failed (0: never by itself).
    AUTO_RETRY_EVERY_MINUTES = env.int("AUTO_RETRY_EVERY_MINUTES", 5, validate=Range(min=1))
    AUTO_RETRY_FOR_MINUTES = env.int("AUTO_RETRY_FOR_MINUTES", 120, validate=Range(min=0))
    # Okta calls of one case (its group removals) or of one sync (its lookups) made at the same time.
    REVOCATION_PARALLEL_CALLS = env.int("REVOCATION_PARALLEL_CALLS", 8, validate=Range(min=1))
    ADFS_SERVER = env.str("ADFS_SERVER", "")
    ADFS_CLIENT_ID = env.str("ADFS_CLIENT_ID", "")
    ADFS_RELYING_PARTY_ID = env.str("ADFS_RELYING_PARTY_ID", "")
    ADFS_AUDIENCE = env.str("ADFS_AUDIENCE", "")
    ADFS_USERNAME_CLAIM = env.str("ADFS_USERNAME_CLAIM", "winaccountname")
    ADFS_GROUPS_CLAIM = env.str("ADFS_GROUPS_CLAIM", "group")
    ADFS_CA_BUNDLE = env.str("ADFS_CA_BUNDLE", "") or True
    # Directory group name -> our role, e.g. "SG-Offboarding-Approvers=approvers,..."
    ADFS_ROLE_GROUPS = env.dict(
        "ADFS_ROLE_GROUPS",
        {"Offboarding-Approvers": "approvers", "Offboarding-Auditors": "auditors", "Offboarding-Admins": "admins"},
    )
except EnvError as e:
    raise ImproperlyConfigured(str(e)) from e

# --- Vendor API clients (offboarding/clients, issue 4) ---
try:
    CLIENT_CONNECT_TIMEOUT = env.float("CLIENT_CONNECT_TIMEOUT", 5.0)  # seconds, every call
    CLIENT_READ_TIMEOUT = env.float("CLIENT_READ_TIMEOUT", 30.0)
    # The Workday report can be large and slow to build: its read has timeouts of its own, longer than the rest.
    WORKDAY_CONNECT_TIMEOUT = env.float("WORKDAY_CONNECT_TIMEOUT", 10.0, validate=Range(min=0, min_inclusive=False))
    WORKDAY_READ_TIMEOUT = env.float("WORKDAY_READ_TIMEOUT", 300.0, validate=Range(min=0, min_inclusive=False))
    CLIENT_MAX_ATTEMPTS = env.int("CLIENT_MAX_ATTEMPTS", 4)  # tries per call for timeouts, 5xx, 429
    CLIENT_BACKOFF_INITIAL = env.float("CLIENT_BACKOFF_INITIAL", 0.5)  # exponential backoff + jitter
    CLIENT_BACKOFF_MAX = env.float("CLIENT_BACKOFF_MAX", 10.0)
    CLIENT_RATE_LIMIT_MAX_WAIT = env.float("CLIENT_RATE_LIMIT_MAX_WAIT", 60.0)  # longest wait for a 429 reset
    # With the ORM broker, the worker processes of one host share one Okta budget in a file in this directory
    # (offboarding/clients/pacing.py, HostRateBudget): writable by them, local to the host (not a network share).
    OKTA_BUDGET_DIR = env.path("OKTA_BUDGET_DIR", BASE_DIR / "var" / "okta-budget")
    # Our share of Okta's org-wide limit on simultaneous requests (75 on most orgs), for all workers together.
    OKTA_MAX_CONCURRENCY = env.int("OKTA_MAX_CONCURRENCY", 20, validate=Range(min=1))
    # The share of each Okta rate-limit window, and of OKTA_MAX_CONCURRENCY, kept for revocations: the reads a
    # page makes to show Okta live spend only the rest and, past it, are skipped (the page shows what is stored);
    # a sync's lookups of the whole report spend only the rest too and, past it, wait for the next window.
    OKTA_BUDGET_RESERVED_FOR_REVOCATION = env.float(
        "OKTA_BUDGET_RESERVED_FOR_REVOCATION", 0.5, validate=Range(min=0, max=0.95)
    )
    # A case page's live Okta read is kept this long (per case; 0: not kept), and each user may make this many
    # such reads a minute (0: none); past it the page shows what is stored.
    OKTA_LIVE_READ_CACHE_SECONDS = env.int("OKTA_LIVE_READ_CACHE_SECONDS", 30, validate=Range(min=0, max=3600))
    OKTA_LIVE_READS_PER_USER_PER_MINUTE = env.int(
        "OKTA_LIVE_READS_PER_USER_PER_MINUTE", 20, validate=Range(min=0, max=10_000)
    )
    # The report's prompt that narrows it to one worker, for Workday's push notifications.
    WORKDAY_EMPLOYEE_PROMPT = env.str("WORKDAY_EMPLOYEE_PROMPT", "Employee_ID")
    # The whole report holds every termination dated within this many days before today, and every later
    # one (the sandbox's holds them all): an open case dated inside it whose row is missing has vanished.
    WORKDAY_REPORT_WINDOW_DAYS = env.int("WORKDAY_REPORT_WINDOW_DAYS", 30, validate=Range(min=0, max=3650))
    WORKDAY_PUSH_TOLERANCE_SECONDS = env.int("WORKDAY_PUSH_TOLERANCE_SECONDS", 300, validate=Range(min=1))
    # Refused pushes: one audit event per address and reason per interval; past this many, 429 until it ends.
    WORKDAY_PUSH_REFUSALS_INTERVAL_SECONDS = env.int(
        "WORKDAY_PUSH_REFUSALS_INTERVAL_SECONDS", 300, validate=Range(min=1)
    )
    WORKDAY_PUSH_REFUSALS_PER_ADDRESS = env.int("WORKDAY_PUSH_REFUSALS_PER_ADDRESS", 20, validate=Range(min=1))
    OKTA_PRIVATE_KEY_ID = env.str("OKTA_PRIVATE_KEY_ID", "")  # `kid` of the service app's key, if it has one
    # The service app's tokens are DPoP-bound (RFC 9449), as Okta requires of API service apps by default;
    # false only for an app whose "Require DPoP" setting is off.
    OKTA_DPOP = env.bool("OKTA_DPOP", True)
    # Our field -> the report's column alias; set only the ones a tenant names differently,
    # e.g. WORKDAY_COLUMNS="employee_id=Worker_ID,time_zone=Location_Time_Zone".
    WORKDAY_COLUMNS = {
        "employee_id": "Employee_ID",
        # A contingent worker's row has this id instead (it is their employeeNumber in Okta).
        "contingent_worker_id": "Contingent_Worker_ID",
        "name": "Worker",
        "first_name": "First_Name",
        "last_name": "Last_Name",
        "email": "Email_Work",
        "termination_date": "Termination_Date",
        "last_day_of_work": "Last_Day_of_Work",
        "category": "Termination_Category",
        "reason": "Termination_Reason",
        "manager": "Manager",
        "department": "Supervisory_Organization",
        "location": "Location",
        "time_zone": "Time_Zone",
        "worker_type": "Worker_Type",
        "rescinded": "Is_Rescinded",
        "hire_date": "Hire_Date",
        "worker_status": "Worker_Status",
    } | env.dict("WORKDAY_COLUMNS", {})
except EnvError as e:
    raise ImproperlyConfigured(str(e)) from e

# /metrics (Prometheus): a bearer token, client networks, or both (then both must hold). Enabled when either is
# set; outside DEBUG, METRICS_ENABLED=true with neither refuses to start. In DEBUG, unprotected, loopback only.
METRICS_TOKEN = envsecret("METRICS_TOKEN", "")
try:
    METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network(n, strict=False) for n in env.list("METRICS_ALLOWED_NETWORKS", [])]
except ValueError as e:
    raise ImproperlyConfigured(f"METRICS_ALLOWED_NETWORKS: {e}") from e
try:
    METRICS_ENABLED = env.bool("METRICS_ENABLED", bool(METRICS_TOKEN or METRICS_ALLOWED_NETWORKS))
    # Log lines as JSON objects (with the request id) for a log collector, or as plain text.
    LOG_FORMAT = env.str("LOG_FORMAT", "plain", validate=OneOf(["plain", "json"]))
except EnvError as e:
    raise ImproperlyConfigured(str(e)) from e
if METRICS_ENABLED and not DEBUG and not (METRICS_TOKEN or METRICS_ALLOWED_NETWORKS):
    raise ImproperlyConfigured(
        "METRICS_ENABLED=true needs METRICS_TOKEN (or METRICS_TOKEN_FILE) or METRICS_ALLOWED_NETWORKS outside DEBUG: "
        "the metrics would be open to anyone"
    )


def follow_up_owners(name: str) -> dict[str, str]:
    """Who is assigned the follow-up of an app (or a directory, a group): JSON mapping the app's label or id
    (the directory's name or type, the group's name or id) to a Jira accountId, e.g.
    {"Salesforce": "5b10ac8d82e05b22cc7d4ef5"}. Anything else stops start-up, naming the variable."""
    owners = envjsonobject(name, "app label or id -> Jira accountId")
    for key, account_id in owners.items():
        if not key.strip():
            raise ImproperlyConfigured(f"{name}: an app label or id must not be empty")
        if not isinstance(account_id, str) or not ACCOUNT_ID.fullmatch(account_id):
            raise ImproperlyConfigured(
                f"{name}: the owner of {key!r} must be a Jira accountId (letters, digits, ':' and '-'), "
                f"not {account_id!r}"
            )
    return owners


# A Jira Cloud accountId: "5b10ac8d82e05b22cc7d4ef5" or "712020:5f0c6a2e-…".
ACCOUNT_ID = re.compile(r"[A-Za-z0-9:-]{1,128}")

try:
    FOLLOW_UP_OWNERS = follow_up_owners("FOLLOW_UP_OWNERS")
    # How often each open follow-up's status is read back from Jira (and unfiled sub-tasks filed again).
    FOLLOW_UP_SYNC_MINUTES = env.int("FOLLOW_UP_SYNC_MINUTES", 15, validate=Range(min=1, max=24 * 60))
    # How often reconciliation checks the directory-sourced leavers whose directory follow-up is still open.
    DIRECTORY_WATCH_MINUTES = env.int("DIRECTORY_WATCH_MINUTES", 60, validate=Range(min=1, max=24 * 60))
    # How often the org's group owners map (one Okta call per group) is read again in the background, so a
    # lookup never waits for it; a lookup reads it itself only when no map is kept (3 intervals).
    OKTA_GROUP_OWNERS_REFRESH_MINUTES = env.int(
        "OKTA_GROUP_OWNERS_REFRESH_MINUTES", 30, validate=Range(min=5, max=24 * 60)
    )
except EnvError as e:
    raise ImproperlyConfigured(str(e)) from e

SECRET_KEY = envsecret("SECRET_KEY") or ("insecure-development-key-do-not-use-in-production" if DEBUG else None)
required("SECRET_KEY", SECRET_KEY)
WORKDAY_PASSWORD = envsecret("WORKDAY_PASSWORD", sandbox.WORKDAY_PASSWORD if DEBUG else None)
OKTA_API_TOKEN = envsecret("OKTA_API_TOKEN", sandbox.OKTA_API_TOKEN if DEBUG else None)
OKTA_PRIVATE_KEY = envsecret("OKTA_PRIVATE_KEY")  # PEM, for the OAuth 2.0 service app
JIRA_API_TOKEN = envsecret("JIRA_API_TOKEN", sandbox.JIRA_API_TOKEN if DEBUG else None)
ADFS_CLIENT_SECRET = envsecret("ADFS_CLIENT_SECRET")
EMAIL_HOST_PASSWORD = envsecret("EMAIL_HOST_PASSWORD", "")
# Shared with Workday's outbound notification; without it every push is refused.
WORKDAY_PUSH_SECRET = envsecret("WORKDAY_PUSH_SECRET", sandbox.PUSH_SECRET if DEBUG else "")


# --- The audit log's key (issue 19): each event is sealed with HMAC-SHA-256 under a key the database does not hold.
DEVELOPMENT_AUDIT_KEY = "insecure-development-audit-key-do-not-use-in-production"
AUDIT_KEY_MIN_LENGTH = 32


def audit_key_id(name: str, key: str) -> str:
    """A key's id: its fingerprint (which tells nothing of the key), so a new key can never pass for an old one."""
    if len(key) < AUDIT_KEY_MIN_LENGTH:
        raise ImproperlyConfigured(f"{name}: an audit key must be at least {AUDIT_KEY_MIN_LENGTH} characters long")
    return "k" + hashlib.sha256(b"offboarding audit key id\0" + key.encode()).hexdigest()[:12]


def audit_keys(current: str, previous: str) -> dict[str, bytes]:
    """Key id -> key, the current key first, then the earlier ones (AUDIT_KEYS_PREVIOUS: one a line, or
    separated by commas), so events sealed under a key since rotated out still verify."""
    keys = {audit_key_id("AUDIT_KEY", current): current.encode()}
    for key in filter(None, (k.strip() for k in previous.replace(",", "\n").splitlines())):
        keys.setdefault(audit_key_id("AUDIT_KEYS_PREVIOUS", key), key.encode())
    return keys


AUDIT_KEY = envsecret("AUDIT_KEY")
if not AUDIT_KEY and DEBUG:
    warnings.warn(
        "AUDIT_KEY is not set: the audit log is sealed with the public development key (DEBUG only)", stacklevel=1
    )
    AUDIT_KEY = DEVELOPMENT_AUDIT_KEY
required("AUDIT_KEY", AUDIT_KEY)
AUDIT_KEYS = audit_keys(AUDIT_KEY, envsecret("AUDIT_KEYS_PREVIOUS", "") or "")
del AUDIT_KEY  # only AUDIT_KEYS holds it: Django's error pages mask settings named *KEY*
try:
    # The chain head is anchored on this Jira issue (found, or created, by its label when not given) every so often.
    AUDIT_ANCHOR_ISSUE = env.str("AUDIT_ANCHOR_ISSUE", "")
    AUDIT_ANCHOR_EVERY_MINUTES = env.int("AUDIT_ANCHOR_EVERY_MINUTES", 60, validate=Range(min=1))
except EnvError as e:
    raise ImproperlyConfigured(str(e)) from e

if not OKTA_CLIENT_ID:
    required("OKTA_API_TOKEN", OKTA_API_TOKEN)
else:
    required("OKTA_PRIVATE_KEY", OKTA_PRIVATE_KEY)
required("WORKDAY_PASSWORD", WORKDAY_PASSWORD)
required("JIRA_API_TOKEN", JIRA_API_TOKEN)
if SANDBOX_ENABLED and not DEBUG:
    # Safe only when nothing real can be reached or given away: every vendor is on this machine and every
    # credential is the sandbox's public one (what the benchmarks run with production settings).
    real = [
        name for name in ("WORKDAY_REPORT_URL", "OKTA_ORG_URL", "JIRA_BASE_URL") if not is_loopback(globals()[name])
    ]
    real += [
        name
        for name in (
            "WORKDAY_PASSWORD",
            "JIRA_API_TOKEN",
            *(("OKTA_CLIENT_ID",) if OKTA_CLIENT_ID else ("OKTA_API_TOKEN",)),
        )
        if globals()[name] != sandbox.WELL_KNOWN[name]
    ]
    if real:
        raise ImproperlyConfigured(
            "SANDBOX_ENABLED=true outside DEBUG runs only against the sandbox on this machine with its public "
            f"credentials; these are not the sandbox's: {', '.join(real)}"
        )

required("OFFBOARDING_INSTALL_ID", OFFBOARDING_INSTALL_ID)
if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,29}", OFFBOARDING_INSTALL_ID):
    raise ImproperlyConfigured(
        "OFFBOARDING_INSTALL_ID must be 1-30 lower-case letters, digits or hyphens (it goes into Jira labels), "
        f"not {OFFBOARDING_INSTALL_ID!r}"
    )
# Fields merged into every ticket the product files, for a project whose screens require custom fields:
# e.g. {"customfield_10010": {"value": "Security"}}. `manage.py check_vendors` names a required one missing.
JIRA_EXTRA_FIELDS = envjsonobject("JIRA_EXTRA_FIELDS")
JIRA_FIELDS_OF_THE_PRODUCT = ("project", "issuetype", "summary", "description", "labels", "parent")
if overridden := sorted(set(JIRA_EXTRA_FIELDS) & set(JIRA_FIELDS_OF_THE_PRODUCT)):
    raise ImproperlyConfigured(
        f"JIRA_EXTRA_FIELDS may not set {', '.join(overridden)}: the product sets them (see JIRA_PROJECT_KEY, "
        "JIRA_ISSUE_TYPE)"
    )

if AUTH_MODE not in ("local", "adfs"):
    raise ImproperlyConfigured(f"AUTH_MODE must be 'local' or 'adfs', not {AUTH_MODE!r}")
if AUTH_MODE == "local" and not DEBUG:
    raise ImproperlyConfigured("AUTH_MODE=local is for development only and needs DEBUG=true")
if AUTH_MODE == "adfs":
    for name in ("ADFS_SERVER", "ADFS_CLIENT_ID", "ADFS_RELYING_PARTY_ID", "ADFS_AUDIENCE"):
        required(name, globals()[name])
if Q_BROKER not in ("orm", "redis"):
    raise ImproperlyConfigured(f"Q_BROKER must be 'orm' or 'redis', not {Q_BROKER!r}")

CACHES = {"default": {**cache_from_url(CACHE_URL), "KEY_PREFIX": CACHE_KEY_PREFIX}}
if (
    Q_BROKER == "redis"
    and CACHES["default"]["BACKEND"].endswith("RedisCache")
    and redis_database(CACHE_URL) == redis_database(REDIS_URL)
):
    # Django's cache.clear() is FLUSHDB: it would empty the broker's queue with it.
    raise ImproperlyConfigured(
        "CACHE_URL must not name the broker's Redis database (REDIS_URL): clearing the cache would wipe the task "
        "queue (cache.clear() is FLUSHDB). Give the cache another database number, e.g. redis://host:6379/1"
    )

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_q",
    "accounts",
    "offboarding",
    # The simulators and their `manage.py sandbox` command exist only where the sandbox is enabled.
    *(["sandbox"] if SANDBOX_ENABLED else []),
]
if AUTH_MODE == "adfs":
    INSTALLED_APPS.append("django_auth_adfs")

MIDDLEWARE = [
    "offboarding.request_id.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "accounts.middleware.RoleRequiredMiddleware",
    "accounts.middleware.AuditorsReadOnlyMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "offboarding.urls"
WSGI_APPLICATION = "offboarding.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.roles.roles_context",
                "offboarding.context_processors.undelivered_alert",
            ],
        },
    },
]

DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web process and the worker share one file: WAL lets readers and the
    # writer proceed together, IMMEDIATE takes the write lock at BEGIN (so a
    # transaction never fails half-way on an upgrade), and the busy timeout
    # waits for the lock instead of failing with "database is locked".
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # A file, not memory, so a worker process started by a test sees the test database;
    # one per test run, so two runs side by side never share it.
    test_database = Path(tempfile.gettempdir()) / f"offboarding-test-{os.getpid()}.sqlite3"
    DATABASES["default"]["TEST"] = {"NAME": str(test_database)}
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    # One test database per test run, so two runs side by side (a developer's and a helper's) never collide.
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

Q_CLUSTER = {
    "name": Q_CLUSTER_NAME,
    "workers": Q_WORKERS,
    # A task may run up to `timeout` seconds; the broker re-delivers an
    # unacknowledged task only after `retry`, which is longer, so a long task
    # is never handed to a second worker while it still runs.
    "timeout": Q_TIMEOUT,
    "retry": Q_TIMEOUT + 300,
    "max_attempts": 3,
    "catch_up": False,
    "ack_failures": True,
    # A task's success is not kept (-1): the case, its steps and its audit trail are the record of what a task
    # did. A limit above 0 makes every result save lock and read every kept success (1,000 unpickled rows a
    # task, a sixth of the cluster's CPU in a mass termination); failures are always kept.
    "save_limit": -1,
    "label": "Task queue",
}
if Q_BROKER == "redis":
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# Periodic jobs: name -> (management command and arguments, every N minutes), created by name at migrate.
SCHEDULES = {
    # With a poller, the cluster's sync is only a safety net should the poller stop; two syncs at once
    # are safe (each applies one record at a time under a lock).
    "sync_workday": (["sync_workday"], max(SYNC_INTERVAL_MINUTES, 15) if WORKDAY_POLLER else SYNC_INTERVAL_MINUTES),
    "enqueue_due_cases": (["run_due", "--enqueue"], 1),
    "retry_tickets": (["retry_tickets"], 5),
    "reconcile": (["reconcile"], 24 * 60),
    "watch_directory_users": (["reconcile", "--directory-sourced"], DIRECTORY_WATCH_MINUTES),
    "sync_follow_ups": (["sync_follow_ups"], FOLLOW_UP_SYNC_MINUTES),
    "refresh_group_owners": (["refresh_group_owners"], OKTA_GROUP_OWNERS_REFRESH_MINUTES),
    "verify_audit_log": (["verify_audit_log"], 24 * 60),
    "anchor_audit_log": (["anchor_audit_log"], AUDIT_ANCHOR_EVERY_MINUTES),
}

AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
LOGIN_URL = "login"
if AUTH_MODE == "adfs":
    AUTHENTICATION_BACKENDS = ["accounts.backends.RoleMappingAdfsBackend"]
    LOGIN_URL = "django_auth_adfs:login"
    AUTH_ADFS = {
        "SERVER": ADFS_SERVER,
        "CLIENT_ID": ADFS_CLIENT_ID,
        "CLIENT_SECRET": ADFS_CLIENT_SECRET,
        "RELYING_PARTY_ID": ADFS_RELYING_PARTY_ID,
        "AUDIENCE": ADFS_AUDIENCE,
        "CA_BUNDLE": ADFS_CA_BUNDLE,
        "USERNAME_CLAIM": ADFS_USERNAME_CLAIM,
        "GROUPS_CLAIM": ADFS_GROUPS_CLAIM,
        "CLAIM_MAPPING": {"first_name": "given_name", "last_name": "family_name", "email": "email"},
        "MIRROR_GROUPS": False,
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Secure by default; development (DEBUG) relaxes only what plain HTTP needs.
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", 8 * 3600)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_PROXY", False) else None
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
}

EMAIL_BACKEND = env.str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "offboarding.request_id.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "django.server": {"level": "INFO" if ACCESS_LOG else "WARNING"},
        "django-q": {"level": "INFO" if ACCESS_LOG else "WARNING"},
    },
}
