"""A call id that follows a request through the gateway, RPCs and events: W3C trace context.

Every unit of work (an HTTP request, an RPC, an event handled, a timer run) is a *span* with a
:class:`Span`: the trace id it shares with everything the request caused, its own span id and
its parent's. The current one lives in a context variable (each green thread has its own), so
log records (:mod:`services.chassis.logs`), outgoing RPCs (:mod:`services.chassis.rpc`) and
outbox rows (:mod:`services.chassis.outbox`) pick it up without being handed it.

On the wire it is the W3C ``traceparent`` header, ``00-<trace id>-<parent span id>-<flags>``:
in HTTP, in an RPC's AMQP headers (``nameko.traceparent``, which nameko turns into the callee's
worker context) and in an event's AMQP headers (``traceparent`` and ``nameko.traceparent``).
An event relayed from the outbox carries the trace of the request that recorded it.

Spans are exported (OTLP over HTTP, JSON encoding) only when ``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set: see :class:`OtlpExporter`. Without it, tracing
costs a few microseconds per call and sends nothing anywhere.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

TRACEPARENT = "traceparent"
"""The W3C header, and the worker-context key under which nameko carries it (``nameko.traceparent``)."""

_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_INVALID_TRACE = "0" * 32
_INVALID_SPAN = "0" * 16


def _random_hex(nbytes: int) -> str:
    return os.urandom(nbytes).hex()


@dataclass
class Span:
    """One unit of work of a trace; ``parent_id`` is empty for the first of its trace."""

    trace_id: str
    span_id: str
    parent_id: str = ""
    sampled: bool = True
    name: str = ""
    kind: str = "internal"
    started: float = field(default_factory=time.time)
    attributes: dict[str, Any] = field(default_factory=dict)

    def traceparent(self) -> str:
        """The header a call made from this span carries (this span is the callee's parent)."""
        return f"00-{self.trace_id}-{self.span_id}-{'01' if self.sampled else '00'}"


def parse(value: Any) -> tuple[str, str, bool] | None:
    """``(trace id, parent span id, sampled)`` of a ``traceparent`` value, or None when it is not one.

    Version ``ff`` and all-zero ids are invalid (the W3C rules); a later version is read as far as
    version 00 goes."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str) or len(value) < 55:
        return None
    match = _TRACEPARENT.match(value.strip().lower())
    if match is None:
        return None
    version, trace_id, parent_id, flags = match.groups()
    if version == "ff" or trace_id == _INVALID_TRACE or parent_id == _INVALID_SPAN:
        return None
    if version == "00" and len(value.strip()) != 55:
        return None
    return trace_id, parent_id, bool(int(flags, 16) & 1)


def start(incoming: Any = None, *, name: str = "", kind: str = "internal") -> Span:
    """A new span: a child of ``incoming`` (a ``traceparent`` value) when it is valid, else the first
    of a new trace."""
    parsed = parse(incoming)
    if parsed is None:
        return Span(_random_hex(16), _random_hex(8), name=name, kind=kind)
    trace_id, parent_id, sampled = parsed
    return Span(trace_id, _random_hex(8), parent_id, sampled, name=name, kind=kind)


_current: contextvars.ContextVar[Span | None] = contextvars.ContextVar("helpdesk_span", default=None)


def current() -> Span | None:
    """The span of the work this green thread is doing, if any."""
    return _current.get()


def current_traceparent() -> str | None:
    span = _current.get()
    return span.traceparent() if span is not None else None


def activate(span: Span | None) -> contextvars.Token[Span | None]:
    return _current.set(span)


def deactivate(token: contextvars.Token[Span | None]) -> None:
    try:
        _current.reset(token)
    except ValueError:  # set in another context (a worker torn down elsewhere): just clear ours
        _current.set(None)


# -- export -------------------------------------------------------------------------------------

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
BATCH_SIZE = 256
FLUSH_SECONDS = 2.0
MAX_QUEUED = 4096
_KINDS = {"internal": 1, "server": 2, "client": 3, "producer": 4, "consumer": 5}


def traces_url(environ: Mapping[str, str] = os.environ) -> str | None:
    """Where spans go: ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` as it is, else
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` + ``/v1/traces``; None (no export) when neither is set."""
    if url := environ.get(ENDPOINT_VARIABLES[0]):
        return url
    if base := environ.get(ENDPOINT_VARIABLES[1]):
        return base.rstrip("/") + "/v1/traces"
    return None


class OtlpExporter:
    """Sends finished spans to an OpenTelemetry collector: OTLP/HTTP with the JSON encoding.

    Spans are queued in memory (at most :data:`MAX_QUEUED`; beyond that they are dropped and
    counted) and sent in batches by :meth:`flush`, which the caller runs from a background green
    thread every :data:`FLUSH_SECONDS`. A collector that is down costs one warning per minute and
    never blocks a request. We speak the wire format ourselves rather than pull in the
    OpenTelemetry SDK and its protobuf stack for one POST.
    """

    def __init__(self, url: str, service: str, timeout: float = 5.0) -> None:
        self.url = url
        self.service = service
        self.timeout = timeout
        self.queue: list[Span] = []
        self.dropped = 0
        self._warned = 0.0

    def add(self, span: Span, *, ended: float, error: str | None) -> None:
        if not span.sampled:
            return
        if len(self.queue) >= MAX_QUEUED:
            self.dropped += 1
            return
        span.attributes["_ended"] = ended
        if error is not None:
            span.attributes["_error"] = error
        self.queue.append(span)

    def body(self, spans: list[Span]) -> dict[str, Any]:
        return {
            "resourceSpans": [
                {
                    "resource": {"attributes": [_attribute("service.name", self.service)]},
                    "scopeSpans": [{"scope": {"name": "helpdesk"}, "spans": [_otlp(s) for s in spans]}],
                }
            ]
        }

    def flush(self) -> int:
        """Send everything queued; returns how many spans went out (0 when the collector failed)."""
        sent = 0
        while self.queue:
            batch, self.queue = self.queue[:BATCH_SIZE], self.queue[BATCH_SIZE:]
            data = json.dumps(self.body(batch)).encode()
            request = urllib.request.Request(
                self.url, data=data, headers={"Content-Type": "application/json"}, method="POST"
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                    answer.read()
            except Exception as exc:  # the collector's trouble must never become ours
                if time.monotonic() - self._warned > 60:
                    self._warned = time.monotonic()
                    log.warning("could not export %d spans to %s: %s", len(batch), self.url, exc)
                return sent
            sent += len(batch)
        return sent


process_exporter: OtlpExporter | None = None
"""The exporter of this process's service (set by its ``Telemetry``), for spans that are not a
worker's: the gateway's HTTP request spans."""


def finish(span: Span, error: str | None = None) -> None:
    """Hand a span that is not a worker's to the process's exporter, if there is one."""
    if process_exporter is not None:
        process_exporter.add(span, ended=time.time(), error=error)


def _attribute(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    return {"key": key, "value": {"stringValue": str(value)}}


def _otlp(span: Span) -> dict[str, Any]:
    attributes = dict(span.attributes)
    ended = attributes.pop("_ended", span.started)
    error = attributes.pop("_error", None)
    return {
        "traceId": span.trace_id,
        "spanId": span.span_id,
        "parentSpanId": span.parent_id,
        "name": span.name or "work",
        "kind": _KINDS.get(span.kind, 1),
        "startTimeUnixNano": str(int(span.started * 1e9)),
        "endTimeUnixNano": str(int(ended * 1e9)),
        "attributes": [_attribute(k, v) for k, v in attributes.items()],
        "status": {"code": 2, "message": error} if error else {"code": 1},
    }
