"""Alert rules: the pydantic models of a rules file. Pure data.

A rules file is ``{version: 1, rules: [...]}``; every rule has an ``id`` (stable, unique: it
is part of every alert id), a ``name`` and a ``message`` template (each per language, or a
plain English string), a ``severity``, ``labels`` and a ``kind``, which decides its other
fields:

* ``threshold`` — a ``window_stats`` statistic over one window kind, per scope, against a
  static ``raise`` level (``clear`` for hysteresis), with ``for_s`` and ``cooldown_s``;
* ``baseline`` — the same, against mean + k·stddev of the same hour of week in past weeks;
* ``silence`` — an active station sends nothing for ``silence_s``;
* ``sequence_gap`` — a station's ``source_seq`` skips at least ``min_gap`` numbers;
* ``paired`` — events of given types at both posts of a BLO pair within ``span_s``.

docs/alerts.md describes every field; :mod:`streams.alerts.check` loads files and reports
every problem with its line and field path.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from streams.alerts.templates import template_problems

Severity = Literal["info", "warning", "critical"]
Op = Literal[">=", ">", "<=", "<"]
Scope = Literal["station", "country", "border", "all"]
On = Literal["final", "provisional"]
Statistic = Literal[
    "events", "persons", "vehicles", "refused", "inbound", "outbound", "seizure_kg",
    "seizure_kg_max", "arrests", "inspections_with_finds", "value",
]
RISING_OPS = (">=", ">")

DEFAULT_LANGUAGE = "en"
"""The language of an alert's ``message`` (and of a plain-string template)."""
LANGUAGES = ("en", "ru")
"""The languages the shipped rules (and the dashboard) speak."""
_LANG = re.compile(r"^[a-z]{2}$")
_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_LABEL_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _as_tuple(v: object) -> object:
    return (v,) if isinstance(v, str) else v


Names = Annotated[tuple[str, ...], Field(min_length=1)]


class StationFilters(_Frozen):
    """Which stations a station rule (silence, sequence_gap) watches; none = all."""

    stations: Names | None = None
    countries: Names | None = None

    @field_validator("stations", "countries", mode="before")
    @classmethod
    def _one_or_many(cls, v: object) -> object:
        return _as_tuple(v)

    def station_matches(self, station_id: str, country: str) -> bool:
        if self.stations is not None and station_id not in self.stations:
            return False
        return self.countries is None or country in self.countries


class Filters(StationFilters):
    """Which ``window_stats`` rows a window rule sums; each field a value or a list."""

    event_type: Names | None = None
    measure: Names | None = None
    dimension: Names | None = None
    """The drug of seizures, the dimension of count reports."""
    borders: Names | None = None

    @field_validator("event_type", "measure", "dimension", "borders", mode="before")
    @classmethod
    def _one_or_many_more(cls, v: object) -> object:
        return _as_tuple(v)

    def row_matches(self, station_id: str, country: str, border: str, event_type: str,
                    measure: str, dimension: str) -> bool:
        return (
            self.station_matches(station_id, country)
            and (self.borders is None or border in self.borders)
            and (self.event_type is None or event_type in self.event_type)
            and (self.measure is None or measure in self.measure)
            and (self.dimension is None or dimension in self.dimension)
        )


class RuleBase(_Frozen):
    KIND: ClassVar[str] = ""

    kind: str
    """threshold | baseline | silence | sequence_gap | paired (narrowed by each kind)."""
    id: str
    """Stable identifier, unique in the file: part of every alert id. Never reuse one."""
    names: dict[str, str] = Field(alias="name", min_length=1)
    """The rule's name per language, in the file as ``name``, shaped like ``message``:
    ``{en: "Large seizure at a post", ru: "Крупное изъятие на посту"}``; a plain string is
    the English name. English is required: it is the alerts' ``rule_name``."""
    severity: Severity
    labels: dict[str, str] = Field(default_factory=dict)
    message: dict[str, str] = Field(min_length=1)
    """Templates over the alert's placeholders (docs/alerts.md), one per language:
    ``{en: "{station_id}: ...", ru: "..."}``. A plain string is the English template.
    English is required: it is the alert's ``message``."""

    @field_validator("id")
    @classmethod
    def _check_id(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError(
                "must be 1-64 of lowercase letters, digits, '_', '.', '-', starting with a "
                "letter or digit")
        return v

    @field_validator("labels")
    @classmethod
    def _check_labels(cls, v: dict[str, str]) -> dict[str, str]:
        bad = sorted(k for k in v if not _LABEL_KEY.match(k))
        if bad:
            raise ValueError(
                f"label names must be letters, digits, '_', '.', '-' (not starting with a "
                f"digit or '.'/'-'): {', '.join(repr(k) for k in bad)}")
        return v

    @field_validator("message", "names", mode="before")
    @classmethod
    def _plain_is_english(cls, v: object) -> object:
        return {DEFAULT_LANGUAGE: v} if isinstance(v, str) else v

    @field_validator("names")
    @classmethod
    def _check_names(cls, v: dict[str, str]) -> dict[str, str]:
        problems = []
        only_english = list(v) == [DEFAULT_LANGUAGE]
        for lang, name in v.items():
            where = "" if only_english else f"{lang}: "
            if not _LANG.match(lang):
                problems.append(f"{lang!r}: a language is two lowercase letters (en, ru)")
            elif not name.strip():
                problems.append(f"{where}empty name")
        if DEFAULT_LANGUAGE not in v:
            problems.append(f"no '{DEFAULT_LANGUAGE}' name (the alerts' rule_name)")
        if problems:
            raise ValueError("; ".join(problems))
        return v

    @property
    def name(self) -> str:
        """The English name: the ``rule_name`` of the rule's alerts."""
        return self.names[DEFAULT_LANGUAGE]

    def name_in(self, language: str) -> str:
        """The name in ``language``, else in English."""
        return self.names.get(language) or self.name

    @field_validator("message")
    @classmethod
    def _check_message(cls, v: dict[str, str]) -> dict[str, str]:
        problems = []
        only_english = list(v) == [DEFAULT_LANGUAGE]  # as a plain string: no language named
        for lang, template in v.items():
            where = "" if only_english else f"{lang}: "
            if not _LANG.match(lang):
                problems.append(f"{lang!r}: a language is two lowercase letters (en, ru)")
            elif not template:
                problems.append(f"{where}empty template")
            else:
                problems.extend(f"{where}{p}" for p in template_problems(template, cls.KIND))
        if DEFAULT_LANGUAGE not in v:
            problems.append(f"no '{DEFAULT_LANGUAGE}' template (the alert's message)")
        if problems:
            raise ValueError("; ".join(problems))
        return v

    def missing_languages(self, languages: Sequence[str]) -> list[str]:
        """The languages of ``languages`` this rule has no message template or no name
        for."""
        return [lang for lang in languages
                if lang not in self.message or lang not in self.names]


class WindowRule(RuleBase):
    """Fields shared by rules over ``window_stats`` rows (threshold, baseline)."""

    statistic: Statistic
    window: str = Field(min_length=1)
    """A window kind (``window_kind`` of the rows): '1m', '1h', 'day', ..."""
    scope: Scope = "station"
    filters: Filters = Field(default_factory=Filters)
    for_s: float = Field(default=0, ge=0)
    """The condition must hold over consecutive windows spanning this long; 0 = at once."""
    cooldown_s: float = Field(default=0, ge=0)
    """After resolving, windows starting before resolved_at + this cannot fire the key."""
    settle_s: float = Field(default=300, ge=0)
    """A window's value counts as complete once the contributing stations' rows of this
    window kind reached its end + this (event time), or a caught-up tick's clock did."""
    on: On = "final"
    judge_history: bool = False
    """Judge historical window rows too (emitted more than the engine's ``history_s``
    after their window ended: imports, backfills, rebuilds). Off by default: importing
    years of statistics raises nothing (docs/alerts.md, "Imports and backfills")."""

    @property
    def rising(self) -> bool:
        """True when the condition is 'value high' (it only gets more true as rows add)."""
        return True


class ThresholdRule(WindowRule):
    KIND: ClassVar[str] = "threshold"

    kind: Literal["threshold"]
    op: Op = ">="
    raise_: float = Field(alias="raise")
    clear: float | None = None
    """Hysteresis: a firing alert resolves only once the value is past this (default:
    ``raise``). For ``>=``/``>`` it must be ≤ raise, for ``<=``/``<`` ≥ raise."""

    @field_validator("clear")
    @classmethod
    def _check_clear(cls, v: float | None, info: ValidationInfo) -> float | None:
        op, level = info.data.get("op"), info.data.get("raise_")
        if v is None or op is None or level is None:
            return v
        if op in RISING_OPS and v > level:
            raise ValueError(f"with op '{op}', clear ({v:g}) must be <= raise ({level:g})")
        if op not in RISING_OPS and v < level:
            raise ValueError(f"with op '{op}', clear ({v:g}) must be >= raise ({level:g})")
        return v

    @property
    def clear_level(self) -> float:
        return self.raise_ if self.clear is None else self.clear

    @property
    def rising(self) -> bool:
        return self.op in RISING_OPS


class BaselineRule(WindowRule):
    KIND: ClassVar[str] = "baseline"

    kind: Literal["baseline"]
    k: float = Field(ge=0)
    """Fires when value > mean + k·stddev of the history (population stddev)."""
    clear_k: float | None = Field(default=None, ge=0)
    """Hysteresis: resolves once value <= mean + clear_k·stddev (default: k); <= k."""
    weeks: int = Field(default=4, ge=1, le=104)
    """History: the same hour of week in up to this many past weeks."""
    min_weeks: int = Field(default=2, ge=1)
    """No judgement with fewer weeks of history than this."""
    min_value: float = Field(default=0, ge=0)
    """Never fires below this value (a spike from 0 to 1 is not news)."""

    @field_validator("clear_k")
    @classmethod
    def _check_clear_k(cls, v: float | None, info: ValidationInfo) -> float | None:
        k = info.data.get("k")
        if v is not None and k is not None and v > k:
            raise ValueError(f"clear_k ({v:g}) must be <= k ({k:g})")
        return v

    @field_validator("min_weeks")
    @classmethod
    def _check_min_weeks(cls, v: int, info: ValidationInfo) -> int:
        weeks = info.data.get("weeks")
        if weeks is not None and v > weeks:
            raise ValueError(f"min_weeks ({v}) must be <= weeks ({weeks})")
        return v


class SilenceRule(RuleBase):
    KIND: ClassVar[str] = "silence"

    kind: Literal["silence"]
    silence_s: float = Field(gt=0)
    """Fires when an active station's last event is this old (on a caught-up tick)."""
    active_within_s: float = Field(gt=0)
    """A station is active when its last event is at most this old (> silence_s): a post
    closed for longer is not reported as silent."""
    cooldown_s: float = Field(default=0, ge=0)
    filters: StationFilters = Field(default_factory=StationFilters)

    @field_validator("active_within_s")
    @classmethod
    def _check_active(cls, v: float, info: ValidationInfo) -> float:
        silence = info.data.get("silence_s")
        if silence is not None and v <= silence:
            raise ValueError(
                f"active_within_s ({v:g}) must be greater than silence_s ({silence:g})")
        return v


class SequenceGapRule(RuleBase):
    KIND: ClassVar[str] = "sequence_gap"

    kind: Literal["sequence_gap"]
    min_gap: int = Field(default=1, ge=1)
    """Gaps of fewer missing numbers are not reported."""
    max_gap: int | None = Field(default=None, ge=1)
    """A jump over more missing numbers than this is a counter that restarted higher (a
    reinstalled station, a new simulator run), not lost reports: counting goes on from the
    new number and nothing fires. ``None``: every gap of at least ``min_gap`` fires."""
    reorder_seqs: int = Field(default=0, ge=0)
    reorder_s: float = Field(default=0, ge=0)
    """A missing number is only lost once the station sent ``reorder_seqs`` numbers past
    it AND ``reorder_s`` seconds of event time passed since the first number after it."""
    filters: StationFilters = Field(default_factory=StationFilters)

    @field_validator("max_gap")
    @classmethod
    def _check_max_gap(cls, v: int | None, info: ValidationInfo) -> int | None:
        low = info.data.get("min_gap")
        if v is not None and low is not None and v < low:
            raise ValueError(f"max_gap ({v}) must be >= min_gap ({low})")
        return v


class PairedRule(RuleBase):
    KIND: ClassVar[str] = "paired"

    kind: Literal["paired"]
    event_types: Names
    span_s: float = Field(gt=0)
    """Events at both posts at most this far apart fire; one alert per pair and bucket
    ``[k·span_s, (k+1)·span_s)`` of the earlier event."""

    @field_validator("event_types", mode="before")
    @classmethod
    def _one_or_many(cls, v: object) -> object:
        return _as_tuple(v)


Rule = Annotated[
    ThresholdRule | BaselineRule | SilenceRule | SequenceGapRule | PairedRule,
    Field(discriminator="kind"),
]
KINDS = ("threshold", "baseline", "silence", "sequence_gap", "paired")


class RuleSet(_Frozen):
    version: Literal[1]
    languages: tuple[str, ...] | None = None
    """The languages every rule's ``message`` and ``name`` must have (``[en, ru]``);
    ``None`` (not declared): English alone is enough."""
    rules: tuple[Rule, ...] = ()

    @field_validator("languages")
    @classmethod
    def _check_languages(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if v is None:
            return v
        bad = [lang for lang in v if not _LANG.match(lang)]
        if bad:
            raise ValueError(f"a language is two lowercase letters (en, ru), not "
                             f"{', '.join(repr(b) for b in bad)}")
        if DEFAULT_LANGUAGE not in v:
            raise ValueError(f"must include '{DEFAULT_LANGUAGE}' (the alerts' message)")
        if len(set(v)) != len(v):
            raise ValueError("a language is listed twice")
        return v

    @field_validator("rules")
    @classmethod
    def _every_language(cls, v: tuple[RuleBase, ...], info: ValidationInfo
                        ) -> tuple[RuleBase, ...]:
        languages = info.data.get("languages")
        missing = [r.id for r in v if languages and r.missing_languages(languages)]
        if missing:
            raise PydanticCustomError(
                "missing_language", "rules lack a language (message or name): {ids}",
                {"ids": ", ".join(missing)})
        return v

    @property
    def message_languages(self) -> tuple[str, ...]:
        """The declared languages, or English alone."""
        return self.languages or (DEFAULT_LANGUAGE,)

    @field_validator("rules")
    @classmethod
    def _unique_ids(cls, v: tuple[RuleBase, ...]) -> tuple[RuleBase, ...]:
        ids = [r.id for r in v]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise PydanticCustomError(
                "duplicate_rule_id", "rule ids must be unique, repeated: {dupes}",
                {"dupes": ", ".join(dupes)})
        return v

    def rule(self, rule_id: str) -> RuleBase | None:
        for r in self.rules:
            if r.id == rule_id:
                return r
        return None
