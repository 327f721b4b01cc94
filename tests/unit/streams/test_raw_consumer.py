"""streams.raw_consumer.OffsetBook: what the raw consumer may commit (commit after write)."""

from __future__ import annotations

import random

from blo.settings import KafkaSettings
from streams.raw_consumer import OffsetBook, raw_group_id

TP0 = ("raw", 0)
TP1 = ("raw", 1)


def test_nothing_is_committable_before_an_acknowledgement() -> None:
    book = OffsetBook()
    book.start(TP0, 10)
    book.fetched(TP0, [10, 11, 12])
    assert book.to_commit() == {}
    assert book.waiting(TP0) == 3


def test_in_order_acknowledgements_move_the_commit_one_past_the_last() -> None:
    book = OffsetBook()
    book.start(TP0, 10)
    book.fetched(TP0, [10, 11, 12])
    assert book.ack(TP0, 10) and book.ack(TP0, 11)
    assert book.to_commit() == {TP0: 12}
    book.committed({TP0: 12})
    assert book.committed_offset(TP0) == 12
    assert book.to_commit() == {}  # nothing new since
    assert book.ack(TP0, 12)
    assert book.to_commit() == {TP0: 13}


def test_an_unacknowledged_record_holds_its_partition_back_and_no_other() -> None:
    book = OffsetBook()
    book.start(TP0, 0)
    book.start(TP1, 0)
    book.fetched(TP0, [0, 1, 2, 3])
    book.fetched(TP1, [0, 1])
    for off in (1, 2, 3):  # 0 is held (e.g. waiting for its station)
        assert book.ack(TP0, off)
    assert book.ack(TP1, 0) and book.ack(TP1, 1)
    assert book.to_commit() == {TP1: 2}
    assert book.ack(TP0, 0)  # released: everything above it was done already
    assert book.to_commit() == {TP0: 4, TP1: 2}


def test_a_gap_in_the_offsets_does_not_hold_the_commit_back() -> None:
    """Compacted records and transaction markers leave holes no record will fill."""
    book = OffsetBook()
    book.start(TP0, 100)
    book.fetched(TP0, [100, 101, 105, 106])
    for off in (100, 101, 105, 106):
        book.ack(TP0, off)
    assert book.to_commit() == {TP0: 107}


def test_repeated_or_unknown_acknowledgements_change_nothing() -> None:
    book = OffsetBook()
    book.start(TP0, 0)
    book.fetched(TP0, [0, 1, 2])
    assert book.ack(TP0, 2)
    assert not book.ack(TP0, 2)  # twice
    assert book.ack(TP0, 0)
    assert not book.ack(TP0, 0)  # below what is committable now
    assert not book.ack(TP1, 0)  # a partition not ours
    assert book.to_commit() == {TP0: 1}


def test_a_revoked_partition_is_forgotten_and_its_late_acks_ignored() -> None:
    book = OffsetBook()
    book.start(TP0, 0)
    book.fetched(TP0, [0, 1])
    book.ack(TP0, 0)
    assert book.to_commit([TP0]) == {TP0: 1}
    book.forget([TP0])
    assert not book.ack(TP0, 1)
    assert book.to_commit() == {}
    assert book.partitions() == []
    book.start(TP0, 1)  # assigned again: from the committed offset, nothing carried over
    assert book.to_commit() == {} and book.waiting(TP0) == 0


def test_the_commit_is_always_the_first_unacknowledged_offset_on_random_orders() -> None:
    rng = random.Random(15)
    for _ in range(300):
        book = OffsetBook()
        start = rng.randrange(0, 50)
        offsets = sorted(rng.sample(range(start, start + 60), rng.randrange(1, 30)))
        book.start(TP0, start)
        cut = rng.randrange(0, len(offsets) + 1)
        book.fetched(TP0, offsets[:cut])
        book.fetched(TP0, offsets[cut:])  # two fetches
        acked = rng.sample(offsets, rng.randrange(0, len(offsets) + 1))
        for off in acked:
            book.ack(TP0, off)
        done = set(acked)
        expect = None
        for off in offsets:  # one past the longest acknowledged prefix of what was fetched
            if off not in done:
                break
            expect = off + 1
        assert book.to_commit().get(TP0) == expect
        assert book.waiting(TP0) == len(offsets) - sum(
            1 for o in offsets if expect is not None and o < expect)


def test_the_raw_group_is_named_after_the_workers_group() -> None:
    assert raw_group_id(KafkaSettings(group_id="blo-ingest")) == "blo-ingest.raw"
