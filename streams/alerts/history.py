"""Historical input: what an import or a backfill brings, told from live input. Pure.

An input is **historical** when it was processed more than ``history_s`` after the time it
is about: an event processed (``ingested_at``) more than ``history_s`` after it occurred
(``occurred_at``), a window row emitted (``updated_at``) more than ``history_s`` after its
window ended. The judgement needs nothing but the two times every record already carries —
no marker on the event, no schema change — and it is the same however the input reached
the engine (live, re-read from the input topic, re-fed from ClickHouse), because the
processing time is the one recorded when the input was first processed.

What the engine does with historical input (docs/alerts.md, "Imports and backfills"):

* silence rules never count it: a post whose events are all historical is never "active";
* sequence-gap rules: a historical number never starts a station's count, and is ignored
  when it lies more than ``max_gap`` above it (an importer's coded numbers);
* paired rules ignore it;
* threshold and baseline rules ignore historical window rows unless the rule says
  ``judge_history: true``.
"""

from __future__ import annotations

DEFAULT_HISTORY_S = 86_400.0
"""The default horizon (``BLO_ALERTS_HISTORY_S``): one day."""


def is_historical(about_s: float, processed_s: float | None, history_s: float) -> bool:
    """Processed (``processed_s``) more than ``history_s`` after ``about_s`` (the event's
    time, or the window's end). ``processed_s`` None (a record from before processing
    times were sent): live."""
    return processed_s is not None and processed_s - about_s > history_s
