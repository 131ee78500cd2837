from django.core.management.base import BaseCommand, CommandError

from offboarding import identity
from offboarding.clients.errors import VendorError
from offboarding.clients.okta import OktaClient
from offboarding.models import Case, Termination


class Command(BaseCommand):
    help = (
        "Show what offboarding a worker would do right now (--dry-run), read live from Okta: "
        "by employee id, or by case id (--case)."
    )

    def add_arguments(self, parser):
        parser.add_argument("employee_id", nargs="?")
        parser.add_argument("--case", type=int, dest="case_id", help="the case's id instead of an employee id")
        parser.add_argument("--dry-run", action="store_true", required=True, help="only print the plan")

    def handle(self, employee_id, case_id, dry_run, **options):
        if bool(employee_id) == bool(case_id):
            raise CommandError("Give an employee id or --case ID (one of them).")
        okta = OktaClient.from_settings()
        try:
            if case_id:
                self.for_case(case_id, okta)
            else:
                self.for_employee(employee_id, okta)
        except VendorError as e:
            raise CommandError(f"Okta did not answer: {e.summary}") from e

    def for_employee(self, employee_id, okta):
        termination = Termination.objects.filter(employee_id=employee_id).order_by("-first_seen").first()
        if termination is None:
            raise CommandError(f"No Workday termination for employee {employee_id}")
        found = identity.resolve_identity(termination, okta)
        self.stdout.write(f"{termination.name} ({employee_id}), effective per Workday {termination.termination_date}")
        self.stdout.write(f"Identity: {found.identity}" + (f" — {found.note}" if found.note else ""))
        if found.user is None:
            self.stdout.write("Nothing would be done: no Okta user.")
            return
        self.print_plan(found.user, okta)

    def for_case(self, case_id, okta):
        case = Case.objects.select_related("termination").filter(pk=case_id).first()
        if case is None:
            raise CommandError(f"No case {case_id}")
        self.stdout.write(f"Case {case.pk}: {case.person_name}, {case.get_state_display()}")
        if not case.okta_user_id:
            self.stdout.write("Nothing would be done: no Okta user is resolved for this case.")
            return
        self.print_plan(okta.get_user(case.okta_user_id), okta)

    def print_plan(self, user, okta):
        groups = okta.list_user_groups(user.id)
        plan = identity.build_plan(user, groups, identity.read_access(okta, user, groups))
        owner = okta.token_owner()
        write = self.stdout.write
        write(f"Okta user {user.login} ({user.id}), {user.status}")
        if reason := identity.token_owner_reason(user.id, owner.id if owner else ""):
            write(f"NEVER OFFBOARDED BY THE PRODUCT: {reason}")
        if protected := identity.protection_reason(user.id, user.login, plan["groups"], plan["admin_roles"]):
            write(f"Protected: {protected}; two distinct approvers are needed, no rule approves.")
        write(f"Would remove {len(plan['remove'])} group memberships:")
        for group in plan["remove"]:
            write(f"  - {group['name']} ({group['id']})")
        write(f"Cannot remove here ({len(plan['keep'])}):")
        for group in plan["keep"]:
            write(f"  - {group['name']} ({group['type']}): {group['reason']}")
        write("Would clear all sessions and revoke OAuth tokens.")
        if logout := [a["label"] for a in identity.universal_logout_apps(plan)]:
            write(f"Would ask for Universal Logout ({', '.join(logout)}).")
        write("Would deactivate the user (lifecycle, never delete)." if plan["deactivate"] else "Already deactivated.")
        provider = plan["provider"]
        write(f"Credentials provider: {provider['type']} ({provider['name']})")
        write(f"Apps ({len(plan['apps'])}):")
        for app in plan["apps"]:
            via = "directly" if app["via"] == "direct" else f"via group {app['via']}"
            if app["status"] != "ACTIVE":
                effect = f"{app['status'].lower()} app: the assignment is left"
            elif app["deprovisions_on_deactivate"]:
                effect = "Okta deprovisions the account"
            else:
                effect = "sign-in blocked only — account stays"
            write(f"  - {app['label']} ({app['id']}), {via}: {effect}")
        write("Admin roles: " + (", ".join(f"{r['label']} ({r['type']})" for r in plan["admin_roles"]) or "none"))
        write("Owns groups: " + (", ".join(g["name"] for g in plan["owned_groups"]) or "none"))
        write(
            "Rule-managed groups: "
            + (", ".join(f"{g['group_name']} (rule {g['rule_name']})" for g in plan["rule_groups"]) or "none")
        )
        items = identity.follow_ups(plan)
        write(f"Follow-ups Okta will not do ({len(items)}):")
        for item in items:
            write(f"  - {item['what']}")
