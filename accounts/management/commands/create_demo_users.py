from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError

# Two approvers: emergency offboards and protected people need two different ones.
DEMO_USERS = {"approver": "approvers", "approver2": "approvers", "auditor": "auditors", "admin": "admins"}
DEMO_PASSWORD = "offboarding-demo"


class Command(BaseCommand):
    help = "Create the demo users approver, approver2, auditor and admin (development only)."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("Demo users are for development only (DEBUG=true).")
        for username, role in DEMO_USERS.items():
            user, created = User.objects.get_or_create(username=username)
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save()
            user.groups.add(Group.objects.get(name=role))
            self.stdout.write(f"{username} / {DEMO_PASSWORD} ({role})")
