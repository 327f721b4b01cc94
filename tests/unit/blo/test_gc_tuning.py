"""The worker's garbage-collector tuning: applied, and reversible for the test process."""

from __future__ import annotations

import gc
import weakref

from blo.worker import GC_THRESHOLD, tune_gc


class _Node:
    self: object


def test_tune_gc_freezes_the_heap_and_raises_the_threshold() -> None:
    before = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_threshold() == GC_THRESHOLD
        assert gc.get_freeze_count() > 1000  # modules, classes, ... moved out of reach
        # cycles created afterwards are still collected
        node = _Node()
        node.self = node
        ref = weakref.ref(node)
        del node
        gc.collect()
        assert ref() is None
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
