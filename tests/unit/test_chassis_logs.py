"""The batching console handler: lines wait a little and go out together, in order; a warning or a
full buffer writes at once; nothing waiting is lost at a normal shutdown. And nameko's timing of
a worker's stages costs nothing while DEBUG is off."""

from __future__ import annotations

import contextlib
import io
import logging
import time
from collections.abc import Iterator

import pytest

from services.chassis.logs import BatchingStreamHandler, skip_unlogged_worker_timing

Logged = tuple[logging.Logger, BatchingStreamHandler]


@pytest.fixture
def out() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def logger(out: io.StringIO) -> Iterator[Logged]:
    handler = BatchingStreamHandler(out, delay=0.2, max_bytes=200)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    log = logging.getLogger(f"test.batching.{id(out)}")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    yield log, handler
    log.removeHandler(handler)
    handler.close()


def test_info_lines_wait_then_go_out_together_in_order(logger: Logged, out: io.StringIO) -> None:
    log, _handler = logger
    log.info("one")
    log.info("two")
    assert out.getvalue() == ""
    deadline = time.monotonic() + 2.0
    while not out.getvalue() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert out.getvalue() == "INFO one\nINFO two\n"
    log.info("three")  # a second round: the flusher waits for new lines again
    deadline = time.monotonic() + 2.0
    while "three" not in out.getvalue() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert out.getvalue() == "INFO one\nINFO two\nINFO three\n"


def test_a_warning_writes_at_once_with_every_line_before_it(logger: Logged, out: io.StringIO) -> None:
    log, _handler = logger
    log.info("before")
    log.warning("trouble")
    assert out.getvalue() == "INFO before\nWARNING trouble\n"


def test_a_full_buffer_writes_at_once(logger: Logged, out: io.StringIO) -> None:
    log, _handler = logger
    for i in range(30):
        log.info("line %02d", i)
    written = out.getvalue().splitlines()
    assert len(written) == 16  # the first 200 bytes at 13 a line; the other 14 wait
    assert written == [f"INFO line {i:02d}" for i in range(len(written))]


def test_flush_and_close_write_what_waits(logger: Logged, out: io.StringIO) -> None:
    log, handler = logger
    log.info("last words")
    handler.flush()
    assert out.getvalue() == "INFO last words\n"
    log.info("after")
    handler.close()
    logging.shutdown([lambda: handler])  # what a normal exit runs
    assert out.getvalue().endswith("INFO after\n")


def test_nameko_times_a_workers_stages_only_while_debug_is_on(caplog: pytest.LogCaptureFixture) -> None:
    from nameko import containers

    skip_unlogged_worker_timing()
    skip_unlogged_worker_timing()  # twice: still one wrapper around nameko's own
    with caplog.at_level(logging.INFO, logger="nameko.containers"):
        timer = containers._log_time("ran worker %s", "w1")
        with timer:
            pass
    assert isinstance(timer, contextlib.nullcontext)
    assert not [r for r in caplog.records if r.name == "nameko.containers"]

    with caplog.at_level(logging.DEBUG, logger="nameko.containers"):
        with containers._log_time("ran worker %s", "w2"):
            pass
    [record] = [r for r in caplog.records if r.name == "nameko.containers"]
    assert record.getMessage().startswith("ran worker w2 in ")
