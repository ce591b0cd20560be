"""``impossible_travel``: one key signing in from places too far apart for the time
between them.

Per key, Elasticsearch returns the places it signed in from (geotile cells of about
20 km with their centroid and first/last sighting). Two places are compared by the
great-circle distance between centroids and the time between leaving one and
appearing in the other; interleaved sightings of far-apart places count as
instantaneous travel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from soc.detection.kinds.base import Evaluation, KindEnv, Match, bucket_time, walk_pages
from soc.detection.models import ImpossibleTravelDetector
from soc.detection.queries import group_key, travel_page
from soc.detection.windows import Window
from soc.vocab import iso

__all__ = ["ImpossibleTravelKind", "Place", "haversine_km"]


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    r = 6371.0088
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


@dataclass(frozen=True)
class Place:
    lat: float
    lon: float
    first: datetime
    last: datetime


def worst_trip(places: list[Place], min_km: float) -> tuple[Place, Place, float, float] | None:
    """The fastest trip between two places at least *min_km* apart: (from, to, km, km/h)."""
    worst: tuple[Place, Place, float, float] | None = None
    for a in places:
        for b in places:
            if a is b or a.first > b.first:
                continue
            km = haversine_km(a.lat, a.lon, b.lat, b.lon)
            if km < min_km:
                continue
            hours = max((b.first - a.last).total_seconds(), 0.0) / 3600
            speed = math.inf if hours == 0 else km / hours
            if worst is None or speed > worst[3]:
                worst = (a, b, km, speed)
    return worst


class ImpossibleTravelKind:
    def evaluate(self, env: KindEnv, detector: ImpossibleTravelDetector, windows: list[Window]) -> list[Evaluation]:
        def on_bucket(window: Window, bucket: dict[str, Any], ev: Evaluation) -> None:
            cells = bucket["places"]["buckets"]
            if len(cells) < 2:
                return
            places = []
            for c in cells:
                loc = c["centroid"]["location"]
                first, last = bucket_time(c, "first_seen"), bucket_time(c, "last_seen")
                if first is not None and last is not None:
                    places.append(Place(float(loc["lat"]), float(loc["lon"]), first, last))
            trip = worst_trip(places, detector.min_distance_km)
            if trip is None or trip[3] <= detector.max_speed_kmh:
                return
            a, b, km, speed = trip
            entity = group_key(detector.group_by, bucket["key"])
            who = ", ".join(f"{k}={v}" for k, v in sorted(entity.items()))
            shown = "instant" if math.isinf(speed) else f"{speed:.0f} km/h"
            ev.matches.append(
                Match(
                    entity=entity,
                    count=int(bucket["doc_count"]),
                    first_seen=min(a.last, b.first),
                    last_seen=max(a.last, b.first),
                    figures={
                        "distance_km": round(km),
                        "speed_kmh": None if math.isinf(speed) else round(speed),
                        "from": {"lat": round(a.lat, 3), "lon": round(a.lon, 3), "at": iso(a.last)},
                        "to": {"lat": round(b.lat, 3), "lon": round(b.lon, 3), "at": iso(b.first)},
                    },
                    reason=f"{detector.title.en}: {who} {km:.0f} km apart in "
                    f"{(b.first - a.last).total_seconds() / 60:.0f} min ({shown})",
                )
            )

        return walk_pages(
            env,
            windows,
            lambda w, after: travel_page(detector, w, after=after, tz=env.tz),
            on_bucket,
            action=f"detector {detector.id}",
        )
