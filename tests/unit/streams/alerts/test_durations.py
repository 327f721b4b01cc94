"""Human durations in alert messages: ``{span_s:duration}`` reads ``6 h``, not ``21600 s``."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.alerts import durations, load_rules
from streams.alerts.durations import Seconds
from streams.alerts.rules import PairedRule, SilenceRule
from streams.alerts.templates import placeholders, render, template_problems
from tests.unit.streams.alerts.factories import T0, H, alerts, engine, rule_yaml
from tests.unit.streams.alerts.test_paired import PAIRS


@pytest.mark.parametrize("seconds, text", [
    (21600, "6 h"), (1800, "30 min"), (172800, "2 d"), (5400, "1 h 30 min"),
    (65, "1 min 5 s"), (45, "45 s"), (0, "0 s"), (0.4, "0 s"), (59.6, "1 min"),
    (93784, "1 d 2 h"),  # 1 d 2 h 3 min 4 s: the largest unit and the next one
    (7203, "2 h"),  # 2 h 0 min 3 s: the next unit is zero, nothing after it
    (604800, "7 d"), (-3600, "-1 h"),
])
def test_human(seconds: float, text: str) -> None:
    assert durations.human(seconds) == text


@pytest.mark.parametrize("text, seconds", [
    ("6h", 21600), ("30m", 1800), ("30min", 1800), ("30 min", 1800), ("2d", 172800),
    ("1w", 604800), ("90s", 90), ("1h30m", 5400), ("1d 12h", 129600), ("3600", 3600),
    ("1.5h", 5400), ("6H", 21600),
])
def test_parse(text: str, seconds: int) -> None:
    assert durations.parse(text) == seconds


@pytest.mark.parametrize("text", ["", "six hours", "6 hours", "h", "6h x", "-1h", "6y"])
def test_parse_refuses_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError):
        durations.parse(text)


def test_human_reads_back() -> None:
    for s in (45, 60, 90, 1800, 3600, 5400, 21600, 86400, 90000, 172800):
        assert durations.parse(durations.human(s).replace(" ", "")) == s


def test_seconds_print_as_a_number_unless_asked_for_a_duration() -> None:
    ctx = {"span_s": Seconds(21600), "half": Seconds(1.5)}
    assert render("{span_s} s", ctx) == "21600 s"
    assert render("within {span_s:duration}", ctx) == "within 6 h"
    assert render("{span_s:.1f} {half} {half:duration}", ctx) == "21600.0 1.5 2 s"
    assert str(Seconds(1800)) == "1800" and float(Seconds(1800)) == 1800.0


def test_the_duration_spec_is_checked_at_load_time() -> None:
    assert template_problems("{span_s:duration}", "paired") == []
    assert template_problems("{silence_s:duration}", "silence") == []
    # on a placeholder that is not a duration it is refused when the rules load
    [problem] = template_problems("{value:duration}", "threshold")
    assert "duration" in problem
    assert isinstance(placeholders("paired")["span_s"], Seconds)


def test_a_paired_alert_says_its_span_in_hours() -> None:
    body = f"event_types: [seizure, incident]\nspan_s: {6 * H}"
    e = engine(rule_yaml(body, kind="paired",
                         message="{station_a} and {station_b} within {span_s:duration}"), PAIRS)
    e.on_event("TJ-PYANJ", "seizure", T0 + H, "e1")
    e.on_event("AF-SHERKHAN", "incident", T0 + 2 * H, "e2")
    [a] = alerts(e.drain())
    assert a["message"] == "AF-SHERKHAN and TJ-PYANJ within 6 h"


def test_the_shipped_rules_say_durations_for_people() -> None:
    rules = load_rules(Path(__file__).resolve().parents[4] / "blo" / "data" / "rules.yaml").rules
    for r in rules:
        if isinstance(r, PairedRule | SilenceRule):
            for lang, template in r.message.items():
                text = render(template, placeholders(r.kind))
                readable = {"en": "1 h 30 min", "ru": "1 ч 30 мин"}[lang]
                assert readable in text, (r.id, text)  # the sample duration, readable
                assert "5400" not in text, (r.id, text)


def test_russian_units_for_russian_templates() -> None:
    from streams.alerts.durations import Seconds, human

    assert human(21600, "ru") == "6 ч"
    assert human(5400, "ru") == "1 ч 30 мин"
    assert human(172800, "ru") == "2 д"
    assert f"{Seconds(1800):duration_ru}" == "30 мин"
    assert f"{Seconds(1800):duration}" == "30 min"
