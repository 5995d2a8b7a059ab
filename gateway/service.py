"""The gateway: the only HTTP face of the help desk.

Handlers are thin: take the request apart, make as few RPCs as the answer needs
(one for a ticket read), and shape the response. Authentication happens in
:mod:`gateway.http` before a handler runs; authorisation happens in the services
that own the data. Each resource family's routes live in :mod:`gateway.routes`.
"""

from __future__ import annotations

from gateway.http import check_routes
from gateway.routes.conversations import ConversationRoutes
from gateway.routes.health import HealthRoutes
from gateway.routes.notifications import NotificationRoutes
from gateway.routes.people import PeopleRoutes
from gateway.routes.seats import SeatRoutes
from gateway.routes.tickets import TicketRoutes
from gateway.routes.web import WebRoutes


@check_routes
class GatewayService(
    HealthRoutes, TicketRoutes, ConversationRoutes, NotificationRoutes, PeopleRoutes, SeatRoutes, WebRoutes
):
    """HTTP API (``/api/v1``), health and readiness, and the OpenAPI document."""

    name = "gateway"
