"""The one table from errors to HTTP answers: RFC 9457 problem+json.

Every error the gateway returns goes through :func:`problem_response`, whether it
came from a service over RPC (a :class:`HelpdeskError` subclass carrying its own
status), from request parsing, or from an unexpected failure (500, no details).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from services.chassis.errors import HelpdeskError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://helpdesk.invalid/problems/"


def slug(title: str) -> str:
    return title.lower().replace(" ", "-")


def problem_response(status: int, title: str, detail: str, **extra: Any) -> Response:
    body = {"type": TYPE_BASE + slug(title), "title": title, "status": status, "detail": detail, **extra}
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="helpdesk"'
    return Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON, headers=headers)


def response_for_exception(exc: BaseException, request_id: str | None = None) -> Response:
    """Map any exception to a problem response; only a real fault answers 500, and only a real
    fault is logged here (ERROR, with the request id and the traceback)."""
    if isinstance(exc, HelpdeskError):
        extra = dict(exc.extra)
        response = problem_response(exc.status, exc.title, exc.detail, **extra)
        if exc.status == 301 and "location" in extra:
            response.headers["Location"] = extra["location"]
        if exc.status == 429 and "retry_after" in extra:
            response.headers["Retry-After"] = str(extra["retry_after"])
        return response
    if isinstance(exc, HTTPException):
        code = exc.code or 500
        return problem_response(code, exc.name, exc.description or exc.name)
    log.error(
        "unexpected error in request %s", request_id or "-", exc_info=(type(exc), exc, exc.__traceback__)
    )
    detail = "An unexpected error occurred; it has been logged"
    if request_id:
        detail += f" under request id {request_id}"
    return problem_response(500, "Internal error", detail + ".")
