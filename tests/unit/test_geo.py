"""Places (src/suanli/domain/places.json) and the region latency matrix (suanli.domain.geo).

Checks the table's shape (every capital and hub cluster, unique slugs, coordinates inside
China, a source per row), haversine against known distances, and the RTT rules: estimate
monotone in distance and symmetric, measurements override estimates, unknown names fail
with a hint.
"""

from __future__ import annotations

import json
import math
import re
from importlib.resources import files
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from suanli.domain import geo
from suanli.domain.errors import InvalidInput
from suanli.domain.geo import (
    FIBRE_KM_PER_MS,
    OVERHEAD_MS,
    ROUTE_FACTOR,
    LatencyMatrix,
    Place,
    estimate_rtt_ms,
    great_circle_km,
    place,
    places,
)

CAPITALS = {
    "beijing", "tianjin", "shanghai", "chongqing", "shijiazhuang", "taiyuan", "hohhot",
    "shenyang", "changchun", "harbin", "nanjing", "hangzhou", "hefei", "fuzhou", "nanchang",
    "jinan", "zhengzhou", "wuhan", "changsha", "guangzhou", "nanning", "haikou", "chengdu",
    "guiyang", "kunming", "lhasa", "xian", "lanzhou", "xining", "yinchuan", "urumqi",
    "hong-kong", "macau",
}  # fmt: skip
HUB_CLUSTERS = {
    "zhangjiakou", "wuhu", "yrd-demo-zone", "shaoguan", "tianfu", "chongqing-cluster",
    "horinger", "guian", "qingyang", "zhongwei",
}  # fmt: skip
HUB_NODES = 8
SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def _raw() -> dict[str, Any]:
    data = json.loads((files("suanli.domain") / "places.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


RAW = _raw()
ROWS: list[dict[str, Any]] = RAW["places"]
PLACES = places()


def _at(lat: float, lon: float, pid: str = "p") -> Place:
    return Place(pid, pid, pid, "city", "-", lat, lon, "test")


# --- the table -------------------------------------------------------------------------


def test_file_shape() -> None:
    assert RAW["version"] == 1
    assert isinstance(RAW["source_notes"], str) and "Taipei" in RAW["source_notes"]
    for row in ROWS:
        assert set(row) >= {"id", "name", "name_zh", "kind", "province", "lat", "lon", "source"}


def test_counts_capitals_and_hubs() -> None:
    kinds = [p.kind for p in PLACES.values()]
    assert len(PLACES) >= 33 + len(HUB_CLUSTERS)
    assert kinds.count("provincial-capital") == 33
    assert {pid for pid, p in PLACES.items() if p.kind == "provincial-capital"} == CAPITALS
    assert {pid for pid, p in PLACES.items() if p.kind == "hub"} == HUB_CLUSTERS
    assert len({p.hub for p in PLACES.values() if p.kind == "hub"}) == HUB_NODES


def test_ids_unique_slugs() -> None:
    ids = [row["id"] for row in ROWS]
    assert len(ids) == len(set(ids))
    for pid in ids:
        assert SLUG.match(pid), pid


def test_coordinates_in_china_two_decimals() -> None:
    for row in ROWS:
        assert 18.0 <= row["lat"] <= 54.0, row["id"]
        assert 73.0 <= row["lon"] <= 135.0, row["id"]
        assert round(row["lat"], 2) == row["lat"] and round(row["lon"], 2) == row["lon"]


def test_every_row_has_a_source_and_names() -> None:
    for p in PLACES.values():
        assert p.source.strip(), p.id
        assert p.name.strip() and p.name_zh.strip() and p.province.strip(), p.id
        if p.kind == "hub":
            assert p.hub and p.notes, p.id


def test_places_returns_a_copy() -> None:
    mine = places()
    mine.pop("zhengzhou")
    assert "zhengzhou" in places()


def test_place_lookup_and_unknown_hint() -> None:
    assert place("zhengzhou").name_zh == "郑州"
    with pytest.raises(InvalidInput) as err:
        place("zhengzou")
    assert err.value.field == "place"
    assert err.value.hint is not None and "zhengzhou" in err.value.hint
    with pytest.raises(InvalidInput) as err2:
        place("atlantis")
    assert err2.value.hint is not None and "beijing" in err2.value.hint


def test_bad_rows_rejected() -> None:
    row = dict(ROWS[0])
    with pytest.raises(InvalidInput):
        geo.places_from_json({"places": [row, row]})
    with pytest.raises(InvalidInput):
        geo.places_from_json({"places": [{**row, "kind": "village"}]})
    with pytest.raises(InvalidInput):
        geo.places_from_json({"places": [{**row, "lat": 123.0}]})


# --- distances -------------------------------------------------------------------------


def test_haversine_known_distances() -> None:
    # Beijing-Shanghai about 1,070 km, Zhengzhou-Beijing about 620 km (great circle).
    assert great_circle_km(place("beijing"), place("shanghai")) == pytest.approx(1070, rel=0.03)
    assert great_circle_km(place("zhengzhou"), place("beijing")) == pytest.approx(620, rel=0.05)
    assert great_circle_km(place("wuhan"), place("wuhan")) == 0.0
    # One degree of latitude on the mean sphere: 2 * pi * 6371 / 360 = 111.19 km.
    assert great_circle_km(_at(30.0, 110.0), _at(31.0, 110.0)) == pytest.approx(111.19, abs=0.01)


def test_estimate_formula() -> None:
    a, b = place("zhengzhou"), place("beijing")
    expected = 2 * great_circle_km(a, b) * ROUTE_FACTOR / FIBRE_KM_PER_MS + OVERHEAD_MS
    assert estimate_rtt_ms(a, b) == pytest.approx(expected)
    assert estimate_rtt_ms(a, a) == OVERHEAD_MS
    # Zhengzhou-Beijing: about 620 km -> about 12 ms.
    assert 10.0 < estimate_rtt_ms(a, b) < 14.0


LAT = st.floats(min_value=18.0, max_value=54.0, allow_nan=False)
LON = st.floats(min_value=73.0, max_value=135.0, allow_nan=False)


@given(LAT, LON, LAT, LON)
def test_estimate_symmetric(lat1: float, lon1: float, lat2: float, lon2: float) -> None:
    a, b = _at(lat1, lon1, "a"), _at(lat2, lon2, "b")
    assert estimate_rtt_ms(a, b) == pytest.approx(estimate_rtt_ms(b, a))
    assert estimate_rtt_ms(a, b) >= OVERHEAD_MS


@given(LAT, LON, st.floats(0.0, 20.0), st.floats(0.0, 20.0))
def test_estimate_monotone_in_distance(lat: float, lon: float, d1: float, d2: float) -> None:
    # Moving further north along one meridian increases the distance, hence the RTT.
    near, far = sorted((d1, d2))
    origin = _at(lat, lon, "o")
    a, b = _at(lat + near, lon, "a"), _at(lat + far, lon, "b")
    assert great_circle_km(origin, a) <= great_circle_km(origin, b) + 1e-9
    assert estimate_rtt_ms(origin, a) <= estimate_rtt_ms(origin, b) + 1e-9


def test_estimate_monotone_over_table() -> None:
    zz = place("zhengzhou")
    others = sorted(PLACES.values(), key=lambda p: great_circle_km(zz, p))
    rtts = [estimate_rtt_ms(zz, p) for p in others]
    assert rtts == sorted(rtts)


# --- the matrix ------------------------------------------------------------------------


REGIONS = {"zz-1": "zhengzhou", "bj-1": "beijing", "sh-1": "shanghai", "gy-1": "guian"}


def test_matrix_estimates_when_not_measured() -> None:
    m = LatencyMatrix({}, REGIONS)
    assert m.source("zz-1", "bj-1") == "estimated"
    assert m.rtt_ms("zz-1", "bj-1") == estimate_rtt_ms(place("zhengzhou"), place("beijing"))
    assert m.regions == frozenset(REGIONS)


def test_matrix_measured_overrides_and_is_symmetric() -> None:
    m = LatencyMatrix({("zz-1", "bj-1"): 9.5}, REGIONS)
    assert m.rtt_ms("zz-1", "bj-1") == 9.5
    assert m.rtt_ms("bj-1", "zz-1") == 9.5
    assert m.source("bj-1", "zz-1") == "measured"
    assert m.source("zz-1", "sh-1") == "estimated"


def test_matrix_both_directions_take_larger() -> None:
    m = LatencyMatrix({("zz-1", "bj-1"): 9.5, ("bj-1", "zz-1"): 11.0}, REGIONS)
    assert m.rtt_ms("zz-1", "bj-1") == 11.0 == m.rtt_ms("bj-1", "zz-1")


def test_matrix_same_region() -> None:
    m = LatencyMatrix({("sh-1", "sh-1"): 0.4}, REGIONS)
    assert m.rtt_ms("zz-1", "zz-1") == OVERHEAD_MS
    assert m.source("zz-1", "zz-1") == "estimated"
    assert m.rtt_ms("sh-1", "sh-1") == 0.4
    assert m.source("sh-1", "sh-1") == "measured"


@given(st.sampled_from(sorted(REGIONS)), st.sampled_from(sorted(REGIONS)))
def test_matrix_symmetric(a: str, b: str) -> None:
    m = LatencyMatrix({("zz-1", "gy-1"): 21.0}, REGIONS)
    assert m.rtt_ms(a, b) == m.rtt_ms(b, a)
    assert m.source(a, b) == m.source(b, a)


def test_matrix_unknown_region_named_with_hint() -> None:
    m = LatencyMatrix({}, REGIONS)
    with pytest.raises(InvalidInput) as err:
        m.rtt_ms("zz-1", "mars-1")
    assert "mars-1" in err.value.message
    assert err.value.field == "region"
    assert err.value.hint is not None and "bj-1" in err.value.hint
    with pytest.raises(InvalidInput) as err2:
        m.source("venus-1", "mars-1")
    assert "mars-1" in err2.value.message and "venus-1" in err2.value.message


def test_matrix_region_without_place() -> None:
    m = LatencyMatrix({("edge-7", "zz-1"): 3.0}, REGIONS)
    assert m.rtt_ms("edge-7", "zz-1") == 3.0
    assert m.rtt_ms("edge-7", "edge-7") == OVERHEAD_MS
    with pytest.raises(InvalidInput) as err:
        m.rtt_ms("edge-7", "bj-1")
    assert "edge-7" in err.value.message and err.value.hint


def test_matrix_rejects_bad_input() -> None:
    with pytest.raises(InvalidInput) as err:
        LatencyMatrix({}, {"zz-1": "zhengzou"})
    assert err.value.hint is not None and "zhengzhou" in err.value.hint
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(InvalidInput):
            LatencyMatrix({("zz-1", "bj-1"): bad}, REGIONS)


def test_matrix_custom_place_table() -> None:
    table = {"x": _at(30.0, 110.0, "x"), "y": _at(31.0, 110.0, "y")}
    m = LatencyMatrix({}, {"rx": "x", "ry": "y"}, place_table=table)
    assert m.rtt_ms("rx", "ry") == pytest.approx(
        2 * 111.19 * ROUTE_FACTOR / FIBRE_KM_PER_MS + OVERHEAD_MS, rel=1e-4
    )
