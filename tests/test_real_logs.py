"""Public, labelled logs nobody here wrote: raw file → ``soc ingest --format F`` → ``soc detect``.

Every labelled attack must be alerted on (the right entity, in its time span, by one of the
detectors its truth file accepts); a benign file must raise nothing. Where today's code
misses, the case is ``xfail(strict=True)`` with the exact gap from the truth file, so the
mark fails as soon as the parser or detector fix lands and must then be removed.
Provenance and licences: ``tests/fixtures/real/SOURCES.md``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from soc.config import Settings
from soc.context import AppContext
from tests.real_corpus import (
    CORPUS,
    FAMILIES,
    Excerpt,
    ExpectedAlert,
    Run,
    Truth,
    cli_env,
    excerpts,
    judge,
    run_excerpt,
)

EXCERPTS = excerpts()
_RUNS: dict[str, Run] = {}


def _attack_cases() -> list[object]:
    cases: list[object] = []
    for ex in EXCERPTS:
        for i, expected in enumerate(ex.truth.attacks):
            marks = [pytest.mark.xfail(strict=True, reason=expected.gap)] if expected.gap else []
            cases.append(pytest.param(ex, i, expected, id=f"{ex.name}#{i}", marks=marks))
    return cases


def _benign_cases() -> list[object]:
    return [
        pytest.param(
            ex,
            id=ex.name,
            marks=[pytest.mark.xfail(strict=True, reason=ex.truth.benign_gap)] if ex.truth.benign_gap else [],
        )
        for ex in EXCERPTS
        if ex.truth.benign
    ]


@pytest.mark.parametrize(("excerpt", "index", "expected"), _attack_cases())
def test_labelled_attack_is_alerted(
    excerpt: Excerpt, index: int, expected: ExpectedAlert, settings: Settings, ctx: AppContext, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    # a file with several labels is ingested and detected once; each label is judged on that run
    run = _RUNS.get(excerpt.name) or run_excerpt(
        excerpt, cli_env(settings.es_url, settings.index_prefix, tmp_path), now
    )
    if len(excerpt.truth.attacks) > 1:
        _RUNS[excerpt.name] = run
    assert run.ingest_exit == 0, run.ingest_output
    assert run.detect_exit == 0
    verdict = judge(excerpt, run, now)[index]
    assert verdict.found, (
        f"{expected.name}: no alert from {expected.detectors} on {expected.entity}; "
        f"alerts were {[(a['detector'], a['entity']) for a in run.alerts]}"
    )


@pytest.mark.parametrize("excerpt", _benign_cases())
def test_benign_file_raises_nothing(excerpt: Excerpt, settings: Settings, ctx: AppContext, tmp_path: Path) -> None:
    run = run_excerpt(excerpt, cli_env(settings.es_url, settings.index_prefix, tmp_path))
    assert run.ingest_exit == 0, run.ingest_output
    assert run.indexed > 0 and run.datasets, "nothing indexed: a benign file that loads nothing proves nothing"
    assert run.detect_exit == 0
    assert run.alerts == [], [(a["detector"], a["entity"]) for a in run.alerts]


def test_corpus_covers_every_family_with_attacks_and_benign_days() -> None:
    """Issue 9: at least 8 public sources; every family has benign files, and sources of its own."""
    formats = {ex.truth.format for ex in EXCERPTS}
    assert {"sshd", "windows-json", "zeek", "iptables"} <= formats
    repositories = {ex.truth.repository for ex in EXCERPTS if ex.truth.repository}
    assert len(repositories) >= 8, sorted(repositories)  # public ones; captures made here do not count
    for family in FAMILIES:
        in_family = [ex for ex in EXCERPTS if ex.family == family]
        assert any(ex.truth.benign for ex in in_family), f"no benign {family} file"
        assert len({ex.truth.repository for ex in in_family if ex.truth.repository}) >= 2, f"{family}: one source"
    for family in FAMILIES:
        assert any(ex.truth.attacks for ex in EXCERPTS if ex.family == family), f"no labelled {family} attack"
    sources = (CORPUS / "SOURCES.md").read_text(encoding="utf-8")
    for ex in EXCERPTS:
        assert f"`{ex.name}`" in sources, f"{ex.name} has no provenance line in SOURCES.md"
        where = f"| {ex.truth.repository} @ " if ex.truth.repository else f"| captured here: {ex.truth.captured} |"
        assert where in sources, f"{ex.name}: {where} is not in SOURCES.md"


def test_truth_files_are_validated(tmp_path: Path) -> None:
    """A truth file that is both benign and lists attacks, or has an unknown key, is refused."""
    good = yaml.safe_load((CORPUS / "crowdsec-hub" / "ssh-bf.log.truth.yml").read_text(encoding="utf-8"))
    Truth.model_validate(good)
    with pytest.raises(ValidationError, match="either benign"):
        Truth.model_validate({**good, "benign": True})
    with pytest.raises(ValidationError):
        Truth.model_validate({**good, "severity": "high"})
    with pytest.raises(ValidationError):
        Truth.model_validate({**good, "format": "syslog"})
    with pytest.raises(ValidationError, match="repository"):
        Truth.model_validate({**good, "repository": "not a repository"})
    with pytest.raises(ValidationError, match="either its public repository or the tools"):
        Truth.model_validate({**good, "captured": "nmap 7.93"})  # both
    with pytest.raises(ValidationError, match="either its public repository or the tools"):
        Truth.model_validate({k: v for k, v in good.items() if k != "repository"})  # neither
    with pytest.raises(ValidationError, match="not within"):
        Truth.model_validate({**good, "spans": [["02-12T14:10:21", "02-13T00:00:00"]]})


def test_yearless_times_take_the_year_soc_ingest_gives_them() -> None:
    truth = Truth(
        repository="owner/name",
        format="sshd",
        yearless=True,
        start="02-12T14:10:21",
        end="12-31T23:59:59",
        shows="x",
        benign=True,
    )
    now = datetime(2026, 11, 29, tzinfo=UTC)
    assert truth.when(truth.start, now) == datetime(2026, 2, 12, 14, 10, 21, tzinfo=UTC)
    assert truth.when(truth.end, now).year == 2025  # a December line read in November is last year's


def test_family_follows_the_zeek_log_name_also_for_logs_converted_from_a_pcap() -> None:
    """``dns.log`` and ``<capture>-http.log`` are DNS/proxy; ``<capture>-conn.log`` is network."""
    truth = Truth(
        repository="owner/name",
        format="zeek",
        start="2024-01-01T00:00:00Z",
        end="2024-01-01T01:00:00Z",
        shows="x",
        benign=True,
    )
    assert truth.family_of(Path("x/dns.log")) == "dns-proxy"
    assert truth.family_of(Path("x/sandcat-http.log")) == "dns-proxy"
    assert truth.family_of(Path("x/quasarrat-conn.log")) == "network"
    assert truth.family_of(Path("x/conn.log")) == "network"


def test_a_plain_http_beacon_in_a_proxy_log_is_one_alert(settings: Settings, ctx: AppContext, tmp_path: Path) -> None:
    """CALDERA Sandcat's HTTP check-ins (Zeek http.log): beaconing-proxy alerts on them;
    beaconing-tls, which reads flows and ssl.log server names, does not alert a second time."""
    (sandcat,) = [ex for ex in EXCERPTS if ex.name == "caldera-pcap/sandcat-http.log"]
    run = run_excerpt(sandcat, cli_env(settings.es_url, settings.index_prefix, tmp_path))
    assert sorted(a["detector"] for a in run.alerts) == ["beaconing-proxy"], run.alerts
