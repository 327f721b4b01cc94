"""`blo alerts list` / `blo alerts ack`: arguments, the SQL they build, and the listing run
against embedded chDB (ClickHouse 26.9; the server, 18.16, is in the integration test)."""

from __future__ import annotations

import json
import uuid

import pytest
from click.testing import CliRunner, Result

from blo.api.queries import AlertFilter, alert_page_sql, alert_source
from blo.api.scope import Scope
from blo.cli import main
from blo.cli.alerts import AlertLine, alert_sql
from sinks.chdb import ChdbDatabase
from sinks.sql import is_read_only, render
from streams.alerts.rows import Alert
from tests.unit.blo.alert_rows import T0, insert_alerts, make_alert, run

# -- arguments -------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [["alerts"], ["alerts", "list"], ["alerts", "ack"]])
def test_every_command_has_help(args: list[str]) -> None:
    res = CliRunner().invoke(main, [*args, "--help"])
    assert res.exit_code == 0, res.output
    assert "Usage:" in res.output


def test_help_names_the_options() -> None:
    out = CliRunner().invoke(main, ["alerts", "list", "--help"]).output
    for opt in ("--open", "--rule", "--station", "--severity", "--limit", "--format"):
        assert opt in out
    out = CliRunner().invoke(main, ["alerts", "ack", "--help"]).output
    for opt in ("--by", "--comment", "--wait / --no-wait", "--timeout", "ALERT_ID"):
        assert opt in out


def test_ack_refuses_an_id_that_is_not_a_uuid() -> None:
    res = CliRunner().invoke(main, ["alerts", "ack", "not-a-uuid", "--by", "duty"])
    assert res.exit_code == 2
    assert "'not-a-uuid' is not an alert id" in res.output


@pytest.mark.parametrize("by", [None, "", "   "])
def test_ack_needs_who(by: str | None) -> None:
    args = ["alerts", "ack", str(uuid.uuid4())] + (["--by", by] if by is not None else [])
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2
    assert "--by" in res.output
    if by is not None:
        assert "must name who acknowledges" in res.output


# -- SQL -------------------------------------------------------------------------------------

def listing_sql(**kw: object) -> str:
    """The page query of `blo alerts list` with ``kw`` as its filter, rendered as it runs."""
    src, params = alert_source("blo", Scope(all=True), None, AlertFilter(**kw), [], {})
    return render(alert_page_sql(src, "severity", 5, 0), params)


def test_filter_values_cannot_break_out_of_their_literal() -> None:
    sql = listing_sql(station="x' OR 1=1 --", rule="r'; DROP TABLE blo.alerts",
                      severities=("critical",), state="firing")
    assert "station_id = 'x\\' OR 1=1 --'" in sql
    assert "rule_id = 'r\\'; DROP TABLE blo.alerts'" in sql
    assert "state = 'firing'" in sql and sql.endswith("LIMIT 0, 5")
    # the filters apply to the current version of each alert (after collapsing)
    assert "FROM blo.alerts GROUP BY alert_id, toYYYYMM(fired_at))) WHERE" in sql
    # the guard reads literals as literals: the quoted ';' is a value, not a second statement
    assert is_read_only(sql)
    assert is_read_only(listing_sql(station="x' OR 1=1 --", rule="r\\' OR '1'='1"))


def test_database_name_must_be_an_identifier() -> None:
    with pytest.raises(ValueError):
        alert_source("blo.alerts; SELECT 1", Scope(all=True), None, AlertFilter(), [], {})
    with pytest.raises(ValueError):
        alert_sql("x y", uuid.uuid4())


def test_a_filter_with_sql_in_it_is_only_a_value(chdb_db: ChdbDatabase) -> None:
    res = run(chdb_db, "list", "--rule", "a'; DROP TABLE blo.alerts --")
    assert res.exit_code == 0, res.output  # quoted, it is a value that matches nothing
    assert "no alerts" in res.output
    assert chdb_db.query(f"EXISTS TABLE {chdb_db.database}.alerts") == [(1,)]


# -- against chDB ----------------------------------------------------------------------------

@pytest.fixture
def stored(chdb_db: ChdbDatabase) -> dict[str, Alert]:
    a1 = make_alert(message="first version")
    a2 = a1.next_version(state="resolved", resolved_at=T0 + 7200, updated_at=T0 + 7200,
                         message="TJ-PYANJ: back to 10.0 kg")
    b = make_alert(rule_id="silence-station", kind="silence", severity="warning",
                   scope_key="KZ-NURZHOL", station_id="KZ-NURZHOL", fired_at=T0 + 9000,
                   acked=True, acked_by="duty officer", acked_at=T0 + 9100,
                   ack_comment="called the post", message="KZ-NURZHOL silent\tfor 30 min")
    pair = make_alert(rule_id="paired-seizures", kind="paired", severity="info", scope="pair",
                      scope_key="AF-SHER-KHAN+TJ-PYANJ", station_id="", fired_at=T0 + 5000)
    evil = make_alert(station_id="x' OR 1=1 --", scope_key="x' OR 1=1 --", fired_at=T0)
    insert_alerts(chdb_db, a1, b, pair, evil)
    insert_alerts(chdb_db, a2)  # a later insert: FINAL must still pick it
    return {"a": a2, "b": b, "pair": pair, "evil": evil}


def ids(res: Result) -> list[str]:
    assert res.exit_code == 0, res.output
    return [d["alert_id"] for d in json.loads(res.stdout)]


def test_list_shows_the_latest_version_worst_first_then_newest(
        chdb_db: ChdbDatabase, stored: dict[str, Alert]) -> None:
    assert ids(run(chdb_db, "list", "--format", "json")) == [
        str(stored[k].alert_id) for k in ("a", "evil", "b", "pair")]
    res = run(chdb_db, "list", "--format", "json", "--sort", "time")
    docs = json.loads(res.stdout)
    assert [d["alert_id"] for d in docs] == [
        str(stored[k].alert_id) for k in ("b", "pair", "a", "evil")]
    # the counts of every match go to stderr with --format json
    assert res.stderr.strip() == ("showing 4 of 4 alerts: critical 2, warning 1, info 1; "
                                  "3 firing, 1 resolved; 1 acknowledged")
    a = docs[2]
    assert (a["version"], a["state"], a["message"]) == (2, "resolved", "TJ-PYANJ: back to 10.0 kg")
    assert a["resolved_at"] == "2024-05-01T12:00:00Z" and a["fired_at"] == "2024-05-01T11:00:00Z"
    assert a["acked"] is False and a["acked_at"] is None
    b = docs[0]
    assert b["resolved_at"] is None
    assert (b["acked"], b["acked_by"], b["ack_comment"]) == (True, "duty officer",
                                                             "called the post")


def test_list_filters(chdb_db: ChdbDatabase, stored: dict[str, Alert]) -> None:
    s = {k: str(v.alert_id) for k, v in stored.items()}
    assert ids(run(chdb_db, "list", "--open", "--format", "json")) == [s["evil"], s["b"],
                                                                        s["pair"]]
    assert ids(run(chdb_db, "list", "--rule", "silence-station", "--format", "json")) == [s["b"]]
    assert ids(run(chdb_db, "list", "--severity", "info", "--format", "json")) == [s["pair"]]
    # a station matches its own alerts and the paired alerts naming it
    assert ids(run(chdb_db, "list", "--station", "TJ-PYANJ", "--format", "json")) == [
        s["a"], s["pair"]]
    assert ids(run(chdb_db, "list", "--station", "x' OR 1=1 --", "--format", "json")) == [
        s["evil"]]
    assert ids(run(chdb_db, "list", "--limit", "1", "--format", "json")) == [s["a"]]
    res = run(chdb_db, "list", "--limit", "1", "--severity", "critical,info", "--format", "json")
    assert ids(res) == [s["a"]]
    assert res.stderr.startswith("showing 1 of 3 alerts: critical 2, warning 0, info 1;")
    assert ids(run(chdb_db, "list", "--acked", "--format", "json")) == [s["b"]]
    assert ids(run(chdb_db, "list", "--unacked", "--state", "resolved", "--format",
                   "json")) == [s["a"]]


def test_table_and_tsv_keep_one_alert_per_line(
        chdb_db: ChdbDatabase, stored: dict[str, Alert]) -> None:
    res = run(chdb_db, "list", "--rule", "silence-station")
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0].split()[:3] == ["alert_id", "version", "state"]
    assert len(lines) == 4  # header, rule, one alert, the counts
    assert "yes (duty officer)" in lines[2] and "KZ-NURZHOL silent for 30 min" in lines[2]
    assert lines[3] == ("showing 1 of 1 alerts: critical 0, warning 1, info 0; 1 firing, "
                        "0 resolved; 1 acknowledged")
    res = run(chdb_db, "list", "--format", "tsv", "--station", "TJ-PYANJ", "--sort", "time")
    rows = [line.split("\t") for line in res.stdout.splitlines()]
    assert [r[0] for r in rows] == [str(stored["pair"].alert_id), str(stored["a"].alert_id)]
    assert rows[1][6:9] == ["2024-05-01 11:00:00", "2024-05-01 12:00:00", "no"]
    assert rows[0][7] == ""  # still firing: no resolved_at
    assert res.stderr.startswith("showing 2 of 2 alerts")


def test_empty_listing_says_so_on_stderr(chdb_db: ChdbDatabase, stored: dict[str, Alert]) -> None:
    res = run(chdb_db, "list", "--open", "--rule", "no-such-rule", "--format", "json")
    assert res.exit_code == 0
    assert json.loads(res.stdout) == []
    assert res.stderr.strip() == "no open alerts (rule no-such-rule)"
    res = run(chdb_db, "list", "--station", "NOWHERE")
    assert res.exit_code == 0 and res.stdout == ""
    assert res.stderr.strip() == "no alerts (station NOWHERE)"


def test_ack_of_an_unknown_alert_is_an_error(chdb_db: ChdbDatabase,
                                             stored: dict[str, Alert]) -> None:
    unknown = uuid.uuid4()
    res = run(chdb_db, "ack", str(unknown), "--by", "duty", "--no-wait")
    assert res.exit_code == 2
    assert res.stderr.strip() == f"error: no alert {unknown}"


def test_one_alert_reads_its_latest_version(chdb_db: ChdbDatabase,
                                            stored: dict[str, Alert]) -> None:
    a = stored["a"]
    rows = chdb_db.query(alert_sql(chdb_db.database, a.alert_id))
    assert [AlertLine.from_row(list(r)) for r in rows] == [AlertLine(
        str(a.alert_id), 2, "resolved", "critical", "seizure-kg-station-1h", "TJ-PYANJ",
        "TJ-PYANJ", T0 + 3600, T0 + 7200, False, "", 0, "", "TJ-PYANJ: back to 10.0 kg")]


@pytest.mark.parametrize("args, why", [
    (["alerts", "ack", "--by", "me"], "name an ALERT_ID, or a filter"),
    (["alerts", "ack", "00000000-0000-4000-8000-000000000000", "--rule", "r", "--by", "me"],
     "not both"),
    (["alerts", "ack", "--since", "2019-01-01", "--until", "2018-01-01", "--by", "me"],
     "--since must be before --until"),
    (["alerts", "ack", "--since", "last year", "--by", "me"], "is not a time"),
])
def test_bulk_ack_refuses_what_it_cannot_mean(args: list[str], why: str) -> None:
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2, res.output
    assert why in res.output


def test_the_bulk_filter_quotes_its_values() -> None:
    from blo.cli.alerts import AckFilter, bulk_sql

    f = AckFilter(rule="r' OR 1=1 --", scope="US-3604", since=1514764800, open_only=True)
    sql = bulk_sql("blo", f)
    assert "rule_id = 'r\\' OR 1=1 --'" in sql and "acked = 0" in sql
    assert "fired_at >= toDateTime(1514764800)" in sql and "state = 'firing'" in sql
    assert f.describe() == "rule r' OR 1=1 --, scope US-3604, since 2018-01-01 00:00:00 UTC, " \
                           "open only"


def test_the_bulk_filter_takes_the_lists_filters() -> None:
    from blo.cli.alerts import AckFilter, bulk_sql

    f = AckFilter(severities=("critical", "warning"), station="KZ-A'",
                  country="KZ", places=(("KZ-A'", "KZ", "KG-KZ"), ("TJ-B", "TJ", "AF-TJ")))
    assert not f.empty() and not AckFilter(severities=("info",)).empty()
    sql = bulk_sql("blo", f)
    assert "severity IN tuple('critical', 'warning')" in sql
    assert "station_id = 'KZ-A\\''" in sql and "acked = 0" in sql
    assert "scope_key = 'KZ'" in sql and "'TJ-B'" not in sql  # KZ names only its stations
    assert f.describe() == "severity critical,warning, station KZ-A', country KZ"


def test_bulk_ack_names_the_new_filters_in_its_usage() -> None:
    res = CliRunner().invoke(main, ["alerts", "ack", "--by", "me"])
    assert res.exit_code == 2 and "--severity, --station, --country" in res.output
    res = CliRunner().invoke(main, ["alerts", "ack", "--by", "me", "--severity", "fatal"])
    assert res.exit_code == 2 and "'fatal'" in res.output


# -- the options ack, mute and unmute share (blo/cli/alert_input.py) -------------------------

@pytest.mark.parametrize("command, deed", [
    (["mute", "--scope", "KZ", "--for", "1h", "--reason", "x"], "mutes"),
    (["unmute", "00000000-0000-4000-8000-000000000000"], "ends the mute"),
])
def test_mute_and_unmute_need_who_when_given(command: list[str], deed: str) -> None:
    res = CliRunner().invoke(main, ["alerts", *command, "--by", "  "])
    assert res.exit_code == 2
    assert f"must name who {deed}" in res.output


@pytest.mark.parametrize("args, says", [
    (["mute", "--scope", "KZ", "--for", "1h", "--reason", "r" * 2001, "--by", "me"],
     "reason: at most 2000 characters (2001 given)"),
    (["mute", "--scope", "KZ", "--for", "1h", "--reason", "x", "--by", "w" * 201],
     "at most 200 characters"),
    (["ack", "00000000-0000-4000-8000-000000000000", "--by", "me", "--comment", "c" * 2001],
     "--comment: at most 2000 characters (2001 given)"),
])
def test_texts_longer_than_the_api_takes_are_refused_before_anything_is_sent(
        args: list[str], says: str) -> None:
    # no broker, no database configured to answer: a refusal here comes before either
    res = CliRunner().invoke(main, ["alerts", *args],
                             env={"BLO_KAFKA_BOOTSTRAP": "127.0.0.1:9"})
    assert res.exit_code == 2, res.output
    assert says in " ".join(res.output.split())


@pytest.mark.parametrize("command, waits_until", [
    ("ack", "Wait until the worker has written the acknowledged version(s)."),
    ("mute", "Wait until the worker has stored the mute."),
    ("unmute", "Wait until the worker has stored the ended mute."),
])
def test_each_command_says_what_it_waits_for(command: str, waits_until: str) -> None:
    out = " ".join(CliRunner().invoke(main, ["alerts", command, "--help"]).output.split())
    assert waits_until in out
    assert "--timeout SECONDS" in out and "How long --wait waits." in out


def test_poll_reads_until_done_and_gives_the_last_reading() -> None:
    from blo.cli import alert_input

    readings = iter([1, 2, 3, 4])
    assert alert_input.poll(lambda: next(readings), lambda n: n >= 3, timeout=60) == (True, 3)
    readings = iter([1, 2])
    assert alert_input.poll(lambda: next(readings), lambda n: n >= 3, timeout=0) == (False, 1)
