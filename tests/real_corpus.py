"""The real-log corpus: truth files, and one excerpt run through the CLI as a user would.

Each excerpt under ``tests/fixtures/real/<source>/`` has a ``<file>.truth.yml`` beside it
(format, time range, and either ``benign: true`` or the labelled attacks). Shared by
``tests/test_real_logs.py`` (asserts) and ``bench/quality.py`` (figures), so both judge
the same thing the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator
from typer.testing import CliRunner

from soc.cli.main import app
from soc.detection.loader import load_detectors
from soc.detection.models import Detector
from soc.es.indices import EVENT_DATASETS

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "tests" / "fixtures" / "real"

# Alerts whose span lies this close to a labelled span still count (windows are 5-15 min).
SLACK = timedelta(minutes=30)
# Backtests start this far before the first event so that every window covering it is evaluated.
LEAD = timedelta(hours=1)


Family = Literal["authentication", "network", "dns-proxy"]
FAMILIES: tuple[Family, ...] = ("authentication", "network", "dns-proxy")


class ExpectedAlert(BaseModel):
    """One labelled attack: who must be alerted on, when, and by which detectors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, description="what the attack is, in a few words")
    kind: str = Field(min_length=1, description="detector kind that should see it: brute-force, spray, scan, …")
    entity: dict[str, str] = Field(min_length=1, description="alert entity fields that must be present, e.g. source.ip")
    start: str = Field(description="first attack event; MM-DDTHH:MM:SS for year-less syslog, else ISO 8601")
    end: str
    detectors: list[str] = Field(min_length=1, description="ids of detectors any of which satisfies the label")
    label: str = Field(min_length=1, description="where the label comes from (the source's own assertion)")
    gap: str | None = Field(
        default=None, description="why the current code misses it (parser field / detector); xfail until closed"
    )


class Truth(BaseModel):
    """The truth file of one excerpt."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    repository: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][\w.-]*/[\w.-]+$",
        description="owner/name of the public repository the excerpt is from",
    )
    captured: str | None = Field(
        default=None,
        min_length=1,
        description="instead of a repository: the real tools (and versions) that produced this log here, "
        "where no permissively licensed public log of the attack exists (commands in SOURCES.md)",
    )
    format: Literal["ecs", "sshd", "windows-json", "zeek", "fortigate", "cef", "iptables"]
    family: Family | None = Field(
        default=None, description="log family; by default from the format (and, for Zeek, the log's name)"
    )
    yearless: bool = Field(default=False, description="syslog without a year: times are MM-DDTHH:MM:SS, UTC")
    start: str
    end: str
    benign: bool = False
    benign_gap: str | None = Field(default=None, description="why the current code alerts on this benign file")
    shows: str = Field(min_length=1, description="what the excerpt shows")
    attacks: list[ExpectedAlert] = Field(default_factory=list)
    spans: list[tuple[str, str]] = Field(
        default_factory=list,
        description="busy stretches of a file whose events are days apart: detect runs over each (±1 h), "
        "not over the idle days between; they must lie within start..end",
    )

    @model_validator(mode="after")
    def _benign_xor_attacks(self) -> Truth:
        if (self.repository is None) == (self.captured is None):
            raise ValueError("a truth file names either its public repository or the tools it was captured with")
        if self.benign == bool(self.attacks):
            raise ValueError("a truth file is either benign: true or lists attacks (not both, not neither)")
        if self.benign_gap and not self.benign:
            raise ValueError("benign_gap only applies to benign: true")
        for first, last in self.spans:
            if not self.start <= first <= last <= self.end:
                raise ValueError(f"span {first}..{last} is not within {self.start}..{self.end}")
        return self

    @property
    def source(self) -> str:
        """Where the excerpt comes from: ``owner/name``, or ``captured here (tools)``."""
        return self.repository or f"captured here ({self.captured})"

    def family_of(self, path: Path) -> Family:
        """The log family this excerpt stands for in the per-family table."""
        if self.family:
            return self.family
        if self.format in ("sshd", "windows-json"):
            return "authentication"
        # the Zeek log's name: "dns.log", or "<capture>-dns.log" for an excerpt converted from a pcap
        if self.format == "zeek" and path.name.split(".")[0].rsplit("-", 1)[-1] in ("dns", "http", "ssl"):
            return "dns-proxy"
        return "network"

    def spans_or_range(self) -> list[tuple[str, str]]:
        return list(self.spans) or [(self.start, self.end)]

    def when(self, text: str, now: datetime) -> datetime:
        """A truth time as an aware UTC datetime (year-less syslog: the year soc ingest gives it)."""
        if not self.yearless:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
        month = int(text[:2])
        year = now.year if month <= now.month else now.year - 1
        return datetime.fromisoformat(f"{year}-{text}+00:00")


@dataclass(frozen=True)
class Excerpt:
    path: Path
    truth: Truth

    @property
    def source(self) -> str:
        return self.path.parent.name

    @property
    def family(self) -> Family:
        return self.truth.family_of(self.path)

    @property
    def name(self) -> str:
        return f"{self.source}/{self.path.name}"


def load_truth(path: Path) -> Truth:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return Truth.model_validate(data)


def excerpts() -> list[Excerpt]:
    """Every excerpt of the corpus with its validated truth file, in a stable order."""
    found = []
    for truth_path in sorted(CORPUS.glob("*/*.truth.yml")):
        log = truth_path.with_name(truth_path.name.removesuffix(".truth.yml"))
        if not log.is_file():
            raise FileNotFoundError(f"{truth_path}: no excerpt {log.name} beside it")
        found.append(Excerpt(log, load_truth(truth_path)))
    return found


@dataclass
class Run:
    """What the CLI said about one excerpt."""

    ingest_exit: int
    ingest_output: str
    detect_exit: int
    alerts: list[dict[str, Any]]
    indexed: int = 0
    datasets: frozenset[str] = frozenset()  # the event datasets (auth, network) the file filled


def cli_env(es_url: str, prefix: str, out_dir: Path) -> dict[str, str]:
    """The environment a user would set: their node, an index prefix, UTC (year-less syslog reads as UTC)."""
    return {
        "SOC_ES_URL": es_url,
        "SOC_INDEX_PREFIX": prefix,
        "SOC_DETECTORS_DIR": str(REPO / "detectors"),
        "SOC_PLAYBOOKS_DIR": str(REPO / "playbooks"),
        "SOC_OUT_DIR": str(out_dir / "out"),
        "SOC_DATA_DIR": str(out_dir / ".soc"),
        "SOC_TIMEZONE": "UTC",
    }


def run_excerpt(excerpt: Excerpt, env: dict[str, str], now: datetime | None = None) -> Run:
    """``soc ingest --format F FILE`` then ``soc detect --from --to --json --no-escalate`` over its range.

    Detection runs the detectors of the datasets the file filled (``--detector``): one whose
    dataset got no event reads an empty index and cannot alert, and skipping it keeps the
    corpus fast (a Zeek file runs the 15 network detectors, not the 22 authentication ones).
    """
    now = now or datetime.now(UTC)
    cli_env_: dict[str, str | None] = {**env, "SOC_CONFIG": None}
    runner = CliRunner()
    truth = excerpt.truth
    ing = runner.invoke(app, ["ingest", "--json", "--format", truth.format, str(excerpt.path)], env=cli_env_)
    summary: dict[str, Any] = next(
        (json.loads(line) for line in reversed(ing.stdout.splitlines()) if line.startswith("{")), {}
    )
    filled = frozenset(
        dataset
        for dataset, index in EVENT_DATASETS.items()
        for name, count in (summary.get("per_index") or {}).items()
        if count and name.endswith(f"-{index}")
    )
    only = [arg for d in _detectors() if d.dataset in filled for arg in ("--detector", d.id)]
    alerts: dict[str, dict[str, Any]] = {}
    exits = []
    for first, last in truth.spans_or_range():
        start, end = truth.when(first, now) - LEAD, truth.when(last, now) + LEAD
        det = runner.invoke(
            app, ["detect", "--from", _iso(start), "--to", _iso(end), "--json", "--no-escalate", *only], env=cli_env_
        )
        exits.append(det.exit_code)
        for line in det.stdout.splitlines():
            if line.startswith("{"):
                alert = json.loads(line)
                alerts[alert["id"]] = alert
    indexed = int(summary.get("indexed", 0)) + int(summary.get("already_present", 0))
    return Run(ing.exit_code, ing.output, max(exits), list(alerts.values()), indexed, filled)


@cache
def _detectors() -> list[Detector]:
    return load_detectors(REPO / "detectors")


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class Verdict:
    """One labelled attack: found or not, and by which alerts."""

    expected: ExpectedAlert
    found_by: list[str] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return bool(self.found_by)


def satisfies(alert: dict[str, Any], expected: ExpectedAlert, truth: Truth, now: datetime) -> bool:
    """The alert is from an accepted detector, names the entity and overlaps the labelled span."""
    if alert.get("detector") not in expected.detectors:
        return False
    entity = {k: str(v) for k, v in (alert.get("entity") or {}).items()}
    if any(entity.get(k, "").lower() != v.lower() for k, v in expected.entity.items()):
        return False
    lo, hi = truth.when(expected.start, now) - SLACK, truth.when(expected.end, now) + SLACK
    return _time(alert["start"]) <= hi and _time(alert["end"]) >= lo


def judge(excerpt: Excerpt, run: Run, now: datetime | None = None) -> list[Verdict]:
    now = now or datetime.now(UTC)
    verdicts = []
    for expected in excerpt.truth.attacks:
        by = sorted({a["detector"] for a in run.alerts if satisfies(a, expected, excerpt.truth, now)})
        verdicts.append(Verdict(expected, by))
    return verdicts


def unexplained(excerpt: Excerpt, run: Run, now: datetime | None = None) -> list[dict[str, Any]]:
    """Alerts no label accounts for (on a benign file: every alert)."""
    now = now or datetime.now(UTC)
    return [a for a in run.alerts if not any(satisfies(a, e, excerpt.truth, now) for e in excerpt.truth.attacks)]


def iter_labels() -> Iterator[tuple[Excerpt, ExpectedAlert]]:
    for ex in excerpts():
        for expected in ex.truth.attacks:
            yield ex, expected
