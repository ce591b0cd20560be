"""One small class per detector kind, chosen from ``kind:`` through one explicit table."""

from __future__ import annotations

from soc.detection.kinds.base import BATCH, DetectorKind, Evaluation, KindEnv, Match
from soc.detection.kinds.baseline_kinds import SpikeKind, VolumeKind
from soc.detection.kinds.beacon import BeaconKind
from soc.detection.kinds.new_term import NewTermKind
from soc.detection.kinds.sequence import SequenceKind
from soc.detection.kinds.silence import SilenceKind
from soc.detection.kinds.threshold import SegmentPolicyKind, ThresholdKind
from soc.detection.kinds.travel import ImpossibleTravelKind
from soc.detection.models import Detector

__all__ = ["BATCH", "KINDS", "DetectorKind", "Evaluation", "KindEnv", "Match", "kind_for"]

KINDS: dict[str, DetectorKind] = {
    "threshold": ThresholdKind(),
    "sequence": SequenceKind(),
    "new_term": NewTermKind(),
    "spike": SpikeKind(),
    "silence": SilenceKind(),
    "beacon": BeaconKind(),
    "volume": VolumeKind(),
    "segment_policy": SegmentPolicyKind(),
    "impossible_travel": ImpossibleTravelKind(),
}


def kind_for(detector: Detector) -> DetectorKind:
    return KINDS[detector.kind]
