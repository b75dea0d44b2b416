"""Places and round-trip times between regions.

Placement respects a latency SLO measured from a client region. The round-trip time (RTT)
between two regions comes from a latency matrix: a value measured by agents when there is
one, otherwise an estimate from the coordinates of the places the regions sit in.

The places (provincial-level capitals and the data-centre clusters of the East Data West
Computing hubs) come from the data file `places.json` shipped in this package, with a
source per row. Reading a constant data file that ships with the code is treated like
importing a constant: the table is loaded once and is immutable. docs/latency.md explains
the estimate and its constants.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any, Literal

from suanli.domain.errors import InvalidInput

EARTH_RADIUS_KM = 6371.0
"""Mean Earth radius (IUGG mean radius R1 = 6371.0088 km, rounded), used by the haversine
formula. A sphere is within about 0.5% of the ellipsoid for distances inside China."""

FIBRE_KM_PER_MS = 200.0
"""One-way distance light covers in optical fibre per millisecond. Silica single-mode
fibre has a refractive (group) index of about 1.47, so light moves at c / 1.47 = 204
km/ms; the usual engineering figure is 5 microseconds per km of fibre, i.e. 200 km/ms
(used here; it is the slightly slower, so slightly conservative, value)."""

ROUTE_FACTOR = 1.8
"""Fibre route length divided by the great-circle distance ("path inflation", "route
stretch"). Fibre follows roads, railways and rivers and passes through the cities where
the carriers have their nodes, so it is longer than the great circle.

- Bozkurt et al., "Dissecting Latency in the Internet's Fiber Infrastructure"
  (arXiv:1811.10737, 2018): the median shortest path through the US long-haul fibre
  conduits is 1.3x the line-of-sight distance (a floor: the best fibre that exists), while
  earlier measurement campaigns give the rule of thumb "multiply line-of-sight distance by
  2.1, then divide by the speed of light in fibre" for end-to-end Internet latency (routing
  detours, equipment and queues included).
- China Academy of Information and Communications Technology (CAICT), 2024 Q1 computing-
  network quality brief: optical-layer latency between the cities of the national hub
  clusters averages 9.7 ms (maximum 17.1 ms). Over those cities' great-circle distances
  (about 1,090 km on average, at most about 1,780 km) that is a factor of about 1.8 if the
  figures are one-way, which the maximum implies (17.1 ms cannot be a round trip over
  1,780 km of great circle at 200 km/ms).

1.8 is used: China's hub-to-hub optical paths, between the conduit floor and the routed-
Internet rule of thumb. Measurements replace the estimate wherever agents report one."""

OVERHEAD_MS = 1.0
"""Fixed time added to every estimated round trip, independent of distance: the
equipment at both ends (optical-electrical conversion and forward error correction take
on the order of 0.1 ms per electrical node in WDM/OTN systems) and the metro access to
the backbone (CAICT monitors a "1 ms latency circle" for optical paths within a city). It
is also the RTT estimated between two regions in the same place, and within one region."""

PLACE_KINDS: frozenset[str] = frozenset({"provincial-capital", "hub", "city"})

RttSource = Literal["measured", "estimated"]

_HINT_IDS = 6
"""How many valid ids an "unknown" error lists."""


@dataclass(frozen=True, slots=True)
class Place:
    id: str
    """Lower-case ASCII slug, e.g. "zhengzhou"."""
    name: str
    name_zh: str
    kind: str
    """provincial-capital, hub or city"""
    province: str
    """Provincial-level division (English name), e.g. "Henan"."""
    lat: float
    """Degrees north."""
    lon: float
    """Degrees east."""
    source: str
    """Where the coordinates come from."""
    hub: str = ""
    """For kind "hub": the East Data West Computing hub node the cluster belongs to."""
    notes: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "name_zh": self.name_zh,
            "kind": self.kind,
            "province": self.province,
            "lat": self.lat,
            "lon": self.lon,
            "source": self.source,
            "hub": self.hub,
            "notes": self.notes,
        }


def places_from_json(data: Mapping[str, Any]) -> dict[str, Place]:
    """Places keyed by id, in file order. Raises InvalidInput on a malformed row."""
    out: dict[str, Place] = {}
    for row in data["places"]:
        p = Place(
            id=str(row["id"]),
            name=str(row["name"]),
            name_zh=str(row["name_zh"]),
            kind=str(row["kind"]),
            province=str(row["province"]),
            lat=float(row["lat"]),
            lon=float(row["lon"]),
            source=str(row["source"]),
            hub=str(row.get("hub", "")),
            notes=str(row.get("notes", "")),
        )
        if p.id in out:
            raise InvalidInput(f"place id {p.id!r} appears twice", field="id")
        if p.kind not in PLACE_KINDS:
            raise InvalidInput(
                f"place {p.id!r} has kind {p.kind!r}",
                field="kind",
                hint=f"use one of {', '.join(sorted(PLACE_KINDS))}",
            )
        if not (-90.0 <= p.lat <= 90.0 and -180.0 <= p.lon <= 180.0):
            raise InvalidInput(f"place {p.id!r} has coordinates out of range", field="lat")
        out[p.id] = p
    return out


@cache
def _default_places() -> MappingProxyType[str, Place]:
    text = (resources.files("suanli.domain") / "places.json").read_text(encoding="utf-8")
    return MappingProxyType(places_from_json(json.loads(text)))


def places() -> dict[str, Place]:
    """The places shipped with suanli, keyed by id (loaded once; a fresh dict each call,
    so callers cannot change the shared table)."""
    return dict(_default_places())


def _unknown_hint(name: str, known: Iterable[str]) -> str:
    ids = sorted(known)
    close = difflib.get_close_matches(name, ids, n=3)
    shown = close or ids[:_HINT_IDS]
    more = "" if len(shown) == len(ids) else f" ({len(ids)} in all)"
    lead = "did you mean" if close else "known ids include"
    return f"{lead} {', '.join(shown)}{more}"


def place(place_id: str) -> Place:
    """The place with this id. Raises InvalidInput, with a hint listing valid ids, when
    there is none."""
    table = _default_places()
    found = table.get(place_id)
    if found is None:
        raise InvalidInput(
            f"unknown place {place_id!r}",
            field="place",
            hint=_unknown_hint(place_id, table) + "; places are listed in "
            "suanli/domain/places.json",
        )
    return found


def great_circle_km(a: Place, b: Place) -> float:
    """Great-circle distance in km (haversine, sphere of radius EARTH_RADIUS_KM)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a.lat, a.lon, b.lat, b.lon))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, h)))


def estimate_rtt_ms(a: Place, b: Place) -> float:
    """Estimated round-trip time in ms: out and back along a fibre route ROUTE_FACTOR times
    the great circle, at FIBRE_KM_PER_MS, plus OVERHEAD_MS. The same place (0 km) gives
    OVERHEAD_MS. Symmetric, and non-decreasing in distance."""
    return 2 * great_circle_km(a, b) * ROUTE_FACTOR / FIBRE_KM_PER_MS + OVERHEAD_MS


class LatencyMatrix:
    """RTTs between regions: measured where agents have measured, estimated otherwise.

    `measured` maps a region pair to an RTT in ms. A pair serves both directions; when
    both (a, b) and (b, a) are given, the larger counts (the SLO check stays on the safe
    side). A measurement of (a, a) is the RTT within region a.

    `region_places` maps a region id to a place id, for estimates. A region known only from
    `measured` has no place: pairs with it that were not measured cannot be estimated and
    raise InvalidInput.

    Within one region, without a measurement of (a, a), the RTT is OVERHEAD_MS (the
    estimate for 0 km).
    """

    def __init__(
        self,
        measured: Mapping[tuple[str, str], float] | None = None,
        region_places: Mapping[str, str] | None = None,
        *,
        place_table: Mapping[str, Place] | None = None,
    ) -> None:
        table = _default_places() if place_table is None else place_table
        self._places: dict[str, Place] = {}
        for region, place_id in (region_places or {}).items():
            found = table.get(place_id)
            if found is None:
                raise InvalidInput(
                    f"region {region!r} is mapped to unknown place {place_id!r}",
                    field="region_places",
                    hint=_unknown_hint(place_id, table),
                )
            self._places[region] = found
        self._measured: dict[frozenset[str], float] = {}
        for (a, b), ms in (measured or {}).items():
            value = float(ms)
            if not math.isfinite(value) or value < 0:
                raise InvalidInput(
                    f"measured RTT for ({a!r}, {b!r}) is {ms!r}",
                    field="measured",
                    hint="give a finite, non-negative number of milliseconds",
                )
            key = frozenset((a, b))
            self._measured[key] = max(value, self._measured.get(key, value))
        regions = set(self._places)
        for key in self._measured:
            regions.update(key)
        self._regions = frozenset(regions)

    @property
    def regions(self) -> frozenset[str]:
        """Every region the matrix knows, from either argument."""
        return self._regions

    def _check(self, *names: str) -> None:
        unknown = sorted({n for n in names if n not in self._regions})
        if unknown:
            known = ", ".join(sorted(self._regions)[:_HINT_IDS]) or "none"
            raise InvalidInput(
                f"unknown region(s): {', '.join(repr(u) for u in unknown)}",
                field="region",
                hint=f"use a region the latency matrix knows (known: {known}"
                + (", ..." if len(self._regions) > _HINT_IDS else "")
                + "), or map the region to a place",
            )

    def source(self, a: str, b: str) -> RttSource:
        """ "measured" when agents measured the pair (either direction), else "estimated"."""
        self._check(a, b)
        return "measured" if frozenset((a, b)) in self._measured else "estimated"

    def rtt_ms(self, a: str, b: str) -> float:
        """RTT in ms between regions a and b (symmetric)."""
        self._check(a, b)
        key = frozenset((a, b))
        if key in self._measured:
            return self._measured[key]
        if a == b:
            return OVERHEAD_MS
        missing = sorted(r for r in (a, b) if r not in self._places)
        if missing:
            raise InvalidInput(
                f"no measured RTT for ({a!r}, {b!r}) and region(s) "
                f"{', '.join(repr(m) for m in missing)} have no place to estimate from",
                field="region_places",
                hint="map the region to a place id (see suanli/domain/places.json) or "
                "let an agent measure the pair",
            )
        return estimate_rtt_ms(self._places[a], self._places[b])
