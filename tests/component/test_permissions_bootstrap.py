"""The bootstrap admin: created once, on an empty database, with the configured token."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select

from services.chassis.db import SessionFactory, make_engine
from services.permissions.bootstrap import bootstrap
from services.permissions.domain import hash_token
from services.permissions.models import tokens
from services.permissions.store import PermissionStore

pytestmark = pytest.mark.db

TOKEN = "hd_bootstrap-token"


@pytest.fixture
def store(make_db: Callable[[str], str]) -> Iterator[PermissionStore]:
    engine = make_engine(make_db("permissions"))
    yield PermissionStore(SessionFactory(engine))
    engine.dispose()


def test_an_empty_database_gets_a_super_admin_whose_token_is_the_setting(store: PermissionStore) -> None:
    assert bootstrap(store, TOKEN).startswith("created super admin 'admin'")
    user_id = store.tokens.user_for(token_hash=hash_token(TOKEN))
    assert user_id is not None
    user = store.users.get(user_id=user_id)
    assert user["name"] == "admin" and "super_admin" in user["permissions"]
    assert user["access_level"] == "everything" and user["seat"] is True
    assert store.users.super_admin_ids() == [user_id]


def test_bootstrap_runs_once(store: PermissionStore) -> None:
    bootstrap(store, TOKEN)
    assert bootstrap(store, "hd_another-token") == "users exist; bootstrap skipped"
    assert store.users.count() == 1
    assert store.tokens.user_for(token_hash=hash_token("hd_another-token")) is None


def test_a_database_with_users_gets_no_admin(store: PermissionStore) -> None:
    store.users.create(data={"name": "Ana", "email": "ana@example.com"})
    assert bootstrap(store, TOKEN) == "users exist; bootstrap skipped"
    assert store.users.count() == 1 and store.users.super_admin_ids() == []
    assert store.tokens.user_for(token_hash=hash_token(TOKEN)) is None


@pytest.mark.parametrize("token", [None, ""])
def test_without_a_token_nothing_is_created(store: PermissionStore, token: str | None) -> None:
    assert bootstrap(store, token) == "no HELPDESK_ADMIN_TOKEN set; no admin created"
    assert store.users.count() == 0


def test_the_token_is_stored_only_as_its_hash(store: PermissionStore) -> None:
    bootstrap(store, TOKEN)
    with store.db.read() as session:
        dump = repr(session.execute(select(tokens)).all())
    assert TOKEN not in dump and hash_token(TOKEN) in dump
