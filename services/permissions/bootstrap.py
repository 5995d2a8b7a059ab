"""Create the bootstrap super admin: ``python -m services.permissions.bootstrap``.

When the permissions database has no user and ``HELPDESK_ADMIN_TOKEN`` or
``HELPDESK_ADMIN_PASSWORD`` is set, a super admin named ``admin`` (sign-in address
``admin@localhost``) is created: its API token is the token setting (API.md), its password the
password setting. Without a password setting it gets a set-password invite instead, and the
link is printed (``HELPDESK_PUBLIC_URL``, else the local gateway). Otherwise nothing happens,
so running it on every start is safe.
"""

from __future__ import annotations

import os
import sys

from services.chassis.db import SessionFactory, make_engine
from services.chassis.errors import ValidationFailed
from services.chassis.settings import load_config
from services.permissions.contract import set_password_url
from services.permissions.credentials import (
    HashCost,
    Passwords,
    check_password_rules,
    new_invite_token,
    secret_hash,
)
from services.permissions.domain import BOOTSTRAP_ADMIN, hash_token
from services.permissions.store import PermissionStore


def bootstrap(
    store: PermissionStore,
    token: str | None,
    *,
    password: str | None = None,
    passwords: Passwords | None = None,
    link_base: str = "http://127.0.0.1:8000",
) -> str:
    """Create the admin if a token or a password is given and there is no user yet; says what it did.

    A password that breaks the rules (:func:`check_password_rules`) is a ValidationFailed and
    creates nothing.
    """
    if not token and not password:
        return "no HELPDESK_ADMIN_TOKEN or HELPDESK_ADMIN_PASSWORD set; no admin created"
    if store.users.count():
        return "users exist; bootstrap skipped"
    password_hash = None
    if password:
        check_password_rules(password, "HELPDESK_ADMIN_PASSWORD")
        password_hash = (passwords or Passwords()).hash(password)
    try:
        user = store.users.create(
            data=BOOTSTRAP_ADMIN,
            token_hash=hash_token(token) if token else None,
            password_hash=password_hash,
        )
    except ValidationFailed:  # a concurrent bootstrap created the admin first
        return "users exist; bootstrap skipped"
    said = f"created super admin {user['name']!r} (id {user['id']}), sign-in address {user['email']}"
    if password_hash:
        return said + ", password from HELPDESK_ADMIN_PASSWORD"
    invite = new_invite_token()
    found = store.credentials.invite(
        user_id=user["id"], token_hash=secret_hash(invite), created_by=None, check=lambda _sa: None
    )
    return (
        f"{said}; set its password at {set_password_url(link_base, invite)} "
        f"(works once, until {found['expires_at']})"
    )


def link_base_from_env(env: dict[str, str] | os._Environ[str]) -> str:
    """Where the web workspace is: ``HELPDESK_PUBLIC_URL``, else the local gateway's port."""
    public = (env.get("HELPDESK_PUBLIC_URL") or "").strip()
    if public:
        return public
    return f"http://127.0.0.1:{env.get('HELPDESK_HTTP_PORT') or 8000}"


def main() -> int:
    config = load_config("permissions")
    engine = make_engine(config["DB_URL"])
    try:
        said = bootstrap(
            PermissionStore(SessionFactory(engine)),
            os.environ.get("HELPDESK_ADMIN_TOKEN"),
            password=os.environ.get("HELPDESK_ADMIN_PASSWORD"),
            passwords=Passwords(HashCost.from_config(config.get("PASSWORD_HASH"))),
            link_base=link_base_from_env(os.environ),
        )
    except ValidationFailed as exc:
        print("bootstrap: HELPDESK_ADMIN_PASSWORD refused:", exc.extra.get("errors"), file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print("bootstrap:", said)
    return 0


if __name__ == "__main__":
    sys.exit(main())
