"""Moved to :mod:`streams.stages.decode` (stage 1). This name stays only while
``streams/runtime.py`` and ``bench/`` still import it from here; import the stage instead."""

from streams.stages.decode import RawRecord, RecordProblem, SourcePos, decode_record

__all__ = ["RawRecord", "RecordProblem", "SourcePos", "decode_record"]
