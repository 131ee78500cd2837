"""The sandbox's own API under /_sandbox/: reset and seed, shape the world, read it back, switch faults.

Not a vendor API: it is neither rate limited nor written to the request log.
"""

from __future__ import annotations

import json
import re

from werkzeug import Request, Response
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule

from sandbox import jira, workday
from sandbox.faults import Fault
from sandbox.jira import CUSTOM_FIELD_TYPES, ISSUE_TYPES
from sandbox.service import json_response
from sandbox.state import OptionError, Options, SandboxState, rate_limits_from

routes = Map(
    [
        Rule("/_sandbox/reset", methods=["POST"], endpoint="reset"),
        Rule("/_sandbox/config", methods=["GET"], endpoint="config"),
        Rule("/_sandbox/clock", methods=["POST"], endpoint="clock"),
        Rule("/_sandbox/okta/rate_limits", methods=["POST"], endpoint="set_rate_limits"),
        Rule("/_sandbox/workday/terminations", methods=["GET"], endpoint="list_terminations"),
        Rule("/_sandbox/workday/terminations", methods=["POST"], endpoint="add_termination"),
        Rule("/_sandbox/workday/terminations/<employee_id>", methods=["PATCH"], endpoint="correct_termination"),
        Rule("/_sandbox/workday/terminations/<employee_id>/rescind", methods=["POST"], endpoint="rescind_termination"),
        Rule("/_sandbox/workday/terminations/<employee_id>/drop", methods=["POST"], endpoint="drop_row"),
        Rule("/_sandbox/workday/workers", methods=["GET"], endpoint="list_workers"),
        Rule("/_sandbox/workday/generate", methods=["POST"], endpoint="generate_terminations"),
        Rule("/_sandbox/workday/notify/<employee_id>", methods=["POST"], endpoint="notify"),
        Rule("/_sandbox/workday/notifications", methods=["GET"], endpoint="list_notifications"),
        Rule("/_sandbox/okta/groups", methods=["GET"], endpoint="list_groups"),
        Rule("/_sandbox/okta/groups", methods=["POST"], endpoint="add_group"),
        Rule("/_sandbox/okta/groups/<group_id>/users/<user_id>", methods=["PUT"], endpoint="add_membership"),
        Rule("/_sandbox/okta/users", methods=["GET"], endpoint="list_users"),
        Rule("/_sandbox/okta/users", methods=["POST"], endpoint="add_user"),
        Rule("/_sandbox/okta/users/<user_id>", methods=["GET"], endpoint="user_state"),
        Rule("/_sandbox/okta/users/<user_id>/roles", methods=["POST"], endpoint="add_role"),
        Rule("/_sandbox/okta/token_owner", methods=["POST"], endpoint="set_token_owner"),
        Rule("/_sandbox/okta/apps", methods=["GET"], endpoint="list_apps"),
        Rule("/_sandbox/okta/apps", methods=["POST"], endpoint="add_app"),
        Rule("/_sandbox/okta/groups/<group_id>/owners", methods=["POST"], endpoint="add_group_owner"),
        Rule("/_sandbox/okta/rules", methods=["GET"], endpoint="list_rules"),
        Rule("/_sandbox/okta/rules", methods=["POST"], endpoint="add_rule"),
        Rule("/_sandbox/okta/directory_import", methods=["POST"], endpoint="directory_import"),
        Rule("/_sandbox/okta/users/<user_id>/directory_account", methods=["POST"], endpoint="directory_account"),
        Rule("/_sandbox/jira/issues", methods=["GET"], endpoint="jira_issues"),
        Rule("/_sandbox/jira/issues/<key>/status", methods=["POST"], endpoint="jira_set_status"),
        Rule("/_sandbox/jira/issues/<key>", methods=["DELETE"], endpoint="jira_delete_issue"),
        Rule("/_sandbox/jira/fields", methods=["GET"], endpoint="jira_fields"),
        Rule("/_sandbox/jira/fields", methods=["POST"], endpoint="add_jira_field"),
        Rule("/_sandbox/jira/issuetypes/<name>", methods=["DELETE"], endpoint="remove_jira_issue_type"),
        Rule("/_sandbox/requests", methods=["GET"], endpoint="list_requests"),
        Rule("/_sandbox/requests", methods=["DELETE"], endpoint="clear_requests"),
        Rule("/_sandbox/faults", methods=["GET"], endpoint="list_faults"),
        Rule("/_sandbox/faults", methods=["POST"], endpoint="add_fault"),
        Rule("/_sandbox/faults", methods=["DELETE"], endpoint="clear_faults"),
    ]
)


def handle(state: SandboxState, request: Request) -> Response:
    try:
        endpoint, args = routes.bind("sandbox").match(request.path, request.method)
        body = json.loads(request.get_data(as_text=True) or "{}") if request.method in ("POST", "PATCH") else {}
        if not isinstance(body, dict) and endpoint != "add_group":
            raise OptionError("expected a JSON object")
        with state.lock:
            return json_response(globals()[f"_{endpoint}"](state, body, request, **args))
    except HTTPException as error:
        return json_response({"error": error.description}, error.code)
    except (OptionError, ValueError, TypeError) as error:
        return json_response({"error": str(error)}, 400)
    except KeyError as error:
        return json_response({"error": f"not found: {error.args[0]}"}, 404)


def _reset(state, body, request):
    """A new world (every fault off); `clear_requests: true` also empties the request log."""
    clear_requests = bool(body.pop("clear_requests", False))
    state.reset(Options.from_dict(body))
    if clear_requests:
        state.requests.clear()
    return _config(state, body, request)


def _config(state, body, request):
    return {
        **state.options.as_dict(),
        "users": len(state.users),
        "groups": len(state.groups),
        "clock_offset": state.clock_offset,
    }


def _clock(state, body, request):
    """Move the vendors' clock forward by `advance` seconds (a reset puts it back on the real one)."""
    advance = body.get("advance")
    if isinstance(advance, bool) or not isinstance(advance, int | float) or not 0 <= advance < 10 * 365 * 86400:
        raise OptionError("advance is a number of seconds, 0 or more: the clock does not go back")
    state.clock_offset += advance
    return {"now": state.now(), "clock_offset": state.clock_offset}


def _set_rate_limits(state, body, request):
    """Change some families' limits, as an Okta admin raising a limit does: from the next call on, the calls already
    counted in the window staying counted. Nothing else of the world changes."""
    state.options.rate_limits.update(rate_limits_from(body))
    return _config(state, body, request)


def _list_terminations(state, body, request):
    return list(state.terminations.values())


def _add_termination(state, body, request):
    employee_id = str(body.pop("employee_id"))
    contingent = bool(body.pop("contingent", False))
    row = workday.add_termination(state, employee_id, body, contingent=contingent)
    workday.notify(state, employee_id, "termination.entered")
    return row


def _generate_terminations(state, body, request):
    """`count` made-up terminations added to the report at once (no notifications): a large report."""
    count = body.get("count", 0)
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 1_000_000:
        raise OptionError("count is a number of rows, 0 to 1,000,000")
    chunk_bytes, chunk_seconds = body.get("chunk_bytes", 0), body.get("chunk_seconds", 0.0)
    if isinstance(chunk_bytes, bool) or not isinstance(chunk_bytes, int) or chunk_bytes < 0:
        raise OptionError("chunk_bytes is 0 (the body at once) or the bytes of each chunk of a slow body")
    if isinstance(chunk_seconds, bool) or not isinstance(chunk_seconds, int | float) or not 0 <= chunk_seconds <= 60:
        raise OptionError("chunk_seconds is the pause between a slow body's chunks, 0 to 60 s")
    # `chunk_bytes` (with `chunk_seconds`): until the next reset the JSON report is sent slowly, in chunks.
    state.report_chunk_bytes, state.report_chunk_seconds = chunk_bytes, float(chunk_seconds)
    return {"added": workday.generate_terminations(state, count) if count else 0, "rows": len(state.terminations)}


def _correct_termination(state, body, request, employee_id):
    row = workday.correct_termination(state, employee_id, body)
    workday.notify(state, employee_id, "termination.corrected")
    return row


def _rescind_termination(state, body, request, employee_id):
    row = workday.rescind_termination(state, employee_id)
    workday.notify(state, employee_id, "termination.rescinded")
    return row


def _drop_row(state, body, request, employee_id):
    """{"dropped": true} leaves the row out of the report (no notification: nothing changed in Workday's
    eyes); {"dropped": false} puts it back."""
    dropped = body.get("dropped", True)
    if not isinstance(dropped, bool):
        raise OptionError("dropped must be true or false")
    return workday.drop_row(state, employee_id, dropped)


def _notify(state, body, request, employee_id):
    """Send the notification for a termination now (e.g. when it becomes effective)."""
    if not state.options.push_url:
        raise OptionError("no push_url configured (a reset option)")
    workday.notify(state, employee_id, body.get("event", "termination.effective"))
    return {"sent": employee_id}


def _list_notifications(state, body, request):
    with state.lock:
        return list(state.notifications_sent)


def _list_workers(state, body, request):
    return [vars(worker) for worker in state.workers.values()]


def _okta_base(request):
    return request.host_url.rstrip("/") + "/okta"


def _list_groups(state, body, request):
    return [group.as_okta_json(_okta_base(request)) for group in state.groups.values()]


def _add_group(state, body, request):
    """One group, or a list of them in one call (answered with the list)."""
    if isinstance(body, list):
        return [_add_group(state, dict(each), request) for each in body]
    group = state.add_group(
        body.pop("name"), body.pop("type", "OKTA_GROUP"), body.pop("description", ""), body.pop("source", "")
    )
    if body:
        raise OptionError(f"unknown group attributes {sorted(body)}")
    return group.as_okta_json(_okta_base(request))


def _add_membership(state, body, request, group_id, user_id):
    user, group = state.users[user_id], state.groups[group_id]
    if group.id not in user.group_ids:
        user.group_ids.append(group.id)
    return _user_state(state, body, request, user_id)


def _list_users(state, body, request):
    return [user.as_okta_json(_okta_base(request)) for user in state.all_users()]


def _add_user(state, body, request):
    employee_number = body.pop("employee_number")
    provider = body.pop("provider", None) or {"type": "OKTA", "name": "OKTA"}
    if provider.get("type") not in ("OKTA", "ACTIVE_DIRECTORY", "LDAP", "FEDERATION", "SOCIAL", "IMPORT"):
        raise OptionError(f"unknown credentials provider type {provider.get('type')!r}")
    first_name, last_name = body.pop("first_name"), body.pop("last_name")
    default_login = f"{first_name}.{last_name}@acme.example".lower().replace(" ", "")
    login = body.pop("login", None) or default_login
    status = body.pop("status", "ACTIVE")
    if status not in ("STAGED", "PROVISIONED", "ACTIVE", "RECOVERY", "LOCKED_OUT", "SUSPENDED", "DEPROVISIONED"):
        raise OptionError(f"unknown Okta status {status!r}")
    profile = {
        "login": login,
        "email": body.pop("email", None) or login,
        "firstName": first_name,
        "lastName": last_name,
        "displayName": f"{first_name} {last_name}",
        "employeeNumber": str(employee_number) if employee_number is not None else None,
        **body.pop("profile", {}),
    }
    groups = body.pop("groups", [])
    profile.update(body)  # any other keyword is a profile attribute
    profile = {name: value for name, value in profile.items() if value is not None}
    user = state.add_user(profile, status, groups)
    user.provider = {"type": provider["type"], "name": provider.get("name") or provider["type"]}
    return user.as_okta_json(_okta_base(request))


def _add_role(state, body, request, user_id):
    """An admin role assigned to the user (directly): {"type": "SUPER_ADMIN"}."""
    from sandbox.state import ROLE_LABELS

    user = state.users[user_id]
    kind = body.pop("type")
    if kind not in ROLE_LABELS:
        raise OptionError(f"unknown role type {kind!r}; known: {sorted(ROLE_LABELS)}")
    role = {
        "id": state.okta_id("ra1"),
        "type": kind,
        "label": body.pop("label", ROLE_LABELS[kind]),
        "status": "ACTIVE",
        "assignmentType": "USER",
        "created": "2024-01-01T00:00:00.000Z",
        "lastUpdated": "2024-01-01T00:00:00.000Z",
    }
    user.roles.append(role)
    return role


def _set_token_owner(state, body, request):
    """Whose API token the sandbox's SSWS token is (GET /api/v1/users/me); null for nobody."""
    user_id = body.get("user_id")
    if user_id is not None and user_id not in state.users:
        raise KeyError(user_id)
    state.token_owner_id = user_id
    return {"token_owner_id": user_id}


def _app_state(state, app):
    assigned = [u for u in state.users.values() if state.app_assignment(app, u)]
    return {
        "id": app.id,
        "label": app.label,
        "name": app.name,
        "status": app.status,
        "provisioning": app.provisioning,
        "deactivate_users": app.deactivate_users,
        "universal_logout": app.universal_logout,
        "users": list(app.user_ids),
        "groups": list(app.group_ids),
        "accounts": {**{u.id: "ACTIVE" for u in assigned}, **app.accounts},
        "sessions_ended": list(app.sessions_ended),
    }


def _list_apps(state, body, request):
    return [_app_state(state, app) for app in state.apps.values()]


def _add_app(state, body, request):
    """An app: {"label", "name", "status" (ACTIVE), "sign_on_mode" (SAML_2_0), "provisioning", "deactivate_users",
    "universal_logout", "users": [user ids assigned directly], "groups": [group ids assigned]}."""
    label = body.pop("label")
    attributes = {
        "name": body.pop("name", None),
        "status": body.pop("status", "ACTIVE"),
        "sign_on_mode": body.pop("sign_on_mode", "SAML_2_0"),
        "provisioning": bool(body.pop("provisioning", False)),
        "deactivate_users": bool(body.pop("deactivate_users", False)),
        "universal_logout": bool(body.pop("universal_logout", False)),
        "user_ids": list(body.pop("users", [])),
        "group_ids": list(body.pop("groups", [])),
    }
    if body:
        raise OptionError(f"unknown app attributes {sorted(body)}")
    app = state.add_app(label, **attributes)
    return _app_state(state, app)


def _add_group_owner(state, body, request, group_id):
    state.groups[group_id]
    user_id = body["user_id"]
    state.users[user_id]
    owners = state.group_owners.setdefault(group_id, [])
    if user_id not in owners:
        owners.append(user_id)
    return {"group_id": group_id, "owners": list(owners)}


def _rule_state(rule):
    return {
        "id": rule.id,
        "name": rule.name,
        "status": rule.status,
        "groups": list(rule.group_ids),
        "matches": list(rule.matches),
        "exclude": list(rule.exclude),
    }


def _list_rules(state, body, request):
    return [_rule_state(rule) for rule in state.group_rules.values()]


def _add_rule(state, body, request):
    """A group rule: {"name", "groups": [target group ids], "matches": [user ids its expression matches],
    "exclude": [user ids], "status": ACTIVE | INACTIVE | INVALID}; an active one adds its matches at once."""
    from sandbox.state import GroupRule

    groups, matches = list(body.pop("groups")), list(body.pop("matches", []))
    for gid in groups:
        if state.groups[gid].type != "OKTA_GROUP":
            raise OptionError("a group rule assigns users to OKTA_GROUP groups only")
    for uid in matches + list(body.get("exclude", [])):
        state.users[uid]
    status = body.pop("status", "ACTIVE")
    if status not in ("ACTIVE", "INACTIVE", "INVALID"):
        raise OptionError(f"unknown rule status {status!r}")
    rule = GroupRule(
        state.okta_id("0pr"),
        body.pop("name"),
        groups,
        matches=matches,
        exclude=list(body.pop("exclude", [])),
        status=status,
        created=state.past_moment(),
    )
    if body:
        raise OptionError(f"unknown rule attributes {sorted(body)}")
    state.group_rules[rule.id] = rule
    state.apply_rule(rule)
    return _rule_state(rule)


def _user_state(state, body, request, user_id):
    user = state.find_user(user_id)
    if user is None:
        raise KeyError(user_id)
    return {
        "user": user.as_okta_json(_okta_base(request)),
        "status": user.status,
        "transitioning_to": user.transitioning_to,
        "groups": [state.groups[gid].summary() for gid in user.group_ids],
        "sessions_revoked": user.sessions_revoked,
        "oauth_tokens_revoked": user.oauth_tokens_revoked,
        "provider": dict(user.provider),
        "roles": [dict(role) for role in user.roles],
        "universal_logouts": user.universal_logouts,
        "apps": [app.id for app in state.apps_of(user)],
    }


DIRECTORY_PROVIDERS = ("ACTIVE_DIRECTORY", "LDAP")


def _directory_import(state, body, request):
    """The directory agent's import runs (`{"provider": "ACTIVE_DIRECTORY"}`, or every directory): each
    deactivated Okta user it masters whose directory account is still enabled is reactivated, as Okta's AD
    and LDAP imports do. Answers the ids reactivated."""
    provider = body.get("provider")
    if provider is not None and provider not in DIRECTORY_PROVIDERS:
        raise OptionError(f"provider is one of {list(DIRECTORY_PROVIDERS)} (or left out for every directory)")
    reactivated = []
    for user in state.all_users():
        mastered = user.provider.get("type") in ((provider,) if provider else DIRECTORY_PROVIDERS)
        if mastered and user.directory_account_enabled and user.status == "DEPROVISIONED":
            user.move_to("ACTIVE", state.now())
            user.sessions_revoked = user.oauth_tokens_revoked = False
            reactivated.append(user.id)
    return {"reactivated": reactivated}


def _directory_account(state, body, request, user_id):
    """The directory team enables or disables the person's directory account: {"enabled": false}."""
    user = state.users[user_id]
    enabled = body.get("enabled")
    if not isinstance(enabled, bool):
        raise OptionError("enabled must be true or false")
    if user.provider.get("type") not in DIRECTORY_PROVIDERS:
        raise OptionError(f"{user_id} is mastered by {user.provider.get('type')}, not by a directory")
    user.directory_account_enabled = enabled
    return {"user_id": user_id, "directory_account_enabled": enabled}


def _jira_fields(state, body, request):
    return list(state.jira_custom_fields.values())


def _add_jira_field(state, body, request):
    """A custom field on the project's create screens: {"id": "customfield_10010", "name": "Team",
    "type": "option" | "string", "allowed_values": [...] (option), "required_for": {"SEC": ["Task"]}}."""
    field_id, name, kind = body.get("id"), body.get("name"), body.get("type", "string")
    if not isinstance(field_id, str) or not re.fullmatch(r"customfield_\d{5}", field_id):
        raise OptionError("id is a custom field id: customfield_ and five digits")
    if not isinstance(name, str) or not name.strip():
        raise OptionError("name is the field's name")
    if kind not in CUSTOM_FIELD_TYPES:
        raise OptionError(f"type is one of {sorted(CUSTOM_FIELD_TYPES)}")
    allowed = body.get("allowed_values", [])
    if kind == "option" and (not allowed or not all(isinstance(v, str) and v for v in allowed)):
        raise OptionError("an option field needs allowed_values, a list of names")
    required_for = body.get("required_for", {})
    if not isinstance(required_for, dict) or not all(
        isinstance(types, list) and set(types) <= set(ISSUE_TYPES.values()) for types in required_for.values()
    ):
        raise OptionError(f"required_for maps a project key to issue type names among {sorted(ISSUE_TYPES.values())}")
    number = int(field_id.removeprefix("customfield_"))
    field = {
        "id": field_id,
        "name": name,
        "type": kind,
        "allowed_values": list(allowed) if kind == "option" else [],
        "option_ids": [str(number * 10 + i) for i in range(len(allowed))] if kind == "option" else [],
        "required_for": {key: list(types) for key, types in required_for.items()},
    }
    state.jira_custom_fields[field_id] = field
    return field


def _remove_jira_issue_type(state, body, request, name):
    """Take an issue type out of the project (a create of it is then refused, create metadata lacks it)."""
    if name not in ISSUE_TYPES.values():
        raise KeyError(name)
    state.jira_removed_issue_types.add(name)
    return {"removed": name}


def _jira_issues(state, body, request):
    return [
        {
            "id": issue.id,
            "key": issue.key,
            "fields": issue.fields,
            "comments": [{"id": c["id"], "body": c["body"]} for c in issue.comments],
            "attachments": [{k: v for k, v in a.items() if k != "at"} for a in issue.attachments],
        }
        for issue in state.jira_issues
    ]


def _jira_set_status(state, body, request, key):
    """Someone moves an issue along its workflow in Jira: {"status": "Done"} (or "To Do", "In Progress", "Won't Do")."""
    status = body.get("status")
    if status not in jira.STATUSES:
        raise OptionError(f"status is one of {sorted(jira.STATUSES)}")
    issue = next((i for i in state.jira_issues if key in (i.key, i.id)), None)
    if issue is None:
        raise KeyError(key)
    issue.fields["status"] = status
    return {"key": issue.key, "status": status}


def _jira_delete_issue(state, body, request, key):
    """Someone deletes an issue in Jira (its sub-tasks go with it, as Jira deletes them)."""
    issue = next((i for i in state.jira_issues if key in (i.key, i.id)), None)
    if issue is None:
        raise KeyError(key)
    gone = {issue.key} | {i.key for i in state.jira_issues if i.fields.get("parent") == issue.key}
    state.jira_issues[:] = [i for i in state.jira_issues if i.key not in gone]
    return {"deleted": sorted(gone)}


def _list_requests(state, body, request):
    service = request.args.get("service")
    return [entry for entry in state.requests if service in (None, entry["service"])]


def _clear_requests(state, body, request):
    state.requests.clear()
    return {"cleared": True}


def _list_faults(state, body, request):
    return [fault.as_dict() for fault in state.faults]


def _add_fault(state, body, request):
    fault = Fault.from_dict(body)
    state.faults.append(fault)
    return fault.as_dict()


def _clear_faults(state, body, request):
    service = request.args.get("service")
    state.faults = [fault for fault in state.faults if service not in (None, fault.service)]
    state.release_held_requests()
    return {"cleared": True}
