"""Index names and templates. ``install_templates`` is idempotent and every writer
calls ``ensure_ready`` first, so a new index prefix works without a separate step."""

from __future__ import annotations

from typing import Any

from soc.ecs import EVENT_FIELDS
from soc.es.client import EsGateway, translate_errors
from soc.es.keywords import DYNAMIC_KEYWORD_LIMIT, KEYWORD_LIMIT

__all__ = [
    "CATEGORY_ROUTES",
    "DELIVERY_FIELDS",
    "EVENT_DATASETS",
    "alerts_index",
    "deliveries_index",
    "ensure_ready",
    "event_index",
    "incidents_index",
    "install_templates",
    "reports_index",
    "state_index",
    "templates",
]

# logical dataset -> index suffix
EVENT_DATASETS = {"auth": "events-auth", "network": "events-network", "other": "events-other"}

# ECS event.category -> dataset. Unknown categories go to "other" (kept, never dropped).
CATEGORY_ROUTES = {
    "authentication": "auth",
    "iam": "auth",
    "session": "auth",
    "network": "network",
    "intrusion_detection": "network",
    "web": "network",
}


def event_index(gw: EsGateway, dataset: str) -> str:
    return gw.index_name(EVENT_DATASETS[dataset])


def alerts_index(gw: EsGateway) -> str:
    return gw.index_name("alerts")


def incidents_index(gw: EsGateway) -> str:
    return gw.index_name("incidents")


def state_index(gw: EsGateway) -> str:
    return gw.index_name("state")


def deliveries_index(gw: EsGateway) -> str:
    """One document per (notification key, destination): see ``soc.notify.service``."""
    return gw.index_name("deliveries")


def reports_index(gw: EsGateway) -> str:
    """Numbered editions of incident reports: see ``soc.reports.editions``."""
    return gw.index_name("reports")


def _properties(fields: dict[str, str]) -> dict[str, Any]:
    """Turn ``{"source.geo.country_iso_code": "keyword"}`` into nested ``properties``."""
    root: dict[str, Any] = {}
    for dotted, es_type in sorted(fields.items()):
        node = root
        parts = dotted.split(".") if dotted != "@timestamp" else ["@timestamp"]
        for part in parts[:-1]:
            node = node.setdefault(part, {"properties": {}})["properties"]
        leaf = parts[-1]
        if es_type == "object":
            node.setdefault(leaf, {"type": "object"})
        elif es_type == "stored":  # kept in _source only: free-form evidence, never mapped
            node[leaf] = {"type": "object", "enabled": False}
        else:
            mapping: dict[str, Any] = {"type": es_type}
            if es_type == "keyword":
                mapping["ignore_above"] = KEYWORD_LIMIT  # longer values are bounded at ingest
            node[leaf] = mapping
    return root


_STRINGS_AS_KEYWORDS = [
    {
        "strings_as_keyword": {
            "match_mapping_type": "string",
            "mapping": {"type": "keyword", "ignore_above": DYNAMIC_KEYWORD_LIMIT},
        }
    }
]

_SETTINGS = {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "1s"}


def _doc_index_mappings(extra: dict[str, str]) -> dict[str, Any]:
    return {"dynamic_templates": _STRINGS_AS_KEYWORDS, "properties": _properties(extra)}


_ALERT_FIELDS = {
    "@timestamp": "date",
    "event.kind": "keyword",
    "event.severity": "long",
    "event.risk_score": "float",
    "event.reason": "keyword",
    "event.url": "keyword",
    "event.start": "date",
    "event.end": "date",
    "rule.id": "keyword",
    "rule.name": "keyword",
    "threat.technique.id": "keyword",
    "threat.tactic.name": "keyword",
    "threat.tactic.id": "keyword",
    "related.ip": "ip",
    "related.user": "keyword",
    "related.hosts": "keyword",
    "soc.alert.id": "keyword",
    "soc.alert.detector": "keyword",
    "soc.alert.severity": "keyword",
    "soc.alert.entity_key": "keyword",
    "soc.alert.start": "date",
    "soc.alert.end": "date",
    "soc.alert.count": "long",
    "soc.alert.distinct_count": "long",
    "soc.alert.status": "keyword",
    "soc.alert.incident_id": "keyword",
    "soc.alert.updated": "date",
    "soc.alert.created": "date",
    "soc.alert.kind": "keyword",
    "soc.alert.segments": "keyword",
    "soc.alert.close_reason": "keyword",
    "soc.alert.acknowledged_at": "date",
    "soc.alert.closed_at": "date",
    "soc.alert.figures": "stored",
    "soc.alert.entity": "stored",
    # every other field of an alert document: a field left to dynamic mapping costs the
    # first write into each new alerts index a cluster-state update
    "event.category": "keyword",
    "event.type": "keyword",
    "event.duration": "long",
    "rule.category": "keyword",
    "rule.ruleset": "keyword",
    "threat.framework": "keyword",
    "threat.technique.subtechnique.id": "keyword",
    "soc.alert.title": "keyword",
    "soc.alert.reason": "keyword",
    "soc.alert.risk_score": "float",
    "soc.alert.suppressed": "long",
    "soc.alert.windows": "long",
    "soc.alert.mitre": "keyword",
    "soc.alert.distinct_field": "keyword",
    "soc.alert.sample_event_ids": "keyword",
    "soc.alert.acknowledged_by": "keyword",
    "soc.alert.closed_by": "keyword",
    "soc.alert.triage_note": "keyword",
    "threat.technique.name": "keyword",
    "threat.technique.reference": "keyword",
}

_INCIDENT_FIELDS = {
    "@timestamp": "date",
    "id": "keyword",
    "status": "keyword",
    "severity": "keyword",
    "risk_score": "float",
    "opened_at": "date",
    "updated_at": "date",
    "detected_at": "date",
    "aware_at": "date",
    "entity_values": "keyword",
    "alert_ids": "keyword",
    "playbook_id": "keyword",
}

_STATE_FIELDS = {
    "kind": "keyword",
    "pair": "keyword",
    "first_seen": "date",
    "last_seen": "date",
    "detector": "keyword",
    "watermark": "date",
    "last_run": "date",
    "last_error": "text",
    "consecutive_failures": "long",
    "lag_s": "float",
    # soc ingest --follow offsets (kind "follow-offset"): see soc.collect.models.Offset
    "path": "keyword",
    "device": "long",
    "inode": "long",
    "position": "long",
    "line": "long",
    "head": "keyword",
    "updated": "date",
}


DELIVERY_FIELDS = {
    "id": "keyword",
    "key": "keyword",
    "destination": "keyword",
    "channel": "keyword",
    "target": "keyword",
    "incident_id": "keyword",
    "severity": "keyword",
    "status": "keyword",
    "attempts": "long",
    "created_at": "date",
    "updated_at": "date",
    "last_attempt_at": "date",
    "sent_at": "date",
    "next_attempt_at": "date",
    "lease_until": "date",
    "in_flight_since": "date",
    "idempotency_key": "keyword",
    "ambiguous_attempts": "long",
    "last_error": "text",
}


REPORT_FIELDS = {
    "incident_id": "keyword",
    "number": "long",
    "at": "date",
    "final": "boolean",
    "hash": "keyword",
    "facts": "stored",
    "renderings": "stored",  # the edition as issued (HTML and Markdown per language), never searched
}


def _deliveries_mappings() -> dict[str, Any]:
    mappings = _doc_index_mappings(DELIVERY_FIELDS)
    # the notification itself is kept to re-send it, not searched
    mappings["properties"]["notification"] = {"type": "object", "enabled": False}
    return mappings


def templates(gw: EsGateway) -> dict[str, dict[str, Any]]:
    """Composable index templates keyed by name. Patterns are exact index names
    (plus a ``-*`` suffix for events) so two prefixes never collide."""
    p = gw.prefix
    event_patterns = []
    for suffix in EVENT_DATASETS.values():
        event_patterns += [f"{p}-{suffix}", f"{p}-{suffix}-*"]
    return {
        f"{p}-events": _template(
            event_patterns, {"dynamic_templates": _STRINGS_AS_KEYWORDS, "properties": _properties(EVENT_FIELDS)}
        ),
        f"{p}-alerts": _template([alerts_index(gw)], _doc_index_mappings(_ALERT_FIELDS)),
        f"{p}-incidents": _template([incidents_index(gw)], _doc_index_mappings(_INCIDENT_FIELDS)),
        f"{p}-state": _template([state_index(gw)], _doc_index_mappings(_STATE_FIELDS)),
        f"{p}-deliveries": _template([deliveries_index(gw)], _deliveries_mappings()),
        f"{p}-reports": _template([reports_index(gw)], _doc_index_mappings(REPORT_FIELDS)),
    }


def _template(patterns: list[str], mappings: dict[str, Any]) -> dict[str, Any]:
    return {
        "index_patterns": patterns,
        "priority": 200,
        "template": {"settings": _SETTINGS, "mappings": mappings},
        "_meta": {"managed_by": "soc"},
    }


def install_templates(gw: EsGateway) -> list[str]:
    """Create or update every template; returns the names whose content changed."""
    changed = []
    for name, body in templates(gw).items():
        with translate_errors(f"read index template {name}"):
            found = gw.client.options(ignore_status=404).indices.get_index_template(name=name)
        current = (found.get("index_templates") or [{}])[0].get("index_template")
        if current is not None and _same(current, body):
            continue
        with translate_errors(f"install index template {name}"):
            gw.client.indices.put_index_template(name=name, **body)
        changed.append(name)
    return changed


def _same(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    return (
        sorted(current.get("index_patterns", [])) == sorted(wanted["index_patterns"])
        and current.get("_meta") == wanted["_meta"]
        and current.get("template", {}).get("mappings") == wanted["template"]["mappings"]
    )


def ensure_ready(gw: EsGateway) -> None:
    """Install templates once per gateway (cheap to call before every write)."""
    if gw.templates_ready:
        return
    install_templates(gw)
    gw.templates_ready = True
