"""ECS event constructors shared by the baseline and the attack scenarios.

Field names follow what Winlogbeat (Windows Security), the Entra ID sign-in
integration, VPN gateways, firewalls and DNS servers produce in ECS, so detectors
written against simulated data work on real data unchanged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from soc.network.dns import registered_domain
from soc.simulate.population import DOMAIN
from soc.vocab import iso

__all__ = ["WINDOWS_ACTIONS", "EventFactory"]


WINDOWS_ACTIONS = {
    "4624": ("authentication", "logged-in", "success"),
    "4625": ("authentication", "logon-failed", "failure"),
    "4768": ("authentication", "kerberos-authentication-ticket-requested", "success"),
    "4771": ("authentication", "kerberos-preauth-failed", "failure"),
    "4776": ("authentication", "credential-validated", "success"),
    "4740": ("iam", "locked-out-account", "success"),
    "4672": ("iam", "logged-in-special", "success"),
}
LOGON_TYPES = {"2": "Interactive", "3": "Network", "10": "RemoteInteractive"}


def _geo(country: str, location: tuple[float, float] | None) -> dict[str, Any]:
    geo: dict[str, Any] = {"country_iso_code": country}
    if location is not None:
        geo["location"] = {"lat": round(location[0], 4), "lon": round(location[1], 4)}
    return geo


class EventFactory:
    """Builds events with deterministic ids: ``<prefix>-<n>``."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.n = 0

    def _base(
        self, at: datetime, *, category: str, types: list[str], action: str, outcome: str, dataset: str
    ) -> dict[str, Any]:
        self.n += 1
        return {
            "@timestamp": iso(at),
            "event": {
                "id": f"{self.prefix}-{self.n}",
                "kind": "event",
                "category": [category],
                "type": types,
                "action": action,
                "outcome": outcome,
                "dataset": dataset,
            },
        }

    def windows(
        self,
        at: datetime,
        code: str,
        *,
        user: str,
        host: str,
        host_ip: str,
        source_ip: str | None,
        outcome: str | None = None,
        logon_type: str | None = None,
        status: str | None = None,
        workstation: str | None = None,
        sub_status: str = "0xC000006A",
        logon_id: str | None = None,
    ) -> dict[str, Any]:
        """A Windows Security event as the parsers index it. A 4672 given ``logon_type``
        and ``source_ip`` carries them as the parsers join them from its 4624 (same
        ``logon_id``), not in its own event data, which has neither."""
        category, action, default_outcome = WINDOWS_ACTIONS[code]
        types = ["start"] if category == "authentication" else ["user", "change"]
        if code == "4672":
            types = ["admin"]
        doc = self._base(
            at,
            category=category,
            types=types,
            action=action,
            outcome=outcome or default_outcome,
            dataset="windows.security",
        )
        doc["event"].update(code=code, provider="Microsoft-Windows-Security-Auditing", module="windows")
        doc["user"] = {"name": user, "domain": DOMAIN}
        doc["host"] = {"name": host, "ip": [host_ip], "os": {"type": "windows"}}
        winlog: dict[str, Any] = {"event_id": code, "channel": "Security", "computer_name": f"{host}.city.local"}
        data: dict[str, Any] = {"TargetUserName": user}
        special = code == "4672"
        if source_ip:
            doc["source"] = {"ip": source_ip}
            if not special:
                data["IpAddress"] = source_ip
        if logon_type:
            winlog["logon"] = {"type": LOGON_TYPES.get(logon_type, logon_type)}
            if not special:
                data["LogonType"] = logon_type
        if logon_id:
            winlog.setdefault("logon", {})["id"] = logon_id
            data["SubjectLogonId" if special else "TargetLogonId"] = logon_id
        if status:
            data["Status"] = status
            if code == "4625":
                data["SubStatus"] = sub_status  # 0xC000006A wrong password, 0xC0000064 no such user
        if workstation:
            data["WorkstationName"] = workstation
            if not source_ip:
                # the key of a logon without an address, normalised as the parsers write it
                # (they fill it whenever a workstation name exists; the detectors read it
                # only where no address does)
                doc.setdefault("source", {})["domain"] = workstation.lstrip("\\").lower()
        winlog["event_data"] = data
        doc["winlog"] = winlog
        return doc

    def m365_signin(
        self,
        at: datetime,
        *,
        upn: str,
        source_ip: str,
        country: str,
        success: bool,
        app: str = "Office 365 Exchange Online",
        location: tuple[float, float] | None = None,
    ) -> dict[str, Any]:
        doc = self._base(
            at,
            category="authentication",
            types=["info"],
            action="Sign-in activity",
            outcome="success" if success else "failure",
            dataset="azure.signinlogs",
        )
        doc["event"]["provider"] = "Microsoft Entra ID"
        if not success:
            doc["event"]["reason"] = "Invalid username or password (50126)"
        doc["user"] = {"name": upn, "email": upn}
        doc["source"] = {"ip": source_ip, "geo": _geo(country, location)}
        doc["network"] = {"application": app}
        return doc

    def vpn_logon(
        self,
        at: datetime,
        *,
        user: str | None,
        source_ip: str,
        country: str,
        success: bool,
        assigned_ip: str | None,
        location: tuple[float, float] | None = None,
    ) -> dict[str, Any]:
        """A VPN gateway logon as the FortiGate parser indexes it; ``user=None`` is a failure
        for a name the gateway does not know (FortiGate writes ``user="N/A"``)."""
        doc = self._base(
            at,
            category="authentication",
            types=["start"],
            action="vpn-logon" if success else "vpn-logon-failed",
            outcome="success" if success else "failure",
            dataset="vpn.gateway",
        )
        if user is not None:
            doc["user"] = {"name": user, "domain": DOMAIN}
        else:
            doc["event"]["reason"] = "sslvpn_login_unknown_user"
        doc["source"] = {"ip": source_ip, "geo": _geo(country, location)}
        doc["observer"] = {"name": "VPN-GW01", "type": "vpn", "vendor": "FortiGate"}
        doc["destination"] = {"ip": "172.16.10.5", "port": 443}
        if assigned_ip:
            doc["related"] = {"ip": [source_ip, assigned_ip]}
        return doc

    def ssh_auth(
        self, at: datetime, *, host: str, user: str, source_ip: str, port: int, action: str, invalid: bool = False
    ) -> dict[str, Any]:
        """An sshd line as ``soc ingest --format sshd`` indexes it (``system.auth``, action
        ``ssh-login-failed``, ``ssh-invalid-user``, ``ssh-disconnected-preauth``, ``ssh-login``)."""
        outcome = {"ssh-login": "success", "ssh-login-failed": "failure"}.get(action, "unknown")
        etype = "end" if action.startswith("ssh-disconnected") else "info" if action == "ssh-invalid-user" else "start"
        doc = self._base(
            at, category="authentication", types=[etype], action=action, outcome=outcome, dataset="system.auth"
        )
        doc["event"]["module"] = "system"
        doc["host"] = {"name": host}
        doc["process"] = {"name": "sshd"}
        doc["user"] = {"name": user}
        doc["source"] = {"ip": source_ip, "port": port}
        doc["related"] = {"user": [user], "ip": [source_ip]}
        if invalid:
            doc["tags"] = ["invalid-user"]
        return doc

    def ssh_protocol(
        self, at: datetime, *, host: str, source_ip: str, port: int, action: str, reason: str | None = None
    ) -> dict[str, Any]:
        """A pre-authentication sshd failure as ``soc ingest --format sshd`` indexes it (a
        network event: ``ssh-banner-exchange-failed``, ``ssh-negotiation-failed``,
        ``ssh-preauth-timeout``, ``ssh-protocol-error``, ``ssh-preauth-disconnect``)."""
        doc = self._base(
            at,
            category="network",
            types=["connection", "error"],
            action=action,
            outcome="failure",
            dataset="system.auth",
        )
        doc["event"]["module"] = "system"
        doc["host"] = {"name": host}
        doc["process"] = {"name": "sshd"}
        doc["source"] = {"ip": source_ip, "port": port}
        doc["destination"] = {"address": host}
        doc["network"] = {"protocol": "ssh", "transport": "tcp"}
        doc["related"] = {"ip": [source_ip]}
        if reason:
            doc["error"] = {"message": reason}
        return doc

    def flow(
        self,
        at: datetime,
        *,
        src: str,
        dst: str,
        port: int,
        transport: str = "tcp",
        allowed: bool = True,
        bytes_out: int = 0,
        bytes_in: int = 0,
        observer: str = "UTM-CORE",
    ) -> dict[str, Any]:
        doc = self._base(
            at,
            category="network",
            types=["connection", "allowed" if allowed else "denied"],
            action="accept" if allowed else "deny",
            outcome="success" if allowed else "failure",
            dataset="firewall.traffic",
        )
        doc["source"] = {"ip": src, "bytes": bytes_out}
        doc["destination"] = {"ip": dst, "port": port, "bytes": bytes_in}
        doc["network"] = {"transport": transport, "bytes": bytes_out + bytes_in, "direction": "outbound"}
        doc["observer"] = {"name": observer, "type": "firewall", "vendor": "Fortinet", "product": "FortiGate"}
        return doc

    def dns(
        self, at: datetime, *, src: str, server: str, name: str, rcode: str = "NOERROR", qtype: str = "A"
    ) -> dict[str, Any]:
        doc = self._base(
            at,
            category="network",
            types=["protocol"],
            action="dns-query",
            outcome="success" if rcode == "NOERROR" else "failure",
            dataset="dns",
        )
        doc["source"] = {"ip": src}
        doc["destination"] = {"ip": server, "port": 53}
        doc["network"] = {"transport": "udp", "protocol": "dns"}
        doc["dns"] = {
            "question": {"name": name, "type": qtype, "registered_domain": registered_domain(name) or name},
            "response_code": rcode,
        }
        return doc
