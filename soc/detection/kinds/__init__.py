"""One small class per detector kind, tied to its model in one registry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from soc.detection.kinds.base import BATCH, DetectorKind, Evaluation, KindEnv, Match
from soc.detection.kinds.baseline_kinds import SpikeKind, VolumeKind
from soc.detection.kinds.beacon import BeaconKind
from soc.detection.kinds.new_term import NewTermKind
from soc.detection.kinds.sequence import SequenceKind
from soc.detection.kinds.silence import SilenceKind
from soc.detection.kinds.threshold import SegmentPolicyKind, ThresholdKind
from soc.detection.kinds.travel import ImpossibleTravelKind
from soc.detection.models import (
    DETECTOR_MODELS,
    BeaconDetector,
    Detector,
    ImpossibleTravelDetector,
    NewTermDetector,
    SegmentPolicyDetector,
    SequenceDetector,
    SilenceDetector,
    SpikeDetector,
    ThresholdDetector,
    VolumeDetector,
    kind_of,
)

__all__ = ["BATCH", "REGISTRY", "DetectorKind", "Evaluation", "KindEntry", "KindEnv", "Match", "kind_for"]


@dataclass(frozen=True)
class KindEntry:
    kind: str  # the ``kind:`` of a detector file
    model: type[Any]  # the pydantic model that validates it
    evaluator: DetectorKind  # what evaluates it over windows


def _entry(model: type[Any], evaluator: DetectorKind) -> tuple[str, KindEntry]:
    return kind_of(model), KindEntry(kind_of(model), model, evaluator)


# The registry: each kind's model and evaluator, side by side (the kind is read from the model).
REGISTRY: dict[str, KindEntry] = dict(
    [
        _entry(ThresholdDetector, ThresholdKind()),
        _entry(SequenceDetector, SequenceKind()),
        _entry(NewTermDetector, NewTermKind()),
        _entry(SpikeDetector, SpikeKind()),
        _entry(SilenceDetector, SilenceKind()),
        _entry(BeaconDetector, BeaconKind()),
        _entry(VolumeDetector, VolumeKind()),
        _entry(SegmentPolicyDetector, SegmentPolicyKind()),
        _entry(ImpossibleTravelDetector, ImpossibleTravelKind()),
    ]
)

if set(REGISTRY) != set(DETECTOR_MODELS) or any(REGISTRY[k].model is not m for k, m in DETECTOR_MODELS.items()):
    raise RuntimeError(  # a model added to the Detector union without its evaluator, or the reverse
        f"soc.detection.kinds.REGISTRY and the Detector union disagree: {sorted(set(REGISTRY) ^ set(DETECTOR_MODELS))}"
    )


def kind_for(detector: Detector) -> DetectorKind:
    return REGISTRY[detector.kind].evaluator
