"""Create the bootstrap super admin: ``python -m services.permissions.bootstrap``.

When the permissions database has no user and ``HELPDESK_ADMIN_TOKEN`` is set, a
super admin named ``admin`` is created whose API token is that value (API.md).
Otherwise nothing happens, so running it on every start is safe.
"""

from __future__ import annotations

import os
import sys

from services.chassis.db import SessionFactory, make_engine
from services.chassis.errors import ValidationFailed
from services.chassis.settings import load_config
from services.permissions.domain import BOOTSTRAP_ADMIN, hash_token
from services.permissions.store import PermissionStore


def bootstrap(store: PermissionStore, token: str | None) -> str:
    """Create the admin with ``token`` if there is a token and no user yet; says what it did."""
    if not token:
        return "no HELPDESK_ADMIN_TOKEN set; no admin created"
    if store.users.count():
        return "users exist; bootstrap skipped"
    try:
        user = store.users.create(data=BOOTSTRAP_ADMIN, token_hash=hash_token(token))
    except ValidationFailed:  # a concurrent bootstrap created the admin first
        return "users exist; bootstrap skipped"
    return f"created super admin {user['name']!r} (id {user['id']})"


def main() -> int:
    engine = make_engine(load_config("permissions")["DB_URL"])
    try:
        print(
            "bootstrap:",
            bootstrap(PermissionStore(SessionFactory(engine)), os.environ.get("HELPDESK_ADMIN_TOKEN")),
        )
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
