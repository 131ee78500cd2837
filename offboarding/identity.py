"""Who a leaver is in Okta: the user their employee number names, what they hold, and whether a human must look.

Identity is by `profile.employeeNumber` = Workday Employee_ID. Zero or several matches, or a name
that disagrees, stops auto-approval. The plan is exactly what revocation would do right now.
"""

from __future__ import annotations

import contextlib
import unicodedata
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from offboarding.alerts import send_alert
from offboarding.clients.errors import NotFound, VendorError
from offboarding.clients.okta import DEPROVISIONED, OKTA_ID, OktaClient, OktaGroup, OktaUser
from offboarding.models import Actor, AuditEvent, Case, ProtectedAccount, Termination

SYNC = Actor.system("sync_workday")


@dataclass(frozen=True)
class Lookup:
    """Okta's side of one leaver: how they matched, the user (if one), a note in plain words, their groups."""

    identity: str
    user: OktaUser | None
    note: str = ""
    groups: list[OktaGroup] = field(default_factory=list)
    access: Access | None = None
    # Why the access beyond groups could not be read (Okta refused it: a scope not granted), "" when it was.
    access_note: str = ""
    # The user behind the product's own Okta credentials (`/api/v1/users/me`), "" when there is none to read.
    token_owner_id: str = ""


def _normalised(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name)
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).casefold().split())


def names_agree(termination: Termination, user: OktaUser) -> bool:
    okta_name = _normalised(user.name)
    workday_names = {_normalised(termination.name), _normalised(f"{termination.first_name} {termination.last_name}")}
    return okta_name in workday_names


def resolve_identity(termination: Termination, okta: OktaClient) -> Lookup:
    """How the termination's worker matches an Okta user (their groups not read yet)."""
    employee_id = termination.employee_id
    matches = okta.find_users_by_employee_number(employee_id)
    if len(matches) > 1:
        logins = ", ".join(u.login for u in matches)
        return Lookup(
            Case.Identity.MULTIPLE, None, f"{len(matches)} Okta users have employee number {employee_id}: {logins}."
        )
    if len(matches) == 1:
        user = matches[0]
        if names_agree(termination, user):
            return Lookup(Case.Identity.EXACT, user)
        return Lookup(
            Case.Identity.NAME_MISMATCH,
            user,
            f"Okta user {user.login} has employee number {employee_id} but is named "
            f"“{user.first_name} {user.last_name}”, not “{termination.name}”.",
        )
    if termination.email:
        user = okta.find_user_by_login(termination.email)
        if user is not None:
            return Lookup(
                Case.Identity.LOGIN_ONLY,
                user,
                f"No Okta user has employee number {employee_id}; {user.login} was found by email only.",
            )
    return Lookup(Case.Identity.NONE, None, f"No Okta user has employee number {employee_id}.")


@dataclass(frozen=True)
class Access:
    """Everything else the leaver can reach through Okta, as the plan keeps it (plain dicts).

    apps: [{"id", "label", "name", "status", "via": "direct" or the group's name, "group_id": id or "",
            "deprovisions_on_deactivate": bool, "universal_logout": bool}]
    provider: {"type": "OKTA" | "ACTIVE_DIRECTORY" | "LDAP" | "FEDERATION" | "SOCIAL" | "IMPORT", "name": str}
    admin_roles: [{"id", "type", "label"}]
    owned_groups: [{"id", "name"}]
    rule_groups: [{"group_id", "group_name", "rule_id", "rule_name"}]
    """

    apps: list[dict] = field(default_factory=list)
    provider: dict = field(default_factory=lambda: {"type": "OKTA", "name": "OKTA"})
    admin_roles: list[dict] = field(default_factory=list)
    owned_groups: list[dict] = field(default_factory=list)
    rule_groups: list[dict] = field(default_factory=list)

    def as_plan(self) -> dict:
        return {
            "apps": list(self.apps),
            "provider": dict(self.provider),
            "admin_roles": list(self.admin_roles),
            "owned_groups": list(self.owned_groups),
            "rule_groups": list(self.rule_groups),
        }


# A user mastered by Okta itself; any other provider type is a directory or an identity provider elsewhere.
OKTA_MASTERED = {"OKTA"}
DIRECTORY_NAMES = {"ACTIVE_DIRECTORY": "Active Directory", "LDAP": "LDAP directory"}


def plan_access(plan: dict) -> dict:
    """The access keys of a plan, with defaults for plans stored before they existed."""
    return {
        "apps": plan.get("apps") or [],
        "provider": plan.get("provider") or {"type": "OKTA", "name": "OKTA"},
        "admin_roles": plan.get("admin_roles") or [],
        "owned_groups": plan.get("owned_groups") or [],
        "rule_groups": plan.get("rule_groups") or [],
    }


def universal_logout_apps(plan: dict) -> list[dict]:
    """The plan's apps that offer Universal Logout: the revocation asks Okta to end their sessions too."""
    return [app for app in plan_access(plan)["apps"] if app.get("universal_logout")]


def follow_ups(plan: dict) -> list[dict]:
    """What Okta will not undo, as work a human must do: one item per app whose account Okta keeps,
    per source directory of a directory-mastered user, per group ownership.

    Each: {"kind": "app" | "directory" | "group_owner" | "rule_group", "target_id", "target_name", "what"}.
    A rule-managed membership is not one here (revocation and restore handle the rule's exclusion); restore
    names one as a "rule_group" item (`rule_group_follow_up`) when Okta will not clear the exclusion.
    Pure: reads the plan only (old plans without the keys give no follow-ups).
    """
    access = plan_access(plan)
    items: list[dict] = []
    for app in access["apps"]:
        name = app.get("label") or app.get("name") or app.get("id", "")
        if app.get("status", "ACTIVE") != "ACTIVE":
            what = (
                f"{name} is inactive in Okta, so Okta leaves this assignment in place: remove the assignment "
                f"and deactivate the account in {name}"
            )
        elif app.get("deprovisions_on_deactivate"):
            continue
        elif app.get("universal_logout"):
            what = f"Deactivate the account in {name} (Okta ends its sessions by Universal Logout)"
        else:
            what = f"Deactivate the account in {name} and end the app's sessions"
        items.append({"kind": "app", "target_id": app.get("id", ""), "target_name": name, "what": what})
    provider = access["provider"]
    if provider.get("type", "OKTA") not in OKTA_MASTERED:
        kind = provider.get("type", "")
        name = provider.get("name") or DIRECTORY_NAMES.get(kind, kind)
        items.append(
            {
                "kind": "directory",
                "target_id": kind,
                "target_name": name,
                "what": (
                    f"Disable the account in {name} ({kind}): Okta's deactivation leaves it enabled, "
                    "and the next import or sign-in can reactivate the Okta user"
                ),
            }
        )
    for group in access["owned_groups"]:
        items.append(
            {
                "kind": "group_owner",
                "target_id": group.get("id", ""),
                "target_name": group.get("name", ""),
                "what": f"Hand the ownership of the Okta group {group.get('name', '')} to someone who stays",
            }
        )
    return items


def rule_group_follow_up(rule: dict) -> dict:
    """The follow-up for a rule-managed membership restore could not bring back."""
    return {
        "kind": "rule_group",
        "target_id": rule.get("group_id", ""),
        "target_name": rule.get("group_name", ""),
        "what": (
            f"Take the person off the exclusions of the group rule {rule.get('rule_name', '')} so it adds them "
            f"to {rule.get('group_name', '')} again"
        ),
    }


def read_access(okta: OktaClient, user: OktaUser, groups: list[OktaGroup]) -> Access:
    """Everything else the user can reach through Okta, read live; raises VendorError."""
    return Access(
        apps=okta.list_user_apps(user.id, groups),
        provider={"type": user.provider_type, "name": user.provider_name},
        admin_roles=okta.list_user_roles(user.id),
        owned_groups=okta.owned_groups(user.id),
        rule_groups=okta.rule_groups(user.id, groups),
    )


def admin_role_reason(admin_roles: list[dict]) -> str:
    """Why holding admin roles protects the person, or "" for someone who holds none."""
    if not admin_roles:
        return ""
    labels = ", ".join(sorted({r.get("label") or r.get("type", "") for r in admin_roles}))
    return f"Okta administrator ({labels})"


def protection_reason(
    user_id: str, login: str, groups: list[dict], admin_roles: list[dict], entries: list | None = None
) -> str:
    """Why this person is protected: a protected list entry, or Okta admin roles; "" when neither."""
    return ProtectedAccount.reason_for(user_id, login, groups, entries) or admin_role_reason(admin_roles)


def token_owner_reason(user_id: str, token_owner_id: str) -> str:
    """Why the product must never offboard this user: the product's own Okta credentials are theirs."""
    if user_id and token_owner_id and user_id == token_owner_id:
        return (
            "This Okta user owns the API token the product signs in with (/api/v1/users/me): offboarding them "
            "would make every later Okta call fail. The product never revokes them; do it by hand after moving "
            "the product to another credential."
        )
    return ""


def build_plan(user: OktaUser, groups: list[OktaGroup], access: Access | None = None) -> dict:
    """Exactly what revocation would do right now, and everything else the person can reach."""
    return {
        **(access or Access()).as_plan(),
        "computed_at": timezone.now().isoformat(),
        "user": user.as_dict(),
        "groups": [g.as_dict() for g in groups],
        "remove": [{"id": g.id, "name": g.name} for g in groups if g.removable],
        "keep": [
            {"id": g.id, "name": g.name, "type": g.type, "reason": g.not_removable_reason}
            for g in groups
            if not g.removable
        ],
        "clear_sessions": True,
        "deactivate": user.status != DEPROVISIONED,
    }


@dataclass(frozen=True)
class Holdings:
    """What protection is judged from: the person's Okta id, login and groups, live or as stored at review.

    Okta admin roles (`/api/v1/users/{id}/roles`) protect the person by themselves: an admin needs two
    approvers and no rule approves them, whether or not anyone listed them as protected.
    """

    user_id: str
    login: str
    groups: list[dict]
    live: bool
    note: str = ""
    admin_roles: list[dict] = field(default_factory=list)

    @classmethod
    def stored(cls, case: Case, note: str = "") -> Holdings:
        plan = case.plan or {}
        return cls(
            case.okta_user_id,
            case.okta_login,
            plan.get("groups", []),
            live=False,
            note=note,
            admin_roles=plan_access(plan)["admin_roles"],
        )

    def protection(self, entries: list[ProtectedAccount] | None = None) -> str:
        """Why the person is protected by the current protected list or their admin roles, or ""."""
        if not self.user_id:
            return ""
        return protection_reason(self.user_id, self.login, self.groups, self.admin_roles, entries)

    @property
    def source(self) -> str:
        return "live Okta groups" if self.live else f"groups stored at review ({self.note or 'Okta not read'})"


def read_holdings(case: Case, okta: OktaClient) -> Holdings:
    """The case's Okta user and groups as Okta says now; the stored ones when Okta does not answer.

    No database writes and no locks: read it before the transaction that decides.
    """
    if not case.okta_user_id:
        return Holdings.stored(case, "no Okta user resolved")
    try:
        user = okta.get_user(case.okta_user_id)
        groups = [g.as_dict() for g in okta.list_user_groups(user.id)]
        roles = okta.list_user_roles(user.id)
    except VendorError as e:
        return Holdings.stored(case, f"Okta did not answer: {e.summary}")
    return Holdings(user.id, user.login, groups, live=True, admin_roles=roles)


def look_up(termination: Termination, okta: OktaClient) -> Lookup | VendorError:
    """Okta's side of one leaver with their groups, or the error that stopped the lookup.

    No database access, so several lookups can run at once in threads.
    """
    try:
        found = resolve_identity(termination, okta)
        if found.user is None:
            return found
        groups = okta.list_user_groups(found.user.id)
        access, access_note = None, ""
        try:
            access = read_access(okta, found.user, groups)
        except VendorError as e:
            if e.status != 403:
                raise
            # A credential without the apps/roles permissions: a person must look, rather than no case at all.
            access_note = (
                f"Okta refused to show this person's apps, admin roles or group ownerships ({e.summary}): "
                "the plan lists groups only. Grant the product okta.apps.read and okta.roles.read."
            )
        owner = okta.token_owner()
        return Lookup(found.identity, found.user, found.note, groups, access, access_note, owner.id if owner else "")
    except VendorError as e:
        return e


@dataclass(frozen=True)
class Candidate:
    """An Okta user who may be the leaver, as the person choosing sees them: read live, with their groups."""

    user: OktaUser
    found_by: str
    groups: list[OktaGroup]

    @property
    def group_dicts(self) -> list[dict]:
        return [g.as_dict() for g in self.groups]

    def protection(self) -> str:
        """Why this user is protected by the current protected list, or ""."""
        return ProtectedAccount.reason_for(self.user.id, self.user.login, self.group_dicts)

    def as_dict(self) -> dict:
        return {**self.user.as_dict(), "found_by": self.found_by, "groups": [g.name for g in self.groups]}


def find_candidates(termination: Termination, okta: OktaClient) -> list[Candidate]:
    """Everyone in Okta who may be this leaver, each once: by employee number, by work email as login,
    and people of the same name (a mistyped employee number), with their groups; raises VendorError.
    """
    found: dict[str, tuple[OktaUser, str]] = {}
    for user in okta.find_users_by_employee_number(termination.employee_id):
        found.setdefault(user.id, (user, "employee number"))
    if termination.email and (user := okta.find_user_by_login(termination.email)):
        found.setdefault(user.id, (user, "work email"))
    surname = termination.last_name or (termination.name.split() or [""])[-1]
    for user in okta.search_users(surname) if surname else []:
        if names_agree(termination, user):
            found.setdefault(user.id, (user, "same name"))
    return [Candidate(user, found_by, okta.list_user_groups(user.id)) for user, found_by in found.values()]


def assess_case(
    case_id: int, *, okta: OktaClient | None = None, actor: Actor = SYNC, lookup: Lookup | VendorError | None = None
) -> Case:
    """Resolve the case's Okta user, compute its plan, and say whether a human is needed.

    `lookup` is `look_up`'s answer when the caller already has it.
    """
    case = Case.objects.select_related("termination").get(pk=case_id)
    if lookup is None:
        lookup = look_up(case.termination, okta or OktaClient.from_settings())
    if isinstance(lookup, VendorError):
        note = f"The Okta lookup failed ({lookup.summary}); it is tried again at the next sync."
        with transaction.atomic():
            Case.objects.filter(pk=case_id, identity=Case.Identity.UNRESOLVED).update(identity_note=note)
            AuditEvent.record("okta.lookup_failed", actor=actor, case=case, after={"error": str(lookup)})
        case.refresh_from_db()
        return case
    user = lookup.user
    plan = build_plan(user, lookup.groups, lookup.access) if user else {}
    if user and lookup.access_note:
        plan["access_note"] = lookup.access_note
    protected = protection_reason(user.id, user.login, plan["groups"], plan["admin_roles"]) if user else ""
    own_credentials = token_owner_reason(user.id, lookup.token_owner_id) if user else ""

    with transaction.atomic():
        case = Case.objects.select_for_update().get(pk=case_id)
        before = {"identity": case.identity, "okta_user_id": case.okta_user_id}
        case.identity, case.identity_note, case.plan, case.protected_reason = (
            lookup.identity,
            lookup.note,
            plan,
            protected,
        )
        case.okta_user_id, case.okta_login = (user.id, user.login) if user else ("", "")
        case.identity_proposal = {}  # a choice proposed before this lookup answered is moot
        doubts = [lookup.note] if lookup.identity != Case.Identity.EXACT else []
        if own_credentials:
            doubts.append(own_credentials)
        if lookup.access_note:
            doubts.append(lookup.access_note)
        if protected:
            doubts.append(f"This is a {protected}: two distinct approvers are needed.")
        state = case.state
        if case.state in Case.DECIDABLE_STATES:
            state = Case.State.NEEDS_ATTENTION if doubts else Case.State.PENDING_REVIEW
            case.attention_reason = " ".join(doubts)
        case.move_to(
            state,
            actor,
            "okta.user_resolved",
            before=before,
            after={
                "identity": lookup.identity,
                "okta_user_id": case.okta_user_id,
                "login": case.okta_login,
                "note": lookup.note,
                "protected": protected,
                "token_owner": bool(own_credentials),
                "apps": len(plan.get("apps", [])),
                "admin_roles": [r.get("type") for r in plan.get("admin_roles", [])],
                "remove": len(plan.get("remove", [])),
                "keep": len(plan.get("keep", [])),
            },
        )
        if case.state == Case.State.NEEDS_ATTENTION:
            transaction.on_commit(
                lambda: send_alert(f"Case {case.pk} needs attention: {case.person_name}", case.attention_reason)
            )
    return case


class NotInOkta(ValueError):
    """What an admin typed as a protected account names nothing (or more than one thing) in Okta; says so."""


@dataclass(frozen=True)
class Protectable:
    """A protected account as Okta knows it: the value to keep (its login or exact name), its id, its name."""

    value: str
    okta_id: str
    okta_name: str


def find_protectable(kind: str, value: str, okta: OktaClient) -> Protectable:
    """The Okta user or group `value` names, read live; NotInOkta when none (or several) does; raises VendorError.

    A group is named by its id or its exact name (Okta compares names without regard to case); a near miss
    is refused, since a misspelt group protects no one.
    """
    value = value.strip()
    if kind == ProtectedAccount.Kind.GROUP:
        groups = okta.find_groups_by_name(value)
        if not groups and OKTA_ID.fullmatch(value):
            with contextlib.suppress(NotFound):
                groups = [okta.get_group(value)]
        if not groups:
            raise NotInOkta(f"Okta has no group named “{value}” (nor with that id): check its exact name in Okta.")
        if len(groups) > 1:
            raise NotInOkta(f"Okta has {len(groups)} groups named “{value}”: give the id of the one to protect.")
        return Protectable(groups[0].name, groups[0].id, groups[0].name)
    if kind == ProtectedAccount.Kind.LOGIN:
        user = okta.find_user_by_login(value)
        if user is None:
            raise NotInOkta(f"Okta has no user with the login “{value}”.")
        return Protectable(user.login, user.id, f"{user.name} <{user.login}>")
    try:
        user = okta.get_user(value) if OKTA_ID.fullmatch(value) else None
    except NotFound:
        user = None
    if user is None:
        raise NotInOkta(f"Okta has no user with the id “{value}”.")
    return Protectable(user.id, user.id, f"{user.name} <{user.login}>")
