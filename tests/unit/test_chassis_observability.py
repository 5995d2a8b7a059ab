"""The metrics and tracing primitives: traceparent parsing, spans, log formats, scrape-time probes,
the metrics server's address setting and the OTLP exporter."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from services.chassis import metrics, tracing
from services.chassis.errors import Forbidden, NotFound, ServiceUnavailable
from services.chassis.logs import JsonFormatter, PlainFormatter

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (f"00-{TRACE}-{PARENT}-01", (TRACE, PARENT, True)),
        (f"00-{TRACE}-{PARENT}-00", (TRACE, PARENT, False)),
        (f"00-{TRACE.upper()}-{PARENT}-01".encode(), (TRACE, PARENT, True)),
        (f"01-{TRACE}-{PARENT}-01-future-part", (TRACE, PARENT, True)),  # a later version, read as 00
        (f"00-{TRACE}-{PARENT}-01-extra", None),  # version 00 has nothing after the flags
        (f"ff-{TRACE}-{PARENT}-01", None),
        (f"00-{'0' * 32}-{PARENT}-01", None),
        (f"00-{TRACE}-{'0' * 16}-01", None),
        (f"00-{TRACE[:-1]}x-{PARENT}-01", None),
        ("", None),
        (None, None),
        (42, None),
    ],
)
def test_traceparent_is_parsed_by_the_w3c_rules(value: Any, expected: Any) -> None:
    assert tracing.parse(value) == expected


def test_a_span_continues_a_valid_trace_and_starts_a_new_one_otherwise() -> None:
    child = tracing.start(f"00-{TRACE}-{PARENT}-01", name="x", kind="server")
    assert (child.trace_id, child.parent_id) == (TRACE, PARENT)
    assert len(child.span_id) == 16 and child.span_id != PARENT
    assert child.traceparent() == f"00-{TRACE}-{child.span_id}-01"
    fresh = tracing.start("garbage")
    assert fresh.parent_id == "" and len(fresh.trace_id) == 32 and fresh.trace_id != TRACE
    assert tracing.start(f"00-{TRACE}-{PARENT}-00").traceparent().endswith("-00")  # not sampled stays so


def test_the_current_span_is_set_and_reset() -> None:
    assert tracing.current() is None and tracing.current_traceparent() is None
    span = tracing.start()
    token = tracing.activate(span)
    assert tracing.current() is span and tracing.current_traceparent() == span.traceparent()
    tracing.deactivate(token)
    assert tracing.current() is None


def _record(message: str = "hello %s", exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("boom")
        except ValueError:
            import sys

            exc_info = sys.exc_info()
    record = logging.LogRecord("some.logger", logging.INFO, __file__, 1, message, ("world",), exc_info)
    record.ticket_id = 7
    return record


def test_json_logs_are_one_object_per_line_with_the_trace_and_extras() -> None:
    formatter = JsonFormatter(service="tickets")
    plain = json.loads(formatter.format(_record()))
    assert plain["message"] == "hello world" and plain["service"] == "tickets"
    assert plain["level"] == "INFO" and plain["logger"] == "some.logger" and plain["ticket_id"] == 7
    assert "trace_id" not in plain
    span = tracing.start(f"00-{TRACE}-{PARENT}-01")
    token = tracing.activate(span)
    try:
        text = formatter.format(_record(exc=True))
    finally:
        tracing.deactivate(token)
    assert "\n" not in text
    entry = json.loads(text)
    assert entry["trace_id"] == TRACE and entry["span_id"] == span.span_id
    assert "ValueError: boom" in entry["exception"]


def test_plain_logs_name_the_trace_on_their_first_line_only_while_a_span_is_active() -> None:
    formatter = PlainFormatter("%(levelname)s %(name)s: %(message)s")
    assert formatter.format(_record()) == "INFO some.logger: hello world"
    token = tracing.activate(tracing.start(f"00-{TRACE}-{PARENT}-01"))
    try:
        lines = formatter.format(_record(exc=True)).splitlines()
    finally:
        tracing.deactivate(token)
    assert lines[0] == f"INFO some.logger: hello world trace={TRACE}"
    assert lines[-1] == "ValueError: boom"


@pytest.mark.parametrize("make", [lambda: PlainFormatter("%(message)s"), lambda: JsonFormatter()])
def test_making_one_of_our_formatters_stops_records_computing_fields_it_never_shows(
    make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, default in (("_srcfile", logging.__file__), ("logThreads", True), ("logProcesses", True)):
        monkeypatch.setattr(logging, name, default)  # as a fresh process has them; restored after
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    handler = Keep()
    logger = logging.getLogger("lean.records")
    logger.addHandler(handler)
    try:
        logger.warning("before")
        make()
        logger.warning("after")
    finally:
        logger.removeHandler(handler)
    before, after = seen
    assert (
        before.funcName == "test_making_one_of_our_formatters_stops_records_computing_fields_it_never_shows"
    )
    assert before.threadName is not None and before.process is not None
    assert (after.funcName, after.threadName, after.process) == ("(unknown function)", None, None)
    assert after.getMessage() == "after" and after.levelname == "WARNING"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1:9102", ("127.0.0.1", 9102)),
        ("0.0.0.0:9101", ("0.0.0.0", 9101)),
        ("9105", ("127.0.0.1", 9105)),
        ("0", None),
        ("", None),
        (None, None),
        ("127.0.0.1:0", None),
    ],
)
def test_the_metrics_bind_setting(value: Any, expected: Any) -> None:
    assert metrics.parse_bind(value) == expected


def test_outcomes_tell_a_callers_mistake_from_a_fault() -> None:
    assert metrics.outcome_of(None) == "ok"
    assert metrics.outcome_of(NotFound("x")) == "client_error"
    assert metrics.outcome_of(Forbidden("x")) == "client_error"
    assert metrics.outcome_of(ServiceUnavailable("x")) == "error"
    assert metrics.outcome_of(RuntimeError("x")) == "error"


def test_probes_are_read_at_scrape_time_merged_by_name_and_a_failing_one_is_skipped() -> None:
    probes = metrics._Probes()
    registry = CollectorRegistry()
    registry.register(probes)
    backlog = {"a": 3}

    def first() -> Iterator[Any]:
        yield metrics.gauge("helpdesk_outbox_backlog", "Backlog.", {"service": "a"}, backlog["a"])

    def second() -> Iterator[Any]:
        yield metrics.gauge("helpdesk_outbox_backlog", "Backlog.", {"service": "b"}, 5)

    def broken() -> Iterator[Any]:
        raise RuntimeError("database away")

    probes.probes.update({1: first, 2: broken, 3: second})
    assert registry.get_sample_value("helpdesk_outbox_backlog", {"service": "a"}) == 3
    backlog["a"] = 4
    text = generate_latest(registry).decode()
    assert text.count("# TYPE helpdesk_outbox_backlog gauge") == 1
    assert 'helpdesk_outbox_backlog{service="a"} 4.0' in text
    assert 'helpdesk_outbox_backlog{service="b"} 5.0' in text


def test_counters_and_histograms_are_registered_once_in_the_process_registry() -> None:
    text = metrics.exposition()[0].decode()
    for name in (
        "helpdesk_worker_calls",
        "helpdesk_worker_seconds",
        "helpdesk_rpc_client_calls",
        "helpdesk_rpc_client_seconds",
        "helpdesk_events_published",
        "helpdesk_event_retries",
        "helpdesk_events_dead_lettered",
        "helpdesk_mail_attempts",
        "helpdesk_http_requests",
        "helpdesk_http_request_seconds",
    ):
        assert f"# HELP {name}" in text
    assert metrics.exposition()[1].startswith("text/plain; version=0.0.4")


def test_spans_are_exported_only_where_an_endpoint_is_configured() -> None:
    assert tracing.traces_url({}) is None
    assert tracing.traces_url({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/"}) == "http://c:4318/v1/traces"
    assert (
        tracing.traces_url(
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t/x",
            }
        )
        == "http://t/x"
    )


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, str, dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Collector.received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        pass


def test_the_otlp_exporter_posts_finished_spans_as_otlp_json() -> None:
    _Collector.received.clear()
    server = HTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1/traces"
        exporter = tracing.OtlpExporter(url, "tickets")
        ok = tracing.start(f"00-{TRACE}-{PARENT}-01", name="tickets.get_ticket", kind="server")
        failed = tracing.start(name="tickets.tick")
        unsampled = tracing.start(f"00-{TRACE}-{PARENT}-00")
        exporter.add(ok, ended=ok.started + 0.01, error=None)
        exporter.add(failed, ended=failed.started + 0.02, error="RuntimeError('x')")
        exporter.add(unsampled, ended=unsampled.started, error=None)
        assert exporter.flush() == 2 and exporter.queue == []
    finally:
        server.shutdown()
        server.server_close()
    [(path, content_type, body)] = _Collector.received
    assert path == "/v1/traces" and content_type == "application/json"
    resource = body["resourceSpans"][0]
    assert resource["resource"]["attributes"] == [
        {"key": "service.name", "value": {"stringValue": "tickets"}}
    ]
    first, second = resource["scopeSpans"][0]["spans"]
    assert (first["traceId"], first["parentSpanId"], first["name"], first["kind"]) == (
        TRACE,
        PARENT,
        "tickets.get_ticket",
        2,
    )
    assert int(first["endTimeUnixNano"]) > int(first["startTimeUnixNano"])
    assert first["status"] == {"code": 1}
    assert second["status"] == {"code": 2, "message": "RuntimeError('x')"} and second["parentSpanId"] == ""


def test_an_unreachable_collector_costs_a_warning_and_keeps_nothing_blocked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    exporter = tracing.OtlpExporter("http://127.0.0.1:9/v1/traces", "tickets", timeout=1.0)
    exporter.add(tracing.start(), ended=0.0, error=None)
    with caplog.at_level(logging.WARNING):
        assert exporter.flush() == 0
    assert "could not export 1 spans" in caplog.text


class _Consumer:
    def __init__(self, consuming: bool) -> None:
        self.consuming = consuming


@pytest.mark.parametrize(
    ("consumers", "status"),
    [([], "200 OK"), ([True], "200 OK"), ([True, False], "503 Service Unavailable")],
)
def test_a_services_readiness_is_whether_its_broker_connections_consume(
    consumers: list[bool], status: str
) -> None:
    server = metrics.MetricsServer()
    server.container = type("Container", (), {"extensions": [_Consumer(c) for c in consumers]})()
    answers: list[str] = []
    server.app({"PATH_INFO": "/readyz"}, lambda got, headers: answers.append(got))
    server.app({"PATH_INFO": "/nothing"}, lambda got, headers: answers.append(got))
    assert answers == [status, "404 Not Found"]
