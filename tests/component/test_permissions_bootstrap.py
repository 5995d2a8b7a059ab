"""The bootstrap admin: created once, on an empty database, with the configured token and/or
password; without a password it gets a set-password link instead, which works once."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select

from services.chassis.db import SessionFactory, make_engine
from services.chassis.errors import ValidationFailed
from services.permissions.bootstrap import bootstrap, link_base_from_env
from services.permissions.credentials import HashCost, Passwords, secret_hash
from services.permissions.domain import hash_token
from services.permissions.models import tokens, users
from services.permissions.store import PermissionStore

pytestmark = pytest.mark.db

TOKEN = "hd_bootstrap-token"
CHEAP = Passwords(HashCost(time_cost=1, memory_kib=256, parallelism=1))


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
    assert (
        bootstrap(store, token) == "no HELPDESK_ADMIN_TOKEN or HELPDESK_ADMIN_PASSWORD set; no admin created"
    )
    assert store.users.count() == 0


def test_the_token_is_stored_only_as_its_hash(store: PermissionStore) -> None:
    bootstrap(store, TOKEN)
    with store.db.read() as session:
        dump = repr(session.execute(select(tokens)).all())
    assert TOKEN not in dump and hash_token(TOKEN) in dump


def test_a_password_setting_gives_the_admin_that_password(store: PermissionStore) -> None:
    said = bootstrap(store, TOKEN, password="correct horse battery", passwords=CHEAP)
    assert "admin@localhost" in said and "HELPDESK_ADMIN_PASSWORD" in said and "set-password" not in said
    found = store.credentials.password_of(email="ADMIN@localhost")
    assert found.user_id is not None and found.password_hash is not None
    assert found.password_hash.startswith("$argon2id$")
    assert CHEAP.verify(found.password_hash, "correct horse battery")
    assert store.tokens.user_for(token_hash=hash_token(TOKEN)) == found.user_id


def test_a_password_alone_is_enough(store: PermissionStore) -> None:
    assert bootstrap(store, None, password="correct horse battery", passwords=CHEAP).startswith("created")
    assert store.users.count() == 1


def test_a_short_password_setting_creates_nothing(store: PermissionStore) -> None:
    with pytest.raises(ValidationFailed):
        bootstrap(store, TOKEN, password="short", passwords=CHEAP)
    assert store.users.count() == 0


def test_without_a_password_the_admin_gets_a_set_password_link_that_works_once(
    store: PermissionStore,
) -> None:
    said = bootstrap(store, TOKEN, link_base="http://127.0.0.1:8123")
    assert "http://127.0.0.1:8123/set-password#token=hi_" in said
    invite = said.split("#token=")[1].split()[0]
    with store.db.read() as session:
        assert session.scalar(select(users.c.password_hash)) is None
    done = store.credentials.accept_invite(
        token_hash=secret_hash(invite), password_hash=CHEAP.hash("a new password!")
    )
    assert done["email"] == "admin@localhost"
    with pytest.raises(ValidationFailed):
        store.credentials.accept_invite(
            token_hash=secret_hash(invite), password_hash=CHEAP.hash("another one!!")
        )
    assert CHEAP.verify(
        store.credentials.password_of(email="admin@localhost").password_hash, "a new password!"
    )


def test_the_link_points_at_the_public_url_or_the_local_port() -> None:
    assert (
        link_base_from_env({"HELPDESK_PUBLIC_URL": "https://desk.example.com"}) == "https://desk.example.com"
    )
    assert link_base_from_env({"HELPDESK_HTTP_PORT": "8100"}) == "http://127.0.0.1:8100"
    assert link_base_from_env({}) == "http://127.0.0.1:8000"
