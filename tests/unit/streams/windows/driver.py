"""Drives a :class:`WindowState` the way the runtime does: add events, tick now and then."""

from __future__ import annotations

from collections.abc import Container, Iterable
from dataclasses import dataclass, field
from typing import Any

from streams.windows import WindowConfig, WindowState
from tests.unit.streams.windows.oracle import Ev

NOW0 = 1_900_000_000.0  # wall clock of the first tick (after every event time used here)


@dataclass
class Run:
    state: WindowState
    now: float = NOW0
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    late: list[tuple[Any, ...]] = field(default_factory=list)
    emitted: dict[str, int] = field(
        default_factory=lambda: {"provisional": 0, "final": 0, "corrected": 0})
    unwindowed: int = 0

    def add(self, events: Iterable[Ev], partition: int = 0) -> None:
        for e in events:
            self.state.add(e.row(), partition)

    def tick(self, advance_s: float = 1.0, caught_up: Container[int] = ()) -> list[tuple[Any, ...]]:
        self.now += advance_s
        em = self.state.tick(self.now, caught_up)
        self._collect(em)
        return em.rows

    def close_all(self) -> list[tuple[Any, ...]]:
        self.now += 1
        em = self.state.close_all(self.now)
        self._collect(em)
        return em.rows

    def _collect(self, em: Any) -> None:
        self.rows += em.rows
        self.late += em.late
        for k, v in em.emitted.items():
            self.emitted[k] += v
        self.unwindowed += em.unwindowed_reports


def run(events: Iterable[Ev], config: WindowConfig | None = None, *, per_tick: int = 50,
        advance_s: float = 1.0, close: bool = True) -> Run:
    """Add ``events`` in order, ticking every ``per_tick`` events (never caught up, so
    nothing closes by idleness); then close everything."""
    r = Run(WindowState(config))
    for i, e in enumerate(events, 1):
        r.state.add(e.row(), 0)
        if i % per_tick == 0:
            r.tick(advance_s)
    r.tick(advance_s)
    if close:
        r.close_all()
    return r
