"""The data directories are this OS user's own (mode 0700): blo/db.py private_dir."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from blo.db import private_dir


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_a_new_directory_is_private_parents_too(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        d = private_dir(tmp_path / "a" / "b")
    finally:
        os.umask(old)
    assert mode(d) == 0o700


def test_an_open_directory_of_ours_is_closed_and_logged(tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    d = tmp_path / "chdb"
    d.mkdir(mode=0o755)
    os.chmod(d, 0o755)
    (d / "data.bin").write_text("KZ-T1")
    private_dir(d)
    assert mode(d) == 0o700
    assert "was open to other OS users (mode 755)" in caplog.text
    caplog.clear()
    private_dir(d)  # already private: nothing to say
    assert caplog.text == ""
