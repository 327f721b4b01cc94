"""The pure batcher: when a buffer is due, how it is cut, and which submissions each batch holds."""

from __future__ import annotations

from sinks.base import Row
from sinks.batcher import Batcher, estimate_bytes, split_pieces


def rows(start: int, n: int) -> list[Row]:
    return [(i, f"row-{i}") for i in range(start, start + n)]


def test_a_buffer_is_due_by_rows_then_bytes() -> None:
    b = Batcher(max_rows=10, max_bytes=1000)
    assert b.add("events", 0, rows(0, 4), now=0.0) is None
    assert b.add("events", 1, rows(4, 6), now=0.0) == "rows"
    big = Batcher(max_rows=1000, max_bytes=1000)
    assert big.add("events", 0, [(1, "x" * 400)], now=0.0) is None
    assert big.add("events", 1, [(2, "x" * 700)], now=0.0) == "bytes"


def test_empty_rows_buffer_nothing() -> None:
    b = Batcher(max_rows=10, max_bytes=1000)
    assert b.add("events", 0, [], now=0.0) is None
    assert b.tables() == []
    assert b.take("events", "flush") == []


def test_rows_cuts_whole_batches_and_keeps_the_tail() -> None:
    b = Batcher(max_rows=10, max_bytes=10**9)
    b.add("events", 0, rows(0, 25), now=0.0)
    batches = b.take("events", "rows")
    assert [len(x.rows) for x in batches] == [10, 10]
    assert [x.reason for x in batches] == ["rows", "rows"]
    assert b.buffered_rows("events") == 5
    (tail,) = b.take("events", "flush")
    assert [r[0] for r in tail.rows] == list(range(20, 25))
    assert b.tables() == []


def test_rows_with_less_than_a_batch_cuts_nothing() -> None:
    b = Batcher(max_rows=10, max_bytes=10**9)
    b.add("events", 0, rows(0, 9), now=0.0)
    assert b.take("events", "rows") == []
    assert b.buffered_rows("events") == 9


def test_pieces_say_which_submission_each_row_came_from() -> None:
    b = Batcher(max_rows=10, max_bytes=10**9)
    b.add("events", 0, rows(0, 7), now=0.0)
    b.add("events", 1, rows(7, 8), now=0.0)  # straddles the first cut
    b.add("events", 2, rows(15, 3), now=0.0)
    first, second = b.take("events", "flush")
    assert first.pieces == [(0, 7), (1, 3)]
    assert second.pieces == [(1, 5), (2, 3)]
    assert first.rows + second.rows == rows(0, 18)


def test_a_submission_left_in_the_tail_keeps_its_remaining_piece() -> None:
    b = Batcher(max_rows=10, max_bytes=10**9)
    b.add("events", 0, rows(0, 6), now=0.0)
    b.add("events", 1, rows(6, 8), now=0.0)
    (full,) = b.take("events", "rows")
    assert full.pieces == [(0, 6), (1, 4)]
    (tail,) = b.take("events", "close")
    assert tail.pieces == [(1, 4)]
    assert tail.reason == "close"


def test_tables_are_buffered_apart() -> None:
    b = Batcher(max_rows=10, max_bytes=10**9)
    b.add("events", 0, rows(0, 3), now=0.0)
    b.add("dlq", 0, rows(0, 2), now=0.0)
    assert sorted(b.tables()) == ["dlq", "events"]
    (dlq,) = b.take("dlq", "flush")
    assert dlq.table == "dlq" and dlq.pieces == [(0, 2)]
    assert b.tables() == ["events"]


def test_due_by_age_counts_from_the_oldest_row_of_a_buffer() -> None:
    b = Batcher(max_rows=10, max_bytes=10**9)
    b.add("events", 0, rows(0, 1), now=100.0)
    b.add("events", 1, rows(1, 1), now=104.0)
    b.add("dlq", 1, rows(0, 1), now=104.0)
    assert b.due_by_age(104.9, max_age_s=5.0) == []
    assert b.due_by_age(105.0, max_age_s=5.0) == ["events"]
    b.take("events", "age")
    b.add("events", 2, rows(2, 1), now=106.0)  # an emptied buffer starts its age anew
    assert b.due_by_age(109.5, max_age_s=5.0) == ["dlq"]


def test_split_pieces_cuts_a_straddling_piece() -> None:
    assert split_pieces([(0, 3), (1, 4)], 5) == ([(0, 3), (1, 2)], [(1, 2)])
    assert split_pieces([(0, 3), (1, 4)], 3) == ([(0, 3)], [(1, 4)])
    assert split_pieces([(0, 3)], 0) == ([], [(0, 3)])


def test_estimate_bytes_grows_with_the_text() -> None:
    assert estimate_bytes([]) == 0
    small = estimate_bytes([(1, "ab")] * 100)
    large = estimate_bytes([(1, "ab" * 100)] * 100)
    assert small == 100 * (8 + 3)
    assert large == 100 * (8 + 201)
