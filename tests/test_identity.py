"""Identity: an Okta user is matched by employeeNumber; anything less than exact needs a human."""

from offboarding import sync
from offboarding.models import AutoApproveRule, Case


def synced_case() -> Case:
    sync.sync_workday()
    return Case.objects.get()


class TestIdentity:
    def test_one_match_with_the_same_name_is_exact(self, leaver):
        leaver()
        case = synced_case()
        assert case.identity == Case.Identity.EXACT
        assert case.state == Case.State.PENDING_REVIEW
        assert case.attention_reason == ""

    def test_names_agree_despite_accents_and_case(self, org, leaver):
        leaver(first="Zoë", last="Müller", Worker="ZOE MULLER", First_Name="Zoe", Last_Name="Muller")
        assert synced_case().identity == Case.Identity.EXACT

    def test_no_okta_user_needs_a_human(self, leaver):
        leaver(in_okta=False)
        case = synced_case()
        assert case.identity == Case.Identity.NONE
        assert case.state == Case.State.NEEDS_ATTENTION
        assert "No Okta user has employee number E100" in case.attention_reason
        assert case.okta_user_id == ""

    def test_two_okta_users_need_a_human(self, org, leaver):
        leaver()
        org.add_okta_user("E100", "Zoë", "Müller", login="zoe.mueller2@acme.example", email="zoe.mueller2@acme.example")
        case = synced_case()
        assert case.identity == Case.Identity.MULTIPLE
        assert case.state == Case.State.NEEDS_ATTENTION
        assert "2 Okta users have employee number E100" in case.attention_reason
        assert case.okta_user_id == ""

    def test_a_name_that_disagrees_needs_a_human(self, org, leaver):
        leaver(in_okta=False)
        org.add_okta_user("E100", "Zack", "Miller")
        case = synced_case()
        assert case.identity == Case.Identity.NAME_MISMATCH
        assert case.state == Case.State.NEEDS_ATTENTION
        assert "is named “Zack Miller”, not “Zoë Müller”" in case.attention_reason

    def test_a_match_by_email_only_needs_a_human(self, org, leaver):
        leaver(in_okta=False)
        org.add_okta_user(None, "Zoë", "Müller", login="zoë.müller@acme.example", email="zoë.müller@acme.example")
        case = synced_case()
        assert case.identity == Case.Identity.LOGIN_ONLY
        assert case.state == Case.State.NEEDS_ATTENTION
        assert "found by email only" in case.attention_reason

    def test_no_rule_fires_without_an_exact_match(self, org, leaver):
        AutoApproveRule.objects.create(name="Everyone")
        leaver(in_okta=False)
        org.add_okta_user("E100", "Zack", "Miller")
        case = synced_case()
        assert case.decided_by_rule is None
        assert case.state == Case.State.NEEDS_ATTENTION
