"""What a service process's start-up made is never walked by the garbage collector again.

CPython's cyclic collector walks every object of the generation it collects, and its oldest
generation holds everything start-up made and keeps for the life of the process: modules,
classes, schemas, routes, compiled statements, configuration. Each full collection walked them
all again: 70-75 ms a collection in the gateway and the tickets service under the 10-client create
load of ``bench.creates``, a pause for every request in flight; frozen, 3-7 ms (the measures are
in ``bench/RESULTS.md``, stop 52).

:func:`settle_start_up` (once per process, when the service's extensions start, before any
entrypoint takes work) collects once and moves what survives into the permanent generation
(:func:`gc.freeze`), which no collection walks. Garbage made afterwards is collected as before.
The cost: a start-up object that later becomes part of a garbage cycle is never freed; start-up
objects live as long as the process, so in practice none does.
"""

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger(__name__)

_settled = False


def settle_start_up() -> int:
    """Collect, then freeze what survives; returns the number of objects frozen (0 when this
    process already did so: the first service of a process to start settles it for all)."""
    global _settled
    if _settled:
        return 0
    _settled = True
    began = time.perf_counter()
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.debug("froze %d start-up objects in %.1f ms", frozen, 1000 * (time.perf_counter() - began))
    return frozen
