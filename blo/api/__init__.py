"""The monitoring centres' query API and live dashboard (docs/api.md).

``blo api`` serves it against a ClickHouse server; in embedded mode (chDB, one process per
data directory) the worker serves it. Tokens carry a scope (countries, optionally agencies,
or ``all``); every answer is computed from the station rows the scope may see.
"""
