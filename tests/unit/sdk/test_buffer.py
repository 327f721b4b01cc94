from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from blo.sdk.buffer import BufferClosed, DiskBuffer
from blo.sdk.errors import BufferFull, BufferLocked


def test_rows_come_back_in_append_order(tmp_path: Path) -> None:
    with DiskBuffer(tmp_path / "b.db") as buf:
        for i in range(10):
            buf.append("AB"[i % 2], b"%d" % i)
        buf.append_many([("C", b"10"), ("A", b"11")])
        rows = buf.head(100)
        assert [r.payload for r in rows] == [b"%d" % i for i in range(12)]
        assert [r.station_id for r in rows][-2:] == ["C", "A"]
        assert [r.seq for r in rows] == sorted(r.seq for r in rows)
        assert buf.pending() == 12 and buf.pending_bytes() == 14


def test_head_is_bounded_by_count_and_bytes(tmp_path: Path) -> None:
    with DiskBuffer(tmp_path / "b.db") as buf:
        buf.append_many([("A", b"x" * 100)] * 10)
        assert len(buf.head(3)) == 3
        assert len(buf.head(100, max_bytes=250)) == 2
        assert len(buf.head(100, max_bytes=10)) == 1  # the first row always comes


def test_delete_removes_exactly_the_acknowledged_rows(tmp_path: Path) -> None:
    with DiskBuffer(tmp_path / "b.db") as buf:
        buf.append_many([("AB"[i % 2], b"%d" % i) for i in range(6)])
        rows = buf.head(10)
        assert buf.delete([r.seq for r in rows if r.station_id == "A"]) == 3
        assert [r.payload for r in buf.head(10)] == [b"1", b"3", b"5"]
        assert buf.pending() == 3 and buf.pending_bytes() == 3
        assert buf.delete([rows[0].seq]) == 0  # already gone: counters unchanged
        assert buf.pending() == 3
        assert buf.delete([]) == 0


def test_buffer_full_refuses_without_writing(tmp_path: Path) -> None:
    with DiskBuffer(tmp_path / "b.db", max_bytes=1000) as buf:
        buf.append_many([("A", b"x" * 400)] * 2)
        with pytest.raises(BufferFull, match="max_buffer_bytes=1000"):
            buf.append("A", b"y" * 201)
        with pytest.raises(BufferFull):  # all or nothing
            buf.append_many([("A", b"z" * 100), ("A", b"z" * 150)])
        assert buf.pending() == 2
        buf.append("A", b"w" * 200)  # exactly at the limit fits
        buf.delete([buf.head(1)[0].seq])
        buf.append("A", b"v" * 400)  # room again after an acknowledgement
        assert [r.payload[:1] for r in buf.head(10)] == [b"x", b"w", b"v"]


def test_a_reopened_buffer_sees_the_unsent_rows_in_order(tmp_path: Path) -> None:
    path = tmp_path / "station" / "outbox.db"
    buf = DiskBuffer(path)
    buf.append_many([("A", b"%d" % i) for i in range(5)])
    buf.delete([buf.head(1)[0].seq])
    last_seq = buf.head(10)[-1].seq
    buf.close()
    with pytest.raises(BufferClosed):
        buf.append("A", b"late")

    again = DiskBuffer(path)
    assert again.pending() == 4 and again.pending_bytes() == 4
    assert [r.payload for r in again.head(10)] == [b"1", b"2", b"3", b"4"]
    again.append("A", b"5")
    assert again.head(10)[-1].seq > last_seq
    again.close()


def test_sequence_numbers_are_never_reused_after_emptying(tmp_path: Path) -> None:
    path = tmp_path / "b.db"
    with DiskBuffer(path) as buf:
        seq = buf.append("A", b"1")
        buf.delete([seq])
    with DiskBuffer(path) as buf:  # empty at open: compacted, counter kept
        assert buf.pending() == 0
        assert buf.append("A", b"2") > seq


def test_rejected_rows_leave_the_queue_but_are_kept(tmp_path: Path) -> None:
    with DiskBuffer(tmp_path / "b.db") as buf:
        buf.append_many([("A", b"1"), ("A", b"2"), ("A", b"3")])
        second = buf.head(10)[1]
        buf.reject(second.seq, "MessageSizeTooLargeError: too big")
        assert [r.payload for r in buf.head(10)] == [b"1", b"3"]
        assert buf.pending() == 2 and buf.pending_bytes() == 2
        [(row, reason)] = buf.rejected()
        assert row == second and "too big" in reason


def test_a_second_process_cannot_open_the_same_buffer(tmp_path: Path) -> None:
    path = tmp_path / "b.db"
    with DiskBuffer(path) as buf:
        buf.append("A", b"1")
        code = (
            "import sys\n"
            "from blo.sdk.buffer import DiskBuffer\n"
            "from blo.sdk.errors import BufferLocked\n"
            "try:\n"
            f"    DiskBuffer({str(path)!r})\n"
            "except BufferLocked as e:\n"
            "    print('locked:', e); sys.exit(3)\n"
        )
        proc = subprocess.run(
            [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 3, proc.stderr
        assert "in use by another process" in proc.stdout
    with DiskBuffer(path) as buf:  # free again once closed
        assert buf.pending() == 1
    assert issubclass(BufferLocked, Exception)


def test_synchronous_mode_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="FULL or NORMAL"):
        DiskBuffer(tmp_path / "b.db", synchronous="OFF")  # type: ignore[arg-type]


def test_delete_handles_more_rows_than_one_statement_takes(tmp_path: Path) -> None:
    with DiskBuffer(tmp_path / "b.db") as buf:
        buf.append_many([("A", b"xy")] * 1700)
        rows = buf.head(2000)
        assert buf.delete([r.seq for r in rows[:1600]]) == 1600
        assert buf.pending() == 100 and buf.pending_bytes() == 200
