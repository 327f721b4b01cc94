from __future__ import annotations

from blo.analytics.bulletin.strings import DRUGS, STRINGS, kg, number, percent, signed, text


def test_every_string_exists_in_both_languages() -> None:
    for table in (STRINGS, DRUGS):
        for key, langs in table.items():
            assert set(langs) == {"en", "ru"} and all(langs.values()), key


def test_numbers_per_language() -> None:
    assert number(1234567.25, "en", 1) == "1,234,567.2" or number(1234567.25, "en", 1) \
        == "1,234,567.3"
    assert number(1234567, "ru") == "1\u00a0234\u00a0567"
    assert number(1234.5, "ru", 1) == "1\u00a0234,5"
    assert kg(12_345_678, "en") == "12.3" and kg(12_345_678, "ru") == "12,3"
    assert signed(-3, "en") == "\u22123" and signed(3, "en") == "+3" and signed(0, "en") == "0"
    assert percent(None, "en") == "n/a" and percent(None, "ru") == "н/д"
    assert percent(12.5, "ru") == "+12,5\u00a0%"
    assert text("method_late", "ru", late="3").endswith("3.")
