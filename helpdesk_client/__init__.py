"""Client for the help desk's services, for Python programs that are not nameko services.

Built on pika's ``BlockingConnection``; it speaks nameko's RPC wire format, carries a signed
caller identity and a deadline on every call, and raises the services' own error classes::

    from helpdesk_client import HelpdeskClient

    with HelpdeskClient("amqp://guest:guest@127.0.0.1:5672/", token="...") as client:
        ticket = client.service("tickets").get_ticket(5)
        client.call("tickets", "create_ticket", {"name": "Printer on fire"})

One client per thread: see :mod:`helpdesk_client.client`.
"""

from helpdesk_client.client import DEFAULT_TIMEOUT, HelpdeskClient, ServiceProxy
from helpdesk_client.events import Event, Subscription
from helpdesk_client.wire import MalformedReply
from services.chassis.errors import (
    DeadlineExceeded,
    HelpdeskError,
    ServiceUnavailable,
    Unauthenticated,
    ValidationFailed,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "DeadlineExceeded",
    "Event",
    "HelpdeskClient",
    "HelpdeskError",
    "MalformedReply",
    "ServiceProxy",
    "ServiceUnavailable",
    "Subscription",
    "Unauthenticated",
    "ValidationFailed",
]
