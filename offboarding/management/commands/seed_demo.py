"""`python manage.py seed_demo` (DEBUG only): what the demo needs beyond the sandbox's company, through the
product's own audited paths, so that `make run` shows a case of each kind.

- the Okta Super Admins group protected (looked up in Okta, as an admin's entry is);
- Workday read once (the poller's next read brings the rescind the sandbox holds back);
- the leaver whose deactivation the sandbox fails approved by the demo approver: the revocation fails
  half-done, and is retried.

Run again, it changes nothing it did before.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from offboarding import decisions, sync
from offboarding.clients.okta import OktaClient
from offboarding.forms import ProtectedAccountForm
from offboarding.models import Actor, Case, ProtectedAccount
from offboarding.request_id import request_id

SEED = Actor.system("seed_demo")
PROTECTED_GROUP = "Okta Super Admins"
# The sandbox's demo leaver whose deactivation fails (sandbox/org.py) and the demo approver (create_demo_users).
FAILING_LEAVER = "20010"
APPROVER = "approver"


class Command(BaseCommand):
    help = "Demo only: protect the Okta admins group, read Workday once, approve the leaver whose revocation fails."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("The demo's seed is for development only (DEBUG=true).")
        okta = OktaClient.from_settings()
        with request_id():
            self.protect_admins(okta)
            result = sync.sync_workday()
            self.stdout.write(f"Workday read: {len(result.created)} new cases.")
            self.approve_failing_leaver(okta)

    def protect_admins(self, okta: OktaClient) -> None:
        if ProtectedAccount.objects.filter(kind=ProtectedAccount.Kind.GROUP, value=PROTECTED_GROUP).exists():
            return
        form = ProtectedAccountForm(
            {"kind": ProtectedAccount.Kind.GROUP, "value": PROTECTED_GROUP, "note": "Okta admin role"}, okta=okta
        )
        if not form.is_valid():
            raise CommandError(f"{PROTECTED_GROUP} could not be protected: {form.errors.as_text()}")
        account = decisions.save_protected_account(form, SEED)
        self.stdout.write(f"{account} is protected.")

    def approve_failing_leaver(self, okta: OktaClient) -> None:
        case = Case.objects.filter(termination__employee_id=FAILING_LEAVER, state=Case.State.PENDING_REVIEW).first()
        if case is None:
            return
        approver = get_user_model().objects.get(username=APPROVER)
        reason = "Demo: approved at start-up; the sandbox's Okta fails this deactivation once, to show a failed case"
        decisions.approve(case.pk, approver, reason, okta=okta)
        self.stdout.write(f"Case {case.pk} ({case.person_name}) approved: its revocation is due now.")
