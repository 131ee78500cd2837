from django.core.management.base import BaseCommand, CommandError

from offboarding import identity
from offboarding.clients.okta import OktaClient
from offboarding.models import Termination


class Command(BaseCommand):
    help = "Show what offboarding a worker would do right now (--dry-run), read live from Okta."

    def add_arguments(self, parser):
        parser.add_argument("employee_id")
        parser.add_argument("--dry-run", action="store_true", required=True, help="only print the plan")

    def handle(self, employee_id, dry_run, **options):
        termination = Termination.objects.filter(employee_id=employee_id).order_by("-first_seen").first()
        if termination is None:
            raise CommandError(f"No Workday termination for employee {employee_id}")
        okta = OktaClient.from_settings()
        found = identity.resolve_identity(termination, okta)
        user = found.user
        self.stdout.write(f"{termination.name} ({employee_id}), effective per Workday {termination.termination_date}")
        self.stdout.write(f"Identity: {found.identity}" + (f" — {found.note}" if found.note else ""))
        if user is None:
            self.stdout.write("Nothing would be done: no Okta user.")
            return
        plan = identity.build_plan(user, okta.list_user_groups(user.id))
        self.stdout.write(f"Okta user {user.login} ({user.id}), {user.status}")
        self.stdout.write(f"Would remove {len(plan['remove'])} group memberships:")
        for group in plan["remove"]:
            self.stdout.write(f"  - {group['name']} ({group['id']})")
        self.stdout.write(f"Cannot remove here ({len(plan['keep'])}):")
        for group in plan["keep"]:
            self.stdout.write(f"  - {group['name']} ({group['type']}): {group['reason']}")
        self.stdout.write("Would clear all sessions and revoke OAuth tokens.")
        self.stdout.write(
            "Would deactivate the user (lifecycle, never delete)." if plan["deactivate"] else "Already deactivated."
        )
