"""Event-time windows: pure core (configuration, boundaries, statistics, state).

No Kafka, ClickHouse or Faust here: the runtime feeds :class:`WindowState` with ``events``
rows and writes what :meth:`WindowState.tick` returns. See docs/windows.md.
"""

from streams.windows.config import WindowConfig, WindowSpec, load_window_config, window_config
from streams.windows.rows import WindowKey, emitted_from_row
from streams.windows.state import Emission, WindowState
from streams.windows.stats import WindowStats

__all__ = [
    "Emission",
    "WindowConfig",
    "WindowKey",
    "WindowSpec",
    "WindowState",
    "WindowStats",
    "emitted_from_row",
    "load_window_config",
    "window_config",
]
