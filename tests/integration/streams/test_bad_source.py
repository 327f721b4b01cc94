"""One bad source never stops the others (issue 13).

16 registered stations publish one event a second each while one source sends, for a minute,
25 times as many events of a station nobody registered (in batched records, some elements
invalid, some records not even JSON). Before, the dead-letter guard judged the share of dead
letters over the last events whatever their station (96 % here) and stopped the worker. Now:
the worker never stops; the 16 stations' events are stored while the flood goes on (all
those sent in its first half are stored before it ends) and all of them in the end, exactly;
every event of the bad source is in ``dlq``; one unregistered station cannot take the hold
budget of another station registered a moment late; and once the station is registered,
``blo dlq replay --reason unknown_station --station ID`` brings its events in exactly once,
however often it is run.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from kafka import KafkaProducer

from tests.integration.streams.harness import crossing, station, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

GOOD = [f"KZ-S{i:02}" for i in range(1, 17)]
GHOST = "UZ-GHOST"  # never registered until the end
LATE = "TM-LATE"  # registered a moment after its first events
BAD_SECONDS = 60
BAD_RECORDS_PER_S = 20
BATCH = 20  # events per batched record of the bad source
HOLD_S = 10


class GoodStations(threading.Thread):
    """One event per station per second until stopped; remembers when each was sent."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        super().__init__(daemon=True)
        self.bootstrap, self.topic = bootstrap, topic
        self.sent: list[tuple[float, str, str]] = []  # (monotonic, station, event id)
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=5)
            seq = 0
            while not self.stop.is_set():
                tick = time.monotonic()
                for st in GOOD:
                    e = crossing(st, seq)
                    producer.send(self.topic, key=st.encode(), value=json.dumps(e).encode())
                    self.sent.append((time.monotonic(), st, e["event_id"]))
                producer.flush()
                seq += 1
                self.stop.wait(max(0.0, 1.0 - (time.monotonic() - tick)))
            producer.close()
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.error = e


class BadSource(threading.Thread):
    """Batched records of an unregistered station (every 10th with one invalid element) and
    one record a second that is not JSON."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        super().__init__(daemon=True)
        self.bootstrap, self.topic = bootstrap, topic
        self.valid: list[str] = []
        self.invalid: list[str] = []
        self.garbage = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=5,
                                     max_request_size=4 * 1024 * 1024)
            seq = 0
            for s in range(BAD_SECONDS):
                tick = time.monotonic()
                for r in range(BAD_RECORDS_PER_S):
                    batch: list[dict[str, Any]] = []
                    for i in range(BATCH):
                        e = crossing(GHOST, seq)
                        seq += 1
                        if r % 10 == 0 and i == 0:
                            e["persons"] = -1
                            self.invalid.append(e["event_id"])
                        else:
                            self.valid.append(e["event_id"])
                        batch.append(e)
                    producer.send(self.topic, key=GHOST.encode(), value=json.dumps(batch).encode())
                producer.send(self.topic, key=GHOST.encode(), value=f"oops {s} {{".encode())
                self.garbage += 1
                producer.flush()
                time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
            producer.close()
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.error = e


def ids_of(db: Any, where: str) -> list[str]:
    return [r[0] for r in db.query(
        f"SELECT toString(event_id) FROM {db.database}.events FINAL WHERE {where}")]


def dlq_count(db: Any, where: str) -> int:
    return int(db.query(f"SELECT count() FROM {db.database}.dlq FINAL WHERE {where}")[0][0])


def test_one_bad_source_never_stops_nor_slows_the_others(pipeline, tmp_path, request) -> None:
    p, db = pipeline
    p.load_stations([station(s, "KZ", "KG", "Asia/Almaty") for s in GOOD])
    w = p.worker(BLO_INGEST_HOLD_UNKNOWN_STATION_S=str(HOLD_S),
                 BLO_INGEST_HOLD_MAX_EVENTS="3000",
                 BLO_INGEST_HOLD_MAX_EVENTS_PER_STATION="2000")
    w.wait_ready()
    good_where = "station_id IN (" + ", ".join(f"'{s}'" for s in GOOD) + ")"

    good = GoodStations(p.bootstrap, p.topic_raw)
    request.addfinalizer(good.stop.set)  # whatever the outcome, before the broker goes
    good.start()
    wait_for(lambda: ids_of(db, good_where), 60, "the first good events")
    bad = BadSource(p.bootstrap, p.topic_raw)
    bad_start = time.monotonic()
    bad.start()

    # halfway: a station whose record reaches the registry a moment after its events; the
    # flood holds 2,000 events at most, so there is room left in the 3,000 to hold these
    time.sleep(BAD_SECONDS / 2)
    late = [crossing(LATE, i) for i in range(5)]
    p.produce((LATE.encode(), json.dumps(e).encode()) for e in late)
    time.sleep(1)
    p.load_stations([station(LATE, "TM", "UZ", "Asia/Ashgabat")])

    alive = True
    while bad.is_alive():
        alive &= w.alive()
        time.sleep(1)
    bad.join()
    bad_end = time.monotonic()
    assert bad.error is None, bad.error
    # -- the others kept flowing while the flood went on ---------------------------------
    stored_then = set(ids_of(db, good_where))
    first_half = [eid for t, _, eid in good.sent
                  if t < bad_start + (bad_end - bad_start) / 2]
    assert len(first_half) >= 16 * (BAD_SECONDS // 2)
    missing = [eid for eid in first_half if eid not in stored_then]
    assert not missing, f"{len(missing)} of the first half's good events not stored"
    assert alive and w.alive(), w.log_tail()

    time.sleep(3)
    good.stop.set()
    good.join(30)
    assert good.error is None, good.error

    # -- everything in its place: the good events exactly, the bad source's in dlq ------
    sent_good = sorted(eid for _, _, eid in good.sent)
    wait_for(lambda: len(ids_of(db, good_where)) >= len(sent_good), 90, "every good event")
    assert sorted(ids_of(db, good_where)) == sent_good
    n_valid, n_invalid = len(bad.valid), len(bad.invalid)
    assert n_valid + n_invalid == BAD_SECONDS * BAD_RECORDS_PER_S * BATCH
    wait_for(lambda: dlq_count(db, f"station_id = '{GHOST}'") >= n_valid + n_invalid,
             HOLD_S + 90, "every event of the bad source in dlq")
    by_reason = dict(db.query(
        f"SELECT reason, count() FROM {db.database}.dlq FINAL "
        f"WHERE station_id IN ('{GHOST}', '') GROUP BY reason"))
    assert by_reason == {"unknown_station": n_valid, "invalid": n_invalid,
                         "not_json": bad.garbage}, by_reason
    assert ids_of(db, f"station_id = '{GHOST}'") == []
    # the late station's events were held, not dead-lettered, despite the flood
    assert sorted(ids_of(db, f"station_id = '{LATE}'")) == sorted(e["event_id"] for e in late)
    assert dlq_count(db, f"station_id = '{LATE}'") == 0
    assert w.alive(), w.log_tail()
    assert "Stopping" not in w.log_path.read_text(errors="replace")

    # -- the cause fixed, the dead letters come back exactly once ------------------------
    ghost = tmp_path / "ghost.json"
    ghost.write_text(json.dumps([station(GHOST, "UZ", "TJ", "Asia/Tashkent")]))
    assert p.blo("stations", "load", str(ghost)).returncode == 0
    args = ("dlq", "replay", "--reason", "unknown_station", "--station", GHOST)
    first = p.blo(*args)
    assert first.returncode == 0 and f"re-published {n_valid} " in first.stdout, \
        first.stdout + first.stderr
    # at once again, before the worker stored them all: what is re-published is harmless
    second = p.blo(*args)
    assert second.returncode == 0, second.stdout + second.stderr
    wait_for(lambda: len(ids_of(db, f"station_id = '{GHOST}'")) >= n_valid, 120,
             "the replayed events")
    time.sleep(3)  # whatever the second replay re-published is processed too
    stored = ids_of(db, f"station_id = '{GHOST}'")
    assert len(stored) == n_valid and sorted(stored) == sorted(bad.valid)
    third = p.blo(*args)  # everything stored: nothing is published again
    assert third.returncode == 0 and "re-published 0 " in third.stdout, third.stdout
    assert f"skipped: {n_valid} (already stored" in third.stdout, third.stdout
    # the invalid ones stay dead letters; nothing new was dead-lettered by the replays
    assert dlq_count(db, f"station_id = '{GHOST}'") == n_valid + n_invalid
    assert w.alive(), w.log_tail()
    assert w.terminate() == 0
