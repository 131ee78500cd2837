from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_q.brokers import get_broker

from accounts.roles import ROLES, role_required
from offboarding.models import Case


@role_required(*ROLES)
def home(request):
    return render(request, "home.html")


@role_required(*ROLES)
def case(request, case_id: int):
    case = get_object_or_404(Case.objects.select_related("termination", "decided_by", "decided_by_rule"), pk=case_id)
    steps = case.steps.all()
    events = case.events.select_related("actor")
    return render(request, "offboarding/case.html", {"case": case, "steps": steps, "events": events})


def _database_answers() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        return False


def _broker_answers() -> bool:
    try:
        return bool(get_broker().ping())
    except Exception:
        return False


@login_not_required
@never_cache
@require_GET
def healthz(request):
    checks = {"database": _database_answers(), "broker": _broker_answers()}
    failing = [name for name, ok in checks.items() if not ok]
    body = {"status": "ok" if not failing else "failing", "failing": failing}
    return JsonResponse(body, status=503 if failing else 200)
