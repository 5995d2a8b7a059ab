"""Log formats of every process: plain text (the default) or one JSON object per line.

Both name the trace of the work a record was written in (:mod:`services.chassis.tracing`), so
one request's lines can be found in the gateway's and every service's log. A service's
``config.yaml`` defines both formatters and picks one with ``HELPDESK_LOG_FORMAT`` (``plain`` or
``json``); the deployment files under ``deploy/`` ask for ``json``.

* :class:`PlainFormatter` - the usual ``time LEVEL logger: message`` line, with
  `` trace=<trace id>`` appended while a span is active.
* :class:`JsonFormatter` - ``{"time", "level", "logger", "message", "service", "trace_id",
  "span_id", "exception"?}``; extra fields a caller passes with ``extra=`` are kept when they
  are JSON values.

Neither shows a record's source location, thread or process, so making either switches their
computation off for the process (:func:`skip_unused_record_fields`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from services.chassis import tracing

_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def skip_unused_record_fields() -> None:
    """Stop ``logging`` computing, for every record, fields our formats never show: the calling
    frame's file, line and function, the thread's name and the process's (the logging HOWTO's
    "optimization" settings). Under eventlet ``threading.current_thread()`` alone is a good part of
    a record's cost; the gateway writes a record per request (a line went from ~29 to ~13 us of
    CPU). Called when one of our formatters is made, so it holds in every process that logs with
    them; the fields are then None in a record."""
    logging._srcfile = None  # the documented switch; there is no public setter
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


class PlainFormatter(logging.Formatter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        skip_unused_record_fields()

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        span = tracing.current()
        if span is None:
            return text
        first, newline, rest = text.partition("\n")
        return f"{first} trace={span.trace_id}{newline}{rest}"


class JsonFormatter(logging.Formatter):
    """One JSON object per record; ``service`` names the process (set in its logging config)."""

    def __init__(self, service: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.service = service
        skip_unused_record_fields()

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if self.service:
            entry["service"] = self.service
        span = tracing.current()
        if span is not None:
            entry["trace_id"] = span.trace_id
            entry["span_id"] = span.span_id
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in entry and isinstance(value, str | int | float | bool):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)
