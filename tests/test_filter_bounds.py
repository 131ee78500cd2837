"""Every GET filter and search field of every page has bounds: a bad value is an error the user sees, never a 500.

The fields are read from the pages' forms, so a field added to a form is thrown the same values.
"""

import pytest
from django import forms as django_forms
from django.test import Client
from django.urls import reverse

from offboarding import forms
from tests.factories import make_case

HUGE = "9" * 25
LONG = "x" * 60_000
BAD = {
    django_forms.DateField: ["9999-12-31", "0001-01-01", "2026-02-30", LONG, "2026-01-01\x00"],
    django_forms.IntegerField: [HUGE, "-1", LONG],
    django_forms.ChoiceField: [LONG, HUGE, "-1", "\x00"],
    django_forms.CharField: [LONG, "a\x00b"],
}
# page -> (who looks, the form its filters are, arguments of its URL)
PAGES = {
    "home": ("approver", forms.QueueFilterForm, {}),
    "history": ("auditor", forms.HistoryFilter, {}),
    "history_export": ("auditor", forms.HistoryFilter, {"fmt": "csv"}),
    "sla": ("auditor", forms.Period, {}),
    "reconciliation": ("auditor", forms.ReconciliationRunChoice, {}),
    "emergency": ("approver", forms.EmergencySearch, {}),
}


def bad_values(field) -> list[str]:
    for kind, values in BAD.items():
        if isinstance(field, kind):
            return values
    raise AssertionError(f"no bad values for a {type(field).__name__}")


CASES = [
    (page, name, value)
    for page, (_, form, _) in PAGES.items()
    for name, field in form.base_fields.items()
    for value in bad_values(field)
]


def shows_the_error(page: str, response) -> bool:
    body = response.content.decode()
    if page == "history_export":
        return response.status_code == 400 and "These filters are not valid" in body
    if page == "reconciliation":
        return response.status_code == 404
    return response.status_code in (200, 400) and ('class="error"' in body or 'role="alert"' in body)


@pytest.mark.django_db
class TestEveryGetFilterHasBounds:
    @pytest.fixture
    def clients(self, approver, auditor):
        make_case()
        signed_in = {}
        for name, user in (("approver", approver), ("auditor", auditor)):
            signed_in[name] = Client(raise_request_exception=False)
            signed_in[name].force_login(user)
        return signed_in

    def test_the_walk_covers_every_filter(self):
        assert {(page, name) for page, name, _ in CASES} >= {
            ("home", "q"),
            ("home", "effective_to"),
            ("history", "completed_until"),
            ("history", "rule"),
            ("history", "person"),
            ("sla", "until"),
            ("emergency", "q"),
            ("reconciliation", "run"),
        }

    @pytest.mark.parametrize(("page", "name", "value"), CASES, ids=[f"{p}-{n}-{v[:12]!r}" for p, n, v in CASES])
    def test_a_bad_value_is_a_visible_error_not_a_500(self, clients, page, name, value):
        who, _, kwargs = PAGES[page]
        response = clients[who].get(reverse(page, kwargs=kwargs), {name: value})
        assert response.status_code < 500, response.status_code
        assert shows_the_error(page, response), (response.status_code, response.content[:300])

    @pytest.mark.parametrize("page", ["home", "history", "reconciliation"])
    @pytest.mark.parametrize("value", [HUGE, "-1", LONG, "x"])
    def test_any_page_number_shows_a_page(self, clients, page, value):
        who, _, kwargs = PAGES[page]
        assert clients[who].get(reverse(page, kwargs=kwargs), {"page": value}).status_code == 200
