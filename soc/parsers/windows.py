"""Windows Security events, one per line: Winlogbeat output, ``evtx_dump -o jsonl``, NXLog,
or Event XML (``<Event xmlns=…>`` as ``wevtutil qe /f:xml``, Windows Event Forwarding and
CrowdSec's acquisition write it).

NXLog's ``to_json()`` writes one flat object (``EventID``, ``Hostname``, ``EventTime`` and
the EventData names such as ``TargetUserName`` and ``IpAddress`` at the top level); its
``EventTime`` carries no zone unless configured, so it is read in the configured timezone.
All three shapes are reduced to the same facts (time, event id, computer, channel, EventData)
and then mapped once, to the fields ``EventFactory.windows`` in ``soc.simulate.events``
produces, so detectors tested on simulated data read real domain controllers unchanged.
Event ids no detector reads are skipped, not rejected.

Event 4672 (special privileges assigned to a new logon) names the account and its logon
id, not how it logged on: Windows writes that in the 4624 of the same logon, just before
it. A 4672 therefore takes ``winlog.logon.type`` and the source (``source.ip``,
``source.domain``) of the 4624 with the same ``TargetLogonId`` on the same computer read
in the same file (``winlog.logon.id`` on both), so a detector can tell an administrator
at the console from one logging on over the network. Memory is bounded: the last
``_Logons.limit`` logons are remembered, and a 4672 read before its 4624 (a log exported
newest first) waits at most ``_Logons.wait`` lines for it, then goes out as it is.
ECS input (``--format ecs``: Winlogbeat's own output, nested or with dotted keys) gets the
same join through ``join_ecs_logons``: Winlogbeat writes ``winlog.logon.id`` on both events.
"""

from __future__ import annotations

import contextlib
import xml.etree.ElementTree as ET
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from soc.parsers.common import (
    BadLine,
    event_id,
    guarded,
    ip_or_none,
    load_json_object,
    port_or_none,
    put,
    split_user,
)
from soc.parsers.models import Parsed, ParseResult, Skipped
from soc.vocab import iso, parse_time

__all__ = [
    "EVENTS",
    "FORMAT",
    "LOGON_TYPES",
    "WindowsEvent",
    "from_evtx",
    "from_nxlog",
    "from_winlogbeat",
    "from_xml",
    "join_ecs_logons",
    "parse_lines",
]

FORMAT = "windows-json"


@dataclass(frozen=True)
class _Kind:
    category: str
    types: tuple[str, ...]
    action: str
    outcome: str  # "status" when it depends on EventData.Status (0x0 is success)
    user: str = "Target"  # which EventData user the event is about: Target… or Subject…


EVENTS: dict[str, _Kind] = {
    "4624": _Kind("authentication", ("start",), "logged-in", "success"),
    "4625": _Kind("authentication", ("start",), "logon-failed", "failure"),
    "4648": _Kind("authentication", ("start",), "logged-in-explicit", "success", user="Subject"),
    "4672": _Kind("iam", ("admin",), "logged-in-special", "success", user="Subject"),
    "4740": _Kind("iam", ("user", "change"), "locked-out-account", "success"),
    "4768": _Kind("authentication", ("start",), "kerberos-authentication-ticket-requested", "status"),
    "4769": _Kind("authentication", ("start",), "kerberos-service-ticket-requested", "status"),
    "4771": _Kind("authentication", ("start",), "kerberos-preauth-failed", "failure"),
    "4776": _Kind("authentication", ("start",), "credential-validated", "status"),
}
LOGON_TYPES = {
    "2": "Interactive",
    "3": "Network",
    "4": "Batch",
    "5": "Service",
    "7": "Unlock",
    "8": "NetworkCleartext",
    "9": "NewCredentials",
    "10": "RemoteInteractive",
    "11": "CachedInteractive",
}


@dataclass(frozen=True)
class WindowsEvent:
    """The facts both JSON shapes carry."""

    at: datetime
    code: str
    computer: str | None
    channel: str | None
    provider: str | None
    record_id: str | None
    data: dict[str, str]
    host_name: str | None = None  # host.name as the shipper wrote it (Winlogbeat), kept as is
    # source.* as Winlogbeat's pipeline wrote it: it moves IpAddress/IpPort out of event_data for 4768/4769/4771
    source_ip: str | None = None
    source_port: str | None = None


def _scalar_strings(data: object) -> dict[str, str]:
    """EventData as ``name -> string``: strings keep one Elasticsearch type per field
    whatever the producer wrote (``"LogonType": 3`` here, ``"3"`` there)."""
    if isinstance(data, list):  # evtx XML shape: [{"#attributes": {"Name": n}, "#text": v}]
        pairs: dict[str, Any] = {}
        for item in data:
            name = _attribute(item, "Name") if isinstance(item, dict) else None
            if name is not None:
                pairs[name] = item.get("#text")
        data = pairs
    if not isinstance(data, dict):
        return {}
    if "Data" in data and isinstance(data["Data"], list):
        return _scalar_strings(data["Data"])
    return {str(k): str(v) for k, v in data.items() if isinstance(v, str | int | float) and not isinstance(v, bool)}


def _attribute(node: object, name: str) -> str | None:
    """``node["#attributes"][name]`` as a string, None when any level is missing or of
    another shape (an ``#attributes`` that is a string, a list...)."""
    attributes = node.get("#attributes") if isinstance(node, dict) else None
    value = attributes.get(name) if isinstance(attributes, dict) else None
    return _str(value)


def _code(value: object) -> str:
    if isinstance(value, dict):  # evtx: {"#attributes": {"Qualifiers": …}, "#text": 4625}
        value = value.get("#text")
    text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if not text.isdigit():
        raise BadLine(f"event id {value!r} is not a number")
    return text


def _time(value: object, what: str) -> datetime:
    if not isinstance(value, str):
        raise BadLine(f"{what} is missing")
    try:
        return parse_time(value)
    except ValueError as exc:
        raise BadLine(f"{what}: {exc}") from None


def _str(value: object) -> str | None:
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None


def from_evtx(obj: Mapping[str, Any]) -> WindowsEvent:
    """``{"Event": {"System": {...}, "EventData": {...}}}`` as ``evtx_dump -o jsonl`` writes it."""
    event = obj["Event"]
    system = event.get("System") if isinstance(event, dict) else None
    if not isinstance(system, dict):
        raise BadLine("Event.System is missing")
    return WindowsEvent(
        at=_time(
            _attribute(system.get("TimeCreated"), "SystemTime"), "Event.System.TimeCreated.#attributes.SystemTime"
        ),
        code=_code(system.get("EventID")),
        computer=_str(system.get("Computer")),
        channel=_str(system.get("Channel")),
        provider=_attribute(system.get("Provider"), "Name"),
        record_id=_str(system.get("EventRecordID")),
        data=_scalar_strings(event.get("EventData")),
    )


def from_winlogbeat(obj: Mapping[str, Any]) -> WindowsEvent:
    """A Winlogbeat document: ``@timestamp``, ``winlog.event_id``, ``winlog.event_data``."""
    winlog = obj["winlog"]
    if not isinstance(winlog, dict):
        raise BadLine("winlog must be an object")
    event = obj["event"] if isinstance(obj.get("event"), dict) else {}
    host = obj["host"] if isinstance(obj.get("host"), dict) else {}
    source = obj["source"] if isinstance(obj.get("source"), dict) else {}
    return WindowsEvent(
        at=_time(obj.get("@timestamp"), "@timestamp"),
        code=_code(winlog.get("event_id", event.get("code"))),
        computer=_str(winlog.get("computer_name") or host.get("name")),
        channel=_str(winlog.get("channel")),
        provider=_str(winlog.get("provider_name") or event.get("provider")),
        record_id=_str(winlog.get("record_id")),
        data=_scalar_strings(winlog.get("event_data")),
        host_name=_str(host.get("name")),
        source_ip=_str(source.get("ip")),
        source_port=_str(source.get("port")),
    )


# NXLog's own fields (im_msvistalog); every other top-level scalar is EventData
_NXLOG_SYSTEM = frozenset(
    {
        "EventTime", "EventReceivedTime", "Hostname", "EventID", "SourceName", "ProviderGuid", "Channel",
        "RecordNumber", "Keywords", "EventType", "SeverityValue", "Severity", "Version", "Task", "OpcodeValue",
        "Opcode", "ActivityID", "ProcessID", "ThreadID", "Category", "Message", "SourceModuleName",
        "SourceModuleType", "ERRORCODE", "@timestamp",
    }
)  # fmt: skip


def from_nxlog(obj: Mapping[str, Any], *, tz: ZoneInfo) -> WindowsEvent:
    """A flat NXLog record: ``{"EventTime": …, "Hostname": …, "EventID": 4625, "TargetUserName": …}``."""
    stamp = obj.get("EventTime", obj.get("@timestamp"))
    if not isinstance(stamp, str):
        raise BadLine("EventTime is missing")
    text = stamp.strip()
    try:
        at = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        raise BadLine(f"EventTime: not a time: {stamp!r}") from None
    if at.tzinfo is None:  # NXLog's default: the collector's local time, without a zone
        at = at.replace(tzinfo=tz)
    data = {k: v for k, v in obj.items() if k not in _NXLOG_SYSTEM}
    return WindowsEvent(
        at=at,
        code=_code(obj.get("EventID")),
        computer=_str(obj.get("Hostname")),
        channel=_str(obj.get("Channel")),
        provider=_str(obj.get("SourceName")),
        record_id=_str(obj.get("RecordNumber")),
        data=_scalar_strings(data),
    )


def to_ecs(ev: WindowsEvent, kind: _Kind) -> dict[str, Any]:
    """The ECS document for one supported event (without ``event.id``)."""
    data = dict(ev.data)
    status = data.get("Status", "")
    outcome = kind.outcome
    if outcome == "status":
        outcome = "success" if status.lower() in ("", "0x0", "0") else "failure"
    doc: dict[str, Any] = {
        "@timestamp": iso(ev.at),
        "event": {
            "kind": "event",
            "category": [kind.category],
            "type": list(kind.types),
            "action": kind.action,
            "outcome": outcome,
            "code": ev.code,
            "provider": ev.provider or "Microsoft-Windows-Security-Auditing",
            "module": "windows",
            "dataset": "windows.security" if (ev.channel or "Security") == "Security" else "windows.forwarded",
        },
    }
    name, domain = split_user(data.get(f"{kind.user}UserName"))
    if name and "@" in name and ev.code in ("4768", "4769"):  # Kerberos names "user@REALM"
        name, _, realm = name.partition("@")
        domain = domain or realm.upper() or None
    if ev.code == "4740":  # TargetDomainName of a lockout is the caller's computer, not a domain
        domain = domain or (data.get("SubjectDomainName") or None)
    else:
        domain = domain or (data.get(f"{kind.user}DomainName") or None)
    put(doc, "user.name", name)
    put(doc, "user.domain", domain if domain != "-" else None)
    if kind.user == "Subject":
        put(doc, "user.target.name", split_user(data.get("TargetUserName"))[0])
    if "IpAddress" in data or ev.source_ip is not None:
        ip = ip_or_none(data.get("IpAddress", ev.source_ip))
        if ip is not None and "IpAddress" in data:
            data["IpAddress"] = ip
        put(doc, "source.ip", ip)
        if ip is not None:
            with contextlib.suppress(BadLine):  # a nonsense port does not make the logon less real
                put(doc, "source.port", port_or_none(data.get("IpPort", ev.source_port), "IpPort"))
    workstation = _workstation(data.get("WorkstationName") or data.get("Workstation"))
    put(doc, "source.domain", workstation)  # the key of a logon that has no address
    if ev.host_name:
        put(doc, "host.name", ev.host_name)
    elif ev.computer:
        put(doc, "host.name", ev.computer.split(".", 1)[0])
    if ev.host_name or ev.computer:
        put(doc, "host.os.type", "windows")
    winlog: dict[str, Any] = {"event_id": ev.code}
    put(winlog, "channel", ev.channel)
    put(winlog, "computer_name", ev.computer)
    put(winlog, "record_id", ev.record_id)
    logon_type = data.get("LogonType")
    if logon_type:
        put(winlog, "logon.type", LOGON_TYPES.get(logon_type, logon_type))
    logon_id = data.get("TargetLogonId" if ev.code == "4624" else "SubjectLogonId" if ev.code == "4672" else "")
    if logon_id and logon_id not in ("-", "0x0"):
        put(winlog, "logon.id", logon_id.lower())
    winlog["event_data"] = data
    doc["winlog"] = winlog
    put(doc, "related.user", [name] if name else None)
    put(doc, "related.ip", [doc["source"]["ip"]] if "ip" in doc.get("source", {}) else None)
    return doc


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def from_xml(text: str) -> WindowsEvent:
    """One ``<Event>`` element: ``System`` (EventID, TimeCreated@SystemTime, Computer…) and
    ``EventData/Data[@Name]``. A DOCTYPE or entity declaration is refused, never expanded."""
    if "<!" in text:
        raise BadLine("Event XML with a declaration (<!DOCTYPE, <!ENTITY) is not read")
    try:
        root = ET.fromstring(text)  # noqa: S314 - no DTD can reach here (refused above)
    except ET.ParseError as exc:
        raise BadLine(f"not valid Event XML: {exc}") from None
    if _local(root.tag) != "Event":
        raise BadLine(f"expected an <Event> element, got <{_local(root.tag)[:40]}>")
    system = next((child for child in root if _local(child.tag) == "System"), None)
    if system is None:
        raise BadLine("Event/System is missing")
    fields = {_local(child.tag): child for child in system}
    created = fields.get("TimeCreated")
    provider = fields.get("Provider")
    data: dict[str, Any] = {}
    for section in root:
        if _local(section.tag) == "EventData":
            for item in section:
                name = item.get("Name")
                if _local(item.tag) == "Data" and name and item.text is not None:
                    data[name] = item.text

    def text_of(name: str) -> str | None:
        node = fields.get(name)
        return node.text.strip() if node is not None and node.text and node.text.strip() else None

    return WindowsEvent(
        at=_time(created.get("SystemTime") if created is not None else None, "Event/System/TimeCreated@SystemTime"),
        code=_code(text_of("EventID")),
        computer=text_of("Computer"),
        channel=text_of("Channel"),
        provider=provider.get("Name") if provider is not None else None,
        record_id=text_of("EventRecordID"),
        data=_scalar_strings(data),
    )


def _workstation(value: str | None) -> str | None:
    """``\\\\PC-0123`` → ``pc-0123``; ``-``, empty and ``localhost`` names nothing."""
    text = (value or "").strip().lstrip("\\").lower()
    return text if text and text not in ("-", "localhost", "127.0.0.1", "::1") else None


def _line(raw: str, where: str, *, tz: ZoneInfo) -> Iterator[ParseResult]:
    ev = from_xml(raw.strip()) if raw.lstrip().startswith("<") else _from_json(raw, tz=tz)
    kind = EVENTS.get(ev.code)
    if kind is None:
        yield Skipped(where, f"event id {ev.code} is not one soc reads")
        return
    doc = to_ecs(ev, kind)
    doc["event"]["id"] = event_id(FORMAT, raw)
    yield Parsed(where, doc, text=raw)


def _from_json(raw: str, *, tz: ZoneInfo) -> WindowsEvent:
    obj = load_json_object(raw)
    if "Event" in obj:
        ev = from_evtx(obj)
    elif "winlog" in obj:
        ev = from_winlogbeat(obj)
    elif "EventID" in obj:
        ev = from_nxlog(obj, tz=tz)
    else:
        raise BadLine("neither a Winlogbeat event (winlog), an evtx record (Event.System) nor NXLog (EventID)")
    return ev


_Key = tuple[str, str]  # (computer, logon id)


class _Logons:
    """Gives each 4672 the logon type and source of its 4624 (same computer, same logon id)."""

    def __init__(self, limit: int = 50_000, wait: int = 64) -> None:
        self.limit = limit  # logons remembered
        self.wait = wait  # lines a 4672 waits for a 4624 written after it
        self.seen: OrderedDict[_Key, dict[str, Any]] = OrderedDict()
        self.pending: OrderedDict[_Key, list[tuple[int, Parsed]]] = OrderedDict()
        self.lines = 0

    @staticmethod
    def _key(doc: dict[str, Any]) -> _Key | None:
        computer = _field(doc, "winlog.computer_name") or _field(doc, "host.name")
        logon_id = _field(doc, "winlog.logon.id")
        if _at(doc) is None or not isinstance(logon_id, str):
            return None
        return (str(computer).lower(), logon_id.lower()) if computer and logon_id else None

    def read(self, result: ParseResult) -> Iterator[ParseResult]:
        self.lines += 1
        code = str(_field(result.doc, "event.code")) if isinstance(result, Parsed) else None
        if isinstance(result, Parsed) and code in ("4624", "4672"):
            key = self._key(result.doc)
            if key is not None:
                yield from (self._logon if code == "4624" else self._special)(key, result)
                yield from self._overdue()
                return
        yield result
        yield from self._overdue()

    def _logon(self, key: _Key, result: Parsed) -> Iterator[Parsed]:
        doc = result.doc
        facts: dict[str, Any] = {"type": _field(doc, "winlog.logon.type"), "at": _at(doc)}
        for field in ("ip", "domain"):
            facts[field] = _field(doc, f"source.{field}")
        self.seen[key] = facts
        self.seen.move_to_end(key)
        while len(self.seen) > self.limit:
            self.seen.popitem(last=False)
        yield result
        waiting = self.pending.pop(key, [])
        for _, special in waiting:
            if _together(special.doc, facts):
                yield self._enriched(special, facts)
        rest = [(n, special) for n, special in waiting if not _together(special.doc, facts)]
        if rest:
            self.pending[key] = rest

    def _special(self, key: _Key, result: Parsed) -> Iterator[Parsed]:
        facts = self.seen.get(key)
        if facts is not None and _together(result.doc, facts):
            yield self._enriched(result, facts)
            return
        self.pending.setdefault(key, []).append((self.lines, result))

    @staticmethod
    def _enriched(result: Parsed, facts: dict[str, Any]) -> Parsed:
        doc = result.doc
        if _field(doc, "winlog.logon.type") is None:
            put(doc, "winlog.logon.type", facts["type"])
        if "source" not in doc and not any(k.startswith("source.") for k in doc):  # a 4672 has none: the logon's
            put(doc, "source.ip", facts["ip"])
            put(doc, "source.domain", facts["domain"])
            put(doc, "related.ip", [facts["ip"]] if facts["ip"] else None)
        return result

    def _overdue(self) -> Iterator[Parsed]:
        while self.pending:
            key, waiting = next(iter(self.pending.items()))
            if self.lines - waiting[0][0] <= self.wait and len(self.pending) <= self.limit:
                return
            del self.pending[key]
            yield from (result for _, result in waiting)

    def flush(self) -> Iterator[Parsed]:
        for waiting in self.pending.values():
            yield from (result for _, result in waiting)
        self.pending.clear()


# Windows writes a 4672 in the same millisecond as its 4624; a logon id is reused (SYSTEM's
# 0x3e7 at every service start), so a 4624 further away in time is another logon
_TOGETHER = timedelta(seconds=5)


def _at(doc: dict[str, Any]) -> datetime | None:
    """The event's time, or None when ``@timestamp`` is not an ISO 8601 string with a zone
    (ECS input is checked at ingest, not here: such an event is simply not joined)."""
    value = doc.get("@timestamp")
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else None
    except ValueError:
        return None
    return at if at is not None and at.tzinfo is not None else None


def _together(special: dict[str, Any], facts: dict[str, Any]) -> bool:
    at, other = facts["at"], _at(special)
    return at is not None and other is not None and abs(other - at) <= _TOGETHER


def _field(doc: Any, dotted: str) -> Any:
    """``doc["a"]["b"]`` for ``"a.b"``, also when a producer wrote the key dotted
    (``{"a.b": …}`` or ``{"a": {"b.c": …}}``, or both shapes in one event); None when absent."""
    if not isinstance(doc, dict):
        return None
    if dotted in doc:
        return doc[dotted]
    head, _, rest = dotted.partition(".")
    return _field(doc.get(head), rest) if rest else None


def _ecs_logon(doc: dict[str, Any]) -> None:
    """Gives a Winlogbeat-shaped 4624 or 4672 what the join keys on, as ``to_ecs`` writes it:
    ``event.code`` a string and ``winlog.logon.id`` (from ``TargetLogonId`` or
    ``SubjectLogonId`` when the shipper left it out); a 4624's ``winlog.logon.type`` from
    ``LogonType`` (``"3"`` → ``Network``) when only the number is there."""
    code = _field(doc, "event.code") or _field(doc, "winlog.event_id")
    if str(code) not in ("4624", "4672") or not all(isinstance(doc.get(k, {}), dict) for k in ("event", "winlog")):
        return
    put(doc, "event.code", str(code))
    if _field(doc, "winlog.logon.id") is None:
        logon_id = _field(doc, "winlog.event_data." + ("TargetLogonId" if str(code) == "4624" else "SubjectLogonId"))
        if isinstance(logon_id, str) and logon_id not in ("-", "0x0"):
            put(doc, "winlog.logon.id", logon_id.lower())
    logon_type = _field(doc, "winlog.event_data.LogonType")
    if str(code) == "4624" and _field(doc, "winlog.logon.type") is None and logon_type is not None:
        put(doc, "winlog.logon.type", LOGON_TYPES.get(str(logon_type), str(logon_type)))


# a Winlogbeat event has "winlog" (or, flattened, one of these dotted keys)
_WINLOG_KEYS = ("winlog", "winlog.event_id", "winlog.computer_name", "winlog.logon.id", "winlog.event_data.LogonType")


def join_ecs_logons(results: Iterable[ParseResult]) -> Iterator[ParseResult]:
    """ECS events as read, each 4672 given the logon type and source of its 4624 (the join
    ``parse_lines`` does for raw Windows events); every other event passes unchanged."""
    logons = _Logons()
    for result in results:
        doc = result.doc if isinstance(result, Parsed) else None
        if doc is None or not any(key in doc for key in _WINLOG_KEYS):
            yield result  # not a Windows event: nothing held (the common case, kept cheap for ingest)
            continue
        _ecs_logon(doc)
        yield from logons.read(result)
    yield from logons.flush()


def parse_lines(lines: Iterable[str], *, source: str, tz: ZoneInfo, reference: datetime) -> Iterator[ParseResult]:
    """Read lines of any of the four shapes (mixed is fine). ``tz`` is the zone of
    NXLog times that carry none; ``reference`` is unused (Windows writes the year)."""
    del reference
    logons = _Logons()
    for lineno, line in enumerate(lines, start=1):
        raw = line.rstrip("\r\n")
        if not raw.strip():
            continue
        where = f"{source}:{lineno}"
        for result in guarded(where, _line(raw, where, tz=tz), raw):
            yield from logons.read(result)
    yield from logons.flush()
