"""Shared fixtures: one real Elasticsearch node per test run, one index prefix per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from soc.config import Settings, load_settings
from soc.context import AppContext

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def es_url() -> str:
    """URL of the real node: SOC_TEST_ES_URL if set, else the local node (started if needed)."""
    url = os.environ.get("SOC_TEST_ES_URL")
    if url:
        return url
    from soc.es.localnode import up

    data_dir = Path(os.environ.get("SOC_ES_DATA_DIR", REPO / ".soc" / "es"))
    port = int(os.environ.get("SOC_ES_PORT", "9200"))
    info = up(data_dir=data_dir, port=port)
    return str(info.url)


@pytest.fixture
def prefix() -> str:
    return "t-" + uuid.uuid4().hex[:10]


@pytest.fixture
def settings(es_url: str, prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.delenv("SOC_CONFIG", raising=False)
    return load_settings(
        es_url=es_url,
        index_prefix=prefix,
        out_dir=tmp_path / "out",
        data_dir=tmp_path / ".soc",
        detectors_dir=REPO / "detectors",
        playbooks_dir=REPO / "playbooks",
    )


@pytest.fixture
def ctx(settings: Settings) -> Iterator[AppContext]:
    context = AppContext.from_settings(settings)
    yield context
    client = context.es.client
    client.options(ignore_status=404).indices.delete(index=f"{settings.index_prefix}-*", expand_wildcards="all")
    client.options(ignore_status=404).indices.delete_index_template(name=f"{settings.index_prefix}-*")
    context.es.close()
