"""Session-wide fixtures: the real broker and the real ClickHouse server.

Each lives in its own plugin module so the pieces stay independent:
``tests/fixtures_kafka.py`` (Tansu broker on a free loopback port) and
``tests/fixtures_clickhouse.py`` (Debian clickhouse-server on free loopback ports).
"""

pytest_plugins = ["tests.fixtures_kafka", "tests.fixtures_clickhouse"]
