"""Fixtures of the service-logic tests (no broker: entrypoints are called in-process)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.service.conversations_harness import Conversations, local_conversations
from tests.service.lifecycle_harness import World, local_world
from tests.service.tickets_harness import Tickets, local_tickets


@pytest.fixture
def tickets(make_db: Callable[[str], str]) -> Iterator[Tickets]:
    yield from local_tickets(make_db)


@pytest.fixture
def conversations(make_db: Callable[[str], str], tmp_path: Path) -> Iterator[Conversations]:
    yield from local_conversations(make_db, tmp_path)


@pytest.fixture
def world(make_db: Callable[[str], str], tmp_path: Path) -> Iterator[World]:
    """Tickets and conversations wired to each other in-process (see lifecycle_harness)."""
    yield from local_world(make_db, tmp_path)


@pytest.fixture
def retention_world(world: World, make_db: Callable[[str], str]) -> World:
    """The world with the retention service (periods: spam and bin 90 days, housekeeping 30)."""
    world.enable_retention(make_db("retention"))
    return world
