import pytest

from streams.guard import DlqFloodError, DlqGuard


def test_guard_trips_on_a_flood_once_enough_events_were_seen() -> None:
    g = DlqGuard(ratio=0.9, min_events=100)
    g.observe(50, 50)  # 100 % failed, but too few events to judge
    with pytest.raises(DlqFloodError, match="dead-lettered"):
        g.observe(50, 48)


def test_guard_ignores_a_normal_share_of_bad_input() -> None:
    g = DlqGuard(ratio=0.9, min_events=100)
    for _ in range(50):
        g.observe(100, 10)
    assert g.failed_share == pytest.approx(0.1)


def test_guard_forgets_old_batches() -> None:
    g = DlqGuard(ratio=0.9, min_events=100)
    g.observe(100, 85)  # bad burst, below the ratio
    for _ in range(5):
        g.observe(100, 0)
    assert g.failed_share < 0.5  # the window slid past the burst
    g2 = DlqGuard(ratio=0.5, min_events=100)
    g2.observe(1000, 0)
    with pytest.raises(DlqFloodError):
        # the window keeps at least min_events, so a fully failing recent stretch trips
        for _ in range(3):
            g2.observe(100, 100)
