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
* :class:`BatchingStreamHandler` - the console handler of a process that logs a line per
  request (the gateway): lines go out together, a few times a second, instead of one write each.

Neither shows a record's source location, thread or process, so making either switches their
computation off for the process (:func:`skip_unused_record_fields`), and nameko's DEBUG timing of
every worker's stages is only measured while DEBUG is on (:func:`skip_unlogged_worker_timing`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import threading
import time
from typing import Any, TextIO

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


def skip_unlogged_worker_timing() -> None:
    """nameko times four stages of every worker (set-up, the handler, the result, tear-down) with a
    context manager that reads the clock, formats a message and hands logging a DEBUG record
    whether DEBUG is on or not: ~2.8 us a stage, ~11 us a worker, in every service. Have it time
    only while DEBUG is enabled for nameko's container logger (asked at each use, so turning DEBUG
    on later still shows the lines). Idempotent."""
    from nameko import containers

    original = getattr(containers, "_helpdesk_original_log_time", None) or containers._log_time
    logger = containers._log

    def log_time(msg: str, *args: Any) -> Any:
        if logger.isEnabledFor(logging.DEBUG):
            return original(msg, *args)
        return contextlib.nullcontext()

    containers._helpdesk_original_log_time = original
    containers._log_time = log_time


class PlainFormatter(logging.Formatter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        skip_unused_record_fields()
        skip_unlogged_worker_timing()

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
        skip_unlogged_worker_timing()

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


class BatchingStreamHandler(logging.StreamHandler):
    """A console handler that writes its lines together: at most ``delay`` seconds after the first
    one waiting, at once when ``max_bytes`` wait, and at once with a record of ``flush_level`` or
    above (a warning or an error goes out with every line before it, in order).

    Why: one ``write`` per line is a system call, and a wake-up of whatever reads the pipe, per
    request; the gateway's access line was 5 % of its CPU per ticket create, nearly all in that
    write. The price: a process killed outright (SIGKILL, a power cut) loses the lines of its last
    ``delay`` seconds that carried nothing above INFO; an exit through ``logging.shutdown`` (any
    normal exit, SIGTERM under nameko) writes them. The flushing thread is a daemon started with the
    first line (a green thread in a monkey-patched process).
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        delay: float = 0.2,
        max_bytes: int = 64 * 1024,
        flush_level: int = logging.WARNING,
    ) -> None:
        super().__init__(stream)
        self.delay = delay
        self.max_bytes = max_bytes
        self.flush_level = flush_level
        self._waiting: list[str] = []
        self._size = 0
        self._pending = threading.Event()
        self._flusher: threading.Thread | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return
        # Handler.handle holds self.lock around emit
        self._waiting.append(line)
        self._size += len(line)
        if record.levelno >= self.flush_level or self._size >= self.max_bytes:
            self._write_waiting()
            return
        if len(self._waiting) == 1:
            self._pending.set()
        if self._flusher is None:
            self._flusher = threading.Thread(target=self._flush_loop, name="log-flush", daemon=True)
            self._flusher.start()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._write_waiting()

    def _write_waiting(self) -> None:
        if self._waiting:
            text = "".join(self._waiting)
            self._waiting.clear()
            self._size = 0
            try:
                self.stream.write(text)
            except Exception:  # a closed or broken console must not break the caller
                return
        super().flush()

    def _flush_loop(self) -> None:
        while True:
            self._pending.wait()
            time.sleep(self.delay)
            with self.lock:  # type: ignore[union-attr]
                self._pending.clear()
                self._write_waiting()
