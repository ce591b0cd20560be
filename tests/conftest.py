"""Shared fixtures: one real Elasticsearch node per test run, one index prefix per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from typer.testing import CliRunner

from soc.config import Settings, load_settings
from soc.context import AppContext
from tests.peers import Mailbox, free_port

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


@pytest.fixture
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """The CLI as users type it, on this test's index prefix and the shipped definitions."""
    monkeypatch.setenv("SOC_ES_URL", settings.es_url)
    monkeypatch.setenv("SOC_INDEX_PREFIX", settings.index_prefix)
    monkeypatch.setenv("SOC_DETECTORS_DIR", str(REPO / "detectors"))
    monkeypatch.setenv("SOC_PLAYBOOKS_DIR", str(REPO / "playbooks"))
    monkeypatch.setenv("SOC_OUT_DIR", str(settings.out_dir))
    monkeypatch.delenv("SOC_CONFIG", raising=False)
    return CliRunner()


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 and its port."""
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield box, int(controller.port)
    controller.stop()
