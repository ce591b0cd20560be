"""The files users run without reading code stay valid: compose file, Makefile, CI."""

from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent


def test_compose_uses_official_images_security_on_and_builds_the_scheduler() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["elasticsearch"]["image"].startswith(
        "docker.elastic.co/elasticsearch/elasticsearch:${STACK_VERSION:-8."
    )
    assert services["kibana"]["image"].startswith("docker.elastic.co/kibana/kibana:")
    env = services["elasticsearch"]["environment"]
    assert "xpack.security.enabled=true" in env
    assert any(e.startswith("ELASTIC_PASSWORD=${ELASTIC_PASSWORD") for e in env)
    assert services["scheduler"]["build"] == "."
    assert (REPO / "Dockerfile").exists()
    assert services["scheduler"]["environment"]["SOC_ES_PASSWORD"] == "${ELASTIC_PASSWORD}"
    for name, svc in services.items():
        for dep in svc.get("depends_on", {}):
            assert dep in services, f"{name} depends on unknown service {dep}"
    example = (REPO / ".env.example").read_text()
    for var in ("ELASTIC_PASSWORD", "KIBANA_PASSWORD"):
        assert f"{var}=" in example


def test_ci_calls_the_readme_test_command() -> None:
    readme = (REPO / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    assert "make test" in (REPO / ".ci/run").read_text()


def test_committed_json_schemas_are_generated_from_the_models() -> None:
    import json

    from soc.schemas import schemas

    for name, schema in schemas().items():
        committed = json.loads((REPO / "schemas" / name).read_text())
        assert committed == schema, f"schemas/{name} is stale: run 'soc schema'"
