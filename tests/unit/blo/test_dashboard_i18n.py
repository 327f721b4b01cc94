"""The dashboard's two catalogues (blo/api/static/js/lang-en.js, lang-ru.js) against the
sources that use them, read as text: every key the page uses (``t('…')``, ``tn('…')``, a
key-shaped string literal, ``data-i18n*="…"`` in index.html) is in both languages; no key
of a catalogue is unused; every code of a vocabulary the page translates with
``vocab(namespace, …)`` has its words in both (the vocabularies of schemas.vocab); plural
entries have the forms each language needs; no visible text of index.html is left outside
the catalogue; the Russian texts are Russian. The modules' behaviour in a browser is
test_dashboard_modules.py; the page in Russian, tests/integration/api/test_dashboard.py."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

from schemas.vocab import Agency, Drug, EventType, Impact, IncidentType, Offence

STATIC = Path(__file__).resolve().parents[3] / "blo" / "api" / "static"
JS = STATIC / "js"
SOURCES = [p for p in sorted(JS.glob("*.js")) if not p.name.startswith("lang-")]

VOCABULARIES: dict[str, set[str]] = {
    "event_type": {m.value for m in EventType}, "drug": {m.value for m in Drug},
    "impact": {m.value for m in Impact}, "incident_type": {m.value for m in IncidentType},
    "offence": {m.value for m in Offence}, "agency": {m.value for m in Agency},
    "severity": {"info", "warning", "critical"}, "state": {"firing", "resolved"},
    "scope": {"station", "pair", "country", "border", "all"},
    "conn": {"connecting", "live", "stale", "reconnecting", "unauthorized", "offline"},
    "country": {"AF", "KG", "KZ", "TJ", "TM", "UZ"},
}
"""Per ``vocab()`` namespace, the codes that must have words (a namespace the page uses and
this test does not know fails below)."""
PLURAL_FORMS = {"en": {"one", "other"}, "ru": {"one", "few", "many", "other"}}
SAME_IN_BOTH = {"time.utc", "health.col_dlq"}  # "UTC", "DLQ": the same in Russian
NOT_TEXT = {"UTC", "—", "--:--:--", "×", "BLO network · live"}  # the <title>: set by JS


def catalogue(lang: str) -> dict[str, str | dict[str, str]]:
    text = (JS / f"lang-{lang}.js").read_text()
    body = text[text.index("export default ") + len("export default "):].rstrip().rstrip(";")
    doc = json.loads(body)
    assert isinstance(doc, dict)
    return doc


EN, RU = catalogue("en"), catalogue("ru")


def used_keys() -> set[str]:
    keys: set[str] = set()
    for f in SOURCES:
        text = f.read_text()
        keys |= set(re.findall(r"\btn?\(\s*'([^']+)'", text))
        keys |= {k for k in re.findall(r"'([a-z][a-z0-9_]*\.[a-z0-9_]+)'", text)
                 if not k.endswith((".js", ".json", ".svg"))}
    html = (STATIC / "index.html").read_text()
    keys |= set(re.findall(r'data-i18n(?:-[a-z-]+)?="([^"]+)"', html))
    return keys


def vocab_namespaces() -> set[str]:
    return {ns for f in SOURCES for ns in re.findall(r"\bvocab\(\s*'([a-z_]+)'", f.read_text())}


def test_both_catalogues_have_the_same_keys() -> None:
    assert set(EN) - set(RU) == set(), "keys without a Russian text"
    assert set(RU) - set(EN) == set(), "keys without an English text"


def test_every_key_the_page_uses_is_in_both_languages() -> None:
    used = used_keys()
    assert len(used) > 150
    assert used - set(EN) == set(), "used, but no English text"
    assert used - set(RU) == set(), "used, but no Russian text"


def test_every_vocabulary_the_page_translates_is_complete() -> None:
    namespaces = vocab_namespaces()
    assert {"event_type", "drug", "impact", "incident_type", "offence", "severity"} <= namespaces
    assert namespaces <= set(VOCABULARIES), f"unknown vocabularies {namespaces - set(VOCABULARIES)}"
    for ns in namespaces:
        for code in VOCABULARIES[ns]:
            for lang, cat in (("en", EN), ("ru", RU)):
                assert f"{ns}.{code}" in cat, f"{lang}: no words for {ns} {code!r}"


def test_no_key_of_a_catalogue_is_unused() -> None:
    namespaces = vocab_namespaces()
    unused = {k for k in EN if k not in used_keys() and k.split(".")[0] not in namespaces}
    assert unused == set()


def test_texts_fill_the_same_values_and_plurals_have_their_forms() -> None:
    for key, en in EN.items():
        ru = RU[key]
        forms = {"en": en if isinstance(en, dict) else {"other": en},
                 "ru": ru if isinstance(ru, dict) else {"other": ru}}
        if isinstance(en, dict) or isinstance(ru, dict):
            for lang in ("en", "ru"):
                assert set(forms[lang]) >= PLURAL_FORMS[lang], (lang, key)
        names = {frozenset(re.findall(r"\{(\w+)\}", v)) for f in forms.values()
                 for v in f.values()}
        assert len(names) == 1, f"{key}: the languages fill different values {names}"
        assert all(v.strip() for f in forms.values() for v in f.values()), key


def test_the_russian_texts_are_russian() -> None:
    for key, ru in RU.items():
        texts = list(ru.values()) if isinstance(ru, dict) else [ru]
        if key in SAME_IN_BOTH:
            assert ru == EN[key]
            continue
        assert ru != EN[key], f"{key}: the English text"
        assert all(re.search("[А-Яа-яЁё]", t) for t in texts), f"{key}: no Cyrillic"


class _Texts(HTMLParser):
    """The visible texts and labels of index.html that no data-i18n marks."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[dict[str, str | None]] = []
        self.loose: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for attr in ("title", "aria-label", "placeholder"):
            if a.get(attr) and re.search("[A-Za-z]", a[attr] or "") and \
                    f"data-i18n-{attr}" not in a and a[attr] not in NOT_TEXT \
                    and not (a[attr] or "").startswith("blo_"):
                self.loose.append(f"<{tag} {attr}={a[attr]!r}>")
        if tag not in ("meta", "link", "br", "input", "img", "path", "circle", "i"):
            self.stack.append({"tag": tag, **a})

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            if self.stack.pop()["tag"] == tag:
                break

    def handle_data(self, data: str) -> None:
        text = data.strip()
        if not text or not re.search("[A-Za-z]", text) or text in NOT_TEXT:
            return
        if any(e["tag"] in ("script", "style") for e in self.stack):
            return
        if not self.stack or "data-i18n" not in self.stack[-1]:
            self.loose.append(text)


def test_every_visible_text_of_the_page_is_in_the_catalogue() -> None:
    p = _Texts()
    p.feed((STATIC / "index.html").read_text())
    assert p.loose == []
