"""JSON Schemas for editors, generated from the pydantic models (never written by hand)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from soc.detection.models import detector_json_schema
from soc.playbooks.models import Playbook

__all__ = ["schemas", "write_schemas"]


def schemas() -> dict[str, dict[str, Any]]:
    return {
        "detector.schema.json": detector_json_schema(),
        "playbook.schema.json": Playbook.model_json_schema(),
    }


def write_schemas(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, schema in schemas().items():
        path = directory / name
        path.write_text(json.dumps(schema, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        paths.append(path)
    return paths
