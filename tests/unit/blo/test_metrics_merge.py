"""One /metrics page from two processes' registries (blo.metrics.merge_families via
Metrics.render): two real Metrics objects, recorded into, merged, parsed back with
prometheus_client's own parser. Every expectation is computed here from what was recorded."""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from blo.metrics import Metrics

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)  # blo_sink_flush_seconds


def _samples(text: str) -> tuple[dict[tuple[str, tuple[tuple[str, str], ...]], float],
                                 Counter[str]]:
    """(sample name, sorted labels) → value; and how often each family name appears."""
    values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    families: Counter[str] = Counter()
    for fam in text_string_to_metric_families(text):
        families[fam.name] += 1
        for s in fam.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            assert key not in values, f"sample {key} twice"
            values[key] = s.value
    return values, families


def _own(m: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in m.registry.collect() for s in fam.samples}


def _key(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted(labels.items()))


@dataclass
class Recorded:
    valid_f: dict[str, int] = field(default_factory=lambda: {"crossing": 3})
    valid_i: dict[str, int] = field(
        default_factory=lambda: {"crossing": 40, "liaison_message": 7})
    dead_i: dict[tuple[str, str], int] = field(
        default_factory=lambda: {("invalid", "crossing"): 2, ("not_json", ""): 1})
    rows_f: dict[str, int] = field(default_factory=lambda: {"alerts": 5, "stations": 16})
    rows_i: dict[str, int] = field(
        default_factory=lambda: {"events": 47, "dlq": 3, "alerts": 1})
    obs_f: list[float] = field(default_factory=lambda: [0.004, 0.03, 0.3, 1.7])
    obs_i: list[float] = field(
        default_factory=lambda: [0.002, 0.007, 0.03, 0.06, 0.2, 4.0, 12.0])


def _record() -> tuple[Metrics, Metrics, Recorded]:
    """The Faust process's registry (faust) and the ingest process's (ingest), as a
    separate-mode worker fills them; returns what was recorded, for the oracles."""
    faust, ingest = Metrics(), Metrics()
    rec = Recorded()
    # counters: some label values in both processes, some in one only
    for et, n in rec.valid_f.items():
        faust.events_valid.labels(et).inc(n)
    time.sleep(0.01)  # the ingest process's series are created later: *_created differ
    for et, n in rec.valid_i.items():
        ingest.events_valid.labels(et).inc(n)
    for (reason, et), n in rec.dead_i.items():
        ingest.events_dead_lettered.labels(reason, et).inc(n)
    for t, n in rec.rows_f.items():
        faust.rows_written.labels(t).inc(n)
    for t, n in rec.rows_i.items():
        ingest.rows_written.labels(t).inc(n)
    faust.pauses.inc(2)
    # a histogram observed in both, same label value
    for v in rec.obs_f:
        faust.flush_seconds.labels("events").observe(v)
    for v in rec.obs_i:
        ingest.flush_seconds.labels("events").observe(v)
    # gauges: set in one process only (the other holds its default 0) ...
    faust.alert_engine_caught_up.set(float("nan"))  # not the engine's worker
    ingest.events_held.set(9)
    ingest.consumer_lag.labels("raw", "0").set(120)
    ingest.consumer_lag.labels("raw", "1").set(4)
    faust.alert_rules.set(6)
    # ... a gauge meaningfully set in both (each has its own sink) ...
    faust.sink_buffered_rows.set(11)
    ingest.sink_buffered_rows.set(250)
    # ... and the same fact known in both
    faust.registry_stations.set(16)
    ingest.registry_stations.set(16)
    faust.sink_backpressured.set(0)
    ingest.sink_backpressured.set(1)
    return faust, ingest, rec


def test_merged_page_adds_counters_and_histograms_and_takes_the_max_of_shared_facts() -> None:
    faust, ingest, rec = _record()
    text = faust.render(list(ingest.registry.collect())).decode()
    got, families = _samples(text)

    # each family once, and every family of either registry present
    assert all(n == 1 for n in families.values()), [f for f, n in families.items() if n > 1]
    type_lines = Counter(line for line in text.splitlines() if line.startswith("# TYPE "))
    assert type_lines and all(n == 1 for n in type_lines.values())
    alone_f = _samples(faust.render().decode())[1]
    alone_i = _samples(ingest.render().decode())[1]
    assert set(families) == set(alone_f) | set(alone_i)

    # counters: summed per label set
    valid = Counter(rec.valid_f) + Counter(rec.valid_i)
    for et, n in valid.items():
        assert got[_key("blo_events_valid_total", event_type=et)] == n
    assert sum(v for (name, _), v in got.items() if name == "blo_events_valid_total") == sum(
        valid.values())
    for (reason, et), n in rec.dead_i.items():
        assert got[_key("blo_events_dead_lettered_total", reason=reason, event_type=et)] == n
    rows = Counter(rec.rows_f) + Counter(rec.rows_i)
    for t, n in rows.items():
        assert got[_key("blo_sink_rows_written_total", table=t)] == n
    assert got[_key("blo_consumer_pauses_total")] == 2

    # histogram: every cumulative bucket, count and sum are the two processes' together
    obs = rec.obs_f + rec.obs_i
    for le in BUCKETS:
        want = sum(1 for v in obs if v <= le)
        assert got[_key("blo_sink_flush_seconds_bucket", table="events", le=str(float(le)))] \
            == want, le
    assert got[_key("blo_sink_flush_seconds_bucket", table="events", le="+Inf")] == len(obs)
    assert got[_key("blo_sink_flush_seconds_count", table="events")] == len(obs)
    assert math.isclose(got[_key("blo_sink_flush_seconds_sum", table="events")], sum(obs))

    # gauges set in one process: that process's value (the other's 0 adds nothing) ...
    assert got[_key("blo_events_held")] == 9
    assert got[_key("blo_consumer_lag_records", topic="raw", partition="0")] == 120
    assert got[_key("blo_consumer_lag_records", topic="raw", partition="1")] == 4
    assert got[_key("blo_alert_rules")] == 6
    # ... NaN + 0 stays NaN ...
    assert math.isnan(got[_key("blo_alert_engine_caught_up")])
    # ... a gauge of two sinks: both buffers together ...
    assert got[_key("blo_sink_buffered_rows")] == 11 + 250
    # ... and a fact both processes know: once, not twice
    assert got[_key("blo_registry_stations")] == 16
    assert got[_key("blo_sink_backpressured")] == 1

    # *_created: the earlier of the two processes' creation times
    own_f, own_i = _own(faust), _own(ingest)
    created = [k for k in got if k[0].endswith("_created")]
    assert created
    for k in created:
        earliest = min(v for v in (own_f.get(k), own_i.get(k)) if v is not None)
        assert got[k] == earliest, k
    crossing_created = _key("blo_events_valid_created", event_type="crossing")
    assert own_f[crossing_created] < own_i[crossing_created]  # the test really differs
    assert got[crossing_created] == own_f[crossing_created]


def test_merging_is_symmetric_and_leaves_both_registries_unchanged() -> None:
    faust, ingest, _ = _record()
    before_f, before_i = _own(faust), _own(ingest)
    one, _ = _samples(faust.render(list(ingest.registry.collect())).decode())
    other, _ = _samples(ingest.render(list(faust.registry.collect())).decode())
    assert one.keys() == other.keys()
    for k, v in one.items():
        w = other[k]
        assert (math.isnan(v) and math.isnan(w)) or math.isclose(v, w), k
    for before, m in ((before_f, faust), (before_i, ingest)):
        after = _own(m)
        assert after.keys() == before.keys()
        assert all((math.isnan(v) and math.isnan(after[k])) or v == after[k]
                   for k, v in before.items())


def test_shared_facts_are_nan_safe_in_either_order() -> None:
    for first_nan in (True, False):
        a, b = Metrics(), Metrics()
        nan_side, value_side = (a, b) if first_nan else (b, a)
        nan_side.registry_stations.set(float("nan"))
        value_side.registry_stations.set(12)
        nan_side.sink_backpressured.set(float("nan"))
        value_side.sink_backpressured.set(1)
        got, _ = _samples(a.render(list(b.registry.collect())).decode())
        assert got[_key("blo_registry_stations")] == 12, first_nan
        assert got[_key("blo_sink_backpressured")] == 1, first_nan


def test_render_without_another_registry_is_this_process_alone() -> None:
    faust, _ingest, rec = _record()
    alone, _ = _samples(faust.render().decode())
    for et, n in rec.valid_f.items():
        assert alone[_key("blo_events_valid_total", event_type=et)] == n
    assert _key("blo_events_valid_total", event_type="liaison_message") not in alone
    assert math.isnan(alone[_key("blo_alert_engine_caught_up")])
