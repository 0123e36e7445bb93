"""The CLI contract, the container's exact command and health probe, and the
compose file's structure (there is no Docker engine here to run them)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
READY_KEYS = {
    "ready",
    "spot_rest",
    "spot_ws",
    "spot_ws_auth",
    "spot_ws_l3",
    "futures_rest",
    "futures_ws",
    "fix",
    "admin",
    "demo_account",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _dockerfile() -> tuple[dict[str, str], list[str], list[str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            env.update(dict(re.findall(r"(\w+)=(\S+)", line[4:])))
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", text, re.M).group(1))  # type: ignore[union-attr]
    hc = json.loads(re.search(r"^HEALTHCHECK .*?CMD (\[.*\])$", text, re.M).group(1))  # type: ignore[union-attr]
    return env, cmd, hc


def _start(cmd: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], dict]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, proc.stderr.read() if proc.stderr else ""
    return proc, json.loads(line)


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0
    return out


def test_cli_ready_line_then_clean_sigterm() -> None:
    proc, info = _start(
        [sys.executable, "-m", "simulator", "serve", "--port", "0", "--fix-port", "0"], dict(os.environ)
    )
    try:
        assert info["ready"] is True
        assert READY_KEYS <= set(info)
        port = int(info["spot_rest"].rsplit(":", 1)[1])
        assert info["spot_ws"] == f"ws://127.0.0.1:{port}/v2"
        assert info["spot_ws_auth"].endswith("/auth/v2") and info["spot_ws_l3"].endswith("/l3/v2")
        assert info["futures_ws"].endswith("/ws/v1") and info["admin"].endswith("/admin")
        demo = info["demo_account"]
        for k in ("api_key", "api_secret", "futures_api_key", "futures_api_secret"):
            assert demo[k]
        import urllib.request

        with urllib.request.urlopen(info["spot_rest"] + "/health", timeout=5) as r:
            assert json.loads(r.read()) == {"status": "ok"}
    finally:
        rest = _stop(proc)
    assert rest == ""  # exactly one line on stdout


def test_container_command_and_health_probe() -> None:
    env_img, cmd, probe = _dockerfile()
    assert cmd == ["kraken-sim", "serve"]
    env = dict(os.environ) | env_img
    # run the image's exact command, on loopback and free ports for the test
    env |= {"KRAKEN_SIM_HOST": "127.0.0.1", "KRAKEN_SIM_PORT": str(_free_port()), "KRAKEN_SIM_FIX_PORT": str(_free_port())}
    exe = Path(sys.executable).parent / "kraken-sim"
    proc, info = _start([str(exe) if exe.exists() else "kraken-sim", *cmd[1:]], env)
    try:
        assert info["spot_rest"] == f"http://127.0.0.1:{env['KRAKEN_SIM_PORT']}"
        probe_cmd = [sys.executable if probe[0] == "python" else probe[0], *probe[1:]]
        t0 = time.monotonic()
        assert subprocess.run(probe_cmd, env=env, timeout=10).returncode == 0
        assert time.monotonic() - t0 < 3  # the probe's own timeout
    finally:
        _stop(proc)
    # and the probe fails when nothing listens
    assert subprocess.run(probe_cmd, env=env, timeout=10, capture_output=True).returncode != 0


def test_dockerfile_is_slim_and_non_root() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", text, re.M)
    assert re.search(r"^USER (?!root)\w+", text, re.M)
    assert "EXPOSE 8080 9880" in text


def test_compose_file_structure() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    svc = compose["services"]["kraken-sim"]
    assert svc["build"] == "."
    published = {p.split(":")[-1].split("/")[0] for p in svc["ports"]}
    assert {"8080", "9880"} <= published
    _, _, probe = _dockerfile()
    assert svc["healthcheck"]["test"] == ["CMD", *probe]
    assert "/health" in " ".join(svc["healthcheck"]["test"])


def test_bad_scenario_file_is_refused_with_field_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "s.yaml"
    bad.write_text("seed: 3\naccounts:\n  - name: a\n    tier: platinum\n")
    r = subprocess.run(
        [sys.executable, "-m", "simulator", "serve", "--config", str(bad), "--port", "0", "--fix-port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 2
    assert "accounts[0].tier (line 4)" in r.stderr and "platinum" in r.stderr


def test_every_package_is_listed_for_the_wheel() -> None:
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "simulator").rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    assert "simulator.fixtures" in listed


def test_wheel_carries_the_data(tmp_path: Path) -> None:
    import shutil
    import zipfile

    src = tmp_path / "src"  # build from a copy: setuptools writes build/ into the source tree
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for name in ("simulator", "fixtures"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    (wheel,) = tmp_path.glob("kraken_sim-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "simulator/fixtures/instruments.json" in names
    assert "simulator/dashboard/index.html" in names
    assert "simulator/core/engine.py" in names
