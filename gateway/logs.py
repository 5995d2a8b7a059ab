"""What the gateway writes to its log, and what it keeps out of it.

* :func:`access_line` - one INFO line per request: request id, method, path (query secrets
  redacted), status, duration and client address. A client's mistake (any 4xx) is that line
  and nothing more; only a real fault adds an ERROR with a traceback (see
  :mod:`gateway.problems`).
* :func:`redact` - ``?token=``, ``access_token=`` and anything shaped like one of our API
  tokens (``hd_...``) never reach a log line, wherever they appear in a path or query.
* :class:`WorkerErrorFilter` - nameko logs every exception a worker raises, with a traceback;
  for the gateway's routes the gateway itself says what happened, so those records are
  dropped (the chassis's filter, which services use, turns a 4xx into one quiet line).
* :class:`Throttled` - a warning at most once a minute per key, counting what it held back, so
  a stream of bad tokens cannot fill the disk.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any
from urllib.parse import unquote

from services.chassis.rpc import ExpectedErrorFilter

access_log = logging.getLogger("gateway.access")

SECRET_PARAMS = frozenset({"token", "access_token", "api_key", "apikey", "password", "secret"})
"""Query parameters whose values are credentials, whatever they look like."""
_OUR_TOKEN = re.compile(r"hd_[A-Za-z0-9_\-%]{8,}")
REDACTED = "[redacted]"
MAX_LOGGED_TARGET = 512
_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")


def request_id(incoming: str | None) -> str:
    """The client's ``X-Request-Id`` when it is a sane one (up to 128 characters of
    ``A-Z a-z 0-9 . _ : -``), else a new random one: an id that is echoed into logs and
    headers must not carry line breaks or unbounded text."""
    if incoming and _REQUEST_ID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


def _printable(text: str) -> str:
    return "".join(ch if ch.isprintable() and ch != "\\" else f"\\x{ord(ch):02x}" for ch in text)


def redact(target: str) -> str:
    """``path?query`` with credentials replaced by ``[redacted]``, shortened and escaped for a log line."""
    path, sep, query = target.partition("?")
    if sep:
        parts = []
        for pair in query.split("&"):
            name, eq, _value = pair.partition("=")
            if eq and unquote(name).strip().lower() in SECRET_PARAMS:
                pair = f"{name}={REDACTED}"
            parts.append(pair)
        query = "&".join(parts)
    text = _OUR_TOKEN.sub("hd_" + REDACTED, path + sep + query)
    if len(text) > MAX_LOGGED_TARGET:
        text = text[:MAX_LOGGED_TARGET] + "..."
    return _printable(text)


def environ_target(environ: dict[str, Any]) -> str:
    """The request target as the client sent it (percent-encoding kept)."""
    path = environ.get("RAW_PATH_INFO") or environ.get("PATH_INFO") or "/"
    query = environ.get("QUERY_STRING")
    return f"{path}?{query}" if query else str(path)


def access_line(
    *, request_id: str, method: str, target: str, status: int, seconds: float, client: str
) -> None:
    """Log one request: INFO whatever the status (a 5xx's fault was logged where it happened)."""
    access_log.info(
        "%s %s %s -> %d in %.1f ms from %s",
        request_id,
        _printable(method[:16]),
        redact(target),
        status,
        seconds * 1000,
        client,
    )


class WorkerErrorFilter(ExpectedErrorFilter):
    """On ``nameko.containers``: drop worker-error records of gateway routes.

    The route answers the error itself, its access line says so, and an unexpected one is
    logged (with the request id and a traceback) by :func:`gateway.problems.response_for_exception`;
    nameko's own record would repeat it, with a traceback, for every 404. Records of other
    entrypoints get the chassis's treatment.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        from gateway.http import Route

        worker_ctx = record.args[0] if isinstance(record.args, tuple) and record.args else None
        if isinstance(getattr(worker_ctx, "entrypoint", None), Route):
            return False
        return super().filter(record)


def install_worker_filter() -> None:
    """Put :class:`WorkerErrorFilter` on nameko's container logger once per process."""
    logger = logging.getLogger("nameko.containers")
    if not any(isinstance(f, WorkerErrorFilter) for f in logger.filters):
        logger.addFilter(WorkerErrorFilter())


class Throttled:
    """Log a warning per key at most once per ``interval`` seconds; the next one says how many
    were held back. Keys are forgotten when they go quiet, so the table stays small."""

    def __init__(self, logger: logging.Logger, interval: float = 60.0, max_keys: int = 10_000) -> None:
        self.logger = logger
        self.interval = interval
        self.max_keys = max_keys
        self._last: dict[str, tuple[float, int]] = {}

    def warning(self, key: str, message: str, *args: Any) -> None:
        now = time.monotonic()
        last, held = self._last.get(key, (float("-inf"), 0))
        if now - last < self.interval:
            self._last[key] = (last, held + 1)
            return
        if len(self._last) >= self.max_keys:
            self._last = {k: v for k, v in self._last.items() if now - v[0] < self.interval}
        self._last[key] = (now, 0)
        if held:
            self.logger.warning(message + " (%d more like it in the last %.0f s)", *args, held, now - last)
        else:
            self.logger.warning(message, *args)
