"""What ``soc ingest`` tells per file that is neither a rejection nor an error: facts that
leave some detectors with nothing to work on."""

from __future__ import annotations

from pathlib import Path

from soc.detection.loader import load_detectors
from soc.errors import SocError
from soc.es.ingest import IngestReport

__all__ = ["geo_notices"]


def geo_notices(report: IngestReport, detectors_dir: Path) -> list[str]:
    """One line per file whose authentication events from public addresses carry no
    ``source.geo``, naming the enabled detectors that read it (none when no detector does)."""
    files = [f for f in report.files.values() if f.without_geo]
    if not files:
        return []
    try:
        detectors = load_detectors(detectors_dir)
    except SocError:
        return []  # a broken detector directory is soc validate's to report, not ingest's
    readers = sorted(d.id for d in detectors if "source.geo" in d.model_dump_json())
    if not readers:
        return []
    return [
        f"{f.file}: {f.without_geo} authentication event(s) from public addresses without source.geo: "
        f"{', '.join(readers)} will have nothing to work on (fill source.geo.* with a GeoIP enrichment; "
        'README, "Geolocation")'
        for f in files
    ]
