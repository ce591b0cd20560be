"""The ECS fields soc reads and writes, with their Elasticsearch types.

One table serves two purposes: it builds the event index template, and detector
validation checks every field a detector names against it (a typo such as
``user.nmae`` is an error, not a detector that silently never fires).
"""

from __future__ import annotations

__all__ = ["EVENT_FIELDS", "field_type", "is_known_field"]

EVENT_FIELDS: dict[str, str] = {
    "@timestamp": "date",
    "message": "text",
    "tags": "keyword",
    "labels": "object",
    # event
    "event.id": "keyword",
    "event.kind": "keyword",
    "event.category": "keyword",
    "event.type": "keyword",
    "event.action": "keyword",
    "event.outcome": "keyword",
    "event.code": "keyword",
    "event.provider": "keyword",
    "event.dataset": "keyword",
    "event.module": "keyword",
    "event.reason": "keyword",
    "event.created": "date",
    "event.ingested": "date",
    "event.duration": "long",
    "event.severity": "long",
    # user
    "user.name": "keyword",
    "user.domain": "keyword",
    "user.id": "keyword",
    "user.email": "keyword",
    "user.roles": "keyword",
    "user.target.name": "keyword",
    # source / destination
    "source.ip": "ip",
    "source.port": "long",
    "source.address": "keyword",
    "source.domain": "keyword",
    "source.bytes": "long",
    "source.packets": "long",
    "source.geo.country_iso_code": "keyword",
    "source.geo.country_name": "keyword",
    "source.geo.city_name": "keyword",
    "source.geo.location": "geo_point",
    "source.as.number": "long",
    "source.as.organization.name": "keyword",
    "destination.ip": "ip",
    "destination.port": "long",
    "destination.address": "keyword",
    "destination.domain": "keyword",
    "destination.bytes": "long",
    "destination.packets": "long",
    "destination.geo.country_iso_code": "keyword",
    # network
    "network.transport": "keyword",
    "network.protocol": "keyword",
    "network.direction": "keyword",
    "network.bytes": "long",
    "network.packets": "long",
    "network.application": "keyword",
    # host / observer
    "host.name": "keyword",
    "host.hostname": "keyword",
    "host.ip": "ip",
    "host.os.type": "keyword",
    "observer.name": "keyword",
    "observer.type": "keyword",
    "observer.vendor": "keyword",
    "observer.product": "keyword",
    "observer.ingress.zone": "keyword",
    "observer.egress.zone": "keyword",
    # dns / url / tls
    "dns.question.name": "keyword",
    "dns.question.type": "keyword",
    "dns.question.registered_domain": "keyword",
    "dns.question.subdomain": "keyword",
    "dns.question.top_level_domain": "keyword",
    "dns.response_code": "keyword",
    "url.domain": "keyword",
    "url.full": "keyword",
    "url.original": "keyword",
    "url.path": "keyword",
    "url.port": "long",
    "url.scheme": "keyword",
    "http.request.method": "keyword",
    "http.response.status_code": "long",
    "tls.version": "keyword",
    "tls.version_protocol": "keyword",
    "tls.cipher": "keyword",
    "tls.established": "boolean",
    "tls.client.server_name": "keyword",
    "zeek.session_id": "keyword",
    "user_agent.original": "keyword",
    "rule.name": "keyword",
    # Windows specifics that ECS maps under winlog
    "winlog.event_id": "keyword",
    "winlog.channel": "keyword",
    "winlog.computer_name": "keyword",
    "winlog.logon.type": "keyword",
    "winlog.event_data.LogonType": "keyword",
    "winlog.event_data.Status": "keyword",
    "winlog.event_data.SubStatus": "keyword",
    "winlog.event_data.TargetUserName": "keyword",
    "winlog.event_data.IpAddress": "keyword",
    "winlog.event_data.WorkstationName": "keyword",
    "source.user.name": "keyword",
    "related.user": "keyword",
    "related.ip": "ip",
    "related.hosts": "keyword",
    # ours: the municipal network segment of the event, its source and its destination
    "soc.segment": "keyword",
    "soc.source_segment": "keyword",
    "soc.destination_segment": "keyword",
    # ours: a digest of the event's content, to tell a re-ingest from a conflicting event.id
    "soc.digest": "keyword",
    # ours: the destination is a sanctioned local-breakout address or domain
    "soc.local_breakout": "boolean",
    # ours: DNS query shape, computed at ingest by soc.network.dns (tunnels use long, random-looking names)
    "soc.dns.name_length": "long",
    "soc.dns.subdomain_entropy": "double",
    # Filebeat's system/auth module: what the sshd line said (Failed, Accepted, Invalid)
    "system.auth.ssh.event": "keyword",
    "system.auth.ssh.method": "keyword",
    # ours: user.name as an ECS producer wrote it, when soc lower-cased it (see soc.parsers.common)
    "soc.user.original_name": "keyword",
    # ours: keyword values too long to index, kept whole (see soc.es.keywords)
    "soc.long_values": "stored",
}


def is_known_field(name: str) -> bool:
    return name in EVENT_FIELDS and EVENT_FIELDS[name] != "object"


def field_type(name: str) -> str | None:
    return EVENT_FIELDS.get(name)
