from django.core.management.base import BaseCommand, CommandError

from offboarding.clients.errors import VendorError
from offboarding.clients.okta import OktaClient
from offboarding.request_id import request_id


class Command(BaseCommand):
    help = (
        "Read the owners of every Okta group again and keep the map the lookups read group ownerships from "
        "(every OKTA_GROUP_OWNERS_REFRESH_MINUTES), with the part of the budget not reserved for revocations."
    )

    def handle(self, *args, **options):
        with request_id():
            try:
                kept = OktaClient.deferring_to_revocations().refresh_group_owners(background=True)
            except VendorError as e:
                # The map read before stays (three intervals); past that a lookup reads it itself.
                raise CommandError(f"The Okta group owners map was NOT read again: {e}") from e
        owned = sum(len(groups) for groups in kept["owners"].values())
        self.stdout.write(f"Group owners map read: {len(kept['owners'])} owners of {owned} groups")
