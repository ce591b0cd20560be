"""The Kibana saved objects soc ships, built for an index prefix.

Three data views (events, alerts, run state), four aggregation-based visualizations and
one dashboard: alerts over time by detector and by segment, the entities with the most
alerts, and how far each detector lags behind the clock. ``kibana/soc.ndjson`` is this
list for the default prefix ``soc`` (a test keeps the two equal); ``soc kibana import``
builds it for the configured prefix, so a site with ``index_prefix = "city"`` gets data
views over ``city-*`` indices.

Only fields of soc's own index templates are used (a test checks each against
``soc.es.indices.templates``), so every panel works on a fresh install.
"""

from __future__ import annotations

import json
from typing import Any

from soc.kibana.links import events_data_view_id

__all__ = ["DASHBOARD_TITLE", "build_objects", "to_ndjson"]

DASHBOARD_TITLE = "SOC overview"

# objects carry the version of the shape they are written in; Kibana migrates them forward
_VERSIONS = {"index-pattern": "8.0.0", "visualization": "8.5.0", "dashboard": "8.7.0"}
_SEARCH_REF = "kibanaSavedObjectMeta.searchSourceJSON.index"


def _saved(kind: str, obj_id: str, attributes: dict[str, Any], references: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "type": kind,
        "id": obj_id,
        "attributes": attributes,
        "references": references,
        "coreMigrationVersion": "8.8.0",
        "typeMigrationVersion": _VERSIONS[kind],
    }


def _data_view(obj_id: str, title: str, name: str, time_field: str) -> dict[str, Any]:
    return _saved("index-pattern", obj_id, {"title": title, "name": name, "timeFieldName": time_field}, [])


def _search_source(data_view: str, query: str = "") -> tuple[dict[str, Any], list[dict[str, str]]]:
    source = {"query": {"query": query, "language": "kuery"}, "filter": [], "indexRefName": _SEARCH_REF}
    meta = {"searchSourceJSON": json.dumps(source, sort_keys=True)}
    return meta, [{"name": _SEARCH_REF, "type": "index-pattern", "id": data_view}]


def _terms(agg_id: str, field: str, size: int, schema: str) -> dict[str, Any]:
    params = {
        "field": field,
        "size": size,
        "order": "desc",
        "orderBy": "1",
        "otherBucket": False,
        "missingBucket": False,
    }
    return {"id": agg_id, "enabled": True, "type": "terms", "schema": schema, "params": params}


def _histogram(obj_id: str, title: str, data_view: str, split_field: str) -> dict[str, Any]:
    aggs = [
        {"id": "1", "enabled": True, "type": "count", "schema": "metric", "params": {}},
        {
            "id": "2",
            "enabled": True,
            "type": "date_histogram",
            "schema": "segment",
            "params": {"field": "@timestamp", "interval": "auto", "min_doc_count": 1, "extended_bounds": {}},
        },
        _terms("3", split_field, 10, "group"),
    ]
    params = {
        "type": "histogram",
        "addLegend": True,
        "addTooltip": True,
        "legendPosition": "right",
        "categoryAxes": [
            {
                "id": "CategoryAxis-1",
                "type": "category",
                "position": "bottom",
                "show": True,
                "scale": {"type": "linear"},
                "labels": {"show": True, "filter": True, "truncate": 100},
                "title": {},
            }
        ],
        "valueAxes": [
            {
                "id": "ValueAxis-1",
                "name": "LeftAxis-1",
                "type": "value",
                "position": "left",
                "show": True,
                "scale": {"type": "linear", "mode": "normal"},
                "labels": {"show": True, "rotate": 0, "filter": False, "truncate": 100},
                "title": {"text": "Alerts"},
            }
        ],
        "seriesParams": [
            {
                "show": True,
                "type": "histogram",
                "mode": "stacked",
                "data": {"label": "Alerts", "id": "1"},
                "valueAxis": "ValueAxis-1",
            }
        ],
        "times": [],
        "thresholdLine": {"show": False, "value": 10, "width": 1, "style": "full", "color": "#E7664C"},
    }
    return _visualization(obj_id, title, data_view, "histogram", aggs, params)


def _table(
    obj_id: str,
    title: str,
    data_view: str,
    metrics: list[dict[str, Any]],
    bucket: dict[str, Any],
    *,
    query: str = "",
) -> dict[str, Any]:
    params = {
        "perPage": 20,
        "showPartialRows": False,
        "showMetricsAtAllLevels": False,
        "showTotal": False,
        "totalFunc": "sum",
        "percentageCol": "",
    }
    return _visualization(obj_id, title, data_view, "table", [*metrics, bucket], params, query=query)


def _visualization(
    obj_id: str,
    title: str,
    data_view: str,
    vis_type: str,
    aggs: list[dict[str, Any]],
    params: dict[str, Any],
    *,
    query: str = "",
) -> dict[str, Any]:
    meta, refs = _search_source(data_view, query)
    state = {"title": title, "type": vis_type, "aggs": aggs, "params": params}
    attributes = {
        "title": title,
        "description": "",
        "version": 1,
        "uiStateJSON": "{}",
        "visState": json.dumps(state, sort_keys=True),
        "kibanaSavedObjectMeta": meta,
    }
    return _saved("visualization", obj_id, attributes, refs)


def _dashboard(obj_id: str, panels: list[tuple[str, int, int, int, int]]) -> dict[str, Any]:
    """``panels``: (visualization id, x, y, width, height) on Kibana's 48-column grid."""
    panel_json = []
    refs = []
    for n, (vis_id, x, y, w, h) in enumerate(panels):
        ref = f"panel_{n}"
        panel_json.append(
            {
                "version": "8.7.0",
                "type": "visualization",
                "panelIndex": str(n + 1),
                "gridData": {"x": x, "y": y, "w": w, "h": h, "i": str(n + 1)},
                "embeddableConfig": {"enhancements": {}},
                "panelRefName": ref,
            }
        )
        refs.append({"name": ref, "type": "visualization", "id": vis_id})
    attributes = {
        "title": DASHBOARD_TITLE,
        "description": "Alerts by detector and segment, the busiest entities, and detector lag (soc).",
        "panelsJSON": json.dumps(panel_json, sort_keys=True),
        "optionsJSON": json.dumps({"useMargins": True, "syncColors": False, "hidePanelTitles": False}),
        "timeRestore": True,
        "timeFrom": "now-7d",
        "timeTo": "now",
        "refreshInterval": {"pause": False, "value": 60000},
        "version": 1,
        "kibanaSavedObjectMeta": {
            "searchSourceJSON": json.dumps({"query": {"query": "", "language": "kuery"}, "filter": []})
        },
    }
    return _saved("dashboard", obj_id, attributes, refs)


def build_objects(prefix: str) -> list[dict[str, Any]]:
    """Every saved object, data views first (Kibana imports them in one request anyway)."""
    events, alerts, state = events_data_view_id(prefix), f"{prefix}-alerts", f"{prefix}-state"
    count = {"id": "1", "enabled": True, "type": "count", "schema": "metric", "params": {}}
    lag = {"id": "1", "enabled": True, "type": "max", "schema": "metric", "params": {"field": "lag_s"}}
    last_run = {"id": "4", "enabled": True, "type": "max", "schema": "metric", "params": {"field": "last_run"}}
    failures = {
        "id": "5",
        "enabled": True,
        "type": "max",
        "schema": "metric",
        "params": {"field": "consecutive_failures"},
    }
    visualizations = [
        _histogram(f"{prefix}-alerts-by-detector", "Alerts over time by detector", alerts, "soc.alert.detector"),
        _histogram(f"{prefix}-alerts-by-segment", "Alerts over time by segment", alerts, "soc.alert.segments"),
        _table(
            f"{prefix}-top-entities",
            "Entities with the most alerts",
            alerts,
            [count],
            _terms("2", "soc.alert.entity_key", 20, "bucket"),
        ),
        _table(
            f"{prefix}-detector-lag",
            "Detector lag (seconds behind the clock)",
            state,
            [lag, last_run, failures],
            _terms("2", "detector", 100, "bucket"),
            query="not kind:*",  # run state only: baselines and follow offsets share the index
        ),
    ]
    layout = [
        (v["id"], x, y, 24, 15) for v, (x, y) in zip(visualizations, [(0, 0), (24, 0), (0, 15), (24, 15)], strict=True)
    ]
    return [
        _data_view(events, f"{prefix}-events-*", "soc events", "@timestamp"),
        _data_view(alerts, f"{prefix}-alerts", "soc alerts", "@timestamp"),
        _data_view(state, f"{prefix}-state", "soc detector state", "last_run"),
        *visualizations,
        _dashboard(f"{prefix}-overview", layout),
    ]


def to_ndjson(objects: list[dict[str, Any]]) -> str:
    """One JSON object per line, as Kibana's import and export use."""
    return "".join(json.dumps(o, ensure_ascii=False, sort_keys=True) + "\n" for o in objects)
