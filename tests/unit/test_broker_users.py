"""The broker users' permissions, checked against the names the chassis really uses.

RabbitMQ matches each permission's regular expression (PCRE, unanchored: ours anchor themselves)
against a resource name, and topic permissions against routing keys. These tests build the names
the way the chassis and nameko build them, and prove that every service may do what it does and
nothing another service owns: publish its own events only, call only the services it calls.
"""

from __future__ import annotations

import re
import uuid

import pytest
from nameko.rpc import RPC_QUEUE_TEMPLATE

from deploy import broker_users, credentials
from deploy.topology import service_subscriptions
from services import registry
from services.chassis.events import queue_name
from services.chassis.rpc import BrokerLink

GRANTS = {grant.role: grant for grant in broker_users.grants()}
SERVICES = [s.name for s in registry.SERVICES]


def allows(pattern: str, name: str) -> bool:
    return re.search(pattern, name) is not None


def topic(role: str, exchange: str) -> broker_users.TopicGrant:
    [found] = [t for t in GRANTS[role].topics if t.exchange == exchange]
    return found


def own_queues(service: str) -> list[str]:
    """Every queue the chassis and nameko declare for ``service``."""
    names = [
        RPC_QUEUE_TEMPLATE.format(service),
        BrokerLink.reply_queue_name(service, uuid.uuid4().hex),
        f"rpc.reply-{service}-{uuid.uuid4()}",  # nameko's own reply listener
        BrokerLink.broadcast_queue_name("permissions.events", service, uuid.uuid4().hex),
    ]
    for svc, method, sub in service_subscriptions():
        if svc == service:
            main = queue_name(sub.source_service, sub.event_type, svc, method)
            names += [main, f"{main}.retry", f"{main}.dead"]
    return names


def test_every_child_and_the_deploy_tools_have_a_user_and_a_password_role() -> None:
    assert set(GRANTS) == {credentials.DEPLOY, *(child.name for child in registry.CHILDREN)}
    assert set(broker_users.roles()) == {credentials.ADMIN, *GRANTS}


@pytest.mark.parametrize("service", [*SERVICES, registry.GATEWAY.name])
def test_a_service_may_declare_bind_and_consume_what_it_owns(service: str) -> None:
    grant = GRANTS[service]
    for name in own_queues(service):
        assert allows(grant.configure, name), name
        assert allows(grant.write, name), name  # binding
        assert allows(grant.read, name), name  # consuming
    for exchange in (f"{service}.events", f"{service}.redelivery"):
        assert allows(grant.configure, exchange)
        assert allows(grant.write, exchange)
    assert allows(grant.read, f"{service}.redelivery")
    assert allows(grant.write, "nameko-rpc") and allows(grant.read, "nameko-rpc")
    for source in SERVICES:
        assert allows(grant.read, f"{source}.events"), "binding its own queues to any event exchange"


@pytest.mark.parametrize("service", [*SERVICES, registry.GATEWAY.name])
def test_a_service_may_touch_nothing_another_owns(service: str) -> None:
    grant = GRANTS[service]
    for other in SERVICES:
        if other == service:
            continue
        for name in (f"{other}.events", f"{other}.redelivery"):
            assert not allows(grant.configure, name), name
            assert not allows(grant.write, name), f"{service} may publish to {name}"
        for name in own_queues(other):
            assert not allows(grant.configure, name), name
            assert not allows(grant.read, name), f"{service} may consume {name}"
        assert not allows(topic(service, f"{other}.events").write, "anything"), f"{service} -> {other}"
    assert not allows(grant.configure, "nameko-rpc"), "the deploy step declares the RPC exchange"
    assert not allows(grant.write, "amq.default"), "the default exchange reaches any queue by name"
    assert not allows(grant.configure, "evt-tickets-ticket_created--someone.handle")


def test_a_service_publishes_its_own_events_with_any_routing_key() -> None:
    assert allows(GRANTS["tickets"].write, "tickets.events")
    assert allows(topic("tickets", "tickets.events").write, "ticket_created")
    assert not allows(GRANTS["notifications"].write, "tickets.events")


@pytest.mark.parametrize(
    ("service", "callable_", "refused"),
    [
        ("tickets", ["permissions.get_user"], ["notifications.list_feed", "tickets.create_ticket"]),
        (
            "notifications",
            ["permissions.super_admin_ids", "tickets.audience"],
            ["conversations.reply", "retention.purge"],
        ),
        ("permissions", [], ["tickets.create_ticket", "notifications.mark_read"]),
        ("gateway", ["tickets.create_ticket", "permissions.authenticate", "notifications.list_feed"], []),
    ],
)
def test_rpc_routing_keys_are_those_of_the_services_it_calls(
    service: str, callable_: list[str], refused: list[str]
) -> None:
    write = topic(service, "nameko-rpc").write
    for key in callable_:
        assert allows(write, key), key
    for key in refused:
        assert not allows(write, key), key
    for other in SERVICES:
        assert allows(write, f"{other}.ping"), "readiness pings every service"
    assert allows(write, uuid.uuid4().hex), "replies go to the caller's reply key"
    assert allows(write, str(uuid.uuid4()))
    assert not allows(write, "tickets.#") and not allows(write, "tickets.*")


def test_rpc_bindings_are_its_own_and_reply_keys_only() -> None:
    read = topic("notifications", "nameko-rpc").read
    assert allows(read, "notifications.*")
    assert allows(read, uuid.uuid4().hex)
    assert not allows(read, "tickets.*"), "binding another's RPC key would snoop its requests"
    assert not allows(read, "#")


def test_the_deploy_tools_declare_everything_and_publish_no_event() -> None:
    grant = GRANTS[credentials.DEPLOY]
    for service in SERVICES:
        assert allows(grant.configure, f"{service}.events")
        assert not allows(grant.write, f"{service}.events")
        assert allows(grant.write, f"{service}.redelivery"), "replaying dead letters"
    assert allows(grant.configure, "nameko-rpc") and not allows(grant.write, "nameko-rpc")
    for svc, method, sub in service_subscriptions():
        main = queue_name(sub.source_service, sub.event_type, svc, method)
        for name in (main, f"{main}.retry", f"{main}.dead"):
            assert allows(grant.configure, name) and allows(grant.read, name) and allows(grant.write, name)
    assert not allows(grant.write, "amq.default")


def test_the_smtp_edge_may_publish_only_mail_received_on_the_conversations_exchange() -> None:
    grant = broker_users.module_grant(registry.SMTP_EDGE)
    assert allows(grant.configure, "conversations.events") and allows(grant.write, "conversations.events")
    for name in ("tickets.events", "nameko-rpc", "amq.default", "conversations.redelivery", "rpc-tickets"):
        assert not allows(grant.write, name) and not allows(grant.configure, name)
    assert grant.read == "^$"
    mail = next((t for t in grant.topics if t.exchange == "conversations.events"), None)
    assert mail is not None and allows(mail.write, "mail_received")
    assert not allows(mail.write, "message_added") and not allows(mail.write, "thread_created")
    idle = broker_users.module_grant(registry.PythonModule("idle", "x"))
    assert idle.write == "^$" and idle.configure == "^$" and idle.topics == ()


def test_printed_commands_create_every_user_with_its_topic_permissions() -> None:
    lines = broker_users.commands(GRANTS.values(), "/", {"tickets": "s3cret"}, "hd-")
    text = "\n".join(lines)
    assert "rabbitmqctl add_user hd-tickets s3cret" in text
    assert "'<password of notifications>'" in text
    assert "rabbitmqctl set_topic_permissions -p / hd-tickets nameko-rpc" in text
    assert text.count("set_permissions -p / ") == len(GRANTS)
