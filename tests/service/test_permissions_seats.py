"""Seats: admins assign them with ``seat`` on users, and the number in use is readable by people
admins (the permissions service's logic in-process, on a real database)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from nameko.testing.services import worker_factory

from services.chassis.db import SessionFactory, make_engine
from services.chassis.errors import Forbidden
from services.chassis.identity import Caller
from services.permissions.domain import BOOTSTRAP_ADMIN
from services.permissions.service import PermissionsService
from services.permissions.store import PermissionStore

pytestmark = pytest.mark.db


@pytest.fixture
def store(make_db: Callable[[str], str]) -> Iterator[PermissionStore]:
    engine = make_engine(make_db("permissions"))
    yield PermissionStore(SessionFactory(engine))
    engine.dispose()


def as_(store: PermissionStore, user: dict[str, Any]) -> Any:
    caller = Caller(user["id"], user["name"], frozenset(user["permissions"]), user["access_level"])
    return worker_factory(PermissionsService, store=store, caller=caller)


def test_the_seats_in_use_follow_the_users_seat_flag(store: PermissionStore) -> None:
    admin = store.users.create(data=BOOTSTRAP_ADMIN)
    api = as_(store, admin)
    assert api.seat_count() == {"in_use": 1, "users": 1}  # the bootstrap admin has one
    agent = api.create_user({"name": "Ana", "email": "ana@example.com", "permissions": ["service_access"]})
    api.create_user({"name": "Ben", "email": "ben@example.com", "seat": True})
    assert api.seat_count() == {"in_use": 2, "users": 3}
    api.update_user(agent["id"], {"seat": True})
    assert api.seat_count() == {"in_use": 3, "users": 3}
    with pytest.raises(Forbidden):
        as_(store, agent).seat_count()
