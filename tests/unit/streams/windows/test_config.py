"""Window configuration: defaults, the shipped example file, and validation errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from blo.settings import WindowSettings
from streams.windows.config import WindowConfig, WindowSpec, load_window_config, window_config

EXAMPLE = Path(__file__).resolve().parents[4] / "blo" / "data" / "windows.yaml"


def test_defaults_are_the_documented_windows() -> None:
    c = WindowConfig()
    assert [(w.name, w.kind, w.size_s, w.hop_s) for w in c.windows] == [
        ("1m", "tumbling", 60, None),
        ("1h", "tumbling", 3600, None),
        ("1h/5m", "hopping", 3600, 300),
        ("day", "calendar_day", None, None),
        ("month", "calendar_month", None, None),
    ]
    assert (c.out_of_orderness_s, c.grace_s, c.allowed_lateness_s, c.idle_timeout_s,
            c.provisional_interval_s) == (30, 30, 3600, 300, 5)


def test_the_example_file_is_the_default_configuration() -> None:
    assert load_window_config(EXAMPLE) == WindowConfig()


def test_json_files_load_too(tmp_path: Path) -> None:
    p = tmp_path / "w.json"
    p.write_text(json.dumps({"windows": [{"name": "15m", "kind": "tumbling", "size_s": 900}],
                             "grace_s": 0}))
    c = load_window_config(p)
    assert c.windows == (WindowSpec(name="15m", kind="tumbling", size_s=900),)
    assert c.grace_s == 0


def test_models_are_frozen() -> None:
    with pytest.raises(ValidationError):
        WindowConfig().grace_s = 1


@pytest.mark.parametrize(("spec", "message"), [
    ({"name": "5m", "kind": "tumbling"}, "tumbling windows need size_s"),
    ({"name": "5m", "kind": "tumbling", "size_s": 90}, "size_s must be a multiple of 60"),
    ({"name": "5m", "kind": "tumbling", "size_s": 0}, "greater than 0"),
    ({"name": "5m", "kind": "tumbling", "size_s": 300, "hop_s": 60}, "take no hop_s"),
    ({"name": "h", "kind": "hopping", "size_s": 3600}, "hopping windows need hop_s"),
    ({"name": "h", "kind": "hopping", "size_s": 3600, "hop_s": 90}, "hop_s must be a multiple"),
    ({"name": "h", "kind": "hopping", "size_s": 3600, "hop_s": 3600}, "must be smaller"),
    ({"name": "h", "kind": "hopping", "size_s": 3600, "hop_s": 420}, "must divide size_s"),
    ({"name": "d", "kind": "calendar_day", "size_s": 86400}, "take no size_s or hop_s"),
    ({"name": "w", "kind": "calendar_week"}, "Input should be"),
    ({"name": "bad name", "kind": "calendar_day"}, "letters, digits"),
    ({"name": "", "kind": "calendar_day"}, "letters, digits"),
    ({"name": "x" * 33, "kind": "calendar_day"}, "letters, digits"),
    ({"name": "d", "kind": "calendar_day", "colour": "red"}, "Extra inputs"),
])
def test_bad_specs_are_refused_with_a_clear_message(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        WindowSpec.model_validate(spec)


def test_window_names_are_unique_and_windows_not_empty() -> None:
    day = {"name": "d", "kind": "calendar_day"}
    with pytest.raises(ValidationError, match="repeated: d"):
        WindowConfig.model_validate({"windows": [day, day]})
    with pytest.raises(ValidationError, match="at least one"):
        WindowConfig.model_validate({"windows": []})


@pytest.mark.parametrize("field", ["out_of_orderness_s", "grace_s", "allowed_lateness_s"])
def test_negative_durations_are_refused(field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        WindowConfig.model_validate({field: -1})


@pytest.mark.parametrize("field", ["idle_timeout_s", "provisional_interval_s"])
def test_zero_intervals_are_refused(field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        WindowConfig.model_validate({field: 0})


def test_file_errors_name_the_file_and_the_field(tmp_path: Path) -> None:
    p = tmp_path / "windows.yaml"
    p.write_text("windows:\n  - name: 1h\n    kind: hopping\n    size_s: 3600\n    hop_s: 700\n")
    with pytest.raises(ValueError, match=r"windows\.yaml: windows\.0: .*hop_s must be a multiple"):
        load_window_config(p)
    p.write_text("grace_s: soon\n")
    with pytest.raises(ValueError, match=r"windows\.yaml: grace_s: "):
        load_window_config(p)
    p.write_text("windows: [\n")
    with pytest.raises(ValueError, match=r"windows\.yaml: not valid yaml"):
        load_window_config(p)
    p.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match=r"windows\.yaml: expected a mapping"):
        load_window_config(p)
    with pytest.raises(ValueError, match=r"missing\.yaml: cannot read"):
        load_window_config(tmp_path / "missing.yaml")


def test_an_empty_file_means_the_defaults(tmp_path: Path) -> None:
    p = tmp_path / "w.yml"
    p.write_text("# nothing set\n")
    assert load_window_config(p) == WindowConfig()


def test_the_settings_name_the_file_and_the_stream_side_reads_it(tmp_path: Path) -> None:
    assert WindowSettings().config_path().resolve() == EXAMPLE
    assert window_config(WindowSettings()) == WindowConfig()
    p = tmp_path / "w.yaml"
    p.write_text("windows: [{name: 15m, kind: tumbling, size_s: 900}]\n")
    c = window_config(WindowSettings(config=p))
    assert c.windows == (WindowSpec(name="15m", kind="tumbling", size_s=900),)
    p.write_text("grace_s: -1\n")
    with pytest.raises(ValueError, match=r"w\.yaml: grace_s"):
        window_config(WindowSettings(config=p))
