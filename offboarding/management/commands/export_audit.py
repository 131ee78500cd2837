import getpass

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from offboarding.exports import export
from offboarding.forms import HistoryFilter
from offboarding.models import Actor, AuditEvent


class Command(BaseCommand):
    help = (
        "Export the history of every case that left between two days (termination date; an emergency offboard "
        "by the day it took effect), as the History page's export does. The export is recorded in the audit log."
    )

    def add_arguments(self, parser):
        parser.add_argument("--since", help="first day, YYYY-MM-DD (default: from the beginning)")
        parser.add_argument("--until", help="last day, YYYY-MM-DD (default: to this day)")
        parser.add_argument("--format", choices=["csv", "json"], default="csv")
        parser.add_argument("--output", help="file to write (default: standard output)")

    def handle(self, *args, since=None, until=None, format="csv", output=None, **options):
        form = HistoryFilter({"left_from": since or "", "left_until": until or "", "sort": "left"})
        if not form.is_valid():
            raise CommandError(f"Not a day (YYYY-MM-DD): {form.errors.as_text()}")
        actor = Actor(f"shell:{getpass.getuser()}")
        header = {"exported_at": timezone.now(), "exported_by": actor.name, "filters": form.applied()}
        count, lines = export(form.cases(), format, header)
        AuditEvent.record(
            "audit.exported",
            actor=actor,
            after={"export": "history", "format": format, "filters": form.applied(), "cases": count},
        )
        if output:
            # newline="": the csv module writes its own line endings.
            with open(output, "w", encoding="utf-8", newline="") as file:
                file.writelines(lines)
            self.stderr.write(f"Exported {count} cases to {output}")
        else:
            for chunk in lines:
                self.stdout.write(chunk, ending="")
