from tests.integration.streams.conftest import pipeline

__all__ = ["pipeline"]  # the streams tests' fixture: topics, a database, the test stations
