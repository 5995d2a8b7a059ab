"""Idempotency keys: the first answer is stored with the change, a replay returns it marked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, func, select
from sqlalchemy.orm import Session

from services.chassis.db import SessionFactory
from services.chassis.errors import Conflict, ValidationFailed
from services.chassis.idempotency import REPLAYED, Idempotency, IdempotencyKey, define_idempotency

metadata = MetaData()
things = Table("things", metadata, Column("id", Integer, primary_key=True))
keys = define_idempotency(metadata)


@pytest.fixture
def idempotency() -> Iterator[Idempotency]:
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    yield Idempotency(SessionFactory(engine), keys)
    engine.dispose()


def make(s: Session) -> dict[str, int]:
    return {"id": int(s.scalar(things.insert().returning(things.c.id)))}


def count(idempotency: Idempotency) -> int:
    with idempotency.db.read() as s:
        return int(s.scalar(select(func.count()).select_from(things)) or 0)


def test_a_replay_returns_the_first_answer_marked_and_does_no_work(idempotency: Idempotency) -> None:
    key = IdempotencyKey.of(1, "k", "make", {"a": 1})
    first = idempotency.run(key, make)
    assert REPLAYED not in first
    assert idempotency.run(key, make) == {**first, REPLAYED: True}
    assert count(idempotency) == 1


def test_the_same_key_with_another_request_is_a_conflict(idempotency: Idempotency) -> None:
    idempotency.run(IdempotencyKey.of(1, "k", "make", {"a": 1}), make)
    with pytest.raises(Conflict):
        idempotency.run(IdempotencyKey.of(1, "k", "make", {"a": 2}), make)
    with pytest.raises(Conflict):
        idempotency.run(IdempotencyKey.of(1, "k", "other", {"a": 1}), make)
    assert count(idempotency) == 1


def test_keys_are_per_caller_and_no_key_means_no_memory(idempotency: Idempotency) -> None:
    idempotency.run(IdempotencyKey.of(1, "k", "make", {}), make)
    idempotency.run(IdempotencyKey.of(2, "k", "make", {}), make)
    idempotency.run(None, make)
    idempotency.run(IdempotencyKey.of(1, "", "make", {}), make)
    assert count(idempotency) == 4


@pytest.mark.parametrize("key", ["x" * 201, "tab\there", "\x00", 5])
def test_a_key_that_is_not_printable_text_is_refused(key: object) -> None:
    with pytest.raises(ValidationFailed):
        IdempotencyKey.of(1, key, "make", {})
