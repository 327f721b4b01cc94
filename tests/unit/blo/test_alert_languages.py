"""Alert messages in Russian and English where people read them: the API's alert objects
(``messages``) and ``blo alerts list --lang`` over alerts stored in embedded chDB."""

from __future__ import annotations

import json
from typing import Any

from blo.api import shape
from blo.api.queries import AlertFilter, alert_page_sql, alert_source
from blo.api.scope import Scope
from sinks.chdb import ChdbDatabase
from sinks.sql import render
from sinks.tables import ALERTS
from streams.alerts.rows import Alert
from tests.unit.blo import alert_rows
from tests.unit.blo.alert_rows import T0, run

ALL = Scope(all=True)
EN = "TJ-PYANJ: 60.0 kg seized"
RU = "TJ-PYANJ: изъято 60.0 кг"


def make_alert(**overrides: Any) -> Alert:
    """An alert with its message in English and Russian."""
    return alert_rows.make_alert(**{"message": EN, "messages": (("en", EN), ("ru", RU)),
                                    "rule_names": (("en", "Large seizure at a post"),
                                                   ("ru", "Крупное изъятие")),
                                    **overrides})


def test_list_prints_the_message_in_the_chosen_language(chdb_db: ChdbDatabase) -> None:
    both = make_alert()
    english_only = make_alert(scope_key="KZ-KORDAI", station_id="KZ-KORDAI",
                              message="KZ-KORDAI: old alert", messages=(), rule_names=(),
                              fired_at=T0 + 7200, severity="warning")
    chdb_db.insert("alerts", ALERTS.column_names, [both.row(), english_only.row()])
    en = run(chdb_db, "list")
    assert en.exit_code == 0, en.output
    assert EN in en.stdout and RU not in en.stdout
    ru = run(chdb_db, "list", "--lang", "ru")
    assert ru.exit_code == 0, ru.output
    assert RU in ru.stdout and EN not in ru.stdout
    assert "KZ-KORDAI: old alert" in ru.stdout  # no Russian stored: English
    docs = {d["scope_key"]: d for d in json.loads(
        run(chdb_db, "list", "--lang", "ru", "--format", "json").stdout)}
    assert docs["TJ-PYANJ"]["message"] == RU
    assert docs["TJ-PYANJ"]["messages"] == {"en": EN, "ru": RU}
    assert docs["KZ-KORDAI"]["messages"] == {"en": "KZ-KORDAI: old alert"}
    # the rule's name too: Russian where the rules file gave one, English otherwise
    assert docs["TJ-PYANJ"]["rule_name"] == "Крупное изъятие"
    assert docs["TJ-PYANJ"]["rule_names"] == {"en": "Large seizure at a post",
                                              "ru": "Крупное изъятие"}
    assert docs["KZ-KORDAI"]["rule_name"] == "Large seizure at a post"
    bad = run(chdb_db, "list", "--lang", "de")
    assert bad.exit_code == 2 and "--lang" in bad.output


def test_the_api_alert_object_has_messages_as_an_object(chdb_db: ChdbDatabase) -> None:
    chdb_db.insert("alerts", ALERTS.column_names, [make_alert().row()])
    src, params = alert_source(chdb_db.database, ALL, None, AlertFilter(), [], {})
    rows = chdb_db.query(render(alert_page_sql(src, "time", 10, 0), params))
    [a] = shape.alert_page(rows, {})
    assert a["message"] == EN
    assert a["messages"] == {"en": EN, "ru": RU}
    legacy = [(*rows[0][:-2], "", "")]  # stored before migration 10: messages ''
    assert rows[0][-1] == ""  # no mute
    assert shape.alert_page(legacy, {})[0]["messages"] == {"en": EN}
