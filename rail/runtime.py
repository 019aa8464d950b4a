"""How a process that runs the rail tunes Python's garbage collector: the application's decision (`rail serve`,
`rail demo`, `rail load`, the benchmarks call these), never a side effect of opening a rail or running a load.

Python's default first-generation threshold (700 allocations) makes the collector rescan the rail's millions of
long-lived objects over and over: measured, half the in-process throughput. A larger threshold keeps collection
(still needed for the odd cycle) a small share of the work, and freezing what is built before the work starts
(recovered books, a load run's plan and banks) takes it out of every later scan.
"""

from __future__ import annotations

import gc

GC_GENERATION0_THRESHOLD = 50_000


def tune_gc_for_long_lived_state() -> None:
    """Raise the first-generation threshold and freeze what exists now (after a rail's recovery, say)."""
    gc.set_threshold(max(gc.get_threshold()[0], GC_GENERATION0_THRESHOLD), 20, 100)
    freeze_long_lived()


def freeze_long_lived() -> None:
    """Collect the garbage there is, then move every object alive now out of the collector's way."""
    gc.collect()  # garbage must not be frozen with what lives on
    gc.freeze()


def thaw() -> None:
    """Give frozen objects back to the collector (when what they belonged to is dropped)."""
    gc.unfreeze()
