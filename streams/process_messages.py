"""The messages between the Faust process and its ingest process (:mod:`streams.channel`
carries them, pickled): one frozen class per kind.

Faust side → ingest process: :class:`Init` first, then :class:`Take` (answered by
:class:`TakeDone`), :class:`PositionsUpdate`, the calls (:class:`Assign`, :class:`Revoke`,
:class:`Drain`, :class:`SetAlertTypes`, :class:`CollectMetrics`; each answered by
:class:`Reply` or :class:`CallFailed` with its ``call_id``) and :class:`Stop`.

Ingest process → Faust side: :class:`Acks`, :class:`TakeDone`, the replies,
:class:`Pause`, :class:`Stall`, :class:`RegistryReady` and :class:`Fatal`. Everything goes
out in program order, so the acknowledgements of a revoke's or a drain's flush arrive before
its reply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from blo.settings import ClickHouseSettings, Settings
from sinks.base import Database
from streams.backend import TP


@dataclass(frozen=True, slots=True)
class ProcessSetup:
    """What the application layer gives the ingest process: functions of its own, pickled
    by reference (module and name), so that ``streams`` imports nothing above it."""

    open_database: Callable[[ClickHouseSettings], Database]
    tune: Callable[[], None] | None = None
    """Run once the process is built (the worker's garbage-collector tuning)."""


# -- Faust side → ingest process ------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Init:
    settings: Settings
    log_level: int
    alert_types: frozenset[str]
    setup: ProcessSetup


@dataclass(frozen=True, slots=True)
class Take:
    """Part of a take (columns of the same length). One of an assignment ``generation``
    older than the ingest process's current one is dropped unprocessed: after a rebalance
    Faust fetches again from the committed offsets."""

    seq: int
    generation: int
    topic: str
    partitions: list[int]
    offsets: list[int]
    values: list[bytes | None]
    positions: dict[TP, tuple[int | None, int | None]]


@dataclass(frozen=True, slots=True)
class PositionsUpdate:
    """The consumer's view, for "caught up" (idle closes) and lag; every take carries it too."""

    positions: dict[TP, tuple[int | None, int | None]]


@dataclass(frozen=True, slots=True)
class Call:
    call_id: int


@dataclass(frozen=True, slots=True)
class Assign(Call):
    """Starts a new ``generation``: takes sent after it belong to it."""

    tps: list[TP]
    generation: int


@dataclass(frozen=True, slots=True)
class Revoke(Call):
    tps: list[TP]
    flush_timeout: float


@dataclass(frozen=True, slots=True)
class Drain(Call):
    timeout: float


@dataclass(frozen=True, slots=True)
class SetAlertTypes(Call):
    types: frozenset[str]


@dataclass(frozen=True, slots=True)
class CollectMetrics(Call):
    """Answered with the process's metric families (a list of prometheus ``Metric``)."""


@dataclass(frozen=True, slots=True)
class Stop:
    """Exit (after :class:`Drain`)."""


# -- ingest process → Faust side ------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Acks:
    """Everything before ``next_offsets[tp]`` is durable (the sink's ``on_durable``, through
    the same :class:`streams.frontier.AckFrontier` as inline)."""

    next_offsets: dict[TP, int]


@dataclass(frozen=True, slots=True)
class TakeDone:
    """The take message ``seq`` is processed and handed to the sink (which may block:
    backpressure)."""

    seq: int


@dataclass(frozen=True, slots=True)
class Reply:
    call_id: int
    value: object = None


@dataclass(frozen=True, slots=True)
class CallFailed:
    call_id: int
    error: str


@dataclass(frozen=True, slots=True)
class Pause:
    """The ingest process's sink is backpressured (or has room again)."""

    active: bool


@dataclass(frozen=True, slots=True)
class Stall:
    """The ingest process's sink stalled (its oldest pending write ``age_s`` old: ``/readyz``
    answers 503) or writes again."""

    stalled: bool
    age_s: float


@dataclass(frozen=True, slots=True)
class RegistryReady:
    """The ingest process has loaded the station registry."""


@dataclass(frozen=True, slots=True)
class Fatal:
    """The ingest process failed for good; the Faust side exits 3 for the dead-letter guard
    (``dlq_flood``), 4 for anything else."""

    message: str
    sink_failed: bool = False
    dlq_flood: bool = False

