"""Rules files: the default set, every problem with its line and field path, templates."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.alerts import (
    BaselineRule,
    PairedRule,
    RulesError,
    SequenceGapRule,
    SilenceRule,
    ThresholdRule,
    check_rules,
    format_problems,
    load_rules,
)
from streams.alerts.check import check_rules_text
from streams.windows import load_window_config

ROOT = Path(__file__).resolve().parents[4]
DEFAULT_RULES = ROOT / "blo" / "data" / "rules.yaml"
WINDOWS = {w.name for w in load_window_config(ROOT / "blo" / "data" / "windows.yaml").windows}


def problems(text: str, windows: set[str] | None = None) -> list[tuple[int, str, str]]:
    return [(p.line, p.path, p.message) for p in check_rules_text(text, "f.yaml", windows)]


def test_the_default_rule_set_is_valid_and_covers_every_kind() -> None:
    assert check_rules(DEFAULT_RULES, WINDOWS) == []
    ruleset = load_rules(DEFAULT_RULES, WINDOWS)
    kinds = {type(r) for r in ruleset.rules}
    assert kinds == {ThresholdRule, BaselineRule, SilenceRule, SequenceGapRule, PairedRule}
    by_id = {r.id: r for r in ruleset.rules}
    big = by_id["seizure-kg-station-1h"]
    assert isinstance(big, ThresholdRule)
    assert (big.statistic, big.window, big.scope, big.op, big.raise_, big.on) == (
        "seizure_kg", "1h", "station", ">=", 50, "final")
    opiates = by_id["opiates-kg-border-day"]
    assert isinstance(opiates, ThresholdRule)
    assert opiates.on == "provisional"  # the YAML key `on` is not read as a boolean
    assert opiates.filters.dimension == ("heroin", "opium", "morphine")


BAD = """\
version: 1
rules:
  - id: big
    name: Big seizure
    severity: critical
    message: "{station_id}: {value:.1f} kg, {nonsense}"
    kind: threshold
    statistic: seizure_kg
    window: 1h
    op: ">="
    raise: 50
    clear: 60
  - id: big
    name: Silent
    severity: urgent
    message: "{value:d} s"
    kind: silence
    silence_s: 1800
    active_within_s: 600
    colour: red
  - id: Bad Id
    name: x
    severity: info
    message: m
    kind: threshold
    statistic: kilograms
    window: 2h
    raise: lots
  - name: no id
    severity: info
    message: m
    kind: paired
    event_types: seizure
    span_s: 60
    span_s: 120
  - id: nokind
    name: n
    severity: info
    message: m
"""


def test_every_problem_is_reported_with_its_line_and_field_path() -> None:
    assert problems(BAD, {"1m", "1h", "day"}) == [
        (6, "rules.0.message", (
            "unknown placeholder {nonsense}; known for threshold: border, corrected, country, "
            "fired_at, kind, op, resolved_at, rule_id, rule_name, scope, scope_key, severity, state, "
            "station_id, statistic, threshold, value, window_end, window_kind, window_label, "
            "window_start")),
        (12, "rules.0.clear", "with op '>=', clear (60) must be <= raise (50)"),
        (13, "rules.1.id", "rule id 'big' repeats rules.0.id"),
        (15, "rules.1.severity", "Input should be 'info', 'warning' or 'critical'"),
        (16, "rules.1.message",
         "not a valid template: Unknown format code 'd' for object of type 'float'"),
        (19, "rules.1.active_within_s",
         "active_within_s (600) must be greater than silence_s (1800)"),
        (20, "rules.1.colour", "unknown field"),
        (21, "rules.2.id", (
            "must be 1-64 of lowercase letters, digits, '_', '.', '-', starting with a letter "
            "or digit")),
        (26, "rules.2.statistic", (
            "Input should be 'events', 'persons', 'vehicles', 'refused', 'inbound', "
            "'outbound', 'seizure_kg', 'seizure_kg_max', 'arrests', 'inspections_with_finds' "
            "or 'value'")),
        (27, "rules.2.window", "unknown window '2h'; configured: 1h, 1m, day"),
        (28, "rules.2.raise", "Input should be a valid number, unable to parse string as a number"),
        (29, "rules.3.id", "required field is missing"),
        (35, "rules.3.span_s", "duplicate key (first at line 34)"),
        (36, "rules.4.kind", (
            "required field is missing (one of threshold, baseline, silence, sequence_gap, "
            "paired)")),
    ]


def test_format_problems_and_load_rules_raise_with_all_of_them(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(BAD)
    found = check_rules(path)
    text = format_problems(found)
    lines = text.splitlines()
    assert lines[0].startswith(f"{path}:6: rules.0.message: unknown placeholder {{nonsense}}")
    assert f"{path}:20: rules.1.colour: unknown field" in lines
    assert lines[-1] == f"{len(found)} problems"
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    assert caught.value.problems == found
    assert str(caught.value) == text
    assert format_problems([]) == ""


def test_yaml_syntax_errors_have_a_line() -> None:
    text = "version: 1\nrules:\n  - id: a\n    op: >=\n"
    [(line, path, message)] = problems(text)
    assert (line, path) == (4, "") and message.startswith("not valid YAML")


def test_the_document_must_be_a_version_1_mapping() -> None:
    assert problems("- a\n- b\n") == [(1, "", "expected a mapping: version: 1, rules: [...]")]
    assert problems("version: 2\nrules: []\n") == [(1, "version", "Input should be 1")]
    assert problems("rules: []\n") == [(1, "version", "required field is missing")]
    assert problems("version: 1\n") == []


def test_an_unreadable_file_is_one_problem(tmp_path: Path) -> None:
    [p] = check_rules(tmp_path / "missing.yaml")
    assert p.line == 0 and p.message.startswith("cannot read")


@pytest.mark.parametrize(("kind", "fields", "template", "error"), [
    ("threshold", "statistic: events\nwindow: 1h\nraise: 1", "{gap_size}",
     "unknown placeholder {gap_size}"),
    ("sequence_gap", "min_gap: 1", "{gap_size} {gap_from:d}", None),
    ("sequence_gap", "min_gap: 1", "{statistic}", "unknown placeholder {statistic}"),
    ("silence", "silence_s: 60\nactive_within_s: 600", "{last_event_at} {silence_s:.0f}", None),
    ("paired", "event_types: [seizure]\nspan_s: 60", "{station_a}/{station_b} {span_s}", None),
    ("baseline", "statistic: refused\nwindow: 1h\nk: 2", "{mean:.1f} {stddev} {history_weeks}",
     None),
    ("threshold", "statistic: events\nwindow: 1h\nraise: 1", "{}", "only plain names"),
    ("threshold", "statistic: events\nwindow: 1h\nraise: 1", "{value.real}", "only plain names"),
    ("threshold", "statistic: events\nwindow: 1h\nraise: 1", "{value", "not a valid template"),
    ("threshold", "statistic: events\nwindow: 1h\nraise: 1", "{station_id:.2f}",
     "not a valid template"),
])
def test_message_placeholders_are_checked_at_load(kind: str, fields: str, template: str,
                                                  error: str | None) -> None:
    body = "\n".join("    " + ln for ln in fields.splitlines())
    text = (f"version: 1\nrules:\n  - id: r\n    name: r\n    severity: info\n"
            f"    message: '{template}'\n    kind: {kind}\n{body}\n")
    found = problems(text)
    if error is None:
        assert found == []
    else:
        [(line, path, message)] = found
        assert (line, path) == (6, "rules.0.message") and error in message


@pytest.mark.parametrize(("fields", "path", "error"), [
    ("op: '<='\nraise: 10\nclear: 5", "clear", "must be >= raise"),
    ("op: '<'\nraise: 10\nclear: 10", None, None),
    ("op: '=='\nraise: 10", "op", "Input should be"),
    ("raise: 10\nfor_s: -1", "for_s", "greater than or equal to 0"),
    ("raise: 10\non: sometimes", "on", "Input should be 'final' or 'provisional'"),
    ("raise: 10\nscope: region", "scope", "Input should be"),
    ("raise: 10\nfilters: {drug: heroin}", "filters.drug", "unknown field"),
    ("raise: 10\nfilters: {countries: []}", "filters.countries", "at least 1 item"),
])
def test_threshold_fields(fields: str, path: str | None, error: str | None) -> None:
    body = "\n".join("    " + ln for ln in ("statistic: events\nwindow: 1h\n" + fields).splitlines())
    text = ("version: 1\nrules:\n  - id: r\n    name: r\n    severity: info\n    message: m\n"
            f"    kind: threshold\n{body}\n")
    found = problems(text)
    if path is None or error is None:
        assert found == []
    else:
        [(_, where, message)] = found
        assert where == f"rules.0.{path}" and error in message


def test_baseline_and_label_checks() -> None:
    text = """\
version: 1
rules:
  - id: b
    name: b
    severity: info
    message: m
    labels: {"bad key": x, ok: y}
    kind: baseline
    statistic: refused
    window: 1h
    k: 1
    clear_k: 2
    weeks: 2
    min_weeks: 3
"""
    assert [(line, path) for line, path, _ in problems(text)] == [
        (7, "rules.0.labels"), (12, "rules.0.clear_k"), (14, "rules.0.min_weeks")]
