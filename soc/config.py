"""Settings: one pydantic-settings model read from ``soc.toml`` and ``SOC_*`` variables.

Precedence (highest first): explicit overrides, ``SOC_*`` environment variables,
the config file (``SOC_CONFIG`` or ``./soc.toml``), defaults. Secrets are
``SecretStr`` and never printed: ``masked()`` is what ``soc config show`` prints.
"""

from __future__ import annotations

import contextvars
import ipaddress
import os
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from soc.calendar import CalendarSettings
from soc.cron import Crontab
from soc.destinations import NotifySettings
from soc.errors import ConfigError
from soc.vocab import Duration, Segment, Severity
from soc.web_settings import WebSettings

__all__ = [
    "DEFAULT_SEGMENTS",
    "LocalBreakout",
    "SchedulerSettings",
    "SegmentRule",
    "Settings",
    "SummarySchedule",
    "load_settings",
]

_CONFIG_PATH: contextvars.ContextVar[Path | None] = contextvars.ContextVar("soc_config", default=None)


class SegmentRule(BaseModel):
    """One CIDR of the network segment map."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cidr: str
    segment: Segment
    name: str = ""

    @field_validator("cidr")
    @classmethod
    def _valid_cidr(cls, value: str) -> str:
        try:
            return str(ipaddress.ip_network(value, strict=False))
        except ValueError as exc:
            raise ValueError(f"not a CIDR like '10.20.0.0/16': {value!r}") from exc


class LocalBreakout(BaseModel):
    """Destinations that LGWAN hosts may reach directly (the α' model's local breakout)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cidrs: list[str] = Field(default_factory=list)
    domains: list[str] = Field(default_factory=list)

    @field_validator("cidrs")
    @classmethod
    def _valid_cidrs(cls, values: list[str]) -> list[str]:
        return [str(ipaddress.ip_network(v, strict=False)) for v in values]


class SchedulerSettings(BaseModel):
    """``[scheduler]``: how several ``scheduler.py`` processes share the jobs (soc/runtime/leases.py).

    A process owns a detector (or the CSIRT job, or the summary) while it renews that job's
    lease every ``lease_renew``; another process takes a lease over once it has seen it
    unrenewed for ``lease_ttl`` (its own clock: no clock sync between hosts needed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lease_ttl: Duration = timedelta(seconds=30)
    lease_renew: Duration = timedelta(seconds=10)
    # windows one detector run covers at most; a run that reaches it runs again at once
    # (a long outage is caught up in bounded steps, each one saving the watermark)
    max_windows_per_run: int = Field(default=288, ge=1, le=10_000)
    # detector shards, one lease and one job each (soc/runtime/leases.py); every scheduler
    # sharing a cluster and index prefix must use the same number. More shards: smaller
    # jobs, more leases to renew; 16 keeps 1,000 detectors at 1 minute at ~62 per shard.
    shards: int = Field(default=16, ge=1, le=1024)

    @model_validator(mode="after")
    def _renew_well_within_ttl(self) -> SchedulerSettings:
        if self.lease_renew <= timedelta(0) or self.lease_renew * 2 > self.lease_ttl:
            raise ValueError("lease_renew must be positive and at most half of lease_ttl")
        return self


class SummarySchedule(BaseModel):
    """``[summary]``: the periodic SOC summary report. Disabled while ``cron`` is unset."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # a crontab line in ``timezone`` (0 or 7 = Sunday): "0 8 * * 1" = Mondays 08:00
    cron: Crontab | None = None
    # the span each report covers, ending at the fire time (whole days: at local midnight of that day)
    period: Duration = timedelta(days=7)
    langs: tuple[Literal["ja", "en"], ...] = Field(default=("ja", "en"), min_length=1)
    formats: tuple[Literal["html", "pdf", "md"], ...] = Field(default=("html",), min_length=1)

    @field_validator("period")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be longer than zero, e.g. '7d'")
        return value


DEFAULT_SEGMENTS: list[SegmentRule] = [
    SegmentRule(cidr="10.10.0.0/16", segment=Segment.mynumber, name="My Number systems"),
    SegmentRule(cidr="10.20.0.0/16", segment=Segment.lgwan, name="LGWAN-connected"),
    SegmentRule(cidr="10.30.0.0/16", segment=Segment.internet, name="Internet-connected"),
    SegmentRule(cidr="172.16.10.0/24", segment=Segment.dmz, name="DMZ"),
    SegmentRule(cidr="10.50.0.0/16", segment=Segment.telework, name="Telework VPN pool"),
]

DEFAULT_BREAKOUT = LocalBreakout(
    # Microsoft 365 (Exchange Online, SharePoint, Teams) and Zoom ranges used for
    # local breakout in the α' model. Replace with the city's own list.
    cidrs=["13.107.128.0/22", "13.107.136.0/22", "40.96.0.0/13", "52.96.0.0/14", "52.112.0.0/14", "170.114.0.0/16"],
    domains=["login.microsoftonline.com", "outlook.office365.com", "sharepoint.com", "teams.microsoft.com", "zoom.us"],
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SOC_", extra="forbid", frozen=True)

    # Elasticsearch connection
    es_url: str = "http://127.0.0.1:9200"
    es_username: str | None = None
    es_password: SecretStr | None = None
    es_api_key: SecretStr | None = None
    es_ca_certs: Path | None = None
    es_verify_certs: bool = True
    es_timeout: float = 30.0
    es_max_retries: int = 3

    index_prefix: str = "soc"
    # where operators open Kibana (https://kibana.example:5601); alerts then link to their events in Discover
    kibana_url: str | None = None
    timezone: str = "Asia/Tokyo"
    report_lang: Literal["ja", "en"] = "ja"

    segments: list[SegmentRule] = Field(default_factory=lambda: list(DEFAULT_SEGMENTS))
    local_breakout: LocalBreakout = DEFAULT_BREAKOUT

    # alerts at or above this severity open (or join) an incident
    escalation_min_severity: Severity = Severity.medium

    detectors_dir: Path = Path("detectors")
    playbooks_dir: Path = Path("playbooks")
    out_dir: Path = Path("out")
    data_dir: Path = Path(".soc")

    # where each logical dataset lives; {prefix} is replaced by index_prefix
    datasets: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "auth": ["{prefix}-events-auth*"],
            "network": ["{prefix}-events-network*"],
        }
    )

    # where notifications go ([notify] in soc.toml); no destination = the outbox in out_dir
    notify: NotifySettings = Field(default_factory=NotifySettings)

    # the periodic SOC summary report ([summary] in soc.toml); off unless ``cron`` is set
    summary: SummarySchedule = Field(default_factory=SummarySchedule)
    # the office calendar ([calendar]): weekends, public holidays, year-end closure, closed days
    calendar: CalendarSettings = Field(default_factory=CalendarSettings)

    # leases shared by several scheduler processes on one cluster ([scheduler] in soc.toml)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    # the web console ([web] in soc.toml): OpenID Connect sign-in ([web.oidc])
    web: WebSettings = Field(default_factory=WebSettings)

    @field_validator("index_prefix")
    @classmethod
    def _valid_prefix(cls, value: str) -> str:
        if not value or value != value.lower() or any(c in value for c in ' "*\\<|,>/?#:'):
            raise ValueError("must be lower-case letters, digits, '-' or '_' (it starts every index name)")
        return value

    @field_validator("timezone")
    @classmethod
    def _valid_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}; use an IANA name like 'Asia/Tokyo'") from exc
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def dataset_indices(self, dataset: str) -> list[str]:
        if dataset not in self.datasets:
            raise ConfigError(
                f"unknown dataset {dataset!r}; known: {', '.join(sorted(self.datasets))}", field="datasets"
            )
        return [p.replace("{prefix}", self.index_prefix) for p in self.datasets[dataset]]

    def masked(self) -> dict[str, Any]:
        """The effective settings as plain data, every secret replaced by ``****``."""
        data = self.model_dump(mode="json")
        for key in ("es_password", "es_api_key"):
            if data.get(key):
                data[key] = "****"
        data["es_url"] = _mask_url(data["es_url"])
        return data

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = _CONFIG_PATH.get()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


def _mask_url(url: str) -> str:
    """Hide a password written into the URL itself (https://user:pw@host)."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:****@{host}"
    return url


def config_path_from_env(explicit: Path | None = None) -> Path | None:
    if explicit is not None:
        return explicit
    env = os.environ.get("SOC_CONFIG")
    if env:
        return Path(env)
    default = Path("soc.toml")
    return default if default.exists() else None


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """Load settings; every invalid field is reported with the file it came from."""
    path = config_path_from_env(config)
    if path is not None:
        if not path.exists():
            raise ConfigError("config file not found", file=path, hint="check SOC_CONFIG or create soc.toml")
        try:
            with path.open("rb") as fh:
                tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"not valid TOML: {exc}", file=path) from exc
    token = _CONFIG_PATH.set(path)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            lines.append(f"{loc}: {err['msg']}")
        source = str(path) if path else "SOC_* environment"
        raise ConfigError("; ".join(lines), file=source, hint="see README 'Configuration'") from exc
    finally:
        _CONFIG_PATH.reset(token)
