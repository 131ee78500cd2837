"""Identity: an Okta user is matched by employeeNumber; anything less than exact needs a human."""

from offboarding import sync
from offboarding.models import AuditEvent, AutoApproveRule, Case


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


class TestLookedUpAgain:
    def test_a_case_whose_lookup_failed_is_looked_up_at_the_next_sync(self, org, leaver):
        leaver()
        org.fault("okta", "outage")
        case = synced_case()
        assert case.identity == Case.Identity.UNRESOLVED
        assert "tried again at the next sync" in case.identity_note
        org.clear_faults()
        result = sync.sync_workday()
        assert result.looked_up_again == [case.pk]
        case.refresh_from_db()
        assert case.identity == Case.Identity.EXACT and case.okta_user_id
        assert case.state == Case.State.PENDING_REVIEW
        assert len(case.plan["remove"]) == 2

    def test_a_rule_decides_it_once_it_is_looked_up(self, org, leaver):
        AutoApproveRule.objects.create(name="Everyone")
        leaver()
        org.fault("okta", "outage")
        assert synced_case().decided_by_rule is None
        org.clear_faults()
        sync.sync_workday()
        assert Case.objects.get().decided_by_rule is not None

    def test_while_okta_still_fails_it_stays_unresolved_and_the_rest_wait(self, org, leaver, settings):
        settings.REVOCATION_PARALLEL_CALLS = 2
        for n in range(5):
            leaver(f"E10{n}", f"Person{n}", "Leaver")
        org.fault("okta", "outage")
        sync.sync_workday()
        failed = AuditEvent.objects.filter(action="okta.lookup_failed").count()
        assert failed == 5
        sync.sync_workday()  # the first two fail again: the other three are not tried this time
        assert AuditEvent.objects.filter(action="okta.lookup_failed").count() == failed + 2
        assert not Case.objects.exclude(identity=Case.Identity.UNRESOLVED).exists()

    def test_a_push_looks_up_again_only_its_own_worker(self, org, leaver):
        leaver("E100")
        leaver("E200", "Ada", "Lovelace")
        org.fault("okta", "outage")
        sync.sync_workday()
        org.clear_faults()
        result = sync.sync_workday(employee_id="E100")
        assert [Case.objects.get(pk=pk).termination.employee_id for pk in result.looked_up_again] == ["E100"]
        assert Case.objects.get(termination__employee_id="E200").identity == Case.Identity.UNRESOLVED
