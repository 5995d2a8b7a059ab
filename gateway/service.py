"""The gateway: the only HTTP face of the help desk.

Handlers are thin: take the request apart, make as few RPCs as the answer needs
(one for a ticket read), and shape the response. Authentication happens in
:mod:`gateway.http` before a handler runs; authorisation happens in the services
that own the data. Each resource family's routes live in :mod:`gateway.routes`.
"""

from __future__ import annotations

from gateway.http import check_routes
from gateway.routes.conversations import ConversationRoutes
from gateway.routes.docs import DocsRoutes
from gateway.routes.health import HealthRoutes
from gateway.routes.hubspot import HubSpotRoutes
from gateway.routes.imports import ImportRoutes
from gateway.routes.lifecycle import LifecycleRoutes
from gateway.routes.notifications import NotificationRoutes
from gateway.routes.people import PeopleRoutes
from gateway.routes.seats import SeatRoutes
from gateway.routes.sessions import SessionRoutes
from gateway.routes.stream import StreamRoutes
from gateway.routes.tickets import TicketRoutes
from gateway.routes.web import WebRoutes
from services.chassis.metrics import Telemetry


@check_routes
class GatewayService(
    HealthRoutes,
    TicketRoutes,
    ConversationRoutes,
    NotificationRoutes,
    StreamRoutes,
    PeopleRoutes,
    SessionRoutes,
    SeatRoutes,
    WebRoutes,
    DocsRoutes,
    ImportRoutes,
    HubSpotRoutes,
    LifecycleRoutes,
):
    """HTTP API (``/api/v1``), health and readiness, live updates, and the OpenAPI document."""

    name = "gateway"
    telemetry = Telemetry()
