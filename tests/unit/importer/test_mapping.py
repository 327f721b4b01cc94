"""The mapping validator: bundled mappings load, bad ones are named by key path."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from blo.importer import MappingError, bundled_mappings, load_mapping, parse_mapping
from blo.importer.fields import ColumnRef, parse_template
from tests.unit.importer.helpers import BASE, make_mapping


def problems(doc: dict[str, Any] | str) -> list[str]:
    text = doc if isinstance(doc, str) else yaml.safe_dump(doc)
    with pytest.raises(MappingError) as info:
        parse_mapping(text, "test.yaml")
    assert "test.yaml" in str(info.value)
    return info.value.problems


def test_base_is_valid() -> None:
    m = parse_mapping(yaml.safe_dump(BASE))
    assert m.fields["station_id"].template == "X-{Port}"


def test_bundled_mappings_load() -> None:
    names = bundled_mappings()
    assert {"bts_border_crossing", "bts_san_ysidro", "bts_ports_with_coords",
            "cbp_drug_seizures"} <= set(names)
    for name in names:
        assert load_mapping(name).name == name


def test_bts_mappings_share_measure_codes() -> None:
    """source_seq must not depend on which BTS file a fact came from."""
    tables = [load_mapping(n).source_seq for n in
              ("bts_border_crossing", "bts_san_ysidro", "bts_ports_with_coords")]
    assert tables[0] == tables[1] == tables[2]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"fields.station_id": "X-{Prot}"},
         "fields.station_id.template: unknown column 'Prot'"),
        ({"fields.value": {"column": "Value", "transforms": ["uper"]}},
         "fields.value.transforms[0].op: Input should be"),
        ({"fields.unit": {"const": "kg", "scale": 2}},
         "fields.unit: scale/round go on the top spec of a numeric target"),
        ({"fields.value": {"column": "Value", "template": "{Value}"}},
         "fields.value: give exactly one of"),
        ({"fields.colour": "red"}, "fields.colour: unknown count_report target"),
        ({"fields.unit": None}, "fields.unit: required"),
        ({"time.default_tz": "Mars/Olympus"}, "time.default_tz: unknown IANA time zone"),
        ({"time.period": "week"}, "time.period: Input should be"),
        ({"time.formats": []}, "time.formats: at least one strptime format"),
        ({"time.formats": ["%Y-%m-%d", "%Q"]}, "time.formats[1]: '%Q' is not a usable strptime"),
        ({"time.window": {"start": "2021-01-01", "end": "2020-01-01"}},
         "time.window: start must be before end"),
        ({"source_seq.parts": [{"field": "measure", "digits": 1, "codes": {"a": 1, "b": 1}}]},
         "source_seq.parts[0].codes.b: code 1 already used by 'a'"),
        ({"source_seq.parts": [{"field": "measure", "digits": 1, "codes": {"a": 10}}]},
         "source_seq.parts[0].codes.a: 10 does not fit 1 digit(s)"),
        ({"source_seq.period_key": "yyyy"},
         "source_seq.period_key: yyyy is coarser than the month period"),
        ({"csv.delimiter": ";;"}, "csv.delimiter: String should have at most 1 character"),
        ({"csv.header": False, "csv.columns": None}, "csv.columns: required when csv.header is false"),
        ({"event.type": "seizure"}, "event.type: Input should be 'count_report'"),
        ({"event.emit": [{"measure": "a"}, {"measure": "b", "station_id": "x"}]},
         "event.emit[1].station_id: an emitted event may set only"),
        ({"bogus": 1}, "bogus: Extra inputs are not permitted"),
    ],
)
def test_bad_key_path_is_named(changes: dict[str, Any], expected: str) -> None:
    found = problems(make_mapping(**changes))
    assert any(p.startswith(expected) or expected in p for p in found), found


def test_nested_path_inside_station_tz_map() -> None:
    doc = make_mapping(stations={
        "valid_from": "2000-01-01",
        "fields": {"name": "{Port}", "country": "US",
                   "tz": {"first_of": [{"column": "Port", "map": {"A": "Europe/Nowhere"}}]}},
    })
    found = problems(doc)
    assert "stations.fields.tz.first_of[0].map.A: unknown IANA time zone 'Europe/Nowhere'" in found


def test_yaml_boolean_trap_is_explained() -> None:
    text = yaml.safe_dump(BASE).replace("unit: count", "unit: {column: Measure, map: {a: x}}")
    text = text.replace("{a: x}", "{NO: x}")  # YAML 1.1: NO is false
    (problem,) = problems(text)
    assert problem.startswith("fields.unit.map.False (key)")
    assert "quote the text" in problem


def test_multi_emit_needs_a_distinguishing_part() -> None:
    doc = make_mapping(**{"event.emit": [{"measure": "a"}, {"measure": "b"}],
                          "source_seq.parts": []})
    assert any("several events per row" in p for p in problems(doc))


def test_every_problem_is_reported_at_once() -> None:
    doc = make_mapping(**{"fields.station_id": "X-{Prot}", "time.default_tz": "Nope/Nope"})
    assert len(problems(doc)) == 2


def test_unreadable_sources() -> None:
    assert "not valid YAML" in problems("a: [")[0]
    assert "must be a mapping" in problems("- 1\n- 2\n")[0]
    with pytest.raises(MappingError, match="no bundled mapping"):
        load_mapping("no_such_mapping")


def test_template_parsing() -> None:
    assert parse_template("US-{Port Code}") == ["US-", ColumnRef("Port Code")]
    assert parse_template("{{x}} {Month (abbv)}") == ["{x} ", ColumnRef("Month (abbv)")]
    for bad in ("{", "a}", "{}", "{a{b}"):
        with pytest.raises(ValueError):
            parse_template(bad)
