"""The sink's buffers, pure: rows per table in, batches of at most ``max_rows`` out.

No I/O, no clock, no event loop: the caller passes the time, and :class:`Batcher` says when a
table's buffer is due (``"rows"``, ``"bytes"``, ``"age"``) and cuts it into
:class:`Batch`\\ es. Every row is tagged with the submission it came from, and a batch
carries its *pieces* — ``(submission, rows)`` for each submission it holds rows of — so the
durability tracker (``sinks.durability``) can tell when all of a submission's rows are
written, however its rows were spread over tables and batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sinks.base import Row

Piece = tuple[int, int]
"""``(submission seq, number of rows)``: a run of one submission's rows in a buffer or batch."""


def estimate_bytes(rows: Sequence[Row]) -> int:
    """Rough in-ClickHouse size of ``rows`` from a sample of at most 8 of them."""
    if not rows:
        return 0
    step = max(1, len(rows) // 8)
    sample = rows[::step][:8]
    total = 0
    for row in sample:
        for v in row:
            if isinstance(v, str | bytes):
                total += len(v) + 1
            elif isinstance(v, list | tuple):
                total += 8 + sum(len(x) if isinstance(x, str | bytes) else 8 for x in v)
            else:
                total += 8
    return total * len(rows) // len(sample)


def split_pieces(pieces: Sequence[Piece], n: int) -> tuple[list[Piece], list[Piece]]:
    """The pieces of the first ``n`` rows, and those of the rest (a piece that straddles the
    cut is split in two)."""
    head: list[Piece] = []
    rest = list(pieces)
    while n > 0:
        seq, k = rest[0]
        if k <= n:
            head.append(rest.pop(0))
            n -= k
        else:
            head.append((seq, n))
            rest[0] = (seq, k - n)
            n = 0
    return head, rest


@dataclass
class Batch:
    """One insert: rows of one table, and which submissions they belong to."""

    table: str
    rows: list[Row]
    pieces: list[Piece]
    reason: str  # why it was cut: rows, bytes, age, flush, close, …


@dataclass
class _Buffer:
    rows: list[Row] = field(default_factory=list)
    pieces: list[Piece] = field(default_factory=list)
    bytes: int = 0
    since: float = 0.0  # when the oldest row arrived (the caller's clock)


class Batcher:
    """Buffers per table; see the module docstring."""

    def __init__(self, max_rows: int, max_bytes: int) -> None:
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self._buffers: dict[str, _Buffer] = {}

    def tables(self) -> list[str]:
        """The tables with buffered rows."""
        return list(self._buffers)

    def buffered_rows(self, table: str) -> int:
        buf = self._buffers.get(table)
        return 0 if buf is None else len(buf.rows)

    def add(self, table: str, seq: int, rows: Sequence[Row], now: float) -> str | None:
        """Buffer submission ``seq``'s ``rows`` for ``table``; the reason the buffer is due
        now (``"rows"`` or ``"bytes"``), or ``None``."""
        if not rows:
            return None
        buf = self._buffers.setdefault(table, _Buffer())
        if not buf.rows:
            buf.since = now
        buf.rows.extend(rows)
        buf.pieces.append((seq, len(rows)))
        buf.bytes += estimate_bytes(rows)
        if len(buf.rows) >= self.max_rows:
            return "rows"
        if buf.bytes >= self.max_bytes:
            return "bytes"
        return None

    def due_by_age(self, now: float, max_age_s: float) -> list[str]:
        """The tables whose oldest buffered row is at least ``max_age_s`` old."""
        return [t for t, buf in self._buffers.items() if buf.rows and now - buf.since >= max_age_s]

    def take(self, table: str, reason: str) -> list[Batch]:
        """Cut the table's buffer into batches of at most ``max_rows``, in arrival order.
        For ``reason="rows"`` only whole batches are cut: a shorter tail stays buffered for
        the rows to come."""
        buf = self._buffers.get(table)
        if buf is None or not buf.rows:
            return []
        size = self.max_rows
        n = len(buf.rows) if reason != "rows" else len(buf.rows) // size * size
        if n == 0:
            return []
        rows = buf.rows[:n]
        pieces, rest = split_pieces(buf.pieces, n)
        if n == len(buf.rows):
            del self._buffers[table]
        else:
            buf.rows = buf.rows[n:]
            buf.pieces = rest
            buf.bytes = estimate_bytes(buf.rows)
        batches = []
        for start in range(0, n, size):
            chunk = rows[start : start + size]
            mine, pieces = split_pieces(pieces, len(chunk))
            batches.append(Batch(table, chunk, mine, reason))
        return batches
