from django.conf import settings
from django.contrib.auth.models import Group
from django_auth_adfs.backend import AdfsAuthCodeBackend

from accounts.roles import ROLES


class RoleMappingAdfsBackend(AdfsAuthCodeBackend):
    """ADFS sign-in whose directory groups are mapped to our roles.

    The user's roles are replaced at every login, so someone removed from the
    directory group loses the role the next time they sign in.
    """

    def update_user_groups(self, user, claim_groups):
        mapping = settings.ADFS_ROLE_GROUPS
        roles = {mapping[g] for g in claim_groups if mapping.get(g) in ROLES}
        user.groups.set([Group.objects.get_or_create(name=role)[0] for role in sorted(roles)])
