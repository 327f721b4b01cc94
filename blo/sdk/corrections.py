"""Build the records of a correction: a revision of an event, or its void. Pure.

A post corrects an event it sent by sending it again, whole, with the same ``event_id``, a
``revision`` higher than the last one sent (the original is revision 0) and a
``correction_reason``; it withdraws one with a ``void`` of the same ``event_id``,
``station_id``, ``occurred_at`` and ``source_seq`` (docs/corrections.md). The highest
revision wins in the pipeline, so these records are checked here, with the schema models,
before they are buffered: a bad one raises :class:`~blo.sdk.errors.InvalidEvent` and
nothing is sent (unlike ``publish()``, which leaves validation to the pipeline).

``reported_at`` of both is now: when the correction is sent.
"""

from __future__ import annotations

import datetime as dt
from datetime import timedelta

import orjson

from blo.sdk.envelope import SCHEMA_VERSION, Event, complete_event, encode_event
from blo.sdk.errors import InvalidEvent
from schemas.parse import EventRejected, parse_event

VOID_FIELDS = ("event_id", "station_id", "occurred_at", "source_seq")
"""What a void copies from the event it withdraws."""

# The receiver's clock decides what is "in the future"; the SDK checks the content only.
_NO_CLOCK_CHECK = timedelta(days=36500)


def _check_correction(revision: object, reason: object) -> None:
    if not isinstance(revision, int) or isinstance(revision, bool) or revision < 1:
        raise InvalidEvent(f"revision must be an integer >= 1 (the original is revision 0), "
                           f"not {revision!r}")
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidEvent("a correction needs a reason (correction_reason: 1-128 characters)")


def _validated(out: dict[str, object], now: dt.datetime) -> dict[str, object]:
    """``out`` if the schema models accept it as JSON (what the pipeline will read);
    else :class:`InvalidEvent` naming every problem."""
    payload = encode_event(out, now=now).payload
    try:
        parse_event(orjson.loads(payload), now=now, max_future_skew=_NO_CLOCK_CHECK)
    except EventRejected as e:
        raise InvalidEvent(
            f"event {out.get('event_id')} of station {out.get('station_id')}: {e}") from None
    return out


def revision_record(event: Event, *, revision: int, reason: str,
                    now: dt.datetime | None = None) -> dict[str, object]:
    """``event`` (the corrected event, whole: a mapping or a model) as revision
    ``revision`` with ``reason``: its ``event_id`` kept, or derived from ``(station_id,
    source_seq)`` as ``publish()`` does; ``reported_at`` now. Raises
    :class:`InvalidEvent` (also for a ``void``: use :func:`void_record`)."""
    _check_correction(revision, reason)
    now = now or dt.datetime.now(dt.UTC)
    out = complete_event(event, now=now)
    if out.get("event_type") == "void":
        raise InvalidEvent("a void is not revised: send a void with a higher revision "
                           "(void_record / StationPublisher.void)")
    out["revision"] = revision
    out["correction_reason"] = reason
    out["reported_at"] = now.isoformat(timespec="milliseconds")
    return _validated(out, now)


def void_record(event: Event, *, revision: int, reason: str,
                now: dt.datetime | None = None) -> dict[str, object]:
    """The ``void`` of ``event`` (as sent, or at least its ``station_id``,
    ``occurred_at`` and ``source_seq``, and its ``event_id`` unless derived) at
    ``revision`` with ``reason``; ``reported_at`` now. Raises :class:`InvalidEvent`."""
    _check_correction(revision, reason)
    now = now or dt.datetime.now(dt.UTC)
    original = complete_event(event, now=now)
    out: dict[str, object] = {
        "event_type": "void",
        "schema_version": SCHEMA_VERSION,
        **{k: original.get(k) for k in VOID_FIELDS},
        "reported_at": now.isoformat(timespec="milliseconds"),
        "revision": revision,
        "correction_reason": reason,
    }
    return _validated(out, now)
