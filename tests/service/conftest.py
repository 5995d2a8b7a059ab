"""Fixtures of the service-logic tests (no broker: entrypoints are called in-process)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.service.tickets_harness import Tickets, local_tickets


@pytest.fixture
def tickets(make_db: Callable[[str], str]) -> Iterator[Tickets]:
    yield from local_tickets(make_db)
