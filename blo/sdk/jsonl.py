"""Read events from JSON Lines (``blo publish``): one JSON object per line.

Bad lines are not fatal: they come out as :class:`JsonlError` values, in place, with
their line number, so the caller can report them and go on with the rest.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator

import orjson

_SHOWN_CHARS = 120


@dataclasses.dataclass(frozen=True, slots=True)
class JsonlError:
    line_no: int  # 1-based
    reason: str
    text: str  # the line, shortened

    def __str__(self) -> str:
        return f"line {self.line_no}: {self.reason}: {self.text}"


def _shorten(raw: str) -> str:
    raw = raw.rstrip("\r\n")
    return raw if len(raw) <= _SHOWN_CHARS else raw[:_SHOWN_CHARS] + "..."


def iter_jsonl(stream: Iterable[str | bytes]) -> Iterator[dict[str, object] | JsonlError]:
    """Yield each non-blank line's JSON object, or a :class:`JsonlError` for a line that
    is not UTF-8, not JSON, or JSON but not an object."""
    for line_no, line in enumerate(stream, start=1):
        if isinstance(line, bytes):
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as e:
                yield JsonlError(line_no, f"not UTF-8 ({e.reason} at byte {e.start})",
                                 _shorten(line.decode("utf-8", "replace")))
                continue
        else:
            text = line
        if not text.strip():
            continue
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError as e:
            yield JsonlError(line_no, f"not JSON ({e})", _shorten(text))
            continue
        if not isinstance(value, dict):
            yield JsonlError(
                line_no, f"expected a JSON object, got {type(value).__name__}", _shorten(text)
            )
            continue
        yield value
