"""Configuration precedence, secret masking, clear errors; the segment map."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from soc.config import load_settings
from soc.errors import ConfigError
from soc.es.client import build_client
from soc.network.segments import SegmentMap, enrich_segments, normalise_ip
from soc.vocab import Segment


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("SOC_CONFIG", "SOC_ES_URL", "SOC_ES_PASSWORD", "SOC_INDEX_PREFIX", "SOC_ES_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)


def test_file_then_env_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "soc.toml"
    cfg.write_text('index_prefix = "city"\nreport_lang = "en"\nes_url = "https://es.example:9200"\n')
    s = load_settings()
    assert (s.index_prefix, s.report_lang, s.es_url) == ("city", "en", "https://es.example:9200")
    monkeypatch.setenv("SOC_INDEX_PREFIX", "city-test")
    assert load_settings().index_prefix == "city-test"
    assert load_settings(index_prefix="explicit").index_prefix == "explicit"


def test_secrets_are_masked_everywhere(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("SOC_ES_PASSWORD", "hunter2-secret")
    monkeypatch.setenv("SOC_ES_URL", "https://elastic:pw-in-url@es.example:9200")
    s = load_settings(es_username="elastic")
    shown = s.masked()
    assert shown["es_password"] == "****"
    assert "pw-in-url" not in str(shown) and "hunter2-secret" not in str(shown)
    assert "hunter2-secret" not in repr(s) and "hunter2-secret" not in str(s)
    with caplog.at_level(logging.DEBUG):
        build_client(s).close()
    assert "hunter2-secret" not in caplog.text


def test_tls_verification_is_on_by_default() -> None:
    s = load_settings(es_url="https://es.example:9200")
    assert s.es_verify_certs is True
    client = build_client(s)
    node = next(iter(client.transport.node_pool.all()))
    assert node.config.verify_certs is True
    client.close()


def test_bad_config_names_file_and_field(tmp_path: Path) -> None:
    cfg = tmp_path / "soc.toml"
    cfg.write_text('timezone = "Mars/Olympus"\nindex_prefix = "Bad Prefix"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    text = info.value.render()
    assert str(cfg) in text and "timezone" in text and "index_prefix" in text


def test_unknown_config_key_is_an_error(tmp_path: Path) -> None:
    cfg = tmp_path / "soc.toml"
    cfg.write_text('index_prefx = "x"\n')
    with pytest.raises(ConfigError, match="index_prefx"):
        load_settings(cfg)


def test_missing_config_file() -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(Path("nope.toml"))


def test_segment_map_longest_prefix_and_external() -> None:
    s = load_settings(
        segments=[
            {"cidr": "10.0.0.0/8", "segment": "lgwan"},
            {"cidr": "10.10.0.0/16", "segment": "mynumber"},
        ]
    )
    m = SegmentMap(s.segments, s.local_breakout)
    assert m.classify("10.10.9.9") is Segment.mynumber
    assert m.classify("10.99.0.1") is Segment.lgwan
    assert m.classify("::ffff:10.10.0.1") is Segment.mynumber
    assert m.classify("8.8.8.8") is Segment.external
    assert m.classify("192.168.1.1") is None  # private but unmapped: unknown, not internet
    assert m.classify("not-an-ip") is None


def test_local_breakout_by_cidr_and_domain() -> None:
    s = load_settings()
    m = SegmentMap(s.segments, s.local_breakout)
    assert m.is_local_breakout(ip="52.97.1.1")
    assert m.is_local_breakout(domain="city.sharepoint.com")
    assert not m.is_local_breakout(ip="8.8.8.8", domain="evil-sharepoint.com")


def test_enrich_segments_for_flows_and_logons() -> None:
    s = load_settings()
    m = SegmentMap(s.segments, s.local_breakout)
    flow = enrich_segments({"source": {"ip": "10.10.1.1"}, "destination": {"ip": "93.184.216.34"}}, m)
    assert flow["soc"] == {"source_segment": "mynumber", "destination_segment": "external", "segment": "mynumber"}
    logon = enrich_segments({"source": {"ip": "10.20.1.1"}, "host": {"ip": ["10.10.0.5"]}}, m)
    assert logon["soc"]["segment"] == "mynumber"
    assert normalise_ip("::ffff:192.0.2.1") == "192.0.2.1"
