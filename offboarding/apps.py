from django.apps import AppConfig
from django.db.models.signals import post_migrate


class OffboardingConfig(AppConfig):
    name = "offboarding"
    verbose_name = "Offboarding"

    def ready(self):
        from offboarding import (
            checks,  # noqa: F401 - registers the deploy checks
            health,
        )

        health.listen()  # every vendor's 401 is alerted at once, and cleared when it answers again

        post_migrate.connect(ensure_schedules, sender=self)


def ensure_schedules(**kwargs) -> None:
    """Create or update the periodic jobs, by name, so migrating twice changes nothing.

    Each job runs the management command of the same name, so anything the
    scheduler does can also be run by hand.
    """
    from django.conf import settings
    from django_q.models import Schedule

    for name, (command, minutes) in settings.SCHEDULES.items():
        Schedule.objects.update_or_create(
            name=name,
            defaults={
                "func": "django.core.management.call_command",
                "args": ", ".join(repr(word) for word in command),
                "schedule_type": Schedule.MINUTES,
                "minutes": minutes,
                "repeats": -1,
            },
        )
