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
from offboarding.clients.errors import VendorError
from offboarding.clients.okta import OKTA_ID, OktaClient
from offboarding.identity import NotInOkta, find_protectable
from offboarding.models import (
    COUNT_LIMITS,
    SLA_TARGET_MAX_HOURS,
    WINDOW_LIMITS,
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


def workday_values() -> dict[str, list[str]]:
    """The departments and locations the stored terminations hold: what Workday has sent, each once, in order."""
    locations = Termination.objects.exclude(location="").order_by("location").values_list("location", flat=True)
    return {"department": history.departments(), "location": list(locations.distinct())}


UNSEEN = "No termination from Workday has had this value: "


class RuleForm(forms.ModelForm):
    """A rule's conditions. Departments and locations are offered from what Workday has sent; another value is
    kept, with a warning (`warnings`), since a misspelt one matches no one."""

    categories = ListField(required=False, help_text="e.g. Voluntary; empty for any")
    worker_types = ListField(required=False, help_text="e.g. Employee, Contingent Worker; empty for any")
    departments_include = ListField(label="Only these departments", required=False, help_text="Empty for any")
    departments_exclude = ListField(label="Never these departments", required=False)
    locations = ListField(required=False, help_text="Empty for any")

    # field -> which of Workday's values it names
    CHOSEN_FROM = {"departments_include": "department", "departments_exclude": "department", "locations": "location"}

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

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.known = workday_values()
        self.warnings: dict[str, str] = {}
        for name, kind in self.CHOSEN_FROM.items():
            if name not in self.fields:
                continue
            known = self.known[kind]
            field = self.fields[name]
            field.widget.attrs["list"] = f"known-{kind}s"
            seen = ", ".join(known) if known else "none yet"
            field.help_text = f"{field.help_text + '. ' if field.help_text else ''}Workday has sent: {seen}."
        if "enabled" in self.fields and self.instance.pk is None:
            # A new rule is saved disabled (decisions.save_rule): it is enabled from its page, once previewed.
            del self.fields["enabled"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for name, kind in self.CHOSEN_FROM.items():
            known = {value.casefold() for value in self.known[kind]}
            unseen = [value for value in data.get(name) or [] if value.casefold() not in known]
            if unseen:
                self.warnings[name] = UNSEEN + ", ".join(f"“{value}”" for value in unseen) + ". It matches no one yet."
        return data


class ProtectedAccountForm(forms.ModelForm):
    """A protected user, login or group, looked up in Okta as it is saved: one Okta does not know is refused."""

    class Meta:
        model = ProtectedAccount
        fields = ["kind", "value", "note"]
        help_texts = {"value": "As Okta has it: a user id, a login, or a group's id or exact name."}

    def __init__(self, *args, okta: OktaClient | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.okta = okta

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors or not data.get("value"):
            return data
        try:
            found = find_protectable(data["kind"], data["value"], self.okta or OktaClient.from_settings())
        except NotInOkta as e:
            raise forms.ValidationError({"value": str(e)}) from e
        except VendorError as e:
            raise forms.ValidationError(f"Okta could not be asked ({e.summary}); nothing was saved. Try again.") from e
        data["value"] = found.value
        self.instance.okta_id, self.instance.okta_name = found.okta_id, found.okta_name
        return data


class ProtectedAccountRemoval(forms.Form):
    reason = forms.CharField(
        max_length=2000,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why this account no longer needs two approvers; kept in the audit trail.",
        error_messages={"required": "Say why this account is no longer protected: the reason is kept in the audit."},
    )


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
            "breaker_window_minutes": "Window: count new terminations over this many minutes",
            "effective_mode": "Access goes at",
            "involuntary_immediately": "Involuntary terminations take effect as soon as they are seen",
            "sla_target_hours": "Time-to-revoke target (hours)",
            "empty_report_suspect_from": "Refuse an empty report after one with at least this many rows",
        }
        help_texts = {
            "breaker_count": f"From {COUNT_LIMITS[0]} to {COUNT_LIMITS[1]:,}.",
            "breaker_share": "Above 0, at most 1.",
            "breaker_window_minutes": f"From {WINDOW_LIMITS[0]} to {WINDOW_LIMITS[1]:,} (a week).",
            "effective_mode": "In each worker's own time zone.",
            "sla_target_hours": f"Above 0, at most {SLA_TARGET_MAX_HOURS} (a week).",
            "empty_report_suspect_from": f"From {COUNT_LIMITS[0]} to {COUNT_LIMITS[1]:,}.",
        }


def _safety_part(*names: str) -> type[forms.ModelForm]:
    return forms.modelform_factory(SafetySettings, form=SafetyForm, fields=names)


# The safety page's forms, one per part of the page, each saved on its own.
SAFETY_PARTS: dict[str, type[forms.ModelForm]] = {
    "thresholds": _safety_part("breaker_count", "breaker_share", "breaker_window_minutes"),
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
