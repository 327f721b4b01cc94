"""The columns of each export kind: key, type, header and description in English and
Russian. Pure data.

A column's ``key`` is the name the code and the SQL use; what a person sees is its header in
the chosen language (CSV and XLSX headers, Parquet field names) and its description (the
XLSX "columns" sheet, the Parquet field metadata, docs/exports.md). ``kind`` decides how a
value is written: ``text``, ``int``, ``float`` (numbers as numbers in XLSX and Parquet),
``time`` (UTC; a timestamp with time zone UTC in Parquet, a date-time in XLSX, ``YYYY-MM-DD
HH:MM:SS`` in CSV, whose header says UTC).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["text", "int", "float", "time"]
Lang = Literal["en", "ru"]
LANGS: tuple[Lang, ...] = ("en", "ru")


@dataclass(frozen=True)
class Column:
    key: str
    kind: Kind
    en: str
    ru: str
    desc_en: str
    desc_ru: str

    def header(self, lang: Lang) -> str:
        return self.en if lang == "en" else self.ru

    def description(self, lang: Lang) -> str:
        return self.desc_en if lang == "en" else self.desc_ru


def _c(key: str, kind: Kind, en: str, ru: str, desc_en: str, desc_ru: str) -> Column:
    return Column(key, kind, en, ru, desc_en, desc_ru)


# -- statistics: the groups of /api/v1/stats, then every statistic ---------------------------
STATS_GROUPS: dict[str, Column] = {
    "station": _c("station", "text", "station", "пост",
                  "Post (station id).", "Пост (идентификатор станции)."),
    "country": _c("country", "text", "country", "страна",
                  "Country of the post (ISO 3166-1 alpha-2).",
                  "Страна поста (ISO 3166-1 alpha-2)."),
    "border": _c("border", "text", "border", "граница",
                 "Border of the post (sorted pair of countries, e.g. AF-TJ); 'interior' for "
                 "posts on no land border.",
                 "Граница поста (пара стран, например AF-TJ); 'interior' — пост не на "
                 "сухопутной границе."),
    "event_type": _c("event_type", "text", "event type", "тип события",
                     "Type of event (crossing, seizure, detention, incident, inspection, "
                     "count report).",
                     "Тип события (пересечение, изъятие, задержание, происшествие, досмотр, "
                     "сводный отчёт)."),
    "drug": _c("drug", "text", "drug / dimension", "наркотик / измерение",
               "Seized substance for seizures; the report's dimension for count reports; "
               "empty otherwise.",
               "Изъятое вещество (для изъятий); измерение отчёта (для сводных отчётов); "
               "иначе пусто."),
}

STATS_BLOCK = _c("block", "text", "block", "блок",
                 "'own': posts the token sees; 'paired': the foreign posts paired with them, "
                 "in aggregate only (never per post).",
                 "'own' — посты, доступные токену; 'paired' — сопряжённые иностранные посты, "
                 "только в совокупности (никогда по отдельному посту).")
STATS_WINDOW = _c("window", "text", "window", "окно",
                  "Window kind the figures were summed from (1h, 1d, month, …).",
                  "Тип окна, по которому суммированы показатели (1h, 1d, month, …).")
STATS_FROM = _c("from", "time", "from (UTC)", "с (UTC)",
                "Start of the range: windows starting at or after it.",
                "Начало периода: окна, начинающиеся не раньше.")
STATS_TO = _c("to", "time", "to (UTC)", "по (UTC)",
              "End of the range: windows starting before it.",
              "Конец периода: окна, начинающиеся раньше.")

STATS_VALUES: dict[str, Column] = {c.key: c for c in (
    _c("events", "int", "events", "события", "Number of events.", "Число событий."),
    _c("persons", "int", "persons", "лица", "Persons crossing or concerned.",
       "Число лиц (пересекающих или затронутых)."),
    _c("vehicles", "int", "vehicles", "транспорт", "Vehicles.",
       "Число транспортных средств."),
    _c("refused", "int", "refused entries", "отказы во въезде",
       "Crossings refused (document check or inspection).",
       "Отказы в пересечении (проверка документов или досмотр)."),
    _c("inbound", "int", "inbound", "въезд", "Inbound crossings.", "Пересечения на въезд."),
    _c("outbound", "int", "outbound", "выезд", "Outbound crossings.",
       "Пересечения на выезд."),
    _c("seizure_kg", "float", "seized (kg)", "изъято (кг)",
       "Seized mass in kilograms (tablets converted at the configured mass).",
       "Изъятая масса в килограммах (таблетки пересчитаны по заданной массе)."),
    _c("seizure_kg_max", "float", "largest seizure (kg)", "крупнейшее изъятие (кг)",
       "Largest single seizure in kilograms.", "Крупнейшее единичное изъятие, кг."),
    _c("arrests", "int", "arrests", "аресты", "Persons arrested (counts only).",
       "Арестованные лица (только число)."),
    _c("inspections_with_finds", "int", "inspections with finds", "досмотры с находками",
       "Inspections that found something.", "Досмотры, при которых что-то обнаружено."),
    _c("report_value", "float", "reported value", "значение отчёта",
       "Sum of count reports' values (imported crossing counts, seizure summaries).",
       "Сумма значений сводных отчётов (импортированные данные о пересечениях, "
       "сводки изъятий)."),
)}


def stats_columns(group_by: tuple[str, ...]) -> tuple[Column, ...]:
    """The columns of a statistics export grouped by ``group_by`` (in that order): the
    block, the groups, the window and range, then every statistic of /api/v1/stats."""
    return (STATS_BLOCK, *(STATS_GROUPS[g] for g in group_by), STATS_WINDOW, STATS_FROM,
            STATS_TO, *STATS_VALUES.values())


# -- events: the readers' view (latest revision, voided left out), never the raw payload ----
EVENT_COLUMNS: tuple[Column, ...] = (
    _c("event_id", "text", "event id", "идентификатор события",
       "Event id (UUID) as the station sent it.", "Идентификатор события (UUID) от станции."),
    _c("event_type", "text", "event type", "тип события",
       "crossing, seizure, detention, incident, inspection, count_report.",
       "crossing, seizure, detention, incident, inspection, count_report."),
    _c("station_id", "text", "station", "пост", "Post (station id).",
       "Пост (идентификатор станции)."),
    _c("country", "text", "country", "страна", "Country of the post (ISO 3166-1 alpha-2).",
       "Страна поста (ISO 3166-1 alpha-2)."),
    _c("agency", "text", "agency", "ведомство", "Agency of the post.", "Ведомство поста."),
    _c("crossing_point", "text", "crossing point", "пункт пропуска",
       "Crossing point of the post.", "Пункт пропуска поста."),
    _c("border", "text", "border", "граница",
       "Border of the post (e.g. AF-TJ); 'interior' for posts on no land border.",
       "Граница поста (например AF-TJ); 'interior' — не на сухопутной границе."),
    _c("occurred_at", "time", "occurred at (UTC)", "время события (UTC)",
       "When the event occurred, UTC.", "Время события, UTC."),
    _c("station_tz", "text", "post time zone", "часовой пояс поста",
       "Time zone of the post (IANA), for local times.",
       "Часовой пояс поста (IANA) для местного времени."),
    _c("reported_at", "time", "reported at (UTC)", "время сообщения (UTC)",
       "When the station reported it, UTC.", "Время отправки станцией, UTC."),
    _c("ingested_at", "time", "recorded at (UTC)", "время записи (UTC)",
       "When the pipeline recorded this revision, UTC.",
       "Время записи этой редакции конвейером, UTC."),
    _c("direction", "text", "direction", "направление", "inbound or outbound.",
       "Въезд (inbound) или выезд (outbound)."),
    _c("subject", "text", "subject", "субъект", "Who or what crossed (person, vehicle, …).",
       "Кто или что пересекло границу (лицо, транспорт, …)."),
    _c("mode", "text", "mode", "вид транспорта", "Mode of travel.", "Вид транспорта."),
    _c("vehicle_class", "text", "vehicle class", "класс ТС", "Class of vehicle.",
       "Класс транспортного средства."),
    _c("outcome", "text", "outcome", "результат",
       "Outcome of the document check or inspection.",
       "Результат проверки документов или досмотра."),
    _c("persons", "int", "persons", "лица", "Persons (counts only; empty when not given).",
       "Число лиц (пусто, если не указано)."),
    _c("vehicles", "int", "vehicles", "транспорт", "Vehicles.",
       "Число транспортных средств."),
    _c("arrests", "int", "arrests", "аресты", "Persons arrested (counts only).",
       "Арестованные лица (только число)."),
    _c("drug", "text", "drug", "наркотик", "Seized substance.", "Изъятое вещество."),
    _c("quantity", "float", "quantity", "количество", "Seized amount in its unit.",
       "Изъятое количество в его единицах."),
    _c("quantity_unit", "text", "unit", "единица", "Unit of the quantity.",
       "Единица количества."),
    _c("quantity_kg", "float", "quantity (kg)", "количество (кг)",
       "Seized mass in kilograms.", "Изъятая масса в килограммах."),
    _c("concealment", "text", "concealment", "способ сокрытия",
       "Where the goods were hidden.", "Где был спрятан груз."),
    _c("detection_method", "text", "detection method", "способ обнаружения",
       "How the goods were found.", "Как груз был обнаружен."),
    _c("producing_country", "text", "producing country", "страна производства",
       "Country where the substance was produced, if known.",
       "Страна производства вещества, если известна."),
    _c("departure_country", "text", "departure country", "страна отправления",
       "Country the consignment started from, if known.",
       "Страна, откуда отправлен груз, если известна."),
    _c("transit_countries", "text", "transit countries", "страны транзита",
       "Countries crossed on the way, in route order, comma-separated.",
       "Страны транзита по порядку маршрута, через запятую."),
    _c("destination_country", "text", "destination country", "страна назначения",
       "Intended destination country, if known.", "Страна назначения, если известна."),
    _c("period_start", "time", "period start (UTC)", "начало периода (UTC)",
       "Count reports: start of the period counted.",
       "Сводные отчёты: начало учётного периода."),
    _c("period_end", "time", "period end (UTC)", "конец периода (UTC)",
       "Count reports: end of the period counted.", "Сводные отчёты: конец учётного периода."),
    _c("measure", "text", "measure", "показатель", "Count reports: what was counted.",
       "Сводные отчёты: что подсчитано."),
    _c("dimension", "text", "dimension", "измерение",
       "Count reports: the breakdown (e.g. the drug).",
       "Сводные отчёты: разрез (например, наркотик)."),
    _c("value", "float", "value", "значение", "Count reports: the value.",
       "Сводные отчёты: значение."),
    _c("unit", "text", "value unit", "единица значения", "Count reports: unit of the value.",
       "Сводные отчёты: единица значения."),
    _c("revision", "int", "revision", "редакция",
       "0 as first sent; higher after corrections.",
       "0 — как отправлено впервые; больше — после исправлений."),
    _c("correction_reason", "text", "correction reason", "причина исправления",
       "Why the latest revision corrected the event.",
       "Почему последняя редакция исправила событие."),
)
"""The columns of an events export, in order."""


def by_key(columns: tuple[Column, ...]) -> dict[str, Column]:
    return {c.key: c for c in columns}
