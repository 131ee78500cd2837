"""Every audit action reads as words on the case timeline and the evidence page; the code stays in the chain.

Which actions the code records is read from the source with `ast`: the argument every function, method or
dataclass that takes an `action` is given, and the families of actions built from a template.
"""

import ast
from pathlib import Path

from django.urls import reverse

from offboarding.models import ACTION_LABELS, AuditEvent, Case, Step, action_label
from tests.factories import make_case

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [
    p for package in ("offboarding", "accounts") for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts
]
# The actions built from a template (as ast.unparse writes it), and every code each one can make.
FAMILIES = {
    "f'case.{state}'": {f"case.{state}" for state in Case.State.values},
    "f'{service}.{kind}.{step.status}'": {
        f"{service}.{kind}.{status}"
        for service in ("okta", "jira")
        for kind in Step.Kind.values
        for status in Step.Status.values
    },
    "f'{noun}.created'": {"rule.created", "protected_account.created"},
    "f'{noun}.changed'": {"rule.changed", "protected_account.changed"},
}


def trees() -> list[ast.Module]:
    return [ast.parse(path.read_text(), str(path)) for path in SOURCES]


def takers(modules: list[ast.Module], parameter: str) -> dict[str, int]:
    """Each function, method or dataclass taking `parameter`, by name: its position among the call's arguments."""
    found = {}
    for tree in modules:
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                names = [a.arg for a in node.args.args]
                if names and names[0] in ("self", "cls"):
                    names = names[1:]
                if parameter in names:
                    found[node.name] = names.index(parameter)
            elif isinstance(node, ast.ClassDef):
                fields = [
                    n.target.id for n in node.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
                ]
                if parameter in fields:
                    found[node.name] = fields.index(parameter)
    return found


def given(modules: list[ast.Module], parameter: str) -> list[ast.expr]:
    """Every expression passed as `parameter` to a function, method or dataclass that takes it."""
    positions = takers(modules, parameter)
    passed = []
    for tree in modules:
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
            name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
            if name not in positions:
                continue
            position = positions[name]
            if len(call.args) > position and not any(isinstance(a, ast.Starred) for a in call.args[: position + 1]):
                passed.append(call.args[position])
            passed += [k.value for k in call.keywords if k.arg == parameter]
    return passed


def codes_in(expression: ast.expr) -> tuple[set[str], set[str]]:
    """The literal codes an expression can be, and the templates it builds codes from."""
    if isinstance(expression, ast.Constant) and isinstance(expression.value, str):
        return {expression.value}, set()
    if isinstance(expression, ast.JoinedStr):
        return set(), {ast.unparse(expression)}
    parts = {ast.IfExp: lambda e: [e.body, e.orelse], ast.BoolOp: lambda e: e.values}
    literals, templates = set(), set()
    for kind, branches in parts.items():
        if isinstance(expression, kind):
            for branch in branches(expression):
                more, built = codes_in(branch)
                literals |= more
                templates |= built
    return literals, templates


def recorded_actions() -> tuple[set[str], set[str]]:
    """The audit actions the code records (namespaced codes: "case.approved"), and the templates of the others."""
    modules = trees()
    literals, templates = set(), set()
    for expression in given(modules, "action"):
        more, built = codes_in(expression)
        literals |= {code for code in more if "." in code}  # a view's "approve" is a button, not an audit action
        templates |= built
    return literals, templates


class TestEveryActionHasALabel:
    def test_every_action_the_code_records_has_a_label(self):
        literals, templates = recorded_actions()
        assert {
            "case.approved",
            "case.held_token_owner",
            "okta.group_not_removable",
            "case.retry_scheduled",
        } <= literals
        assert templates == set(FAMILIES), "a new family of actions: list its codes in FAMILIES and label them"
        codes = literals.union(*FAMILIES.values())
        assert sorted(code for code in codes if code not in ACTION_LABELS) == []

    def test_the_nouns_of_audited_forms_are_the_ones_listed(self):
        # decisions.save_audited records "<noun>.created" / "<noun>.changed" for the noun it is given.
        nouns = {code for expression in given(trees(), "noun") for code in codes_in(expression)[0]}
        assert {f"{noun}.created" for noun in nouns} == FAMILIES["f'{noun}.created'"]
        assert {f"{noun}.changed" for noun in nouns} == FAMILIES["f'{noun}.changed'"]

    def test_a_step_event_says_which_vendor_which_step_and_how_it_ended(self):
        assert action_label("okta.remove_group.failed") == "Okta: remove from a group, failed"
        assert action_label("jira.file_ticket.done") == "Jira: file the ticket, done"

    def test_an_unknown_code_is_shown_as_it_is(self):
        assert action_label("vendor.something_new") == "vendor.something_new"


class TestThePagesShowTheLabels:
    def test_the_case_timeline_shows_words_not_codes(self, client, approver):
        case = make_case(okta_user_id="")
        AuditEvent.record("case.revoke_now", actor=approver, case=case, after={"reason": "Walked out"})
        AuditEvent.record("vendor.something_new", actor=approver, case=case)
        client.force_login(approver)
        body = client.get(case.get_absolute_url()).content.decode()
        timeline = body[body.index('id="timeline"') :]
        timeline = timeline[: timeline.index("</ol>")]
        assert '<span class="action" title="case.revoke_now">Revoke now asked</span> by alice: “Walked out”' in timeline
        assert '<span class="action" title="vendor.something_new">vendor.something_new</span>' in timeline
        assert "<code>case.revoke_now</code>" not in timeline

    def test_the_live_timeline_gets_the_words_too(self, client, approver):
        case = make_case(okta_user_id="")
        AuditEvent.record("case.revoke_now", actor=approver, case=case)
        client.force_login(approver)
        events = client.get(reverse("case_progress", args=[case.pk])).json()["events"]
        assert [(e["action"], e["action_label"]) for e in events] == [("case.revoke_now", "Revoke now asked")]

    def test_the_evidence_page_shows_the_words_and_keeps_the_code(self, client, auditor, approver):
        case = make_case(okta_user_id="")
        AuditEvent.record("case.approved", actor=approver, case=case)
        AuditEvent.record("vendor.something_new", actor=approver, case=case)
        client.force_login(auditor)
        body = client.get(reverse("evidence", args=[case.pk])).content.decode()
        assert '<td>Approved <code class="hint">case.approved</code></td>' in body
        assert "<td>vendor.something_new</td>" in body
