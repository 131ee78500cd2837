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
from offboarding.models import AutoApproveRule, Case, ProtectedAccount, SafetySettings, Termination

ANY = [("", "Any")]


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

    q = forms.CharField(label="Search", required=False, help_text="Name, employee ID or Okta login")
    state = forms.ChoiceField(label="State", required=False)
    department = forms.ChoiceField(label="Department", required=False)
    category = forms.ChoiceField(
        label="Category",
        required=False,
        choices=[("", "Any"), *Termination.Category.choices, (Case.Kind.EMERGENCY, "Emergency offboard")],
    )
    effective_from = forms.DateField(
        label="Effective from", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    effective_to = forms.DateField(label="Effective to", required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, departments: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["state"].choices = [(self.QUEUE, "Open and needing action"), *Case.State.choices]
        self.fields["department"].choices = [("", "Any"), *((d, d) for d in departments)]


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
    class Meta:
        model = SafetySettings
        fields = ["breaker_count", "breaker_share"]
        labels = {
            "breaker_count": "Trip above this many new terminations within the window",
            "breaker_share": "…or above this share of active Okta users (0.02 = 2%)",
        }

    def clean_breaker_share(self) -> float:
        share = self.cleaned_data["breaker_share"]
        if not 0 < share <= 1:
            raise forms.ValidationError("Give a share between 0 and 1, e.g. 0.02 for 2%.")
        return share


class DateInput(forms.DateInput):
    input_type = "date"


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
        label="Approved by",
        choices=[("", "Anyone"), ("human", "A person"), ("rule", "An auto-approve rule")],
    )
    approver = forms.CharField(required=False, max_length=150, help_text="User name of an approver")
    rule = forms.ModelChoiceField(required=False, queryset=AutoApproveRule.objects.all(), empty_label="Any")
    left_from = forms.DateField(required=False, widget=DateInput, label="Left from")
    left_until = forms.DateField(required=False, widget=DateInput, label="Left until")
    completed_from = forms.DateField(required=False, widget=DateInput)
    completed_until = forms.DateField(required=False, widget=DateInput)
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

    since = forms.DateField(required=False, widget=DateInput, label="Effective from")
    until = forms.DateField(required=False, widget=DateInput, label="Effective until")

    def bounds(self) -> tuple[date, date]:
        today = timezone.localdate()
        data = self.cleaned_data if self.is_valid() else {}
        until = data.get("until") or today
        since = data.get("since") or (until.replace(day=1) - timedelta(days=334)).replace(day=1)
        return since, until
