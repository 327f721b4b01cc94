"""``blo publish`` with the broker down exits 75 (EX_TEMPFAIL) and says what it left in its
buffer and how to send it; the command it names delivers every event, once, to a real
broker (Tansu)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from blo.localservices.tansu import TansuBroker
from tests.fixtures_kafka import unique_topic_name
from tests.integration.sdk.test_publish_to_tansu import (
    _derived_ids,
    assert_exactly_once_in_order,
    events_for,
    read_events,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[3]
EXIT_BUFFERED = 75


def blo(args: list[str], env: dict[str, str], cwd: Path,
        stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "blo", *args], env=env, cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=240, check=False)


def test_publish_with_the_broker_down_exits_75_and_its_resend_command_delivers_all(
        tmp_path: Path) -> None:
    broker = TansuBroker(workdir=tmp_path / "tansu")  # its port reserved, nothing listening
    topic, n = unique_topic_name("publish-down"), 2000
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLO_")}
    env.update(BLO_KAFKA_BOOTSTRAP=broker.bootstrap, BLO_KAFKA_TOPIC_RAW=topic,
               BLO_DATA_DIR=str(tmp_path / "data"), PYTHONPATH=str(REPO))
    lines = "".join(json.dumps(e) + "\n" for e in events_for(n))
    (tmp_path / "events.jsonl").write_text(lines)

    down = blo(["publish", "--timeout", "3", "events.jsonl"], env, tmp_path)
    assert down.returncode == EXIT_BUFFERED, down.stderr
    assert f"buffered {n} event(s): 0 sent to the broker, {n} still buffered" in down.stdout
    assert "published" not in down.stdout
    buffer = (tmp_path / "data" / "sdk" / "publish.sqlite").resolve()
    assert f"error: {n} event(s) not acknowledged by the broker within 3 s" in down.stderr
    assert f"kept in the buffer {buffer}" in down.stderr
    command = re.search(r"send them later with: (blo publish [^(\n]*?)\s*(\(|$)", down.stderr,
                        re.MULTILINE)
    assert command, down.stderr
    args = shlex.split(command.group(1))[1:]
    assert args == ["publish", "--flush-buffer", "--buffer", str(buffer)]

    # still down: the resend says the same, and exits 75 again
    again = blo([*args, "--timeout", "2"], env, tmp_path)
    assert again.returncode == EXIT_BUFFERED, again.stderr
    assert f"sent 0 buffered event(s); {n} still buffered" in again.stdout

    with broker:
        broker.create_topics([topic], partitions=3)
        sent = blo([*args, "--timeout", "120"], env, tmp_path)
        assert sent.returncode == 0, sent.stderr
        assert f"sent {n} buffered event(s); 0 still buffered" in sent.stdout
        _, got = read_events(broker.bootstrap, topic, n)
        empty = blo(args, env, tmp_path)
    assert_exactly_once_in_order(got, [str(i) for i in _derived_ids(events_for(n))])
    assert empty.returncode == 0 and "sent 0 buffered event(s); 0 still buffered" in empty.stdout


def test_publish_to_a_live_broker_exits_0_and_a_missing_buffer_is_nothing_to_send(
        kafka_broker: TansuBroker, tmp_path: Path) -> None:
    topic, n = unique_topic_name("publish-up"), 300
    kafka_broker.create_topics([topic], partitions=2)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLO_")}
    env.update(BLO_KAFKA_BOOTSTRAP=kafka_broker.bootstrap, BLO_KAFKA_TOPIC_RAW=topic,
               BLO_DATA_DIR=str(tmp_path / "data"), PYTHONPATH=str(REPO))
    nothing = blo(["publish", "--flush-buffer"], env, tmp_path)
    assert nothing.returncode == 0 and "nothing to send: no buffer file" in nothing.stderr
    assert not (tmp_path / "data" / "sdk" / "publish.sqlite").exists()
    lines = "".join(json.dumps(e) + "\n" for e in events_for(n)) + "not json\n"
    res = blo(["publish", "-"], env, tmp_path, stdin=lines)
    assert res.returncode == 1, res.stderr  # one unreadable line, nothing left buffered
    assert f"published {n} event(s); skipped 1 unreadable line(s)" in res.stdout
    _, got = read_events(kafka_broker.bootstrap, topic, n)
    assert_exactly_once_in_order(got, [str(i) for i in _derived_ids(events_for(n))])
    (tmp_path / "events.jsonl").write_text(lines)
    usage = blo(["publish", "--flush-buffer", "events.jsonl"], env, tmp_path)
    assert usage.returncode == 2 and "reads no input" in usage.stderr
