"""The real `python -m simulator serve` in a subprocess (tests of starts,
refusals and stops that only a process shows: exit codes, stderr, signals)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def serve_cmd(state_dir: Path | None, *extra: str) -> list[str]:
    cmd = [sys.executable, "-m", "simulator", "serve", "--port", "0", "--fix-port", "0", *extra]
    if state_dir is not None:
        cmd += ["--state-dir", str(state_dir)]
    return cmd


def _env(env: dict[str, str] | None) -> dict[str, str]:
    # this checkout's `simulator`, whatever is installed
    out = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out.update(env or {})
    return out


class Served:
    """A running simulator process and its ready line."""

    def __init__(self, cmd: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(env),
                                     cwd=ROOT)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            self.proc.wait(10)
            raise RuntimeError(f"simulator did not start (exit {self.proc.returncode}): {err}")
        self.info: dict[str, Any] = json.loads(line)

    @property
    def admin(self) -> str:
        return str(self.info["admin"])

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> tuple[int, str]:
        """Signal it and wait: (exit code, stderr)."""
        self.proc.send_signal(sig)
        _, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=10)


def run_to_exit(cmd: list[str], env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """A start expected to end by itself (a refusal)."""
    return subprocess.run(cmd, capture_output=True, text=True, env=_env(env), cwd=ROOT, timeout=timeout, check=False)
