"""Errors that cross the wire.

Every error a service raises on purpose is a subclass of :class:`HelpdeskError`.
They are registered with nameko so that a caller on the other side of an RPC gets
an instance of the same class back (not a string to match), and each carries the
HTTP status the gateway answers with, so the gateway needs a single mapping rule.

Hierarchy::

    HelpdeskError                 500 (never raised directly)
    ├── BadRequest                400
    ├── Unauthenticated           401
    ├── Forbidden                 403
    │   └── SeatRequired          403  (problem type ends in /seat-required)
    ├── NotFound                  404
    ├── Moved                     301  (the object now lives under another id)
    ├── Conflict                  409
    ├── PreconditionFailed        412  (stale version / If-Match)
    ├── ValidationFailed          422  (carries ``errors``: field -> messages)
    ├── ServiceUnavailable        503  (broker or a service cannot be reached)
    └── DeadlineExceeded          504  (an RPC ran out of time)
"""

from __future__ import annotations

import json
from typing import Any

from nameko.exceptions import registry as _nameko_registry


def _fields(extra: dict[str, Any] | str | None) -> dict[str, Any]:
    """Extra fields given as a dict, or as the JSON string they travel as."""
    if isinstance(extra, str):
        return dict(json.loads(extra))
    return dict(extra or {})


class HelpdeskError(Exception):
    """Base of all deliberate errors; ``status`` is the HTTP status it maps to."""

    status = 500
    title = "Internal error"

    def __init__(self, detail: str = "", extra: dict[str, Any] | str | None = None, **fields: Any) -> None:
        merged = {**_fields(extra), **fields}
        # nameko stringifies every scalar in exc_args, so the fields travel as one JSON string.
        super().__init__(detail, json.dumps(merged, default=str))
        self.detail = detail or self.title
        self.extra = merged

    def to_dict(self) -> dict[str, Any]:
        """Problem-details fields (RFC 9457) describing this error."""
        body: dict[str, Any] = {"title": self.title, "status": self.status, "detail": self.detail}
        body.update(self.extra)
        return body

    def __str__(self) -> str:
        return self.detail


class BadRequest(HelpdeskError):
    """The request is malformed in a way that is not about one field."""

    status = 400
    title = "Bad request"


class Unauthenticated(HelpdeskError):
    """No identity, or one that could not be verified."""

    status = 401
    title = "Unauthenticated"


class Forbidden(HelpdeskError):
    """The caller may see the object but may not do this to it."""

    status = 403
    title = "Forbidden"


class SeatRequired(Forbidden):
    """The feature needs a service seat (SPEC: custom views, SLAs, reply recommendations, split).

    Its own class, so a client can tell "ask an admin for a seat" from any other refusal:
    the gateway's problem type ends in ``/seat-required``.
    """

    title = "Seat required"


class NotFound(HelpdeskError):
    """The object does not exist, or the caller may not know that it does."""

    status = 404
    title = "Not found"


class Moved(HelpdeskError):
    """The object was absorbed into another; ``location_id`` names it."""

    status = 301
    title = "Moved permanently"


class Conflict(HelpdeskError):
    """The request conflicts with the object's state (e.g. a reused idempotency key)."""

    status = 409
    title = "Conflict"


class PreconditionFailed(HelpdeskError):
    """The caller's version of the object is stale."""

    status = 412
    title = "Precondition failed"


class ValidationFailed(HelpdeskError):
    """Input failed validation; ``errors`` maps field names to messages."""

    status = 422
    title = "Validation failed"

    def __init__(self, detail: str = "", extra: dict[str, Any] | str | None = None, **fields: Any) -> None:
        merged = {"errors": {}, **_fields(extra), **fields}
        super().__init__(detail or "The request body is not valid.", merged)

    @property
    def errors(self) -> dict[str, Any]:
        return self.extra["errors"]


class ServiceUnavailable(HelpdeskError):
    """A dependency (broker or service) cannot be reached right now."""

    status = 503
    title = "Service unavailable"


class DeadlineExceeded(HelpdeskError):
    """The call's deadline passed before an answer; an expired request is never executed."""

    status = 504
    title = "Deadline exceeded"


WIRE_ERRORS: tuple[type[HelpdeskError], ...] = (
    HelpdeskError,
    BadRequest,
    Unauthenticated,
    Forbidden,
    SeatRequired,
    NotFound,
    Moved,
    Conflict,
    PreconditionFailed,
    ValidationFailed,
    ServiceUnavailable,
    DeadlineExceeded,
)


def _wire_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__name__}"


def register_wire_error(cls: type[HelpdeskError]) -> type[HelpdeskError]:
    """Let nameko rebuild ``cls`` on the calling side of an RPC (usable as a decorator)."""
    _nameko_registry[_wire_path(cls)] = cls
    return cls


for _cls in WIRE_ERRORS:
    register_wire_error(_cls)
