"""streams.backend_factory: the one place that chooses the ingest backend from
``BLO_INGEST_PROCESS`` (nothing is started: the separate backend spawns its process only
when the app starts)."""

from __future__ import annotations

import pytest

import streams.backend_factory as factory
from blo.db import open_database
from blo.metrics import Metrics
from blo.settings import SettingsError, load_settings
from sinks.memory import MemoryDatabase
from streams.backend_factory import BackendParts, build_backend
from streams.process_messages import ProcessSetup
from streams.runtime import IngestRuntime
from streams.separate_backend import SeparateBackend


async def _no_produce(topic: str, key: bytes, value: bytes) -> None:
    raise AssertionError("nothing is produced here")


def _build(process: str, db: MemoryDatabase | None = None) -> BackendParts:
    settings = load_settings(ingest={"process": process})
    return build_backend(settings, db or MemoryDatabase(), Metrics(), produce=_no_produce,
                         on_fatal=lambda e: None, on_backpressure=lambda active: None,
                         positions=dict, process_setup=ProcessSetup(open_database))


def test_inline_runs_the_runtime_here_sharing_its_registry_and_sink() -> None:
    parts = _build("inline")
    assert isinstance(parts.backend, IngestRuntime)
    assert parts.backend.sink is parts.sink
    assert parts.backend.processor.registry is parts.registry
    assert [t.name for t in parts.backend.timers()] == [
        "releasing held records", "updating the lag", "window tick"]


def test_separate_hands_the_work_to_a_process_and_answers_for_both_sinks() -> None:
    parts = _build("separate")
    backend = parts.backend
    assert isinstance(backend, SeparateBackend)
    assert backend.proc is None  # started with the app, not here
    assert [t.name for t in backend.timers()] == ["sending positions"]
    exc = RuntimeError("the Faust process's sink failed for good")
    parts.sink._fail(exc)  # its failure listeners: the backend stops the worker
    assert backend.fatal is exc
    assert backend.sink.failed is exc  # /readyz answers for this process's sink too


@pytest.mark.parametrize(("cpus", "expected"), [(1.0, IngestRuntime), (2.0, SeparateBackend)])
def test_auto_is_separate_with_a_server_and_a_second_cpu(
        monkeypatch: pytest.MonkeyPatch, cpus: float, expected: type) -> None:
    monkeypatch.setattr(factory, "available_cpus", lambda: cpus)
    assert isinstance(_build("auto").backend, expected)


class _Chdb(MemoryDatabase):
    kind = "chdb"


def test_embedded_chdb_is_inline_and_refuses_separate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(factory, "available_cpus", lambda: 8.0)
    assert isinstance(_build("auto", _Chdb()).backend, IngestRuntime)
    with pytest.raises(SettingsError, match="BLO_INGEST_PROCESS=separate"):
        _build("separate", _Chdb())
