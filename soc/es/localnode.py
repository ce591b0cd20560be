"""A real single-node Elasticsearch 8 on 127.0.0.1, assembled from Maven Central.

How it is built (once, cached in ``~/.cache/soc/es-<version>/`` or ``$SOC_CACHE_DIR``):

* ``mvn dependency:copy-dependencies`` on ``javanode/pom.xml`` fetches the server jar
  ``org.elasticsearch:elasticsearch`` with its dependencies (Lucene, x-content, …) and
  the HTTP module ``org.elasticsearch.plugin:transport-netty4`` with Netty;
* the server jars go on the JVM's module path, as in the official distribution; Netty
  and the HTTP module become ``modules/transport-netty4`` with the plugin descriptor the
  jar carries;
* two small classes of ours are compiled with ``javac``: ``SocNode`` builds and starts
  ``org.elasticsearch.node.Node`` in-process (the official launcher refuses root, which
  CI runs as), and ``RootPlugin`` serves ``GET /`` (the official ``rest-root`` module is
  not published to Maven Central).

What this node lacks compared with the official distribution (the rest of soc avoids
them): Painless scripts (so no ``bucket_selector``/scripted updates), the
``aggregations`` module (``adjacency_matrix``, pipeline aggregations such as
``bucket_sort``), ``match_only_text``/``wildcard`` field types, x-pack (security, ILM,
data streams, ES|QL). It is for demos, tests and very small sites.

Only the standard library is used, so this works before the virtualenv exists.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from soc.errors import SocError

__all__ = ["ES_VERSION", "LocalNodeError", "LocalNodeInfo", "down", "ensure_built", "status", "up"]

ES_VERSION = "8.19.21"
MAIN_CLASS = "io.soc.eslauncher.SocNode"
SOURCES = Path(__file__).with_name("javanode")


class LocalNodeError(SocError):
    """The local node could not be built, started or stopped; the message says why."""


@dataclass(frozen=True)
class LocalNodeInfo:
    url: str
    pid: int | None
    version: str
    started: bool  # False when a node was already answering


def default_cache_dir() -> Path:
    return Path(os.environ.get("SOC_CACHE_DIR") or Path.home() / ".cache" / "soc")


def _run(cmd: list[str], *, cwd: Path | None = None, what: str) -> None:
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise LocalNodeError(f"{what}: '{cmd[0]}' is not installed (install a JDK 17+ and Maven)") from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-30:])
        raise LocalNodeError(f"{what} failed (exit {proc.returncode}):\n{tail}")


def _sources_digest() -> str:
    h = hashlib.sha256(ES_VERSION.encode())
    for path in sorted(SOURCES.rglob("*")):
        if path.is_file():
            h.update(path.relative_to(SOURCES).as_posix().encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def ensure_built(*, cache_dir: Path | None = None) -> Path:
    """Fetch and assemble the node once; later calls return the cached directory at once."""
    root = (cache_dir or default_cache_dir()) / f"es-{ES_VERSION}"
    stamp = root / ".built"
    digest = _sources_digest()
    if stamp.exists() and stamp.read_text().strip() == digest:
        return root
    if root.exists():
        shutil.rmtree(root)
    deps = root / "deps"
    print(f"soc: assembling Elasticsearch {ES_VERSION} from Maven artifacts into {root} (once)", file=sys.stderr)
    _run(
        [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(SOURCES / "pom.xml"),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={deps}",
            f"-Des.version={ES_VERSION}",
        ],
        what="fetching Elasticsearch from Maven",
    )
    lib, netty = root / "lib", root / "modules" / "transport-netty4"
    lib.mkdir(parents=True)
    netty.mkdir(parents=True)
    for jar in sorted(deps.glob("*.jar")):
        target = netty if jar.name.startswith(("netty-", "transport-netty4-")) else lib
        shutil.move(str(jar), target / jar.name)
    with zipfile.ZipFile(netty / f"transport-netty4-{ES_VERSION}.jar") as zf:
        for name in ("plugin-descriptor.properties", "entitlement-policy.yaml"):
            member = f"META-INF/es-plugins/transport-netty4/{name}"
            if member in zf.namelist():
                (netty / name).write_bytes(zf.read(member))
    shutil.rmtree(deps)

    launcher = root / "launcher"
    _run(
        [
            "javac",
            "-d",
            str(launcher),
            "--module-path",
            str(lib),
            "--add-modules",
            "ALL-MODULE-PATH",
            *map(str, sorted((SOURCES / "launcher").rglob("*.java"))),
        ],
        what="compiling the launcher",
    )
    plugin_dir = root / "modules" / "soc-root"
    classes = root / "build" / "rootplugin"
    _run(
        [
            "javac",
            "-d",
            str(classes),
            "-cp",
            f"{lib}/*:{netty}/*",
            *map(str, sorted((SOURCES / "rootplugin").rglob("*.java"))),
        ],
        what="compiling the root endpoint plugin",
    )
    plugin_dir.mkdir(parents=True)
    _run(["jar", "cf", str(plugin_dir / "soc-root.jar"), "-C", str(classes), "."], what="packaging the plugin")
    (plugin_dir / "plugin-descriptor.properties").write_text(
        "description=soc: the GET / banner for the local node\n"
        f"version={ES_VERSION}\nname=soc-root\nclassname=io.soc.esroot.RootPlugin\n"
        f"java.version=17\nelasticsearch.version={ES_VERSION}\n"
    )
    shutil.rmtree(root / "build")
    stamp.write_text(digest)
    return root


# -- process management ------------------------------------------------------------
def _state_file(data_dir: Path) -> Path:
    return data_dir / "node.json"


def _pid_file(data_dir: Path) -> Path:
    return data_dir / "es.pid"


def _http_json(url: str, timeout: float = 2.0) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback URL we built
            if resp.headers.get("X-elastic-product") != "Elasticsearch":
                return None
            data = json.loads(resp.read().decode())
            return data if isinstance(data, dict) else None
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _version(banner: dict[str, object] | None) -> str:
    version = (banner or {}).get("version")
    return str(version.get("number", "?")) if isinstance(version, dict) else "?"


def _health(port: int, timeout: float = 2.0) -> dict[str, object] | None:
    return _http_json(f"http://127.0.0.1:{port}/_cluster/health", timeout)


def _port_busy(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _is_our_process(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return MAIN_CLASS in cmdline


def _recorded_pid(data_dir: Path) -> int | None:
    try:
        return int(_pid_file(data_dir).read_text().strip())
    except (OSError, ValueError):
        return None


def _log_tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def up(
    *,
    data_dir: Path,
    port: int = 9200,
    heap: str = "1g",
    cache_dir: Path | None = None,
    timeout: float = 180.0,
) -> LocalNodeInfo:
    """Start the node in the background and wait until it is yellow or green.

    If an Elasticsearch already answers on the port, it is used as is (no second node).
    """
    data_dir = data_dir.resolve()
    url = f"http://127.0.0.1:{port}"
    if _health(port) is not None:
        version = _version(_http_json(url))
        return LocalNodeInfo(url=url, pid=_recorded_pid(data_dir), version=version, started=False)
    if _port_busy(port):
        raise LocalNodeError(f"port {port} on 127.0.0.1 is taken by something that is not Elasticsearch")
    root = ensure_built(cache_dir=cache_dir)
    (data_dir / "logs").mkdir(parents=True, exist_ok=True)
    (data_dir / "config").mkdir(parents=True, exist_ok=True)
    log = data_dir / "logs" / "launcher.log"
    java = shutil.which("java") or "java"
    cmd = [
        java, f"-Xms{heap}", f"-Xmx{heap}", "-XX:+UseG1GC", "-Djava.awt.headless=true",
        "-Dfile.encoding=UTF-8", "-Dlog4j2.formatMsgNoLookups=true", "-Des.networkaddress.cache.ttl=60",
        f"-Djava.io.tmpdir={data_dir / 'tmp'}",
        "--module-path", str(root / "lib"), "--add-modules", "ALL-MODULE-PATH",
        "-cp", str(root / "launcher"), MAIN_CLASS,
        str(data_dir), str(root / "modules"), str(port),
    ]  # fmt: skip
    (data_dir / "tmp").mkdir(exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, cwd=data_dir
        )
    _pid_file(data_dir).write_text(str(proc.pid))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            _pid_file(data_dir).unlink(missing_ok=True)
            raise LocalNodeError(
                f"Elasticsearch exited with {proc.returncode} while starting; log {log}:\n{_log_tail(log)}"
            )
        health = _health(port)
        if health is not None and health.get("status") in ("yellow", "green"):
            info = LocalNodeInfo(url=url, pid=proc.pid, version=ES_VERSION, started=True)
            _state_file(data_dir).write_text(json.dumps(asdict(info) | {"port": port, "log": str(log)}))
            return info
        time.sleep(0.5)
    _kill(proc.pid, 10)
    _pid_file(data_dir).unlink(missing_ok=True)
    raise LocalNodeError(f"Elasticsearch did not become healthy within {timeout:.0f}s; log {log}:\n{_log_tail(log)}")


def _kill(pid: int, timeout: float) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _is_our_process(pid):
            return
        time.sleep(0.2)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return


def down(*, data_dir: Path, timeout: float = 60.0) -> bool:
    """Stop exactly the node this data directory recorded; False if none was running."""
    data_dir = data_dir.resolve()
    pid = _recorded_pid(data_dir)
    if pid is None or not _is_our_process(pid):
        _pid_file(data_dir).unlink(missing_ok=True)
        return False
    _kill(pid, timeout)
    _pid_file(data_dir).unlink(missing_ok=True)
    return True


def status(*, data_dir: Path, port: int = 9200) -> dict[str, object]:
    data_dir = data_dir.resolve()
    pid = _recorded_pid(data_dir)
    ours = pid is not None and _is_our_process(pid)
    health = _health(port)
    banner = _http_json(f"http://127.0.0.1:{port}") if health else None
    return {
        "url": f"http://127.0.0.1:{port}",
        "running": health is not None,
        "managed_by_soc": ours,
        "pid": pid if ours else None,
        "cluster_status": health.get("status") if health else None,
        "version": _version(banner) if banner else None,
        "data_dir": str(data_dir),
        "log": str(data_dir / "logs" / "launcher.log"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m soc.es.localnode", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "down", "status", "build"])
    parser.add_argument("--data-dir", type=Path, default=Path(".soc/es"))
    parser.add_argument("--port", type=int, default=9200)
    parser.add_argument("--heap", default="1g")
    args = parser.parse_args(argv)
    try:
        if args.action == "build":
            print(ensure_built())
        elif args.action == "up":
            info = up(data_dir=args.data_dir, port=args.port, heap=args.heap)
            print(f"Elasticsearch {info.version} at {info.url} (pid {info.pid})")
        elif args.action == "down":
            print("stopped" if down(data_dir=args.data_dir) else "not running")
        else:
            print(json.dumps(status(data_dir=args.data_dir, port=args.port), indent=2))
    except LocalNodeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
