"""``soc ingest --follow`` against the real node: rotation both ways, restarts, outages.

Every line carries its own ``event.id``, so "no event lost or doubled" is checked as: the
set of ids in the index is exactly the set of ids written.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from soc.collect.follower import Follower, FollowOptions, is_rotated_name
from soc.collect.models import FollowStats
from soc.collect.offsets import OffsetStore
from soc.config import Settings, load_settings
from soc.context import AppContext
from soc.errors import ElasticsearchRequestError
from soc.es.client import EsGateway, build_client
from soc.es.outage import OUTAGE_FILE
from soc.parsers import Rejected
from tests.peers import free_port

REPO = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)
FAST = FollowOptions(
    fmt="ecs", poll_seconds=0.05, discover_seconds=0.2, rotate_grace=0.3, gone_after=1.5, max_backoff=1.0
)


def line(n: int, tag: str = "a") -> str:
    doc = {
        "@timestamp": (T0 + timedelta(seconds=n)).isoformat(),
        "event": {"id": f"{tag}-{n}", "category": ["authentication"], "outcome": "failure"},
        "source": {"ip": "10.20.0.5"},
        "user": {"name": f"user{n % 7}"},
    }
    return json.dumps(doc) + "\n"


def append(path: Path, lines: range, tag: str = "a") -> set[str]:
    with path.open("a", encoding="utf-8") as fh:
        fh.write("".join(line(n, tag) for n in lines))
    return {f"{tag}-{n}" for n in lines}


def indexed_ids(ctx: AppContext) -> list[str]:
    ctx.es.refresh(ctx.es.index_name("events-auth"))
    res = ctx.es.search(ctx.es.index_name("events-auth"), {"size": 10000, "_source": ["event.id"]})
    return [h["_source"]["event"]["id"] for h in res["hits"]["hits"]]


def wait_for(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except ElasticsearchRequestError:  # e.g. 503 while an index is being created: ask again
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def running(follower: Follower) -> Iterator[Follower]:
    thread = threading.Thread(target=follower.run, daemon=True)
    thread.start()
    try:
        yield follower
    finally:
        follower.stop.set()
        thread.join(30)
        assert not thread.is_alive()


def make(ctx: AppContext, paths: list[Path], options: FollowOptions = FAST, **kw: Any) -> Follower:
    return Follower(ctx.es, paths, segments=ctx.segments, tz=ctx.settings.tz, options=options, **kw)


def test_rotated_names_are_not_followed_twice() -> None:
    assert all(is_rotated_name(n) for n in ("auth.log.1", "auth.log.2.gz", "auth.log-20261129", "x.zst"))
    assert not any(is_rotated_name(n) for n in ("auth.log", "fw01.log", "conn.log", "10.20.0.1.log"))


def test_rename_rotation_reads_the_old_file_to_its_end_then_the_new(ctx: AppContext, tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    want = append(log, range(0, 50))
    with running(make(ctx, [log])) as f:
        wait_for(lambda: len(indexed_ids(ctx)) == 50, "the first 50 lines")
        want |= append(log, range(50, 60))  # written just before logrotate renames the file...
        log.rename(tmp_path / "auth.log.1")
        want |= append(tmp_path / "auth.log.1", range(60, 65))  # ...and by a writer that has not reopened yet
        want |= append(log, range(65, 100))  # the new file
        wait_for(lambda: len(indexed_ids(ctx)) == 100, "every line of both files")
        wait_for(lambda: f.stats.rotations >= 1, "the rotation counted")  # stats lag the index by a moment
    ids = indexed_ids(ctx)
    assert sorted(ids) == sorted(want)  # none lost, none doubled


def test_copy_truncate_rotation_starts_again_at_the_top(ctx: AppContext, tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    want = append(log, range(0, 40))
    with running(make(ctx, [log])) as f:
        wait_for(lambda: len(indexed_ids(ctx)) == 40, "the first 40 lines")
        (tmp_path / "auth.log.1").write_bytes(log.read_bytes())  # copy...
        with log.open("r+") as fh:  # ...then truncate in place (same inode)
            fh.truncate(0)
        want |= append(log, range(40, 45), tag="b")  # shorter than before
        wait_for(lambda: len(indexed_ids(ctx)) == 45, "the lines after the truncation")
        # truncated, then refilled past the old position between two looks: the first line tells
        with log.open("r+") as fh:
            fh.truncate(0)
        want |= append(log, range(100, 200), tag="c")
        wait_for(lambda: len(indexed_ids(ctx)) == 145, "the refilled file")
        wait_for(lambda: f.stats.truncations >= 1, "the truncation counted")
    assert sorted(indexed_ids(ctx)) == sorted(want)


def test_a_line_being_written_waits_for_its_newline(ctx: AppContext, tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    whole = line(1)
    log.write_text(whole[:30], encoding="utf-8")  # half a line
    rejected: list[Rejected] = []
    with running(make(ctx, [log], on_rejected=rejected.append)) as f:
        time.sleep(0.5)
        assert f.stats.lines == 0 and not rejected
        with log.open("a", encoding="utf-8") as fh:
            fh.write(whole[30:])
        wait_for(lambda: indexed_ids(ctx) == ["a-1"], "the completed line")
    assert not rejected


def test_directory_follows_new_files_and_names_file_and_line_of_a_bad_one(ctx: AppContext, tmp_path: Path) -> None:
    hosts = tmp_path / "remote"
    (hosts / "srv01").mkdir(parents=True)
    want = append(hosts / "srv01" / "auth.log", range(0, 5))
    (hosts / "srv01" / "auth.log.1").write_text(line(999), encoding="utf-8")  # rotated copy: not read again
    rejected: list[Rejected] = []
    with running(make(ctx, [hosts], on_rejected=rejected.append)):
        wait_for(lambda: len(indexed_ids(ctx)) == 5, "srv01")
        (hosts / "srv02").mkdir()
        bad = hosts / "srv02" / "auth.log"
        bad.write_text(line(10, "b") + '{"broken": \n' + line(11, "b"), encoding="utf-8")
        want |= {"b-10", "b-11"}
        wait_for(lambda: len(indexed_ids(ctx)) == 7, "srv02, a file created after the start")
    assert sorted(indexed_ids(ctx)) == sorted(want)
    assert [r.source for r in rejected] == [f"{bad}:2"]
    assert "not valid JSON" in rejected[0].reason


def test_restart_resumes_at_the_saved_offset_even_after_a_rotation_while_stopped(
    ctx: AppContext, tmp_path: Path
) -> None:
    log = tmp_path / "auth.log"
    want = append(log, range(0, 30))
    with running(make(ctx, [log])):
        wait_for(lambda: len(indexed_ids(ctx)) == 30, "the first lines")
    saved = OffsetStore(ctx.es).load(str(log.absolute()))
    assert saved is not None and saved.position == log.stat().st_size and saved.line == 30
    # while stopped: more lines, then logrotate renames, then the new file fills
    want |= append(log, range(30, 40))
    log.rename(tmp_path / "auth.log.1")
    want |= append(log, range(40, 55))
    with running(make(ctx, [log])) as f:
        wait_for(lambda: len(indexed_ids(ctx)) == 55, "the rest of the old file and the new one")
        wait_for(lambda: f.stats.lines == 25, "the batches of the restarted follower")
    assert sorted(indexed_ids(ctx)) == sorted(want)
    assert f.stats.lines == 25  # 10 from the rotated file + 15 new: nothing read twice


class Proxy:
    """A TCP relay on 127.0.0.1 in front of the node that a test can cut and restore."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._server: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self.up()

    def up(self) -> None:
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", self.port))
        srv.listen(16)
        self._server = srv
        threading.Thread(target=self._accept, args=(srv,), daemon=True).start()

    def down(self) -> None:
        assert self._server is not None
        with suppress(OSError):
            self._server.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        self._server.close()
        for c in self._conns:
            with suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
            c.close()
        self._conns.clear()

    def _accept(self, srv: socket.socket) -> None:
        while True:
            try:
                client, _ = srv.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


def test_elasticsearch_down_backs_off_and_resumes_losing_nothing(
    ctx: AppContext, settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    host, port = settings.es_url.split("//")[1].split(":")
    proxy = Proxy((host, int(port)))
    cut = load_settings(
        es_url=f"http://127.0.0.1:{proxy.port}", index_prefix=settings.index_prefix, es_max_retries=0, es_timeout=5
    )
    gw = EsGateway(build_client(cut), prefix=settings.index_prefix)
    log = tmp_path / "auth.log"
    want = append(log, range(0, 20))
    seen: list[FollowStats] = []
    follower = Follower(
        gw, [log], segments=ctx.segments, tz=ctx.settings.tz, options=FAST, on_status=lambda s: seen.append(s),
        outage_file=tmp_path / OUTAGE_FILE,
    )  # fmt: skip
    caplog.set_level(logging.INFO, logger="soc.collect.follower")
    try:
        with running(follower) as f:
            wait_for(lambda: len(indexed_ids(ctx)) == 20, "the lines before the outage")
            proxy.down()
            want |= append(log, range(20, 60))
            wait_for(lambda: f.stats.retries >= 3, "the follower to notice the outage and retry")
            assert f.stats.es_down
            proxy.up()
            wait_for(lambda: len(indexed_ids(ctx)) == 60, "the lines written during the outage")
            wait_for(lambda: not f.stats.es_down, "the follower to resume")
    finally:
        proxy.down()
        gw.close()
    assert sorted(indexed_ids(ctx)) == sorted(want)
    # the outage in the log once, then its end: not a line per retry
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if "Elasticsearch" in r.getMessage()]
    assert [level for level, _ in lines] == ["ERROR", "INFO"], lines
    assert lines[0][1].startswith("Elasticsearch unreachable (collector): ")
    assert lines[1][1].startswith("Elasticsearch is back after ")


def _env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOC_")}
    return env | {"SOC_ES_URL": settings.es_url, "SOC_INDEX_PREFIX": settings.index_prefix}


def test_kill_9_mid_file_then_restart_loses_and_doubles_nothing(
    ctx: AppContext, settings: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "big.log"
    n = 9000
    want = append(log, range(n))
    cmd = [str(Path(sys.executable).parent / "soc"), "ingest", "--follow", "--format", "ecs", str(log)]
    store = OffsetStore(ctx.es)
    first = subprocess.Popen(cmd, cwd=tmp_path, env=_env(settings), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: (o := store.load(str(log))) is not None and o.position > 0, "a first saved offset")
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    mid = store.load(str(log))
    assert mid is not None and 0 < mid.position < log.stat().st_size  # killed in the middle of the file
    second = subprocess.Popen(cmd, cwd=tmp_path, env=_env(settings), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: len(indexed_ids(ctx)) == n, "every line after the restart", timeout=120)
        wait_for(lambda: (o := store.load(str(log))) is not None and o.position == log.stat().st_size, "the end")
        second.send_signal(signal.SIGTERM)
        out, err = second.communicate(timeout=30)
    finally:
        if second.poll() is None:
            second.kill()
    assert second.returncode == 0, err.decode()
    summary = dict(x.split(": ", 1) for x in out.decode().splitlines() if ": " in x)
    assert 0 < int(summary["lines"]) <= n - mid.line  # resumed at the offset: nothing before it re-read
    assert int(summary["rejected"]) == 0
    assert sorted(indexed_ids(ctx)) == sorted(want)


@pytest.mark.parametrize("n", [0, 1])
def test_status_line_says_rate_lag_and_rejections(n: int) -> None:
    from soc.cli.follow_cmd import status_line

    stats = FollowStats(indexed=1234, rejected=n, lag_bytes=3 * 1024 * 1024, files=2, es_down=bool(n))
    text = status_line(stats, lines_per_second=850.4)
    assert text.startswith("850 lines/s  lag 3.0 MB in 2 file(s)  indexed 1,234  rejected " + str(n))
    assert ("Elasticsearch down" in text) == bool(n)


def test_a_zeek_tsv_file_resumed_mid_file_still_has_its_header(ctx: AppContext, tmp_path: Path) -> None:
    fixture = (REPO / "tests/fixtures/parsers/conn.log").read_text(encoding="utf-8").splitlines()
    header, row = fixture[:8], fixture[8].split("\t")

    def rows(uids: range) -> str:
        return "".join("\t".join([f"{1795392001 + n}.5", f"Cfollow{n:05d}", *row[2:]]) + "\n" for n in uids)

    log = tmp_path / "conn.log"
    log.write_text("\n".join(header) + "\n" + rows(range(0, 3)), encoding="utf-8")
    opts = FollowOptions(fmt="auto", poll_seconds=0.05, discover_seconds=0.2)

    def flows() -> int:
        ctx.es.refresh(ctx.es.index_name("events-network"))
        return ctx.es.count(ctx.es.index_name("events-network"))

    rejected: list[Rejected] = []
    with running(make(ctx, [log], opts, on_rejected=rejected.append)):
        wait_for(lambda: flows() == 3, "the first three flows")
    with log.open("a", encoding="utf-8") as fh:
        fh.write(rows(range(3, 7)))
    with running(make(ctx, [log], opts, on_rejected=rejected.append)) as f:
        wait_for(lambda: flows() == 7, "the flows written while stopped")
    assert f.stats.lines == 4 and not rejected  # resumed mid-file, parsed with the header


def test_a_deleted_file_is_let_go_after_it_was_read_then_a_new_one_is_read(ctx: AppContext, tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    want = append(log, range(0, 5))
    with running(make(ctx, [log])) as f:
        wait_for(lambda: len(indexed_ids(ctx)) == 5, "the first lines")
        tail = f._tails[log.absolute()]
        fd = tail._cur.fh.fileno() if tail._cur else -1
        log.unlink()
        wait_for(lambda: tail._cur is None, "the deleted file to be closed (its disk space freed)")
        with pytest.raises(OSError):
            os.fstat(fd)
        want |= append(log, range(5, 9), tag="b")
        wait_for(lambda: len(indexed_ids(ctx)) == 9, "the new file")
    assert sorted(indexed_ids(ctx)) == sorted(want)


def test_cli_lists_a_hostile_rejected_line_escaped_and_exits_0_on_sigterm(
    ctx: AppContext, settings: Settings, tmp_path: Path
) -> None:
    logs = tmp_path / "remote"
    logs.mkdir()
    log = logs / "evil\x1b[2J\u202egol.log"  # a file name is log data too (host names become directories)
    log.write_text(line(1) + '{"user": "x", \n' + line(2), encoding="utf-8")
    cmd = [str(Path(sys.executable).parent / "soc"), "ingest", "--follow", "--format", "ecs", str(logs)]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=_env(settings), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: len(indexed_ids(ctx)) == 2, "the two good lines")
        wait_for(lambda: (o := OffsetStore(ctx.es).load(str(log))) is not None and o.line == 3, "the offset")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    text = err.decode()
    assert f"rejected: {logs}/evil\\x1b[2J\\u202egol.log:2: not valid JSON" in text
    assert "\x1b" not in text and "\u202e" not in text  # shown, never obeyed
    assert "indexed: 2" in out.decode() and "rejected: 1" in out.decode()


def test_on_a_terminal_one_status_line_is_rewritten(ctx: AppContext, settings: Settings, tmp_path: Path) -> None:
    import pty

    log = tmp_path / "auth.log"
    append(log, range(0, 50))
    master, slave = pty.openpty()
    cmd = [str(Path(sys.executable).parent / "soc"), "ingest", "--follow", "--format", "ecs", str(log)]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=_env(settings), stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    seen = b""
    try:
        deadline = time.monotonic() + 60
        while b"indexed 50  rejected 0" not in seen and time.monotonic() < deadline:
            seen += os.read(master, 4096)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert proc.returncode == 0
    statuses = [part for part in seen.decode().split("\r\x1b[K") if "indexed 50  rejected 0" in part]
    # rewritten in place (carriage return, erase line), never scrolled: no newline inside
    assert statuses and all(
        re.fullmatch(r"[\d,]+ lines/s  lag 0 B in 1 file\(s\)  indexed 50  rejected 0", s) for s in statuses
    )
