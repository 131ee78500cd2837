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


def build_plan(user: OktaUser, groups: list[OktaGroup]) -> dict:
    """Exactly what revocation would do right now."""
    return {
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

    Okta has no admin-role API in the product's clients (nor the sandbox), so an admin role counts only
    through a protected group, user or login.
    """

    user_id: str
    login: str
    groups: list[dict]
    live: bool
    note: str = ""

    @classmethod
    def stored(cls, case: Case, note: str = "") -> Holdings:
        return cls(case.okta_user_id, case.okta_login, case.plan.get("groups", []), live=False, note=note)

    def protection(self, entries: list[ProtectedAccount] | None = None) -> str:
        """Why the person is protected by the current protected list, or ""."""
        return ProtectedAccount.reason_for(self.user_id, self.login, self.groups, entries) if self.user_id else ""

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
    except VendorError as e:
        return Holdings.stored(case, f"Okta did not answer: {e.summary}")
    return Holdings(user.id, user.login, groups, live=True)


def look_up(termination: Termination, okta: OktaClient) -> Lookup | VendorError:
    """Okta's side of one leaver with their groups, or the error that stopped the lookup.

    No database access, so several lookups can run at once in threads.
    """
    try:
        found = resolve_identity(termination, okta)
        if found.user is None:
            return found
        return Lookup(found.identity, found.user, found.note, okta.list_user_groups(found.user.id))
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
    plan = build_plan(user, lookup.groups) if user else {}
    protected = ProtectedAccount.reason_for(user.id, user.login, plan["groups"]) if user else ""

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
