"""The ticket access rule written out as a table: who sees which ticket, and what each
gateway operation answers for them.

:func:`services.tickets.domain.scope_for` is the rule; this module is its specification,
spelled out case by case rather than computed, and the authorization matrix test
(``tests/component/test_access_matrix.py``) checks every gateway operation against it
over HTTP. Every non-public gateway route must have a row here: adding an endpoint
without one fails that test.

Roles are the kinds of caller; ticket kinds are relative to the caller: ``own`` (owned by
the caller), ``teammate`` (owned by a member of the team-level user's team), ``other``
(owned by someone in no team with the caller) and ``unassigned``.
"""

from __future__ import annotations

ROLES = (
    "no_token",
    "bad_token",
    "revoked_token",
    "no_ticket_access",
    "owned",
    "owned_unassigned",
    "team",
    "everything",
    "super_admin",
)
UNAUTHENTICATED = ("no_token", "bad_token", "revoked_token")
TICKET_KINDS = ("own", "teammate", "other", "unassigned")

SEES: dict[str, frozenset[str]] = {
    "no_ticket_access": frozenset(),
    "owned": frozenset({"own"}),
    "owned_unassigned": frozenset({"own", "unassigned"}),
    "team": frozenset({"own", "teammate"}),
    "everything": frozenset(TICKET_KINDS),
    "super_admin": frozenset(TICKET_KINDS),
}
"""Which tickets each authenticated role may see (and so open, list, count, change)."""

SEATED = frozenset({"team", "super_admin"})
"""Roles with a service seat (the team-level agent is given one; super admins hold every seat feature)."""

PIPELINE_ADMINS = frozenset({"super_admin"})
"""Roles that may configure pipelines (super admins and account access; no role here has the latter)."""

# operation id -> (method, path template, JSON body or None, status when allowed).
# {id} is a ticket id; a ticket the caller may not see answers 404, a caller without
# service/sales access 403, an unauthenticated one 401.
TICKET_OPERATIONS: dict[str, tuple[str, str, object, int]] = {
    "get_ticket": ("GET", "/api/v1/tickets/{id}", None, 200),
    "update_ticket": ("PATCH", "/api/v1/tickets/{id}", {"priority": "high"}, 200),
    "ticket_timeline": ("GET", "/api/v1/tickets/{id}/timeline", None, 200),
    "ticket_followers": ("GET", "/api/v1/tickets/{id}/followers", None, 200),
    "follow_ticket": ("PUT", "/api/v1/tickets/{id}/follow", None, 200),
    "unfollow_ticket": ("DELETE", "/api/v1/tickets/{id}/follow", None, 200),
    "mark_read": ("POST", "/api/v1/tickets/{id}/read", None, 200),
    "mark_unread": ("POST", "/api/v1/tickets/{id}/unread", None, 200),
    "add_association": ("POST", "/api/v1/tickets/{id}/associations/contacts/7", None, 200),
    "remove_association": ("DELETE", "/api/v1/tickets/{id}/associations/contacts/7", None, 200),
    "ticket_threads": ("GET", "/api/v1/tickets/{id}/threads", None, 200),
    "ticket_workspace": ("GET", "/api/v1/tickets/{id}/workspace", None, 200),
    # a ticket's conversation follows the ticket: {thread} and {attachment} are the ticket's own
    "get_thread": ("GET", "/api/v1/threads/{thread}", None, 200),
    "thread_messages": ("GET", "/api/v1/threads/{thread}/messages", None, 200),
    "add_message": ("POST", "/api/v1/threads/{thread}/messages", {"kind": "note", "body": "matrix"}, 201),
    "print_thread": ("GET", "/api/v1/threads/{thread}/print", None, 200),
    "get_attachment": ("GET", "/api/v1/attachments/{attachment}", None, 200),
    # the HubSpot-compatible API is an adapter over the same RPCs: the same rule, HubSpot's paths
    "hubspot_get_ticket": ("GET", "/crm/v3/objects/tickets/{id}", None, 200),
    "hubspot_update_ticket": (
        "PATCH",
        "/crm/v3/objects/tickets/{id}",
        {"properties": {"hs_ticket_priority": "HIGH"}},
        200,
    ),
    "hubspot_associate": ("PUT", "/crm/v4/objects/tickets/{id}/associations/default/contacts/7", None, 200),
    "hubspot_dissociate": (
        "DELETE",
        "/crm/v4/objects/tickets/{id}/associations/default/contacts/7",
        None,
        204,
    ),
    "hubspot_dissociate_all": ("DELETE", "/crm/v4/objects/tickets/{id}/associations/contacts/7", None, 204),
    # merging a ticket with itself: refused (422) only after both were found visible
    "merge_tickets": ("POST", "/api/v1/tickets/merge", {"primary_id": "{id}", "secondary_id": "{id}"}, 422),
}

GRANTS: dict[str, frozenset[str]] = {
    "team": frozenset({"seat"}),
    "super_admin": frozenset({"seat", "delete_tickets", "bulk_delete", "account_access"}),
}
"""What each role holds beyond ticket access: a seat (the :data:`SEATED` roles) and the lifecycle
permissions (only super admins, who imply every permission, hold any here)."""
assert {role for role, held in GRANTS.items() if "seat" in held} == SEATED

# One-ticket operations that need more than ticket access: (method, path, body, status when
# allowed, what they need). A ticket the caller may not see is still a 404 first; one they may
# see without the permission a 403; a seat is checked before the ticket (a seat feature's refusal
# reveals nothing about the ticket). They run last, in this order: delete and restore change
# the tickets for good.
PERMISSION_OPERATIONS: dict[str, tuple[str, str, object, int, str]] = {
    # the bodies name messages and threads that are not the ticket's: refused (422) once allowed
    "split_ticket": (
        "POST",
        "/api/v1/tickets/{id}/split",
        {"message_ids": [2147483647], "ticket": {"name": "matrix"}},
        422,
        "seat",
    ),
    "mark_spam": ("POST", "/api/v1/tickets/{id}/spam", {"thread_ids": [2147483647]}, 422, "delete_tickets"),
    "delete_ticket": ("DELETE", "/api/v1/tickets/{id}", None, 200, "delete_tickets"),
    "restore_ticket": ("POST", "/api/v1/tickets/{id}/restore", None, 200, "account_access"),
}

# Operations over many tickets that need a permission: 403 without it (after 401/403 for
# authentication and ticket access), the status with it. They run after everything else.
COLLECTION_PERMISSION_OPERATIONS: dict[str, tuple[str, str, object, int, str]] = {
    "recycle_bin": ("GET", "/api/v1/recycle-bin", None, 200, "delete_tickets"),
    "list_spam": ("GET", "/api/v1/spam", None, 200, "delete_tickets"),
    "bulk_delete": (
        "POST",
        "/api/v1/tickets/bulk-delete",
        {"ids": "{ids}", "confirm_count": "{count}"},
        200,
        "bulk_delete",
    ),
}

# Operations over many tickets: the answer must contain exactly the visible ones.
COLLECTION_OPERATIONS: dict[str, tuple[str, str, object, int]] = {
    "list_tickets": ("GET", "/api/v1/tickets?limit=100", None, 200),
    "ticket_board": ("GET", "/api/v1/tickets/board?pipeline_id=1", None, 200),
    "bulk_update": (
        "POST",
        "/api/v1/tickets/bulk-update",
        {"ids": "{ids}", "changes": {"priority": "high"}},
        200,
    ),
    "create_ticket": ("POST", "/api/v1/tickets", {"name": "matrix"}, 201),
    "list_pipelines": ("GET", "/api/v1/pipelines", None, 200),
    "get_pipeline": ("GET", "/api/v1/pipelines/1", None, 200),
    "intake_message": (
        "POST",
        "/api/v1/intake/messages",
        {"channel": "form", "from": {"email": "matrix@example.com"}, "subject": "m", "body": "matrix"},
        201,
    ),
    "list_inbox": ("GET", "/api/v1/inbox", None, 200),
    "search_tickets": ("POST", "/api/v1/tickets/search", {"limit": 100}, 200),
    "hubspot_list_tickets": ("GET", "/crm/v3/objects/tickets?limit=100", None, 200),
    "hubspot_search_tickets": ("POST", "/crm/v3/objects/tickets/search", {"limit": 100}, 200),
    "hubspot_create_ticket": ("POST", "/crm/v3/objects/tickets", {"properties": {"subject": "matrix"}}, 201),
    "hubspot_batch_read": ("POST", "/crm/v3/objects/tickets/batch/read", {"inputs": []}, 200),
    "hubspot_batch_create": (
        "POST",
        "/crm/v3/objects/tickets/batch/create",
        {"inputs": [{"properties": {"subject": "matrix"}}]},
        201,
    ),
    "hubspot_batch_update": ("POST", "/crm/v3/objects/tickets/batch/update", {"inputs": []}, 200),
    "hubspot_pipelines": ("GET", "/crm/v3/pipelines/tickets", None, 200),
}

# Seat features about one ticket: without a seat 403 (seat-required) whatever the ticket, so the
# refusal reveals nothing; with one, the access rule (404 for a ticket the caller may not see).
SEAT_TICKET_OPERATIONS: dict[str, tuple[str, str, object, int]] = {
    "suggest_name": ("POST", "/api/v1/tickets/{id}/suggestions/name", None, 200),
    "suggest_summary": ("POST", "/api/v1/tickets/{id}/suggestions/summary", {"exclude": []}, 200),
    "reply_recommendations": ("GET", "/api/v1/tickets/{id}/reply-recommendations", None, 200),
}

# Seat features about no one ticket: SEATED ticket roles get the status, other ticket roles 403.
# {view} is a view shared with everyone, {policy} an SLA policy.
SEAT_OPERATIONS: dict[str, tuple[str, str, object, int]] = {
    "list_views": ("GET", "/api/v1/views", None, 200),
    "create_view": ("POST", "/api/v1/views", {"name": "matrix", "filters": {"priority": "high"}}, 201),
    "get_view": ("GET", "/api/v1/views/{view}", None, 200),
    "list_sla_policies": ("GET", "/api/v1/sla-policies", None, 200),
    "get_sla_policy": ("GET", "/api/v1/sla-policies/{policy}", None, 200),
}

# Pipeline configuration and SLA policy changes (these also need a seat): PIPELINE_ADMINS get the
# status, other ticket roles 403.
ADMIN_OPERATIONS: dict[str, tuple[str, str, object, int]] = {
    "create_pipeline": (
        "POST",
        "/api/v1/pipelines",
        {"label": "M", "stages": [{"label": "Open", "state": "OPEN"}]},
        201,
    ),
    "rename_pipeline": ("PATCH", "/api/v1/pipelines/1", {"label": "Support pipeline"}, 200),
    "add_stage": ("POST", "/api/v1/pipelines/{pipeline}/stages", {"label": "Extra", "state": "OPEN"}, 201),
    "rename_stage": ("PATCH", "/api/v1/pipelines/1/stages/1", {"label": "New"}, 200),
    "reorder_stages": ("PUT", "/api/v1/pipelines/1/stage-order", {"stage_ids": "{stages}"}, 200),
    # importing sets original dates: account access, like configuring pipelines
    "import_tickets": (
        "POST",
        "/api/v1/imports/tickets",
        {"source": "matrix", "items": [{"external_id": "m1", "name": "matrix"}]},
        200,
    ),
    # moving a pipeline's tickets into a stage of the same pipeline is refused (422) once allowed
    "delete_pipeline": ("DELETE", "/api/v1/pipelines/1?move_to=1", None, 422),
    "delete_stage": ("DELETE", "/api/v1/pipelines/1/stages/1?move_to=1", None, 422),
    "create_sla_policy": (
        "POST",
        "/api/v1/sla-policies",
        {"name": "M", "priority": "low", "close_minutes": 60},
        201,
    ),
    "update_sla_policy": ("PATCH", "/api/v1/sla-policies/{policy}", {"close_minutes": 90}, 200),
}

AUTHENTICATION_ONLY = frozenset(
    {
        "me",
        "list_notifications",
        "read_notification",
        "read_all_notifications",
        "unread_notifications",
        "get_notification_preferences",
        "put_notification_preferences",
        "notification_email_drops",
        "stream",
        "list_users",
        "create_user",
        "get_user",
        "update_user",
        "list_tokens",
        "issue_token",
        "revoke_token",
        "sign_out",
        "list_sessions",
        "revoke_session",
        "invite_user",
        "change_password",
        "list_teams",
        "create_team",
        "get_team",
        "update_team",
        "set_team_members",
        "move_thread",
        "list_sender_rules",
        "add_sender_rule",
        "delete_sender_rule",
        # merge and archive end a ticket (or absorb it), so they cannot run in the matrix's loop over
        # shared tickets; the HubSpot SDK tests cover them (tests/e2e/test_hubspot_sdk.py)
        "hubspot_archive_ticket",
        "hubspot_batch_archive",
        "hubspot_merge_tickets",
        "not_spam",
        "get_job",
        "job_items",
        "start_retention_run",
        "get_retention_run",
        "retention_audit",
        "retention_policies",
        "seat_count",
        "update_view",
        "delete_view",
        "delete_sla_policy",
    }
)
"""Operations outside tickets: here only checked to refuse unauthenticated callers (401);
their own rules are tested with the permissions, notifications and conversations services
(moving threads and the sender lists need account access, which no role here has), in
tests/service/test_lifecycle_*.py and test_retention.py (not spam needs a spam thread and the
delete permission; a job is its creator's; retention needs account access), and with the
tickets service for changing and deleting views and deleting SLA policies (owner or account access)."""


def expected_seat_status(role: str, kind: str, allowed_status: int) -> int:
    """What a one-ticket seat feature answers ``role`` for a ticket of ``kind``: the seat comes first."""
    if role in UNAUTHENTICATED:
        return 401
    if role not in SEATED:
        return 403
    return expected_status(role, kind, allowed_status)


def expected_status(role: str, kind: str, allowed_status: int, needs: str | None = None) -> int:
    """What a one-ticket operation answers ``role`` for a ticket of ``kind`` (``needs``: a seat,
    checked first, or a permission beyond ticket access, checked once the ticket is known to be
    visible)."""
    if role in UNAUTHENTICATED:
        return 401
    if role == "no_ticket_access":
        return 403
    if needs == "seat" and role not in SEATED:
        return 403
    if kind not in SEES[role]:
        return 404
    if needs is not None and needs not in GRANTS.get(role, frozenset()):
        return 403
    return allowed_status


def expected_collection_status(role: str, allowed_status: int, needs: str | None = None) -> int:
    """What an operation over many tickets answers ``role``."""
    if role in UNAUTHENTICATED:
        return 401
    if role == "no_ticket_access":
        return 403
    if needs is not None and needs not in GRANTS.get(role, frozenset()):
        return 403
    return allowed_status
