"""The local node's life cycle: a second real node on a free port, started and stopped."""

from __future__ import annotations

import socket
from pathlib import Path

from elasticsearch import Elasticsearch

from soc.es.localnode import ES_VERSION, down, status, up


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_up_status_reuse_and_down(tmp_path: Path) -> None:
    port = _free_port()
    data = tmp_path / "es"
    info = up(data_dir=data, port=port, heap="512m")
    try:
        assert info.started and info.url == f"http://127.0.0.1:{port}" and info.version == ES_VERSION
        st = status(data_dir=data, port=port)
        assert st["running"] and st["managed_by_soc"] and st["pid"] == info.pid
        assert st["cluster_status"] in ("green", "yellow") and st["version"] == ES_VERSION

        client = Elasticsearch(info.url)
        assert client.ping()
        assert client.info()["version"]["number"].startswith("8.")
        client.close()

        again = up(data_dir=data, port=port)
        assert not again.started and again.pid == info.pid  # no second node
    finally:
        stopped = down(data_dir=data)
    assert stopped
    after = status(data_dir=data, port=port)
    assert not after["running"] and after["pid"] is None
    assert down(data_dir=data) is False  # nothing left to stop
