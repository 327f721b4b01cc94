from __future__ import annotations

import io

from blo.sdk.jsonl import JsonlError, iter_jsonl


def test_objects_and_errors_come_out_in_place_with_line_numbers() -> None:
    text = '{"a": 1}\n\n{"b": 2}\nnot json\n[1, 2]\n  \n{"c": 3}\n'
    out = list(iter_jsonl(io.StringIO(text)))
    assert out[0] == {"a": 1} and out[1] == {"b": 2} and out[4] == {"c": 3}
    assert isinstance(out[2], JsonlError) and out[2].line_no == 4
    assert "not JSON" in out[2].reason and out[2].text == "not json"
    assert isinstance(out[3], JsonlError) and out[3].line_no == 5
    assert "expected a JSON object" in str(out[3]) and str(out[3]).startswith("line 5:")


def test_bytes_lines_and_bad_utf8() -> None:
    lines = [b'{"station_id": "KG-\xc3\xa9"}\n', b'{"x": "\xff"}\n']
    ok, bad = list(iter_jsonl(lines))
    assert ok == {"station_id": "KG-é"}
    assert isinstance(bad, JsonlError) and bad.line_no == 2 and "not UTF-8" in bad.reason


def test_long_bad_lines_are_shortened() -> None:
    [err] = list(iter_jsonl(["x" * 10_000]))
    assert isinstance(err, JsonlError) and len(err.text) < 200
