"""When a month is closed for a scope (blo/analytics/bulletin/editions.py): from the month
windows' status per post — provisional rows hold it open, a post with nothing in the month
is done once a later month of it is closed or it has been silent for two months, posts that
never sent anything do not count — and the scopes and edition rows."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from blo.analytics.bulletin.editions import (
    closed_months,
    document_bytes,
    edition_row,
    month_status,
    post_done,
    scopes_of,
)
from blo.analytics.bulletin.figures import Post
from sinks.tables import BULLETIN_EDITIONS
from tests.unit.blo.analytics.bulletin.factories import bulletin


def status(**posts: dict[str, tuple[int, int]]) -> dict[str, dict[str, tuple[int, int]]]:
    return {k.replace("_", "-"): v for k, v in posts.items()}


def test_a_provisional_row_holds_the_month_open() -> None:
    st = status(KZ_A={"2026-09": (0, 5), "2026-10": (1, 5)},
                KZ_B={"2026-09": (0, 2), "2026-10": (0, 3)})
    assert closed_months(st, ["KZ-A", "KZ-B"], 3) == ("2026-09",)
    assert closed_months(st, ["KZ-B"], 3) == ("2026-09", "2026-10")
    st["KZ-A"]["2026-10"] = (0, 5)  # its windows turn final
    assert closed_months(st, ["KZ-A", "KZ-B"], 3) == ("2026-09", "2026-10")


def test_a_post_with_nothing_in_the_month() -> None:
    # moved past it: a later month closed
    assert post_done({"2026-09": (0, 1), "2026-11": (0, 1)}, "2026-10")
    # a later month still open: it may yet send October's
    assert not post_done({"2026-09": (0, 1), "2026-11": (2, 2)}, "2026-10")
    # its newest month is the one before: it may be late, wait
    assert not post_done({"2026-09": (0, 1)}, "2026-10")
    # silent for two months: does not hold the scope back
    assert post_done({"2026-08": (0, 1)}, "2026-10")
    assert not post_done({}, "2026-10")


def test_only_the_newest_months_are_watched_and_silent_posts_never_counted() -> None:
    st = month_status([("KZ-A", "2026-07", 0, 1), ("KZ-A", "2026-08", 0, 1),
                       ("KZ-A", "2026-09", 0, 1), ("KZ-A", "2026-10", 3, 3),
                       ("KZ-A", "", 0, 9)])
    assert closed_months(st, ["KZ-A", "KZ-NEVER"], 2) == ("2026-09",)
    assert closed_months(st, ["KZ-A"], 4) == ("2026-07", "2026-08", "2026-09")
    assert closed_months(st, ["KZ-NEVER"], 4) == ()


def test_scopes_and_rows() -> None:
    posts = [Post("TJ-A", "a", "TJ", "AF-TJ", None, None),
             Post("KZ-A", "b", "KZ", "KG-KZ", None, None),
             Post("KZ-B", "c", "KZ", "KG-KZ", None, None)]
    assert scopes_of(posts) == ("region", "KZ", "TJ")
    b = bulletin()
    made = datetime(2026, 11, 5, 3, 0, 0, 123, tzinfo=UTC)
    row = edition_row(b, "ru", b"%PDF-1.4 x", "<p>б</p>".encode(), made, "cli")
    assert len(row) == len(BULLETIN_EDITIONS.columns)
    d = dict(zip(BULLETIN_EDITIONS.column_names, row, strict=True))
    assert (d["scope"], d["period"], d["lang"], d["data_version"]) == (
        b.scope, b.period, "ru", b.version.digest)
    assert d["made_at"] == made.replace(microsecond=0) and d["made_by"] == "cli"
    assert document_bytes("pdf", d["pdf"]) == b"%PDF-1.4 x" == base64.b64decode(d["pdf"])
    assert document_bytes("html", d["html"]) == "<p>б</p>".encode()
    assert (d["pdf_size"], d["html_size"]) == (10, len("<p>б</p>".encode()))
