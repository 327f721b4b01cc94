from streams.frontier import AckFrontier

TP = ("raw", 0)


def test_nothing_is_released_past_a_record_still_in_progress() -> None:
    f = AckFrontier()
    for off in range(5):
        f.received(TP, off, f"h{off}")
    assert f.completed(TP, 1) == []  # offset 0 (e.g. held) is not done
    assert f.completed(TP, 2) == []
    assert f.completed(TP, 4) == []
    assert f.completed(TP, 0) == ["h0", "h1", "h2"]  # released in order, up to the next gap
    assert f.completed(TP, 3) == ["h3", "h4"]
    assert f.waiting(TP) == 0


def test_partitions_are_independent() -> None:
    f = AckFrontier()
    f.received(("raw", 0), 10, "a10")
    f.received(("raw", 1), 7, "b7")
    assert f.completed(("raw", 1), 7) == ["b7"]
    assert f.waiting(("raw", 0)) == 1


def test_a_revoked_partition_is_forgotten() -> None:
    f = AckFrontier()
    f.received(TP, 0, "h0")
    f.received(TP, 1, "h1")
    f.forget(TP)
    assert f.completed(TP, 1) == [] and f.completed(TP, 0) == []
    assert f.waiting(TP) == 0


def test_a_record_fetched_again_while_pending_is_registered_once() -> None:
    """A seek back (rebalance) can deliver offsets still pending here: registering them a
    second time would leave the first entry never done, and the partition never
    acknowledged again."""
    f = AckFrontier()
    for off in (10, 11):
        f.received(TP, off, f"h{off}")
    for off in (10, 11):  # fetched again from the committed offset
        f.received(TP, off, f"again{off}")
    assert f.waiting(TP) == 2
    assert f.completed(TP, 10) == ["h10"]
    assert f.completed(TP, 10) == []  # its second processing: already released
    assert f.completed(TP, 11) == ["h11"]
    assert f.waiting(TP) == 0
    f.received(TP, 12, "h12")  # and the partition goes on being acknowledged
    assert f.completed(TP, 12) == ["h12"]
