"""The command provider that `make setup` builds, on the real engine.

`go test` covers its semantics in isolation (including remote runs against an
in-process SSH server); here a real `pulumi up` / `destroy` shows the engine,
the provider and the Python SDK agree: commands run on `up` only, outputs come
back, secrets stay secret in state, and `delete` runs on destroy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.engine.harness import ROOT, engine_env, require_pulumi

PROGRAM = ROOT / "tests/engine/fixtures/ok-command-local"
TOKEN = "tok-3c7d1f0e-never-in-state"

pytestmark = pytest.mark.engine


def _pulumi(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_pulumi(), *args, "--stack", "test", "--non-interactive"],
        cwd=PROGRAM,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_go_unit_tests_of_the_command_provider_pass() -> None:
    go = shutil.which("go")
    assert go is not None, "Go is needed to build and test the toolchain (see README)"
    env = dict(os.environ, GOTOOLCHAIN="local", GOFLAGS="-mod=mod", GONOSUMDB="github.com/pulumi")
    proc = subprocess.run(
        [go, "test", "-count=1", "./..."],
        cwd=ROOT / "scripts/toolchain/command",
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]


def test_up_runs_commands_keeps_secrets_and_destroy_runs_delete(tmp_path: Path) -> None:
    env = engine_env(tmp_path / "backend")
    env.update(GPU_CAAS_TEST_MARKER_DIR=str(tmp_path), GPU_CAAS_TEST_TOKEN=TOKEN)
    (tmp_path / "backend").mkdir()
    init = _pulumi(["stack", "select", "--create", "--secrets-provider", "passphrase"], env)
    assert init.returncode == 0, init.stderr

    up = _pulumi(["up", "--yes", "--skip-preview"], env)
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    assert TOKEN not in up.stdout + up.stderr

    outputs = json.loads(_pulumi(["stack", "output", "--json", "--show-secrets"], env).stdout)
    assert outputs["tokenStdout"] == f"token={TOKEN}"
    assert outputs["plainStdout"] == f"hello from {tmp_path.name}"
    masked = json.loads(_pulumi(["stack", "output", "--json"], env).stdout)
    assert masked["tokenStdout"] == "[secret]"

    state = _pulumi(["stack", "export"], env)
    assert state.returncode == 0, state.stderr
    assert TOKEN not in state.stdout, "a secret reached the state file in plaintext"
    assert "hello from" in state.stdout  # non-secret outputs are stored as such

    destroy = _pulumi(["destroy", "--yes", "--skip-preview"], env)
    assert destroy.returncode == 0, destroy.stdout[-3000:] + destroy.stderr[-3000:]
    assert (tmp_path / "deleted").read_text() == "deleted"
