"""``blo publish --revise N --reason TEXT`` / ``--void N --reason TEXT``: the option checks,
and what is published for each input event (a real StationPublisher and buffer; only its
Kafka producer is the SDK tests' fake)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from blo.cli import data, main
from blo.cli.data import CorrectionMode, correction_mode
from blo.sdk import StationPublisher
from blo.settings import Settings
from schemas.identity import derive_event_id
from tests.unit.sdk.fakes import FakeBroker
from tests.unit.sdk.test_publisher import KAFKA, unpack


def crossing(seq: int, **extra: Any) -> dict[str, Any]:
    return {"event_type": "crossing", "station_id": "KZ-KORDAI", "source_seq": seq,
            "occurred_at": "2024-05-01T08:30:00+05:00", "direction": "inbound",
            "subject": "vehicle", "mode": "road", "persons": 2, "vehicles": 1,
            "document_check": "passed", **extra}


# -- the options ---------------------------------------------------------------------------
def test_no_correction_options_is_a_plain_publish() -> None:
    assert correction_mode(None, None, None) is None


def test_revise_and_void_with_a_reason() -> None:
    assert correction_mode(2, None, "weight") == CorrectionMode(False, 2, "weight")
    assert correction_mode(None, 3, "twice") == CorrectionMode(True, 3, "twice")


@pytest.mark.parametrize(("revise", "void", "reason", "message"), [
    (1, 2, "x", "--revise and --void exclude each other"),
    (None, None, "x", "--reason goes with --revise N or --void N"),
    (1, None, None, "--revise needs --reason TEXT"),
    (None, 1, "  ", "--void needs --reason TEXT"),
    (1, None, "x" * 129, "--reason is 129 characters; at most 128"),
    (1, None, "two\nlines", "--reason must be one line"),
])
def test_bad_combinations_are_usage_errors(revise: int | None, void: int | None,
                                           reason: str | None, message: str) -> None:
    with pytest.raises(click.UsageError, match=message):
        correction_mode(revise, void, reason)


def _run(args: list[str], tmp_path: Path, stdin: str = "") -> Result:
    env = {"BLO_DATA_DIR": str(tmp_path / "data")}
    return CliRunner().invoke(main, ["publish", *args], input=stdin, env=env)


@pytest.mark.parametrize(("args", "message"), [
    (["--revise", "1", "--void", "2", "--reason", "x"], "exclude each other"),
    (["--revise", "1"], "--revise needs --reason"),
    (["--void", "1"], "--void needs --reason"),
    (["--reason", "x"], "--reason goes with"),
    (["--revise", "0", "--reason", "x"], "0 is not in the range x>=1"),
    (["--flush-buffer", "--void", "1", "--reason", "x"], "nothing to correct"),
])
def test_the_command_refuses_bad_options_before_reading_anything(
        args: list[str], message: str, tmp_path: Path) -> None:
    res = _run(args, tmp_path, json.dumps(crossing(1)) + "\n")
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert not (tmp_path / "data" / "sdk" / "publish.sqlite").exists()  # nothing buffered


# -- what is published -----------------------------------------------------------------------
@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBroker]:
    fake = FakeBroker()

    def publisher(s: Settings, buffer: str | None, name: str) -> StationPublisher:
        path = data._buffer_path(s, buffer, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        return StationPublisher(KAFKA, "raw", path, linger_s=0.0,
                                producer_factory=fake.factory)

    monkeypatch.setattr(data, "_publisher", publisher)
    yield fake


def test_revise_sends_every_event_as_that_revision_of_itself(broker: FakeBroker,
                                                             tmp_path: Path) -> None:
    lines = "".join(json.dumps(crossing(i, persons=i + 2)) + "\n" for i in (1, 2))
    res = _run(["--revise", "2", "--reason", "recounted", "--timeout", "10"], tmp_path, lines)
    assert res.exit_code == 0, res.output
    assert "published 2 event(s)" in res.output
    got = unpack(broker.log)
    assert [(e["event_id"], e["revision"], e["correction_reason"], e["persons"])
            for e in got] == [(str(derive_event_id("KZ-KORDAI", i)), 2, "recounted", i + 2)
                              for i in (1, 2)]


def test_void_sends_a_void_of_every_event(broker: FakeBroker, tmp_path: Path) -> None:
    res = _run(["--void", "1", "--reason", "entered twice", "--timeout", "10"], tmp_path,
               json.dumps(crossing(7)) + "\n")
    assert res.exit_code == 0, res.output
    [e] = unpack(broker.log)
    assert e["event_type"] == "void" and e["revision"] == 1
    assert e["event_id"] == str(derive_event_id("KZ-KORDAI", 7))
    assert (e["occurred_at"], e["source_seq"]) == ("2024-05-01T08:30:00+05:00", 7)
    assert "persons" not in e


def test_an_event_the_schema_refuses_is_skipped_and_listed_the_rest_sent(
        broker: FakeBroker, tmp_path: Path) -> None:
    lines = "".join(json.dumps(e) + "\n" for e in (crossing(1), crossing(2, persons=-1),
                                                   crossing(3)))
    res = _run(["--revise", "1", "--reason", "r", "--timeout", "10"], tmp_path, lines)
    assert res.exit_code == 1, res.output
    assert "skipped line 2: event " in res.output and "persons" in res.output
    assert "published 2 event(s)" in res.output and "1 event(s) the SDK refused" in res.output
    assert [e["source_seq"] for e in unpack(broker.log)] == [1, 3]
