"""The forms of the pages: the queue's and the history's filters, the SLA period, and what admins edit.

A form only reads and checks what a person typed; what it changes goes through `offboarding/decisions.py`.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils import timezone

from offboarding import history
from offboarding.clients.okta import OKTA_ID
from offboarding.models import (
    COUNT_LIMITS,
    SLA_TARGET_MAX_HOURS,
    AutoApproveRule,
    Case,
    ProtectedAccount,
    SafetySettings,
    Termination,
)

ANY = [("", "Any")]
# The days a filter may name: anything outside is a typing slip, and 9999-12-31 + 1 day is past Python's dates.
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2999, 12, 31)
SEARCH_LENGTH = 200


class BoundedDateField(forms.DateField):
    """A date between FIRST_DAY and LAST_DAY, shown as the browser's date picker."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("widget", forms.DateInput(attrs={"type": "date", "min": FIRST_DAY, "max": LAST_DAY}))
        super().__init__(**kwargs)

    def validate(self, value: date | None) -> None:
        super().validate(value)
        if value is not None and not FIRST_DAY <= value <= LAST_DAY:
            raise forms.ValidationError(f"Give a date between {FIRST_DAY} and {LAST_DAY}.", code="out_of_range")


class BoundedModelChoiceField(forms.ModelChoiceField):
    """A choice of row by its id; anything but a plausible id is an invalid choice before the database sees it
    (a number too big for the column fails the query instead)."""

    def to_python(self, value: Any) -> Any:
        if value not in self.empty_values and not (str(value).isdigit() and len(str(value)) <= 18):
            raise forms.ValidationError(self.error_messages["invalid_choice"], code="invalid_choice")
        return super().to_python(value)


class ListField(forms.CharField):
    """A list of words or phrases typed as one comma-separated line; empty means "any"."""

    def prepare_value(self, value: Any) -> Any:
        return ", ".join(value) if isinstance(value, list | tuple) else value

    def to_python(self, value: Any) -> list[str]:
        if isinstance(value, list):
            return value
        return [part.strip() for part in (value or "").split(",") if part.strip()]


class QueueFilterForm(forms.Form):
    QUEUE = ""

    q = forms.CharField(
        label="Search", required=False, max_length=SEARCH_LENGTH, help_text="Name, employee ID or Okta login"
    )
    state = forms.ChoiceField(label="State", required=False)
    department = forms.ChoiceField(label="Department", required=False)
    category = forms.ChoiceField(
        label="Category",
        required=False,
        choices=[("", "Any"), *Termination.Category.choices, (Case.Kind.EMERGENCY, "Emergency offboard")],
    )
    effective_from = BoundedDateField(label="Effective from", required=False)
    effective_to = BoundedDateField(label="Effective to", required=False)

    def __init__(self, *args, departments: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["state"].choices = [(self.QUEUE, "Open and needing action"), *Case.State.choices]
        self.fields["department"].choices = [("", "Any"), *((d, d) for d in departments)]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        since, until = data.get("effective_from"), data.get("effective_to")
        if since and until and since > until:
            self.add_error("effective_to", "“Effective to” is before “Effective from”.")
        return data


class RuleForm(forms.ModelForm):
    categories = ListField(required=False, help_text="e.g. Voluntary; empty for any")
    worker_types = ListField(required=False, help_text="e.g. Employee, Contingent Worker; empty for any")
    departments_include = ListField(label="Only these departments", required=False, help_text="Empty for any")
    departments_exclude = ListField(label="Never these departments", required=False)
    locations = ListField(required=False, help_text="Empty for any")

    class Meta:
        model = AutoApproveRule
        fields = [
            "name",
            "enabled",
            "categories",
            "worker_types",
            "departments_include",
            "departments_exclude",
            "locations",
            "max_groups",
            "timing",
        ]
        labels = {"max_groups": "At most this many removable groups"}


class ProtectedAccountForm(forms.ModelForm):
    class Meta:
        model = ProtectedAccount
        fields = ["kind", "value", "note"]


class SafetyForm(forms.ModelForm):
    """Every safety setting, as the Django admin shows them; the safety page shows them in its parts below.

    The bounds are the model's validators, so every form that sets them checks the same.
    """

    class Meta:
        model = SafetySettings
        fields = list(SafetySettings.SETTINGS)
        labels = {
            "breaker_count": "Trip above this many new terminations within the window",
            "breaker_share": "…or above this share of active Okta users (0.02 = 2%)",
            "effective_mode": "Access goes at",
            "involuntary_immediately": "Involuntary terminations take effect as soon as they are seen",
            "sla_target_hours": "Time-to-revoke target (hours)",
            "empty_report_suspect_from": "Refuse an empty report after one with at least this many rows",
        }
        help_texts = {
            "breaker_count": f"From {COUNT_LIMITS[0]} to {COUNT_LIMITS[1]:,}.",
            "breaker_share": "Above 0, at most 1.",
            "effective_mode": "In each worker's own time zone.",
            "sla_target_hours": f"Above 0, at most {SLA_TARGET_MAX_HOURS} (a week).",
            "empty_report_suspect_from": f"From {COUNT_LIMITS[0]} to {COUNT_LIMITS[1]:,}.",
        }


def _safety_part(*names: str) -> type[forms.ModelForm]:
    return forms.modelform_factory(SafetySettings, form=SafetyForm, fields=names)


# The safety page's forms, one per part of the page, each saved on its own.
SAFETY_PARTS: dict[str, type[forms.ModelForm]] = {
    "thresholds": _safety_part("breaker_count", "breaker_share"),
    "timing": _safety_part("effective_mode", "involuntary_immediately"),
    "reports": _safety_part("sla_target_hours", "empty_report_suspect_from"),
}


class HistoryFilter(forms.Form):
    """The history search; every field is optional and they combine with AND."""

    person = forms.CharField(
        required=False, max_length=300, help_text="Name, employee ID, Okta login or work email (part of it is enough)"
    )
    jira_key = forms.CharField(required=False, max_length=40, label="Jira key")
    state = forms.ChoiceField(required=False, choices=ANY + Case.State.choices)
    department = forms.ChoiceField(required=False)
    category = forms.ChoiceField(required=False, choices=ANY + Termination.Category.choices)
    decision = forms.ChoiceField(
        required=False,
        label="Decided by",
        choices=[("", "Anyone"), ("human", "A person"), ("rule", "An auto-approve rule")],
    )
    approver = forms.CharField(required=False, max_length=150, help_text="User name of an approver")
    rule = BoundedModelChoiceField(required=False, queryset=AutoApproveRule.objects.all(), empty_label="Any")
    left_from = BoundedDateField(required=False, label="Left from")
    left_until = BoundedDateField(required=False, label="Left until")
    completed_from = BoundedDateField(required=False)
    completed_until = BoundedDateField(required=False)
    sort = forms.ChoiceField(required=False, choices=[(name, label) for name, (label, _) in history.SORTS.items()])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["department"].choices = ANY + [(name, name) for name in history.departments()]

    def applied(self) -> dict[str, str]:
        """The filters as given (for the audit event and the export links)."""
        return {name: value for name in self.fields if (value := self.data.get(name, "").strip())}

    def cases(self) -> QuerySet[Case]:
        """The matching cases, sorted, with what a row shows; nothing when the form is invalid."""
        return history.search(self.cleaned_data) if self.is_valid() else Case.objects.none()


class Period(forms.Form):
    """The days whose effective moments the dashboard measures; by default the last twelve months."""

    since = BoundedDateField(required=False, label="Effective from")
    until = BoundedDateField(required=False, label="Effective until")

    def bounds(self) -> tuple[date, date]:
        today = timezone.localdate()
        data = self.cleaned_data if self.is_valid() else {}
        until = data.get("until") or today
        since = data.get("since") or (until.replace(day=1) - timedelta(days=334)).replace(day=1)
        return since, until


class EmergencySearch(forms.Form):
    q = forms.CharField(required=False, max_length=200, strip=True, label="Search")


class EmergencyRequest(forms.Form):
    """The Okta user chosen from the search results, and why; the reason is checked by the decision."""

    okta_user_id = forms.RegexField(
        regex=rf"\A{OKTA_ID.pattern}\Z",  # the validator searches: anchored, so all of it
        max_length=64,
        error_messages={
            "invalid": "That is not an Okta user id: choose the user from the search results.",
            "max_length": "That is not an Okta user id: choose the user from the search results.",
        },
    )
    reason = forms.CharField(required=False, max_length=2000, strip=True)


class ReconciliationRunChoice(forms.Form):
    run = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
