"""The periodic SOC summary: what the SOC saw and did over a period (pure: no I/O).

Alert figures and data-source health are read from the answers of the aggregations in
``soc.reports.queries`` (run once by ``soc.reports.gather``), with the incidents and the
detectors' run states gathered there.
Triage fields are read defensively: an alert without ``status`` is untriaged, and a
closed alert without a known ``close_reason`` counts as closed without a reason.

Definitions (also printed in the report):

* MTTD: alert creation minus its first matching event, over alerts created in the period;
* MTTA: CSIRT awareness (``aware_at``) minus detection, over incidents opened in the
  period whose awareness is recorded;
* MTTR: closing minus detection, over incidents closed (resolved, not false positive or
  duplicate) in the period. The closing time is ``closed_at`` when the incident has one,
  else its last update.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from statistics import fmean
from typing import Any
from zoneinfo import ZoneInfo

from soc.incidents.models import Incident
from soc.incidents.naming import shown_title
from soc.reports.i18n import Translator, catalog
from soc.reports.inputs import DetectorRun, SummaryInputs
from soc.reports.models import (
    BarChart,
    DataHealthView,
    DetectorVolumeRow,
    EntityCountRow,
    HealthRow,
    IncidentFlowView,
    KpiRow,
    LineChart,
    StackedBarChart,
    SummaryReport,
    TrendRow,
    TriageView,
)
from soc.reports.queries import MISSING, days_between, total_hits
from soc.reports.summary_sections import detector_health_view, sla_view
from soc.reports.words import about, dataset_name, entity_key_text, when, zone_label
from soc.vocab import Severity

__all__ = ["CLOSE_REASONS", "build_summary", "build_summary_from"]

CLOSE_REASONS = ("true_positive", "false_positive", "benign", "duplicate")
SEVERITIES = [s.value for s in Severity]
_MISSING = MISSING
VOLUME_TABLE_ROWS = 10  # detectors named in the volume table (most alerts first); the rest on one line
VOLUME_CHART_ROWS = 10  # more detectors than this: the volume table alone (the chart would repeat it)
_RESOLVED = {"closed"}
_TERMINAL = {"closed", "false-positive", "duplicate"}


def build_summary(inputs: SummaryInputs, *, lang: str, tz: ZoneInfo, now: datetime) -> SummaryReport:
    """Pure: the summary in *lang* from the gathered inputs."""
    return build_summary_from(
        inputs.alert_answer,
        inputs.event_answer,
        inputs.incidents,
        start=inputs.start,
        end=inputs.end,
        lang=lang,
        tz=tz,
        now=now,
        detector_titles={d.id: d.title(lang) for d in inputs.detectors},
        playbook_names={p.id: p.name(lang) for p in inputs.playbooks},
        run_states=inputs.run_states,
        enabled_detectors=[d.id for d in inputs.detectors if d.enabled],
        previous_alerts=inputs.previous_alerts,
    )


def _buckets(aggs: dict[str, Any], name: str) -> list[dict[str, Any]]:
    node = aggs.get(name) or {}
    return list(node.get("buckets") or [])


def _rate(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "—"


def _duration(seconds: float, t: Translator) -> str:
    return about(timedelta(seconds=seconds), t.lang)


def _closed_time(incident: Incident) -> datetime:
    closed_at = getattr(incident, "closed_at", None)  # a field the CSIRT workflow may add
    return closed_at if isinstance(closed_at, datetime) else incident.updated_at


def _fmt(t: datetime, tz: ZoneInfo, lang: str) -> str:
    return when(t, tz, lang, year=True)


def build_summary_from(
    alert_answer: dict[str, Any],
    event_answer: dict[str, Any],
    incidents: Sequence[Incident],
    *,
    start: datetime,
    end: datetime,
    lang: str,
    tz: ZoneInfo,
    now: datetime,
    detector_titles: dict[str, str],
    playbook_names: Mapping[str, str] | None = None,
    run_states: Sequence[DetectorRun] = (),
    enabled_detectors: Sequence[str] | None = None,
    previous_alerts: int | None = None,
) -> SummaryReport:
    """Pure: the summary context from the two search answers, the incidents and the
    detectors' run states (*enabled_detectors*: the ids of the enabled definitions)."""
    t = Translator(lang)
    aggs = alert_answer.get("aggregations") or {}
    sev_labels = [t(f"severity_{s}") for s in SEVERITIES]
    days = days_between(start, end, tz)

    detectors = []
    for b in _buckets(aggs, "by_detector"):
        per = {str(s["key"]): int(s["doc_count"]) for s in _buckets(b, "severity")}
        detectors.append(
            DetectorVolumeRow(
                detector=detector_titles.get(str(b["key"]), str(b["key"])),
                by_severity=[per.get(s, 0) for s in SEVERITIES],
                alerts=int(b["doc_count"]),
                events=int((b.get("events") or {}).get("value") or 0),
            )
        )
    detectors_alerting = len(detectors)
    if len(detectors) > VOLUME_TABLE_ROWS:  # a week of 40 detectors: one line for the quiet ones
        named, rest = detectors[: VOLUME_TABLE_ROWS - 1], detectors[VOLUME_TABLE_ROWS - 1 :]
        detectors = [
            *named,
            DetectorVolumeRow(
                detector=t("volume_others", n=len(rest)),
                by_severity=[sum(col) for col in zip(*(d.by_severity for d in rest), strict=True)],
                alerts=sum(d.alerts for d in rest),
                events=sum(d.events for d in rest),
            ),
        ]
    sev_total = {str(b["key"]): int(b["doc_count"]) for b in _buckets(aggs, "severity")}

    triage = _triage(aggs, total_hits(alert_answer))
    mttd = aggs.get("mttd") or {}
    created, first = (mttd.get("created") or {}).get("value"), (mttd.get("first") or {}).get("value")
    mttd_ms = created - first if created is not None and first is not None else None
    mttd_n = int(mttd.get("doc_count") or 0)

    inside = [i for i in incidents if start <= i.opened_at < end]
    closed = [i for i in incidents if i.status.value in _TERMINAL and start <= _closed_time(i) < end]
    resolved = [i for i in closed if i.status.value in _RESOLVED]
    acked = [i for i in inside if i.aware_at is not None]
    open_at_end = [
        i for i in incidents if i.opened_at < end and not (i.status.value in _TERMINAL and _closed_time(i) < end)
    ]

    def kpi(key: str, seconds: list[float] | float | None, n: int) -> KpiRow:
        if isinstance(seconds, list):
            seconds = fmean(seconds) if seconds else None
        return KpiRow(
            label=t(f"kpi_{key}"),
            value=_duration(seconds, t) if seconds is not None and n else t("no_data_short"),
            basis=t("kpi_basis", n=n),
            definition=t(f"kpi_{key}_definition"),
        )

    kpis = [
        kpi("mttd", mttd_ms / 1000 if mttd_ms is not None else None, mttd_n),
        kpi("mtta", [(i.aware_at - i.detected_at).total_seconds() for i in acked if i.aware_at], len(acked)),
        kpi("mttr", [(_closed_time(i) - i.detected_at).total_seconds() for i in resolved], len(resolved)),
    ]

    entities = [
        EntityCountRow(
            entity=entity_key_text(str(b["key"]), lang) or t("entity_none"),
            alerts=int(b["doc_count"]),
            events=int((b.get("events") or {}).get("value") or 0),
        )
        for b in _buckets(aggs, "entities")
    ]
    alerts_per_day = {str(b["key_as_string"]): int(b["doc_count"]) for b in _buckets(aggs, "per_day")}
    incidents_per_day = dict.fromkeys(days, 0)
    for i in inside:
        day = i.opened_at.astimezone(tz).date().isoformat()
        if day in incidents_per_day:
            incidents_per_day[day] += 1

    health = _health(event_answer, days, t, tz)
    names = playbook_names or {}

    def incident_title(i: Incident) -> str:
        book = names.get(i.playbook_id) if i.playbook_id else None
        if i.playbook_id and book is None:  # its playbook is not loaded: the title stored from it
            return i.title(lang)
        return shown_title(
            i, lang, playbook_name=book, detector_title=lambda d: detector_titles.get(d, d), sep=t("list_sep")
        )

    sla = sla_view(incidents, start=start, end=end, now=now, t=t, tz=tz, title=incident_title)
    detector_health = detector_health_view(
        run_states,
        start=start,
        end=end,
        t=t,
        tz=tz,
        title=lambda d: detector_titles.get(d, d),
        enabled=enabled_detectors,
        alerted={str(b["key"]) for b in _buckets(aggs, "by_detector")},
    )
    triage_view = triage
    span = end - start
    before_opened = sum(start - span <= i.opened_at < start for i in incidents)
    narrative = [
        t(
            "narr_what",
            alerts=total_hits(alert_answer),
            events=int((aggs.get("events") or {}).get("value") or 0),
            opened=len(inside),
            closed=len(closed),
            open_at_end=len(open_at_end),
        )
    ]
    if previous_alerts is not None:
        narrative.append(
            t(
                "narr_trend",
                before=previous_alerts,
                now=total_hits(alert_answer),
                diff=_diff(total_hits(alert_answer) - previous_alerts, t),
                before_inc=before_opened,
                now_inc=len(inside),
            )
        )
    attention = []
    if sla.outstanding:
        open_ids = sla.outstanding_incidents
        ids = t("list_sep").join(open_ids[:3]) + (t("and_more", n=len(open_ids) - 3) if len(open_ids) > 3 else "")
        attention.append(t("narr_outstanding", n=sla.outstanding, ids=ids))
    if triage_view.untriaged:
        attention.append(t("narr_untriaged", n=triage_view.untriaged))
    if detector_health.failing:
        attention.append(t("narr_failing", n=len(detector_health.failing)))
    if health.gaps:
        more = t("and_more", n=len(health.gaps) - 4) if len(health.gaps) > 4 else ""
        attention.append(t("narr_gaps", gaps=t("list_sep").join(health.gaps[:4]) + more))
    if detector_health.never_run:
        attention.append(t("narr_never_run", n=len(detector_health.never_run)))
    return SummaryReport(
        lang=lang,
        t=catalog(lang),
        title=t("summary_title"),
        zone=zone_label(tz, lang),
        narrative=narrative,
        attention=attention,
        trend_rows=[
            TrendRow(day=_day(d, tz, lang), alerts=alerts_per_day.get(d, 0), incidents=incidents_per_day[d])
            for d in days
        ],
        trend_as_table=len(days) < 4,
        volume_chart_shown=detectors_alerting <= VOLUME_CHART_ROWS,
        period=_period(start, end, tz, t),
        period_from=_fmt(start, tz, lang),
        period_to=_fmt(end, tz, lang),
        generated_at=_fmt(now, tz, lang),
        severity_labels=sev_labels,
        alerts_total=total_hits(alert_answer),
        events_total=int((aggs.get("events") or {}).get("value") or 0),
        detectors=detectors,
        severity_totals=[sev_total.get(s, 0) for s in SEVERITIES],
        triage=triage,
        incidents=IncidentFlowView(
            opened=len(inside),
            closed=len(closed),
            open_at_end=len(open_at_end),
            opened_by_severity=[sum(i.severity.value == s for i in inside) for s in SEVERITIES],
        ),
        kpis=kpis,
        top_entities=entities,
        health=health,
        sla=sla,
        detector_health=detector_health,
        volume_chart=StackedBarChart(
            uid="volume",
            title=t("chart_volume"),
            series=sev_labels,
            rows=[(d.detector, d.by_severity) for d in detectors],
        ),
        trend_chart=LineChart(
            uid="trend-chart",
            title=t("chart_trend"),
            x_labels=[_day(d, tz, lang, short=True) for d in days],
            series=[
                (t("chart_series_alerts"), [alerts_per_day.get(d, 0) for d in days]),
                (t("chart_series_incidents"), [incidents_per_day[d] for d in days]),
            ],
        ),
        entity_chart=BarChart(uid="entities", title=t("chart_entities"), bars=[(e.entity, e.alerts) for e in entities]),
    )


def _triage(aggs: dict[str, Any], total: int) -> TriageView:
    by_status: dict[str, int] = {}
    reasons: dict[str, int] = dict.fromkeys((*CLOSE_REASONS, _MISSING), 0)
    for b in _buckets(aggs, "status"):
        status = str(b["key"])
        by_status[status] = by_status.get(status, 0) + int(b["doc_count"])
        if status == "closed":
            for r in _buckets(b, "reason"):
                key = str(r["key"])
                reasons[key if key in reasons else _MISSING] += int(r["doc_count"])
    closed = by_status.get("closed", 0)
    with_reason = sum(reasons[r] for r in CLOSE_REASONS)
    acknowledged = by_status.get("acknowledged", 0)
    return TriageView(
        alerts=total,
        untriaged=total - acknowledged - closed,
        acknowledged=acknowledged,
        closed=closed,
        true_positive=reasons["true_positive"],
        false_positive=reasons["false_positive"],
        benign=reasons["benign"],
        duplicate=reasons["duplicate"],
        closed_without_reason=closed - with_reason,
        tp_rate=_rate(reasons["true_positive"], with_reason),
        fp_rate=_rate(reasons["false_positive"], with_reason),
    )


def _health(answer: dict[str, Any], days: list[str], t: Translator, tz: ZoneInfo) -> DataHealthView:
    aggs = answer.get("aggregations") or {}
    datasets: list[str] = []
    per: dict[str, dict[str, int]] = {}
    for b in _buckets(aggs, "dataset"):
        raw = str(b["key"])
        name = t("dataset_missing") if raw == _MISSING else dataset_name(raw, t.lang)
        datasets.append(name)
        per[name] = {str(d["key_as_string"]): int(d["doc_count"]) for d in _buckets(b, "per_day")}
    rows = []
    for day in days:
        counts = [per[d].get(day, 0) for d in datasets]
        shown = _day(day, tz, t.lang)
        head = _day(day, tz, "ja", short=True) + shown[shown.index("（") :] if t.lang == "ja" else shown
        rows.append(HealthRow(day=shown, head=head, counts=counts, gaps=[c == 0 for c in counts]))
    gaps = []  # one item per log source: its silent days, consecutive days as one span
    for i, dataset in enumerate(datasets):
        spans: list[list[str]] = []
        for k, row in enumerate(rows):
            if not row.gaps[i]:
                continue
            if spans and k > 0 and rows[k - 1].gaps[i]:
                spans[-1].append(row.day)
            else:
                spans.append([row.day])
        if spans:
            silent = [s[0] if len(s) == 1 else t("gap_span", first=s[0], last=s[-1]) for s in spans]
            gaps.append(t("gap_item", dataset=dataset, day=t("list_sep").join(silent)))
    return DataHealthView(datasets=datasets, by_dataset=len(days) <= 8, rows=rows, total=total_hits(answer), gaps=gaps)


def _day(day: str, tz: ZoneInfo, lang: str, *, short: bool = False) -> str:
    """``2026-11-23`` as 「11月23日（月）」 / "Mon 23 Nov" (short: 「11/23」 / "23 Nov")."""
    d = datetime.fromisoformat(day)
    if short:
        return f"{d.month}/{d.day}" if lang == "ja" else d.strftime("%d %b").lstrip("0")
    text = when(d.replace(tzinfo=tz), tz, lang)
    return text.split("）")[0] + "）" if lang == "ja" else text.rsplit(" ", 1)[0]


def _diff(n: int, t: Translator) -> str:
    return t("diff_up", n=n) if n > 0 else t("diff_down", n=-n) if n < 0 else t("diff_same")


def _period(start: datetime, end: datetime, tz: ZoneInfo, t: Translator) -> str:
    """Whole days as days (「2026年11月23日（月）〜11月24日（火）」), else the two times."""
    a, b = start.astimezone(tz), end.astimezone(tz)
    if a.time() != datetime.min.time() or b.time() != datetime.min.time():
        return t("summary_period", start=_fmt(start, tz, t.lang), end=_fmt(end, tz, t.lang))
    first, last = a.date().isoformat(), (b - timedelta(days=1)).date().isoformat()
    if t.lang == "ja":
        head = f"{a.year}年" + _day(first, tz, "ja")
        tail = (f"{b.year}年" if last[:4] != first[:4] else "") + _day(last, tz, "ja")
    else:
        head, tail = _day(first, tz, "en"), _day(last, tz, "en") + f" {last[:4]}"
    return head if first == last else t("summary_period", start=head, end=tail)
