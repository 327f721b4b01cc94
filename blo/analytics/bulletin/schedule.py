"""The bulletin schedule: a worker's timer that makes the bulletin editions of every scope
and language when a month closes (:mod:`blo.analytics.bulletin.editions`) and stores them
in ``bulletin_editions`` (docs/bulletins.md, "Scheduled bulletins").

**One maker per deployment.** Every worker runs the timer, but a run does something only
on the worker that owns raw partition 0 (the consumer group gives it to exactly one
worker at a time; a rebalance moves it). Two makers for a moment during a rebalance would
store the same rows: the same data gives the same bytes and the same key, which the
table's ReplacingMergeTree collapses.

**Off the event loop, off the interpreter.** Reading the figures runs in one dedicated
thread (each query goes through the worker's sink on the event loop); rendering the charts
and the PDF (CPU: matplotlib, reportlab) runs in a child process
(:mod:`blo.analytics.bulletin.render_child`, one per bulletin, every language at once), so
neither the event loop nor the worker's GIL is held by a bulletin and ingest goes on. One
bulletin at a time: two never compete for the CPU. Each stored edition is awaited durable
before the next is made; a failure is logged and counted
(``blo_bulletin_schedule_runs_total{outcome="failed"}``) and never stops the worker (the
next run tries again).
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime
from typing import Any

from blo.analytics.bulletin.editions import (
    SCHEDULED_LANGS,
    Due,
    due_editions,
    edition_row,
)
from blo.analytics.bulletin.figures import Bulletin
from blo.metrics import Metrics
from sinks.base import Row
from sinks.tables import BULLETIN_EDITIONS

log = logging.getLogger("blo.bulletins")

AsyncRead = Callable[[str, Mapping[str, Any]], Coroutine[Any, Any, list[Any]]]
AsyncWrite = Callable[[Sequence[Row]], Awaitable[None]]
"""Stores rows of ``bulletin_editions``; returns once they are durable."""

MADE_BY = "schedule"


class BulletinSchedule:
    """One run (:meth:`run`) every ``interval_s`` of the owner's timer."""

    def __init__(self, *, read: AsyncRead, write: AsyncWrite, database: str, months: int,
                 metrics: Metrics, is_owner: Callable[[], bool],
                 langs: Sequence[str] = SCHEDULED_LANGS,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._read, self._write, self._db = read, write, database
        self._months, self._langs, self._now = months, tuple(langs), now
        self._metrics, self._is_owner = metrics, is_owner
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="blo-bulletins")
        self._lock = asyncio.Lock()

    async def run(self) -> int:
        """Make and store every edition due; the number stored (0 when not the owner).
        Failures are logged and counted, not raised."""
        if not self._is_owner() or self._lock.locked():
            return 0
        async with self._lock:
            made = 0
            try:
                made = await self._run()
            except Exception:
                self._metrics.bulletin_schedule_runs.labels("failed").inc()
                log.exception("bulletin schedule: run failed after %d edition(s) stored "
                              "(the next run tries again)", made)
                return made
            self._metrics.bulletin_schedule_runs.labels("made" if made else "none").inc()
            return made

    async def _run(self) -> int:
        loop = asyncio.get_running_loop()

        def read(sql: str, params: dict[str, Any]) -> Sequence[Sequence[Any]]:
            # from the executor's thread: each query on the event loop, through the sink;
            # given up when the loop stops (a shutdown), so the thread never waits for ever
            fut: Future[list[Any]] = asyncio.run_coroutine_threadsafe(self._read(sql, params), loop)
            while True:
                try:
                    return fut.result(timeout=1.0)
                except FutureTimeout:
                    if loop.is_closed() or not loop.is_running():
                        fut.cancel()
                        raise RuntimeError("the worker is stopping") from None

        due: list[Due] = await loop.run_in_executor(
            self._executor, lambda: due_editions(read, self._db, self._months, self._langs))
        made = 0
        for d in due:
            b = d.bulletin
            t0 = time.perf_counter()
            docs = await render_elsewhere(b, d.langs)
            seconds = time.perf_counter() - t0
            self._metrics.bulletin_render_seconds.observe(seconds)
            for lang, (pdf, html) in zip(d.langs, docs, strict=True):
                row = edition_row(b, lang, pdf, html, self._now(), MADE_BY)
                await self._write([row])
                made += 1
                self._metrics.bulletin_editions.labels(MADE_BY, lang).inc()
                log.info("bulletin edition %s %s (%s) stored: data version %s, %d posts, "
                         "PDF %d bytes (%s rendered in %.1f s)", b.scope, b.period, lang,
                         b.version.digest, len(b.posts), row[BULLETIN_EDITIONS.index(
                             "pdf_size")], "/".join(d.langs), seconds)
        return made

    def busy(self) -> bool:
        return self._lock.locked()

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


async def render_elsewhere(b: Bulletin, langs: Sequence[str]) -> list[tuple[bytes, bytes]]:
    """(PDF, HTML) of ``b`` in each of ``langs``, rendered by a child process
    (:mod:`blo.analytics.bulletin.render_child`)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "blo.analytics.bulletin.render_child",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=os.environ.copy(), cwd=os.getcwd())
    try:
        out, err = await proc.communicate(pickle.dumps((b, tuple(langs))))
    except BaseException:
        if proc.returncode is None:
            proc.kill()
        raise
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-3:]
        raise RuntimeError(f"rendering {b.scope} {b.period} failed (exit {proc.returncode}): "
                           + " | ".join(tail))
    for line in err.decode(errors="replace").splitlines():  # e.g. matplotlib's warnings
        log.warning("bulletin rendering: %s", line)
    docs: list[tuple[bytes, bytes]] = pickle.loads(out)  # our own child's answer
    return docs
