"""Pure data: the wire contract of the BLO pipeline (schema_version 1).

* :mod:`schemas.vocab` -- fixed vocabularies (``StrEnum``)
* :mod:`schemas.countries` -- ISO codes, Central Asian land borders
* :mod:`schemas.fields` / :mod:`schemas.base` -- shared field types, the strict base model
* :mod:`schemas.events` -- the envelope and one model per event type; ``Event`` union
* :mod:`schemas.parse` -- :func:`~schemas.parse.parse_event`, the stream's entry point
* :mod:`schemas.identity` -- derived event ids, canonical JSON, body hash
* :mod:`schemas.station` -- station records, registry history, station files
* :mod:`schemas.export` -- JSON Schema files
* :mod:`schemas.units` -- kilogram equivalents of seizure quantities
* :mod:`schemas.alert_input` -- the alert input topic's records (workers → alert engine)

Importing the package imports none of them.
"""
