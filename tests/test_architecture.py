"""The shape of the code a user meets through its errors: one exception tree, and a clean
one-line error (not a traceback) when the local node cannot be built."""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import socket
import subprocess
import sys
from pathlib import Path

import soc
from soc.errors import SocError

REPO = Path(__file__).resolve().parent.parent


def _soc_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(soc.__path__, "soc.") if not m.name.endswith("__main__"))


def test_every_error_class_of_soc_derives_from_soc_error() -> None:
    strays = []
    for name in _soc_modules():
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == name
                and not issubclass(value, SocError)
            ):
                strays.append(f"{name}.{attr}")
    assert strays == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_es_up_without_java_is_one_clean_error_line(tmp_path: Path) -> None:
    bare = tmp_path / "bin"  # a PATH with python and nothing else: no java, javac or mvn
    bare.mkdir()
    env = {
        "PATH": str(bare),
        "HOME": str(tmp_path),
        "SOC_CACHE_DIR": str(tmp_path / "cache"),
        "SOC_ES_URL": f"http://127.0.0.1:{_free_port()}",
        "SOC_DATA_DIR": str(tmp_path / ".soc"),
        "SOC_CONFIG": "",
    }
    env = {k: v for k, v in env.items() if v} | {"LANG": os.environ.get("LANG", "C.UTF-8")}
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "soc"), "es", "up"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, check=False,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "Traceback" not in out
    assert "error:" in out and "is not installed" in out
