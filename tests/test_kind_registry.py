"""One registry ties each ``kind:`` to its model and its evaluator."""

from __future__ import annotations

from pathlib import Path

from soc.detection.kinds import REGISTRY, kind_for
from soc.detection.loader import load_detectors
from soc.detection.models import DETECTOR_MODELS, kind_of

REPO = Path(__file__).resolve().parent.parent


def test_every_model_of_the_union_has_its_evaluator_and_no_other_table_exists() -> None:
    assert set(REGISTRY) == set(DETECTOR_MODELS)
    for kind, entry in REGISTRY.items():
        assert entry.kind == kind == kind_of(entry.model)
        assert DETECTOR_MODELS[kind] is entry.model
        assert callable(entry.evaluator.evaluate)
    # one evaluator object per kind (no kind silently sharing another's)
    assert len({id(e.evaluator) for e in REGISTRY.values()}) == len(REGISTRY)


def test_every_shipped_detector_is_validated_and_evaluated_by_its_kind() -> None:
    for d in load_detectors(REPO / "detectors", include_disabled=True):
        entry = REGISTRY[d.kind]
        assert isinstance(d, entry.model)
        assert kind_for(d) is entry.evaluator
