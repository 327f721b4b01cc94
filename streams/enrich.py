"""Moved: the ``events`` row is built by :mod:`streams.stages.rows` (stage 5), the station
entry found by :mod:`streams.stages.enrich` (stage 3). This name stays only while ``bench/``
still imports :func:`event_row` from here; import the stage instead."""

from streams.stages.rows import event_row

__all__ = ["event_row"]
