"""Baseline history for the alert engine, read from ``window_stats`` ahead of need.

The engine asks its :data:`streams.alerts.BaselineProvider` synchronously, once per bucket,
while it judges window rows; the history lives in ClickHouse, which is read asynchronously
through the sink. So the runtime calls :meth:`BaselineHistory.prefetch` with a batch of
window rows *before* handing them to the engine: every (baseline rule, scope key, window
start) those rows can open is looked up in one query per rule and window start set, and
the provider then answers from memory.

A past week counts as 0 when the scope had any row of the rule's window kind then (it was
reporting, just not this statistic), and is left out when it had none (the post did not
exist yet, or the pipeline did not run): see :mod:`streams.alerts.baseline`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from sinks.base import Row
from sinks.read_model.windows import BASELINE_FILTER_COLUMNS, baseline_history
from sinks.tables import WINDOW_STATS
from streams.alerts import BaselineRule, RuleSet, history_starts
from streams.alerts.rows import epoch

Query = Callable[[str, Mapping[str, Any]], Awaitable[list[Row]]]

_KIND = WINDOW_STATS.index("window_kind")
_START = WINDOW_STATS.index("window_start")


def _filters(rule: BaselineRule) -> dict[str, Sequence[str]]:
    """The rule's filters that are set, by name (what it sums)."""
    out: dict[str, Sequence[str]] = {}
    for name in BASELINE_FILTER_COLUMNS:
        values = getattr(rule.filters, name, None)
        if values is not None:
            out[name] = tuple(values)
    return out


class BaselineHistory:
    """The runtime's baseline provider: ``history(rule, key, start)`` from a cache filled by
    :meth:`prefetch`. ``max_entries`` bounds the cache: past it, the cache is emptied before the next batch (and read
    again as needed)."""

    def __init__(self, query: Query, database: str, max_entries: int = 200_000) -> None:
        self.query = query
        self.database = database
        self.max_entries = max_entries
        # (rule id, scope key, window start) -> (value, reporting)
        self._weeks: dict[tuple[str, str, int], tuple[float, bool]] = {}
        self._asked: dict[str, set[int]] = {}  # rule id → week starts already read

    def __call__(self, rule: BaselineRule, key: str, window_start: int) -> Sequence[float]:
        out = []
        for start in history_starts(window_start, rule.weeks):
            value, reporting = self._weeks.get((rule.id, key, start), (0.0, False))
            if reporting:
                out.append(value)
        return out

    def forget(self) -> None:
        self._weeks.clear()
        self._asked.clear()

    async def prefetch(self, ruleset: RuleSet, rows: Iterable[Row]) -> int:
        """Read the history every baseline rule may ask about for ``rows``. Returns the
        number of queries run."""
        rules = [r for r in ruleset.rules if isinstance(r, BaselineRule)]
        if not rules:
            return 0
        if len(self._weeks) > self.max_entries:  # never during a batch: all or nothing
            self.forget()
        kinds = {r.window for r in rules}
        starts_by_kind: dict[str, set[int]] = {}
        for row in rows:
            if row[_KIND] in kinds:  # most rows are of other window kinds: no parsing
                starts_by_kind.setdefault(row[_KIND], set()).add(epoch(row[_START]))
        queries = 0
        for rule in rules:
            asked = self._asked.setdefault(rule.id, set())
            wanted = sorted({week for s in starts_by_kind.get(rule.window, ())
                             for week in history_starts(s, rule.weeks)} - asked)
            if not wanted:
                continue
            await self._read(rule, wanted)
            queries += 1
        return queries

    def week(self, rule: BaselineRule, key: str, window_start: int) -> tuple[float, bool]:
        """The value of ``rule``'s statistic for ``key`` in the window starting at
        ``window_start``, and whether the scope was reporting then (any row of the window
        kind), as read by :meth:`read` (``(0.0, False)`` when not read)."""
        return self._weeks.get((rule.id, key, window_start), (0.0, False))

    async def read(self, rule: BaselineRule, window_starts: Iterable[int]) -> None:
        """Read ``rule``'s values of every scope key for the windows starting at
        ``window_starts`` and at the history weeks of each (what :meth:`__call__` and
        :meth:`week` then answer): for a reader of the baseline outside the engine (the
        API's baseline bands)."""
        starts = set(window_starts)
        if not starts:
            return
        weeks = starts | {w for s in starts for w in history_starts(s, rule.weeks)}
        await self._read(rule, sorted(weeks))

    async def _read(self, rule: BaselineRule, weeks: list[int]) -> None:
        q = baseline_history(
            self.database, window_kind=rule.window, week_starts=weeks, scope=rule.scope,
            statistic=rule.statistic,
            aggregate="max" if rule.statistic == "seizure_kg_max" else "sum",
            filters=_filters(rule))
        for key, start, value, n in await self.query(*q):
            self._weeks[(rule.id, str(key), epoch(start))] = (float(value), int(n) > 0)
        self._asked.setdefault(rule.id, set()).update(weeks)
