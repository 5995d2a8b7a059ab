"""The one list of what the help desk runs: every service, the gateway, and any other child process.

Deploy tools (supervisor, topology, migrations, dead-letter tool), the gateway's readiness check
and the end-to-end tests all read this module, so adding a service means adding one entry here and
nothing else that names services. It is plain data and imports nothing of ours (import-linter
holds it to that), so reading it never imports a service; the chassis and the services themselves
never read it: a service knows the others only through their contracts.

Paths are relative to the repository root, which is the working directory of every process the
supervisor starts.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NamekoService:
    """A process run as ``nameko run --config <config> <module>:<class_name>``.

    ``name`` is the nameko service name: the class's ``name`` attribute, the RPC routing key and,
    for a service, its contract's ``SERVICE_NAME`` (a unit test holds all three equal). It also
    names the process's log and pid files. ``migrations`` is the alembic folder of a service that
    owns a database, None for one that has none.
    """

    name: str
    module: str
    class_name: str
    config: str
    migrations: str | None = None
    ready_line: str = "ready: consuming"
    """A line its output shows once it serves (``services.chassis.consuming.READY_LINE`` for a
    service; the broker link's for the gateway): a rolling restart waits for it."""
    calls: tuple[str, ...] = ()
    """Services it calls other than through a ``ServiceRpc`` dependency (whose targets
    ``deploy.broker_users`` finds by itself); its broker user may call only those."""
    metrics_port: int = 0
    """The port its ``/metrics`` (and ``/healthz``, ``/readyz``) server listens on by default (its
    ``config.yaml``'s ``METRICS_BIND``); 0 for the gateway, which answers them on its HTTP port."""

    @property
    def db_url_variable(self) -> str | None:
        """The environment variable its ``config.yaml`` reads ``DB_URL`` from (None: no database)."""
        return f"{self.name.upper()}_DB_URL" if self.migrations else None

    def python_args(self) -> list[str]:
        """Arguments to ``python`` that run it (the class is named so nameko starts only that one)."""
        return ["-m", "nameko", "run", "--config", self.config, f"{self.module}:{self.class_name}"]


@dataclass(frozen=True)
class PythonModule:
    """A process run as ``python -m <module> [args...]``: an edge that speaks something nameko does not
    (SMTP, say). It answers no RPC, so readiness does not ping it and topology does not scan it."""

    name: str
    module: str
    args: tuple[str, ...] = ()
    ready_line: str = ""
    """A line its output shows once it serves (a rolling restart waits for it; none: a few seconds)."""
    publishes_events: tuple[tuple[str, str], ...] = ()
    """``(service, event type)`` pairs it publishes on that service's event exchange (the SMTP
    edge's ``mail_received`` on ``conversations.events``): all its broker user may do."""
    metrics_port: int = 0
    """The port it serves ``/metrics`` on by default (0: none)."""

    def python_args(self) -> list[str]:
        return ["-m", self.module, *self.args]


Child = NamekoService | PythonModule


def _service(name: str, class_name: str, metrics_port: int) -> NamekoService:
    return NamekoService(
        name=name,
        module=f"services.{name}.service",
        class_name=class_name,
        config=f"services/{name}/config.yaml",
        migrations=f"services/{name}/migrations",
        metrics_port=metrics_port,
    )


SERVICES: tuple[NamekoService, ...] = (
    _service("permissions", "PermissionsService", 9101),
    _service("tickets", "TicketsService", 9102),
    _service("conversations", "ConversationsService", 9103),
    _service("notifications", "NotificationsService", 9104),
    _service("retention", "RetentionService", 9105),
)
"""The RPC services, in start-up order: each has a contract, answers ``ping`` and may subscribe."""

GATEWAY = NamekoService(
    name="gateway",
    module="gateway.service",
    class_name="GatewayService",
    config="gateway/config.yaml",
    ready_line="ready: broker link up",
    calls=("permissions",),  # gateway/auth.py exchanges tokens through the broker link
)
"""The HTTP face: a nameko process, but no RPC service (no contract, nothing pings it)."""

SMTP_EDGE = PythonModule(
    name="smtp_edge",
    module="services.conversations.smtp_edge",
    ready_line="smtp edge listening on",
    publishes_events=(("conversations", "mail_received"),),
    metrics_port=9106,
)
"""Inbound mail: listens on ``HELPDESK_SMTP_PORT`` and publishes each accepted mail as the
conversations service's ``mail_received`` event (its settings come from the environment)."""

CHILDREN: tuple[Child, ...] = (*SERVICES, GATEWAY, SMTP_EDGE)
"""Every long-running process the supervisor keeps alive, in start order."""


def service(name: str) -> NamekoService:
    """The service called ``name``; LookupError names the known ones otherwise."""
    for entry in SERVICES:
        if entry.name == name:
            return entry
    raise LookupError(f"no service {name!r}; known: {', '.join(s.name for s in SERVICES)}")
