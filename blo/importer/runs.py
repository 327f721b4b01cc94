"""The record of one ``blo import-csv`` run and of each row it rejected. Pure.

An :class:`ImportRun` names what was imported (the file, its SHA-256, the mapping with its
SHA-256 and text), how it went (:data:`Outcome`), and its counts; a :class:`RejectedRow` is
one refused row (line, reason, message). They become rows of the ``import_runs`` and
``import_rejections`` tables (:data:`sinks.tables.IMPORT_RUNS`,
:data:`sinks.tables.IMPORT_REJECTIONS`) through :func:`record_bodies` — JSON-able pieces
each small enough for the embedded worker's admin door — and :func:`insert_record`, which
the CLI runs on its own connection and the door on the worker's.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from sinks.base import Database, Row
from sinks.tables import IMPORT_REJECTIONS, IMPORT_RUNS

Outcome = Literal["published", "buffered", "refused", "dry_run"]
"""``published``: every event reached the broker; ``buffered``: some wait in the on-disk
buffer (exit 75); ``refused``: nothing published (invalid station records); ``dry_run``:
nothing published, by request."""

MESSAGE_LIMIT = 300  # characters of a rejection's message that are kept
MAPPING_TEXT_LIMIT = 256 * 1024  # characters of the mapping's text kept (its hash is whole)
BODY_BUDGET = 512 * 1024  # bytes of rejections per body: the door takes at most 1 MiB

RunId = Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]
Count = Annotated[int, Field(ge=0)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ImportRun(_Record):
    """One run of ``blo import-csv``; the fields are the ``import_runs`` columns."""

    run_id: RunId
    started_at: datetime
    finished_at: datetime
    file_name: str
    file_sha256: str
    file_bytes: Count
    mapping: str  # the mapping's path, or "NAME (bundled)"
    mapping_sha256: str
    mapping_text: str
    dry_run: bool
    outcome: Outcome
    rows_read: Count
    events_published: Count
    rows_rejected: Count
    stations_registered: Count


class RejectedRow(_Record):
    """One refused row: its physical line (1-based, header included), reason code and why."""

    line_no: Count
    reason: str
    message: str


class RecordBody(_Record):
    """One piece of a run's record: some of its rejected rows, and (in the last piece) the
    run itself, so a run is listed only once all its rejected rows are stored."""

    run_id: RunId
    run: ImportRun | None = None
    rejections: list[RejectedRow] = []


def new_run_id() -> str:
    return secrets.token_hex(8)


def sha256_of_file(path: Path) -> tuple[str, int]:
    """(hex SHA-256, size in bytes) of the file, read in blocks."""
    h, size = hashlib.sha256(), 0
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size


def sha256_of_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def record_bodies(run: ImportRun, rejections: Sequence[RejectedRow]) -> Iterator[RecordBody]:
    """The run's record in pieces of at most :data:`BODY_BUDGET` bytes of rejections, the
    run in the last one. Messages are cut to :data:`MESSAGE_LIMIT` characters."""
    piece: list[RejectedRow] = []
    size = 0
    for r in rejections:
        if len(r.message) > MESSAGE_LIMIT:
            r = RejectedRow(line_no=r.line_no, reason=r.reason,
                            message=r.message[:MESSAGE_LIMIT - 1] + "…")
        cost = 4 * (len(r.message) + len(r.reason)) + 48  # JSON escapes at worst
        if piece and size + cost > BODY_BUDGET:
            yield RecordBody(run_id=run.run_id, rejections=piece)
            piece, size = [], 0
        piece.append(r)
        size += cost
    text = run.mapping_text
    if len(text) > MAPPING_TEXT_LIMIT:
        run = run.model_copy(update={"mapping_text": text[:MAPPING_TEXT_LIMIT]})
    yield RecordBody(run_id=run.run_id, run=run, rejections=piece)


def _utc(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(microsecond=0)


def run_row(run: ImportRun) -> Row:
    """One row of :data:`sinks.tables.IMPORT_RUNS`."""
    return (run.run_id, _utc(run.started_at), _utc(run.finished_at), run.file_name,
            run.file_sha256, run.file_bytes, run.mapping, run.mapping_sha256, run.mapping_text,
            1 if run.dry_run else 0, run.outcome, run.rows_read, run.events_published,
            run.rows_rejected, run.stations_registered)


def rejection_rows(run_id: str, rejections: Sequence[RejectedRow], at: datetime) -> list[Row]:
    """Rows of :data:`sinks.tables.IMPORT_REJECTIONS`."""
    when = _utc(at)
    return [(run_id, r.line_no, r.reason, r.message, when) for r in rejections]


def insert_record(db: Database, doc: object) -> dict[str, object]:
    """Store one :class:`RecordBody` (given as its JSON-able dict): its rejected rows, then
    the run. ``pydantic.ValidationError`` (a ``ValueError``) on a malformed body. Used by
    the CLI on its own connection and by the embedded worker's admin door."""
    body = RecordBody.model_validate(doc)
    if body.run is not None and body.run.run_id != body.run_id:
        raise ValueError("run.run_id differs from run_id")
    if body.rejections:
        db.insert(IMPORT_REJECTIONS.name, IMPORT_REJECTIONS.column_names,
                  rejection_rows(body.run_id, body.rejections, datetime.now(UTC)))
    if body.run is not None:
        db.insert(IMPORT_RUNS.name, IMPORT_RUNS.column_names, [run_row(body.run)])
    return {"run_id": body.run_id, "rejections": len(body.rejections),
            "run": body.run is not None}
