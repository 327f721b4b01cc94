"""Alerts as signal in the API, the pure parts: the exact counts' shape, groups, the live
snapshot's counts, the parameters (page limit, filters) and who may mute what."""

from __future__ import annotations

import uuid

import pytest

from blo.api import shape
from blo.api.params import AlertParams, MuteBody, ParamError, parse, parse_mute
from blo.api.queries import (
    ALERT_SORTS,
    AlertFilter,
    alert_page_sql,
    alert_source,
    mute_expression,
)
from blo.api.scope import Scope, mute_refusal, mute_visible, visibility
from streams.alerts.mutes import Mute
from tests.unit.blo.api.test_shape import NOW, REG, T, alert_row

KZ = Scope(countries=frozenset({"KZ"}))
KG_KZ = Scope(countries=frozenset({"KG", "KZ"}))
KZ_CUSTOMS = Scope(countries=frozenset({"KZ"}), agencies=frozenset({"customs"}))
ALL = Scope(all=True)


def test_counts_are_taken_from_every_group_of_the_counts_query() -> None:
    # (severity, state, acked, muted, count) as alert_counts_sql returns them
    rows = [("critical", "firing", 0, 0, 8), ("warning", "firing", 0, 0, 42),
            ("warning", "firing", 1, 0, 3), ("info", "firing", 0, 1, 2000),
            ("critical", "firing", 0, 1, 1), ("warning", "resolved", 1, 0, 292)]
    c = shape.alert_counts(rows)
    assert c["alerts"] == 2346
    assert c["by_severity"] == {"critical": 9, "warning": 337, "info": 2000}
    assert c["by_state"] == {"firing": 2054, "resolved": 292}
    assert c["by_ack"] == {"acked": 295, "unacked": 2051}
    assert c["muted"] == 2001
    assert c["open"] == {"total": 53, "critical": 8, "warning": 45, "info": 0}
    assert c["open_muted"] == {"total": 2001, "critical": 1, "warning": 0, "info": 2000}
    empty = shape.alert_counts([])
    assert empty["alerts"] == 0 and empty["open"] == {"total": 0, "critical": 0,
                                                      "warning": 0, "info": 0}


def test_the_live_snapshot_counts_every_open_alert_not_the_page() -> None:
    v = visibility(KZ, REG.infos)
    page = shape.visible_alerts([alert_row(f"k{i}", "station", "KZ-KORDAI", "KZ-KORDAI")
                                 for i in range(50)], KZ, v, 50)
    counts = shape.alert_counts([("critical", "firing", 0, 0, 8),
                                 ("warning", "firing", 0, 0, 2338),
                                 ("warning", "firing", 0, 1, 7)])
    snap = shape.snapshot(NOW, KZ, "1m", 2.0, REG.visible(v), v, per_station=[], minutes=[],
                          open_alerts=page, counts=counts,
                          worst={"KZ-KARASU": "critical"})
    assert len(snap["alerts"]) == 50
    assert snap["alerts_open"] == 2346  # firing and not muted: every one, not the page
    assert snap["alerts_counts"]["open"] == {"total": 2346, "critical": 8, "warning": 2338,
                                             "info": 0}
    assert snap["alerts_counts"]["open_muted"]["total"] == 7
    assert snap["alerts_counts"]["firing"] == 2353
    # the badges come from the per-station query, not from the page
    assert {s["station_id"]: s["alert"] for s in snap["stations"]} == {
        "KZ-KORDAI": None, "KZ-KARASU": "critical"}


def test_groups_and_station_badges() -> None:
    names = '{"en": "40 lost", "rule_name": {"en": "Reports lost", "ru": "Потеряны донесения"}}'
    rows = [("gap", "Reports lost", "station", "KZ-KORDAI", 40, 39, 1, 0, 1, T - 7200, T,
             "a1", names),
            ("paired", "Pair", "pair", "KG-AK-JOL+KZ-KORDAI", 2, 2, 0, 2, 2, T - 60, T - 30,
             "a2", "")]
    g = shape.alert_groups(rows)
    assert g[0] == {"rule_id": "gap", "rule_name": "Reports lost",
                    "rule_names": {"en": "Reports lost", "ru": "Потеряны донесения"},
                    "scope": "station",
                    "scope_key": "KZ-KORDAI", "count": 40, "firing": 39, "acked": 1,
                    "muted": 0, "worst_severity": "warning",
                    "first_fired_at": "2026-11-28T08:00:00Z",
                    "latest_fired_at": "2026-11-28T10:00:00Z", "latest_alert_id": "a1"}
    assert g[1]["worst_severity"] == "critical" and g[1]["muted"] == 2
    assert g[1]["rule_names"] == {"en": "Pair"}  # stored before names had languages
    v = visibility(KZ, REG.infos)
    assert shape.station_worst([("KZ-KORDAI", 2), ("KG-AK-JOL", 1), ("KZ-KARASU", 0)], v) \
        == {"KZ-KORDAI": "critical", "KZ-KARASU": "info"}


def test_page_rows_carry_their_mute() -> None:
    m = Mute(str(uuid.uuid4()), 1, "r", "country", "KZ", "drill", "duty", T, T + 600,
             updated_at=T)
    rows = [(*alert_row("a", "station", "KZ-KORDAI", "KZ-KORDAI"), m.mute_id),
            (*alert_row("b", "station", "KZ-KARASU", "KZ-KARASU"), "")]
    a, b = shape.alert_page(rows, {m.mute_id: m})
    assert a["muted"] == {"mute_id": m.mute_id, "reason": "drill", "created_by": "duty",
                          "ends_at": "2026-11-28T10:10:00Z"}
    assert b["muted"] is None and a["fired_at"] == "2026-11-28T10:00:00Z"
    assert shape.mute_object(m, T + 600)["status"] == "expired"


def test_the_page_limit_is_1000_with_a_reason() -> None:
    assert parse(AlertParams, {"limit": "1000"}).limit == 1000
    with pytest.raises(ParamError) as e:
        parse(AlertParams, {"limit": "1001"})
    assert "at most 1000 per page" in str(e.value) and "offset" in str(e.value)


def test_alert_parameters() -> None:
    p = parse(AlertParams, {"severity": "critical, warning,critical", "acknowledged": "false",
                            "muted": "true", "sort": "time", "group": "rule_scope",
                            "country": "KZ", "station": "KZ-KORDAI", "rule": "sequence-gap",
                            "offset": "200"})
    assert p.severity == ("critical", "warning") and p.acknowledged is False
    assert (p.muted, p.sort, p.group, p.offset) == (True, "time", "rule_scope", 200)
    assert parse(AlertParams, {"open": "true"}).current_state() == "firing"
    for bad in ({"severity": "urgent"}, {"sort": "rule"}, {"group": "rule"},
                {"open": "true", "state": "resolved"}, {"country": "kz"}, {"offset": "-1"},
                {"rule": "A B"}):
        with pytest.raises(ParamError):
            parse(AlertParams, bad)


def test_the_severity_sort_puts_muted_last_then_the_worst_first() -> None:
    assert ALERT_SORTS["severity"].startswith("mute_ref != '', sev_rank DESC, fired_at DESC")
    src, params = alert_source("blo", ALL, None, AlertFilter(muted=False), [], {})
    sql = alert_page_sql(src, "time", 10, 20)
    assert sql.endswith("ORDER BY fired_at DESC, alert_id LIMIT 20, 10")
    assert "WHERE mute_ref = ''" in sql and params == {}


def test_the_mute_expression_follows_the_mutes_order_and_binds_every_value() -> None:
    places = {"KZ-KORDAI": ("KZ", "KG-KZ"), "KG-AK-JOL": ("KG", "KG-KZ")}
    late = Mute("m-late", 1, "", "border", "KG-KZ", "x", "d", T, T + 900, updated_at=T)
    early = Mute("m-early", 1, "r'1", "station", "KZ-KORDAI", "x", "d", T, T + 60,
                 updated_at=T)
    params: dict[str, object] = {}
    sql = mute_expression([early, late], places, params)
    assert sql.index("%(m0_id)s") < sql.index("%(m1_id)s")
    assert params["m0_id"] == "m-late" and params["m1_id"] == "m-early"
    assert params["m0_st"] == ("KG-AK-JOL", "KZ-KORDAI") and params["m1_rule"] == "r'1"
    assert "r'1" not in sql and "KZ-KORDAI" not in sql  # values only as parameters
    assert mute_expression([], places, {}) == "''"


def test_a_mute_body() -> None:
    b = parse_mute(b'{"rule": "paired-seizure-incident-6h", "duration": "6h", '
                   b'"reason": "exercise"}')
    assert isinstance(b, MuteBody) and b.scope is None
    for bad in (b'{"duration": "6h", "reason": "x"}', b'{"rule": "r", "reason": "x"}',
                b'{"rule": "r", "duration": "6h", "reason": ""}',
                b'{"rule": "r", "duration": "6h", "reason": "x", "extra": 1}'):
        with pytest.raises(ParamError):
            parse_mute(bad)


@pytest.mark.parametrize("scope, kind, key, allowed", [
    (ALL, "", "", True), (ALL, "border", "AF-TJ", True),
    (KZ, "", "", False),  # every country's alerts
    (KZ, "country", "KZ", True), (KZ, "country", "KG", False),
    (KZ, "border", "KG-KZ", False),  # would mute the KG side's alerts too
    (KG_KZ, "border", "KG-KZ", True),
    (KZ, "station", "KZ-KORDAI", True), (KZ, "station", "KG-AK-JOL", False),
    (KZ_CUSTOMS, "station", "KZ-KARASU", True),
    (KZ_CUSTOMS, "station", "KZ-KORDAI", False),  # another agency's post
    (KZ_CUSTOMS, "country", "KZ", False),
])
def test_who_may_mute_what(scope: Scope, kind: str, key: str, allowed: bool) -> None:
    v = visibility(scope, REG.infos)
    assert (mute_refusal(scope, v, kind, key) == "") is allowed


def test_which_mutes_a_token_lists() -> None:
    v = visibility(KZ, REG.infos)
    assert mute_visible(KZ, v, "", "")  # a rule's mute everywhere mutes its alerts too
    assert mute_visible(KZ, v, "border", "KG-KZ") and not mute_visible(KZ, v, "border", "AF-TJ")
    assert mute_visible(KZ, v, "station", "KZ-KORDAI")
    assert not mute_visible(KZ, v, "station", "KG-AK-JOL")
    assert not mute_visible(KZ, v, "country", "KG")
