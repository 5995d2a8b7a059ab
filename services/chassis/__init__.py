"""Technical building blocks shared by every service and the gateway.

The chassis knows nothing about tickets, users or any other domain: it provides
configuration, database sessions, the signed caller context, RPC with deadlines,
the transactional outbox, idempotent event subscription with bounded retries and
dead-lettering (and the queue declarations deploy tools reuse), and the error types
that cross the wire. Nothing here imports a service or the service registry, not even
through importlib: tools that must see every service live in ``deploy/``.
"""

from services.chassis import amqp_io, json_codec

amqp_io.install()
json_codec.install()
