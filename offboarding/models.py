"""The offboarding domain: what Workday said, the case it opened, each step taken, and the audit trail."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import IntegrityError, connection, models, transaction
from django.db.models.functions import Concat
from django.urls import reverse
from django.utils import timezone

from offboarding.clients.jira import browse_url
from offboarding.clients.workday import FIELDS as REPORT_FIELDS
from offboarding.request_id import current_request_id

logger = logging.getLogger(__name__)
# One line per audit event: what the product did, for the console of `make run` and the logs.
events_log = logging.getLogger("offboarding.events")


@dataclass(frozen=True)
class Actor:
    """Who did something: a person (their user, and their name as it was), a rule, or a system job."""

    name: str
    user: Any = field(default=None, compare=False)

    @classmethod
    def person(cls, user) -> Actor:
        return cls(user.get_username(), user)

    @classmethod
    def rule(cls, rule: AutoApproveRule) -> Actor:
        return cls(f"rule:{rule.pk}")

    @classmethod
    def system(cls, job: str) -> Actor:
        return cls(f"system:{job}")

    @classmethod
    def of(cls, who: Actor | Any) -> Actor:
        """An Actor as it is, or a user as a person; anything else (a bare string) is refused."""
        if isinstance(who, Actor):
            return who
        if hasattr(who, "get_username"):
            return cls.person(who)
        raise TypeError(f"an actor is an Actor or a user, not {who!r}")

    @property
    def is_person(self) -> bool:
        return self.user is not None

    def __str__(self) -> str:
        return self.name


def time_to_revoke(effective_at: datetime | None, revoked_at: datetime | None) -> timedelta | None:
    """From the moment access should have gone to the moment it was read back gone; never negative."""
    if revoked_at is None or effective_at is None:
        return None
    return max(revoked_at - effective_at, timedelta(0))


class Termination(models.Model):
    """One termination of one worker, as the Workday report last showed it."""

    class Category(models.TextChoices):
        VOLUNTARY = "Voluntary"
        INVOLUNTARY = "Involuntary"

    employee_id = models.CharField(max_length=64, db_index=True)
    name = models.CharField(max_length=300)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    email = models.CharField(max_length=300, blank=True)
    termination_date = models.DateField()
    last_day_of_work = models.DateField(null=True, blank=True)
    category = models.CharField(max_length=40, blank=True)
    reason = models.CharField(max_length=300, blank=True)
    manager = models.CharField(max_length=300, blank=True)
    department = models.CharField(max_length=300, blank=True)
    location = models.CharField(max_length=300, blank=True)
    time_zone = models.CharField(max_length=64, default="UTC")
    worker_type = models.CharField(max_length=64, blank=True)
    rescinded = models.BooleanField(default=False)
    # A rehire, as the report says it: the latest hire date (after the termination date) or an Active status.
    hire_date = models.DateField(null=True, blank=True)
    worker_status = models.CharField(max_length=64, blank=True)
    raw = models.JSONField(default=dict)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)

    # The fields a correction in Workday may change (all the report says but the id); compared on every sync.
    TRACKED_FIELDS = tuple(name for name in REPORT_FIELDS if name != "employee_id")

    class Meta:
        ordering = ["-termination_date", "employee_id"]
        # The auditors' history filters on these (offboarding/history.py).
        indexes = [
            models.Index(fields=["termination_date"], name="termination_date_idx"),
            models.Index(fields=["department"], name="termination_department_idx"),
            models.Index(fields=["category", "termination_date"], name="termination_category_idx"),
            models.Index(fields=["email"], name="termination_email_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.employee_id}), leaving {self.termination_date}"

    def save(self, *args, **kwargs):
        adding = self._state.adding
        super().save(*args, **kwargs)
        if not adding:  # a correction moves the cases in the history's filters, name sort and person search too
            kept = {
                "left_on": self.termination_date,
                "sort_name": self.name,
                "department": self.department,
                "category": self.category,
                "search_text": Concat(
                    models.Value(f"{self.name}\n{self.email}\n"), "okta_login", output_field=models.TextField()
                ),
            }
            self.cases.exclude(**kept).update(**kept)

    @property
    def is_involuntary(self) -> bool:
        return self.category == self.Category.INVOLUNTARY

    def tracked_values(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.TRACKED_FIELDS}

    @property
    def rehired(self) -> bool:
        """Hired again under the same employee id: a hire date after the termination, or Active again once
        the termination date has passed (before it, an Active worker is only someone still working)."""
        if self.hire_date and self.hire_date > self.termination_date:
            return True
        return self.worker_status.strip().lower() == "active" and self.termination_date < timezone.now().date()

    def effective_moment(self, mode: str) -> datetime:
        """When access should go, per the configured mode, in UTC.

        The end of a day is the first instant of the next one in the worker's
        own time zone, so a worker in Tokyo loses access hours before one in
        New York who leaves on the same date.
        """
        tz = ZoneInfo(self.time_zone)
        if mode == SafetySettings.EffectiveMode.START_OF_TERMINATION_DATE:
            day = self.termination_date
        elif mode == SafetySettings.EffectiveMode.END_OF_LAST_DAY_OF_WORK:
            day = (self.last_day_of_work or self.termination_date) + timedelta(days=1)
        else:
            day = self.termination_date + timedelta(days=1)
        return datetime.combine(day, time.min, tzinfo=tz).astimezone(ZoneInfo("UTC"))


def validate_word_list(value: Any) -> None:
    """A rule's list condition: words or phrases, none of them empty (an empty list means "any")."""
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValidationError(
            "Must be a list of words or phrases, none of them empty (an empty list means any), not %(value)s.",
            code="not_a_word_list",
            params={"value": json.dumps(value, default=str)[:100]},
        )


class AutoApproveRule(models.Model):
    """Conditions under which a case is approved without a human.

    Saving validates the whole rule (`full_clean`), whoever saves it, so only a rule the sync can
    evaluate is ever stored; one made malformed behind the ORM's back shows in `problems()`.
    """

    class Timing(models.TextChoices):
        AT_EFFECTIVE_MOMENT = "at_effective_moment", "At the effective moment"
        IMMEDIATELY = "immediately", "Immediately"

    name = models.CharField(max_length=200)
    # A rule an admin creates starts disabled whatever the form says (`decisions.save_rule`): enabled once its
    # preview has been seen.
    enabled = models.BooleanField(default=True)
    # Empty lists mean "any".
    categories = models.JSONField(default=list, blank=True, validators=[validate_word_list])
    worker_types = models.JSONField(default=list, blank=True, validators=[validate_word_list])
    departments_include = models.JSONField(default=list, blank=True, validators=[validate_word_list])
    departments_exclude = models.JSONField(default=list, blank=True, validators=[validate_word_list])
    locations = models.JSONField(default=list, blank=True, validators=[validate_word_list])
    max_groups = models.PositiveIntegerField(null=True, blank=True)
    timing = models.CharField(max_length=30, choices=Timing.choices, default=Timing.AT_EFFECTIVE_MOMENT)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    LIST_CONDITIONS = ("categories", "worker_types", "departments_include", "departments_exclude", "locations")

    def __str__(self) -> str:
        return f"rule:{self.pk} {self.name}"

    def save(self, *args, **kwargs):
        self.full_clean()
        super().save(*args, **kwargs)

    def clean(self) -> None:
        # JSON null counts as "empty" to the field validators, which then skip it; it is no list.
        if nulls := [name for name in self.LIST_CONDITIONS if getattr(self, name) is None]:
            raise ValidationError(
                {name: ValidationError("Must be a list (an empty list means any), not null.") for name in nulls}
            )

    def problems(self) -> list[str]:
        """Why this rule cannot be evaluated, as read from the database; [] when it is sound."""
        try:
            self.full_clean()
        except ValidationError as e:
            return [f"{name}: {' '.join(messages)}" for name, messages in e.message_dict.items()]
        return []

    def conditions(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "categories": self.categories,
            "worker_types": self.worker_types,
            "departments_include": self.departments_include,
            "departments_exclude": self.departments_exclude,
            "locations": self.locations,
            "max_groups": self.max_groups,
            "timing": self.timing,
        }

    def matches(self, termination: Termination, removable_groups: int) -> bool:
        """Whether every condition holds; only for a rule without `problems()`."""

        def within(values: list[str], value: str) -> bool:
            return not values or value.casefold() in {v.casefold() for v in values}

        return (
            self.enabled
            and within(self.categories, termination.category)
            and within(self.worker_types, termination.worker_type)
            and within(self.departments_include, termination.department)
            and termination.department.casefold() not in {d.casefold() for d in self.departments_exclude}
            and within(self.locations, termination.location)
            and (self.max_groups is None or removable_groups <= self.max_groups)
        )


class ProtectedAccount(models.Model):
    """An Okta user, login or group whose members are never offboarded on one person's word."""

    class Kind(models.TextChoices):
        USER_ID = "user_id", "Okta user id"
        LOGIN = "login", "Okta login"
        GROUP = "group", "Okta group (id or exact name)"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    value = models.CharField(max_length=300)
    # What Okta answered when the entry was saved (`identity.find_protectable`): the user's or group's id, which
    # survives a rename, and its name then, to show. Empty on entries older than that check: they match by value.
    okta_id = models.CharField(max_length=64, blank=True, editable=False)
    okta_name = models.CharField(max_length=300, blank=True, editable=False)
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        unique_together = [("kind", "value")]

    def __str__(self) -> str:
        shown = f"{self.okta_name} ({self.okta_id})" if self.okta_id and self.okta_name != self.okta_id else self.value
        return f"{self.get_kind_display()}: {shown}"

    @classmethod
    def reason_for(
        cls, user_id: str, login: str, groups: list[dict], entries: list[ProtectedAccount] | None = None
    ) -> str:
        """Why this Okta user is protected, or "" when they are not.

        `entries` is the protected list when the caller has read it already (a page of many cases).
        """
        group_keys = {g["id"] for g in groups} | {g["name"].casefold() for g in groups}
        for entry in cls.objects.all() if entries is None else entries:
            value = entry.value.casefold()
            if (
                (entry.kind in (cls.Kind.USER_ID, cls.Kind.LOGIN) and entry.okta_id and entry.okta_id == user_id)
                or (entry.kind == cls.Kind.USER_ID and entry.value == user_id)
                or (entry.kind == cls.Kind.LOGIN and value == login.casefold())
                or (entry.kind == cls.Kind.GROUP and entry.okta_id and entry.okta_id in group_keys)
                or (entry.kind == cls.Kind.GROUP and (entry.value in group_keys or value in group_keys))
            ):
                return f"protected account ({entry})"
        return ""


# The safety settings' bounds, checked by every form that sets them (the safety page's and the admin's).
COUNT_LIMITS = (1, 10_000)
SLA_TARGET_MAX_HOURS = 168
WINDOW_LIMITS = (1, 7 * 24 * 60)  # a minute to a week


def validate_share(value: float) -> None:
    if not 0 < value <= 1:
        raise ValidationError("Give a share between 0 and 1, e.g. 0.02 for 2%.", code="share")


def validate_sla_target_hours(value: float) -> None:
    if not 0 < value <= SLA_TARGET_MAX_HOURS:
        raise ValidationError(
            f"Give a target above 0 and at most {SLA_TARGET_MAX_HOURS} hours (a week).", code="sla_target"
        )


def count_validators(limits: tuple[int, int] = COUNT_LIMITS) -> list:
    low, high = limits
    message = f"Give a whole number from {low} to {high:,}."
    return [MinValueValidator(low, message), MaxValueValidator(high, message)]


class SafetySettings(models.Model):
    """The one row of safety settings; `SafetySettings.load()` returns it.

    The settings are changed through `decisions.save_safety` (audited); the rest is the state the
    breaker and the sync keep.
    """

    SETTINGS = (
        "breaker_count",
        "breaker_share",
        "breaker_window_minutes",
        "effective_mode",
        "involuntary_immediately",
        "sla_target_hours",
        "empty_report_suspect_from",
    )
    # What decides each open case's effective moment: a change reschedules them.
    SCHEDULING = ("effective_mode", "involuntary_immediately")

    class EffectiveMode(models.TextChoices):
        END_OF_TERMINATION_DATE = "end_of_termination_date", "End of the termination date"
        START_OF_TERMINATION_DATE = "start_of_termination_date", "Start of the termination date"
        END_OF_LAST_DAY_OF_WORK = "end_of_last_day_of_work", "End of the last day of work"

    breaker_count = models.PositiveIntegerField(
        default=25,
        validators=count_validators(),
        help_text="Trip when more new terminations than this arrive within the window.",
    )
    breaker_share = models.FloatField(
        default=0.05,
        validators=[validate_share],
        help_text="…or more than this share of the active Okta population (0.05 = 5%).",
    )
    # A sliding window, not one sync: thirty pushes a minute apart are the same burst as one report of thirty.
    breaker_window_minutes = models.PositiveIntegerField(
        default=60,
        validators=count_validators(WINDOW_LIMITS),
        help_text="New terminations are counted over this many minutes, across polls and pushes alike.",
    )
    breaker_tripped_at = models.DateTimeField(null=True, blank=True)
    breaker_reason = models.CharField(max_length=300, blank=True)
    # What arrived before a reset an admin has seen: the window counts from the reset.
    breaker_reset_at = models.DateTimeField(null=True, blank=True)
    effective_mode = models.CharField(
        max_length=40, choices=EffectiveMode.choices, default=EffectiveMode.END_OF_TERMINATION_DATE
    )
    involuntary_immediately = models.BooleanField(
        default=False, help_text="Involuntary terminations take effect as soon as they are seen."
    )
    active_population = models.PositiveIntegerField(default=0, help_text="Active Okta users, last counted.")
    active_population_counted_at = models.DateTimeField(null=True, blank=True)
    sla_target_hours = models.FloatField(
        default=4, validators=[validate_sla_target_hours], help_text="Time to revoke expected, in hours."
    )
    # An empty report right after a full one is more likely a broken report than a day without leavers.
    last_report_rows = models.PositiveIntegerField(
        null=True, blank=True, help_text="Rows in the last whole terminations report accepted."
    )
    last_report_at = models.DateTimeField(null=True, blank=True)
    empty_report_suspect_from = models.PositiveIntegerField(
        default=20,
        validators=count_validators(),
        help_text="An empty report after one with at least this many rows is refused as suspect.",
    )

    class Meta:
        verbose_name_plural = "safety settings"

    def __str__(self) -> str:
        return "Safety settings"

    @classmethod
    def load(cls) -> SafetySettings:
        return cls.objects.get_or_create(pk=1)[0]

    @property
    def breaker_tripped(self) -> bool:
        return self.breaker_tripped_at is not None


def jira_browse_prefix() -> str:
    return browse_url(settings.JIRA_BASE_URL, "")


def jira_browse_url(key: str) -> str:
    """Where a person opens the Jira issue `key` (nothing without a key)."""
    return jira_browse_prefix() + key if key else ""


# A case whose effective moment passed longer ago than this and whose access is not revoked yet is overdue:
# long enough for a due case's revocation to run, short enough that nobody reads it as on time.
OVERDUE_AFTER = timedelta(minutes=15)


def overdue(now: datetime | None = None) -> models.Q:
    """Still to be revoked (undecided, approved or running) and the effective moment past by `OVERDUE_AFTER`."""
    return models.Q(state__in=Case.UNREVOKED_STATES, effective_at__lt=(now or timezone.now()) - OVERDUE_AFTER)


class CaseQuerySet(models.QuerySet):
    def overdue(self, now: datetime | None = None) -> CaseQuerySet:
        return self.filter(overdue(now))

    def due(self, now: datetime | None = None) -> CaseQuerySet:
        """Approved cases whose moment has come, and running ones whose worker stopped renewing its lease."""
        now = now or timezone.now()
        return self.filter(
            models.Q(state__in=Case.RUNNABLE_STATES, effective_at__lte=now)
            | models.Q(state=Case.State.RUNNING, lease_until__lt=now)
        )


class Case(models.Model):
    """One offboarding of one person."""

    class State(models.TextChoices):
        PENDING_REVIEW = "pending_review", "Pending review"
        NEEDS_ATTENTION = "needs_attention", "Needs attention"
        APPROVED = "approved", "Approved"
        SCHEDULED = "scheduled", "Scheduled"
        RUNNING = "running", "Running"
        # Okta's part is done and verified; what deactivation does not undo (an app's own account, the source
        # directory, a group ownership) is open follow-up work. The case is completed once all of it is closed.
        REVOKED_IN_OKTA = "revoked_in_okta", "Access revoked in Okta; follow-ups open"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        REJECTED = "rejected", "Rejected"
        CANCELLED = "cancelled", "Cancelled"
        # Not "completed": that means access revoked and verified (the ticket, the SLA, the history say so).
        NO_ACCOUNT = "no_account", "Closed: no Okta account"

    class Kind(models.TextChoices):
        WORKDAY = "workday", "Workday termination"
        EMERGENCY = "emergency", "Emergency offboard"

    class Identity(models.TextChoices):
        UNRESOLVED = "unresolved", "Not looked up yet"
        EXACT = "exact", "Exact (employeeNumber and name agree)"
        NONE = "none", "No Okta user with this employee number"
        MULTIPLE = "multiple", "Several Okta users with this employee number"
        NAME_MISMATCH = "name_mismatch", "Employee number matches but the name disagrees"
        LOGIN_ONLY = "login_only", "Found only by email/login"
        CHOSEN = "chosen", "Chosen by a person"

    class Ticket(models.TextChoices):
        NOT_YET = "not_yet", "Not yet"
        PENDING = "pending", "Ticket pending"
        FILED = "filed", "Filed"

    OPEN_STATES = (State.PENDING_REVIEW, State.NEEDS_ATTENTION, State.APPROVED, State.SCHEDULED)
    DECIDABLE_STATES = (State.PENDING_REVIEW, State.NEEDS_ATTENTION)
    RUNNABLE_STATES = (State.APPROVED, State.SCHEDULED)
    # Still on the way to revoked: what `overdue` looks at (a failed case is in danger by itself).
    UNREVOKED_STATES = (*OPEN_STATES, State.RUNNING)

    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.WORKDAY)
    termination = models.ForeignKey(Termination, null=True, blank=True, on_delete=models.PROTECT, related_name="cases")
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING_REVIEW, db_index=True)
    attention_reason = models.TextField(blank=True)

    okta_user_id = models.CharField(max_length=64, blank=True, db_index=True)
    okta_login = models.CharField(max_length=300, blank=True)
    identity = models.CharField(max_length=20, choices=Identity.choices, default=Identity.UNRESOLVED)
    identity_note = models.TextField(blank=True)
    protected_reason = models.CharField(max_length=300, blank=True)
    plan = models.JSONField(default=dict, blank=True)
    # A person's choice of the Okta user (or of "no Okta account") that waits for a second approver because a
    # protected person is involved: {"outcome", "okta_user_id", "login", "reason", "by", "by_id", "at", "protected"}.
    identity_proposal = models.JSONField(default=dict, blank=True)

    effective_at = models.DateTimeField(null=True, blank=True, db_index=True)
    immediate = models.BooleanField(default=False)
    # The day the person left, kept on the case so the history filters and sorts by it from one index:
    # the termination date, or the day an emergency offboard took effect (in the site's time zone).
    left_on = models.DateField(null=True, blank=True, editable=False)
    # The name the history shows (`person_name`), kept on the case, as `left_on` is, so "sort by name" reads one
    # index instead of sorting every case joined to its termination.
    sort_name = models.CharField(max_length=300, blank=True, default="", editable=False)
    # The termination's department and category, kept on the case for the same reason: the history's filters
    # then combine in the case's own indexes instead of joining every matching termination to its case.
    department = models.CharField(max_length=300, blank=True, default="", editable=False)
    category = models.CharField(max_length=40, blank=True, default="", editable=False)
    # What a person search reads, from one trigram index (PostgreSQL): the termination's name and work email and
    # the Okta login, a line each. Three indexes over two tables took three searches and a join.
    search_text = models.TextField(blank=True, default="", editable=False)

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    request_reason = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_by_rule = models.ForeignKey(AutoApproveRule, null=True, blank=True, on_delete=models.PROTECT)
    rule_snapshot = models.JSONField(default=dict, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)

    started_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # time_to_revoke in seconds, kept by save(): the SLA page's percentiles and the history's "slowest first"
    # are computed in the database from it, and sorted by its index (migration 0015); on PostgreSQL the SLA
    # index (migration 0022) holds it with the effective moment.
    revoke_seconds = models.FloatField(null=True, blank=True, editable=False)
    lease_owner = models.CharField(max_length=100, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    failure_summary = models.TextField(blank=True)
    # What Workday said while the revocation was under way (a rescind, a corrected date). A running
    # lockout is never interrupted: it finishes, is verified, and the case then needs attention for this.
    attention_after_run = models.TextField(blank=True)
    # A case failed on a transient vendor error is retried by itself until `retry_until` (offboarding/retries.py).
    retry_at = models.DateTimeField(null=True, blank=True, db_index=True)
    retry_until = models.DateTimeField(null=True, blank=True)

    jira_key = models.CharField(max_length=40, blank=True, db_index=True)
    ticket = models.CharField(max_length=10, choices=Ticket.choices, default=Ticket.NOT_YET)

    restore_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    restore_reason = models.TextField(blank=True)
    restore_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    restored_at = models.DateTimeField(null=True, blank=True)
    # Workday reversed the rescind that ended this earlier case of the same termination: a new decision.
    reopened_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reopened_as", editable=False
    )

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CaseQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        # The auditors' history sorts and filters on these (offboarding/history.py).
        indexes = [
            models.Index(fields=["created_at", "id"], name="case_opened_idx"),
            models.Index(fields=["finished_at", "id"], name="case_completed_idx"),
            models.Index(fields=["okta_login"], name="case_okta_login_idx"),
            models.Index(fields=["left_on", "id"], name="case_left_idx"),
            models.Index(fields=["sort_name", "okta_login", "id"], name="case_name_idx"),
            models.Index(fields=["department"], name="case_department_idx"),
            models.Index(fields=["decided_by_rule", "decided_by"], name="case_decision_idx"),
            # Who decided, with when the person left or the case completed: the cases are in the order they were
            # opened, so "approved by alice, left last year" read from the decider's index alone passed over
            # every earlier case of hers first.
            models.Index(fields=["decided_by", "left_on"], name="case_decider_left_idx"),
            models.Index(fields=["decided_by", "finished_at"], name="case_decider_completed_idx"),
            models.Index(fields=["decided_by_rule", "left_on"], name="case_rule_left_idx"),
            models.Index(fields=["decided_by_rule", "finished_at"], name="case_rule_completed_idx"),
            # The queue filtered to one state, in effective order.
            models.Index(fields=["state", "effective_at", "id"], name="case_state_effective_idx"),
        ]

    def __str__(self) -> str:
        return f"Case {self.pk}: {self.person_name}"

    # The fields each kept copy is computed from: saving any of them saves the copy too.
    KEPT_FROM = {
        "revoke_seconds": {"effective_at", "revoked_at"},
        "sort_name": {"termination", "termination_id", "plan", "okta_login"},
        "department": {"termination", "termination_id"},
        "category": {"termination", "termination_id"},
        "search_text": {"termination", "termination_id", "okta_login"},
    }

    def save(self, *args, **kwargs):
        if self.left_on is None:
            self.left_on = self.day_left()
        update_fields = kwargs.get("update_fields")
        saved = None if update_fields is None else set(update_fields)
        kept = {name for name, sources in self.KEPT_FROM.items() if saved is None or saved & sources}
        if "revoke_seconds" in kept:
            took = self.time_to_revoke
            self.revoke_seconds = took.total_seconds() if took is not None else None
        if "sort_name" in kept:
            self.sort_name = self.person_name[:300]
        if kept & {"department", "category"}:
            self.department = self.termination.department if self.termination_id else ""
            self.category = self.termination.category if self.termination_id else ""
        if "search_text" in kept:
            found_by = [self.termination.name, self.termination.email] if self.termination_id else []
            self.search_text = "\n".join([*found_by, self.okta_login])
        if saved is not None:
            kwargs["update_fields"] = saved | kept
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("case", args=[self.pk])

    @property
    def site_url(self) -> str:
        """The case page's full address, for links that leave the site (tickets, alerts, exports)."""
        return f"{settings.SITE_URL}{self.get_absolute_url()}"

    def day_left(self) -> date | None:
        if self.termination_id:
            return self.termination.termination_date
        if self.effective_at:
            return timezone.localtime(self.effective_at, timezone.get_default_timezone()).date()
        return None

    @property
    def person_name(self) -> str:
        if self.termination:
            return self.termination.name
        return self.plan.get("user", {}).get("name", "") or self.okta_login

    @property
    def label(self) -> str:
        """The Jira label that finds this case's ticket, even after a crash; this installation's own, for
        another (staging, a restored copy) filing into the same Jira project has its own case of this number."""
        return f"offboarding-{settings.OFFBOARDING_INSTALL_ID}-case-{self.pk}"

    @property
    def legacy_label(self) -> str:
        """The label tickets were filed under before labels named the installation (every installation's)."""
        return f"offboarding-case-{self.pk}"

    @property
    def needs_two_approvers(self) -> bool:
        return bool(self.protected_reason) or self.kind == self.Kind.EMERGENCY

    @property
    def time_to_revoke(self) -> timedelta | None:
        return time_to_revoke(self.effective_at, self.revoked_at)

    @property
    def is_overdue(self) -> bool:
        return (
            self.state in self.UNREVOKED_STATES
            and self.effective_at is not None
            and self.effective_at < timezone.now() - OVERDUE_AFTER
        )

    @property
    def can_revoke_now(self) -> bool:
        """Whether its effective moment may still be brought forward to now (see `decisions.revoke_now`)."""
        return self.state in self.OPEN_STATES and self.started_at is None and bool(self.okta_user_id)

    @property
    def is_decidable(self) -> bool:
        """Whether a person may still approve or reject it: nothing has run yet."""
        return self.state in self.DECIDABLE_STATES and self.started_at is None

    @property
    def is_cancellable(self) -> bool:
        """Approved but not started: a rejection still stops it."""
        return self.state in self.RUNNABLE_STATES and self.started_at is None

    @property
    def revocation_unfinished(self) -> bool:
        """Started and not brought to its end yet: running, queued again for a retry, or failed (to be retried)."""
        return self.started_at is not None and (
            self.state in (self.State.RUNNING, self.State.FAILED) or self.state in self.RUNNABLE_STATES
        )

    @property
    def jira_url(self) -> str:
        return jira_browse_url(self.jira_key)

    @property
    def status_line(self) -> str:
        """The state as a person reads it: with how many follow-ups are still open, where that is the point."""
        if self.state != self.State.REVOKED_IN_OKTA:
            return self.get_state_display()
        count = self.follow_ups.filter(status=FollowUp.Status.OPEN).count()
        return f"Access revoked in Okta; {count} follow-up{'' if count == 1 else 's'} open"

    @property
    def provider(self) -> dict:
        """Where the Okta user is mastered, as the plan read it ({"type", "name"}); Okta itself by default."""
        return self.plan.get("provider") or {"type": "OKTA", "name": "OKTA"}

    @property
    def directory_sourced(self) -> bool:
        """Mastered by Active Directory or LDAP: the directory account outlives the Okta deactivation, and an
        import can reactivate the Okta user, so reconciliation watches the person until the directory is done."""
        return self.provider.get("type") in DIRECTORY_PROVIDERS

    def schedule(self, safety: SafetySettings) -> None:
        """Set the effective moment from the termination and the settings (the caller saves).

        Immediate for an involuntary termination when so configured, from the moment it was seen (or
        now, for a case already open when it becomes immediate); else per the configured mode. A case
        once immediate stays so: a setting never puts back a moment access was already due to go.
        """
        termination = self.termination
        if termination.is_involuntary and safety.involuntary_immediately and not self.immediate:
            self.immediate = True
            self.effective_at = min(self.effective_at, timezone.now()) if self.effective_at else None
        if self.immediate:
            self.effective_at = self.effective_at or termination.first_seen
        else:
            self.effective_at = termination.effective_moment(safety.effective_mode)

    def move_to(
        self,
        state: str,
        actor: Actor | Any,
        action: str = "",
        *,
        before: dict | None = None,
        after: dict | None = None,
        decision: tuple[str, ...] = (),
    ) -> AuditEvent:
        """Change the case's state, save it, and record the change (`case.<state>` unless `action` is given),
        with the decision as the row now holds it (`decision_record` of ROW_DECISION_FIELDS, or `decision`:
        a change that also adds or withdraws approvals records them too).

        The other fields the change sets are set by the caller first; all is written in one transaction.
        """
        old = self.state
        self.state = state
        with transaction.atomic():
            self.save()
            return AuditEvent.record(
                action or f"case.{state}",
                actor=actor,
                case=self,
                before={"state": old, **(before or {})},
                after={"state": state, **(after or {})},
                decision=decision or self.ROW_DECISION_FIELDS,
            )

    # What the evidence page shows of the decision, each held to the audit event that last recorded it.
    DECISION_FIELDS = ("decided_by", "decided_at", "reason", "rule", "effective_at", "approvals", "jira_key")
    # Those on the case's own row, recorded at every state change; the approvals (rows of their own, one
    # query more) where they are given or withdrawn.
    ROW_DECISION_FIELDS = tuple(name for name in DECISION_FIELDS if name != "approvals")

    def decision_record(self, *fields: str) -> dict[str, Any]:
        """The decision as it stands (every field of DECISION_FIELDS, or `fields`), as an audit event keeps it.

        An event that changes one of them records it (`AuditEvent.record(..., decision=fields)`, and every
        `move_to`); `AuditEvent.decision_mismatches` then holds the case's row to the latest record of each.
        """
        values = {
            "decided_by": lambda: (
                self.decided_by.get_username()
                if self.decided_by_id
                else (f"rule:{self.decided_by_rule_id}" if self.decided_by_rule_id else "")
            ),
            "decided_at": lambda: in_utc(self.decided_at),
            "reason": lambda: self.decision_reason,
            "rule": lambda: self.rule_snapshot or None,
            "effective_at": lambda: in_utc(self.effective_at),
            "approvals": lambda: [
                list(a) for a in self.approvals.order_by("at", "pk").values_list("user__username", "at", "reason")
            ],
            "jira_key": lambda: self.jira_key,
        }
        return canonical({name: values[name]() for name in fields or self.DECISION_FIELDS})


class Approval(models.Model):
    """One approver's yes; a protected or emergency case needs two distinct ones."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="approvals")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    reason = models.TextField(blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        unique_together = [("case", "user")]

    def __str__(self) -> str:
        return f"{self.user} approved case {self.case_id}"


class Step(models.Model):
    """One external action of a case; unique per (case, kind, target) so a re-run resumes."""

    class Kind(models.TextChoices):
        RESOLVE = "resolve"
        SNAPSHOT = "snapshot"
        REMOVE_GROUP = "remove_group"
        CLEAR_SESSIONS = "clear_sessions"
        UNIVERSAL_LOGOUT = "universal_logout"
        DEACTIVATE = "deactivate"
        VERIFY = "verify"
        FILE_TICKET = "file_ticket"
        RESTORE_GROUP = "restore_group"
        RESTORE_APP = "restore_app"
        RESTORE_RULE = "restore_rule"
        REACTIVATE = "reactivate"

    class Status(models.TextChoices):
        PENDING = "pending"
        DONE = "done"
        FAILED = "failed"
        SKIPPED = "skipped"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="steps")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    target = models.CharField(max_length=100, blank=True)
    target_name = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    http_status = models.PositiveIntegerField(null=True, blank=True)
    vendor_code = models.CharField(max_length=100, blank=True)
    vendor_error_id = models.CharField(max_length=100, blank=True)
    vendor_request_id = models.CharField(max_length=100, blank=True)
    # Every failed run of the step, oldest first ({"at", "http_tries", "http_status", "vendor_code",
    # "vendor_error_id", "vendor_request_id", "error"}): a retry that succeeds does not erase the failure.
    failures = models.JSONField(default=list, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["case", "kind", "target"], name="one_step_per_target")]

    def __str__(self) -> str:
        return f"{self.kind} {self.target_name or self.target}".strip()

    @property
    def vendor_answer(self) -> str:
        """What the vendor last answered, in one line: "HTTP 403 E0000006 … · request id X"."""
        parts = [f"HTTP {self.http_status}" if self.http_status else "", self.vendor_code, self.detail.get("error", "")]
        if self.vendor_request_id and self.vendor_request_id not in self.detail.get("error", ""):
            parts.append(f"request id {self.vendor_request_id}")
        return " ".join(str(p) for p in parts if p) or ("OK" if self.status == self.Status.DONE else "")

    def as_dict(self) -> dict[str, Any]:
        """The step as the audit trail, the evidence and the progress poll carry it."""
        return {
            "kind": self.kind,
            "target": self.target,
            "target_name": self.target_name,
            "status": self.status,
            "attempts": self.attempts,
            "http_status": self.http_status,
            "vendor_code": self.vendor_code,
            "vendor_error_id": self.vendor_error_id,
            "vendor_request_id": self.vendor_request_id,
            "failures": self.failures,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "detail": self.detail,
        }


DIRECTORY_PROVIDERS = ("ACTIVE_DIRECTORY", "LDAP")


class FollowUp(models.Model):
    """What Okta's deactivation does not undo, as work a person must do and close: an app's own account, the
    source directory, a group ownership. Filed as a Jira sub-task of the case's ticket (assigned to the app's
    owner where one is configured); closed when Jira says it is done, or by an approver with a note."""

    class Kind(models.TextChoices):
        APP = "app", "App account"
        DIRECTORY = "directory", "Source directory"
        GROUP_OWNER = "group_owner", "Group ownership"
        RULE_GROUP = "rule_group", "Group rule exclusion"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="follow_ups")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    target_id = models.CharField(max_length=100, blank=True)
    target_name = models.CharField(max_length=300, blank=True)
    what = models.TextField()
    # The Jira accountId the sub-task is assigned to (FOLLOW_UP_OWNERS), blank when nobody is configured.
    owner = models.CharField(max_length=128, blank=True)
    jira_key = models.CharField(max_length=40, blank=True, db_index=True)
    # Why its sub-task is not filed yet (Jira refused or was away); a schedule tries again.
    filing_error = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True)
    opened_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Who closed it as it was then: an approver's username, or `system:follow_ups` reading Jira.
    closed_by_name = models.CharField(max_length=200, blank=True)
    close_note = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["case", "kind", "target_id"], name="one_follow_up_per_target")]

    def __str__(self) -> str:
        return f"Follow-up {self.pk} of case {self.case_id}: {self.get_kind_display()} {self.target_name}"

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN

    @property
    def age(self) -> timedelta:
        """How long it has been (or was) open."""
        return (self.closed_at or timezone.now()) - self.opened_at

    @property
    def jira_url(self) -> str:
        return jira_browse_url(self.jira_key)

    @property
    def label(self) -> str:
        """The Jira label that finds this follow-up's sub-task, even after a crash."""
        return f"{self.case.label}-follow-up-{self.pk}"

    def as_dict(self) -> dict[str, Any]:
        """The follow-up as the audit trail and the evidence carry it."""
        return {
            "id": self.pk,
            "kind": self.kind,
            "target_id": self.target_id,
            "target_name": self.target_name,
            "what": self.what,
            "owner": self.owner,
            "jira_key": self.jira_key,
            "status": self.status,
            "opened_at": self.opened_at,
            "closed_at": self.closed_at,
            "closed_by": self.closed_by_name,
            "close_note": self.close_note,
        }

    def close(self, actor: Actor | Any, note: str, action: str = "follow_up.closed") -> AuditEvent:
        """Close it, save it and record who closed it and why, in one transaction (the caller locks it)."""
        who = Actor.of(actor)
        self.status, self.closed_at = self.Status.CLOSED, timezone.now()
        self.closed_by, self.closed_by_name, self.close_note = who.user, who.name, note
        with transaction.atomic():
            self.save(update_fields=["status", "closed_at", "closed_by", "closed_by_name", "close_note"])
            return AuditEvent.record(
                action, actor=who, case=self.case, obj=self, before={"status": "open"}, after=self.as_dict()
            )


class ReportRowError(models.Model):
    """A Workday report row that could not be understood; kept and shown until it goes away."""

    fingerprint = models.CharField(max_length=64, unique=True)
    employee_id = models.CharField(max_length=64, blank=True)
    reason = models.TextField()
    raw = models.JSONField(default=dict)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_seen"]

    def __str__(self) -> str:
        return f"Report row {self.employee_id or '(no id)'}: {self.reason}"


class ReconciliationRun(models.Model):
    """One check of every past-due termination against Okta; findings are people who can still sign in."""

    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    checked = models.PositiveIntegerField(default=0)
    findings = models.JSONField(default=list, blank=True)
    errors = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"Reconciliation {self.started_at:%Y-%m-%d %H:%M}: {len(self.findings)} findings"


class PushReceipt(models.Model):
    """A Workday notification's signature, kept while its timestamp is fresh, so a replay is refused."""

    signature = models.CharField(max_length=64, unique=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"Push {self.signature[:12]}… at {self.received_at:%Y-%m-%d %H:%M:%S}"


# --- The audit trail ---------------------------------------------------------

# The key of an event's `after` holding the case's decision as that event left it (Case.decision_record).
DECISION_RECORD = "decision_record"
TICKET_STEP_DONE = "jira.file_ticket.done"
SECRET_KEY_PATTERN = re.compile(r"token|password|secret|authorization|private_key|assertion|api_key", re.I)
REDACTED = "[redacted]"


def without_secrets(data: Any) -> Any:
    """A copy of `data` with the value of every secret-looking key masked."""
    if isinstance(data, dict):
        return {k: REDACTED if SECRET_KEY_PATTERN.search(str(k)) else without_secrets(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [without_secrets(v) for v in data]
    return data


def canonical(data: Any) -> Any:
    """`data` as it reads back from a JSONField, so hashes agree before and after saving."""
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


class AuditChainHead(models.Model):
    """The newest event's hash; locking this one row serialises appends to the chain."""

    last_seq = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)
    # Events before this one were sealed without a key (plain SHA-256), before the audit log had one
    # (migration 0015 set it); every anchor repeats it, so moving it is seen.
    keyed_from_seq = models.PositiveBigIntegerField(default=1)

    def __str__(self) -> str:
        return f"Audit chain head #{self.last_seq}"

    @classmethod
    def lock(cls) -> tuple[int, str]:
        """Lock the head until the transaction ends and read it (last_seq, last_hash); made at the first append."""
        sql = f'SELECT "last_seq", "last_hash" FROM "{cls._meta.db_table}" WHERE "id" = 1'  # noqa: S608 (the table's name)
        with connection.cursor() as cursor:
            cursor.execute(sql + (" FOR UPDATE" if connection.features.has_select_for_update else ""))
            row = cursor.fetchone()
        if row is None:
            head, _ = cls.objects.select_for_update().get_or_create(pk=1)
            return head.last_seq, head.last_hash
        return row[0], row[1]


# What each audit action means, in the words the case timeline and the evidence page show (the code stays in the
# chain and the exports). Every action the code records has one: tests/test_audit_labels.py reads the code for them.
ACTION_LABELS = {
    # A case's state, as `Case.move_to` records it when no other action is given.
    "case.pending_review": "Back to pending review",
    "case.needs_attention": "Needs attention",
    "case.approved": "Approved",
    "case.scheduled": "Scheduled",
    "case.running": "Revocation running",
    "case.completed": "Revocation completed",
    "case.failed": "Revocation failed",
    "case.rejected": "Rejected",
    "case.cancelled": "Cancelled",
    "case.no_account": "Closed: no Okta account",
    "case.revoked_in_okta": "Access revoked in Okta; follow-ups open",
    # What Okta does not undo, tracked to the end.
    "follow_up.opened": "Follow-up opened",
    "follow_up.filed": "Follow-up filed as a Jira sub-task",
    "follow_up.sub_task_missing": "Follow-up's sub-task missing in Jira",
    "follow_up.closed_in_jira": "Follow-up closed in Jira",
    "follow_up.closed_by_restore": "Follow-up closed by the restore",
    "case.follow_ups_closed": "Every follow-up closed",
    "jira.follow_up_statuses_failed": "Follow-ups' statuses could not be read from Jira",
    # The audit log's anchors outside the database.
    "audit.anchored": "Audit log anchored in Jira",
    "audit.anchor_failed": "Audit log anchor failed",
    # The rest of a case's life.
    "termination.received": "Termination received from Workday",
    "termination.corrected": "Termination corrected in Workday",
    "case.opened": "Case opened",
    "case.vanished_from_report": "Vanished from Workday's report",
    "case.back_in_report": "Back in Workday's report",
    "case.conversion_suspected": "Looks like a conversion, not a leaver",
    "case.rescind_reversed": "Workday reversed the rescind",
    "case.rescinded_during_revocation": "Rescinded in Workday during the revocation",
    "case.corrected_during_revocation": "Corrected in Workday during the revocation",
    "case.rescheduled": "Effective moment moved",
    "case.protection_changed": "Protection changed",
    "case.identity_proposed": "Okta user proposed (first of two)",
    "case.identity_chosen": "Okta user chosen",
    "case.closed_no_account": "Closed: no Okta account",
    "case.emergency_requested": "Emergency offboard requested",
    "case.first_approval": "First approval (a second is needed)",
    "case.revoke_now": "Revoke now asked",
    "case.retry_requested": "Retry asked",
    "case.started": "Revocation started",
    "case.held_protected": "Held: protected, two approvers needed",
    "case.held_token_owner": "Held: owns the product's Okta credentials",
    "case.retry_scheduled": "Automatic retry scheduled",
    "case.retry_not_scheduled": "Not retried automatically",
    "case.retries_exhausted": "Automatic retries exhausted",
    "case.restore_requested": "Restore requested",
    "case.restore_approved": "Restore approved",
    "case.restored": "Access restored",
    "case.restore_failed": "Restore failed",
    "okta.user_resolved": "Okta user found",
    "okta.lookup_failed": "Okta lookup failed",
    "okta.group_not_removable": "Group left alone (Okta does not let it be removed here)",
    "jira.ticket_filed": "Jira ticket filed",
    "jira.ticket_refused": "Jira refused the ticket",
    "jira.comment_added": "Comment added to the Jira ticket",
    "jira.comment_failed": "Comment on the Jira ticket failed",
    "reconcile.finding": "Reconciliation finding",
    "reconcile.rehire_noted": "Rehire noted by reconciliation",
    "reconcile.finished": "Reconciliation finished",
    "audit.evidence_viewed": "Evidence viewed",
    "audit.exported": "Audit trail exported",
    # Settings and the product's own health.
    "rule.created": "Rule created",
    "rule.changed": "Rule changed",
    "rule.enabled": "Rule enabled",
    "rule.disabled": "Rule disabled",
    "rule.deleted": "Rule deleted",
    "rule.unusable": "Rule unusable",
    "protected_account.created": "Protected account added",
    "protected_account.changed": "Protected account changed",
    "protected_account.removed": "Protected account removed",
    "safety.changed": "Safety settings changed",
    "safety.breaker_tripped": "Circuit breaker tripped",
    "safety.breaker_reset": "Circuit breaker reset",
    "workday.report_suspect": "Workday report refused as suspect",
    "workday.row_error": "Workday report row refused",
    "workday.sync_failing": "Workday sync failing",
    "workday.sync_recovered": "Workday sync works again",
    "vendor.credentials_rejected": "Vendor rejected the credentials",
    "vendor.credentials_accepted": "Vendor accepts the credentials again",
    "vendors.checked": "Vendors checked",
    "push.received": "Workday push received",
    "push.refused": "Workday push refused",
    "auth.login_refused": "Sign-in refused",
}
# A step's outcome, as steps.record writes it: "<service>.<step kind>.<status>" (every kind needs its words here).
STEP_ACTIONS = {
    "resolve": "read the user",
    "snapshot": "read the groups",
    "remove_group": "remove from a group",
    "clear_sessions": "clear sessions and OAuth tokens",
    "universal_logout": "Universal Logout",
    "deactivate": "deactivate the user",
    "verify": "verify by reading back",
    "file_ticket": "file the ticket",
    "restore_group": "put back in a group",
    "restore_app": "give back an app",
    "restore_rule": "take off a rule's exclusions",
    "reactivate": "reactivate the user",
}
ACTION_LABELS |= {
    f"{service}.{kind.value}.{status.value}": f"{service.capitalize()}: {STEP_ACTIONS[kind]}, {status.label.lower()}"
    for kind in Step.Kind
    for status in Step.Status
    for service in ("okta", "jira")
}


def action_label(action: str) -> str:
    """An audit action in words ("case.approved" is "Approved"); an unknown code is shown as it is."""
    return ACTION_LABELS.get(action, action)


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("Audit events are append-only")

    def delete(self):
        raise TypeError("Audit events are append-only")


class AuditEvent(models.Model):
    """Append-only; each event's hash covers its content and the previous event's hash."""

    seq = models.PositiveBigIntegerField(unique=True)
    at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    actor_name = models.CharField(max_length=200)
    action = models.CharField(max_length=100, db_index=True)
    case = models.ForeignKey(Case, null=True, blank=True, on_delete=models.PROTECT, related_name="events")
    object_repr = models.CharField(max_length=300, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True, db_index=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    # The id of the key the event was sealed under (HMAC-SHA-256); empty for an event sealed before the
    # audit log had a key (plain SHA-256, before `AuditChainHead.keyed_from_seq`).
    key_id = models.CharField(max_length=20, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} by {self.actor_name}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError("Audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("Audit events are append-only")

    @property
    def action_label(self) -> str:
        return action_label(self.action)

    def content(self) -> dict[str, Any]:
        """What the hash covers (the actor FK is not: its name snapshot is; the key id is, once there is one)."""
        content = {
            "seq": self.seq,
            "at": self.at.isoformat(),
            "actor_name": self.actor_name,
            "action": self.action,
            "case_id": self.case_id,
            "object_repr": self.object_repr,
            "before": self.before,
            "after": self.after,
            "request_id": self.request_id,
            "prev_hash": self.prev_hash,
        }
        return content | {"key_id": self.key_id} if self.key_id else content

    def compute_hash(self) -> str:
        """The event's seal: HMAC-SHA-256 under the key named by `key_id` (one of `settings.AUDIT_KEYS`),
        or plain SHA-256 for an event sealed before the log had a key. KeyError: a key this process lacks."""
        payload = json.dumps(self.content(), sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder).encode()
        if not self.key_id:
            return hashlib.sha256(payload).hexdigest()
        return hmac.new(settings.AUDIT_KEYS[self.key_id], payload, hashlib.sha256).hexdigest()

    def seal_problem(self, keyed_from: int) -> str:
        """What is wrong with the event's own seal, or "" (its place in the chain is checked by the walk)."""
        if not self.key_id and self.seq >= keyed_from:
            return f"event #{self.seq} ({self.action}) is not sealed with the key: altered or forged"
        if self.key_id and self.key_id not in settings.AUDIT_KEYS:
            return (
                f"event #{self.seq} ({self.action}) names key {self.key_id}, which this verifier does not hold: "
                "forged, or an earlier key missing from AUDIT_KEYS_PREVIOUS"
            )
        if not hmac.compare_digest(self.compute_hash(), self.hash):
            return f"event #{self.seq} ({self.action}) was altered or forged: its seal is not the key's"
        return ""

    @classmethod
    def record(
        cls,
        action: str,
        *,
        actor: Actor | Any,
        case: Case | None = None,
        obj: Any = None,
        before: Any = None,
        after: Any = None,
        decision: tuple[str, ...] = (),
    ) -> AuditEvent:
        """Append one event, in the caller's transaction (or a new one).

        `actor` is an `Actor` (a person, a rule, a system job) or a user, who is then the person.
        `decision`: the fields of the case's decision this event changed, recorded with it (`decision_record`).
        """
        event = cls.entry(action, actor=actor, case=case, obj=obj, before=before, after=after, decision=decision)
        return cls.record_many([event])[0]

    @classmethod
    def entry(
        cls,
        action: str,
        *,
        actor: Actor | Any,
        case: Case | None = None,
        obj: Any = None,
        before: Any = None,
        after: Any = None,
        decision: tuple[str, ...] = (),
    ) -> AuditEvent:
        """An event not yet in the chain, for `record_many` (takes the same arguments as `record`)."""
        who = Actor.of(actor)
        if decision:
            after = {**(after or {}), DECISION_RECORD: case.decision_record(*decision)}
        return cls(
            actor=who.user,
            actor_name=who.name,
            action=action,
            case=case,
            object_repr=str(obj if obj is not None else case or "")[:300],
            before=canonical(without_secrets(before)),
            after=canonical(without_secrets(after)),
            request_id=current_request_id(),
        )

    @classmethod
    def record_many(cls, events: list[AuditEvent]) -> list[AuditEvent]:
        """Append events in their order, in the caller's transaction (or a new one).

        Every append of every process waits for the chain head's lock, so an append holds it as briefly as
        it can: each event's columns are made ready first, and under the lock the events are only sealed and
        written with the new head in one statement (on PostgreSQL; SQLite has one writer at a time anyway).
        A batch of steps (a case's group removals) costs one append, not one per event.
        """
        if not events:
            return events
        ready = [[f.get_db_prep_save(getattr(e, f.attname), connection) for f in CONTENT_COLUMNS] for e in events]
        with transaction.atomic():
            last_seq, last_hash = AuditChainHead.lock()
            now, key_id = timezone.now(), next(iter(settings.AUDIT_KEYS))
            at = AT_COLUMN.get_db_prep_save(now, connection)
            for event, columns in zip(events, ready, strict=True):
                event.seq, event.at, event.prev_hash, event.key_id = last_seq + 1, now, last_hash, key_id
                event.hash = event.compute_hash()
                last_seq, last_hash = event.seq, event.hash
                columns += [event.seq, at, event.prev_hash, event.hash, event.key_id]
            ids = _append_events(ready, last_seq, last_hash)
        for event in events:
            event.pk, event._state.adding, event._state.db = ids[event.seq], False, connection.alias
        # Logged as written, not on commit: the log is an account for the console; the audit trail is the record.
        if events_log.isEnabledFor(logging.INFO):
            for event in events:
                events_log.info("%s", event.log_line)
        return events

    @property
    def log_line(self) -> str:
        about = f" · {self.object_repr}" if self.object_repr else ""
        return f"{self.action} by {self.actor_name}{about}"

    @classmethod
    def verify_chain(cls, queryset: models.QuerySet | None = None) -> tuple[bool, str]:
        """Walk the chain; return (intact, what is wrong with the first bad event).

        Each event must carry a seal only the key can make (HMAC-SHA-256), except those sealed before
        the log had a key, which are said so. Events keep being appended while the walk runs, so the
        head is read before and after it: the walk must pass the head as it was at the start (nothing
        removed from the end) and must not go past the head as it is at the end (nothing forged after
        it). Anchors outside the database (offboarding/integrity.py) check what the head cannot.
        """
        head_before = AuditChainHead.objects.filter(pk=1).first()
        keyed_from = head_before.keyed_from_seq if head_before else 1
        prev_hash, expected_seq, passed_head = "0" * 64, 1, head_before is None or head_before.last_seq == 0
        events = cls.objects.all() if queryset is None else queryset
        for event in events.order_by("seq").iterator(chunk_size=2000):
            if event.seq != expected_seq:
                return False, f"event #{expected_seq} is missing (next is #{event.seq}): removed"
            if event.prev_hash != prev_hash:
                return False, f"event #{event.seq} does not follow #{event.seq - 1}: an event was inserted or removed"
            if problem := event.seal_problem(keyed_from):
                return False, problem
            if head_before and event.seq == head_before.last_seq:
                passed_head = event.hash == head_before.last_hash
            prev_hash, expected_seq = event.hash, event.seq + 1
        last_seq = expected_seq - 1
        head_after = AuditChainHead.objects.filter(pk=1).first()
        if head_before and not passed_head:
            return False, f"the chain ends at #{last_seq} but the head says #{head_before.last_seq}: events removed"
        if head_after and (
            last_seq > head_after.last_seq or (last_seq == head_after.last_seq and prev_hash != head_after.last_hash)
        ):
            return False, f"the chain ends at #{last_seq} but the head says #{head_after.last_seq}: events added"
        message = f"{last_seq} events verified"
        if keyed_from > 1 and last_seq:
            message += (
                f"; events before #{keyed_from} were sealed without a key: they are chained to the keyed ones, "
                "but a change made to them before the key was introduced would not show"
            )
        return True, message

    @classmethod
    def recorded_decisions(cls, events: models.QuerySet | None = None) -> dict[int, dict[str, tuple[Any, AuditEvent]]]:
        """Case id -> decision field -> (its value, the latest event that recorded it), from `events`
        (by default every event that recorded one). The ticket's step records the Jira key it filed."""
        recording = models.Q(after__has_key=DECISION_RECORD) | models.Q(action=TICKET_STEP_DONE)
        events = (cls.objects.all() if events is None else events).filter(recording, case__isnull=False)
        recorded: dict[int, dict[str, tuple[Any, AuditEvent]]] = {}
        for event in events.order_by("seq").iterator(chunk_size=2000):
            fields = recorded.setdefault(event.case_id, {})
            after = event.after if isinstance(event.after, dict) else {}
            if event.action == TICKET_STEP_DONE:
                key = (after.get("detail") or {}).get("key") if isinstance(after.get("detail"), dict) else None
                if after.get("target") == "issue" and key:
                    fields["jira_key"] = (key, event)
                continue
            record = after.get(DECISION_RECORD)
            for name, value in record.items() if isinstance(record, dict) else ():
                if name in Case.DECISION_FIELDS:
                    fields[name] = (value, event)
        return recorded

    @staticmethod
    def decision_mismatches(case: Case, recorded: dict[str, tuple[Any, AuditEvent]]) -> list[str]:
        """Each field of the case's decision that differs from the latest event that recorded it, said in words."""
        if not recorded:
            return []
        now = case.decision_record(*recorded)
        return [
            f"case {case.pk}: {name.replace('_', ' ')} is {json.dumps(now[name])} in the database, but event "
            f"#{event.seq} ({event.action}) recorded {json.dumps(value)}"
            for name, (value, event) in recorded.items()
            if now[name] != value
        ]

    @classmethod
    def verify_case(cls, case: Case) -> bool:
        """Whether each of a case's events still matches its own seal and its predecessor's."""
        events = list(cls.objects.filter(case=case).order_by("seq"))
        prev = {e.seq: e.hash for e in cls.objects.filter(seq__in=[e.seq - 1 for e in events])}
        head = AuditChainHead.objects.filter(pk=1).first()
        keyed_from = head.keyed_from_seq if head else 1
        return all(
            not e.seal_problem(keyed_from) and (e.seq == 1 or prev.get(e.seq - 1) == e.prev_hash) for e in events
        )


# An appended event's columns: what is ready before the head is locked, then what sealing it sets (in this order).
CHAIN_FIELDS = ("seq", "at", "prev_hash", "hash", "key_id")
CONTENT_COLUMNS = [f for f in AuditEvent._meta.concrete_fields if not f.primary_key and f.name not in CHAIN_FIELDS]
AT_COLUMN = AuditEvent._meta.get_field("at")
EVENTS_PER_INSERT = 500  # far below either database's limit on a statement's parameters


def _append_events(rows: list[list], last_seq: int, last_hash: str) -> dict[int, int]:
    """Insert sealed events' rows (CONTENT_COLUMNS, then CHAIN_FIELDS) and move the head to the last; the head
    must be locked. Returns each event's id by its seq. On PostgreSQL the head moves in the last insert's statement."""
    table, head = AuditEvent._meta.db_table, AuditChainHead._meta.db_table
    names = ", ".join(f'"{name}"' for name in [f.column for f in CONTENT_COLUMNS] + list(CHAIN_FIELDS))
    move_head = f'UPDATE "{head}" SET "last_seq" = %s, "last_hash" = %s WHERE "id" = 1'  # noqa: S608 (names only)
    in_one = connection.vendor == "postgresql"
    ids = {}
    with connection.cursor() as cursor:
        for start in range(0, len(rows), EVENTS_PER_INSERT):
            chunk = rows[start : start + EVENTS_PER_INSERT]
            values = ", ".join(["(" + ", ".join(["%s"] * len(chunk[0])) + ")"] * len(chunk))
            sql, params = f'INSERT INTO "{table}" ({names}) VALUES {values} RETURNING "id", "seq"', []  # noqa: S608
            if in_one and start + EVENTS_PER_INSERT >= len(rows):
                sql, params = f"WITH head AS ({move_head}) {sql}", [last_seq, last_hash]
            cursor.execute(sql, params + [value for row in chunk for value in row])
            ids |= {seq: pk for pk, seq in cursor.fetchall()}
        if not in_one:
            cursor.execute(move_head, [last_seq, last_hash])
    return ids


class AlertDelivery(models.Model):
    """Whether the last alert email reached the mail server: one row, so a failure in any process (a worker,
    the poller) shows on every page and in /healthz until an alert is sent again."""

    failed_at = models.DateTimeField(null=True, blank=True)
    failed_subject = models.CharField(max_length=300, blank=True)
    failure = models.CharField(max_length=500, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Alert failed {self.failed_at:%Y-%m-%d %H:%M}" if self.failed_at else "Alerts delivered"

    @classmethod
    def failed(cls, subject: str, failure: str) -> None:
        """Keep the failure; never raises (the caller is already handling a failure)."""
        try:
            cls.objects.update_or_create(
                pk=1,
                defaults={"failed_at": timezone.now(), "failed_subject": subject[:300], "failure": failure[:500]},
            )
        except Exception:
            logger.exception("Could not record that the alert %r was not sent", subject)

    @classmethod
    def delivered(cls) -> None:
        try:
            cls.objects.update_or_create(pk=1, defaults={"failed_at": None, "sent_at": timezone.now()})
        except Exception:
            logger.exception("Could not record that an alert was sent")

    @classmethod
    def failing(cls) -> AlertDelivery | None:
        """The last failure, while no alert has been sent since."""
        return cls.objects.filter(pk=1, failed_at__isnull=False).first()


class VendorHealth(models.Model):
    """How a vendor is answering us, one row per vendor, shared by every process (the poller, the scheduled
    sync, pushes, workers): the Workday sync's last good read and its run of failures, and whether the
    vendor rejects our credentials. Each outage is alerted once (`alerted_at`) and cleared by the next answer."""

    vendor = models.CharField(max_length=20, unique=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    failures_in_a_row = models.PositiveIntegerField(default=0)
    failing_since = models.DateTimeField(null=True, blank=True)
    last_failure = models.CharField(max_length=500, blank=True)
    outage_alerted_at = models.DateTimeField(null=True, blank=True)
    credentials_rejected_at = models.DateTimeField(null=True, blank=True)
    credentials_failure = models.CharField(max_length=500, blank=True)

    def __str__(self) -> str:
        return f"{self.vendor} health"


class AuditCheck(models.Model):
    """One verification of the whole audit chain: when, by whom, and what it found.

    Kept outside the chain on purpose: a check must be recordable even when the
    end of the chain it checked is damaged.
    """

    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    actor_name = models.CharField(max_length=200)
    # None while a check asked for on the page runs in the background, or when it never finished.
    intact = models.BooleanField(null=True)
    message = models.TextField()
    # At most one such check runs at a time (the constraint makes a second start fail, whoever races).
    running = models.BooleanField(default=False)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["running"], condition=models.Q(running=True), name="one_audit_check_running"
            )
        ]

    def __str__(self) -> str:
        verdict = (
            "running" if self.running else {True: "intact", False: "NOT intact", None: "did not finish"}[self.intact]
        )
        return f"Audit check {self.started_at:%Y-%m-%d %H:%M}: {verdict}"

    @classmethod
    def begin(cls, actor: Actor | Any) -> AuditCheck | None:
        """A check marked running, to be carried out (offboarding/integrity.py); None when one already runs."""
        who = Actor.of(actor)
        # A check still "running" after the longest a task may run lost its worker: say so, and free the slot.
        lost_before = timezone.now() - timedelta(seconds=settings.Q_TIMEOUT + 60)
        cls.objects.filter(running=True, started_at__lt=lost_before).update(
            running=False, finished_at=timezone.now(), intact=None, message="did not finish (its worker stopped)"
        )
        try:
            with transaction.atomic():
                return cls.objects.create(
                    actor=who.user, actor_name=who.name, intact=None, message="running", running=True
                )
        except IntegrityError:
            return None

    def end(self, intact: bool | None, message: str) -> None:
        AuditCheck.objects.filter(pk=self.pk, running=True).update(
            running=False, finished_at=timezone.now(), intact=intact, message=message
        )
        self.refresh_from_db()


class SlaFigures(models.Model):
    """A whole week's or month's SLA figures as the database last computed them (PostgreSQL; `offboarding.sla`),
    for one target. They hold until a case measured in that period changes: the database's trigger (migration
    0024) then writes that case's effective moment as a `SlaChange`, and the next SLA page computes the period
    again. Derived figures, never evidence: deleting every row only makes the next page compute them again."""

    since = models.DateTimeField()
    until = models.DateTimeField()
    target_seconds = models.FloatField()
    revoked = models.PositiveIntegerField()
    median = models.FloatField(null=True)
    p95 = models.FloatField(null=True)
    worst = models.FloatField(null=True)
    over_target = models.PositiveIntegerField()
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["since", "until", "target_seconds"], name="sla_figures_period")]

    def __str__(self) -> str:
        return f"SLA figures {self.since:%Y-%m-%d %H:%M} to {self.until:%Y-%m-%d %H:%M}: {self.revoked} revoked"


class SlaChange(models.Model):
    """The effective moment of a measured case that was added, changed (its time to revoke, its moment, or
    whether it is measured) or removed since the stored figures of the periods around it were computed.
    Written by the database's trigger on every path to the case table (migration 0024), read and removed by
    the SLA page."""

    at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"SLA change at {self.at:%Y-%m-%d %H:%M:%S}"


def in_utc(moment: datetime | None) -> datetime | None:
    """The moment in UTC, so it reads the same before saving (in a worker's time zone) and after."""
    return moment.astimezone(ZoneInfo("UTC")) if moment else None


def dates_in(values: dict[str, Any]) -> dict[str, Any]:
    """Dates and datetimes as ISO strings, for before/after data."""
    return {k: v.isoformat() if isinstance(v, date | datetime) else v for k, v in values.items()}
