import pytest
from django.contrib.auth.models import Group, User

# The sandbox (simulated Workday, Okta and Jira over real HTTP) and its fixtures.
pytest_plugins = ["tests.sandbox_fixtures"]


@pytest.fixture
def make_user(db):
    """A user holding the given roles (none for a signed-in user without a role)."""

    def make(username: str, *roles: str) -> User:
        user = User.objects.create_user(username, f"{username}@example.com", "pw-for-tests-only")
        user.groups.set(Group.objects.filter(name__in=roles))
        return user

    return make


@pytest.fixture
def approver(make_user):
    return make_user("alice", "approvers")


@pytest.fixture
def auditor(make_user):
    return make_user("bob", "auditors")


@pytest.fixture
def admin_user(make_user):
    return make_user("carol", "admins")


@pytest.fixture
def no_role_user(make_user):
    return make_user("dave")
