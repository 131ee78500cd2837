"""Emergency offboard from the page: find the Okta user, give a reason, wait for a second approver."""

import pytest
from django.urls import reverse

from offboarding.models import Case


@pytest.fixture
def person(org):
    group = org.add_okta_group("Payroll Admins")
    return org.add_okta_user("E900", "Rogue", "Insider", login="rogue.insider@acme.example", groups=[group["id"]])


class TestEmergencyOffboard:
    @pytest.mark.parametrize("term", ["Rogue", "E900", "rogue.insider@acme.example"])
    def test_it_finds_the_okta_user_by_name_employee_id_or_login(self, client, approver, person, term):
        client.force_login(approver)
        body = client.get(reverse("emergency"), {"q": term}).content.decode()
        assert "1 user found" in body
        assert f'value="{person["id"]}"' in body

    def test_okta_down_is_said_plainly(self, client, org, approver):
        org.fault("okta", "outage")
        client.force_login(approver)
        assert "Okta could not be searched" in client.get(reverse("emergency"), {"q": "x"}).content.decode()

    def test_it_confirms_then_waits_for_a_second_approver(self, client, approver, make_user, person):
        client.force_login(approver)
        data = {"okta_user_id": person["id"], "reason": "Credentials leaked"}
        step = client.post(reverse("emergency"), data)
        assert "Rogue Insider" in step.content.decode() and not Case.objects.exists()
        response = client.post(reverse("emergency"), {**data, "confirmed": "yes"}, follow=True)
        case = Case.objects.get()
        assert case.kind == Case.Kind.EMERGENCY and case.state == Case.State.PENDING_REVIEW
        assert "A second, different approver must approve it." in response.content.decode()

        response = client.post(reverse("case_approve", args=[case.pk]), {"confirmed": "yes"}, follow=True)
        assert "You requested this offboard" in response.content.decode()
        client.force_login(make_user("erin", "approvers"))
        client.post(reverse("case_approve", args=[case.pk]), {"confirmed": "yes"})
        assert Case.objects.get().state == Case.State.APPROVED

    def test_a_reason_is_required(self, client, approver, person):
        client.force_login(approver)
        response = client.post(reverse("emergency"), {"okta_user_id": person["id"], "confirmed": "yes"})
        assert "A reason is required" in response.content.decode()
        assert not Case.objects.exists()

    @pytest.mark.parametrize("bad", ["x/../../groups/00g1abcd", "00u1?x=1", "a" * 65, "00u 1"])
    def test_an_id_that_is_not_okta_s_is_a_form_error_and_asks_okta_nothing(self, client, org, approver, person, bad):
        client.force_login(approver)
        org.clear_requests()
        for confirmed in ("", "yes"):
            response = client.post(reverse("emergency"), {"okta_user_id": bad, "reason": "x", "confirmed": confirmed})
            assert response.status_code == 400
            assert "That is not an Okta user id" in response.content.decode()
        assert org.requests("okta") == []
        assert not Case.objects.exists()
