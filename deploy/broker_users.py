"""Broker users with least privilege: each process may publish only what it owns and call only whom it calls.

    python -m deploy.broker_users print [--vhost V] [--credentials FILE] [--prefix P]
    python -m deploy.broker_users apply --management URL [--vhost V] [--credentials FILE]
                                        [--prefix P] [--admin-user U] [--delete-guest]

``print`` writes the ``rabbitmqctl`` commands an operator runs on a broker of their own (with the
passwords from ``--credentials``, or placeholders); ``apply`` makes the same users through the
management HTTP API (what ``make run`` does on its own node, as ``helpdesk-admin``, then deletes
``guest``). Users are global in RabbitMQ: ``--prefix`` (default ``helpdesk-``) keeps several help
desks, or tests, apart.

What each user may do, per RabbitMQ's three regular expressions (configure = declare/delete,
write = publish to an exchange or bind a queue, read = consume from a queue or bind to an
exchange) and its topic authorisation (routing keys on topic exchanges):

* a **service** ``S`` (each entry of ``services.registry.SERVICES``, and the gateway):
  configure only what it owns: its RPC queue ``rpc-S``, its reply and broadcast queues, its
  subscription queues ``evt-*--S.*`` (with ``.retry``/``.dead``), queues its other entrypoints
  consume, its event exchange ``S.events`` and redelivery exchange ``S.redelivery``. It writes
  those and ``nameko-rpc``; it reads its queues, ``nameko-rpc``, its redelivery exchange and any
  service's event exchange (subscribing is not what is guarded). On ``S.events`` any routing key;
  on every other service's event exchange none; on ``nameko-rpc`` only ``T.<method>`` for the
  services ``T`` it calls (its ``ServiceRpc`` dependencies, plus the registry's ``calls``),
  ``<service>.ping`` of every service (readiness), and reply keys (one word); and it binds there
  only ``S.*`` and reply keys. Nobody's service writes ``amq.default``.
* a **plain child** (``PythonModule``, e.g. the SMTP edge): declares and publishes to the event
  exchanges of its ``publishes_events``, with those routing keys only.
* **deploy** (topology, dlq): declares exchanges and subscription queues, reads them, replays
  through redelivery exchanges; publishes no event and calls nothing.
* **admin**: administrator, used only to manage these users.

Standard library only, apart from importing the service classes to find their RPC targets and
consumed queues.
"""

from __future__ import annotations

import argparse
import base64
import importlib
import inspect
import json
import os
import re
import shlex
import sys
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from deploy import credentials
from services import registry

RPC_EXCHANGE = "nameko-rpc"
NAME = "[A-Za-z0-9_]+"
REPLY_KEY = "[0-9a-f-]+"
"""A reply routing key: one word (a uuid), so it can never match a ``service.method`` binding."""


@dataclass(frozen=True)
class TopicGrant:
    """Routing keys a user may publish with (write) and bind with (read) on one topic exchange."""

    exchange: str
    write: str
    read: str


@dataclass(frozen=True)
class Grant:
    """One broker user's permissions in the help desk's vhost."""

    role: str
    configure: str
    write: str
    read: str
    topics: tuple[TopicGrant, ...] = ()
    tags: str = ""


def anchored(*alternatives: str) -> str:
    """``^(a|b|...)$``; RabbitMQ does not anchor permission patterns itself. None: matches nothing."""
    return f"^({'|'.join(alternatives)})$" if alternatives else "^$"


def service_class(entry: registry.NamekoService) -> type:
    return getattr(importlib.import_module(entry.module), entry.class_name)


def rpc_targets(cls: type) -> set[str]:
    """Services a nameko class calls through ``ServiceRpc`` dependencies."""
    from services.chassis.rpc import ServiceRpc

    return {value.target_service for _, value in inspect.getmembers(cls) if isinstance(value, ServiceRpc)}


def consumed_queues(cls: type) -> set[str]:
    """Queues of entrypoints other than ``@rpc`` and ``@subscribe`` (nameko's ``@consume``)."""
    from nameko.messaging import Consumer

    from services.chassis.events import Subscription

    names = set()
    for _, member in inspect.getmembers(cls, inspect.isfunction):
        for entrypoint in getattr(member, "nameko_entrypoints", ()):
            queue = getattr(entrypoint, "queue", None)
            if isinstance(entrypoint, Consumer) and not isinstance(entrypoint, Subscription) and queue:
                names.add(queue.name)
    return names


def service_grant(name: str, calls: Iterable[str], queues: Iterable[str], services: Iterable[str]) -> Grant:
    """The grant of nameko process ``name`` calling ``calls`` and consuming ``queues``."""
    own = re.escape(name)
    own_queues = [
        f"rpc-{own}",
        rf"rpc\.reply-{own}-{REPLY_KEY}",
        rf"bcast-{NAME}\.events--{own}-{REPLY_KEY}",
        rf"evt-{NAME}-{NAME}--{own}\.{NAME}(\.retry|\.dead)?",
        *(re.escape(q) for q in sorted(queues)),
    ]
    own_exchanges = [rf"{own}\.events", rf"{own}\.redelivery"]
    everyone = sorted(set(services))
    callable_keys = [rf"({'|'.join(map(re.escape, sorted(set(calls))))})\.{NAME}"] if calls else []
    pings = rf"({'|'.join(map(re.escape, everyone))})\.ping"
    topics = [
        TopicGrant(
            RPC_EXCHANGE, anchored(*callable_keys, pings, REPLY_KEY), anchored(rf"{own}\.\*", REPLY_KEY)
        ),
        TopicGrant(f"{name}.events", "^.*$", "^.*$"),
        *(TopicGrant(f"{other}.events", "^$", "^.*$") for other in everyone if other != name),
    ]
    return Grant(
        role=name,
        configure=anchored(*own_queues, *own_exchanges),
        write=anchored(*own_queues, *own_exchanges, re.escape(RPC_EXCHANGE)),
        read=anchored(*own_queues, rf"{own}\.redelivery", re.escape(RPC_EXCHANGE), rf"{NAME}\.events"),
        topics=tuple(topics),
    )


def module_grant(entry: registry.PythonModule) -> Grant:
    """A plain child may declare and publish to the event exchanges it publishes on, with only its
    own routing keys (topic permissions), and read nothing."""
    by_exchange: dict[str, list[str]] = {}
    for service, event_type in entry.publishes_events:
        by_exchange.setdefault(f"{service}.events", []).append(re.escape(event_type))
    exchanges = [re.escape(name) for name in sorted(by_exchange)]
    topics = tuple(TopicGrant(name, anchored(*keys), "^$") for name, keys in sorted(by_exchange.items()))
    return Grant(
        role=entry.name,
        configure=anchored(*exchanges),
        write=anchored(*exchanges),
        read="^$",
        topics=topics,
    )


def deploy_grant() -> Grant:
    exchanges = [rf"{NAME}\.events", rf"{NAME}\.redelivery", re.escape(RPC_EXCHANGE)]
    queues = [f"evt-{NAME}-{NAME}--{NAME}\\.{NAME}(\\.retry|\\.dead)?"]
    return Grant(
        role=credentials.DEPLOY,
        configure=anchored(*exchanges, *queues),
        write=anchored(rf"{NAME}\.redelivery", *queues),
        read=anchored(*exchanges, *queues),
        topics=tuple(TopicGrant(f"{s.name}.events", "^$", "^.*$") for s in registry.SERVICES),
    )


def grants() -> list[Grant]:
    """Every user the help desk needs (admin apart), from ``services.registry``."""
    services = [s.name for s in registry.SERVICES]
    found = [deploy_grant()]
    for child in registry.CHILDREN:
        if isinstance(child, registry.PythonModule):
            found.append(module_grant(child))
            continue
        cls = service_class(child)
        calls = (rpc_targets(cls) | set(child.calls)) - {child.name}
        found.append(service_grant(child.name, calls, consumed_queues(cls), services))
    return found


def roles() -> list[str]:
    """Every role that needs a password: admin, deploy and each child."""
    return [credentials.ADMIN, credentials.DEPLOY, *(child.name for child in registry.CHILDREN)]


# -- output -----------------------------------------------------------------------------------------


def commands(found: Iterable[Grant], vhost: str, passwords: Mapping[str, str], prefix: str) -> list[str]:
    """``rabbitmqctl`` commands that create the users (run them on the broker's host)."""
    lines = [f"rabbitmqctl add_vhost {shlex.quote(vhost)}"]
    for grant in found:
        user = shlex.quote(credentials.user_name(grant.role, prefix))
        password = shlex.quote(passwords.get(grant.role, f"<password of {grant.role}>"))
        lines.append(
            f"rabbitmqctl add_user {user} {password} || rabbitmqctl change_password {user} {password}"
        )
        if grant.tags:
            lines.append(f"rabbitmqctl set_user_tags {user} {grant.tags}")
        patterns = " ".join(shlex.quote(p) for p in (grant.configure, grant.write, grant.read))
        lines.append(f"rabbitmqctl set_permissions -p {shlex.quote(vhost)} {user} {patterns}")
        for topic in grant.topics:
            keys = " ".join(shlex.quote(p) for p in (topic.exchange, topic.write, topic.read))
            lines.append(f"rabbitmqctl set_topic_permissions -p {shlex.quote(vhost)} {user} {keys}")
    lines.append("rabbitmqctl delete_user guest   # once nothing logs in as guest any more")
    return lines


class Management:
    """The management HTTP API of one broker, as one user."""

    def __init__(self, url: str, user: str, password: str) -> None:
        self.url = url.rstrip("/")
        self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def call(self, method: str, path: str, body: object = None) -> int:
        request = urllib.request.Request(
            f"{self.url}/api/{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": self.auth, "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            if method == "DELETE" and error.code == 404:
                return 404
            raise

    def get(self, path: str) -> Any:
        """The decoded JSON answer to ``GET /api/<path>``."""
        request = urllib.request.Request(f"{self.url}/api/{path}", headers={"Authorization": self.auth})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    def authenticated(self) -> bool:
        try:
            self.call("GET", "whoami")
        except urllib.error.HTTPError as error:
            if error.code == 401:
                return False
            raise
        return True


def admin_session(url: str, user: str, password: str) -> Management:
    """The API as ``user``; on a node created before it existed (guest the only administrator),
    ``user`` is made administrator first, as guest."""
    api = Management(url, user, password)
    if api.authenticated():
        return api
    guest = Management(url, "guest", "guest")
    if not guest.authenticated():
        raise SystemExit(f"broker_users: neither {user} nor guest may log in to {url}")
    guest.call("PUT", f"users/{quote(user, safe='')}", {"password": password, "tags": "administrator"})
    guest.call(
        "PUT", f"permissions/%2F/{quote(user, safe='')}", {"configure": ".*", "write": ".*", "read": ".*"}
    )
    return api


def apply(
    api: Management, found: Iterable[Grant], vhost: str, passwords: Mapping[str, str], prefix: str
) -> None:
    """Create or update every user with its password, permissions and topic permissions."""
    v = quote(vhost, safe="")
    api.call("PUT", f"vhosts/{v}")
    for grant in found:
        user = quote(credentials.user_name(grant.role, prefix), safe="")
        api.call("PUT", f"users/{user}", {"password": passwords[grant.role], "tags": grant.tags})
        api.call(
            "PUT",
            f"permissions/{v}/{user}",
            {"configure": grant.configure, "write": grant.write, "read": grant.read},
        )
        for topic in grant.topics:
            api.call(
                "PUT",
                f"topic-permissions/{v}/{user}",
                {"exchange": topic.exchange, "write": topic.write, "read": topic.read},
            )


def delete_users(api: Management, found: Iterable[Grant], prefix: str) -> None:
    for grant in found:
        api.call("DELETE", f"users/{quote(credentials.user_name(grant.role, prefix), safe='')}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.broker_users", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["print", "apply"])
    parser.add_argument("--vhost", default="/")
    parser.add_argument("--prefix", default=credentials.USER_PREFIX, help="user names start with it")
    parser.add_argument(
        "--credentials", type=Path, help=f"passwords by role (JSON; default $DATA/{credentials.FILE_NAME})"
    )
    parser.add_argument("--management", help="management API, e.g. http://127.0.0.1:15672 (apply)")
    parser.add_argument("--admin-user", help="administrator to apply as (default: <prefix>admin)")
    parser.add_argument("--delete-guest", action="store_true", help="then delete the guest user (apply)")
    args = parser.parse_args(argv)
    found = grants()
    path = args.credentials or credentials.credentials_file(
        Path(os.environ.get("HELPDESK_DATA_DIR") or "var")
    )
    if args.command == "print":
        passwords = credentials.load(path) if args.credentials else {}
        print("\n".join(commands(found, args.vhost, passwords, args.prefix)))
        return 0
    if not args.management or urlsplit(args.management).scheme not in ("http", "https"):
        parser.error("apply needs --management http(s)://host:port")
    passwords = credentials.ensure(path, roles())
    admin = args.admin_user or credentials.user_name(credentials.ADMIN, args.prefix)
    api = admin_session(args.management, admin, passwords[credentials.ADMIN])
    apply(api, found, args.vhost, passwords, args.prefix)
    if args.delete_guest:
        api.call("DELETE", "users/guest")
    print(
        f"broker_users: {len(found)} users applied in vhost {args.vhost}"
        + (", guest deleted" if args.delete_guest else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
