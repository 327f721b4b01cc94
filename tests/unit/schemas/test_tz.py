"""Zone rules come from the pinned tzdata package, not from the operating system."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import schemas.tz
import streams.windows  # noqa: F401 - importing the window core pins the data too


def test_zoneinfo_reads_only_the_tzdata_package() -> None:
    assert zoneinfo.TZPATH == ()
    # the version pinned in pyproject.toml is the one installed
    text = _pyproject().read_text()
    pinned = next(line for line in text.splitlines() if '"tzdata==' in line)
    assert version("tzdata") in pinned
    assert schemas.tz.IANA_VERSION >= "2024a"  # has the Almaty change of 2024-03-01


def test_the_almaty_change_of_2024_03_01() -> None:
    almaty = schemas.tz.zone("Asia/Almaty")
    before = datetime(2024, 2, 29, 12, tzinfo=UTC).astimezone(almaty)
    after = datetime(2024, 3, 1, 12, tzinfo=UTC).astimezone(almaty)
    assert before.utcoffset().total_seconds() == 6 * 3600  # type: ignore[union-attr]
    assert after.utcoffset().total_seconds() == 5 * 3600  # type: ignore[union-attr]


def _pyproject() -> Path:
    return Path(__file__).resolve().parents[3] / "pyproject.toml"
