"""Every user-facing string of a bulletin in English and Russian (the region's working
language), and numbers written the way each language writes them. Pure.

English: ``12,345.6``; Russian: ``12 345,6`` (a no-break space between thousands, a decimal
comma). A change whose base is zero has no percentage: ``n/a`` / ``н/д``.
"""

from __future__ import annotations

from typing import Literal

Lang = Literal["en", "ru"]
LANGS: tuple[Lang, ...] = ("en", "ru")
NBSP = "\u00a0"

STRINGS: dict[str, dict[Lang, str]] = {
    "title": {"en": "Border Liaison Offices bulletin", "ru": "Бюллетень пунктов пограничной связи"},
    "scope": {"en": "Scope", "ru": "Охват"},
    "region": {"en": "the region (all posts)", "ru": "регион (все пункты)"},
    "period": {"en": "Period", "ru": "Период"},
    "previous": {"en": "previous period", "ru": "предыдущий период"},
    "year_before": {"en": "same period a year before", "ru": "тот же период годом ранее"},
    "data_version": {"en": "Data version", "ru": "Версия данных"},
    "headline": {"en": "Headline figures", "ru": "Основные показатели"},
    "indicator": {"en": "Indicator", "ru": "Показатель"},
    "change": {"en": "change", "ru": "изменение"},
    "n_a": {"en": "n/a", "ru": "н/д"},
    "none": {"en": "none", "ru": "нет"},
    "seizure_cases": {"en": "Seizure cases", "ru": "Случаи изъятия"},
    "seizure_kg": {"en": "Seized, kg", "ru": "Изъято, кг"},
    "arrests": {"en": "Persons arrested at seizures", "ru": "Задержано при изъятиях, чел."},
    "crossings": {"en": "Crossing records", "ru": "Записи о пересечениях"},
    "persons": {"en": "Persons crossing", "ru": "Пересекло лиц"},
    "vehicles": {"en": "Vehicles crossing", "ru": "Транспортных средств"},
    "refused": {"en": "Refusals of entry/exit", "ru": "Отказы во въезде/выезде"},
    "refused_short": {"en": "refusals", "ru": "отказы"},
    "detentions": {"en": "Detention cases", "ru": "Случаи задержания"},
    "detained": {"en": "Persons detained", "ru": "Задержано лиц"},
    "inspections": {"en": "Inspections", "ru": "Досмотры"},
    "finds": {"en": "Inspections with finds", "ru": "Досмотры с находками"},
    "incidents": {"en": "Incidents", "ru": "Инциденты"},
    "seizures_by_drug": {"en": "Seizures by drug", "ru": "Изъятия по видам наркотиков"},
    "drug": {"en": "Drug", "ru": "Вещество"},
    "cases": {"en": "Cases", "ru": "Случаи"},
    "kg": {"en": "kg", "ru": "кг"},
    "by_post": {"en": "Figures by post", "ru": "Показатели по пунктам"},
    "post": {"en": "Post", "ru": "Пункт"},
    "country": {"en": "Country", "ru": "Страна"},
    "crossings_refusals": {"en": "Crossings and refusals", "ru": "Пересечения и отказы"},
    "detentions_title": {"en": "Detentions (counts only)", "ru": "Задержания (только число)"},
    "detentions_note": {
        "en": "Detentions are reported as counts; no names or other personal identifiers "
              "are collected.",
        "ru": "Задержания учитываются только в числах; имена и иные персональные данные не "
              "собираются."},
    "reports": {"en": "Periodic count reports", "ru": "Периодические отчёты"},
    "measure": {"en": "Measure", "ru": "Показатель"},
    "value": {"en": "Value", "ru": "Значение"},
    "alerts": {"en": "Alerts of the period", "ru": "Оповещения за период"},
    "rule": {"en": "Rule", "ru": "Правило"},
    "severity": {"en": "Severity", "ru": "Важность"},
    "alerts_n": {"en": "Alerts", "ru": "Оповещений"},
    "still_firing": {"en": "still firing", "ru": "активны"},
    "info": {"en": "info", "ru": "информация"},
    "warning": {"en": "warning", "ru": "предупреждение"},
    "critical": {"en": "critical", "ru": "критическое"},
    "map": {"en": "Posts and their seizures", "ru": "Пункты и изъятия"},
    "map_no_coords": {"en": "No post of this scope has coordinates.",
                      "ru": "Ни у одного пункта нет координат."},
    "map_outside": {"en": "Posts outside the Central Asia map are shown by longitude and "
                          "latitude without outlines.",
                    "ru": "Пункты вне карты Центральной Азии показаны по долготе и широте, "
                          "без границ."},
    "routes": {"en": "Trafficking routes (by kg seized)",
               "ru": "Маршруты наркотрафика (по изъятым кг)"},
    "routes_none": {"en": "No seizure of the period names a route.",
                    "ru": "Ни в одном изъятии за период маршрут не указан."},
    "producing": {"en": "Producing", "ru": "Производство"},
    "departure": {"en": "Departure", "ru": "Отправление"},
    "transit": {"en": "Transit", "ru": "Транзит"},
    "destination": {"en": "Destination", "ru": "Назначение"},
    "unknown": {"en": "unknown", "ru": "неизв."},
    "method": {"en": "Method note", "ru": "Методологическая справка"},
    "method_sources": {
        "en": "Figures are read from the pipeline's readers' views: the latest revision of "
              "every event (voided events left out) and the latest version of every monthly "
              "window, each post's own calendar month in its local time.",
        "ru": "Показатели взяты из представлений для чтения: последняя редакция каждого "
              "события (аннулированные исключены) и последняя версия каждого месячного окна "
              "— календарный месяц каждого пункта по его местному времени."},
    "method_events": {"en": "Events of the period, by type",
                      "ru": "События за период по типам"},
    "method_provisional": {
        "en": "Provisional (windows not yet final): {months}.",
        "ru": "Предварительные данные (окна ещё не закрыты): {months}."},
    "method_final": {"en": "Every window of the period is final.",
                     "ru": "Все окна периода закрыты."},
    "method_corrections": {
        "en": "Corrections in the period: {revised} events revised, {voided} voided.",
        "ru": "Исправления за период: исправлено событий — {revised}, аннулировано — {voided}."},
    "method_late": {
        "en": "Reports too late for their month (not in these figures): {late}.",
        "ru": "Сообщения, поступившие слишком поздно (не вошли в показатели): {late}."},
    "method_alerts": {
        "en": "Alerts are counted by the UTC time they fired.",
        "ru": "Оповещения учтены по времени срабатывания (UTC)."},
    "method_version": {
        "en": "Cut from data version {version}: {parts}. The same command on the same data "
              "gives the same figures and the same version; any new or corrected event "
              "changes it.",
        "ru": "Подготовлено по версии данных {version}: {parts}. Та же команда на тех же "
              "данных даёт те же показатели и ту же версию; любое новое или исправленное "
              "событие её меняет."},
    "v_events": {"en": "{n} events (last ingested {at})",
                 "ru": "событий: {n} (последнее получено {at})"},
    "v_windows": {"en": "{n} window rows", "ru": "строк окон: {n}"},
    "v_alerts": {"en": "{n} alert versions", "ru": "версий оповещений: {n}"},
    "v_posts": {"en": "{n} posts", "ru": "пунктов: {n}"},
    "no_data": {"en": "No data for this period.", "ru": "Нет данных за этот период."},
}

EVENT_TYPES: dict[str, dict[Lang, str]] = {
    "crossing": {"en": "crossings", "ru": "пересечения"},
    "inspection": {"en": "inspections", "ru": "досмотры"},
    "seizure": {"en": "seizures", "ru": "изъятия"},
    "detention": {"en": "detentions", "ru": "задержания"},
    "incident": {"en": "incidents", "ru": "инциденты"},
    "liaison_message": {"en": "liaison messages", "ru": "сообщения связи"},
    "count_report": {"en": "count reports", "ru": "периодические отчёты"},
}

DRUGS: dict[str, dict[Lang, str]] = {
    "heroin": {"en": "heroin", "ru": "героин"},
    "opium": {"en": "opium", "ru": "опий"},
    "morphine": {"en": "morphine", "ru": "морфин"},
    "hashish": {"en": "hashish", "ru": "гашиш"},
    "cannabis_herb": {"en": "cannabis herb", "ru": "марихуана"},
    "methamphetamine": {"en": "methamphetamine", "ru": "метамфетамин"},
    "amphetamine": {"en": "amphetamine", "ru": "амфетамин"},
    "mdma": {"en": "MDMA", "ru": "МДМА"},
    "cocaine": {"en": "cocaine", "ru": "кокаин"},
    "nps": {"en": "new psychoactive substances", "ru": "новые психоактивные вещества"},
    "pharmaceuticals": {"en": "pharmaceuticals", "ru": "фармпрепараты"},
    "acetic_anhydride": {"en": "acetic anhydride", "ru": "уксусный ангидрид"},
    "ephedrine": {"en": "ephedrine", "ru": "эфедрин"},
    "pseudoephedrine": {"en": "pseudoephedrine", "ru": "псевдоэфедрин"},
    "other_precursor": {"en": "other precursors", "ru": "прочие прекурсоры"},
    "fentanyl": {"en": "fentanyl", "ru": "фентанил"},
    "ketamine": {"en": "ketamine", "ru": "кетамин"},
    "khat": {"en": "khat", "ru": "кат"},
    "lsd": {"en": "LSD", "ru": "ЛСД"},
    "other": {"en": "other", "ru": "прочие"},
}


def text(key: str, lang: Lang, **values: str) -> str:
    """The string ``key`` in ``lang``, with ``{name}`` fields filled from ``values``."""
    s = STRINGS[key][lang]
    return s.format(**values) if values else s


def drug_name(drug: str, lang: Lang) -> str:
    """A drug's name in ``lang`` (its code when the vocabulary has no name for it)."""
    return DRUGS.get(drug, {}).get(lang, drug or text("unknown", lang))


def event_type_name(event_type: str, lang: Lang) -> str:
    return EVENT_TYPES.get(event_type, {}).get(lang, event_type)


def number(value: float, lang: Lang, decimals: int = 0) -> str:
    """``value`` rounded to ``decimals``, with the language's separators."""
    s = f"{value:,.{decimals}f}"
    if lang == "ru":
        s = s.replace(",", NBSP).replace(".", ",")
    return s.replace("-", "\u2212") if s.startswith("-") else s


def kg(micro_kg: int, lang: Lang) -> str:
    """Kilograms held as integer micro-kilograms, to one decimal."""
    return number(micro_kg / 1_000_000, lang, 1)


def signed(value: float, lang: Lang, decimals: int = 0) -> str:
    """A change: ``+12``, ``−3`` (a true minus sign), ``0``."""
    s = number(abs(value), lang, decimals)
    if round(value, decimals) > 0:
        return "+" + s
    if round(value, decimals) < 0:
        return "\u2212" + s
    return s


def percent(pct: float | None, lang: Lang) -> str:
    """A relative change to one decimal (``+12.5 %``), ``n/a`` when the base is zero."""
    if pct is None:
        return text("n_a", lang)
    return f"{signed(pct, lang, 1)}{NBSP}%"
