"""Conversation routes: a ticket's threads (and the split layout's ticket + threads +
timeline in one request), messages, replies and notes, chat/form intake, moves between
the inbox and the help desk, print, attachments and the sender allow/deny lists.

The conversations service validates every body and query and applies the access rule
(a thread in the help desk is readable by whoever may open its ticket).
"""

from __future__ import annotations

import base64
import re
import urllib.parse
from typing import Any

from werkzeug.wrappers import Request, Response

from gateway.http import empty_response, idempotency_key, json_object, json_response, query_args, route
from gateway.routes.tickets import etag_header
from gateway.schemas import WorkspaceSchema
from services.chassis.paging import PageQuery
from services.chassis.parallel import together
from services.chassis.rpc import ServiceRpc
from services.conversations import contract as conversations_contract
from services.tickets import contract as tickets_contract

ATTACHMENT_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "private, no-store",
}


def _disposition(filename: str) -> str:
    """``attachment`` with the name in RFC 6266/5987 form, so no browser renders it in our origin."""
    ascii_name = filename.encode("ascii", "replace").decode("ascii").replace('"', "'").replace("\\", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{urllib.parse.quote(filename)}"


class ConversationRoutes:
    conversations = ServiceRpc(conversations_contract.SERVICE_NAME)
    tickets = ServiceRpc(tickets_contract.SERVICE_NAME)

    @route(
        "GET",
        "/api/v1/tickets/<int:ticket_id>/threads",
        summary="The ticket's conversation threads, each with the first page of its messages (oldest first); "
        "a ticket merged into another answers 301 naming the survivor.",
        returns=conversations_contract.ThreadPageSchema,
        errors=(301, 403),
        tag="conversations",
    )
    def ticket_threads(self, request: Request, ticket_id: int) -> Response:
        return json_response(self.conversations.ticket_threads(ticket_id))

    @route(
        "GET",
        "/api/v1/tickets/<int:ticket_id>/workspace",
        summary="The split layout in one request: the ticket (opening it marks it read), its threads "
        "with their first messages, and the latest timeline items. Three RPCs, made in parallel.",
        returns=WorkspaceSchema,
        errors=(403,),
        headers=("ETag",),
        tag="conversations",
    )
    def ticket_workspace(self, request: Request, ticket_id: int) -> Response:
        found, threads, timeline = together(
            lambda: self.tickets.get_ticket(ticket_id),
            lambda: self.conversations.ticket_threads(ticket_id),
            lambda: self.tickets.timeline(ticket_id, {"limit": "25"}),
        )
        answer: dict[str, Any] = {"ticket": found, "threads": threads, "timeline": timeline}
        return json_response(answer, headers=etag_header(found))

    @route(
        "GET",
        "/api/v1/threads/<int:thread_id>",
        summary="A thread (without its messages).",
        returns=conversations_contract.ThreadSchema,
        errors=(403,),
        tag="conversations",
    )
    def get_thread(self, request: Request, thread_id: int) -> Response:
        return json_response(self.conversations.get_thread(thread_id))

    @route(
        "GET",
        "/api/v1/threads/<int:thread_id>/messages",
        summary="A thread's messages, oldest first, a page at a time.",
        query=PageQuery,
        returns=conversations_contract.MessagePageSchema,
        errors=(403,),
        tag="conversations",
    )
    def thread_messages(self, request: Request, thread_id: int) -> Response:
        return json_response(self.conversations.thread_messages(thread_id, query_args(request)))

    @route(
        "POST",
        "/api/v1/threads/<int:thread_id>/messages",
        summary="Add a reply (emailed to the customer with the thread's Cc, after commit; its delivery "
        "state follows) or an internal note (never sent; may mention users). Accepts Idempotency-Key.",
        body=conversations_contract.MessageCreateSchema,
        returns=conversations_contract.MessageSchema,
        status=201,
        idempotent=True,
        errors=(403,),
        headers=("Idempotent-Replayed",),
        tag="conversations",
    )
    def add_message(self, request: Request, thread_id: int) -> Response:
        message = self.conversations.add_message(
            thread_id, json_object(request), idempotency_key=idempotency_key(request)
        )
        return json_response(message, 201)

    @route(
        "POST",
        "/api/v1/threads/<int:thread_id>/move",
        summary="Move a thread between the conversations inbox and the help desk (account access). "
        "To the inbox the ticket stays; to the help desk the thread joins ticket_id or a new ticket.",
        body=conversations_contract.MoveSchema,
        returns=conversations_contract.ThreadSchema,
        errors=(403, 409),
        tag="conversations",
    )
    def move_thread(self, request: Request, thread_id: int) -> Response:
        return json_response(self.conversations.move_thread(thread_id, json_object(request)))

    @route(
        "GET",
        "/api/v1/threads/<int:thread_id>/print",
        summary="Printable HTML of the thread: customer and agent messages only, sanitised, no script.",
        errors=(403,),
        content_type="text/html",
        tag="conversations",
    )
    def print_thread(self, request: Request, thread_id: int) -> Response:
        page = self.conversations.print_thread(thread_id)
        headers = {
            "Content-Security-Policy": page["content_security_policy"],
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "private, no-store",
        }
        return Response(page["html"], mimetype="text/html", headers=headers)

    @route(
        "POST",
        "/api/v1/intake/messages",
        summary="A message arriving on the chat or form channel: creates the thread and its ticket, or "
        "continues thread_id. Accepts Idempotency-Key.",
        body=conversations_contract.IntakeSchema,
        returns=conversations_contract.IntakeResultSchema,
        status=201,
        idempotent=True,
        errors=(403, 404),
        headers=("Idempotent-Replayed",),
        tag="conversations",
    )
    def intake_message(self, request: Request) -> Response:
        result = self.conversations.intake(json_object(request), idempotency_key=idempotency_key(request))
        return json_response(result, 201)

    @route(
        "GET",
        "/api/v1/inbox",
        summary="Threads in the conversations inbox (not in the help desk), newest activity first: "
        "all of them with account access, else those assigned to you.",
        query=conversations_contract.ThreadQuerySchema,
        returns=conversations_contract.ThreadPageSchema,
        errors=(403,),
        tag="conversations",
    )
    def list_inbox(self, request: Request) -> Response:
        return json_response(self.conversations.list_inbox(query_args(request)))

    @route(
        "GET",
        "/api/v1/attachments/<int:attachment_id>",
        summary="An attachment's bytes, for callers who may see its thread (always as a download).",
        errors=(403,),
        content_type="*/*",
        tag="conversations",
    )
    def get_attachment(self, request: Request, attachment_id: int) -> Response:
        found = self.conversations.get_attachment(attachment_id)
        headers = {**ATTACHMENT_HEADERS, "Content-Disposition": _disposition(found["filename"])}
        media_type = found["content_type"]
        if not re.fullmatch(conversations_contract.MEDIA_TYPE, media_type):
            media_type = "application/octet-stream"  # what a mail said is not a media type
        return Response(base64.b64decode(found["content_b64"]), mimetype=media_type, headers=headers)

    @route(
        "GET",
        "/api/v1/sender-rules",
        summary="Sender allow and deny lists (account access): deny-listed mail goes straight to spam.",
        query=PageQuery,
        returns=conversations_contract.SenderRulePageSchema,
        errors=(403,),
        tag="conversations",
    )
    def list_sender_rules(self, request: Request) -> Response:
        return json_response(self.conversations.list_sender_rules(query_args(request)))

    @route(
        "POST",
        "/api/v1/sender-rules",
        summary="Add an allow or deny rule for an address or a domain (account access). Accepts "
        "Idempotency-Key.",
        body=conversations_contract.SenderRuleCreateSchema,
        returns=conversations_contract.SenderRuleSchema,
        status=201,
        idempotent=True,
        errors=(403,),
        headers=("Idempotent-Replayed",),
        tag="conversations",
    )
    def add_sender_rule(self, request: Request) -> Response:
        key = idempotency_key(request)
        rule = self.conversations.add_sender_rule(json_object(request), idempotency_key=key)
        return json_response(rule, 201)

    @route(
        "DELETE",
        "/api/v1/sender-rules/<int:rule_id>",
        summary="Remove a sender rule (account access).",
        status=204,
        errors=(403,),
        tag="conversations",
    )
    def delete_sender_rule(self, request: Request, rule_id: int) -> Response:
        self.conversations.delete_sender_rule(rule_id)
        return empty_response(204)
