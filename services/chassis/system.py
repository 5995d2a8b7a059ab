"""Calls that services make to each other for their own work (sagas, purges, housekeeping).

Such a method is still an RPC any broker client could send, so it checks that the caller is
a service acting as itself (:func:`require_system`) and treats its arguments as input.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from services.chassis.clock import aware
from services.chassis.errors import Forbidden, ValidationFailed
from services.chassis.identity import Caller
from services.chassis.schema import require_id

MAX_IDS = 1000
"""Ids one internal call may name."""


def require_system(caller: Caller) -> None:
    """Refuse (403) anyone but a service acting on its own behalf."""
    if not caller.system:
        raise Forbidden("This call is for the help desk's own services.")


def moment_arg(value: Any, name: str) -> dt.datetime:
    """An ISO 8601 moment with a UTC offset, given as text (how moments cross the wire)."""
    if isinstance(value, str) and len(value) <= 64:
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None:
            return aware(moment)
    raise ValidationFailed(errors={name: ["must be an ISO 8601 moment with a UTC offset"]})


def id_list(values: Any, name: str, limit: int = MAX_IDS) -> list[int]:
    """A list of at most ``limit`` ids."""
    if not isinstance(values, list) or len(values) > limit:
        raise ValidationFailed(errors={name: [f"must be a list of at most {limit} ids"]})
    return [require_id(v, name) for v in values]


def limit_arg(value: Any, name: str = "limit", most: int = MAX_IDS) -> int:
    """A batch size from 1 to ``most``."""
    if type(value) is not int or not 1 <= value <= most:
        raise ValidationFailed(errors={name: [f"must be an integer from 1 to {most}"]})
    return value
