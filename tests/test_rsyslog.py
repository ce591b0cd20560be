"""A real ``rsyslogd`` with ``deploy/rsyslog/soc-remote.conf`` feeding ``soc ingest --follow``.

rsyslogd runs in the foreground on loopback, unprivileged ports, with its own work
directory and pid file (never the system one). Messages are sent with ``logger`` (util-linux)
and raw sockets, as network devices send them.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from soc.collect.follower import Follower, FollowOptions
from soc.collect.offsets import OffsetStore
from soc.config import Settings
from soc.context import AppContext
from soc.vocab import iso
from tests.peers import free_port
from tests.test_follow import running, wait_for

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "deploy" / "rsyslog" / "soc-remote.conf"


def _rsyslogd() -> str:
    found = shutil.which("rsyslogd") or ("/usr/sbin/rsyslogd" if Path("/usr/sbin/rsyslogd").exists() else None)
    if found is None:
        pytest.fail("rsyslogd is not installed: run scripts/install-system-deps.sh (Debian package rsyslog)")
    return found


@dataclass
class Syslog:
    udp: int
    tcp: int
    logs: Path

    def send_udp(self, line: str) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(line.encode(), ("127.0.0.1", self.udp))

    def send_tcp(self, lines: list[str]) -> None:
        with socket.create_connection(("127.0.0.1", self.tcp)) as s:
            s.sendall("".join(f"{x}\n" for x in lines).encode())

    def logger(self, *args: str) -> None:
        subprocess.run(["logger", "--server", "127.0.0.1", *args], check=True, timeout=10)


@pytest.fixture
def syslog(tmp_path: Path) -> Iterator[Syslog]:
    work, logs = tmp_path / "rsyslog-work", tmp_path / "remote"
    work.mkdir()
    logs.mkdir()
    udp, tcp = free_port(), free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "TZ": "UTC",
        "SOC_SYSLOG_ADDRESS": "127.0.0.1",
        "SOC_SYSLOG_UDP_PORT": str(udp),
        "SOC_SYSLOG_TCP_PORT": str(tcp),
        "SOC_SYSLOG_DIR": str(logs),
        "SOC_RSYSLOG_WORKDIR": str(work),
    }
    cmd = [_rsyslogd(), "-n", "-f", str(CONFIG), "-i", str(work / "rsyslogd.pid")]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", tcp), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, proc.communicate()[0].decode()
                time.sleep(0.1)
        else:
            raise AssertionError("rsyslogd did not listen")
        yield Syslog(udp, tcp, logs)
    finally:
        proc.terminate()
        out = proc.communicate(timeout=20)[0].decode()
        assert "error" not in out.lower(), out  # a config rsyslogd half-understood says so here


def auth_events(ctx: AppContext) -> list[dict[str, Any]]:
    ctx.es.refresh(ctx.es.index_name("events-auth"))
    res = ctx.es.search(ctx.es.index_name("events-auth"), {"size": 1000, "sort": [{"@timestamp": "asc"}]})
    return [h["_source"] for h in res["hits"]["hits"]]


def test_rfc3164_and_rfc5424_over_udp_and_tcp_become_events_in_per_host_files(ctx: AppContext, syslog: Syslog) -> None:
    base = ["-t", "sshd", "-p", "auth.info"]
    syslog.logger(
        "--port",
        str(syslog.udp),
        "--udp",
        "--rfc3164",
        *base,
        "Failed password for root from 203.0.113.1 port 4001 ssh2",
    )
    syslog.logger(
        "--port",
        str(syslog.tcp),
        "--tcp",
        "--rfc3164",
        *base,
        "Failed password for root from 203.0.113.2 port 4002 ssh2",
    )
    syslog.logger(
        "--port",
        str(syslog.udp),
        "--udp",
        "--rfc5424",
        *base,
        "Failed password for root from 203.0.113.3 port 4003 ssh2",
    )
    syslog.logger("--port", str(syslog.tcp), "--tcp", "--octet-count", "--rfc5424", *base,
                  "Accepted publickey for admin from 10.20.0.9 port 4004 ssh2")  # fmt: skip
    # another host, RFC 5424 with a pid; and a host name that tries to climb out of the directory
    syslog.send_tcp(
        ["<38>1 2026-11-29T05:20:02.5Z srv01 sshd 77 - - Failed password for bob from 10.30.1.2 port 5 ssh2"]
    )
    syslog.send_udp("<38>Nov 29 05:20:01 ../../../etc sshd[12]: Failed password for eve from 10.30.1.3 port 6 ssh2")
    opts = FollowOptions(fmt="auto", poll_seconds=0.05, discover_seconds=0.2)
    follower = Follower(ctx.es, [syslog.logs], segments=ctx.segments, tz=ctx.settings.tz, options=opts)
    with running(follower):
        wait_for(lambda: len(auth_events(ctx)) == 5, "five events")
    events = auth_events(ctx)
    assert sorted(e["source"]["ip"] for e in events) == [
        "10.20.0.9", "10.30.1.2", "203.0.113.1", "203.0.113.2", "203.0.113.3"
    ]  # fmt: skip
    assert {e["event"]["outcome"] for e in events} == {"failure", "success"}
    srv01 = next(e for e in events if e["source"]["ip"] == "10.30.1.2")
    assert srv01["host"]["name"] == "srv01" and srv01["@timestamp"].startswith("2026-11-29T05:20:02.5")
    assert srv01["soc"]["source_segment"] == "internet"  # enriched from the segment map
    files = sorted(p.relative_to(syslog.logs).as_posix() for p in syslog.logs.rglob("*") if p.is_file())
    assert "srv01/syslog.log" in files
    # rsyslogd does not take "../../../etc" for a host name: the line lands in the sender's file,
    # where its "program" is not sshd (skipped, counted), and nothing is written outside the directory
    assert any("../../../etc sshd[12]" in (syslog.logs / f).read_text() for f in files)
    assert all(p.resolve().is_relative_to(syslog.logs) for p in syslog.logs.rglob("*"))
    assert not (syslog.logs.parent.parent / "etc").exists()


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOC_")}
    return env | {"SOC_ES_URL": settings.es_url, "SOC_INDEX_PREFIX": settings.index_prefix} | extra


def test_ssh_brute_force_through_rsyslog_is_alerted_with_the_follower_killed_midway(
    ctx: AppContext, settings: Settings, syslog: Syslog, tmp_path: Path
) -> None:
    """The issue's "done when": rsyslogd + ``soc ingest --follow`` + the scheduler, an SSH
    brute force sent as syslog, the follower killed (-9) and restarted in the middle; the
    alert is recorded and counts every attempt exactly once."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    attempts = 30

    def attempt(i: int) -> tuple[datetime, str]:
        return start + timedelta(seconds=5 * i), f"Failed password for root from 203.0.113.77 port {40000 + i} ssh2"

    follow = [str(Path(sys.executable).parent / "soc"), "ingest", "--follow", "--format", "auto", str(syslog.logs)]
    env = _env(settings)
    follower = subprocess.Popen(follow, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    restarted: subprocess.Popen[bytes] | None = None
    scheduler: subprocess.Popen[bytes] | None = None
    try:
        # first half: RFC 5424 over TCP
        syslog.send_tcp([f"<38>1 {at.isoformat()} srv01 sshd 812 - - {msg}" for at, msg in map(attempt, range(15))])
        wait_for(lambda: len(auth_events(ctx)) == 15, "the first half indexed", timeout=60)
        log = syslog.logs / "srv01" / "syslog.log"
        store = OffsetStore(ctx.es)
        wait_for(lambda: (o := store.load(str(log))) is not None and o.line == 15, "its offset saved")
        follower.send_signal(signal.SIGKILL)
        follower.wait(10)
        # second half, while the follower is dead: RFC 3164 over UDP, with noise around it
        for i in range(15, attempts):
            at, msg = attempt(i)
            syslog.send_udp(f"<38>{at:%b} {at.day:>2} {at:%H:%M:%S} srv01 sshd[813]: {msg}")
            if i % 5 == 0:
                syslog.send_udp(f"<78>{at:%b} {at.day:>2} {at:%H:%M:%S} srv01 CRON[99]: (root) CMD (run-parts)")
        wait_for(lambda: log.read_text().count("203.0.113.77") == attempts, "rsyslogd to write the second half")
        saved = store.load(str(log))
        assert saved is not None and 0 < saved.position < log.stat().st_size  # killed in the middle
        restarted = subprocess.Popen(follow, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_for(lambda: len(auth_events(ctx)) == attempts, "every attempt indexed", timeout=60)
        # the scheduler, with every shipped detector, while the follower keeps running
        scheduler = subprocess.Popen(
            [sys.executable, "scheduler.py"],
            cwd=REPO,
            env=_env(
                settings,
                SOC_OUT_DIR=str(tmp_path / "out"),
                SOC_KIBANA_URL="https://kibana.city.example:5601",
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

        def alert() -> dict[str, Any] | None:
            ctx.es.refresh(ctx.es.index_name("alerts"))
            q = {"query": {"term": {"soc.alert.detector": "failed-login-burst"}}}
            hits = ctx.es.search(ctx.es.index_name("alerts"), q)["hits"]["hits"]
            return hits[0]["_source"] if hits else None

        def alerted() -> bool:
            assert scheduler is not None
            if scheduler.poll() is not None:  # it refused to start or died: say why
                raise AssertionError(scheduler.communicate()[1].decode()[-3000:])
            return alert() is not None

        wait_for(alerted, "the brute-force alert", timeout=120)
        restarted.send_signal(signal.SIGTERM)
        out, err = restarted.communicate(timeout=30)
        assert restarted.returncode == 0, err.decode()
    finally:
        for proc in (follower, restarted, scheduler):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(30)
    found = alert()
    assert found is not None
    assert found["soc"]["alert"]["entity"] == {"user.name": "root", "source.ip": "203.0.113.77"}
    assert found["soc"]["alert"]["count"] == attempts  # every attempt once: none lost, none doubled
    assert found["event"]["url"].startswith("https://kibana.city.example:5601/app/discover#/?_g=")  # kibana_url
    events = auth_events(ctx)
    assert len(events) == attempts == len({e["event"]["id"] for e in events})
    assert [e["@timestamp"] for e in events] == [iso(attempt(i)[0]) for i in range(attempts)]
    summary = dict(x.split(": ", 1) for x in out.decode().splitlines() if ": " in x)
    assert 0 < int(summary["lines"]) < attempts + 3 + 1  # the restart read on from its offset


def test_fortigate_and_cef_sent_as_syslog_become_events(ctx: AppContext, syslog: Syslog) -> None:
    """As devices send them: FortiGate with no syslog header at all (rsyslogd files it under the
    sender's address), CEF behind an RFC 3164 header (rsyslogd takes "CEF:" for a tag)."""
    syslog.send_udp(
        '<189>date=2026-11-29 time=10:00:00 devname="fw01" devid="FG100F" logid="0101039947" type="event" '
        'subtype="vpn" action="tunnel-up" tunneltype="ssl-tunnel" remip=203.0.113.5 user="CITY\\\\Bob"'
    )
    syslog.send_tcp(["<134>Nov 29 10:00:01 proxy01 CEF:0|Security|threatmanager|1.0|100|worm successfully "
                     "stopped|10|src=10.0.0.1 dst=2.1.2.2 spt=1232"])  # fmt: skip
    opts = FollowOptions(fmt="auto", poll_seconds=0.05, discover_seconds=0.2)
    follower = Follower(ctx.es, [syslog.logs], segments=ctx.segments, tz=ctx.settings.tz, options=opts)

    def network() -> list[dict[str, Any]]:
        ctx.es.refresh(ctx.es.index_name("events-network"))
        return [h["_source"] for h in ctx.es.search(ctx.es.index_name("events-network"), {})["hits"]["hits"]]

    with running(follower) as f:
        wait_for(lambda: len(auth_events(ctx)) == 1 and len(network()) == 1, "the VPN logon and the CEF alert")
    assert f.stats.rejected == 0
    (vpn,) = auth_events(ctx)
    assert vpn["event"]["dataset"] == "vpn.gateway" and vpn["event"]["outcome"] == "success"
    assert vpn["user"] == {"name": "bob", "domain": "CITY"} and vpn["source"]["ip"] == "203.0.113.5"
    assert vpn["@timestamp"] == "2026-11-29T01:00:00.000Z"  # no tz field: the configured Asia/Tokyo
    (cef,) = network()
    assert cef["event"]["kind"] == "alert" and cef["observer"]["name"] == "proxy01"
    assert cef["source"]["ip"] == "10.0.0.1" and cef["rule"]["name"] == "worm successfully stopped"
