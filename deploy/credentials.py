"""Broker credentials kept in the data folder: one user per process, generated at first start.

`make run`'s own RabbitMQ node has no `guest`: every child logs in as its own user
(``helpdesk-<name>``), the deploy tools as ``helpdesk-deploy``, and ``helpdesk-admin`` manages the
users. Their passwords are generated once into ``$HELPDESK_DATA_DIR/broker-users.json`` (mode
0600, like ``identity.secret``) and handed to each child in its own ``AMQP_URI``.

Standard library only: the supervisor imports it.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import quote

FILE_NAME = "broker-users.json"
USER_PREFIX = "helpdesk-"
ADMIN = "admin"
DEPLOY = "deploy"
"""Roles that are not processes: the user manager and the deploy tools (topology, dlq)."""


def user_name(role: str, prefix: str = USER_PREFIX) -> str:
    """The broker user of ``role`` (a child's registry name, ``admin`` or ``deploy``)."""
    return f"{prefix}{role}"


def credentials_file(data_dir: Path) -> Path:
    return data_dir / FILE_NAME


def ensure(path: Path, roles: Iterable[str]) -> dict[str, str]:
    """The password of each role, creating the file (mode 0600) and any missing password.

    Existing passwords are kept, so a restart finds the users the broker already has.
    """
    try:
        stored = json.loads(path.read_text())
    except FileNotFoundError:
        stored = {}
    if not isinstance(stored, dict) or not all(isinstance(v, str) for v in stored.values()):
        raise ValueError(f"{path} is not a JSON object of role -> password; delete it to start afresh")
    passwords = dict(stored)
    for role in roles:
        passwords.setdefault(role, secrets.token_urlsafe(24))
    if passwords != stored:
        temporary = path.with_name(path.name + ".new")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(passwords, out, indent=1, sort_keys=True)
        os.replace(temporary, path)
    path.chmod(0o600)
    return passwords


def load(path: Path) -> dict[str, str]:
    """The passwords kept in ``path`` (ValueError if it is not what :func:`ensure` writes)."""
    stored = json.loads(path.read_text())
    if not isinstance(stored, dict):
        raise ValueError(f"{path} is not a JSON object of role -> password")
    return {str(k): str(v) for k, v in stored.items()}


def amqp_uri(port: int, user: str, password: str, *, host: str = "127.0.0.1", vhost: str = "/") -> str:
    """An AMQP URI for ``user`` (user, password and vhost escaped; the default vhost left implicit)."""
    path = "" if vhost == "/" else quote(vhost, safe="")
    return f"amqp://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}/{path}"


def default_amqp_uri(environ: Mapping[str, str] = os.environ, role: str = DEPLOY) -> str:
    """The broker a deploy tool talks to: ``AMQP_URI`` if set; else, when the data folder holds
    broker users (``make run``'s own node), ``role``'s user on ``HELPDESK_AMQP_PORT``; else guest on
    5672."""
    if environ.get("AMQP_URI"):
        return environ["AMQP_URI"]
    port = int(environ.get("HELPDESK_AMQP_PORT") or 5672)
    path = credentials_file(Path(environ.get("HELPDESK_DATA_DIR") or "var"))
    try:
        passwords = load(path)
    except (OSError, ValueError):
        return f"amqp://guest:guest@127.0.0.1:{port}/"
    if role not in passwords:
        return f"amqp://guest:guest@127.0.0.1:{port}/"
    return amqp_uri(port, user_name(role), passwords[role])
