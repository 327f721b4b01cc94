"""Dealing a worker's partitions between its ingest processes, and splitting a take."""

from __future__ import annotations

from streams.sharded_backend import deal, split_by_owner
from streams.stages.decode import RawRecord, SourcePos

RAW = "raw"


def tps(*parts: int) -> set[tuple[str, int]]:
    return {(RAW, p) for p in parts}


def test_partitions_are_dealt_evenly_in_order() -> None:
    owners = deal({}, tps(0, 1, 2, 3, 4), 2)
    assert owners == {(RAW, 0): 0, (RAW, 1): 1, (RAW, 2): 0, (RAW, 3): 1, (RAW, 4): 0}


def test_a_partition_kept_keeps_its_process_and_new_ones_fill_the_lighter() -> None:
    before = {(RAW, 0): 1, (RAW, 1): 1, (RAW, 2): 0}
    owners = deal(before, tps(0, 1, 5, 6), 2)  # 2 went elsewhere; 5 and 6 arrive
    assert owners[(RAW, 0)] == 1 and owners[(RAW, 1)] == 1
    assert owners[(RAW, 5)] == 0 and owners[(RAW, 6)] == 0
    assert (RAW, 2) not in owners


def test_more_processes_than_partitions_leaves_some_idle() -> None:
    owners = deal({}, tps(7), 3)
    assert owners == {(RAW, 7): 0}


def record(partition: int, offset: int) -> RawRecord:
    return RawRecord(b"{}", SourcePos(RAW, partition, offset))


def test_a_take_is_split_by_owner_in_order_and_unowned_records_left_out() -> None:
    owners = {(RAW, 0): 0, (RAW, 1): 1}
    take = [record(0, 10), record(1, 5), record(2, 1), record(0, 11), record(1, 6)]
    zero, one = split_by_owner(take, owners, 2)
    assert [(r.source.partition, r.source.offset) for r in zero] == [(0, 10), (0, 11)]
    assert [(r.source.partition, r.source.offset) for r in one] == [(1, 5), (1, 6)]
