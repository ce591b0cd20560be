"""Every shipped detector against a simulated day on the real node: it fires on its
scenario's ground-truth entity, and raises nothing on the baseline around it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from soc.config import load_settings
from soc.context import AppContext
from soc.detection.engine import DetectionEngine
from soc.detection.loader import detector_files, load_detector_file
from soc.simulate.models import TruthRecord
from soc.simulate.run import simulate

REPO = Path(__file__).resolve().parent.parent
END = datetime(2026, 11, 18, 6, 0, tzinfo=UTC)  # a Wednesday, 15:00 JST
SEED = 11  # not the demo's seed: the detectors must not be tuned to one draw


@pytest.fixture(scope="module")
def simulated_day(es_url: str) -> Iterator[tuple[AppContext, list[TruthRecord]]]:
    prefix = "t-day-" + uuid.uuid4().hex[:8]
    settings = load_settings(es_url=es_url, index_prefix=prefix, detectors_dir=REPO / "detectors")
    ctx = AppContext.from_settings(settings)
    report = simulate(ctx.es, end=END, hours=24, seed=SEED, segments=ctx.segments)
    yield ctx, report.truth
    ctx.es.delete_indices(f"{prefix}-*")
    ctx.es.client.options(ignore_status=404).indices.delete_index_template(name=f"{prefix}-*")
    ctx.es.close()


@pytest.mark.parametrize("path", detector_files(REPO / "detectors"), ids=lambda p: p.stem)
def test_detector_finds_its_scenario_and_nothing_else(
    simulated_day: tuple[AppContext, list[TruthRecord]], path: Path
) -> None:
    ctx, truth = simulated_day
    detector = load_detector_file(path)
    engine = DetectionEngine(ctx)
    engine.backtest(detector, END - timedelta(hours=24), END)
    alerts = engine.alerts.search(detector=detector.id)
    expected = [t for t in truth if detector.id in t.expected_detectors]
    assert expected, f"no simulator scenario exercises {detector.id}"

    def agrees(alert_entity: dict[str, str], record: TruthRecord) -> bool:
        return all(record.entities.get(field) == value for field, value in alert_entity.items())

    for record in expected:
        hits = [a for a in alerts if agrees(a.entity, record)]
        assert hits, f"{detector.id} missed {record.scenario} {record.entities}"
        assert hits[0].start >= record.start - detector.schedule.window
    stray = [a.entity for a in alerts if not any(agrees(a.entity, r) for r in expected)]
    assert stray == [], f"{detector.id} alerted on baseline traffic: {stray}"
