"""deploy/ and docker-compose.yml: checked with real parsers (no Docker engine runs here).

The compose file is interpolated the way Compose does (``${VAR}``, ``${VAR:-default}``,
``${VAR:?message}``, ``$$``) with ``.env.example`` and validated against the Compose
Specification's JSON Schema (vendored in tests/fixtures/compose, Apache-2.0).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from soc.config import load_settings
from soc.detection.loader import load_detectors
from soc.parsers.windows import EVENTS
from soc.web_settings import OidcSettings

REPO = Path(__file__).resolve().parent.parent
_VAR = re.compile(r"\$(?:\$|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\})")


class MissingVariable(ValueError):
    pass


def interpolate(node: Any, env: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {k: interpolate(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, env) for v in node]
    if not isinstance(node, str):
        return node

    def one(m: re.Match[str]) -> str:
        if m[0] == "$$":
            return "$"
        value = env.get(m["name"])
        if m["op"] in (":-", "-"):
            return value if value else m["arg"]
        if m["op"] in (":?", "?"):
            if not value:
                raise MissingVariable(f"{m['name']}: {m['arg']}")
            return value
        return value or ""

    return _VAR.sub(one, node)


def env_example() -> dict[str, str]:
    pairs = [ln.split("=", 1) for ln in (REPO / ".env.example").read_text().splitlines() if "=" in ln and ln[0] != "#"]
    return {k.strip(): v.strip() for k, v in pairs}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    raw = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    return dict(interpolate(raw, env_example()))


def test_compose_file_is_valid_against_the_compose_spec_schema(compose: dict[str, Any]) -> None:
    schema = json.loads((REPO / "tests/fixtures/compose/compose-spec.json").read_text(encoding="utf-8"))
    jsonschema.validate(compose, schema, cls=jsonschema.Draft7Validator)
    broken = json.loads(json.dumps(compose))
    broken["services"]["collector"]["restart"] = ["always"]
    with pytest.raises(jsonschema.ValidationError):  # the schema is really applied
        jsonschema.validate(broken, schema, cls=jsonschema.Draft7Validator)


def test_compose_says_which_secret_is_missing() -> None:
    raw = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    env = {k: v for k, v in env_example().items() if k != "ELASTIC_PASSWORD"}
    with pytest.raises(MissingVariable, match=r"ELASTIC_PASSWORD: set ELASTIC_PASSWORD in \.env"):
        interpolate(raw, env)
    used = set(re.findall(r"\$\{([A-Z_]+)", (REPO / "docker-compose.yml").read_text()))
    assert used - {"STACK_VERSION"} <= set(env_example())  # every setting is documented in .env.example


def test_services_wire_together(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"elasticsearch", "kibana", "kibana-setup", "scheduler", "syslog", "collector"} <= set(services)
    for name, svc in services.items():
        for dep in svc.get("depends_on", {}):
            assert dep in services, f"{name} depends on unknown {dep}"
        for vol in svc.get("volumes", []):
            source = vol.split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in compose["volumes"], f"{name}: named volume {source} is not declared"
            else:
                assert (REPO / source).exists() or source in ("./logs",), f"{name}: {source} does not exist"
    sched = services["scheduler"]
    mounts = {v.split(":")[1]: v for v in sched["volumes"]}
    assert mounts["/etc/soc/soc.toml"].endswith(":ro") and sched["environment"]["SOC_CONFIG"] == "/etc/soc/soc.toml"
    assert mounts["/app/detectors/value-lists"].endswith(":ro")
    for writable in ("/var/lib/soc/out", "/var/lib/soc/data"):  # named volumes, writable
        assert not mounts[writable].endswith(":ro")
    assert sched["restart"].startswith("on-failure:")  # a failing start is not retried forever
    collector = services["collector"]
    assert collector["command"][:3] == ["soc", "ingest", "--follow"]
    assert all(v.endswith(":ro") for v in collector["volumes"] if "/logs" in v)
    assert services["kibana-setup"]["command"][:3] == ["soc", "kibana", "import"]
    assert services["kibana-setup"]["depends_on"]["kibana"]["condition"] == "service_healthy"


def test_the_console_gets_the_oidc_client_secret_from_the_environment(compose: dict[str, Any]) -> None:
    """The console reads the secret from the variable ``[web.oidc]`` names by default; compose
    passes it through as it is (a key without a value: from the shell or .env, never a
    default written in the file), to the console only."""
    services = compose["services"]
    console = services["console"]["environment"]
    assert "SOC_OIDC_CLIENT_SECRET" in console and console["SOC_OIDC_CLIENT_SECRET"] is None
    assert OidcSettings.model_fields["client_secret_env"].default == "SOC_OIDC_CLIENT_SECRET"
    # the console keeps everything the other soc services get
    assert {k: v for k, v in console.items() if k != "SOC_OIDC_CLIENT_SECRET"} == services["scheduler"]["environment"]
    for name, svc in services.items():
        if name != "console":
            assert "SOC_OIDC_CLIENT_SECRET" not in str(svc.get("environment", "")), name
    assert "SOC_OIDC_CLIENT_SECRET=" in (REPO / ".env.example").read_text()  # documented where users set secrets


def test_the_image_runs_as_a_fixed_non_root_user_with_the_entrypoint() -> None:
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    users = re.findall(r"^USER (\S+)$", dockerfile, re.MULTILINE)
    assert users == ["soc"] and "--uid 10001 soc" in dockerfile
    assert 'ENTRYPOINT ["soc-entrypoint"]' in dockerfile
    for copied in re.findall(r"^COPY (\S+) ", dockerfile, re.MULTILINE):
        assert (REPO / copied).exists(), copied
    rsyslog = (REPO / "deploy/rsyslog/Dockerfile").read_text(encoding="utf-8")
    conf = (REPO / "deploy/rsyslog/soc-remote.conf").read_text(encoding="utf-8")
    assert set(re.findall(r"echo \$(SOC_\w+)", conf)) <= set(re.findall(r"(SOC_\w+)=", rsyslog))
    assert re.findall(r"^USER (\S+)$", rsyslog, re.MULTILINE) == ["syslog-recv"]


def _entrypoint(env: dict[str, str], *cmd: str) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ["PATH"]}
    return subprocess.run(["sh", str(REPO / "deploy/docker/entrypoint.sh"), *cmd], env=base | env,
                          capture_output=True, text=True, timeout=30)  # fmt: skip


def test_entrypoint_fails_loudly_when_it_cannot_write(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    ok = {"SOC_OUT_DIR": str(tmp_path / "out"), "SOC_DATA_DIR": str(tmp_path / "data")}
    res = _entrypoint(ok, "echo", "started")
    assert res.returncode == 0 and res.stdout == "started\n"
    assert not list((tmp_path / "out").iterdir())  # the probe is removed
    res = _entrypoint(ok | {"SOC_OUT_DIR": str(blocker / "out")}, "echo", "started")
    assert res.returncode == 73 and "started" not in res.stdout
    assert f"cannot write to {blocker}/out as uid" in res.stderr and "mount a volume" in res.stderr
    res = _entrypoint(ok | {"SOC_CONFIG": str(tmp_path / "soc.toml")}, "echo", "started")
    assert res.returncode == 78 and "mount your soc.toml" in res.stderr


def test_the_example_config_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOC_CONFIG", raising=False)
    settings = load_settings(REPO / "deploy/soc.example.toml")
    assert settings.timezone == "Asia/Tokyo" and len(settings.segments) == 3


def _beats(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((REPO / f"deploy/{name}/{name}.yml").read_text(encoding="utf-8")))


def test_winlogbeat_ships_every_event_id_the_detectors_read_into_the_auth_indices() -> None:
    config = _beats("winlogbeat")
    (security,) = [e for e in config["winlogbeat.event_logs"] if e["name"] == "Security"]
    shipped = {s.strip() for s in str(security["event_id"]).split(",")}
    read = set()
    for detector in load_detectors(REPO / "detectors"):
        for part in ("filter", "exclude"):
            value = (detector.model_dump().get(part) or {}).get("event.code")
            read |= {str(v) for v in (value if isinstance(value, list) else [value]) if v}
    assert read and read <= shipped
    assert shipped <= set(EVENTS)  # nothing soc's Windows reader would not understand
    index = config["output.elasticsearch"]["index"].replace("${SOC_INDEX_PREFIX:soc}", "soc")
    settings = load_settings(REPO / "deploy/soc.example.toml")
    assert any(fnmatch.fnmatch(index, p) for p in settings.dataset_indices("auth"))


def test_filebeat_routes_auth_and_zeek_into_the_indices_soc_reads() -> None:
    config = _beats("filebeat")
    settings = load_settings(REPO / "deploy/soc.example.toml")
    routes = {
        r["when.equals"]["event.module"]: r["index"].replace("${SOC_INDEX_PREFIX:soc}", "soc")
        for r in config["output.elasticsearch"]["indices"]
    }
    assert any(fnmatch.fnmatch(routes["system"], p) for p in settings.dataset_indices("auth"))
    assert any(fnmatch.fnmatch(routes["zeek"], p) for p in settings.dataset_indices("network"))
    modules = {m["module"]: m for m in config["filebeat.modules"]}
    assert modules["system"]["auth"]["enabled"] and {"connection", "dns", "http", "ssl"} <= set(modules["zeek"])
    for beat in ("filebeat", "winlogbeat"):
        assert _beats(beat)["output.elasticsearch"]["ssl.verification_mode"] == "full"
