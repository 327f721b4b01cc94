"""The DLQ-ratio guard. Pure.

When almost everything fails (a producer writing the wrong format, a topic pointed at the
wrong cluster) dead-lettering a flood silently is worse than stopping: the guard trips when,
over the last ``min_events`` events or more, the share dead-lettered reaches ``ratio``.
"""

from __future__ import annotations

from collections import deque


class DlqFloodError(RuntimeError):
    """Raised to stop the worker: almost every event is being dead-lettered."""


class DlqGuard:
    def __init__(self, ratio: float, min_events: int) -> None:
        self.ratio = ratio
        self.min_events = min_events
        self._window: deque[tuple[int, int]] = deque()
        self._total = 0
        self._failed = 0

    def observe(self, total: int, failed: int) -> None:
        """Record one batch; raise :class:`DlqFloodError` when the ratio is reached."""
        if total <= 0:
            return
        self._window.append((total, failed))
        self._total += total
        self._failed += failed
        # keep just enough history to cover min_events
        while self._window and self._total - self._window[0][0] >= self.min_events:
            t, f = self._window.popleft()
            self._total -= t
            self._failed -= f
        if self._total >= self.min_events and self._failed >= self.ratio * self._total:
            raise DlqFloodError(
                f"{self._failed} of the last {self._total} events were dead-lettered "
                f"(≥ {self.ratio:.0%}, BLO_INGEST_DLQ_GUARD_RATIO): the producers are probably "
                "misconfigured (wrong format or topic). Stopping instead of dead-lettering a "
                "flood; nothing of this batch was acknowledged. Inspect with `blo dlq list`."
            )

    @property
    def failed_share(self) -> float:
        return self._failed / self._total if self._total else 0.0
