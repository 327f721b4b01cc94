"""The pure part of ``blo import-csv``: a mapping file turns CSV rows into events.

``load_mapping`` validates a mapping (file path or bundled name), ``iter_import`` streams a
file into :class:`Mapped` / :class:`Rejected` items, ``summarise`` / :class:`ImportSummary`
count them. The format is documented in ``docs/import-csv.md``.

Beside it: :mod:`.stations` judges derived station records with the registry's schema
(nothing is published when one is refused) and tells which stations are registered;
:mod:`.runs` is the record of a run and its rejected rows (pure); :mod:`.store` writes and
reads those records in ClickHouse (the importer's only I/O).
"""

from blo.importer.mapping import (
    ImportMapping,
    MappingError,
    bundled_mappings,
    load_mapping,
    parse_mapping,
)
from blo.importer.records import (
    CountReportDict,
    ImportItem,
    Mapped,
    Rejected,
    StationRecordDict,
)
from blo.importer.rows import ImportFileError, iter_import
from blo.importer.summary import ImportSummary, summarise

__all__ = [
    "CountReportDict",
    "ImportFileError",
    "ImportItem",
    "ImportMapping",
    "ImportSummary",
    "Mapped",
    "MappingError",
    "Rejected",
    "StationRecordDict",
    "bundled_mappings",
    "iter_import",
    "load_mapping",
    "parse_mapping",
    "summarise",
]
