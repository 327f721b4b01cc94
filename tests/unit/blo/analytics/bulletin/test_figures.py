from __future__ import annotations

import pytest

from blo.analytics.bulletin.figures import (
    REGION,
    BulletinError,
    Post,
    change,
    posts_from_rows,
    scope_posts,
    window_query,
)
from blo.analytics.periods import Period
from tests.unit.blo.analytics.bulletin.factories import REGISTRY, bulletin


def test_change_has_no_percentage_over_a_zero_base() -> None:
    assert change(5, 0).percent is None and change(5, 0).absolute == 5
    assert change(15, 10).percent == 50.0
    assert change(0, 4).percent == -100.0
    assert change(1, 3).percent == -66.7


def test_scope_is_a_country_of_the_registry_or_the_region() -> None:
    posts = posts_from_rows(REGISTRY)
    assert {p.station_id for p in scope_posts(posts, "KZ")} == {"KZ-KORDAI", "KZ-KONYSBAEV"}
    assert len(scope_posts(posts, REGION)) == 3
    with pytest.raises(BulletinError, match="no post"):
        scope_posts(posts, "FR")
    assert posts[0] == Post("KZ-KONYSBAEV", "Б. Коныспаев", "KZ", "KZ-UZ", 41.27, 69.05)


def test_figures_from_window_lines() -> None:
    b = bulletin()
    h = {x.key: x for x in b.headline}
    # live seizures and imported seizure summaries (count reports) both count
    assert (h["seizure_cases"].current, h["seizure_ukg"].current) == (3 + 1 + 2, 17_750_000)
    assert (h["seizure_cases"].previous, h["seizure_ukg"].previous) == (1, 10_000_000)
    assert h["seizure_ukg"].vs_previous.percent == 77.5
    assert h["seizure_ukg"].vs_year_before.percent is None  # nothing a year before
    assert (h["refused"].current, h["refused"].vs_previous.percent) == (12, 0.0)
    assert (h["detentions"].current, h["detained"].current) == (2, 5)
    assert [(d.drug, d.cases, d.ukg) for d in b.drugs] == [
        ("heroin", 3, 12_500_000), ("opium", 2, 4_000_000), ("hashish", 1, 1_250_000)]
    assert [(r.measure, r.value_u, r.reports) for r in b.reports] == [
        ("Trucks", 1234_000_000, 4)]
    assert b.method.provisional_months == ("2026-10",)
    assert (b.method.revised, b.method.voided, b.method.late) == (1, 0, 2)
    assert [(a.rule_id, a.name("ru"), a.count, a.firing) for a in b.alerts] == [
        ("refusal_spike", "Всплеск отказов", 2, 1)]
    assert {p.station_id for p in b.post_lines} == {"KZ-KORDAI", "KZ-KONYSBAEV"}


def test_the_data_version_is_stable_and_follows_the_data() -> None:
    assert bulletin().version == bulletin().version
    assert bulletin().version.digest != bulletin("region").version.digest
    v = bulletin().version
    assert (v.events, v.last_ingested, v.posts) == (1000, 1_793_000_000, 2)


def test_window_query_selects_local_month_labels_of_every_period() -> None:
    p = Period.parse("2026-Q4")
    sql, params = window_query("blo", ("KZ-KORDAI",), (p, p.previous(), p.year_before()))
    assert params["labels"] == ("2025-10", "2025-11", "2025-12", "2026-07", "2026-08",
                                "2026-09", "2026-10", "2026-11", "2026-12")
    assert "argMax" in sql and "FINAL" not in sql
    assert "window_label IN %(labels)s" in sql
