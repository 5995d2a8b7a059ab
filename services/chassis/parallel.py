"""Independent calls made at once from one worker: :func:`together`, and :func:`ahead` for a call
whose answer the worker wants later, after work of its own.

A worker that needs answers from two services that do not depend on each other pays two round
trips one after the other when it asks in turn; asked together, it waits for the slower one only.
The promises:

* **Each call in its caller's context.** Every call runs in a green thread of its own with a copy
  of the caller's context variables: the current span, so its log lines name the request's trace
  and an RPC made with a client not bound to a worker (``BrokerLink.client``) carries it. A green
  thread spawned plainly starts with an empty context.
* **Nothing outlives the caller.** ``together`` returns or raises only once every call has ended,
  so no call keeps using a worker's dependencies after the worker is gone; a caller killed while
  it waits takes its calls with it. Each RPC has its deadline, so the wait is bounded by the
  slowest call's.
* **Results in order, the first failure raised.** It returns the calls' results in the order the
  calls were given; if any raised, it raises the exception of the first of those (in that order)
  once all have ended, and the other results are dropped.
* **Nothing spawned for one call.** A single call runs in the caller's own green thread.

:func:`ahead` keeps the first two promises for one call started before the caller's own work:
its block gets a function that waits for the call and returns its result or raises its exception
(in the caller's green thread, however many times it is asked); a call not waited for when the
block ends is killed there (the caller no longer wants it: it failed or needed no answer). Its
failure is never raised in the green thread itself, where the hub would print it as unhandled.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from typing import Any

import eventlet


def together(*calls: Callable[[], Any]) -> tuple[Any, ...]:
    """The results of ``calls``, made at once (see the module docstring)."""
    if len(calls) <= 1:
        return tuple(call() for call in calls)
    threads = [eventlet.spawn(contextvars.copy_context().run, _outcome, call) for call in calls]
    try:
        outcomes = [thread.wait() for thread in threads]
    except BaseException:  # the caller itself is being killed: so are its calls
        for thread in threads:
            thread.kill()
        raise
    for failed, value in outcomes:
        if failed:
            raise value
    return tuple(value for _failed, value in outcomes)


def _outcome(call: Callable[[], Any]) -> tuple[bool, Any]:
    """``(False, result)`` or ``(True, exception)``: a green thread's failure reaches the caller
    as a value, so that waiting for one thread never skips waiting for the rest."""
    try:
        return False, call()
    except Exception as exc:
        return True, exc


@contextlib.contextmanager
def ahead(call: Callable[[], Any]) -> Iterator[Callable[[], Any]]:
    """``call`` started now; the block gets its answer's wait (see the module docstring)."""
    thread = eventlet.spawn(contextvars.copy_context().run, _outcome, call)

    def answer() -> Any:
        failed, value = thread.wait()  # the same outcome each time it is asked
        if failed:
            raise value
        return value

    try:
        yield answer
    finally:
        thread.kill()  # nothing to do once the call has ended
