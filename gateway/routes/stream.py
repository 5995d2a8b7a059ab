"""Live updates: ``GET /api/v1/stream``, Server-Sent Events of what the caller may see.

The handler returns at once: the response body is :meth:`LiveHub.stream`, a
generator the web server drains in the connection's own green thread, so an open stream holds no
worker. eventlet's server buffers a response body until 4 KiB by default; the request asks it to
write each message as it comes (``eventlet.minimum_write_chunk_size``).
"""

from __future__ import annotations

import contextlib
from typing import Any

from werkzeug.wrappers import Request, Response

from gateway.http import CREDENTIAL_KEY, route
from gateway.live import Live
from gateway.schemas import StreamMessageSchema
from services.chassis.errors import HelpdeskError
from services.chassis.rpc import ServiceRpc
from services.notifications import contract as notifications_contract

HELLO_TIMEOUT = 2.0


def _close_input(environ: dict[str, Any]) -> None:
    """Close the connection's read side once a stream ends, so the server closes the connection.

    A stream usually ends because its client went away; eventlet's server then fails to flush its
    write side and never closes the read side, leaving the socket to the garbage collector. With
    the read side closed here it closes the socket at once (an ended stream's connection is not
    reused: an EventSource reconnects)."""
    rfile = getattr(environ.get("eventlet.input"), "rfile", None)
    if rfile is not None:
        with contextlib.suppress(OSError):
            rfile.close()


class StreamRoutes:
    live = Live()
    unread_feed = ServiceRpc(notifications_contract.SERVICE_NAME, timeout=HELLO_TIMEOUT)

    @route(
        "GET",
        "/api/v1/stream",
        summary="Server-Sent Events: changes to tickets the caller may see, their notifications and "
        "unread count, as they happen; Last-Event-ID resumes.",
        returns=StreamMessageSchema,
        content_type="text/event-stream",
        tag="live",
    )
    def stream(self, request: Request) -> Response:
        authorization = str(request.environ.get(CREDENTIAL_KEY) or request.headers.get("Authorization"))
        identity = self.live.tokens.identity_for(authorization)  # cached: the route just authenticated it
        try:
            unread: int | None = int(self.unread_feed.unread_count()["unread"])
        except HelpdeskError:
            unread = None  # the stream works without the notifications service; the count comes later
        request.environ["eventlet.minimum_write_chunk_size"] = 0
        body = self.live.stream(
            authorization=authorization,
            identity=identity,
            last_event_id=request.headers.get("Last-Event-ID"),
            hello={"unread": unread},
            on_end=lambda: _close_input(request.environ),
        )
        return Response(
            body,
            mimetype="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            direct_passthrough=True,
        )
