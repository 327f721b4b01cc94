"""Who sees what (blo/api/scope.py): a country token, an agency-narrowed token (the closest
a scope comes to one post: it sees the posts of its agencies only) and the regional
``all`` token, over one registry of five posts with two BLO pairs across borders."""

from __future__ import annotations

import pytest

from blo.api.scope import (
    Scope,
    StationInfo,
    alert_visible,
    border_countries,
    filter_refusal,
    key_fully_visible,
    visibility,
)

# station → (country, agency, border, paired BLO); the TJ–AF pair is declared on both
# sides, the KZ–KG one on the KZ side only
REGISTRY = [StationInfo(sid, c, a, b, p) for sid, (c, a, b, p) in {
    "KZ-KORDAI": ("KZ", "border_guard", "KG-KZ", "KG-AK-JOL"),
    "KZ-KARASU": ("KZ", "customs", "KG-KZ", ""),
    "KG-AK-JOL": ("KG", "customs", "KG-KZ", ""),
    "TJ-PYANJ": ("TJ", "joint", "AF-TJ", "AF-SHERKHAN"),
    "AF-SHERKHAN": ("AF", "border_guard", "AF-TJ", "TJ-PYANJ"),
}.items()]
ALL = Scope(all=True)
KZ = Scope(countries=frozenset({"KZ"}))
KG = Scope(countries=frozenset({"KG"}))
KZ_CUSTOMS = Scope(countries=frozenset({"KZ"}), agencies=frozenset({"customs"}))
KZ_GUARDS = Scope(countries=frozenset({"KZ"}), agencies=frozenset({"border_guard"}))
CENTRAL = Scope(countries=frozenset({"KZ", "TJ"}))


def alert(scope: str, key: str, station: str = "") -> dict[str, str]:
    return {"scope": scope, "scope_key": key, "station_id": station}


# -- the scope itself ------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [
    {},  # nothing at all
    {"agencies": frozenset({"customs"})},  # agencies without a country
    {"all": True, "countries": frozenset({"KZ"})},
    {"all": True, "agencies": frozenset({"customs"})},
])
def test_a_scope_is_all_or_names_a_country_and_never_both(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="scope"):
        Scope(**kwargs)  # type: ignore[arg-type]


def test_describe_is_stable_whatever_the_order_given() -> None:
    assert ALL.describe() == "all"
    assert Scope(countries=frozenset({"TJ", "KZ"})).describe() == "KZ,TJ"
    assert Scope(countries=frozenset({"KZ"}), agencies=frozenset({"joint", "customs"})
                 ).describe() == "KZ (agencies customs,joint)"


def test_a_country_scope_sees_every_agency_of_its_countries_and_nothing_else() -> None:
    assert KZ.sees_station("KZ", "customs") and KZ.sees_station("KZ", "border_guard")
    assert not KZ.sees_station("KG", "customs")
    assert CENTRAL.sees_station("TJ", "joint") and not CENTRAL.sees_station("AF", "joint")


def test_an_agency_scope_sees_only_its_agencies_in_its_countries() -> None:
    assert KZ_CUSTOMS.sees_station("KZ", "customs")
    assert not KZ_CUSTOMS.sees_station("KZ", "border_guard")
    assert not KZ_CUSTOMS.sees_station("KG", "customs")  # the agency, another country


def test_country_roll_ups_are_for_country_wide_scopes_only() -> None:
    """A country's figures include every agency's posts: an agency token may not see them."""
    assert KZ.sees_country("KZ") and not KZ.sees_country("TJ")
    assert not KZ_CUSTOMS.sees_country("KZ")
    assert ALL.sees_country("KZ") and ALL.sees_country("XX")


# -- visibility: the stations, and the foreign paired posts in aggregate ---------------------
def test_all_sees_every_station_and_needs_no_paired_block() -> None:
    v = visibility(ALL, REGISTRY)
    assert v.stations == {s.station_id for s in REGISTRY}
    assert v.paired == frozenset()


def test_a_country_sees_its_posts_and_the_foreign_side_of_its_pairs() -> None:
    v = visibility(KZ, REGISTRY)
    assert v.stations == {"KZ-KORDAI", "KZ-KARASU"}
    assert v.paired == {"KG-AK-JOL"}  # declared on the KZ side
    v = visibility(KG, REGISTRY)
    assert v.stations == {"KG-AK-JOL"}
    assert v.paired == {"KZ-KORDAI"}  # declared on the foreign side only: found too


def test_a_pair_inside_the_scope_is_no_paired_post() -> None:
    """Both ends visible: the foreign side is seen in full, not as an aggregate."""
    v = visibility(Scope(countries=frozenset({"TJ", "AF"})), REGISTRY)
    assert v.stations == {"TJ-PYANJ", "AF-SHERKHAN"} and v.paired == frozenset()


def test_an_agency_scope_sees_its_posts_and_only_their_pairs() -> None:
    v = visibility(KZ_CUSTOMS, REGISTRY)
    assert v.stations == {"KZ-KARASU"}
    assert v.paired == frozenset()  # KZ-KORDAI's pair belongs to the border guard
    v = visibility(KZ_GUARDS, REGISTRY)
    assert v.stations == {"KZ-KORDAI"} and v.paired == {"KG-AK-JOL"}


def test_a_scope_of_a_country_with_no_post_sees_nothing() -> None:
    v = visibility(Scope(countries=frozenset({"UZ"})), REGISTRY)
    assert v.stations == frozenset() and v.paired == frozenset()


def test_station_ids_for_sql_are_sorted_and_never_empty() -> None:
    """``IN ()`` is a syntax error: an impossible id keeps the query valid and empty."""
    assert visibility(KZ, REGISTRY).station_ids() == ("KZ-KARASU", "KZ-KORDAI")
    nothing = visibility(Scope(countries=frozenset({"UZ"})), REGISTRY)
    assert nothing.station_ids() == ("",) and nothing.paired_ids() == ("",)
    assert visibility(KZ, REGISTRY).paired_ids() == ("KG-AK-JOL",)


# -- filters a query asks for: refused (403) beyond the scope ---------------------------------
def test_a_station_outside_the_scope_is_refused_with_the_scope_named() -> None:
    v = visibility(KZ, REGISTRY)
    assert filter_refusal(KZ, v, station="KZ-KORDAI") == ""
    assert filter_refusal(KZ, v, station="TJ-PYANJ") == \
        "station TJ-PYANJ is outside this token's scope (KZ)"
    # a paired post is seen in aggregate only: never as a station filter
    assert filter_refusal(KZ, v, station="KG-AK-JOL") != ""


def test_an_agency_scope_may_not_filter_on_another_agencys_post() -> None:
    v = visibility(KZ_CUSTOMS, REGISTRY)
    assert filter_refusal(KZ_CUSTOMS, v, station="KZ-KARASU") == ""
    assert filter_refusal(KZ_CUSTOMS, v, station="KZ-KORDAI") == (
        "station KZ-KORDAI is outside this token's scope (KZ (agencies customs))")
    # its own country as a filter: allowed (the answer still sums visible posts only)
    assert filter_refusal(KZ_CUSTOMS, v, country="KZ") == ""


def test_a_country_or_border_outside_the_scope_is_refused() -> None:
    v = visibility(KZ, REGISTRY)
    assert filter_refusal(KZ, v, country="KZ") == ""
    assert filter_refusal(KZ, v, country="TJ") == \
        "country TJ is outside this token's scope (KZ)"
    assert filter_refusal(KZ, v, border="KG-KZ") == ""  # touches KZ
    assert filter_refusal(KZ, v, border="AF-TJ") == \
        "border AF-TJ does not touch this token's countries (KZ)"
    # the interior posts: never refused, the answer sums the visible ones only
    assert filter_refusal(KZ, v, border="interior") == ""


def test_the_first_refused_filter_is_named() -> None:
    v = visibility(KZ, REGISTRY)
    assert filter_refusal(KZ, v, station="TJ-PYANJ", country="TJ").startswith("station ")
    assert filter_refusal(KZ, v, country="TJ", border="AF-TJ").startswith("country ")


def test_all_is_refused_no_country_or_border_but_only_known_stations() -> None:
    v = visibility(ALL, REGISTRY)
    assert filter_refusal(ALL, v, country="UZ", border="AF-TJ") == ""
    assert filter_refusal(ALL, v, station="TJ-PYANJ") == ""
    assert filter_refusal(ALL, v, station="XX-NOWHERE") == \
        "station XX-NOWHERE is outside this token's scope (all)"


def test_no_filter_is_never_refused() -> None:
    for scope in (ALL, KZ, KZ_CUSTOMS):
        assert filter_refusal(scope, visibility(scope, REGISTRY)) == ""


# -- alerts ---------------------------------------------------------------------------------
ALERTS = {
    "kz-station": alert("station", "KZ-KORDAI", "KZ-KORDAI"),
    "customs-station": alert("station", "KZ-KARASU", "KZ-KARASU"),
    "tj-station": alert("station", "TJ-PYANJ", "TJ-PYANJ"),
    "kz-kg-pair": alert("pair", "KG-AK-JOL+KZ-KORDAI"),
    "kz-country": alert("country", "KZ"),
    "kg-kz-border": alert("border", "KG-KZ"),
    "af-tj-border": alert("border", "AF-TJ"),
    "all": alert("all", "all"),
}


def _seen(scope: Scope) -> set[str]:
    v = visibility(scope, REGISTRY)
    return {name for name, a in ALERTS.items() if alert_visible(scope, v, a)}


def test_the_regional_scope_sees_every_alert() -> None:
    assert _seen(ALL) == set(ALERTS)


def test_a_country_sees_its_stations_pairs_country_and_borders_not_all() -> None:
    assert _seen(KZ) == {"kz-station", "customs-station", "kz-kg-pair", "kz-country",
                         "kg-kz-border"}
    # KG: the pair through its own post, the border it shares; not KZ's country roll-up
    assert _seen(KG) == {"kz-kg-pair", "kg-kz-border"}


def test_an_agency_scope_sees_its_posts_alerts_and_no_roll_up() -> None:
    """Country and border roll-ups count other agencies' posts too."""
    assert _seen(KZ_CUSTOMS) == {"customs-station"}
    assert _seen(KZ_GUARDS) == {"kz-station", "kz-kg-pair"}


def test_an_alert_of_an_unknown_kind_is_seen_by_the_regional_scope_only() -> None:
    odd = alert("corridor", "KZ", "KZ-KORDAI")
    assert alert_visible(ALL, visibility(ALL, REGISTRY), odd)
    assert not alert_visible(KZ, visibility(KZ, REGISTRY), odd)


def test_border_countries() -> None:
    assert border_countries("AF-TJ") == ("AF", "TJ")
    assert border_countries("") == ()


@pytest.mark.parametrize(("scope", "kind", "key", "sees"), [
    (ALL, "border", "KG-KZ", True),
    (ALL, "all", "all", True),
    (KZ, "station", "KZ-KORDAI", True),
    (KZ, "station", "KG-AK-JOL", False),  # paired: aggregated only, never its own series
    (KZ, "country", "KZ", True),
    (KZ, "country", "KG", False),
    (KZ, "border", "KG-KZ", False),  # sums KG-AK-JOL too
    (KZ, "all", "all", False),
    (KZ_CUSTOMS, "country", "KZ", False),  # sums the border guards' KZ-KORDAI too
    (KZ_CUSTOMS, "station", "KZ-KARASU", True),
    (KZ, "border", "XX-YY", False),  # sums nothing here: nothing to show
])
def test_a_roll_up_series_is_visible_only_when_every_post_it_sums_is(
        scope: Scope, kind: str, key: str, sees: bool) -> None:
    assert key_fully_visible(visibility(scope, REGISTRY), REGISTRY, kind, key) is sees


def test_a_border_whose_far_side_has_no_posts_here_is_the_national_tokens() -> None:
    tj_only = [s for s in REGISTRY if s.country != "AF"]
    tj = Scope(countries=frozenset({"TJ"}))
    assert key_fully_visible(visibility(tj, tj_only), tj_only, "border", "AF-TJ")
    assert not key_fully_visible(visibility(tj, REGISTRY), REGISTRY, "border", "AF-TJ")
