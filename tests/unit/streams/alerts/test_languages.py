"""Alert messages and rule names per language: templates and names per language in the
rules file, the check that every declared language is there (for the message and the name
of every rule), and the engine rendering each into the ``messages`` column (JSON), the
alert message and its schema."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import jsonschema
import orjson
import pytest

from sinks.tables import ALERTS
from streams.alerts import alert_json_schema, alert_message, check_rules_text
from streams.alerts.check import load_rules
from streams.alerts.rows import Alert
from tests.unit.streams.alerts.factories import T0, H, alerts, engine, feed, wrow

SHIPPED = Path(__file__).resolve().parents[4] / "blo" / "data" / "rules.yaml"

TWO = textwrap.dedent("""\
    version: 1
    languages: [en, ru]
    rules:
      - id: big
        name:
          en: Big seizure
          ru: Крупное изъятие
        severity: critical
        message:
          en: "{station_id}: {value:.1f} kg seized"
          ru: "{station_id}: изъято {value:.1f} кг"
        kind: threshold
        statistic: seizure_kg
        window: 1h
        filters: {event_type: seizure}
        raise: 50
        settle_s: 0
    """)


def test_the_engine_renders_every_language_into_messages() -> None:
    rows = feed(engine(TWO), [wrow(T0, seizure_kg=60)])
    [a] = alerts(rows)
    assert a["message"] == "TJ-PYANJ: 60.0 kg seized"
    assert json.loads(a["messages"]) == {"en": "TJ-PYANJ: 60.0 kg seized",
                                         "ru": "TJ-PYANJ: изъято 60.0 кг",
                                         "rule_name": {"en": "Big seizure",
                                                       "ru": "Крупное изъятие"}}
    alert = Alert.from_row(rows[0])
    assert alert.rule_name == "Big seizure"
    assert alert.rule_names_by_language == {"en": "Big seizure", "ru": "Крупное изъятие"}
    assert alert.messages_by_language == {"en": "TJ-PYANJ: 60.0 kg seized",
                                          "ru": "TJ-PYANJ: изъято 60.0 кг"}  # names apart
    assert alert.message_in("ru") == "TJ-PYANJ: изъято 60.0 кг"
    assert alert.message_in("de") == "TJ-PYANJ: 60.0 kg seized"  # unknown: English
    assert Alert.from_row(alert.row()) == alert  # the column reads back


PLAIN_NAME = ('    name:\n      en: Big seizure\n      ru: Крупное изъятие\n',
              '    name: Big seizure\n')


def test_a_plain_string_is_english_and_messages_holds_it() -> None:
    text = TWO.replace("languages: [en, ru]\n", "").replace(
        '    message:\n      en: "{station_id}: {value:.1f} kg seized"\n'
        '      ru: "{station_id}: изъято {value:.1f} кг"\n',
        '    message: "{station_id} only English"\n').replace(*PLAIN_NAME)
    assert check_rules_text(text) == []
    [a] = alerts(feed(engine(text), [wrow(T0, seizure_kg=60)]))
    assert (a["message"], a["rule_name"], json.loads(a["messages"])) == (
        "TJ-PYANJ only English", "Big seizure",
        {"en": "TJ-PYANJ only English", "rule_name": {"en": "Big seizure"}})


def test_a_row_without_messages_reads_as_english_only() -> None:
    row = feed(engine(TWO), [wrow(T0, seizure_kg=60)])[0]
    old = Alert.from_row(tuple(row[:-1]))  # a row read as before migration 10
    assert old.messages_by_language == {"en": "TJ-PYANJ: 60.0 kg seized"}
    assert Alert.from_row((*row[:-1], "")).messages_by_language == {
        "en": "TJ-PYANJ: 60.0 kg seized"}


def test_a_rule_lacking_a_declared_language_is_a_problem_with_its_line() -> None:
    text = TWO.replace('      ru: "{station_id}: изъято {value:.1f} кг"\n', "")
    [p] = check_rules_text(text, "r.yaml")
    assert (p.line, p.path) == (9, "rules.0.message")
    assert "no template for ru" in p.message and "languages: en, ru" in p.message
    plain = TWO.replace(
        '    message:\n      en: "{station_id}: {value:.1f} kg seized"\n'
        '      ru: "{station_id}: изъято {value:.1f} кг"\n',
        '    message: "{station_id} only English"\n')
    [p] = check_rules_text(plain, "r.yaml")  # a plain string is English alone
    assert p.path == "rules.0.message" and "no template for ru" in p.message


def test_a_rule_lacking_a_declared_language_in_its_name_is_a_problem_with_its_line() -> None:
    text = TWO.replace("      ru: Крупное изъятие\n", "")
    [p] = check_rules_text(text, "r.yaml")
    assert (p.line, p.path) == (5, "rules.0.name")
    assert "no name for ru" in p.message and "languages: en, ru" in p.message
    [p] = check_rules_text(TWO.replace(*PLAIN_NAME), "r.yaml")  # a plain string: English
    assert (p.line, p.path) == (5, "rules.0.name") and "no name for ru" in p.message
    [p] = check_rules_text(TWO.replace("      ru: Крупное изъятие\n",
                                       "      ru: Крупное изъятие\n      de: Groß\n"))
    assert p.path == "rules.0.name" and "de is not declared" in p.message
    ps = check_rules_text(TWO.replace("      en: Big seizure\n", ""))
    assert {p.path for p in ps} == {"rules.0.name"}
    assert any("no name for en" in p.message for p in ps), ps
    [p] = check_rules_text(TWO.replace("      ru: Крупное изъятие\n", '      ru: " "\n'))
    assert p.path == "rules.0.name" and "ru: empty name" in p.message
    # without declared languages, English alone is enough; a mapping must have it
    bare = TWO.replace("languages: [en, ru]\n", "")
    assert check_rules_text(bare.replace("      ru: Крупное изъятие\n", "")) == []
    [p] = check_rules_text(bare.replace("      en: Big seizure\n", ""))
    assert p.path == "rules.0.name" and "no 'en' name" in p.message


def test_a_row_stored_before_names_had_languages_reads_its_rule_name_as_english() -> None:
    row = feed(engine(TWO), [wrow(T0, seizure_kg=60)])[0]
    old = Alert.from_row((*row[:-1], '{"en": "x", "ru": "y"}'))
    assert old.rule_names_by_language == {"en": "Big seizure"}
    assert Alert.from_row(old.row()) == old


def test_without_languages_a_mapping_needs_english_only() -> None:
    text = TWO.replace("languages: [en, ru]\n", "").replace(
        '      ru: "{station_id}: изъято {value:.1f} кг"\n', "")
    assert check_rules_text(text) == []
    no_en = TWO.replace("languages: [en, ru]\n", "").replace(
        '      en: "{station_id}: {value:.1f} kg seized"\n', "")
    [p] = check_rules_text(no_en)
    assert p.path == "rules.0.message" and "no 'en' template" in p.message


@pytest.mark.parametrize(("bad", "expect"), [
    ('ru: "{station_id}: {nonsense}"', "ru: unknown placeholder {nonsense}"),
    ('ru: "{silence_s:duration}"', "ru: unknown placeholder {silence_s}"),
    ('ru: "{value:duration}"', "ru: not a valid template"),
])
def test_each_language_s_placeholders_are_checked(bad: str, expect: str) -> None:
    text = TWO.replace('ru: "{station_id}: изъято {value:.1f} кг"', bad)
    problems = check_rules_text(text)
    assert [p.path for p in problems] == ["rules.0.message"]
    assert expect in problems[0].message


def test_languages_are_checked() -> None:
    found = {(p.line, p.path, p.message)
             for p in check_rules_text(TWO.replace("languages: [en, ru]", "languages: [ru]"))}
    assert (2, "languages", "must include 'en' (the alerts' message)") in found
    undeclared = TWO.replace('      ru: "{station_id}', '      de: "x"\n      ru: "{station_id}')
    [p] = check_rules_text(undeclared)
    assert p.path == "rules.0.message" and "de is not declared" in p.message


def test_the_shipped_rules_speak_every_declared_language() -> None:
    rs = load_rules(SHIPPED)
    assert rs.languages == ("en", "ru")
    for r in rs.rules:
        assert set(r.message) == {"en", "ru"}, r.id
        assert re.search("[а-яё]", r.message["ru"]), (r.id, r.message["ru"])
        assert set(r.names) == {"en", "ru"}, r.id
        assert re.fullmatch("[А-ЯЁ][а-яё ]+", r.names["ru"]), (r.id, r.names["ru"])
        placeholders = [set(re.findall(r"\{(\w+)", t)) for t in r.message.values()]
        assert placeholders[0] == placeholders[1], r.id  # the same facts in both


def test_the_alert_message_carries_messages_and_fits_its_schema() -> None:
    row = feed(engine(TWO), [wrow(T0, seizure_kg=60), wrow(T0 + H, seizure_kg=0)])[0]
    doc = orjson.loads(alert_message(row))
    assert doc["messages"] == {"en": "TJ-PYANJ: 60.0 kg seized",
                               "ru": "TJ-PYANJ: изъято 60.0 кг"}
    jsonschema.validate(doc, alert_json_schema())
    assert ALERTS.column_names[-1] == "messages"
