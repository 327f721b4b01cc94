"""The ingest stages, in the order an event goes through them. Each is pure: no Kafka, no
ClickHouse, no clock (``now`` is passed in).

1. :mod:`~streams.stages.decode` — record bytes → JSON elements (or why the record is unusable)
2. :mod:`~streams.stages.validate` — element → validated event (the schema's rules)
3. :mod:`~streams.stages.enrich` — event → its station registry entry (the registry's rules)
4. :mod:`~streams.stages.conflicts` — event ids never reused for another body
5. :mod:`~streams.stages.rows` — accepted event → ``events`` row

:class:`streams.ingest.IngestProcessor` runs them over a batch of records and holds the state
between batches (records held for an unknown station, the conflict cache). The one lookup
they need (stored body hashes of ids the cache misses) is done by the caller between stage 3
and stage 4: ``plan = processor.prepare(records, now)``, then
``processor.finish(plan, found_hashes)``.
"""
