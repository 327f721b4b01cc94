"""streams.runtime.caught_up_partitions: which raw partitions may idle-close windows."""

from __future__ import annotations

from streams.runtime import caught_up_partitions

RAW = "raw-t"


def test_no_high_watermark_yet_is_not_caught_up() -> None:
    positions = {(RAW, 0): (None, None), (RAW, 1): (None, 50)}
    processed = {(RAW, 0): 10, (RAW, 1): 60}
    assert caught_up_partitions(positions, processed, RAW) == set()


def test_processed_at_or_past_the_high_watermark_is_caught_up() -> None:
    hw = {0: 100, 1: 100, 2: 100, 3: 0}
    nxt = {0: 99, 1: 100, 2: 101, 3: 0}
    positions = {(RAW, p): (h, None) for p, h in hw.items()}
    processed = {(RAW, p): n for p, n in nxt.items()}
    expected = {p for p in hw if nxt[p] >= hw[p]}
    assert expected == {1, 2, 3}  # the oracle itself is not vacuous
    assert caught_up_partitions(positions, processed, RAW) == expected


def test_nothing_processed_since_the_assignment_uses_the_committed_offset() -> None:
    # (high watermark, committed): nothing processed on any of these partitions
    positions = {(RAW, 0): (40, 40),    # committed at the end: caught up
                 (RAW, 1): (40, 39),    # one record left
                 (RAW, 2): (0, None),   # empty partition, never committed
                 (RAW, 3): (5, None)}   # records, never committed: starts at 0
    expected = {p for (_, p), (hw, committed) in positions.items() if (committed or 0) >= hw}
    assert caught_up_partitions(positions, {}, RAW) == expected == {0, 2}
    # a processed position wins over the committed offset
    assert caught_up_partitions(positions, {(RAW, 1): 40, (RAW, 0): 39}, RAW) == {1, 2}


def test_other_topics_are_ignored() -> None:
    positions = {(RAW, 0): (10, None), ("ain-t", 0): (3, 3), ("stations-t", 0): (0, None),
                 (RAW + "-other", 1): (1, 1)}
    processed = {(RAW, 0): 10, ("ain-t", 0): 3, (RAW + "-other", 1): 1}
    assert caught_up_partitions(positions, processed, RAW) == {0}
    assert caught_up_partitions(positions, processed, "ain-t") == {0}
    # a processed position of another topic is not this topic's
    assert caught_up_partitions({(RAW, 0): (10, None)}, {("ain-t", 0): 10}, RAW) == set()
