"""Forms of the security team's pages, and the audited saves behind the admins' changes.

Every change an admin makes (a rule, a protected account, a safety threshold) is an audit
event written in the same transaction as the change.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.db import models, transaction

from offboarding.models import AuditEvent, AutoApproveRule, Case, ProtectedAccount, SafetySettings, Termination


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
            "breaker_count": "Trip above this many new terminations in one sync",
            "breaker_share": "…or above this share of active Okta users (0.02 = 2%)",
        }

    def clean_breaker_share(self) -> float:
        share = self.cleaned_data["breaker_share"]
        if not 0 < share <= 1:
            raise forms.ValidationError("Give a share between 0 and 1, e.g. 0.02 for 2%.")
        return share


def save_audited(form: forms.ModelForm, actor, noun: str) -> models.Model:
    """Save the form and record `<noun>.created` or `<noun>.changed` with what changed."""
    creating = form.instance.pk is None
    with transaction.atomic():
        obj = form.save()
        changed = form.changed_data if not creating else list(form.fields)
        AuditEvent.record(
            f"{noun}.created" if creating else f"{noun}.changed",
            actor=actor,
            obj=obj,
            before=None if creating else {name: form.initial.get(name) for name in changed},
            after={name: form.cleaned_data.get(name) for name in changed},
        )
    return obj


def set_rule_enabled(rule_id: int, enabled: bool, actor) -> AutoApproveRule:
    with transaction.atomic():
        rule = AutoApproveRule.objects.select_for_update().get(pk=rule_id)
        if rule.enabled != enabled:
            rule.enabled = enabled
            rule.save(update_fields=["enabled", "updated_at"])
            AuditEvent.record(
                "rule.enabled" if enabled else "rule.disabled",
                actor=actor,
                obj=rule,
                before={"enabled": not enabled},
                after={"enabled": enabled},
            )
    return rule


def delete_protected_account(account_id: int, actor) -> None:
    with transaction.atomic():
        account = ProtectedAccount.objects.select_for_update().get(pk=account_id)
        AuditEvent.record(
            "protected_account.removed",
            actor=actor,
            obj=account,
            before={"kind": account.kind, "value": account.value, "note": account.note},
        )
        account.delete()
