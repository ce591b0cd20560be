"""Kibana saved objects (structure, fields, references), their import, and alert links.

Kibana itself cannot run here: the import command is tested against a real HTTP (and
HTTPS) receiver on 127.0.0.1 that records what it was sent.
"""

from __future__ import annotations

import fnmatch
import json
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote, urlsplit

import pytest
from typer.testing import CliRunner

from soc.alerts.models import Alert
from soc.cli.main import app
from soc.es.client import EsGateway
from soc.es.indices import templates
from soc.kibana.links import discover_url
from soc.kibana.objects import build_objects, to_ndjson
from soc.vocab import Severity

REPO = Path(__file__).resolve().parent.parent
AGGREGATABLE = {"keyword", "ip", "long", "float", "date", "boolean"}


def _properties(prefix: str, index_pattern: str) -> dict[str, str]:
    """Field -> type of every soc template whose index patterns overlap ``index_pattern``."""
    gw = EsGateway(cast(Any, None), prefix=prefix)
    out: dict[str, str] = {}
    for body in templates(gw).values():
        patterns = body["index_patterns"]
        if not any(fnmatch.fnmatch(p.replace("*", "x"), index_pattern) or p == index_pattern for p in patterns):
            continue

        def walk(node: dict[str, Any], path: str) -> None:
            for name, spec in node.items():
                dotted = f"{path}.{name}" if path else name
                if "properties" in spec:
                    walk(spec["properties"], dotted)
                else:
                    out[dotted] = spec.get("type", "object")

        walk(body["template"]["mappings"]["properties"], "")
    return out


@pytest.mark.parametrize("prefix", ["soc", "city-a"])
def test_references_resolve_and_fields_exist_in_our_templates(prefix: str) -> None:
    objects = build_objects(prefix)
    by_key = {(o["type"], o["id"]): o for o in objects}
    assert len(by_key) == len(objects)  # ids unique per type
    for obj in objects:
        for ref in obj["references"]:
            assert (ref["type"], ref["id"]) in by_key, f"{obj['id']}: reference {ref} does not resolve"
    views = {o["id"]: o["attributes"] for o in objects if o["type"] == "index-pattern"}
    assert {v["title"] for v in views.values()} == {f"{prefix}-events-*", f"{prefix}-alerts", f"{prefix}-state"}
    for view in views.values():
        fields = _properties(prefix, view["title"])
        assert fields, f"no soc template covers {view['title']}"
        assert fields[view["timeFieldName"]] == "date"
    for obj in objects:
        attrs = obj["attributes"]
        if obj["type"] == "visualization":
            source = json.loads(attrs["kibanaSavedObjectMeta"]["searchSourceJSON"])
            (ref,) = [r for r in obj["references"] if r["name"] == source["indexRefName"]]
            fields = _properties(prefix, views[ref["id"]]["title"])
            for agg in json.loads(attrs["visState"])["aggs"]:
                name = agg["params"].get("field")
                if name is not None:
                    assert fields.get(name) in AGGREGATABLE, f"{obj['id']}: {name} is {fields.get(name)}"
        if obj["type"] == "dashboard":
            panels = json.loads(attrs["panelsJSON"])
            names = {r["name"] for r in obj["references"]}
            assert len(panels) == 4 and {p["panelRefName"] for p in panels} == names
            cells = {(x, y) for p in panels for x in range(p["gridData"]["x"], p["gridData"]["x"] + p["gridData"]["w"])
                     for y in range(p["gridData"]["y"], p["gridData"]["y"] + p["gridData"]["h"])}  # fmt: skip
            assert len(cells) == sum(p["gridData"]["w"] * p["gridData"]["h"] for p in panels)  # no overlap
            assert max(p["gridData"]["x"] + p["gridData"]["w"] for p in panels) <= 48


def test_the_shipped_ndjson_is_what_the_code_builds() -> None:
    assert (REPO / "kibana" / "soc.ndjson").read_text(encoding="utf-8") == to_ndjson(build_objects("soc"))


@dataclass
class Receiver:
    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    answer: dict[str, Any] = field(default_factory=dict)


def _serve(tls: ssl.SSLContext | None = None) -> Iterator[Receiver]:
    box: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            rec = box[0]
            rec.requests.append(
                {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body.decode()}
            )
            payload = json.dumps(rec.answer).encode()
            self.send_response(rec.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    scheme = "https" if tls else "http"
    box.append(Receiver(f"{scheme}://127.0.0.1:{server.server_address[1]}"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield box[0]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def kibana() -> Iterator[Receiver]:
    yield from _serve()


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for var in ("SOC_CONFIG", "SOC_ES_API_KEY", "SOC_KIBANA_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SOC_INDEX_PREFIX", "city")
    monkeypatch.setenv("SOC_ES_USERNAME", "elastic")
    monkeypatch.setenv("SOC_ES_PASSWORD", "s3cret")
    return CliRunner()


def test_import_posts_the_objects_to_the_saved_objects_api(kibana: Receiver, cli: CliRunner) -> None:
    kibana.answer = {"success": True, "successCount": 8, "successResults": []}
    res = cli.invoke(app, ["kibana", "import", "--url", kibana.url + "/", "--space", "soc team"])
    assert res.exit_code == 0, res.output
    assert "imported 8 object(s)" in res.output and "s3cret" not in res.output
    (req,) = kibana.requests
    assert req["path"] == "/s/soc%20team/api/saved_objects/_import?overwrite=true"
    assert req["headers"]["kbn-xsrf"] and req["headers"]["authorization"] == "Basic ZWxhc3RpYzpzM2NyZXQ="
    assert req["headers"]["content-type"].startswith("multipart/form-data; boundary=")
    lines = [ln for ln in req["body"].splitlines() if ln.startswith("{")]
    assert [json.loads(ln) for ln in lines] == build_objects("city")  # the configured prefix


def test_import_names_every_object_kibana_refused(kibana: Receiver, cli: CliRunner) -> None:
    kibana.answer = {
        "success": False,
        "successCount": 7,
        "errors": [{"type": "dashboard", "id": "city-overview", "error": {"type": "missing_references"}}],
    }
    res = cli.invoke(app, ["kibana", "import", "--url", kibana.url])
    assert res.exit_code == 1
    assert "dashboard/city-overview: missing_references" in res.output


def test_import_reports_http_errors_and_a_missing_url_in_one_line(kibana: Receiver, cli: CliRunner) -> None:
    kibana.status, kibana.answer = 401, {"statusCode": 401, "message": "unable to authenticate user"}
    res = cli.invoke(app, ["kibana", "import", "--url", kibana.url])
    assert res.exit_code == 1 and "HTTP 401: unable to authenticate user" in res.output
    assert "Traceback" not in res.output
    res = cli.invoke(app, ["kibana", "import"])
    assert res.exit_code == 1 and "no Kibana URL" in res.output


def test_import_verifies_tls_by_default(tmp_path: Path, cli: CliRunner) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    for receiver in _serve(tls):
        receiver.answer = {"success": True, "successCount": 8}
        res = cli.invoke(app, ["kibana", "import", "--url", receiver.url])
        assert res.exit_code == 1 and "CERTIFICATE_VERIFY_FAILED" in res.output  # self-signed: refused
        assert receiver.requests == []
        res = cli.invoke(app, ["kibana", "import", "--url", receiver.url], env={"SOC_ES_CA_CERTS": str(cert)})
        assert res.exit_code == 0, res.output  # trusted once its CA is given
        assert len(receiver.requests) == 1


def _alert(entity: dict[str, str]) -> Alert:
    t = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)
    return Alert(id="A-1", detector="failed-login-burst", title="Failed-login burst", severity=Severity.medium,
                 risk_score=47, entity=entity, count=30, start=t, end=t, mitre=["T1110.001"],
                 reason="30 failures", created=t, updated=t)  # fmt: skip


def test_alert_documents_follow_ecs_and_link_to_their_events_in_discover() -> None:
    doc = _alert({"user.name": "root", "source.ip": "203.0.113.77"}).to_doc(
        kibana_url="https://kibana.city.lg.jp:5601/", prefix="city"
    )
    assert doc["threat"]["tactic"] == {"name": ["Credential Access"], "id": ["TA0006"]}
    assert doc["event"]["category"] == ["intrusion_detection"]
    assert set(doc["event"]["type"]) <= {"allowed", "denied", "info"}  # ECS values for that category
    url = doc["event"]["url"]
    assert url.startswith("https://kibana.city.lg.jp:5601/app/discover#/?_g=")
    state = unquote(urlsplit(url).fragment)
    assert "index:'city-events'" in state
    assert "time:(from:'2026-11-29T00:59:00.000Z',to:'2026-11-29T01:01:00.000Z')" in state
    assert 'query:\'source.ip:"203.0.113.77" and user.name:"root"\'' in state
    assert "url" not in _alert({"user.name": "root"}).to_doc()["event"]  # no kibana_url, no link
    fields = _properties("soc", "soc-alerts")
    assert fields["event.reason"] == "keyword" and fields["event.url"] == "keyword"
    assert fields["threat.tactic.name"] == "keyword"


@pytest.mark.parametrize(
    "name",
    ["a'b", "x!y", 'q"uote', "back\\slash", "new\nline", "\u202eevil", "a&b#c d", "ア" * 3000],
    ids=["quote", "bang", "dquote", "backslash", "newline", "bidi", "url-chars", "10k"],
)
def test_hostile_entity_values_stay_data_in_the_discover_link(name: str) -> None:
    t = datetime(2026, 11, 29, tzinfo=UTC)
    url = discover_url("http://k:5601", prefix="soc", entity={"user.name": name}, start=t, end=t)
    fragment = url.split("#", 1)[1]
    assert not any(c in fragment for c in ' \n\r"\\#\u202e') and fragment.count("&") == 1
    state = unquote(fragment.split("&_a=", 1)[1])
    # inside the Rison string every ' is escaped as !' and every ! as !!
    query = state.split("query:'", 1)[1].rsplit("'))", 1)[0]
    unescaped = query.replace("!!", "\x00").replace("!'", "'").replace("\x00", "!")
    kql_value = unescaped.split('user.name:"', 1)[1][:-1]
    assert kql_value.replace('\\"', '"').replace("\\\\", "\\") == name
