"""Exit codes scripts can trust, and the error that carries one.

| code | meaning |
| --- | --- |
| 0 | done |
| 1 | unexpected failure (a bug: the message says what) |
| 2 | wrong usage (unknown option, missing argument; Click's own code) |
| 3 | not signed in: no profile, or the token was refused (401) |
| 4 | not allowed (403) |
| 5 | not found (404) |
| 6 | conflict: stale version, reused idempotency key, state that forbids it (409, 412) |
| 7 | invalid input (400, 422) |
| 8 | the help desk cannot be reached or is unavailable (connection refused, 429, 5xx) |
| 9 | partly done: an import or bulk job finished with failed items (see its report) |
"""

from __future__ import annotations

OK = 0
FAILURE = 1
USAGE = 2
UNAUTHENTICATED = 3
FORBIDDEN = 4
NOT_FOUND = 5
CONFLICT = 6
INVALID = 7
UNAVAILABLE = 8
PARTIAL = 9

_BY_STATUS = {
    400: INVALID,
    401: UNAUTHENTICATED,
    403: FORBIDDEN,
    404: NOT_FOUND,
    409: CONFLICT,
    412: CONFLICT,
}


def exit_code_for(status: int) -> int:
    """The exit code for an HTTP error status."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status in (413, 415, 422):
        return INVALID
    if status == 429 or status >= 500:
        return UNAVAILABLE
    return FAILURE


class CliError(Exception):
    """A failure to report on stderr and exit with ``code``; ``body`` is the server's answer, if any."""

    def __init__(self, message: str, code: int = FAILURE, body: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.body = body
