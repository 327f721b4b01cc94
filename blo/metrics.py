"""Every Prometheus metric of the project, declared once, on one registry per process.

:class:`Metrics` is built (not imported as a global) and handed to the components that
record into it; ``/metrics`` on the worker exposes ``metrics.registry``. Label values are
bounded: event types, reason codes, table names, partitions and station ids (a registry of a
few hundred posts) — never event ids. A worker whose per-event work runs in a second
process (``BLO_INGEST_PROCESS=separate``) has one such registry in each; its ``/metrics``
page merges the two (:func:`merge_families`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import Metric


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        # ingest
        self.records_consumed = Counter(
            "blo_records_consumed_total", "Kafka records consumed", ["topic"], registry=r
        )
        self.take_records = Histogram(
            "blo_ingest_take_records",
            "Raw records per take (adaptive: small when traffic is light, one take per "
            "insert live, up to BLO_BATCH_TAKE_MAX in a backlog)",
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000),
            registry=r,
        )
        self.events_consumed = Counter(
            "blo_events_consumed_total",
            "Events read from records (a batched record holds several)",
            ["topic"],
            registry=r,
        )
        self.events_valid = Counter(
            "blo_events_valid_total", "Events accepted", ["event_type"], registry=r
        )
        self.events_corrected = Counter(
            "blo_events_corrected_total",
            "Corrections of stored events accepted: a higher revision, or a void",
            ["kind"], registry=r,
        )
        self.events_superseded = Counter(
            "blo_events_superseded_total",
            "Revisions skipped because a higher revision of the event is stored",
            registry=r,
        )
        self.events_dead_lettered = Counter(
            "blo_events_dead_lettered_total",
            "Events or records sent to the DLQ, by primary reason",
            ["reason", "event_type"],
            registry=r,
        )
        self.events_held = Gauge(
            "blo_events_held", "Events held waiting for their station to be registered",
            registry=r,
        )
        self.station_freshness = Gauge(
            "blo_station_last_event_timestamp_seconds",
            "Event time (occurred_at) of the newest event seen per station",
            ["station_id"],
            registry=r,
        )
        self.registry_stations = Gauge(
            "blo_registry_stations", "Stations known to the registry", registry=r
        )
        # sinks
        self.rows_written = Counter(
            "blo_sink_rows_written_total", "Rows written to ClickHouse", ["table"], registry=r
        )
        self.flush_seconds = Histogram(
            "blo_sink_flush_seconds",
            "Duration of one flush (insert) to ClickHouse",
            ["table"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.flushes = Counter(
            "blo_sink_flushes_total", "Flushes by reason (rows, bytes, age, close)",
            ["table", "reason"], registry=r,
        )
        self.batches_in_flight = Gauge(
            "blo_sink_batches_in_flight", "Insert batches being written", registry=r
        )
        self.sink_retries = Counter(
            "blo_sink_retries_total", "Insert retries after a failure", ["table", "error"],
            registry=r,
        )
        self.sink_buffered_rows = Gauge(
            "blo_sink_buffered_rows", "Rows buffered, not yet written", registry=r
        )
        self.sink_backpressured = Gauge(
            "blo_sink_backpressured", "1 while the sink refuses more rows", registry=r
        )
        self.sink_oldest_pending = Gauge(
            "blo_sink_oldest_pending_seconds",
            "Age of the oldest rows handed to the sink and not yet written to ClickHouse "
            "(0 when everything is written)", registry=r,
        )
        self.sink_stalled = Gauge(
            "blo_sink_stalled", "1 while the oldest pending write is older than "
            "BLO_BATCH_SINK_STALL_S (ClickHouse not answering; /readyz answers 503)",
            registry=r,
        )
        self.sink_write_timeouts = Counter(
            "blo_sink_write_timeouts_total", "Inserts abandoned because ClickHouse sent "
            "nothing for BLO_CLICKHOUSE_SEND_RECEIVE_TIMEOUT_S (then retried)", ["table"],
            registry=r,
        )
        # consumer
        self.kafka_broker_up = Gauge(
            "blo_kafka_broker_up", "1 while the Kafka broker answers the worker's probe "
            "(BLO_KAFKA_BOOTSTRAP), 0 during an outage", registry=r,
        )
        self.paused_partitions = Gauge(
            "blo_consumer_paused_partitions", "Partitions paused for backpressure", registry=r
        )
        self.pauses = Counter(
            "blo_consumer_pauses_total", "Times consumption was paused for backpressure",
            registry=r,
        )
        self.consumer_lag = Gauge(
            "blo_consumer_lag_records",
            "Fetch high watermark minus next offset to process",
            ["topic", "partition"],
            registry=r,
        )
        self.offsets_acked = Counter(
            "blo_offsets_acked_total", "Kafka records acknowledged after their rows were written",
            ["topic"], registry=r,
        )
        # event-time windows
        self.window_event_time_lag = Gauge(
            "blo_window_event_time_lag_seconds",
            "Wall clock minus the station's live watermark (latest event time - "
            "out-of-orderness)", ["station"], registry=r,
        )
        self.windows_open = Gauge(
            "blo_windows_open", "Open window instances (window kind x station x start)",
            registry=r,
        )
        self.window_rows = Counter(
            "blo_window_rows_emitted_total", "window_stats rows emitted, by status",
            ["status"], registry=r,
        )
        self.late_events = Counter(
            "blo_late_events_total",
            "Events later than the allowed lateness for a window (ledger rows), by station "
            "and window kind", ["station", "window_kind"], registry=r,
        )
        self.unwindowed_reports = Counter(
            "blo_unwindowed_reports_total",
            "Count reports whose period fits no configured calendar window", registry=r,
        )
        self.window_restores = Counter(
            "blo_window_restores_total", "Window state rebuilt from ClickHouse after a "
            "partition assignment", registry=r,
        )
        self.window_restore_seconds = Histogram(
            "blo_window_restore_seconds", "Time to rebuild window state for new partitions",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120), registry=r,
        )
        # alerts (the engine runs on the worker owning the alert input partition)
        self.alerts_open = Gauge(
            "blo_alerts_open", "Firing alerts, by rule and severity", ["rule", "severity"],
            registry=r,
        )
        self.alert_versions = Counter(
            "blo_alert_versions_total", "Alert versions written, by rule, severity and "
            "transition (fired, resolved, acked)", ["rule", "severity", "transition"],
            registry=r,
        )
        self.alert_input_records = Counter(
            "blo_alert_input_records_total", "Alert input records handled, by kind (w: "
            "window rows, s: station progress, p: partition progress, a: acknowledgement, "
            "bad: undecodable, skipped)", ["kind"], registry=r,
        )
        self.alert_acks = Counter(
            "blo_alert_acks_total", "Acknowledgements applied (ok) or refused (unknown id)",
            ["result"], registry=r,
        )
        self.alert_engine_caught_up = Gauge(
            "blo_alert_engine_caught_up", "1 while the alert engine's input and every raw "
            "partition are caught up (silence and gaps are judged only then); NaN on workers "
            "not running the engine", registry=r,
        )
        self.alert_rules = Gauge("blo_alert_rules", "Alert rules loaded", registry=r)
        self.alert_rule_reloads = Counter(
            "blo_alert_rule_reloads_total", "Rules file reloads (ok, or error: the previous "
            "rules stay)", ["result"], registry=r,
        )
        self.alert_restores = Counter(
            "blo_alert_restores_total", "Alert engine rebuilt from ClickHouse", registry=r,
        )
        self.webhook_deliveries = Counter(
            "blo_alert_webhook_deliveries_total", "Webhook delivery outcomes (delivered, "
            "retried, failed_permanent, failed_exhausted, dropped, abandoned)", ["outcome"],
            registry=r,
        )
        # scheduled bulletins (blo/analytics/bulletin/schedule.py)
        self.bulletin_editions = Counter(
            "blo_bulletin_editions_total", "Bulletin editions made and stored, by who made "
            "them (schedule) and language", ["made_by", "lang"], registry=r,
        )
        self.bulletin_render_seconds = Histogram(
            "blo_bulletin_render_seconds", "Rendering one bulletin's editions (PDF and HTML "
            "of every language) in a child process",
            buckets=(0.25, 0.5, 1, 2, 4, 8, 16, 32, 64), registry=r,
        )
        self.bulletin_schedule_runs = Counter(
            "blo_bulletin_schedule_runs_total", "Runs of the bulletin schedule on the worker "
            "that owns it (made: editions stored; none: nothing due; failed)", ["outcome"],
            registry=r,
        )

    def render(self, more: Iterable[Metric] | None = None) -> bytes:
        """The exposition; ``more``: another process's families of the same metrics (the
        ingest process), merged with these (:func:`merge_families`)."""
        if more is None:
            return generate_latest(self.registry)
        return generate_latest(_Families(merge_families(self.registry.collect(), more)))


class _Families:
    """A collector-like view of already collected families, for ``generate_latest``."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


def merge_families(ours: Iterable[Metric], theirs: Iterable[Metric]) -> list[Metric]:
    """One exposition from two processes' registries of the same metrics: counters and
    histograms add up, as do gauges (each is set in one process; the other holds its
    default 0, and a NaN stays NaN); ``*_created`` keeps the earlier time, and gauges both
    processes set to the same fact (``blo_registry_stations``, ``blo_sink_backpressured``,
    ``blo_sink_oldest_pending_seconds``, ``blo_sink_stalled``) take the larger value."""
    merged: dict[str, Metric] = {}
    values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for fam in itertools.chain(ours, theirs):
        into = merged.get(fam.name)
        if into is None:
            into = merged[fam.name] = Metric(fam.name, fam.documentation, fam.type, fam.unit)
            values[fam.name] = {}
        vals = values[fam.name]
        for s in fam.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            old = vals.get(key)
            if old is None:
                vals[key] = s.value
            elif s.name.endswith("_created"):
                vals[key] = min(old, s.value)
            elif fam.name in _SAME_FACT:
                vals[key] = s.value if math.isnan(old) else max(old, s.value)
            else:
                vals[key] = old + s.value
    for name, fam in merged.items():
        for (sample_name, labels), v in values[name].items():
            fam.add_sample(sample_name, dict(labels), v)
    return list(merged.values())


_SAME_FACT = frozenset({"blo_registry_stations", "blo_sink_backpressured",
                        "blo_sink_oldest_pending_seconds", "blo_sink_stalled"})
