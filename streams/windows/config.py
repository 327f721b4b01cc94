"""Window configuration: which windows exist and how time is judged. Pure data.

A :class:`WindowConfig` lists the windows (:class:`WindowSpec`) and the timing rules shared
by all of them. ``blo/data/windows.yaml`` is the documented default; :func:`load_window_config`
reads such a file (YAML or JSON) and names the file and the field on any error;
:func:`window_config` reads the one the settings name (``BLO_WINDOWS_CONFIG``).

Every size and hop is a whole number of minutes: the state pre-aggregates events per
minute, and a minute never straddles a window edge (docs/windows.md).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from blo.settings import WindowSettings

WindowKind = Literal["tumbling", "hopping", "calendar_day", "calendar_month"]
CALENDAR_KINDS = ("calendar_day", "calendar_month")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,31}$")


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WindowSpec(_Frozen):
    """One window family, e.g. 1-hour tumbling or local calendar day."""

    name: str
    """Short identifier, stored as ``window_kind`` in the rows: '1m', '1h/5m', 'day'."""
    kind: WindowKind
    """tumbling | hopping (size_s every hop_s) | calendar_day | calendar_month (station-local)."""
    size_s: int | None = Field(default=None, gt=0)
    """Window length in seconds, a multiple of 60 (tumbling and hopping only)."""
    hop_s: int | None = Field(default=None, gt=0)
    """Hopping only: a new window starts every hop_s seconds (multiple of 60, divides size_s)."""

    @field_validator("name")
    @classmethod
    def _check_name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(
                "must be 1-32 characters of letters, digits, '_', '.', '/', '-', "
                "starting with a letter or digit"
            )
        return v

    @model_validator(mode="after")
    def _check_sizes(self) -> WindowSpec:
        if self.kind in CALENDAR_KINDS:
            if self.size_s is not None or self.hop_s is not None:
                raise ValueError(f"{self.kind} windows take no size_s or hop_s")
            return self
        if self.size_s is None:
            raise ValueError(f"{self.kind} windows need size_s")
        if self.size_s % 60:
            raise ValueError(f"size_s must be a multiple of 60 (got {self.size_s})")
        if self.kind == "tumbling":
            if self.hop_s is not None:
                raise ValueError("tumbling windows take no hop_s (use kind: hopping)")
            return self
        if self.hop_s is None:
            raise ValueError("hopping windows need hop_s")
        if self.hop_s % 60:
            raise ValueError(f"hop_s must be a multiple of 60 (got {self.hop_s})")
        if self.hop_s >= self.size_s:
            raise ValueError(f"hop_s ({self.hop_s}) must be smaller than size_s ({self.size_s})")
        if self.size_s % self.hop_s:
            raise ValueError(f"hop_s ({self.hop_s}) must divide size_s ({self.size_s})")
        return self


DEFAULT_WINDOWS: tuple[WindowSpec, ...] = (
    WindowSpec(name="1m", kind="tumbling", size_s=60),
    WindowSpec(name="1h", kind="tumbling", size_s=3600),
    WindowSpec(name="1h/5m", kind="hopping", size_s=3600, hop_s=300),
    WindowSpec(name="day", kind="calendar_day"),
    WindowSpec(name="month", kind="calendar_month"),
)


class WindowConfig(_Frozen):
    """The windows and the event-time rules (seconds) that govern all of them."""

    windows: tuple[WindowSpec, ...] = DEFAULT_WINDOWS
    out_of_orderness_s: float = Field(default=30, ge=0)
    """watermark = max occurred_at seen for a (station, stream) − out_of_orderness_s."""
    grace_s: float = Field(default=30, ge=0)
    """A window closes (final row) once its watermark ≥ window_end + grace_s."""
    allowed_lateness_s: float = Field(default=3600, ge=0)
    """A closed window takes corrections until its watermark ≥ end + grace + this; later
    events go to the late_events ledger."""
    idle_timeout_s: float = Field(default=300, gt=0)
    """A window also closes once it ended before now − idle_timeout_s while its partition is
    caught up (silence, not a replay)."""
    provisional_interval_s: float = Field(default=5, gt=0)
    """Provisional rows of open windows are emitted at most this often."""

    @model_validator(mode="after")
    def _check_windows(self) -> WindowConfig:
        if not self.windows:
            raise ValueError("windows: at least one window is needed")
        names = [w.name for w in self.windows]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"windows: names must be unique, repeated: {', '.join(dupes)}")
        return self


def describe_errors(e: ValidationError) -> str:
    """One line per problem: ``windows.2.hop_s: message``."""
    parts = []
    for err in e.errors():
        field = ".".join(str(p) for p in err["loc"]) or "(config)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            msg = "required field is missing"
        parts.append(f"{field}: {msg}")
    return "; ".join(parts)


def load_window_config(path: Path | str) -> WindowConfig:
    """The configuration in a ``.yaml``/``.yml``/``.json`` file.

    Raises :class:`ValueError` naming the file, and the field of the first problems.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: cannot read: {e}") from None
    try:
        data: Any = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise ValueError(f"{path}: not valid {path.suffix.lstrip('.') or 'YAML'}: {e}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(  # noqa: TRY004 - one error type for every bad file
            f"{path}: expected a mapping of settings (windows: [...], grace_s: ...)")
    try:
        return WindowConfig.model_validate(data)
    except ValidationError as e:
        raise ValueError(f"{path}: {describe_errors(e)}") from None


def window_config(settings: WindowSettings) -> WindowConfig:
    """The configuration of the file ``settings`` name (``BLO_WINDOWS_CONFIG``; the shipped
    blo/data/windows.yaml by default). Raises :class:`ValueError` as
    :func:`load_window_config`."""
    return load_window_config(settings.config_path())
