"""Alerts on the real broker and the real ClickHouse 18.16 server, through the real worker.

An injected scenario (tests/integration/streams/alert_scenario.py) — a seizure spike at one
post, silence at another, a gap in a third's sequence, seizures at both posts of a TJ–AF
pair — must produce exactly the expected alerts (ids and versions computed in the test from
docs/alerts.md) in the ``alerts`` table, on the alerts topic and at a local webhook
receiver; the same after a SIGKILL of the worker mid-scenario; and a webhook that fails or
hangs must not hold up the pipeline.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from tests.integration.streams.alert_scenario import (
    GAP_ONLY_YAML,
    GAPPY,
    R_GAP,
    RULES_YAML,
    SILENT,
    STATIONS,
    Feed,
    Scenario,
    WebhookReceiver,
    alert_env,
    expected_id,
    read_topic,
    table_final,
    table_raw,
)
from tests.integration.streams.harness import Pipeline, WorkerProc, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


@pytest.fixture
def receiver():
    r = WebhookReceiver()
    yield r
    r.close()


@pytest.fixture
def feed(pipeline):
    p, _ = pipeline
    p.load_stations(STATIONS)
    f = Feed(p)
    yield f
    f.stop()


def _keep_every_version(db: Any) -> None:
    """The alerts table is a ReplacingMergeTree(version): a background merge keeps only the
    latest version of an alert, and ever more so with many small inserts. These tests read
    every version the worker wrote, so merges of the table stop while they run."""
    db.command(f"SYSTEM STOP MERGES {db.database}.alerts")


def _pairs_in_table(db: Any) -> set[tuple[str, int]]:
    return {(r[0], int(r[1])) for r in table_raw(db)}


def _final_view(db: Any) -> dict[str, tuple[int, str]]:
    return {r[0]: (int(r[1]), r[3]) for r in table_final(db)}


def _topic_messages(p: Pipeline) -> list[tuple[bytes, dict[str, Any]]]:
    return [(k, json.loads(v)) for k, v in read_topic(p.bootstrap, p.topic_alerts)]


def _committed(p: Pipeline, topic: str) -> int:
    """The group's committed offset of partition 0 of ``topic`` (0 when none)."""
    c = KafkaConsumer(bootstrap_servers=p.bootstrap, group_id=p.group_id,
                      enable_auto_commit=False)
    try:
        return c.committed(TopicPartition(topic, 0)) or 0
    finally:
        c.close()


def _wait_alerts(db: Any, want: set[tuple[str, int]], what: str, w: WorkerProc,
                 timeout: float = 120) -> None:
    try:
        wait_for(lambda: want <= _pairs_in_table(db), timeout, what, 0.5)
    except AssertionError as e:
        counts = {t: db.query(f"SELECT count() FROM {db.database}.{t}")[0][0]
                  for t in ("events", "window_stats", "alerts", "dlq")}
        metrics = {k: v for k, v in w.metrics().items()
                   if k.startswith(("blo_alert", "blo_window_rows", "blo_records"))}
        raise AssertionError(f"{e}\ncounts: {counts}\nmetrics: {metrics}\n"
                             f"table: {table_raw(db)}\nworker log:\n{w.log_tail(30)}") from None


def _ack(p: Pipeline, env: dict[str, str], alert_id: str) -> tuple[int, int]:
    """``blo alerts ack`` (it waits for the acknowledged version): (before, after) times."""
    before = int(time.time())
    res = p.blo("alerts", "ack", alert_id, "--by", "duty officer", "--comment",
                "radio link down, reports re-sent by courier", "--timeout", "60", **env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "acknowledged" in res.stdout
    return before, int(time.time()) + 1


def _check_outputs(p: Pipeline, db: Any, env: dict[str, str], sc: Scenario,
                   receiver: WebhookReceiver, ack_window: tuple[int, int]) -> None:
    """Table, topic and webhook hold exactly the expected (id, version) pairs, every copy of
    a pair says the same, and each version says what the scenario determines."""
    want = set(sc.expected)
    # the readers' view: one row per alert, its latest version and state
    assert _final_view(db) == sc.final_view()
    # every version of the raw table, each (id, version) with one content only
    raw = table_raw(db)
    by_pair: dict[tuple[str, int], set[tuple[Any, ...]]] = {}
    for r in raw:
        by_pair.setdefault((r[0], int(r[1])), set()).add(
            tuple(tuple(x) if isinstance(x, list) else x for x in r))
    assert set(by_pair) == want
    assert all(len(v) == 1 for v in by_pair.values()), {k: v for k, v in by_pair.items()
                                                         if len(v) > 1}
    rows = {k: next(iter(v)) for k, v in by_pair.items()}
    for key, v in sc.expected.items():
        (_aid, _ver, rule_id, state, scope_key, _station, w_start, w_end, value, _threshold,
         fired_at, resolved_at, acked, acked_by, acked_at, comment, _upd, message, *_r) = rows[key]
        got = (rule_id, state, scope_key, value, fired_at, resolved_at, bool(acked))
        assert got == (v.rule_id, v.state, v.scope_key, v.value, v.fired_at, v.resolved_at,
                       v.acked), (key, got, v, message)
        if v.window_start is not None:
            assert (w_start, w_end) == (v.window_start, v.window_end), (key, rows[key])
        if v.acked:
            assert acked_by == "duty officer" and comment.startswith("radio link down")
            assert ack_window[0] <= acked_at <= ack_window[1], (acked_at, ack_window)
    # the alerts topic: keys are the ids; distinct (id, version) exactly the expected ones;
    # a repeated pair is the same message
    def topic_pairs() -> set[tuple[str, int]]:
        return {(d["alert_id"], d["version"]) for _, d in _topic_messages(p)}

    wait_for(lambda: topic_pairs() == want, 60, "the alert versions on the topic", 1)
    messages = _topic_messages(p)
    bodies: dict[tuple[str, int], set[str]] = {}
    for key, doc in messages:
        assert key.decode() == doc["alert_id"]
        assert doc["schema_version"] == 1
        bodies.setdefault((doc["alert_id"], doc["version"]), set()).add(
            json.dumps(doc, sort_keys=True))
    assert all(len(b) == 1 for b in bodies.values()), bodies
    for (aid, ver), b in bodies.items():
        doc = json.loads(next(iter(b)))
        v = sc.expected[(aid, ver)]
        assert (doc["state"], doc["acked"], doc["value"]) == (v.state, v.acked, v.value)
    # the webhook: the same distinct pairs, the same bodies as the topic, headers to match
    wait_for(lambda: receiver.pairs() == want, 60, "the alert versions at the webhook", 0.5)
    for post in receiver.snapshot():
        doc = json.loads(post.body)
        pair = (doc["alert_id"], doc["version"])
        assert json.dumps(doc, sort_keys=True) in bodies[pair]
        assert post.headers["content-type"] == "application/json"
        assert post.headers["x-blo-alert-id"] == doc["alert_id"]
        assert post.headers["x-blo-alert-version"] == str(doc["version"])
        assert post.headers["idempotency-key"] == f"{doc['alert_id']}:{doc['version']}"


def _settle_and_check(p: Pipeline, db: Any, env: dict[str, str], sc: Scenario,
                      receiver: WebhookReceiver, w: WorkerProc,
                      ack_window: tuple[int, int]) -> None:
    want = set(sc.expected)
    _wait_alerts(db, want, "every expected alert version", w)
    # nothing more comes: a few more caught-up ticks with every other post still reporting
    time.sleep(4)
    wait_for(lambda: w.metric("blo_alert_engine_caught_up") == 1, 30, "a caught-up engine")
    extra = _pairs_in_table(db) - want
    assert not extra, (extra, table_raw(db))
    _check_outputs(p, db, env, sc, receiver, ack_window)


def test_scenario_yields_exactly_the_expected_alerts_in_table_topic_and_webhook(
        pipeline, feed: Feed, receiver: WebhookReceiver, tmp_path: Path) -> None:
    p, db = pipeline
    env = alert_env(p, tmp_path, RULES_YAML, receiver.url)
    w = p.worker(**env)
    w.wait_ready()
    _keep_every_version(db)
    sc = Scenario(t0=int(time.time()), feed=feed)
    sc.history()
    feed.start()
    # the spike fires and resolves, the gap fires, the pair fires and resolves, and the
    # silent post's alert fires once the worker is caught up (30 s after its last event)
    _wait_alerts(db, set(sc.expected), "spike, gap, paired and silence alerts", w)
    assert _final_view(db)[sc.silence_id] == (1, "firing")
    sc.resume_silent()  # the silent post reports again: resolved
    _wait_alerts(db, set(sc.expected), "the silence resolved", w)
    feed.active.add(SILENT)
    # the lost reports never come: an operator acknowledges the gap alert
    sc.expect_ack(sc.gap_id)
    ack_window = _ack(p, env, sc.gap_id)
    _settle_and_check(p, db, env, sc, receiver, w, ack_window)
    # the CLI lists the same current state
    res = p.blo("alerts", "list", "--format", "json", **env)
    assert res.returncode == 0, res.stderr
    listed = {d["alert_id"]: (d["version"], d["state"], d["acked"])
              for d in json.loads(res.stdout)}
    assert listed == {aid: (ver, st, sc.expected[(aid, ver)].acked)
                      for aid, (ver, st) in sc.final_view().items()}
    # metrics: versions by transition, open alerts, webhook deliveries
    assert w.metric("blo_alert_versions_total", transition="fired") == 4
    assert w.metric("blo_alert_versions_total", transition="resolved") == 3
    assert w.metric("blo_alert_versions_total", transition="acked") == 1
    assert w.metric("blo_alerts_open", rule=R_GAP) == 1
    assert w.metric("blo_alerts_open") == 1
    assert w.metric("blo_alert_webhook_deliveries_total", outcome="delivered") == len(sc.expected)
    # the token in the webhook URL never reaches the log
    assert "s3cret" not in w.log_path.read_text(errors="replace")
    assert w.terminate() == 0


def test_same_alerts_after_a_worker_sigkill_mid_scenario(
        pipeline, feed: Feed, receiver: WebhookReceiver, tmp_path: Path) -> None:
    p, db = pipeline
    # a commit interval longer than the first worker's life: the kill lands with alert
    # versions written but nothing of their input committed, so the restarted engine reads
    # all of it again (and the raw events too)
    env = alert_env(p, tmp_path, RULES_YAML, receiver.url, BLO_KAFKA_COMMIT_INTERVAL_S="40")
    w = p.worker(**env)
    w.wait_ready()
    _keep_every_version(db)
    sc = Scenario(t0=int(time.time()), feed=feed)
    sc.history(with_paired_af=False)  # the pair's second half comes after the kill
    feed.start()
    spike_and_gap = {k for k in sc.expected if k[0] != sc.silence_id
                     and sc.expected[k].rule_id != "paired-seizure"}
    _wait_alerts(db, spike_and_gap, "the spike and the gap before the kill", w)
    # webhook deliveries still queued in the killed process are not replayed after a
    # restart (the restored engine writes nothing new for them): see the report
    wait_for(lambda: spike_and_gap <= receiver.pairs(), 30, "their webhook deliveries")
    w.kill()
    killed_with = _pairs_in_table(db)
    n_input = len(read_topic(p.bootstrap, p.topic_alert_input))  # no worker writes it now
    assert _committed(p, p.topic_alert_input) < n_input
    sc.paired_af()  # AF-A1's late report of its seizure, while no worker runs
    time.sleep(2)
    w2 = p.worker(**env)
    w2.wait_ready()
    _wait_alerts(db, set(sc.expected), "paired and silence alerts after the restart", w2)
    sc.resume_silent()
    _wait_alerts(db, set(sc.expected), "the silence resolved", w2)
    feed.active.add(SILENT)
    sc.expect_ack(sc.gap_id)
    ack_window = _ack(p, env, sc.gap_id)
    _settle_and_check(p, db, env, sc, receiver, w2, ack_window)
    # the restart re-read input it had already turned into alerts, and wrote nothing twice
    assert w2.metric("blo_alert_restores_total") >= 1
    assert w2.metric("blo_alert_input_records_total") >= n_input
    assert killed_with <= set(sc.expected)
    assert w2.terminate() == 0


def test_a_failing_or_hanging_webhook_does_not_stall_window_rows(
        pipeline, tmp_path: Path) -> None:
    p, db = pipeline
    p.load_stations(STATIONS)
    # every other request hangs until the end of the test, the others get HTTP 500
    receiver = WebhookReceiver(lambda n: "hang" if n % 2 == 0 else 500)
    feed = Feed(p)
    try:
        env = alert_env(p, tmp_path, GAP_ONLY_YAML, receiver.url,
                        BLO_ALERTS_WEBHOOK_TIMEOUT_S="1", BLO_ALERTS_WEBHOOK_MAX_ATTEMPTS="3",
                        BLO_ALERTS_WEBHOOK_CONCURRENCY="2")
        w = p.worker(**env)
        w.wait_ready()
        gaps: dict[str, str] = {}  # scope key → expected id: a lost report every 3 rounds

        def beat(f: Feed, i: int, now: int) -> None:
            if i % 3 == 2:
                n = f.skip(GAPPY)
                # the gap's instant: the event time of the next number, sent this round
                key = f"{GAPPY}:{n}-{n}"
                gaps[key] = expected_id(R_GAP, key, now)

        feed.on_beat = beat
        feed.active |= {GAPPY, SILENT, "UZ-P1"}
        feed.start()
        wait_for(lambda: receiver.hung_total >= 1, 60, "a hanging webhook request")

        def rows() -> int:
            # events counted by the window rows written (the readers' view grows with every
            # provisional row; a raw count() would not: merges collapse replaced rows)
            return int(db.query(f"SELECT sum(events) FROM {db.database}.window_stats FINAL"
                                )[0][0])

        # window rows keep flowing while deliveries hang or fail: five successive increases
        samples = [(rows(), w.metric("blo_window_rows_emitted_total"), receiver.hanging)]
        for _ in range(5):
            floor_rows, floor_metric = samples[-1][0], samples[-1][1]
            try:
                wait_for(lambda f=floor_rows: rows() > f, 30, "more window_stats rows", 0.25)
            except AssertionError as e:
                counts = {t: db.query(f"SELECT count() FROM {db.database}.{t}")[0][0]
                          for t in ("events", "window_stats", "alerts", "dlq")}
                metrics = {k: v for k, v in w.metrics().items()
                           if k.startswith(("blo_alert", "blo_window_rows", "blo_records"))
                           and "_created" not in k}
                raise AssertionError(f"{e} {samples}\nsent {feed.sent} counts: {counts}\n"
                                     f"metrics: {metrics}\n{w.log_tail(30)}") from None
            wait_for(lambda f=floor_metric: w.metric("blo_window_rows_emitted_total") > f, 30,
                     "more window rows emitted", 0.25)
            samples.append((rows(), w.metric("blo_window_rows_emitted_total"),
                            receiver.hanging))
        assert any(h > 0 for _, _, h in samples), samples  # requests were hanging meanwhile
        # alerts keep being written: every gap made so far is in the table
        made = dict(gaps)
        assert len(made) >= 2, made

        def in_table() -> dict[str, tuple[Any, ...]]:
            return {r[0]: (r[1], r[2], r[3], r[4]) for r in table_final(db)}

        wait_for(lambda: made.keys() <= {r[3] for r in in_table().values()} , 60,
                 "every gap alert in the table", 0.5)
        got = in_table()
        for key, aid in made.items():
            assert got.get(aid) == (1, R_GAP, "firing", key), (key, aid, got)
        # nothing but these gaps (and the ones made since)
        assert {v[3] for v in got.values()} <= set(gaps), got
        # the failures are counted, and deliveries give up after max attempts
        wait_for(lambda: w.metric("blo_alert_webhook_deliveries_total", outcome="retried") > 0,
                 60, "retried deliveries")
        wait_for(lambda: w.metric("blo_alert_webhook_deliveries_total",
                                  outcome="failed_exhausted") > 0, 60, "exhausted deliveries")
        assert w.metric("blo_alert_webhook_deliveries_total", outcome="delivered") == 0
        # and the worker still stops cleanly with requests hanging
        feed.stop()
        assert w.terminate() == 0
    finally:
        feed.stop()
        receiver.close()
