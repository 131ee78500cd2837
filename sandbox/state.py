"""The sandbox's in-memory world: one Okta org, one Jira site, one Workday tenant.

Every read and write goes through `SandboxState.lock`; the HTTP handlers hold it only while they
touch the data, never while they sleep for a fault, so one slow request never stalls the others.
"""

from __future__ import annotations

import random
import secrets
import string
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

OKTA_RATE_LIMIT_DEFAULTS = {
    # Okta Enterprise figures, per minute and per endpoint family.
    "/api/v1/users": 600,
    "GET /api/v1/users/{id}": 1000,
    "/api/v1/groups": 600,
    "/api/v1": 600,
    "/oauth2/v1/token": 600,
}

REQUEST_LOG_SIZE = 500_000  # a mass termination makes about 30 calls a leaver: 300,000 at 10,000


class OptionError(ValueError):
    """A reset option or control API argument the sandbox cannot use."""


def rate_limits_from(value: Any) -> dict[str, int]:
    """{family: calls a window} as given, each family one of Okta's and each limit a whole number above 0."""
    if not isinstance(value, dict):
        raise OptionError("rate_limits is an object: {family: calls a window}")
    unknown = set(value) - set(OKTA_RATE_LIMIT_DEFAULTS)
    if unknown:
        raise OptionError(f"unknown rate limit families {sorted(unknown)}; known: {sorted(OKTA_RATE_LIMIT_DEFAULTS)}")
    if any(isinstance(limit, bool) or not isinstance(limit, int) or limit < 1 for limit in value.values()):
        raise OptionError("each rate limit is a whole number of calls a window, 1 or more")
    return dict(value)


@dataclass
class Options:
    """What a reset builds: the org's size and seed, and the simulated vendors' limits."""

    seed: int = 1
    workers: int = 40
    groups_per_person: int = 6
    pending_terminations: int = 6
    demo: bool = False
    okta_page_size: int = 200
    rate_limits: dict[str, int] = field(default_factory=lambda: dict(OKTA_RATE_LIMIT_DEFAULTS))
    rate_limit_window: float = 60.0
    concurrency_limit: int = 75
    okta_token_lifetime: int = 3600
    # The service app requires DPoP-bound tokens (Okta's default for API service apps since February 2024);
    # off, it ignores any DPoP proof and issues Bearer tokens.
    okta_require_dpop: bool = True
    # How long a `Prefer: respond-async` deactivation stays in transitioningToStatus.
    okta_async_delay: float = 0.5
    # Where Workday sends its signed notification of a termination (empty: it sends none).
    push_url: str = ""
    push_secret: str = ""

    @classmethod
    def from_dict(cls, data: dict) -> Options:
        options = cls()
        for name, value in data.items():
            if name == "rate_limits":
                options.rate_limits.update(rate_limits_from(value))
            elif name in cls.__dataclass_fields__:
                kind = type(getattr(options, name))
                if kind is bool and not isinstance(value, bool):
                    raise OptionError(f"{name} must be true or false")
                setattr(options, name, kind(value))
            else:
                raise OptionError(f"unknown reset option {name!r}")
        if options.okta_page_size < 1 or options.concurrency_limit < 1 or options.rate_limit_window <= 0:
            raise OptionError("okta_page_size, concurrency_limit and rate_limit_window must be positive")
        return options

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def okta_timestamp(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(moment * 1000) % 1000:03d}Z"


@dataclass
class OktaGroup:
    id: str
    name: str
    type: str  # OKTA_GROUP | APP_GROUP | BUILT_IN
    description: str = ""
    source: str = ""  # the app that imports an APP_GROUP, e.g. "active_directory"
    created: float = 0.0

    @property
    def searchable(self) -> SimpleNamespace:
        """What a search expression reads of a group: its id, its type (as `status` reads for a user), its profile."""
        profile = {"name": self.name, "description": self.description}
        return SimpleNamespace(id=self.id, status=self.type, profile=profile)

    def as_okta_json(self, base_url: str) -> dict:
        profile = {"name": self.name, "description": self.description}
        if self.type == "APP_GROUP":
            # Imported AD groups carry their directory attributes in the profile.
            profile.update({"windowsDomainQualifiedName": f"ACME\\{self.name}", "groupType": "Security"})
        stamp = okta_timestamp(self.created)
        group = {
            "id": self.id,
            "created": stamp,
            "lastUpdated": stamp,
            "lastMembershipUpdated": stamp,
            "objectClass": ["okta:windows_security_principal" if self.type == "APP_GROUP" else "okta:user_group"],
            "type": self.type,
            "profile": profile,
            "_links": {
                "logo": [
                    {"name": "medium", "href": f"{base_url}/img/logos/groups/okta-medium.png", "type": "image/png"}
                ],
                "users": {"href": f"{base_url}/api/v1/groups/{self.id}/users"},
                "apps": {"href": f"{base_url}/api/v1/groups/{self.id}/apps"},
            },
        }
        if self.type == "APP_GROUP":
            group["_links"]["source"] = {"href": f"{base_url}/api/v1/apps/{self.source}"}
        return group

    def summary(self) -> dict:
        return {"id": self.id, "name": self.name, "type": self.type}


@dataclass
class OktaUser:
    id: str
    status: str
    profile: dict
    created: float
    status_changed: float
    group_ids: list[str] = field(default_factory=list)
    transitioning_to: str | None = None
    settles_at: float | None = None  # when an asynchronous transition completes
    sessions_revoked: bool = False
    oauth_tokens_revoked: bool = False
    last_login: float | None = None
    # credentials.provider: OKTA, or the directory / IdP that masters the user (ACTIVE_DIRECTORY, LDAP, ...).
    provider: dict = field(default_factory=lambda: {"type": "OKTA", "name": "OKTA"})
    # Admin role assignments: {"id", "type", "label", "status", "assignmentType"}.
    roles: list[dict] = field(default_factory=list)
    # How many times a Universal Logout (global token revocation) was asked for this user.
    universal_logouts: int = 0
    # A directory-sourced user's account in the directory itself: while it is enabled, the directory's next
    # import reactivates the Okta user (as Okta's AD and LDAP agents do), whatever Okta was told.
    directory_account_enabled: bool = True

    def settle(self, now: float) -> None:
        if self.transitioning_to and self.settles_at is not None and now >= self.settles_at:
            self.status, self.transitioning_to, self.settles_at = self.transitioning_to, None, None
            self.status_changed = now

    def move_to(self, status: str, now: float) -> None:
        self.status, self.status_changed = status, now
        self.transitioning_to, self.settles_at = None, None

    def as_okta_json(self, base_url: str) -> dict:
        user = {
            "id": self.id,
            "status": self.status,
            "created": okta_timestamp(self.created),
            "activated": okta_timestamp(self.created) if self.status != "STAGED" else None,
            "statusChanged": okta_timestamp(self.status_changed),
            "lastLogin": okta_timestamp(self.last_login) if self.last_login else None,
            "lastUpdated": okta_timestamp(self.status_changed),
            "passwordChanged": okta_timestamp(self.created),
            "type": {"id": "oty1a2b3c4d5e6f7g8h9"},
            "profile": dict(self.profile),
            "credentials": {
                "password": {},
                "provider": dict(self.provider),
            },
            "_links": {"self": {"href": f"{base_url}/api/v1/users/{self.id}"}},
        }
        if self.transitioning_to:
            user["transitioningToStatus"] = self.transitioning_to
        return user


ROLE_LABELS = {
    "SUPER_ADMIN": "Super Administrator",
    "ORG_ADMIN": "Organizational Administrator",
    "APP_ADMIN": "Application Administrator",
    "USER_ADMIN": "Group Administrator",
    "GROUP_MEMBERSHIP_ADMIN": "Group Membership Administrator",
    "HELP_DESK_ADMIN": "Help Desk Administrator",
    "READ_ONLY_ADMIN": "Read-only Administrator",
    "MOBILE_ADMIN": "Mobile Administrator",
    "API_ACCESS_MANAGEMENT_ADMIN": "API Access Management Administrator",
    "REPORT_ADMIN": "Report Administrator",
}
SIGN_ON_MODES = ("SAML_2_0", "OPENID_CONNECT", "AUTO_LOGIN", "BROWSER_PLUGIN", "BOOKMARK", "WS_FEDERATION")


@dataclass
class OktaApp:
    """An app instance: who is assigned (directly or through a group) and what deactivating a user does to it.

    `deactivate_users` is the provisioning "Deactivate Users" setting (USER_PROVISIONING's
    capabilities.update.lifecycleDeactivate): only then does Okta deactivate the app's own account.
    `accounts` is the app's own account per user id: ACTIVE, or DEPROVISIONED once Okta deprovisioned it.
    """

    id: str
    name: str
    label: str
    status: str = "ACTIVE"  # ACTIVE | INACTIVE
    sign_on_mode: str = "SAML_2_0"
    provisioning: bool = False
    deactivate_users: bool = False
    universal_logout: bool = False
    user_ids: list[str] = field(default_factory=list)  # direct (USER scope) assignments
    group_ids: list[str] = field(default_factory=list)  # group assignments
    accounts: dict[str, str] = field(default_factory=dict)
    sessions_ended: list[str] = field(default_factory=list)  # users signed out of it by Universal Logout
    created: float = 0.0

    def as_okta_json(self, base_url: str) -> dict:
        stamp = okta_timestamp(self.created)
        app = {
            "id": self.id,
            "name": self.name,
            "label": self.label,
            "status": self.status,
            "created": stamp,
            "lastUpdated": stamp,
            "signOnMode": self.sign_on_mode,
            "features": ["PUSH_NEW_USERS", "PUSH_USER_DEACTIVATION"] if self.provisioning else [],
            "visibility": {"autoSubmitToolbar": False, "hide": {"iOS": False, "web": False}},
            "universalLogout": (
                {
                    "status": "ENABLED",
                    "supportType": "FULL",
                    "identityStack": "NOT_SHARED",
                    "protocol": "GLOBAL_TOKEN_REVOCATION",
                }
                if self.universal_logout
                else {"status": "UNSUPPORTED"}
            ),
            "_links": {
                "users": {"href": f"{base_url}/api/v1/apps/{self.id}/users"},
                "groups": {"href": f"{base_url}/api/v1/apps/{self.id}/groups"},
                "self": {"href": f"{base_url}/api/v1/apps/{self.id}"},
            },
        }
        return app


@dataclass
class GroupRule:
    """A group rule: adds the users its expression matches (`matches`, as the sandbox cannot evaluate Okta
    Expression Language) to its groups, except `exclude`. Okta adds a rule-managed member who is removed
    from the group by hand to `exclude`."""

    id: str
    name: str
    group_ids: list[str]
    matches: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    status: str = "ACTIVE"  # ACTIVE | INACTIVE | INVALID
    expression: str = 'user.department=="Engineering"'
    created: float = 0.0

    def as_okta_json(self) -> dict:
        stamp = okta_timestamp(self.created)
        return {
            "type": "group_rule",
            "id": self.id,
            "status": self.status,
            "name": self.name,
            "created": stamp,
            "lastUpdated": stamp,
            "conditions": {
                "people": {"users": {"exclude": list(self.exclude)}, "groups": {"exclude": []}},
                "expression": {"value": self.expression, "type": "urn:okta:expression:1.0"},
            },
            "actions": {"assignUserToGroups": {"groupIds": list(self.group_ids)}},
        }


@dataclass
class Worker:
    """A person in Workday (not every worker has an Okta account)."""

    employee_id: str
    first_name: str
    last_name: str
    email: str
    department: str
    manager: str
    location: str
    time_zone: str
    worker_type: str = "Employee"

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass
class JiraIssue:
    id: str
    key: str
    fields: dict
    comments: list[dict] = field(default_factory=list)
    attachments: list[dict] = field(default_factory=list)
    created: float = 0.0


class SandboxState:
    """The simulated org; `populate` builds its people, groups and terminations at every reset (sandbox.org)."""

    def __init__(self, populate: Callable[[SandboxState, Options], None]) -> None:
        self.populate = populate
        self.lock = threading.RLock()
        # Released on shutdown so requests held by a timeout fault end at once.
        self.shutting_down = threading.Event()
        self.requests: deque[dict] = deque(maxlen=REQUEST_LOG_SIZE)
        self.in_flight = 0  # Okta requests being answered right now (survives resets)
        self.reset(Options())

    def reset(self, options: Options) -> None:
        with self.lock:
            self.options = options
            self.rng = random.Random(options.seed)
            self.fault_rng = random.Random(options.seed)
            self.users: dict[str, OktaUser] = {}
            self.groups: dict[str, OktaGroup] = {}
            self.workers: dict[str, Worker] = {}
            self.terminations: dict[str, dict[str, str]] = {}
            # Corrections HR makes after the report has been read once (employee id -> columns).
            self.scheduled_corrections: dict[str, dict[str, str]] = {}
            # Rows the report leaves out while they stay in Workday (a row "vanished": deleted, or lost).
            self.dropped_rows: set[str] = set()
            self.jira_issues: list[JiraIssue] = []
            self.jira_issues_created = 0  # Jira never gives a deleted issue's key to another
            # Custom fields of the Jira project (id -> the control API's description, with where each is required)
            # and the issue types taken out of it: what create metadata shows and a create is checked against.
            self.jira_custom_fields: dict[str, dict] = {}
            self.jira_removed_issue_types: set[str] = set()
            # Workday's outbound notifications once answered: employee id, event and the HTTP status (0: no answer).
            self.notifications_sent: list[dict] = []
            self.apps: dict[str, OktaApp] = {}
            self.group_rules: dict[str, GroupRule] = {}
            self.group_owners: dict[str, list[str]] = {}  # group id -> owner user ids
            # The user the API token belongs to (GET /api/v1/users/me); None: not set by the seed or a test.
            self.token_owner_id: str | None = None
            self.access_tokens: dict[str, dict] = {}
            self.used_assertion_ids: set[str] = set()
            # DPoP: the nonce the token endpoint hands out, and the jti of every proof accepted.
            self.dpop_nonce = secrets.token_urlsafe(24)
            self.used_dpop_ids: set[str] = set()
            self.faults: list = []
            self.rate_windows: dict[str, tuple[float, int]] = {}
            # Seconds the sandbox's clock is ahead of the real one (POST /_sandbox/clock moves it).
            self.clock_offset = 0.0
            # A slow report body: the JSON report sent in chunks of this many bytes, this many seconds apart.
            self.report_chunk_bytes, self.report_chunk_seconds = 0, 0.0
            self.release_held_requests()
            self.populate(self, options)

    def now(self) -> float:
        """The vendors' clock (epoch seconds): rate-limit windows, token expiry, asynchronous transitions,
        timestamps and the Date header. It runs with the real one, ahead by what the tests moved it."""
        return time.time() + self.clock_offset

    def release_held_requests(self) -> None:
        """End every request a timeout fault is holding (on reset and when faults are cleared)."""
        held = getattr(self, "faults_cleared", None)
        if held is not None:
            held.set()
        self.faults_cleared = threading.Event()

    # -- ids ---------------------------------------------------------------------------------
    def okta_id(self, prefix: str) -> str:
        """An Okta-looking id ('00u' + 17 base62 characters) from the seeded generator."""
        alphabet = string.ascii_letters + string.digits
        return prefix + "".join(self.rng.choice(alphabet) for _ in range(17))

    # -- Okta lookups -------------------------------------------------------------------------
    def find_user(self, id_or_login: str) -> OktaUser | None:
        user = self.users.get(id_or_login)
        if user is None:
            wanted = id_or_login.lower()
            user = next((u for u in self.users.values() if u.profile.get("login", "").lower() == wanted), None)
        if user is not None:
            user.settle(self.now())
        return user

    def all_users(self) -> list[OktaUser]:
        now = self.now()
        for user in self.users.values():
            user.settle(now)
        return list(self.users.values())

    def everyone_group(self) -> OktaGroup:
        return next(g for g in self.groups.values() if g.type == "BUILT_IN")

    def add_group(self, name: str, type: str = "OKTA_GROUP", description: str = "", source: str = "") -> OktaGroup:
        if type not in ("OKTA_GROUP", "APP_GROUP", "BUILT_IN"):
            raise OptionError(f"unknown group type {type!r}")
        if type == "APP_GROUP" and not source:
            source = "0oa" + self.okta_id("")[:17]
        group = OktaGroup(self.okta_id("00g"), name, type, description, source, created=self.past_moment())
        self.groups[group.id] = group
        return group

    def add_user(self, profile: dict, status: str = "ACTIVE", group_ids: list[str] | None = None) -> OktaUser:
        for required in ("login", "email", "firstName", "lastName"):
            if not profile.get(required):
                raise OptionError(f"an Okta user needs profile.{required}")
        if self.find_user(profile["login"]):
            raise OptionError(f"an Okta user with login {profile['login']} exists already")
        for gid in group_ids or []:
            if gid not in self.groups:
                raise OptionError(f"no Okta group {gid}")
        created = self.past_moment()
        user = OktaUser(self.okta_id("00u"), status, dict(profile), created=created, status_changed=created)
        if status == "ACTIVE":
            user.last_login = created + self.rng.randint(3600, 86400 * 30)
        user.group_ids = [self.everyone_group().id]
        for gid in group_ids or []:
            if gid not in user.group_ids:
                user.group_ids.append(gid)
        self.users[user.id] = user
        return user

    def add_app(self, label: str, **attributes) -> OktaApp:
        status = attributes.get("status", "ACTIVE")
        if status not in ("ACTIVE", "INACTIVE"):
            raise OptionError(f"unknown app status {status!r}")
        if attributes.get("sign_on_mode", "SAML_2_0") not in SIGN_ON_MODES:
            raise OptionError(f"unknown signOnMode {attributes['sign_on_mode']!r}; known: {list(SIGN_ON_MODES)}")
        for uid in attributes.get("user_ids", []):
            if uid not in self.users:
                raise OptionError(f"no Okta user {uid}")
        for gid in attributes.get("group_ids", []):
            if gid not in self.groups:
                raise OptionError(f"no Okta group {gid}")
        name = attributes.pop("name", None) or label.lower().replace(" ", "_")
        app = OktaApp(self.okta_id("0oa"), name, label, created=self.past_moment(), **attributes)
        if app.deactivate_users and not app.provisioning:
            raise OptionError("deactivate_users needs provisioning")
        self.apps[app.id] = app
        return app

    def app_assignment(self, app: OktaApp, user: OktaUser) -> tuple[str, str] | None:
        """How the user is assigned to the app: ("USER", "") or ("GROUP", group id), or None."""
        if user.id in app.user_ids:
            return "USER", ""
        group = next((gid for gid in app.group_ids if gid in user.group_ids), None)
        return ("GROUP", group) if group else None

    def apps_of(self, user: OktaUser) -> list[OktaApp]:
        """The apps the user is assigned to now. A deactivated user keeps only the assignments to
        inactive apps: Okta unassigns active apps on deactivation and leaves inactive ones untouched."""
        apps = [app for app in self.apps.values() if self.app_assignment(app, user)]
        if user.status == "DEPROVISIONED":
            apps = [app for app in apps if app.status != "ACTIVE"]
        return sorted(apps, key=lambda a: a.id)

    def on_deactivated(self, user: OktaUser) -> None:
        """What Okta does to a user's apps when it deactivates them: direct assignments to active apps are
        removed, and the app's own account is deactivated only where provisioning deactivates users."""
        for app in self.apps.values():
            if app.status != "ACTIVE" or not self.app_assignment(app, user):
                continue
            if app.deactivate_users:
                app.accounts[user.id] = "DEPROVISIONED"
            else:
                app.accounts.setdefault(user.id, "ACTIVE")  # the app's own account stays, only sign-in is blocked
            if user.id in app.user_ids:
                app.user_ids.remove(user.id)

    def on_left_group(self, user: OktaUser, group_id: str) -> None:
        """An app the group assigned is unassigned once no other assignment remains; where its provisioning
        deactivates users ("Deprovisioning occurs when the app is unassigned"), the app account goes too."""
        for app in self.apps.values():
            if group_id in app.group_ids and app.status == "ACTIVE" and not self.app_assignment(app, user):
                if app.deactivate_users:
                    app.accounts[user.id] = "DEPROVISIONED"
                else:
                    app.accounts.setdefault(user.id, "ACTIVE")

    def rules_targeting(self, group_id: str) -> list[GroupRule]:
        return [r for r in self.group_rules.values() if group_id in r.group_ids]

    def apply_rule(self, rule: GroupRule) -> None:
        """An active rule adds each user it matches (and does not exclude) to its groups."""
        if rule.status != "ACTIVE":
            return
        for uid in rule.matches:
            user = self.users.get(uid)
            if user is None or uid in rule.exclude or user.status == "DEPROVISIONED":
                continue
            for gid in rule.group_ids:
                if gid not in user.group_ids:
                    user.group_ids.append(gid)

    def past_moment(self) -> float:
        """A creation time one to six years before today, from the seeded generator."""
        midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
        return midnight - self.rng.randint(365, 6 * 365) * 86400 + self.rng.randint(0, 86399)
