"""A take is processed in slices bounded by record bytes, in order, none lost."""

from __future__ import annotations

import itertools
import random

from streams.backend import slices_by_bytes
from streams.ingest import RawRecord
from streams.stages.decode import SourcePos


def _records(sizes: list[int]) -> list[RawRecord]:
    return [RawRecord(b"x" * n if n >= 0 else None, SourcePos("t", 0, i))
            for i, n in enumerate(sizes)]


def test_slices_keep_order_and_every_record_and_respect_the_bound() -> None:
    rng = random.Random(7)
    sizes = [rng.choice([0, 10, 400, 5_000, 40_000, 200_000]) for _ in range(3_000)]
    recs = _records(sizes)
    limit = 1_000_000
    slices = slices_by_bytes(recs, limit)
    assert [r for s in slices for r in s] == recs
    for s in slices:
        total = sum(len(r.value or b"") for r in s)
        assert total <= limit or len(s) == 1
    # greedy: a slice is only cut when the next record would not fit
    for s, nxt in itertools.pairwise(slices):
        assert sum(len(r.value or b"") for r in s) + len(nxt[0].value or b"") > limit


def test_one_oversized_record_is_a_slice_of_its_own() -> None:
    recs = _records([10, 5_000, 10])
    assert [len(s) for s in slices_by_bytes(recs, 1_024)] == [1, 1, 1]


def test_small_takes_are_one_slice_and_null_values_count_zero() -> None:
    recs = _records([400] * 5_000 + [-1])
    assert [len(s) for s in slices_by_bytes(recs, 4 * 1024 * 1024)] == [5_001]
    assert slices_by_bytes([], 100) == []
