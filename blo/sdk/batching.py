"""Pack buffered events into Kafka records (pure functions).

Wire format (docs/architecture.md): key = station id; value = one JSON event object, or a
JSON array of events of that one station. Within the window of rows it is given, the
packer groups each station's events, in buffer order, into records of up to
``max_events`` events and ``max_bytes`` of value; records come out in the order of their
first event. So a station's events keep their order (one key -> one partition, and its
records are sent in order), while a gateway whose stations interleave still gets full
records. A record holding a single event is the plain object (no one-element arrays). An
event that alone exceeds ``max_bytes`` still travels, alone (the publisher refuses events
above the broker limit before they reach the buffer).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from blo.sdk.buffer import BufferedEvent


@dataclasses.dataclass(frozen=True, slots=True)
class OutgoingRecord:
    station_id: str
    value: bytes
    seqs: tuple[int, ...]  # buffer sequence numbers of the events inside, ascending

    @property
    def key(self) -> bytes:
        return self.station_id.encode()

    @property
    def count(self) -> int:
        return len(self.seqs)

    @property
    def first_seq(self) -> int:
        return self.seqs[0]

    @property
    def last_seq(self) -> int:
        return self.seqs[-1]


def record_value(payloads: Sequence[bytes]) -> bytes:
    """One payload as is; several as a JSON array."""
    if len(payloads) == 1:
        return payloads[0]
    return b"[" + b",".join(payloads) + b"]"


def _record(run: Sequence[BufferedEvent]) -> OutgoingRecord:
    return OutgoingRecord(
        station_id=run[0].station_id,
        value=record_value([e.payload for e in run]),
        seqs=tuple(e.seq for e in run),
    )


def group_records(
    events: Sequence[BufferedEvent], *, max_events: int, max_bytes: int
) -> list[OutgoingRecord]:
    """Records for ``events`` (given in buffer order): per station, bounded, ordered."""
    if max_events < 1 or max_bytes < 1:
        raise ValueError("max_events and max_bytes must be >= 1")
    records: list[OutgoingRecord] = []
    open_runs: dict[str, tuple[list[BufferedEvent], int]] = {}  # station -> (run, array size)
    for event in events:
        size = len(event.payload)
        current = open_runs.get(event.station_id)
        if current is not None:
            run, run_bytes = current
            if len(run) < max_events and run_bytes + 1 + size <= max_bytes:
                run.append(event)
                open_runs[event.station_id] = (run, run_bytes + 1 + size)
                continue
            records.append(_record(run))
        open_runs[event.station_id] = ([event], 2 + size)
    records.extend(_record(run) for run, _ in open_runs.values())
    records.sort(key=lambda r: r.first_seq)
    return records


def first_per_station(records: Sequence[OutgoingRecord]) -> list[OutgoingRecord]:
    """The first record of each station, in order: what may be in flight together.

    One record per station at a time is what keeps a station's order even when a record
    fails for good: nothing of that station behind it has been sent yet."""
    seen: set[str] = set()
    out: list[OutgoingRecord] = []
    for record in records:
        if record.station_id not in seen:
            seen.add(record.station_id)
            out.append(record)
    return out
